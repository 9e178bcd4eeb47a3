package hf

// The safetensors format is small enough to read and write here rather than
// through github.com/nlpodyssey/safetensors: that library deserializes from
// one []byte holding the whole file (a second full-size copy for a 1.4 GB
// checkpoint, or an mmap that every Tensor would alias), while reading each
// tensor with one ReadAt straight into its own buffer costs exactly one copy,
// lets a loader stream tensors one at a time (ReadInto), and lets the errors
// name the file and the key.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gomezo/gomezo/pkg/atomicfile"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// maxHeaderSize is the official library's limit on the JSON header (100 MB).
const maxHeaderSize = 100_000_000

// stEntry is one header entry: the tensor's dtype and shape and where its
// bytes lie, relative to the start of the data section.
type stEntry struct {
	TensorInfo
	Begin, End int64
}

// SafetensorsFile is an open safetensors file whose header has been read and
// checked. Tensors are read on demand, each with one read straight into its
// destination. It is not safe for concurrent use. Close it when done.
type SafetensorsFile struct {
	path      string
	f         *os.File
	dataStart int64
	names     []string // data-offset order
	infos     map[string]stEntry
	metadata  map[string]string
}

// OpenSafetensors opens path and validates its header: an 8-byte
// little-endian length N, then N bytes of JSON mapping names to
// {"dtype","shape","data_offsets":[begin,end]} plus an optional
// "__metadata__" string map. It checks that every dtype is known, that
// end-begin equals numel·dtype size, and that the byte ranges lie inside the
// file and do not overlap. Errors name the file and, where one is at fault,
// the key.
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hf: safetensors: %w", err)
	}
	sf, err := openSafetensors(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

func openSafetensors(path string, f *os.File) (*SafetensorsFile, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("hf: safetensors %s: %s", path, fmt.Sprintf(format, args...))
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hf: safetensors: %w", err)
	}
	size := st.Size()
	if size < 8 {
		return nil, bad("file is %d bytes, too short for the 8-byte header length (truncated?)", size)
	}
	var lenBuf [8]byte
	if _, err := f.ReadAt(lenBuf[:], 0); err != nil {
		return nil, bad("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderSize {
		return nil, bad("header length %d exceeds the %d-byte limit (not a safetensors file?)", n, maxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, bad("header length %d runs past the end of the %d-byte file (truncated?)", n, size)
	}
	header := make([]byte, n)
	if _, err := f.ReadAt(header, 8); err != nil {
		return nil, bad("reading header: %v", err)
	}
	if !utf8.Valid(header) {
		return nil, bad("header is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(header, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, bad("header is not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, bad("header JSON: %v", err)
	}
	sf := &SafetensorsFile{path: path, f: f, dataStart: 8 + int64(n), infos: make(map[string]stEntry, len(raw))}
	dataLen := size - sf.dataStart
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &sf.metadata); err != nil {
				return nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e struct {
			DType       *string  `json:"dtype"`
			Shape       *[]int64 `json:"shape"`
			DataOffsets *[]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, bad("tensor %q: %v", name, err)
		}
		if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
			return nil, bad("tensor %q: needs dtype, shape and data_offsets", name)
		}
		d := DType(*e.DType)
		if !d.Valid() {
			return nil, bad("tensor %q: unknown dtype %q", name, *e.DType)
		}
		if len(*e.DataOffsets) != 2 {
			return nil, bad("tensor %q: data_offsets must be [begin, end], got %v", name, *e.DataOffsets)
		}
		begin, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
		if begin < 0 || end < begin {
			return nil, bad("tensor %q: bad data_offsets [%d, %d]", name, begin, end)
		}
		if end > dataLen {
			return nil, bad("tensor %q: data_offsets [%d, %d] run past the %d-byte data section (truncated?)", name, begin, end, dataLen)
		}
		want, err := byteSize(d, *e.Shape)
		if err != nil {
			return nil, bad("tensor %q: %v", name, err)
		}
		if end-begin != want {
			return nil, bad("tensor %q: %s%v needs %d bytes but data_offsets [%d, %d] hold %d", name, d, *e.Shape, want, begin, end, end-begin)
		}
		sf.infos[name] = stEntry{TensorInfo{DType: d, Shape: *e.Shape}, begin, end}
		sf.names = append(sf.names, name)
	}
	sort.Slice(sf.names, func(i, j int) bool {
		a, b := sf.infos[sf.names[i]], sf.infos[sf.names[j]]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return sf.names[i] < sf.names[j]
	})
	for i := 1; i < len(sf.names); i++ {
		prev, cur := sf.infos[sf.names[i-1]], sf.infos[sf.names[i]]
		if cur.Begin < prev.End {
			return nil, bad("tensors %q [%d, %d] and %q [%d, %d] overlap", sf.names[i-1], prev.Begin, prev.End, sf.names[i], cur.Begin, cur.End)
		}
	}
	return sf, nil
}

// Path returns the file's path.
func (sf *SafetensorsFile) Path() string { return sf.path }

// Names returns the tensor names in data-offset order (for files written by
// the official library, or by WriteSafetensors: larger dtypes first, then by
// name). The slice is the caller's.
func (sf *SafetensorsFile) Names() []string { return slices.Clone(sf.names) }

// Info returns the dtype and shape of tensor name.
func (sf *SafetensorsFile) Info(name string) (TensorInfo, bool) {
	i, ok := sf.infos[name]
	return TensorInfo{DType: i.DType, Shape: slices.Clone(i.Shape)}, ok
}

// Offsets returns where tensor name's bytes lie in the file: [begin, end)
// as absolute file offsets (header included).
func (sf *SafetensorsFile) Offsets(name string) (begin, end int64, ok bool) {
	i, ok := sf.infos[name]
	return sf.dataStart + i.Begin, sf.dataStart + i.End, ok
}

// Metadata returns the "__metadata__" map (nil when absent). The map is the
// caller's.
func (sf *SafetensorsFile) Metadata() map[string]string {
	if sf.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(sf.metadata))
	for k, v := range sf.metadata {
		m[k] = v
	}
	return m
}

// ReadInto reads the bytes of tensor name into dst, which must be exactly
// Info(name).Bytes() long: a loader can read straight into memory it already
// owns (for example a libtorch tensor's buffer) with no intermediate copy.
func (sf *SafetensorsFile) ReadInto(name string, dst []byte) error {
	info, ok := sf.infos[name]
	if !ok {
		return fmt.Errorf("hf: safetensors %s: no tensor %q", sf.path, name)
	}
	if int64(len(dst)) != info.End-info.Begin {
		return fmt.Errorf("hf: safetensors %s: tensor %q is %d bytes, destination %d", sf.path, name, info.End-info.Begin, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	if _, err := sf.f.ReadAt(dst, sf.dataStart+info.Begin); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("hf: safetensors %s: reading %q: %w", sf.path, name, err)
	}
	return nil
}

// Read returns tensor name as a new Tensor that owns its Data.
func (sf *SafetensorsFile) Read(name string) (*Tensor, error) {
	info, ok := sf.infos[name]
	if !ok {
		return nil, fmt.Errorf("hf: safetensors %s: no tensor %q", sf.path, name)
	}
	t := &Tensor{DType: info.DType, Shape: slices.Clone(info.Shape), Data: make([]byte, info.End-info.Begin)}
	if err := sf.ReadInto(name, t.Data); err != nil {
		return nil, err
	}
	return t, nil
}

// ReadAll reads every tensor, in data-offset order.
func (sf *SafetensorsFile) ReadAll() (*StateDict, error) {
	sd := &StateDict{Names: make([]string, 0, len(sf.names)), Tensors: make(map[string]*Tensor, len(sf.names))}
	for _, name := range sf.names {
		t, err := sf.Read(name)
		if err != nil {
			return nil, err
		}
		sd.Set(name, t)
	}
	return sd, nil
}

// Close closes the file.
func (sf *SafetensorsFile) Close() error { return sf.f.Close() }

// ReadSafetensors reads a whole safetensors file. Each tensor gets its own
// Data, filled by a single read from the file (one copy in all). Names are
// in data-offset order. The "__metadata__" map is dropped; use
// OpenSafetensors to see it.
func ReadSafetensors(path string) (*StateDict, error) {
	sf, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	return sf.ReadAll()
}

// SafetensorsOrder returns sd's names in the order the official safetensors
// writer lays the tensors out: by dtype in descending order of the official
// Dtype enum (U64, I64, F64, F32, U32, I32, BF16, F16, U16, I16, I8, U8,
// BOOL — so 8-byte types come first), then by name.
func SafetensorsOrder(sd *StateDict) []string {
	infos := make([]NamedInfo, len(sd.Names))
	for i, n := range sd.Names {
		infos[i] = NamedInfo{Name: n, TensorInfo: TensorInfo{DType: sd.Tensors[n].DType}}
	}
	sortOfficial(infos)
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	return names
}

func sortOfficial(infos []NamedInfo) {
	sort.SliceStable(infos, func(i, j int) bool {
		if ra, rb := infos[i].DType.rank(), infos[j].DType.rank(); ra != rb {
			return ra > rb
		}
		return infos[i].Name < infos[j].Name
	})
}

// NamedInfo is a tensor's name, dtype and shape.
type NamedInfo struct {
	Name string
	TensorInfo
}

// WriteSafetensors writes sd to path in the official library's layout:
// tensors ordered by SafetensorsOrder, contiguous data offsets, compact JSON
// header with "__metadata__" first, padded with spaces to a multiple of 8
// bytes. When metadata has no "format" key, "format":"pt" is added
// (transformers' from_pretrained refuses safetensors files without it).
//
// The write is atomic: the data goes to a temporary file in path's
// directory, is fsynced, and is renamed over path; on error path is left as
// it was and the temporary file is removed.
func WriteSafetensors(path string, sd *StateDict, metadata map[string]string) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("hf: write %s: %w", path, err)
	}
	infos := make([]NamedInfo, len(sd.Names))
	for i, n := range sd.Names {
		t := sd.Tensors[n]
		infos[i] = NamedInfo{Name: n, TensorInfo: TensorInfo{DType: t.DType, Shape: t.Shape}}
	}
	return WriteSafetensorsFunc(path, infos, metadata, func(name string, w io.Writer) error {
		_, err := w.Write(sd.Tensors[name].Data)
		return err
	})
}

// WriteSafetensorsFunc writes a safetensors file like WriteSafetensors but
// takes the tensors' bytes from write, called once per tensor in file
// order; write must put exactly info.Bytes() bytes (contiguous, row-major,
// little-endian) to w. A saver can thus stream each tensor from memory it
// owns (a libtorch tensor's buffer) without building a StateDict.
func WriteSafetensorsFunc(path string, tensors []NamedInfo, metadata map[string]string, write func(name string, w io.Writer) error) error {
	infos := slices.Clone(tensors)
	seen := make(map[string]bool, len(infos))
	for _, in := range infos {
		if seen[in.Name] {
			return fmt.Errorf("hf: write %s: tensor %q listed twice", path, in.Name)
		}
		seen[in.Name] = true
		if in.Name == "__metadata__" {
			return fmt.Errorf("hf: write %s: a tensor may not be called __metadata__", path)
		}
		if _, err := byteSize(in.DType, in.Shape); err != nil {
			return fmt.Errorf("hf: write %s: tensor %q: %w", path, in.Name, err)
		}
	}
	sortOfficial(infos)
	header := safetensorsHeader(infos, metadata)
	return atomicfile.Write(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, in := range infos {
			cw := &countWriter{w: w}
			if err := write(in.Name, cw); err != nil {
				return fmt.Errorf("tensor %q: %w", in.Name, err)
			}
			if cw.n != in.Bytes() {
				return fmt.Errorf("tensor %q: %s%v needs %d bytes, %d written", in.Name, in.DType, in.Shape, in.Bytes(), cw.n)
			}
		}
		return nil
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// safetensorsHeader builds the padded JSON header for infos, in order.
func safetensorsHeader(infos []NamedInfo, metadata map[string]string) []byte {
	md := make(map[string]string, len(metadata)+1)
	for k, v := range metadata {
		md[k] = v
	}
	if _, ok := md["format"]; !ok {
		md["format"] = "pt"
	}
	var b bytes.Buffer
	b.WriteString(`{"__metadata__":{`)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, md[k])
	}
	b.WriteByte('}')
	var off int64
	for _, in := range infos {
		b.WriteByte(',')
		writeJSONString(&b, in.Name)
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, in.DType)
		for i, d := range in.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d", d)
		}
		end := off + in.Bytes()
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeJSONString writes s as a JSON string without HTML escaping, as
// serde_json (the official writer) does.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // cannot fail for a string
	b.Truncate(b.Len() - 1)
}

// isSafetensorsName reports whether a file name looks like safetensors.
func isSafetensorsName(name string) bool { return strings.HasSuffix(name, ".safetensors") }
