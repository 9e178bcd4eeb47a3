package hf

// Reading torch.save files. The pickle virtual machine is gopickle's
// (github.com/nlpodyssey/gopickle/pickle); the torch layer around it is ours
// rather than gopickle's pytorch.Load, which was checked and falls short
// here: it decodes every storage element by element into []float32 /
// []float64 / ... (HalfStorage and BFloat16Storage become float32, so the
// dtype is lost), reads through a per-element buffered reader, panics on the
// legacy tar format and on legacy storage views, fails on nn.Parameter
// values ("class not found: torch._utils _rebuild_parameter"), and hands
// back storages without the byte layout needed to copy a tensor straight
// from the file.
// Here the pickle only yields each tensor's (storage, offset, size, stride);
// the bytes are then read with ReadAt straight into each tensor's buffer.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// maxPickleBytes bounds a zip archive's data.pkl (roberta-large's is
// tens of kilobytes).
const maxPickleBytes = 1 << 30

// maxExpansion bounds how many bytes a strided view (a stride-0 expand) may
// add beyond its storage's size when materialised, so a corrupt stride
// cannot ask for terabytes.
const maxExpansion = 256 << 20

// torch storage class names (module "torch") and their dtypes.
var torchStorageDTypes = map[string]DType{
	"FloatStorage":    F32,
	"DoubleStorage":   F64,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     BOOL,
}

// storageClass stands for a torch.*Storage class in the pickle.
type storageClass struct {
	name  string
	dtype DType // "" when unsupported
}

// pStorage is a storage referenced by the pickle.
type pStorage struct {
	key   string
	dtype DType
	numel int64
	// Where its bytes are: at file offset off (when rec == nil), or in a
	// compressed zip record rec (decompressed on demand into data).
	off  int64
	rec  *zip.File
	data []byte
	// base and elemOff describe a legacy storage view of base.
	base    *pStorage
	elemOff int64
	located bool
}

// pTensor is a tensor rebuilt by the pickle: a strided view of a storage.
type pTensor struct {
	st     *pStorage
	offset int64
	shape  []int64
	stride []int64
	// set by check
	numel      int64
	last       int64 // highest storage element the view touches
	contiguous bool
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2 (and, with v1,
// the older _rebuild_tensor): (storage, offset, size, stride, ...).
type rebuildTensor struct{ v1 bool }

func (r rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 || (!r.v1 && len(args) < 5) {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments", len(args))
	}
	st, ok := args[0].(*pStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: first argument is %T, not a storage", args[0])
	}
	off, ok := toInt64(args[1])
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor: bad storage offset %v", args[1])
	}
	shape, err := toInt64s(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: size: %w", err)
	}
	stride, err := toInt64s(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: stride: %w", err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in rank", shape, stride)
	}
	return &pTensor{st: st, offset: off, shape: shape, stride: stride}, nil
}

// rebuildParameter implements torch._utils._rebuild_parameter and
// _rebuild_parameter_with_state: the data tensor is the first argument.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

// rebuildFromType implements torch._tensor._rebuild_from_type_v2(func,
// new_type, args, state): it calls func(*args) and drops the subclass.
type rebuildFromType struct{}

func (rebuildFromType) Call(args ...any) (any, error) {
	if len(args) < 3 {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %d arguments", len(args))
	}
	fn, ok := args[0].(types.Callable)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %T is not callable", args[0])
	}
	a, ok := args[2].(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: arguments are %T", args[2])
	}
	return fn.Call(*a...)
}

// unsupported is a torch callable we recognise but cannot load.
type unsupported struct{ name string }

func (u unsupported) Call(...any) (any, error) {
	return nil, fmt.Errorf("%s is not supported (quantized or sparse tensor?)", u.name)
}

func findTorchClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_tensor":
		return rebuildTensor{v1: true}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	case "torch._tensor._rebuild_from_type_v2":
		return rebuildFromType{}, nil
	case "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
		"torch._utils._rebuild_sparse_csr_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
		"torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
		"torch._utils._rebuild_nested_tensor":
		return unsupported{module + "." + name}, nil
	}
	if module == "torch" && strings.HasSuffix(name, "Storage") {
		return &storageClass{name: name, dtype: torchStorageDTypes[name]}, nil
	}
	return types.NewGenericClass(module, name), nil
}

// storageRef parses a persistent id ('storage', class, key, location, numel
// [, view_metadata]) shared by both formats.
func storageRef(pid any, legacy bool) (cls *storageClass, key string, numel int64, view []any, err error) {
	tup, ok := pid.(*types.Tuple)
	if !ok || tup.Len() == 0 {
		return nil, "", 0, nil, fmt.Errorf("persistent id %T is not a tuple", pid)
	}
	if s, _ := tup.Get(0).(string); s != "storage" {
		return nil, "", 0, nil, fmt.Errorf("persistent id of kind %v is not supported", tup.Get(0))
	}
	if tup.Len() < 5 {
		return nil, "", 0, nil, fmt.Errorf("storage persistent id has %d fields", tup.Len())
	}
	cls, ok = tup.Get(1).(*storageClass)
	if !ok {
		return nil, "", 0, nil, fmt.Errorf("storage type %v is not a torch storage class", tup.Get(1))
	}
	if cls.dtype == "" {
		return nil, "", 0, nil, fmt.Errorf("storage type torch.%s is not supported", cls.name)
	}
	key, ok = tup.Get(2).(string)
	if !ok {
		return nil, "", 0, nil, fmt.Errorf("storage key %v is not a string", tup.Get(2))
	}
	numel, ok = toInt64(tup.Get(4))
	if !ok || numel < 0 || numel > math.MaxInt64/int64(cls.dtype.Size()) {
		return nil, "", 0, nil, fmt.Errorf("storage %s: bad size %v", key, tup.Get(4))
	}
	if legacy && tup.Len() >= 6 && tup.Get(5) != nil {
		vt, ok := tup.Get(5).(*types.Tuple)
		if !ok || vt.Len() != 3 {
			return nil, "", 0, nil, fmt.Errorf("storage %s: bad view metadata %v", key, tup.Get(5))
		}
		view = []any(*vt)
	}
	return cls, key, numel, view, nil
}

// TorchBinFile is an open torch.save file (a Hugging Face
// pytorch_model.bin) whose pickle has been read: names, dtypes and shapes are
// known, and tensors are read on demand. It is not safe for concurrent use.
// Close it when done.
//
// Both formats are read: the zip format (torch ≥ 1.6's default) and the
// legacy pickle stream (_use_new_zipfile_serialization=False). The legacy
// tar format of PyTorch < 0.4 is refused with an error. Supported storages:
// float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 and
// bool. Values in the dict that are not tensors, quantized or sparse
// tensors, and big-endian files are errors naming the key or file.
type TorchBinFile struct {
	path    string
	f       *os.File
	names   []string
	tensors map[string]*pTensor
}

// OpenTorchBin opens path and reads its pickle (not yet the tensor data).
// Names follow the pickled OrderedDict's order.
func OpenTorchBin(path string) (tb *TorchBinFile, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hf: torch bin: %w", err)
	}
	defer func() {
		// gopickle can panic on malformed input (and on map keys it
		// cannot hash); turn that into an error.
		if r := recover(); r != nil {
			tb, err = nil, fmt.Errorf("hf: torch bin %s: malformed file (pickle reader panicked: %v)", path, r)
		}
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hf: torch bin: %w", err)
	}
	var obj any
	var sig [4]byte
	f.ReadAt(sig[:], 0) // a short file leaves sig zero
	if zr, zerr := zip.NewReader(f, st.Size()); zerr == nil {
		obj, _, err = loadZip(zr, st.Size())
	} else if string(sig[:]) == "PK\x03\x04" {
		err = fmt.Errorf("zip archive is damaged or truncated: %v", zerr)
	} else {
		obj, _, err = loadLegacy(f, st.Size())
	}
	if err != nil {
		return nil, fmt.Errorf("hf: torch bin %s: %w", path, err)
	}
	tb = &TorchBinFile{path: path, f: f}
	if err := tb.index(obj); err != nil {
		return nil, fmt.Errorf("hf: torch bin %s: %w", path, err)
	}
	return tb, nil
}

// ReadTorchBin reads a whole torch.save'd state dict (see TorchBinFile).
//
// Every tensor gets its own contiguous row-major copy: tensors that share a
// storage in the file (tied weights such as lm_head.decoder.weight and the
// word embeddings) come back as separate, equal Tensors, and strided views
// (a transposed weight, HF's stride-0 expanded position_ids) are
// materialised from the storage offset and strides. Contiguous tensors are
// read from the file straight into their buffer (one copy).
func ReadTorchBin(path string) (*StateDict, error) {
	tb, err := OpenTorchBin(path)
	if err != nil {
		return nil, err
	}
	defer tb.Close()
	return tb.ReadAll()
}

// Path returns the file's path.
func (tb *TorchBinFile) Path() string { return tb.path }

// Names returns the tensor names in the pickled dict's order. The slice is
// the caller's.
func (tb *TorchBinFile) Names() []string { return slices.Clone(tb.names) }

// Info returns the dtype and shape of tensor name.
func (tb *TorchBinFile) Info(name string) (TensorInfo, bool) {
	pt, ok := tb.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return TensorInfo{DType: pt.st.dtype, Shape: slices.Clone(pt.shape)}, true
}

// SameStorage reports whether tensors a and b are views of one storage in
// the file (tied weights).
func (tb *TorchBinFile) SameStorage(a, b string) bool {
	ta, oka := tb.tensors[a]
	tbb, okb := tb.tensors[b]
	if !oka || !okb {
		return false
	}
	ra, rb := ta.st, tbb.st
	if ra.base != nil {
		ra = ra.base
	}
	if rb.base != nil {
		rb = rb.base
	}
	return ra == rb
}

// ReadInto materialises tensor name, contiguous and row-major, into dst,
// which must be exactly Info(name).Bytes() long.
func (tb *TorchBinFile) ReadInto(name string, dst []byte) error {
	pt, ok := tb.tensors[name]
	if !ok {
		return fmt.Errorf("hf: torch bin %s: no tensor %q", tb.path, name)
	}
	if err := pt.readInto(tb.f, dst); err != nil {
		return fmt.Errorf("hf: torch bin %s: tensor %q: %w", tb.path, name, err)
	}
	return nil
}

// Read returns tensor name as a new Tensor that owns its Data.
func (tb *TorchBinFile) Read(name string) (*Tensor, error) {
	info, ok := tb.Info(name)
	if !ok {
		return nil, fmt.Errorf("hf: torch bin %s: no tensor %q", tb.path, name)
	}
	t := &Tensor{DType: info.DType, Shape: info.Shape, Data: make([]byte, info.Bytes())}
	if err := tb.ReadInto(name, t.Data); err != nil {
		return nil, err
	}
	return t, nil
}

// ReadAll reads every tensor, in file order.
func (tb *TorchBinFile) ReadAll() (*StateDict, error) {
	sd := &StateDict{Names: make([]string, 0, len(tb.names)), Tensors: make(map[string]*Tensor, len(tb.names))}
	for _, name := range tb.names {
		t, err := tb.Read(name)
		if err != nil {
			return nil, err
		}
		sd.Set(name, t)
	}
	return sd, nil
}

// Close closes the file.
func (tb *TorchBinFile) Close() error {
	for _, pt := range tb.tensors {
		pt.st.data = nil
	}
	return tb.f.Close()
}

func loadZip(zr *zip.Reader, size int64) (any, map[string]*pStorage, error) {
	var pkl *zip.File
	prefix := ""
	records := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		records[zf.Name] = zf
		base := zf.Name[strings.LastIndex(zf.Name, "/")+1:]
		switch base {
		case "constants.pkl":
			return nil, nil, fmt.Errorf("a TorchScript archive (torch.jit.save), not a state dict")
		case "data.pkl":
			if pkl == nil {
				pkl = zf
				prefix = strings.TrimSuffix(zf.Name, "data.pkl")
			}
		}
	}
	if pkl == nil {
		return nil, nil, fmt.Errorf("zip archive without data.pkl: not a torch.save file")
	}
	if bo, ok := records[prefix+"byteorder"]; ok {
		rc, err := bo.Open()
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, 16))
		rc.Close()
		if err != nil {
			return nil, nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, nil, fmt.Errorf("byte order %q is not supported (little-endian only)", s)
		}
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, nil, err
	}
	pklBytes, err := io.ReadAll(io.LimitReader(rc, maxPickleBytes+1))
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("data.pkl: %w", err)
	}
	if len(pklBytes) > maxPickleBytes {
		return nil, nil, fmt.Errorf("data.pkl is larger than %d bytes", maxPickleBytes)
	}
	if _, err := scanPickle(bufio.NewReader(bytes.NewReader(pklBytes)), int64(len(pklBytes))); err != nil {
		return nil, nil, fmt.Errorf("data.pkl: %w", err)
	}
	storages := map[string]*pStorage{}
	u := pickle.NewUnpickler(bytes.NewReader(pklBytes))
	u.FindClass = findTorchClass
	u.PersistentLoad = func(pid any) (any, error) {
		cls, key, numel, _, err := storageRef(pid, false)
		if err != nil {
			return nil, err
		}
		if s, ok := storages[key]; ok {
			if s.dtype != cls.dtype {
				return nil, fmt.Errorf("storage %s used as both %s and %s", key, s.dtype, cls.dtype)
			}
			return s, nil
		}
		rec, ok := records[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %s: no record %sdata/%s in the archive", key, prefix, key)
		}
		need := numel * int64(cls.dtype.Size())
		if rec.UncompressedSize64 < uint64(need) {
			return nil, fmt.Errorf("storage %s: record holds %d bytes, %d %s elements need %d (truncated?)", key, rec.UncompressedSize64, numel, cls.dtype, need)
		}
		s := &pStorage{key: key, dtype: cls.dtype, numel: numel, located: true}
		if rec.Method == zip.Store {
			off, err := rec.DataOffset()
			if err != nil {
				return nil, fmt.Errorf("storage %s: %w", key, err)
			}
			if need > size-off {
				return nil, fmt.Errorf("storage %s: %d bytes at offset %d run past the end of the %d-byte file (truncated?)", key, need, off, size)
			}
			s.off = off
		} else {
			s.rec = rec
		}
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, nil, fmt.Errorf("data.pkl: %w%s", err, eofHint(err))
	}
	return obj, storages, nil
}

// countingReader counts the bytes the unpickler consumes, so the legacy
// format's storage section can be located after the pickles.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

const legacyMagic = "1950a86a20f9469cfc6c"

// loadLegacy reads the legacy format: pickles of the magic number, the
// protocol version (1001), sys_info and the object; a pickled list of
// storage keys; then each storage as an int64 element count followed by
// its bytes, in key-list order.
func loadLegacy(f *os.File, size int64) (any, map[string]*pStorage, error) {
	var tarMagic [5]byte
	if _, err := f.ReadAt(tarMagic[:], 257); err == nil && string(tarMagic[:]) == "ustar" {
		return nil, nil, fmt.Errorf("the legacy tar format of PyTorch < 0.4 is not supported; re-save it with a newer torch")
	}
	// Walk the five pickles (magic, protocol, sys_info, object, storage
	// keys) once to check their lengths before gopickle allocates by them.
	sr := bufio.NewReader(io.NewSectionReader(f, 0, size))
	var scanned int64
	for i := 0; i < 5; i++ {
		n, err := scanPickle(sr, size-scanned)
		if err != nil {
			if i == 0 {
				return nil, nil, fmt.Errorf("neither a zip archive nor a legacy torch.save stream (%v)", err)
			}
			return nil, nil, fmt.Errorf("legacy pickle %d: %w", i+1, err)
		}
		scanned += n
	}
	cr := &countingReader{r: bufio.NewReader(io.NewSectionReader(f, 0, size))}
	plain := func(what string) (any, error) {
		u := pickle.NewUnpickler(cr)
		v, err := u.Load()
		if err != nil {
			return nil, fmt.Errorf("neither a zip archive nor a legacy torch.save stream (%s: %v)", what, err)
		}
		return v, nil
	}
	magic, err := plain("magic number")
	if err != nil {
		return nil, nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Text(16) != legacyMagic {
		return nil, nil, fmt.Errorf("neither a zip archive nor a legacy torch.save stream (bad magic number)")
	}
	proto, err := plain("protocol version")
	if err != nil {
		return nil, nil, err
	}
	if p, ok := toInt64(proto); !ok || p != 1001 {
		return nil, nil, fmt.Errorf("legacy protocol version %v is not supported (want 1001)", proto)
	}
	sysInfo, err := plain("sys_info")
	if err != nil {
		return nil, nil, err
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le != true {
			return nil, nil, fmt.Errorf("big-endian legacy files are not supported")
		}
	}
	storages := map[string]*pStorage{}
	views := map[string]*pStorage{}
	u := pickle.NewUnpickler(cr)
	u.FindClass = findTorchClass
	u.PersistentLoad = func(pid any) (any, error) {
		if tup, ok := pid.(*types.Tuple); ok && tup.Len() == 2 {
			if s, _ := tup.Get(0).(string); s == "module" {
				return tup.Get(1), nil
			}
		}
		cls, key, numel, view, err := storageRef(pid, true)
		if err != nil {
			return nil, err
		}
		s, ok := storages[key]
		if !ok {
			s = &pStorage{key: key, dtype: cls.dtype, numel: numel}
			storages[key] = s
		} else if s.dtype != cls.dtype {
			return nil, fmt.Errorf("storage %s used as both %s and %s", key, s.dtype, cls.dtype)
		}
		if view == nil {
			return s, nil
		}
		vkey, ok1 := view[0].(string)
		voff, ok2 := toInt64(view[1])
		vsize, ok3 := toInt64(view[2])
		if !ok1 || !ok2 || !ok3 || voff < 0 || vsize < 0 || voff > s.numel || vsize > s.numel-voff {
			return nil, fmt.Errorf("storage %s: bad view metadata %v", key, view)
		}
		if v, ok := views[vkey]; ok {
			return v, nil
		}
		v := &pStorage{key: vkey, dtype: s.dtype, numel: vsize, base: s, elemOff: voff}
		views[vkey] = v
		return v, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, nil, fmt.Errorf("legacy pickle: %w%s", err, eofHint(err))
	}
	ku := pickle.NewUnpickler(cr)
	keyList, err := ku.Load()
	if err != nil {
		return nil, nil, fmt.Errorf("legacy storage key list: %w%s", err, eofHint(err))
	}
	list, ok := keyList.(*types.List)
	if !ok {
		return nil, nil, fmt.Errorf("legacy storage key list is a %T", keyList)
	}
	pos := cr.n
	for _, k := range *list {
		key, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("legacy storage key %v is not a string", k)
		}
		s, ok := storages[key]
		if !ok {
			return nil, nil, fmt.Errorf("legacy storage %s is listed but never used", key)
		}
		var hdr [8]byte
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return nil, nil, fmt.Errorf("legacy storage %s: reading its size at byte %d: %v (truncated?)", key, pos, err)
		}
		n := int64(binary.LittleEndian.Uint64(hdr[:]))
		if n < 0 || n > (size-pos-8)/int64(s.dtype.Size()) {
			return nil, nil, fmt.Errorf("legacy storage %s of %d elements runs past the end of the file (truncated?)", key, n)
		}
		if n != s.numel {
			return nil, nil, fmt.Errorf("legacy storage %s: file says %d elements, pickle says %d", key, n, s.numel)
		}
		s.off = pos + 8
		s.located = true
		pos = s.off + n*int64(s.dtype.Size())
		if pos > size {
			return nil, nil, fmt.Errorf("legacy storage %s runs past the end of the file (truncated?)", key)
		}
	}
	for key, s := range storages {
		if !s.located {
			return nil, nil, fmt.Errorf("legacy storage %s is used but missing from the storage list", key)
		}
	}
	for key, v := range views {
		if v.elemOff+v.numel > v.base.numel {
			return nil, nil, fmt.Errorf("legacy storage view %s exceeds storage %s", key, v.base.key)
		}
		v.off = v.base.off + v.elemOff*int64(v.dtype.Size())
		v.located = true
	}
	return obj, storages, nil
}

// entries lists a pickled dict's items in order.
func entries(obj any) ([][2]any, error) {
	switch d := obj.(type) {
	case *types.OrderedDict:
		out := make([][2]any, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			ent, ok := e.Value.(*types.OrderedDictEntry)
			if !ok {
				return nil, fmt.Errorf("malformed OrderedDict entry %T", e.Value)
			}
			out = append(out, [2]any{ent.Key, ent.Value})
		}
		return out, nil
	case *types.Dict:
		out := make([][2]any, 0, len(*d))
		for _, e := range *d {
			out = append(out, [2]any{e.Key, e.Value})
		}
		return out, nil
	}
	return nil, fmt.Errorf("top-level object is a %T, not a state dict", obj)
}

// index records the pickled dict's tensors after checking them.
func (tb *TorchBinFile) index(obj any) error {
	items, err := entries(obj)
	if err != nil {
		return err
	}
	tb.names = make([]string, 0, len(items))
	tb.tensors = make(map[string]*pTensor, len(items))
	for _, it := range items {
		name, ok := it[0].(string)
		if !ok {
			return fmt.Errorf("state dict key %v is a %T, not a string", it[0], it[0])
		}
		pt, ok := it[1].(*pTensor)
		if !ok {
			return fmt.Errorf("state dict entry %q is a %T, not a tensor", name, it[1])
		}
		if _, dup := tb.tensors[name]; dup {
			return fmt.Errorf("state dict key %q appears twice", name)
		}
		if err := pt.check(); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		tb.names = append(tb.names, name)
		tb.tensors[name] = pt
	}
	return nil
}

// readStorage reads elements [first, first+n) of storage s into dst.
func (s *pStorage) readElems(f *os.File, first, n int64, dst []byte) error {
	es := int64(s.dtype.Size())
	if s.rec != nil { // compressed record: decompress the whole storage once
		if s.data == nil {
			rc, err := s.rec.Open()
			if err != nil {
				return err
			}
			// ReadAll grows with the data actually there, not with the
			// size the archive claims.
			data, err := io.ReadAll(io.LimitReader(rc, s.numel*es))
			rc.Close()
			if err != nil {
				return fmt.Errorf("storage %s: %w", s.key, err)
			}
			if int64(len(data)) != s.numel*es {
				return fmt.Errorf("storage %s: record holds %d bytes, want %d (truncated?)", s.key, len(data), s.numel*es)
			}
			s.data = data
		}
		copy(dst, s.data[first*es:(first+n)*es])
		return nil
	}
	if _, err := f.ReadAt(dst[:n*es], s.off+first*es); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("storage %s: %w (truncated?)", s.key, err)
	}
	return nil
}

// check validates the view against its storage and records its extent.
func (pt *pTensor) check() error {
	s := pt.st
	numel, err := numElements(pt.shape)
	if err != nil {
		return err
	}
	es := int64(s.dtype.Size())
	if numel > math.MaxInt64/es {
		return fmt.Errorf("shape %v too large", pt.shape)
	}
	pt.numel = numel
	if numel == 0 {
		return nil
	}
	// The highest element the view touches must lie inside the storage.
	last := pt.offset
	pt.contiguous = true
	expect := int64(1)
	for i := len(pt.shape) - 1; i >= 0; i-- {
		if pt.stride[i] < 0 {
			return fmt.Errorf("negative stride %v", pt.stride)
		}
		over, lo := mulCheck(pt.shape[i]-1, pt.stride[i])
		if over || last > math.MaxInt64-lo {
			return fmt.Errorf("stride %v overflows", pt.stride)
		}
		last += lo
		if pt.shape[i] != 1 && pt.stride[i] != expect {
			pt.contiguous = false
		}
		expect *= pt.shape[i]
	}
	if last >= s.numel {
		return fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d of a %d-element storage %s", pt.offset, pt.shape, pt.stride, last, s.numel, s.key)
	}
	if numel-s.numel > maxExpansion/es {
		return fmt.Errorf("view (size %v, stride %v) of a %d-element storage would materialise %d elements; expansions beyond %d bytes are refused", pt.shape, pt.stride, s.numel, numel, maxExpansion)
	}
	pt.last = last
	return nil
}

// readInto materialises the strided view, contiguous and row-major, into
// dst.
func (pt *pTensor) readInto(f *os.File, dst []byte) error {
	s := pt.st
	es := int64(s.dtype.Size())
	if int64(len(dst)) != pt.numel*es {
		return fmt.Errorf("%s%v is %d bytes, destination %d", s.dtype, pt.shape, pt.numel*es, len(dst))
	}
	if pt.numel == 0 {
		return nil
	}
	if pt.contiguous {
		return s.readElems(f, pt.offset, pt.numel, dst)
	}
	span := make([]byte, (pt.last-pt.offset+1)*es)
	if err := s.readElems(f, pt.offset, pt.last-pt.offset+1, span); err != nil {
		return err
	}
	gather(dst, span, pt.shape, pt.stride, es)
	return nil
}

func mulCheck(a, b int64) (overflow bool, p int64) {
	if a == 0 || b == 0 {
		return false, 0
	}
	p = a * b
	return p/b != a || p < 0, p
}

// gather copies the strided view of src (element 0 at src[0]) into dst in
// row-major order; es is the element size in bytes.
func gather(dst, src []byte, shape, stride []int64, es int64) {
	nd := len(shape)
	if nd == 0 {
		copy(dst, src[:es])
		return
	}
	idx := make([]int64, nd)
	inner := shape[nd-1]
	innerStride := stride[nd-1]
	var o int64 // dst byte offset
	for {
		base := int64(0)
		for i := 0; i < nd-1; i++ {
			base += idx[i] * stride[i]
		}
		if innerStride == 1 {
			n := inner * es
			copy(dst[o:o+n], src[base*es:base*es+n])
			o += n
		} else {
			for j := int64(0); j < inner; j++ {
				p := (base + j*innerStride) * es
				copy(dst[o:o+es], src[p:p+es])
				o += es
			}
		}
		// advance the outer index
		i := nd - 2
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func toInt64s(v any) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := toInt64(it)
		if !ok {
			return nil, fmt.Errorf("element %d (%v) is not an integer", i, it)
		}
		out[i] = n
	}
	return out, nil
}

func eofHint(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return " (truncated?)"
	}
	return ""
}
