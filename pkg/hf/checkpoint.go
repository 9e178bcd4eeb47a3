package hf

import (
	"fmt"
	"slices"
	"strings"
)

// weightsFile is what SafetensorsFile and TorchBinFile have in common.
type weightsFile interface {
	Path() string
	Names() []string
	Info(name string) (TensorInfo, bool)
	ReadInto(name string, dst []byte) error
	Close() error
}

var (
	_ weightsFile = (*SafetensorsFile)(nil)
	_ weightsFile = (*TorchBinFile)(nil)
)

// Checkpoint is an open set of weight files (one file, or the shards of a
// sharded checkpoint) whose tensors are read on demand. It lets a loader
// copy a large model into libtorch one tensor at a time, keeping at most one
// tensor in Go memory, or none with ReadInto:
//
//	ck, err := dir.Open()
//	...
//	defer ck.Close()
//	for _, name := range ck.Names() {
//		info, _ := ck.Info(name)
//		buf := torchTensorBytes(info) // memory the loader owns
//		if err := ck.ReadInto(name, buf); err != nil { ... }
//	}
//
// It is not safe for concurrent use.
type Checkpoint struct {
	names []string
	files []weightsFile
	where map[string]weightsFile
	alias map[string]string // filled tied name -> source name
}

// OpenWeights opens one weights file: safetensors when the name ends in
// .safetensors, otherwise a torch.save file (pytorch_model.bin).
func OpenWeights(path string) (*Checkpoint, error) {
	c := &Checkpoint{where: map[string]weightsFile{}}
	f := FormatBin
	if isSafetensorsName(path) {
		f = FormatSafetensors
	}
	if err := c.add(path, f); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Checkpoint) add(path string, f Format) error {
	var wf weightsFile
	var err error
	if f == FormatSafetensors {
		wf, err = OpenSafetensors(path)
	} else {
		wf, err = OpenTorchBin(path)
	}
	if err != nil {
		return err
	}
	c.files = append(c.files, wf)
	for _, n := range wf.Names() {
		if prev, dup := c.where[n]; dup {
			return fmt.Errorf("hf: tensor %q is in both %s and %s", n, prev.Path(), path)
		}
		c.where[n] = wf
		c.names = append(c.names, n)
	}
	return nil
}

// Names returns every tensor name, file by file in file order. The slice
// is the caller's.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Len returns the number of tensors.
func (c *Checkpoint) Len() int { return len(c.names) }

// Has reports whether tensor name is present.
func (c *Checkpoint) Has(name string) bool { _, ok := c.where[name]; return ok }

// FillTied makes every absent Dst of pairs whose Src is present readable
// under Dst as a copy of Src (appended to Names), like StateDict.FillTied,
// and returns the names it added.
func (c *Checkpoint) FillTied(pairs []Tied) []string {
	var filled []string
	for _, p := range pairs {
		if c.Has(p.Dst) || !c.Has(p.Src) {
			continue
		}
		if c.alias == nil {
			c.alias = map[string]string{}
		}
		src := c.source(p.Src)
		c.alias[p.Dst] = src
		c.where[p.Dst] = c.where[src]
		c.names = append(c.names, p.Dst)
		filled = append(filled, p.Dst)
	}
	return filled
}

// source maps a filled tied name to the name stored in the file.
func (c *Checkpoint) source(name string) string {
	if s, ok := c.alias[name]; ok {
		return s
	}
	return name
}

// Info returns the dtype and shape of tensor name.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	wf, ok := c.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return wf.Info(c.source(name))
}

// Infos returns the dtype and shape of every tensor (Expect.CheckCheckpoint
// checks them before any data is read).
func (c *Checkpoint) Infos() map[string]TensorInfo {
	out := make(map[string]TensorInfo, len(c.names))
	for _, n := range c.names {
		out[n], _ = c.Info(n)
	}
	return out
}

// ReadInto reads tensor name, contiguous row-major little-endian, into dst,
// which must be exactly Info(name).Bytes() long.
func (c *Checkpoint) ReadInto(name string, dst []byte) error {
	wf, ok := c.where[name]
	if !ok {
		return fmt.Errorf("hf: checkpoint has no tensor %q", name)
	}
	return wf.ReadInto(c.source(name), dst)
}

// Read returns tensor name as a new Tensor that owns its Data.
func (c *Checkpoint) Read(name string) (*Tensor, error) {
	info, ok := c.Info(name)
	if !ok {
		return nil, fmt.Errorf("hf: checkpoint has no tensor %q", name)
	}
	t := &Tensor{DType: info.DType, Shape: info.Shape, Data: make([]byte, info.Bytes())}
	if err := c.ReadInto(name, t.Data); err != nil {
		return nil, err
	}
	return t, nil
}

// ReadAll reads every tensor into a StateDict.
func (c *Checkpoint) ReadAll() (*StateDict, error) {
	sd := &StateDict{Names: make([]string, 0, len(c.names)), Tensors: make(map[string]*Tensor, len(c.names))}
	for _, n := range c.names {
		t, err := c.Read(n)
		if err != nil {
			return nil, err
		}
		sd.Set(n, t)
	}
	return sd, nil
}

// Paths returns the open files' paths.
func (c *Checkpoint) Paths() []string {
	out := make([]string, len(c.files))
	for i, f := range c.files {
		out[i] = f.Path()
	}
	return out
}

// Close closes every file.
func (c *Checkpoint) Close() error {
	var errs []string
	for _, f := range c.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	c.files = nil
	if len(errs) > 0 {
		return fmt.Errorf("hf: closing checkpoint: %s", strings.Join(errs, "; "))
	}
	return nil
}
