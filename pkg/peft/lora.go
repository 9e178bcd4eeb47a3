package peft

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/hf"
	"github.com/gomezo/gomezo/pkg/nn"
)

// LoRAConfig is loralib's Linear(in, out, r, lora_alpha) as MeZO applies it
// (MEZO_SPEC §3.5): rank R, scaling Alpha/R, no LoRA dropout.
type LoRAConfig struct {
	R     int
	Alpha float64
}

// LoRALinear is y = x·Wᵀ + b + (x·Aᵀ·Bᵀ)·scale with A [r, in] and
// B [out, r], always computed unmerged: W is never modified, so A and B
// reach every forward pass whatever mode the model is in (loralib merges
// BA into W on eval(), which made the reference's MeZO (LoRA) perturb A and
// B without effect: MEZO_SPEC §12.4). The tensors belong to the ParamSet.
type LoRALinear struct {
	Base  nn.Linear
	A, B  *torch.Tensor
	Scale float64
}

// Forward applies the adapted projection to x [..., in] → [..., out], in
// loralib's order: the base Linear, then the low-rank path scaled and added.
func (l *LoRALinear) Forward(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	low := s.Linear(s.Linear(x, l.A, nil), l.B, nil)
	return s.Add(l.Base.Forward(s, x), s.MulScalar(low, l.Scale))
}

// Merged returns W + (B·A)·scale [out, in], loralib's merge, computed
// without a graph; the caller frees it.
func (l *LoRALinear) Merged() (*torch.Tensor, error) {
	s := torch.NewScope(torch.NoGrad)
	defer s.Close()
	w := s.Keep(s.Add(l.Base.W, s.MulScalar(s.MatMul(l.B, l.A), l.Scale)))
	return w, s.Err()
}

// LoRA is the set of adapted projections of a model.
type LoRA struct {
	Config LoRAConfig
	// Layers are the adapters in parameter order; Names their module
	// names (…attention.self.query).
	Layers []*LoRALinear
	Names  []string
}

// IsLoRAParam reports whether a parameter name is a LoRA matrix.
func IsLoRAParam(name string) bool {
	return strings.HasSuffix(name, ".lora_A") || strings.HasSuffix(name, ".lora_B")
}

// ApplyLoRA replaces the query and value projection of every site of h with
// a LoRALinear: A drawn as loralib's kaiming_uniform_(a=√5), i.e.
// U(−1/√in, 1/√in), from gen (CPU, float32, then converted to the weight's
// dtype and device), B zero, so the adapted model starts equal to the base
// one. A and B are registered, trainable, right after the projection's
// weight and bias as <module>.lora_A and <module>.lora_B, loralib's
// named_parameters() order. Other parameters keep their trainable flags.
func ApplyLoRA(h Host, cfg LoRAConfig, gen *torch.Generator) (*LoRA, error) {
	if cfg.R < 1 {
		return nil, fmt.Errorf("peft: LoRA rank must be at least 1, got %d", cfg.R)
	}
	if !(cfg.Alpha > 0) || math.IsInf(cfg.Alpha, 0) {
		return nil, fmt.Errorf("peft: LoRA alpha must be a finite number > 0, got %v", cfg.Alpha)
	}
	ps := h.ParamSet()
	out := &LoRA{Config: cfg}
	for _, site := range h.Sites() {
		for _, slot := range []Slot{site.Query, site.Value} {
			base, ok := (*slot.Module).(nn.Linear)
			if !ok {
				return nil, fmt.Errorf("peft: %s is a %T, not a plain Linear: LoRA applied twice?", slot.Name, *slot.Module)
			}
			l, err := newLoRALinear(base, cfg, gen)
			if err != nil {
				return nil, fmt.Errorf("peft: %s: %w", slot.Name, err)
			}
			last := slot.Name + ".weight"
			if base.B != nil {
				last = slot.Name + ".bias"
			}
			if err := ps.InsertAfter(last, slot.Name+".lora_A", l.A); err != nil {
				l.A.Close()
				l.B.Close()
				return nil, err
			}
			if err := ps.InsertAfter(slot.Name+".lora_A", slot.Name+".lora_B", l.B); err != nil {
				l.B.Close()
				return nil, err
			}
			*slot.Module = l
			out.Layers = append(out.Layers, l)
			out.Names = append(out.Names, slot.Name)
		}
	}
	if len(out.Layers) == 0 {
		return nil, errors.New("peft: the model has no attention sites for LoRA")
	}
	return out, nil
}

func newLoRALinear(base nn.Linear, cfg LoRAConfig, gen *torch.Generator) (*LoRALinear, error) {
	shape, err := base.W.Shape()
	if err != nil {
		return nil, err
	}
	dt, err := base.W.DType()
	if err != nil {
		return nil, err
	}
	dev, err := base.W.Device()
	if err != nil {
		return nil, err
	}
	outF, inF, r := shape[0], shape[1], int64(cfg.R)
	a32, err := torch.Zeros([]int64{r, inF}, torch.Float32, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer a32.Close()
	// kaiming_uniform_(a=√5): gain √(2/(1+a²)), bound gain·√(3/fan_in),
	// computed as torch.nn.init does.
	a := math.Sqrt(5)
	bound := math.Sqrt(3.0) * (math.Sqrt(2.0/(1+a*a)) / math.Sqrt(float64(inF)))
	if err := gen.FillUniform(a32, -bound, bound); err != nil {
		return nil, err
	}
	A, err := a32.To(dt, dev)
	if err != nil {
		return nil, err
	}
	B, err := torch.Zeros([]int64{outF, r}, dt, dev)
	if err != nil {
		A.Close()
		return nil, err
	}
	return &LoRALinear{Base: base, A: A, B: B, Scale: cfg.Alpha / float64(cfg.R)}, nil
}

// MergedStateDict is ps exported for a model without adapters: every LoRA
// projection's weight replaced by W + (B·A)·scale, the lora_A and lora_B
// tensors left out, everything else copied as it is. It loads into the base
// model class like any checkpoint.
func (l *LoRA) MergedStateDict(ps *nn.ParamSet) (*hf.StateDict, error) {
	merged := map[string]*LoRALinear{}
	for i, n := range l.Names {
		merged[n+".weight"] = l.Layers[i]
	}
	sd := hf.NewStateDict()
	for _, p := range ps.All() {
		if IsLoRAParam(p.Name) {
			continue
		}
		t := p.T
		if ll, ok := merged[p.Name]; ok {
			w, err := ll.Merged()
			if err != nil {
				return nil, fmt.Errorf("peft: merging %s: %w", p.Name, err)
			}
			defer w.Close()
			t = w
		}
		ht, err := nn.ToHF(t)
		if err != nil {
			return nil, fmt.Errorf("peft: %s: %w", p.Name, err)
		}
		sd.Names = append(sd.Names, p.Name)
		sd.Tensors[p.Name] = ht
	}
	return sd, nil
}
