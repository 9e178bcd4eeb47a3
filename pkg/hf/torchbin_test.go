package hf

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

type torchExpected struct {
	Order         []string   `json:"order"`
	SharedStorage [][]string `json:"shared_storage"`
	Tensors       map[string]struct {
		DType      DType   `json:"dtype"`
		Shape      []int64 `json:"shape"`
		Stride     []int64 `json:"stride"`
		Hex        string  `json:"hex"`
		Float32Hex string  `json:"float32_hex"`
	} `json:"tensors"`
}

func loadTorchExpected(t *testing.T) *torchExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e torchExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Order) < 20 {
		t.Fatalf("expected.json lists only %d tensors", len(e.Order))
	}
	return &e
}

// TestTorchBinMatchesTorch reads the legacy and zip files made by
// testdata/make_legacy.py and compares every tensor with the bytes torch
// itself produced for t.contiguous().
func TestTorchBinMatchesTorch(t *testing.T) {
	exp := loadTorchExpected(t)
	for _, file := range []string{"legacy.bin", "zip.bin"} {
		t.Run(file, func(t *testing.T) {
			sd, err := ReadTorchBin(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sd.Names, exp.Order) {
				t.Fatalf("order %v, torch's %v", sd.Names, exp.Order)
			}
			strided := 0
			for _, name := range exp.Order {
				e := exp.Tensors[name]
				got := sd.Get(name)
				if got.DType != e.DType || !slices.Equal(got.Shape, e.Shape) {
					t.Errorf("%s: %s, torch has %s%v", name, got, e.DType, e.Shape)
					continue
				}
				want, _ := hex.DecodeString(e.Hex)
				if !bytes.Equal(got.Data, want) {
					t.Errorf("%s: bytes differ from torch's\n got %x\nwant %x", name, got.Data, want)
				}
				if !isRowMajor(e.Shape, e.Stride) {
					strided++
				}
			}
			if strided < 5 {
				t.Errorf("only %d strided tensors exercised", strided)
			}
			// Tied keys come back equal but with their own buffers.
			a, b := sd.Get("f32"), sd.Get("f32_tied")
			if !a.Equal(b) {
				t.Error("tied tensors differ")
			}
			a.Data[0] ^= 1
			if a.Equal(b) {
				t.Error("tied tensors share a buffer")
			}
			pos, _ := sd.Get("position_ids").Int64s()
			for i, v := range pos {
				if v != int64(i) {
					t.Fatalf("position_ids[%d] = %d", i, v)
				}
			}
		})
	}
}

func isRowMajor(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// TestTorchBinAgreesWithGopickle cross-checks the zip reader on the
// fixtures against gopickle's own pytorch.Load, an independent decoder
// (for the float32 tensors it decodes without loss).
func TestTorchBinAgreesWithGopickle(t *testing.T) {
	path := testenv.SharedPath(t, "fixtures", "roberta-tiny", "pytorch_model.bin")
	sd, err := ReadTorchBin(path)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := pytorch.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	od, ok := obj.(*types.OrderedDict)
	if !ok {
		t.Fatalf("gopickle returned %T", obj)
	}
	for _, name := range sd.Names {
		v, ok := od.Get(name)
		if !ok {
			t.Fatalf("gopickle lacks %s", name)
		}
		pt := v.(*pytorch.Tensor)
		fs, ok := pt.Source.(*pytorch.FloatStorage)
		if !ok {
			continue
		}
		got, _ := sd.Get(name).Float32s()
		n := len(got)
		want := fs.Data[pt.StorageOffset : pt.StorageOffset+n]
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s[%d] = %v, gopickle %v", name, i, got[i], want[i])
			}
		}
		checked++
	}
	if checked != 44 {
		t.Errorf("checked %d float tensors, want 44", checked)
	}
}

func TestTorchBinErrors(t *testing.T) {
	dir := t.TempDir()
	zipBytes, err := os.ReadFile(filepath.Join("testdata", "zip.bin"))
	if err != nil {
		t.Fatal(err)
	}
	legacyBytes, err := os.ReadFile(filepath.Join("testdata", "legacy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// A zip whose storage record is shorter than the pickle says.
	var shortZip bytes.Buffer
	{
		zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(&shortZip)
		for _, f := range zr.File {
			rc, _ := f.Open()
			var b bytes.Buffer
			b.ReadFrom(rc)
			rc.Close()
			data := b.Bytes()
			if strings.Contains(f.Name, "/data/") && len(data) > 8 {
				data = data[:len(data)-4]
			}
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
			w.Write(data)
		}
		zw.Close()
	}
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "neither a zip archive nor a legacy", nil},
		{"text", "neither a zip archive nor a legacy", []byte("hello, this is not a checkpoint\n")},
		{"truncated_zip", "truncated", zipBytes[:len(zipBytes)/2]},
		{"short_record", "truncated", shortZip.Bytes()},
		{"truncated_legacy", "truncated", legacyBytes[:len(legacyBytes)-10]},
		{"truncated_legacy_pickle", "truncated", legacyBytes[:200]},
		{"garbage_pickle", "", append([]byte{0x80, 0x02}, bytes.Repeat([]byte{'t', 'R', 'e', 0x8a}, 50)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".bin")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			sd, err := ReadTorchBin(p)
			if err == nil {
				t.Fatalf("no error; read %d tensors", sd.Len())
			}
			t.Log(err)
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			if c.want != "" && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
	if _, err := ReadTorchBin(filepath.Join(dir, "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
}

// writeZipPickle writes a zip-format torch file whose data.pkl is pkl.
func writeZipPickle(t *testing.T, path string, pkl []byte) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pkl)
	zw.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTorchBinRecoversPanics feeds gopickle a dict keyed by bytes, which
// makes its OrderedDict panic (an unhashable Go map key); ReadTorchBin must
// return an error instead.
func TestTorchBinRecoversPanics(t *testing.T) {
	dir := t.TempDir()
	od := "\x80\x02ccollections\nOrderedDict\n)R"
	cases := []struct{ name, pkl, want string }{
		{"unhashable_key", od + "C\x01a" + "N" + "s.", "panicked"},
		{"non_tensor_value", od + "X\x01\x00\x00\x00aK\x05s.", `"a" is a int, not a tensor`},
		{"not_a_dict", "\x80\x02K\x05.", "not a state dict"},
		{"foreign_persistent_id", od + "X\x01\x00\x00\x00a(X\x06\x00\x00\x00moduleK\x01tQs.", "not supported"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".bin")
		writeZipPickle(t, p, []byte(c.pkl))
		_, err := ReadTorchBin(p)
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.name, err, c.want)
		}
	}
}

func pickleStr(s string) string {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	return "X" + string(n[:]) + s
}

func pickleInts(v ...int) string {
	s := "("
	for _, x := range v {
		s += "J" + string(binary.LittleEndian.AppendUint32(nil, uint32(int32(x))))
	}
	return s + "t"
}

// tensorPickle is a protocol-2 pickle of a plain dict {name: tensor} whose
// tensor views storage "0" of class storage (numel elements).
func tensorPickle(name, storage string, numel, offset int, size, stride []int) string {
	return "\x80\x02}" + pickleStr(name) +
		"ctorch._utils\n_rebuild_tensor_v2\n(" +
		"(" + pickleStr("storage") + "ctorch\n" + storage + "\n" + pickleStr("0") + pickleStr("cpu") +
		"J" + string(binary.LittleEndian.AppendUint32(nil, uint32(numel))) + "tQ" +
		"J" + string(binary.LittleEndian.AppendUint32(nil, uint32(offset))) +
		pickleInts(size...) + pickleInts(stride...) + "\x89Nt" + "Rs."
}

func writeTorchZip(t *testing.T, path, pkl string, data []byte, method uint16) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range []struct {
		name string
		body []byte
		m    uint16
	}{{"archive/data.pkl", []byte(pkl), zip.Store}, {"archive/data/0", data, method}, {"archive/version", []byte("3\n"), zip.Store}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.body)
	}
	zw.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTorchBinHandmade covers a plain dict, compressed zip records, 1-d
// strides and the view-bounds checks with small hand-made files.
func TestTorchBinHandmade(t *testing.T) {
	dir := t.TempDir()
	data := []byte{0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0x80, 0x40} // float32 1.5, -2, 4
	for _, m := range []uint16{zip.Store, zip.Deflate} {
		p := filepath.Join(dir, fmt.Sprintf("m%d.bin", m))
		writeTorchZip(t, p, tensorPickle("w", "FloatStorage", 3, 0, []int{2}, []int{2}), data, m)
		sd, err := ReadTorchBin(p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := sd.Get("w").Float32s()
		if !slices.Equal(got, []float32{1.5, 4}) {
			t.Errorf("method %d: %v", m, got)
		}
	}
	cases := []struct {
		name, pkl, want string
	}{
		{"past_storage", tensorPickle("w", "FloatStorage", 3, 1, []int{3}, []int{1}), "reaches element 3 of a 3-element storage"},
		{"huge_expand", tensorPickle("w", "FloatStorage", 3, 0, []int{1 << 30, 1 << 30}, []int{0, 0}), "expansions beyond"},
		{"huge_string", "\x80\x02}X\xff\xff\xff\x7fabc", "runs past the end"},
		{"negative_stride", tensorPickle("w", "FloatStorage", 3, 0, []int{2}, []int{-1}), "negative stride"},
		{"rank_mismatch", tensorPickle("w", "FloatStorage", 3, 0, []int{3}, []int{1, 1}), "differ in rank"},
		{"complex_storage", tensorPickle("w", "ComplexFloatStorage", 1, 0, []int{1}, []int{1}), "torch.ComplexFloatStorage is not supported"},
		{"record_too_small", tensorPickle("w", "DoubleStorage", 3, 0, []int{3}, []int{1}), "record holds 12 bytes"},
		{"no_record", strings.Replace(tensorPickle("w", "FloatStorage", 3, 0, []int{3}, []int{1}), pickleStr("0"), pickleStr("7"), 1), "no record archive/data/7"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".bin")
		writeTorchZip(t, p, c.pkl, data, zip.Store)
		_, err := ReadTorchBin(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// BenchmarkReadTorchBin reads a 200 MB zip-format .bin (50 F32 tensors of
// 1024×1024, written here with a hand-made pickle) from the page cache.
func BenchmarkReadTorchBin(b *testing.B) {
	const tensors, numel = 50, 1 << 20
	var pkl strings.Builder
	pkl.WriteString("\x80\x02}(")
	for i := 0; i < tensors; i++ {
		key := fmt.Sprint(i)
		pkl.WriteString(pickleStr(fmt.Sprintf("layer.%02d.weight", i)) +
			"ctorch._utils\n_rebuild_tensor_v2\n(" +
			"(" + pickleStr("storage") + "ctorch\nFloatStorage\n" + pickleStr(key) + pickleStr("cpu") +
			"J" + string(binary.LittleEndian.AppendUint32(nil, numel)) + "tQ" +
			"K\x00" + pickleInts(1024, 1024) + pickleInts(1024, 1) + "\x89Nt" + "R")
	}
	pkl.WriteString("u.")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	w.Write([]byte(pkl.String()))
	data := make([]byte, 4*numel)
	for i := 0; i < tensors; i++ {
		for j := range data {
			data[j] = byte(i + j)
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("archive/data/%d", i), Method: zip.Store})
		w.Write(data)
	}
	zw.Close()
	path := filepath.Join(b.TempDir(), "big.bin")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	buf = bytes.Buffer{}
	b.SetBytes(tensors * 4 * numel)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sd, err := ReadTorchBin(path)
		if err != nil {
			b.Fatal(err)
		}
		if sd.Len() != tensors {
			b.Fatal(sd.Len())
		}
	}
}
