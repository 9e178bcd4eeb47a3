package torch

/*
#include "mz.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ParamList is an ordered list of parameter tensors on which whole passes
// run in one shim call each: seeded perturbation, the MeZO update, gradient
// zeroing, norms. It holds its own references to the tensors (closing the
// Tensors that built it does not free them) and reusable scratch buffers,
// one per device and dtype, sized to the largest tensor. Close releases both.
// A ParamList is not safe for concurrent use.
type ParamList struct {
	h C.mz_params
	n int
}

// NewParamList makes a list of ts, in order.
func NewParamList(ts []*Tensor) (*ParamList, error) {
	hs := make([]C.mz_tensor, len(ts))
	for i, t := range ts {
		if t.Closed() {
			return nil, fmt.Errorf("torch: parameter list: tensor %d is nil or closed", i)
		}
		hs[i] = t.h
	}
	var p *C.mz_tensor
	if len(hs) > 0 {
		p = (*C.mz_tensor)(unsafe.Pointer(&hs[0]))
	}
	var out C.mz_params
	if err := check("params_new", C.mz_params_new(p, C.int64_t(len(hs)), &out)); err != nil {
		return nil, err
	}
	return &ParamList{h: out, n: len(ts)}, nil
}

// Tensor returns a new handle to tensor i (sharing its storage); the caller
// closes it.
func (p *ParamList) Tensor(i int) (*Tensor, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	return newTensor("params_get", func(out *C.mz_tensor) C.mz_err { return C.mz_params_get(h, C.int64_t(i), out) })
}

// Len is the number of tensors.
func (p *ParamList) Len() int { return p.n }

// Close releases the list's references and buffers (idempotent).
func (p *ParamList) Close() error {
	if p == nil || p.h == nil {
		return nil
	}
	h := p.h
	p.h = nil
	return check("params_free", C.mz_params_free(h))
}

func (p *ParamList) handle() (C.mz_params, error) {
	if p == nil || p.h == nil {
		return nil, ErrClosed
	}
	return p.h, nil
}

// Perturb applies θ ← θ + (scale·z)·eps to every tensor in order, with z
// drawn from one generator seeded once with seed and consumed tensor by
// tensor: on the CPU, z is bit for bit the reference's
// torch.manual_seed(seed); torch.normal(0, 1, size=p.shape) for each p, and
// the arithmetic rounds as the reference's p + scale*z*eps does.
func (p *ParamList) Perturb(seed uint64, scale, eps float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_perturb", C.mz_params_perturb(h, C.uint64_t(seed), C.double(scale), C.double(eps)))
}

// Update applies the efficient MeZO update θ ← θ − lr·(g·z + wd·θ) with the
// z stream of seed (as Perturb draws it). wd = 0 skips the decay term.
func (p *ParamList) Update(seed uint64, g, lr, wd float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_update", C.mz_params_update(h, C.uint64_t(seed), C.double(g), C.double(lr), C.double(wd)))
}

// AccumulateGrad adds g·z to every tensor's .grad (creating it on first
// write), with z drawn from seed as Perturb draws it: the reference's
// trainer-optimizer path, which hands the ZO estimate to a real optimizer.
func (p *ParamList) AccumulateGrad(seed uint64, g float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_accumulate_grad", C.mz_params_accumulate_grad(h, C.uint64_t(seed), C.double(g)))
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_: it returns the L2 norm of
// all gradients together and, when that exceeds maxNorm, scales every
// gradient by maxNorm/(norm + 1e-6).
func (p *ParamList) ClipGradNorm(maxNorm float64) (float64, error) {
	h, err := p.handle()
	if err != nil {
		return 0, err
	}
	var total C.double
	err = check("params_clip_grad_norm", C.mz_params_clip_grad_norm(h, C.double(maxNorm), &total))
	return float64(total), err
}

// ZeroGrad zeroes every .grad, or drops it when setToNone.
func (p *ParamList) ZeroGrad(setToNone bool) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	v := C.int(0)
	if setToNone {
		v = 1
	}
	return check("params_zero_grad", C.mz_params_zero_grad(h, v))
}

// Norms returns the L2 norm of every tensor (of its .grad when ofGrad; 0 for
// a tensor without one).
func (p *ParamList) Norms(ofGrad bool) ([]float64, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	out := make([]float64, p.n)
	if p.n == 0 {
		return out, nil
	}
	v := C.int(0)
	if ofGrad {
		v = 1
	}
	err = check("params_norms", C.mz_params_norms(h, v, (*C.double)(unsafe.Pointer(&out[0]))))
	return out, err
}

// Numel is the total number of elements.
func (p *ParamList) Numel() (int64, error) {
	h, err := p.handle()
	if err != nil {
		return 0, err
	}
	var n C.int64_t
	err = check("params_numel", C.mz_params_numel(h, &n))
	return int64(n), err
}

// Snapshot returns a list of deep copies of the tensors.
func (p *ParamList) Snapshot() (*ParamList, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	var out C.mz_params
	if err := check("params_snapshot", C.mz_params_snapshot(h, &out)); err != nil {
		return nil, err
	}
	return &ParamList{h: out, n: p.n}, nil
}

// CopyFrom copies the values of src's tensors into p's, pairwise.
func (p *ParamList) CopyFrom(src *ParamList) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	s, err := src.handle()
	if err != nil {
		return err
	}
	return check("params_copy_from", C.mz_params_copy_from(h, s))
}

// MaxAbsDiff returns the largest |a − b| over all pairs of tensors of p and
// q, computed in float64 (NaN if any difference is NaN).
func (p *ParamList) MaxAbsDiff(q *ParamList) (float64, error) {
	h, err := p.handle()
	if err != nil {
		return 0, err
	}
	g, err := q.handle()
	if err != nil {
		return 0, err
	}
	var v C.double
	err = check("params_max_abs_diff", C.mz_params_max_abs_diff(h, g, &v))
	return float64(v), err
}

// DrawNormal returns a new list z with z_i ~ N(0, 1) of the shape of tensor
// i, drawn in order from gen, which advances: the reference's non-efficient
// path, which draws z from torch's global generator and stores it (twice the
// memory of the parameters). The caller closes z.
func (p *ParamList) DrawNormal(gen *Generator) (*ParamList, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	if gen == nil || gen.h == nil {
		return nil, ErrClosed
	}
	var out C.mz_params
	if err := check("params_draw_normal", C.mz_params_draw_normal(h, gen.h, &out)); err != nil {
		return nil, err
	}
	return &ParamList{h: out, n: p.n}, nil
}

// PerturbStored is Perturb with a stored z (from DrawNormal).
func (p *ParamList) PerturbStored(z *ParamList, scale, eps float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	zh, err := z.handle()
	if err != nil {
		return err
	}
	return check("params_perturb_stored", C.mz_params_perturb_stored(h, zh, C.double(scale), C.double(eps)))
}

// UpdateStored is Update with a stored z (from DrawNormal).
func (p *ParamList) UpdateStored(z *ParamList, g, lr, wd float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	zh, err := z.handle()
	if err != nil {
		return err
	}
	return check("params_update_stored", C.mz_params_update_stored(h, zh, C.double(g), C.double(lr), C.double(wd)))
}

// SetZChunk makes Perturb and Update draw z n elements at a time on the CPU
// (n a positive multiple of 16), so the scratch buffer is n elements rather
// than the largest tensor; the z stream is the same for every n. 0 draws
// whole tensors. The default is 262144 (1 MiB of float32).
func (p *ParamList) SetZChunk(n int64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_set_chunk", C.mz_params_set_chunk(h, C.int64_t(n)))
}

// ReleaseScratch frees the list's scratch buffers; the next pass makes them
// again.
func (p *ParamList) ReleaseScratch() error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_release_scratch", C.mz_params_release_scratch(h))
}

// RestoreUpdate is the end of a MeZO step in one pass: the restore
// θ ← θ + eps·z and the update θ ← θ − lr·(g·z + wd·θ) with the same z(seed),
// drawn once (Perturb then Update draw it twice). It rounds differently from
// the reference's separate passes.
func (p *ParamList) RestoreUpdate(seed uint64, eps, g, lr, wd float64) error {
	h, err := p.handle()
	if err != nil {
		return err
	}
	return check("params_restore_update", C.mz_params_restore_update(h, C.uint64_t(seed), C.double(eps), C.double(g), C.double(lr), C.double(wd)))
}

// SnapshotTo returns copies of the tensors on dev (a best-model snapshot in
// host memory, so a GPU run never holds two copies of the model on the
// device). CopyFrom copies them back across devices.
func (p *ParamList) SnapshotTo(dev Device) (*ParamList, error) {
	h, err := p.handle()
	if err != nil {
		return nil, err
	}
	dt, di := dev.c()
	var out C.mz_params
	if err := check("params_snapshot_to", C.mz_params_snapshot_to(h, dt, di, &out)); err != nil {
		return nil, err
	}
	return &ParamList{h: out, n: p.n}, nil
}
