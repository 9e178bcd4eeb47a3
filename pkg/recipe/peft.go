package recipe

// PEFT is the parameter-efficient variant of a run (MEZO_SPEC §3.3–3.5):
// LoRA on every layer's query and value projections, or prefix tuning.
// Both train with MeZO or fine-tuning.
type PEFT struct {
	// Kind is none, lora or prefix.
	Kind PEFTKind `yaml:"kind"`
	// LoRAR and LoRAAlpha are LoRA's rank r and α (scaling α/r), the
	// reference's --lora_r and --lora_alpha.
	LoRAR     int     `yaml:"lora_r"`
	LoRAAlpha float64 `yaml:"lora_alpha"`
	// LoRAOnly trains only the LoRA matrices. Off, the trainable set is the
	// reference's: the LoRA matrices plus the whole LM head and the
	// classifier (run.py freezes only the backbone's non-LoRA tensors).
	LoRAOnly bool `yaml:"lora_only"`
	// NumPrefix is the number of prefix vectors per layer (--num_prefix).
	NumPrefix int `yaml:"num_prefix"`
	// PrefixInitByRealAct initialises the prefixes with the key and value
	// projections of NumPrefix random tokens (--prefix_init_by_real_act);
	// off, they are N(0, 1).
	PrefixInitByRealAct bool `yaml:"prefix_init_by_real_act"`
	// PrefixReparam computes the prefixes through MeZO's MLP
	// reparameterisation (the reference's default; its scripts pass
	// --no_reparam). It excludes prefix_init_by_real_act.
	PrefixReparam bool `yaml:"prefix_reparam"`
}

// PEFTKind is a parameter-efficient variant.
type PEFTKind string

// The variants.
const (
	PEFTNone   PEFTKind = "none"
	PEFTLoRA   PEFTKind = "lora"
	PEFTPrefix PEFTKind = "prefix"
)

// LP is linear probing (the reference's --trainer linearhead, MEZO_SPEC
// §6): logistic regression on the frozen model's features, written into the
// head; then the final evaluations.
const LP Kind = "lp"

// validatePEFT checks the peft section and the linear-probing fields.
func (r *Recipe) validatePEFT(p *problems) {
	pe, me := &r.PEFT, &r.Method
	oneOf(p, "peft.kind", pe.Kind, PEFTNone, PEFTLoRA, PEFTPrefix)
	switch pe.Kind {
	case PEFTLoRA:
		p.atLeast("peft.lora_r", pe.LoRAR, 1)
		if !finite(pe.LoRAAlpha) || pe.LoRAAlpha <= 0 {
			p.add("peft.lora_alpha", "expected a finite number > 0, got %v", pe.LoRAAlpha)
		}
	case PEFTPrefix:
		p.atLeast("peft.num_prefix", pe.NumPrefix, 1)
		if pe.PrefixReparam && pe.PrefixInitByRealAct {
			p.add("peft.prefix_init_by_real_act", "the reparameterised prefix (peft.prefix_reparam) cannot start from real activations, as in the reference")
		}
	}
	if pe.Kind != PEFTNone && pe.Kind != "" && me.Kind != MeZO && me.Kind != FT {
		p.add("peft.kind", "%s trains with method.kind mezo or ft, not %s", pe.Kind, me.Kind)
	}
	if pe.LoRAOnly && pe.Kind != PEFTLoRA {
		p.add("peft.lora_only", "needs peft.kind lora, got %s", pe.Kind)
	}
	if me.FromLinearHead && me.Kind != MeZO && me.Kind != FT {
		p.add("method.from_linearhead", "runs linear probing before mezo or ft training, not before %s", me.Kind)
	}
	if me.LPEarlyStopping && me.Kind != LP && !me.FromLinearHead {
		p.add("method.lp_early_stopping", "needs linear probing (method.kind lp or method.from_linearhead)")
	}
}
