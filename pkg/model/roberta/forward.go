package roberta

import (
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/nn"
)

// Inputs is one batch: int64 tensors on the model's device.
type Inputs struct {
	InputIDs      *torch.Tensor // [B, L]
	AttentionMask *torch.Tensor // [B, L], 1 for tokens, 0 for padding
}

// ForwardOptions control one forward pass.
type ForwardOptions struct {
	// Train turns dropout on (fine-tuning). MeZO's forward passes run with
	// dropout off, as the reference's model.eval() does.
	Train bool
	// DropoutSeed seeds this pass's dropout masks (Train only).
	DropoutSeed uint64
	// DropoutGen, when set, supplies the masks instead, drawn in the
	// reference's forward order (embeddings; per layer attention
	// probabilities, attention output, FFN output; the classification
	// head's two) from one stateful generator, as torch's global one.
	DropoutGen *torch.Generator
	// Hidden keeps the embedding output and every layer's output;
	// Attentions keeps every layer's attention probabilities [B, heads, L, L].
	Hidden, Attentions bool
	// keyValues keeps every layer's key and value projections (KeyValues).
	keyValues bool
}

// Encoded is the backbone's output; its tensors belong to the scope of the
// forward pass.
type Encoded struct {
	Last       *torch.Tensor   // [B, L, H]
	Hidden     []*torch.Tensor // [layers+1] of [B, L, H] when asked for
	Attentions []*torch.Tensor // [layers] of [B, heads, L, L] when asked for
	// keys and values are each layer's projections [B, L, H] (keyValues).
	keys, values []*torch.Tensor
}

// PositionIDs computes Hugging Face's create_position_ids_from_input_ids:
// cumsum(ids ≠ pad)·(ids ≠ pad) + pad, so tokens count up from pad+1 and
// padding gets pad.
func (m *Model) PositionIDs(s *torch.Scope, ids *torch.Tensor) *torch.Tensor {
	notPad := s.To(s.NeScalar(ids, float64(m.Config.PadID)), torch.Int64, deviceOf(s, ids))
	return s.AddScalar(s.Mul(s.Cumsum(notPad, 1), notPad), float64(m.Config.PadID))
}

func deviceOf(s *torch.Scope, t *torch.Tensor) torch.Device {
	if t == nil {
		return torch.CPU
	}
	d, err := t.Device()
	s.Fail(err)
	return d
}

// Encode runs the backbone (embeddings and encoder layers) on in, in scope s
// (whose mode decides whether a graph is recorded).
func (m *Model) Encode(s *torch.Scope, in Inputs, fo ForwardOptions) *Encoded {
	if in.InputIDs == nil || in.AttentionMask == nil {
		s.Failf("roberta: inputs need input_ids and attention_mask")
		return &Encoded{}
	}
	shape, err := in.InputIDs.Shape()
	if err != nil {
		s.Fail(err)
		return &Encoded{}
	}
	if len(shape) != 2 {
		s.Failf("roberta: input_ids must be [B, L], got %v", shape)
		return &Encoded{}
	}
	B, L := shape[0], shape[1]
	if L > int64(m.Config.MaxPositions-m.Config.PadID-1) {
		s.Failf("roberta: sequence length %d exceeds the %d positions this model has", L, m.Config.MaxPositions-m.Config.PadID-1)
		return &Encoded{}
	}
	H, nh := int64(m.Config.Hidden), int64(m.Config.Heads)
	hd := H / nh
	drop := &nn.Dropout{P: m.Config.HiddenDropout, Train: fo.Train, Seed: fo.DropoutSeed, Gen: fo.DropoutGen}
	attnDrop := &nn.Dropout{P: m.Config.AttentionDropout, Train: fo.Train, Seed: ^fo.DropoutSeed, Gen: fo.DropoutGen}
	dt, err := m.wordEmb.DType()
	s.Fail(err)

	// Embeddings: (word + token_type) + position, LayerNorm, dropout, in HF's
	// order of additions. Each block below frees its intermediates as it
	// returns (torch.Scope.Block), so the pass holds about one block's
	// activations at a time.
	x := s.Block(func(b *torch.Scope) *torch.Tensor {
		pos := m.PositionIDs(b, in.InputIDs)
		types := b.Sub(in.InputIDs, in.InputIDs) // zeros, int64: token_type_ids default
		// HF's word and position embeddings have padding_idx = pad: that row
		// gets no gradient (it matters for fine-tuning, not for forward values).
		pad := int64(m.Config.PadID)
		e := b.Add(b.Embedding(m.wordEmb, in.InputIDs, pad), b.Embedding(m.typeEmb, types, -1))
		e = b.Add(e, b.Embedding(m.posEmb, pos, pad))
		return drop.Apply(b, m.embLN.Forward(b, e))
	})
	enc := &Encoded{}
	if fo.Hidden {
		enc.Hidden = append(enc.Hidden, x)
	}
	bias := s.AttentionMaskBias(in.AttentionMask, dt)
	sh := layerShape{B: B, L: L, H: H, heads: nh, headDim: hd}
	for i := range m.layers {
		ly := &m.layers[i]
		var probs *torch.Tensor // kept only when asked for
		var kv []*torch.Tensor  // key and value projections, kept only when asked for
		if fo.keyValues {
			kv = make([]*torch.Tensor, 2)
		}
		next := s.Block(func(b *torch.Scope) *torch.Tensor {
			a := b.Block(func(c *torch.Scope) *torch.Tensor {
				out, p := m.attention(c, ly, x, bias, sh, drop, attnDrop, kv)
				if fo.Attentions {
					probs = c.Escape(p)
				}
				for _, t := range kv {
					c.Escape(t)
				}
				return out
			})
			b.Escape(probs)
			for _, t := range kv {
				b.Escape(t)
			}
			return b.Block(func(c *torch.Scope) *torch.Tensor {
				f := ly.out.Forward(c, c.GELU(ly.inter.Forward(c, a)))
				return ly.outLN.Forward(c, c.Add(drop.Apply(c, f), a))
			})
		})
		if fo.Attentions {
			enc.Attentions = append(enc.Attentions, probs)
		}
		if kv != nil {
			enc.keys, enc.values = append(enc.keys, kv[0]), append(enc.values, kv[1])
		}
		if fo.Hidden {
			enc.Hidden = append(enc.Hidden, next)
		} else {
			s.Free(x)
		}
		x = next
	}
	enc.Last = x
	return enc
}

// layerShape is the geometry of one encoder layer's activations.
type layerShape struct{ B, L, H, heads, headDim int64 }

// attention is one layer's self-attention sublayer on x [B, L, H] with the
// additive mask bias [B, 1, 1, L]: it returns LayerNorm(dropout(W_o·ctx) + x)
// [B, L, H] and the attention probabilities [B, heads, L, L] (L+m columns
// with an m-vector prefix, the prefix first). The score
// chain frees each step as the next exists, as PyTorch eager's reassignments
// do.
//
// With kv non-nil it stores there the key and value projections [B, L, H]
// (before any prefix), which belong to s.
func (m *Model) attention(s *torch.Scope, ly *layer, x, bias *torch.Tensor, sh layerShape, drop, attnDrop *nn.Dropout, kv []*torch.Tensor) (out, probs *torch.Tensor) {
	heads := func(t *torch.Tensor) *torch.Tensor { // [B, L, H] → [B, nh, L, hd]
		return s.Permute(s.Reshape(t, sh.B, sh.L, sh.heads, sh.headDim), 0, 2, 1, 3)
	}
	q := heads(ly.query.Forward(s, x))
	kp, vp := ly.key.Forward(s, x), ly.value.Forward(s, x)
	if kv != nil {
		kv[0], kv[1] = kp, vp
	}
	k, v := heads(kp), heads(vp)
	if ly.prefix != nil {
		k, v, bias = ly.prefix.Extend(s, k, v, bias)
	}
	scores := s.MatMul(q, s.Transpose(k, -1, -2))
	scaled := s.DivScalar(scores, math.Sqrt(float64(sh.headDim)))
	s.Free(scores)
	masked := s.Add(scaled, bias)
	s.Free(scaled)
	probs = s.Softmax(masked, -1)
	s.Free(masked)
	ctx := s.MatMul(attnDrop.Apply(s, probs), v)
	ctx = s.Reshape(s.Contiguous(s.Permute(ctx, 0, 2, 1, 3)), sh.B, sh.L, sh.H)
	return ly.attnLN.Forward(s, s.Add(drop.Apply(s, ly.attnOut.Forward(s, ctx)), x)), probs
}

// LMHead applies dense → exact GELU → LayerNorm → decoder (+ lm_head.bias)
// to h [..., H] → [..., V].
func (m *Model) LMHead(s *torch.Scope, h *torch.Tensor) *torch.Tensor {
	x := m.LMFeatures(s, h)
	if x == nil {
		return nil
	}
	return s.Linear(x, m.decoderW, m.lmBias)
}

// LMFeatures is the LM head up to its decoder, LayerNorm(GELU(dense(h))),
// h [..., H] → [..., H]: the input of the token-prediction layer, what
// linear probing fits in prompt mode.
func (m *Model) LMFeatures(s *torch.Scope, h *torch.Tensor) *torch.Tensor {
	if !m.hasLMHead {
		s.Failf("roberta: this %s model has no LM head", m.Opts.Head)
		return nil
	}
	return m.lmLN.Forward(s, s.GELU(m.lmDense.Forward(s, h)))
}

// PromptFeatures is LMFeatures at each row's mask position: last
// [B, L, H], maskPos int64 [B] → [B, H], the decoder's input that
// PromptLogits scores.
func (m *Model) PromptFeatures(s *torch.Scope, last, maskPos *torch.Tensor) *torch.Tensor {
	return m.LMFeatures(s, s.GatherRows(last, maskPos))
}

// PromptLogits is MeZO's prompt head: the LM head at each row's mask
// position, restricted to the label words. last [B, L, H], maskPos int64 [B],
// labelWords int64 [C] → [B, C].
func (m *Model) PromptLogits(s *torch.Scope, last, maskPos, labelWords *torch.Tensor) *torch.Tensor {
	return s.IndexSelect(m.LMHead(s, s.GatherRows(last, maskPos)), 1, labelWords)
}

// ClassifierFeatures is the bare classifier's input, <s>'s last hidden
// state: last [B, L, H] → [B, H] (Prompt only; linear probing in finetune
// mode fits on it).
func (m *Model) ClassifierFeatures(s *torch.Scope, last *torch.Tensor) *torch.Tensor {
	if m.cls == nil {
		s.Failf("roberta: this %s model has no bare linear classifier", m.Opts.Head)
		return nil
	}
	return s.Select(last, 1, 0)
}

// ClassifierLogits is the sequence-classification head on <s>: for SeqCls
// dropout → dense → tanh → dropout → out_proj; for Prompt the bare
// classifier Linear (linear probing). last [B, L, H] → [B, C].
func (m *Model) ClassifierLogits(s *torch.Scope, last *torch.Tensor, fo ForwardOptions) *torch.Tensor {
	cls := s.Select(last, 1, 0)
	switch {
	case m.clsDense != nil:
		drop := &nn.Dropout{P: m.Config.ClassifierDropout, Train: fo.Train, Seed: fo.DropoutSeed ^ 0x5eed, Gen: fo.DropoutGen}
		x := s.Tanh(m.clsDense.Forward(s, drop.Apply(s, cls)))
		return m.clsOut.Forward(s, drop.Apply(s, x))
	case m.cls != nil:
		return m.cls.Forward(s, cls)
	}
	s.Failf("roberta: this %s model has no classifier", m.Opts.Head)
	return nil
}
