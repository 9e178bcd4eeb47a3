package hf

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mixedStateDict() *StateDict {
	sd := NewStateDict()
	sd.Set("b.weight", f32t([]int64{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}))
	sd.Set("a.ids", i64t([]int64{4}, []int64{0, -1, 1 << 40, 7}))
	sd.Set("c.f64", f64t([]int64{}, []float64{math.Pi}))
	sd.Set("d.half", &Tensor{DType: F16, Shape: []int64{2}, Data: []byte{0x00, 0x3c, 0x00, 0xc0}}) // 1, -2
	sd.Set("e.bf16", &Tensor{DType: BF16, Shape: []int64{1, 2}, Data: []byte{0x80, 0x3f, 0x49, 0x40}})
	sd.Set("f.mask", &Tensor{DType: BOOL, Shape: []int64{3}, Data: []byte{1, 0, 1}})
	sd.Set("g.u8", &Tensor{DType: U8, Shape: []int64{2}, Data: []byte{255, 3}})
	sd.Set("h.i32", &Tensor{DType: I32, Shape: []int64{1}, Data: []byte{0xfe, 0xff, 0xff, 0xff}})
	sd.Set("i.empty", &Tensor{DType: F32, Shape: []int64{0, 5}, Data: []byte{}})
	sd.Set("<html>&\"quoted\"", f32t([]int64{1}, []float32{9}))
	return sd
}

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := mixedStateDict()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	md := map[string]string{"producer": "gomezo <test>"}
	if err := WriteSafetensors(path, sd, md); err != nil {
		t.Fatal(err)
	}
	sf, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if got := sf.Metadata(); got["producer"] != "gomezo <test>" || got["format"] != "pt" {
		t.Errorf("metadata %v", got)
	}
	back, err := sf.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != sd.Len() {
		t.Fatalf("%d tensors back, wrote %d", back.Len(), sd.Len())
	}
	for _, n := range sd.Names {
		if !back.Get(n).Equal(sd.Get(n)) {
			t.Errorf("%s: wrote %v %x, read %v %x", n, sd.Get(n), sd.Get(n).Data, back.Get(n), back.Get(n).Data)
		}
	}
	// The official order: 8-byte dtypes (I64 before F64), then F32, ..., BOOL.
	wantOrder := []string{"a.ids", "c.f64", "<html>&\"quoted\"", "b.weight", "i.empty", "h.i32", "e.bf16", "d.half", "g.u8", "f.mask"}
	if !slices.Equal(back.Names, wantOrder) {
		t.Errorf("order %q, want %q", back.Names, wantOrder)
	}
	// Header: 8-byte aligned, unescaped HTML characters like serde_json.
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("header length %d not padded", n)
	}
	if !strings.Contains(string(raw[8:8+n]), `"<html>&\"quoted\""`) {
		t.Errorf("header escapes differently: %s", raw[8:8+n])
	}
	// ReadInto and Info.
	info, ok := sf.Info("b.weight")
	if !ok || info.DType != F32 || !slices.Equal(info.Shape, []int64{2, 3}) || info.Bytes() != 24 {
		t.Errorf("info %+v", info)
	}
	if b, e, ok := sf.Offsets("b.weight"); !ok || e-b != 24 {
		t.Errorf("offsets %d %d", b, e)
	}
	buf := make([]byte, 24)
	if err := sf.ReadInto("b.weight", buf); err != nil || string(buf) != string(sd.Get("b.weight").Data) {
		t.Errorf("ReadInto: %v", err)
	}
	if err := sf.ReadInto("b.weight", make([]byte, 23)); err == nil {
		t.Error("ReadInto accepted a short buffer")
	}
	if _, err := sf.Read("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestWriteSafetensorsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := NewStateDict()
	bad.Set("x", &Tensor{DType: F32, Shape: []int64{3}, Data: make([]byte, 8)})
	if err := WriteSafetensors(path, bad, nil); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("inconsistent tensor: %v", err)
	}
	unknown := NewStateDict()
	unknown.Set("y", &Tensor{DType: "C64", Shape: []int64{1}, Data: make([]byte, 8)})
	if err := WriteSafetensors(path, unknown, nil); err == nil || !strings.Contains(err.Error(), "C64") {
		t.Errorf("unknown dtype: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old contents" {
		t.Errorf("failed write changed the file: %q", b)
	}
	if err := WriteSafetensors(path, mixedStateDict(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSafetensors(path); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if err := WriteSafetensors(filepath.Join(dir, "no", "such", "dir.safetensors"), mixedStateDict(), nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// buildSafetensors assembles a file from a raw header and data section.
func buildSafetensors(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestSafetensorsCorrupt(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(writeTemp(t, mixedStateDict())))
	if err != nil {
		t.Fatal(err)
	}
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, 1<<40)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated_data", good[:len(good)-3], "truncated"},
		{"truncated_header", good[:40], "truncated"},
		{"huge_header_length", hugeLen, "limit"},
		{"not_json", buildSafetensors("{not json}", nil), "header JSON"},
		{"json_array", buildSafetensors("[1,2]   ", nil), "not a JSON object"},
		{"overlap", buildSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), `"a" [0, 8] and "b" [4, 12] overlap`},
		{"size_mismatch", buildSafetensors(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a": F32[3] needs 12 bytes`},
		{"unknown_dtype", buildSafetensors(`{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 2)), `tensor "w": unknown dtype "Q4"`},
		{"out_of_bounds", buildSafetensors(`{"a":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}}`, make([]byte, 8)), `tensor "a": data_offsets [0, 9] run past`},
		{"reversed_offsets", buildSafetensors(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[5,2]}}`, make([]byte, 8)), "bad data_offsets"},
		{"negative_shape", buildSafetensors(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "negative dimension"},
		{"missing_field", buildSafetensors(`{"a":{"dtype":"U8","shape":[1]}}`, make([]byte, 1)), "needs dtype, shape and data_offsets"},
		{"bad_metadata", buildSafetensors(`{"__metadata__":{"n":1}}`, nil), "__metadata__"},
		{"overflow_shape", buildSafetensors(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "too many"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".safetensors")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSafetensors(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name the file and say %q", err, c.want)
			}
		})
	}
}

func writeTemp(t *testing.T, sd *StateDict) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteSafetensors(p, sd, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecodersMatchTorch checks Float32s on F16 and BF16 tensors against
// torch's own .float() (testdata/expected.json), and the integer decoders
// against torch's values.
func TestDecodersMatchTorch(t *testing.T) {
	exp := loadTorchExpected(t)
	sd, err := ReadTorchBin(filepath.Join("testdata", "zip.bin"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range exp.Order {
		e := exp.Tensors[name]
		if e.Float32Hex == "" {
			continue
		}
		want, _ := hex.DecodeString(e.Float32Hex)
		got, err := sd.Get(name).Float32s()
		if err != nil {
			t.Fatal(err)
		}
		f64, err := sd.Get(name).Float64s()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			w := math.Float32frombits(binary.LittleEndian.Uint32(want[4*i:]))
			if math.Float32bits(v) != math.Float32bits(w) || f64[i] != float64(w) {
				t.Errorf("%s[%d] = %v, torch %v", name, i, v, w)
			}
			// And back: the rounding helpers invert the widening.
			var back uint16
			if e.DType == F16 {
				back = Float32ToF16(v)
			} else {
				back = Float32ToBF16(v)
			}
			if raw := binary.LittleEndian.Uint16(sd.Get(name).Data[2*i:]); back != raw {
				t.Errorf("%s[%d]: %04x back to %04x", name, i, raw, back)
			}
		}
		checked++
	}
	if checked != 4 {
		t.Errorf("checked %d half tensors, want 4", checked)
	}
	ints := map[string][]int64{
		"i32":     {-3, 1<<31 - 1, -(1 << 31), 7},
		"i16":     {-32768, 32767, 5},
		"i8":      {-128, 127, -1},
		"u8":      {0, 255, 17, 3},
		"bool":    {1, 0, 1},
		"i64_big": {1 << 62, math.MinInt64, 1},
	}
	for name, want := range ints {
		got, err := sd.Get(name).Int64s()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	if _, err := sd.Get("f64").Float32s(); err == nil {
		t.Error("Float32s of F64 should refuse (lossy)")
	}
	if _, err := sd.Get("f32").Int64s(); err == nil {
		t.Error("Int64s of F32 should refuse")
	}
	if _, err := sd.Get("i32").Float64s(); err == nil {
		t.Error("Float64s of I32 should refuse")
	}
}

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x03ff, 6.097555160522461e-05}, {0x0400, 6.103515625e-05}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := F16ToFloat32(c.h); got != c.f {
			t.Errorf("F16ToFloat32(%04x) = %v, want %v", c.h, got, c.f)
		}
		if got := Float32ToF16(c.f); got != c.h {
			t.Errorf("Float32ToF16(%v) = %04x, want %04x", c.f, got, c.h)
		}
	}
	if f := F16ToFloat32(0x8000); f != 0 || !math.Signbit(float64(f)) {
		t.Error("-0 lost")
	}
	if f := F16ToFloat32(0x7e00); !math.IsNaN(float64(f)) {
		t.Error("NaN lost")
	}
	// Every half value survives the round trip through float32.
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToF16(f); back != uint16(h) {
			t.Fatalf("%04x -> %v -> %04x", h, f, back)
		}
	}
	// Ties round to even; overflow gives inf.
	if got := Float32ToF16(1 + 1.0/2048); got != 0x3c00 {
		t.Errorf("tie rounding: %04x", got)
	}
	if got := Float32ToF16(65520); got != 0x7c00 {
		t.Errorf("overflow: %04x", got)
	}
	if got := Float32ToBF16(1 + 1.0/256); got != 0x3f80 {
		t.Errorf("bf16 tie: %04x", got)
	}
}

// BenchmarkReadSafetensors reads a 200 MB file of 50 F32 tensors from the
// page cache; the MB/s column is the read throughput.
func BenchmarkReadSafetensors(b *testing.B) {
	const tensors, perTensor = 50, 1 << 20 // 50 × 4 MiB
	sd := NewStateDict()
	for i := 0; i < tensors; i++ {
		data := make([]byte, 4*perTensor)
		for j := range data {
			data[j] = byte(i + j)
		}
		sd.Set(fmt.Sprintf("layer.%02d.weight", i), &Tensor{DType: F32, Shape: []int64{1024, 1024}, Data: data})
	}
	path := filepath.Join(b.TempDir(), "big.safetensors")
	if err := WriteSafetensors(path, sd, nil); err != nil {
		b.Fatal(err)
	}
	sd = nil
	b.SetBytes(tensors * 4 * perTensor)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := ReadSafetensors(path)
		if err != nil {
			b.Fatal(err)
		}
		if got.Len() != tensors {
			b.Fatal(got.Len())
		}
	}
}

func TestWriteSafetensorsFunc(t *testing.T) {
	sd := mixedStateDict()
	var infos []NamedInfo
	for _, n := range sd.Names {
		infos = append(infos, NamedInfo{Name: n, TensorInfo: TensorInfo{DType: sd.Get(n).DType, Shape: sd.Get(n).Shape}})
	}
	dir := t.TempDir()
	streamed := filepath.Join(dir, "streamed.safetensors")
	var calls []string
	err := WriteSafetensorsFunc(streamed, infos, nil, func(name string, w io.Writer) error {
		calls = append(calls, name)
		data := sd.Get(name).Data
		for len(data) > 0 { // in pieces, as a chunked copy would
			k := min(3, len(data))
			if _, err := w.Write(data[:k]); err != nil {
				return err
			}
			data = data[k:]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, SafetensorsOrder(sd)) {
		t.Errorf("called in order %v", calls)
	}
	whole := writeTemp(t, sd)
	a, _ := os.ReadFile(streamed)
	b, _ := os.ReadFile(whole)
	if string(a) != string(b) {
		t.Error("streamed file differs from WriteSafetensors' output")
	}
	short := filepath.Join(dir, "short.safetensors")
	err = WriteSafetensorsFunc(short, infos, nil, func(name string, w io.Writer) error {
		_, err := w.Write(sd.Get(name).Data[:len(sd.Get(name).Data)/2])
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("short write: %v", err)
	}
	if _, serr := os.Stat(short); serr == nil {
		t.Error("failed write left a file")
	}
	dup := append(slices.Clone(infos), infos[0])
	if err := WriteSafetensorsFunc(short, dup, nil, nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate name: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the streamed file", len(ents))
	}
}

// f32t, f64t and i64t build test tensors, panicking on a shape mismatch
// (a bug in the test).
func f32t(shape []int64, v []float32) *Tensor { return must(FromFloat32s(shape, v)) }
func f64t(shape []int64, v []float64) *Tensor { return must(FromFloat64s(shape, v)) }
func i64t(shape []int64, v []int64) *Tensor   { return must(FromInt64s(shape, v)) }

func must(t *Tensor, err error) *Tensor {
	if err != nil {
		panic(err)
	}
	return t
}
