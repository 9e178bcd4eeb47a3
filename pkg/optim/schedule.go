package optim

import "fmt"

// Schedule gives the learning rate of the optimizer step that follows k
// completed steps (k = 0 for the first), as Hugging Face's LambdaLR
// schedules do: base·λ(k), in float64.
type Schedule interface {
	LR(k int) float64
}

// Constant is the constant schedule.
type Constant struct{ Base float64 }

// LR returns Base.
func (c Constant) LR(int) float64 { return c.Base }

// Linear is get_linear_schedule_with_warmup: λ(k) = k/max(1, W) for k < W,
// then max(0, (T−k)/max(1, T−W)).
type Linear struct {
	Base          float64
	Warmup, Total int
}

// LR returns the learning rate of step k+1.
func (l Linear) LR(k int) float64 {
	if k < l.Warmup {
		return l.Base * (float64(k) / float64(max(1, l.Warmup)))
	}
	return l.Base * max(0.0, float64(l.Total-k)/float64(max(1, l.Total-l.Warmup)))
}

// ConstantWithWarmup is get_constant_schedule_with_warmup: λ(k) = k/max(1, W)
// for k < W, then 1.
type ConstantWithWarmup struct {
	Base   float64
	Warmup int
}

// LR returns the learning rate of step k+1.
func (c ConstantWithWarmup) LR(k int) float64 {
	if k < c.Warmup {
		return c.Base * (float64(k) / float64(max(1, c.Warmup)))
	}
	return c.Base
}

// NewSchedule builds a schedule by the reference's lr_scheduler_type name.
// warmup is warmup_steps, or ceil(warmup_ratio·total) when that is 0 and a
// ratio is given (the caller computes it); total is max_steps.
func NewSchedule(kind string, base float64, warmup, total int) (Schedule, error) {
	if warmup < 0 || total < 0 {
		return nil, fmt.Errorf("optim: negative warmup (%d) or total steps (%d)", warmup, total)
	}
	switch kind {
	case "constant":
		return Constant{Base: base}, nil
	case "linear":
		return Linear{Base: base, Warmup: warmup, Total: total}, nil
	case "constant_with_warmup":
		return ConstantWithWarmup{Base: base, Warmup: warmup}, nil
	}
	return nil, fmt.Errorf("optim: unknown lr_scheduler_type %q (want constant, linear or constant_with_warmup)", kind)
}
