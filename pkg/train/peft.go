package train

import (
	"fmt"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/peft"
	"github.com/gomezo/gomezo/pkg/recipe"
)

// applyAdapters attaches the recipe's LoRA or prefix adapters to the loaded
// model, loads their tensors from model.init_state when it has them (a run's
// best.safetensors holds them), and sets the trainable set as the reference
// does (MEZO_SPEC §3.3): LoRA freezes the backbone's non-LoRA tensors and
// keeps the LM head and the classifier trainable, or with peft.lora_only
// trains the LoRA matrices alone; prefix tuning trains the prefixes alone.
// For OPT (host an *opt.Model) both train the adapters alone, as
// large_models does. Random draws come from a generator seeded with the run
// seed.
func (s *Session) applyAdapters(host peft.Host, vocab int) error {
	decoder := s.Recipe.Model.Family == recipe.FamilyOPT
	pe := s.Recipe.PEFT
	if pe.Kind == recipe.PEFTNone || pe.Kind == "" {
		if s.adapterState != nil && len(s.adapterState.Names) > 0 {
			return fmt.Errorf("model.init_state: %s holds adapter tensors (%s, ...) but peft.kind is none", s.Recipe.Model.InitState, s.adapterState.Names[0])
		}
		return nil
	}
	gen, err := torch.NewGenerator(torch.CPU, uint64(s.Recipe.Optim.Seed))
	if err != nil {
		return err
	}
	defer gen.Close()
	ps := host.ParamSet()
	switch pe.Kind {
	case recipe.PEFTLoRA:
		if s.LoRA, err = peft.ApplyLoRA(host, peft.LoRAConfig{R: pe.LoRAR, Alpha: pe.LoRAAlpha}, gen); err != nil {
			return fmt.Errorf("peft: %w", err)
		}
		if pe.LoRAOnly || decoder {
			_, err = ps.TrainOnly(`\.lora_[AB]$`)
		} else if _, err = ps.Freeze(`^roberta\.`); err == nil {
			_, err = ps.Unfreeze(`\.lora_[AB]$`)
		}
	case recipe.PEFTPrefix:
		cfg := peft.PrefixConfig{Num: pe.NumPrefix, InitByRealAct: pe.PrefixInitByRealAct, Reparam: pe.PrefixReparam,
			Vocab: vocab}
		if s.Prefix, err = peft.ApplyPrefix(host, cfg, gen); err != nil {
			return fmt.Errorf("peft: %w", err)
		}
		_, err = ps.TrainOnly(`\.prefix_`)
	default:
		return fmt.Errorf("peft.kind: %q is not supported", pe.Kind)
	}
	if err != nil {
		return err
	}
	if s.adapterState != nil {
		return peft.LoadState(ps, s.adapterState, "model.init_state: "+s.Recipe.Model.InitState)
	}
	return nil
}
