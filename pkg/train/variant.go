package train

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/data/batch"
	"github.com/gomezo/gomezo/pkg/model/roberta"
	"github.com/gomezo/gomezo/pkg/objective"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// Variant is variance-modified SPSA (MeZO App. B.3, the reference's
// zo_variant; MEZO_SPEC §4.6): per-group scales d_c over the groups embed,
// lm_head, layer.0. … layer.N-1. (a tensor belongs to the first key its
// name contains; the pooler and classifier match none and are unscaled).
// Perturbations use z/d_c; the gradient uses d_c·z, or z with Change
// (expectation-modified SPSA). Not safe for concurrent use.
type Variant struct {
	Kind recipe.ZOVariant
	// Keys are the group keys in matching order; Group[i] is the group of
	// trainable tensor i (-1: unscaled); Numel the parameters per group.
	Keys  []string
	Group []int
	Numel []int64
	// C holds d_c per group (float32, as the reference's); nil until the
	// first computation.
	C []float32
	// Recompute recomputes C at the first batch of every epoch.
	Recompute, ZOEst, ScaleByN, Change bool
	// Reference reproduces the reference's inconsistencies (quirk
	// InconsistentVariants).
	Reference bool

	objective *objective.Objective
	model     *roberta.Model
	tensors   []*torch.Tensor // the trainable tensors (handles owned here)
}

// errNormRunningUpdate is why method.norm_running_update is refused. The
// reference reads the flag only inside zo_by_layer (trainer.py:587), where
// each group c is perturbed alone and d_c ← |g_c| is that group's own
// estimate; zo_by_layer crashes before it runs (trainer.py:557 reads
// args.pc_rnd_layer, which does not exist), so no reference behaviour exists.
// This loop perturbs the whole model at once: a sample has one projected
// gradient g, not one per group, so the only consistent form, d_c ← |g| for
// every group, scales all groups alike and turns the variant into plain SPSA
// with a step that follows |g| — not what the flag means. It would need the
// layer-by-layer estimator (2·n·groups forwards a step), which is not built.
var errNormRunningUpdate = errors.New("method.norm_running_update is not supported: the reference reads it only under zo_by_layer " +
	"(per-group estimates, d_c ← |g_c|; trainer.py:587), which crashes before it (no args.pc_rnd_layer, trainer.py:557); " +
	"with the whole-model perturbation there is one projected gradient per sample, so d_c ← |g| would scale every group alike")

// NewVariant builds the groups of the session's trainable tensors.
func NewVariant(s *Session, me recipe.Method, reference bool) (*Variant, error) {
	if me.NormRunningUpdate {
		return nil, errNormRunningUpdate
	}
	v := &Variant{Kind: me.ZOVariant, Recompute: me.RecomputeNorms, ZOEst: me.UseZOGradEst, ScaleByN: me.ScaleNormByNumParams,
		Change: me.ChangeGradEstimate, Reference: reference, objective: s.Objective, model: s.Model}
	v.Keys = VariantKeys(s.Model.Config.Layers)
	v.Numel = make([]int64, len(v.Keys))
	for i, name := range s.Names {
		g := GroupOf(v.Keys, name)
		v.Group = append(v.Group, g)
		t, err := s.Params.Tensor(i)
		if err != nil {
			return nil, err
		}
		v.tensors = append(v.tensors, t)
		if g >= 0 {
			n, err := t.Numel()
			if err != nil {
				return nil, err
			}
			v.Numel[g] += n
		}
	}
	return v, nil
}

// VariantKeys are the reference's group keys for a model of n layers.
func VariantKeys(layers int) []string {
	keys := []string{"embed", "lm_head"}
	for i := 0; i < layers; i++ {
		keys = append(keys, fmt.Sprintf("layer.%d.", i))
	}
	return keys
}

// GroupOf is the reference's retrieve_c: the first key contained in name,
// or -1.
func GroupOf(keys []string, name string) int {
	for g, k := range keys {
		if strings.Contains(name, k) {
			return g
		}
	}
	return -1
}

// scales is d_c per trainable tensor (1 for unscaled tensors and empty
// groups).
func (v *Variant) scales() []float64 {
	out := make([]float64, len(v.Group))
	for i, g := range v.Group {
		out[i] = 1
		if g >= 0 && v.Numel[g] > 0 {
			out[i] = float64(v.C[g])
		}
	}
	return out
}

// gradUsesC reports whether the gradient is formed with d_c·z: with the
// trainer optimizer unless change_grad_estimate; inline, the reference uses
// the raw z (Reference) and ours the same estimate as the trainer path.
func (v *Variant) gradUsesC(trainer bool) bool {
	if !trainer && v.Reference {
		return false
	}
	return !v.Change
}

// maybeInit computes d_c at the first step, and at every epoch start with
// Recompute (the reference's initialize_c condition); it returns the
// forward passes it counted and the values when it computed them.
func (v *Variant) maybeInit(t *ZOTrainer, b *batch.Batch, env StepEnv, k int) (int, []float32, error) {
	if v.C != nil && !(v.Recompute && env.EpochStart) {
		return 0, nil, nil
	}
	fw := 0
	var err error
	switch {
	case v.Kind == recipe.VariantParamNorm:
		err = v.fromSumSq(t.Params, false)
	case v.ZOEst:
		fw, err = v.zoEstimate(t, b, env)
	default:
		err = v.backprop(t.Params, b)
	}
	if err != nil {
		return fw, nil, err
	}
	// initialize_c ends with model.zero_grad() whatever the variant: it
	// drops the gradients a window of accumulated micro-batches carried
	// over an epoch's end (the reference's accumulation windows).
	if err := t.Params.ZeroGrad(false); err != nil {
		return fw, nil, err
	}
	for g, c := range v.C {
		if v.Numel[g] > 0 && !(c > 0) || math.IsInf(float64(c), 0) {
			return fw, nil, fmt.Errorf("train: d_c of group %q is %v at step %d; z/d_c is undefined", v.Keys[g], c, k+1)
		}
	}
	return fw, append([]float32(nil), v.C...), nil
}

// fromSumSq sets d_c = √(Σ torch.sum(x²)) over each group's tensors (x the
// gradient or the parameter), summed in float32 in tensor order from 0 as
// the reference's Python loop does, then the √N_c scaling.
func (v *Variant) fromSumSq(p *torch.ParamList, ofGrad bool) error {
	sums, ok, err := p.SumSq(ofGrad)
	if err != nil {
		return err
	}
	acc := make([]float32, len(v.Keys))
	for i, g := range v.Group {
		if g >= 0 && ok[i] {
			acc[g] += sums[i]
		}
	}
	v.C = make([]float32, len(v.Keys))
	for g, a := range acc {
		v.C[g] = float32(math.Sqrt(float64(a)))
		v.C[g] = v.scaleByN(g, v.C[g])
	}
	return nil
}

// scaleByN applies scale_norm_by_num_params: c/√N_c; the reference's
// param_norm divides by √c instead (trainer.py:341).
func (v *Variant) scaleByN(g int, c float32) float32 {
	if !v.ScaleByN || v.Numel[g] == 0 {
		return c
	}
	if v.Reference && v.Kind == recipe.VariantParamNorm {
		return c / float32(math.Sqrt(float64(c)))
	}
	return c / float32(math.Sqrt(float64(v.Numel[g])))
}

// backprop is grad_norm's d_c: one eval-mode forward and backward on the
// unperturbed parameters (added to any gradient already there, as the
// reference's loss.backward()), d_c = ‖∇_c L‖; maybeInit then zeroes the
// gradients (zero tensors, as torch 1.13's model.zero_grad()).
func (v *Variant) backprop(p *torch.ParamList, b *batch.Batch) error {
	for _, t := range v.tensors {
		if err := t.SetRequiresGrad(true); err != nil {
			return err
		}
	}
	defer func() {
		for _, t := range v.tensors {
			t.SetRequiresGrad(false)
		}
	}()
	sc := torch.NewScope(torch.Grad)
	loss, _ := v.objective.Forward(sc, b, roberta.ForwardOptions{})
	err := sc.Err()
	if err == nil {
		err = loss.Backward()
	}
	if err = errors.Join(err, sc.Close()); err != nil {
		return err
	}
	return v.fromSumSq(p, true)
}

// zoEstimate is grad_norm with use_zo_grad_est (Prop. 1): for each group,
// z_c drawn from the global generator for that group's tensors only,
// d_c = |(L(θ+εz_c) − L(θ−εz_c))/2ε|, restored; two counted forwards per
// group.
func (v *Variant) zoEstimate(t *ZOTrainer, b *batch.Batch, env StepEnv) (int, error) {
	v.C = make([]float32, len(v.Keys))
	fw := 0
	for g := range v.Keys {
		var ts []*torch.Tensor
		for i, gi := range v.Group {
			if gi == g {
				ts = append(ts, v.tensors[i])
			}
		}
		if len(ts) == 0 {
			continue
		}
		c, err := func() (float32, error) {
			pl, err := torch.NewParamList(ts)
			if err != nil {
				return 0, err
			}
			defer pl.Close()
			z, err := pl.DrawNormal(env.Global)
			if err != nil {
				return 0, err
			}
			defer z.Close()
			if err := pl.PerturbStored(z, 1, t.Eps); err != nil {
				return 0, err
			}
			lp, err := t.Loss(b)
			if err != nil {
				return 0, err
			}
			if err := pl.PerturbStored(z, -2, t.Eps); err != nil {
				return 0, err
			}
			lm, err := t.Loss(b)
			if err != nil {
				return 0, err
			}
			if err := pl.PerturbStored(z, 1, t.Eps); err != nil {
				return 0, err
			}
			return float32(math.Abs(float64((lp - lm) / float32(2*t.Eps)))), nil
		}()
		fw += 2
		if err != nil {
			return fw, err
		}
		v.C[g] = v.scaleByN(g, c)
	}
	return fw, nil
}

// Close frees the variant's tensor handles.
func (v *Variant) Close() error {
	var errs []error
	for _, t := range v.tensors {
		errs = append(errs, t.Close())
	}
	v.tensors = nil
	return errors.Join(errs...)
}
