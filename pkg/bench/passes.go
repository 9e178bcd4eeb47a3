package bench

import (
	"time"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/zo"
)

// timedParams wraps a parameter list for zo.Step and adds up the wall time
// of its perturbation passes (+εz, −2εz, restore+update or restore and
// update), synchronising the device after each so the time is the pass's.
type timedParams struct {
	pl     *torch.ParamList
	dev    torch.Device
	passes int
	total  time.Duration
}

func (p *timedParams) timed(f func() error) error {
	t0 := time.Now()
	err := f()
	if err == nil {
		err = torch.Synchronize(p.dev)
	}
	p.total += time.Since(t0)
	p.passes++
	return err
}

func (p *timedParams) Perturb(seed uint64, scale, eps float64) error {
	return p.timed(func() error { return p.pl.Perturb(seed, scale, eps) })
}

func (p *timedParams) Update(seed uint64, g, lr, wd float64) error {
	return p.timed(func() error { return p.pl.Update(seed, g, lr, wd) })
}

func (p *timedParams) RestoreUpdate(seed uint64, eps, g, lr, wd float64) error {
	return p.timed(func() error { return p.pl.RestoreUpdate(seed, eps, g, lr, wd) })
}

var _ zo.RestoreUpdater = (*timedParams)(nil)
