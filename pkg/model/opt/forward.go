package opt

import (
	"math"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/pkg/nn"
)

// Inputs is one batch: int64 tensors on the model's device. Padding may be
// on either side; positions are counted from the mask.
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
	// DropoutGen, when set, supplies the masks instead, in forward order,
	// from one stateful generator.
	DropoutGen *torch.Generator
	// Hidden keeps Hugging Face's hidden_states (the embedding output, the
	// output of every layer but the last, then the final output) and every
	// layer's raw output; Attentions keeps every layer's attention
	// probabilities [B, heads, L, L].
	Hidden, Attentions bool
	// keyValues keeps every layer's key and value projections.
	keyValues bool
}

// Decoded is the decoder's output; its tensors belong to the scope of the
// forward pass.
type Decoded struct {
	// Last is the decoder's output [B, L, EmbedDim]: after the final
	// LayerNorm (when the model has one) and project_out (when projected),
	// what the LM head reads.
	Last *torch.Tensor
	// Hidden is HF's hidden_states: [layers+1], Hidden[i] the input of layer
	// i [B, L, Hidden], Hidden[layers] = Last (when asked for).
	Hidden []*torch.Tensor
	// LayerOutputs is each layer's raw output [B, L, Hidden] (when Hidden
	// is asked for).
	LayerOutputs []*torch.Tensor
	// Attentions is [layers] of [B, heads, L, L] (when asked for).
	Attentions []*torch.Tensor
	// keys and values are each layer's projections [B, L, Hidden] (keyValues).
	keys, values []*torch.Tensor
}

// PositionIDs computes the rows OPTLearnedPositionalEmbedding looks up:
// cumsum(mask)·mask − 1 + 2, so each row's tokens count from 2 however much
// padding precedes them, and padding gets row 1. mask int64 [B, L].
func (m *Model) PositionIDs(s *torch.Scope, mask *torch.Tensor) *torch.Tensor {
	return s.AddScalar(s.Mul(s.Cumsum(mask, 1), mask), PositionOffset-1)
}

// MaskBias is the additive attention bias [B, 1, L, L] for the padding
// mask [B, L]: 0 where query i may see key j (j ≤ i and j is a token),
// finfo(dtype).min elsewhere. A query that sees no key (a left-pad
// position) gets min on every key, so it attends uniformly to all L keys,
// as Hugging Face's float32 forward does after its clamp; such rows never
// reach a token's output. The product of the causal and padding masks is
// formed in dtype (never a [B, L, L] int64), and the causal mask [1, L, L]
// is made once per length and dtype and kept by the model.
func (m *Model) MaskBias(s *torch.Scope, mask *torch.Tensor, dtype torch.DType) *torch.Tensor {
	shape, err := mask.Shape()
	if err != nil {
		s.Fail(err)
		return nil
	}
	B, L := shape[0], shape[1]
	dev := deviceOf(s, mask)
	causal, err := m.causalMask(L, dtype, dev)
	if err != nil {
		s.Fail(err)
		return nil
	}
	return s.Block(func(b *torch.Scope) *torch.Tensor {
		allowed := b.Mul(causal, b.Reshape(b.To(mask, dtype, dev), B, 1, L)) // [B, L, L]
		bias := b.AttentionMaskBias(b.Reshape(allowed, B*L, L), dtype)
		return b.Reshape(bias, B, 1, L, L)
	})
}

// causalKey identifies a cached causal mask.
type causalKey struct {
	L     int64
	dtype torch.DType
	dev   torch.Device
}

// causalMask returns the lower-triangular ones [1, L, L] in dtype on dev,
// owned by the model (freed by Close).
func (m *Model) causalMask(L int64, dtype torch.DType, dev torch.Device) (*torch.Tensor, error) {
	k := causalKey{L, dtype, dev}
	if t, ok := m.causal[k]; ok {
		return t, nil
	}
	tri := make([]float32, L*L)
	for i := int64(0); i < L; i++ {
		for j := int64(0); j <= i; j++ {
			tri[i*L+j] = 1
		}
	}
	host, err := torch.FromFloat32s(tri, []int64{1, L, L}, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	t, err := host.To(dtype, dev)
	if err != nil {
		return nil, err
	}
	if m.causal == nil {
		m.causal = map[causalKey]*torch.Tensor{}
	}
	m.causal[k] = t
	return t, nil
}

func deviceOf(s *torch.Scope, t *torch.Tensor) torch.Device {
	if t == nil {
		return torch.CPU
	}
	d, err := t.Device()
	s.Fail(err)
	return d
}

// Decode runs the decoder (embeddings, layers, final LayerNorm,
// project_out) on in, in scope s (whose mode decides whether a graph is
// recorded). Each layer runs in a block that frees its intermediates as it
// returns, and a layer's input is freed once the next exists (unless Hidden
// keeps it), so the pass holds about one layer's activations at a time.
func (m *Model) Decode(s *torch.Scope, in Inputs, fo ForwardOptions) *Decoded {
	if in.InputIDs == nil || in.AttentionMask == nil {
		s.Failf("opt: inputs need input_ids and attention_mask")
		return &Decoded{}
	}
	shape, err := in.InputIDs.Shape()
	if err != nil {
		s.Fail(err)
		return &Decoded{}
	}
	if len(shape) != 2 {
		s.Failf("opt: input_ids must be [B, L], got %v", shape)
		return &Decoded{}
	}
	B, L := shape[0], shape[1]
	if L > int64(m.Config.MaxPositions) {
		s.Failf("opt: sequence length %d exceeds the %d positions this model has", L, m.Config.MaxPositions)
		return &Decoded{}
	}
	H, nh := int64(m.Config.Hidden), int64(m.Config.Heads)
	drop := &nn.Dropout{P: m.Config.Dropout, Train: fo.Train, Seed: fo.DropoutSeed, Gen: fo.DropoutGen}
	attnDrop := &nn.Dropout{P: m.Config.AttentionDropout, Train: fo.Train, Seed: ^fo.DropoutSeed, Gen: fo.DropoutGen}
	dt, err := m.tokEmb.DType()
	s.Fail(err)

	x := s.Block(func(b *torch.Scope) *torch.Tensor {
		// embed_tokens has padding_idx = pad (no gradient for that row);
		// embed_positions has none.
		e := b.Embedding(m.tokEmb, in.InputIDs, int64(m.Config.PadID))
		if m.projIn != nil {
			e = m.projIn.Forward(b, e)
		}
		e = b.Add(e, b.Embedding(m.posEmb, m.PositionIDs(b, in.AttentionMask), -1))
		return drop.Apply(b, e)
	})
	dec := &Decoded{}
	if fo.Hidden {
		dec.Hidden = append(dec.Hidden, x)
	}
	bias := m.MaskBias(s, in.AttentionMask, dt)
	sh := layerShape{B: B, L: L, H: H, heads: nh, headDim: H / nh}
	for i := range m.layers {
		ly := &m.layers[i]
		var probs *torch.Tensor
		var kv []*torch.Tensor
		if fo.keyValues {
			kv = make([]*torch.Tensor, 2)
		}
		next := s.Block(func(b *torch.Scope) *torch.Tensor {
			h := b.Block(func(c *torch.Scope) *torch.Tensor {
				a := x
				if m.Config.PreLN {
					a = ly.attnLN.Forward(c, a)
				}
				o, p := m.attention(c, ly, a, bias, sh, attnDrop, kv)
				if fo.Attentions {
					probs = c.Escape(p)
				}
				for _, t := range kv {
					c.Escape(t)
				}
				r := c.Add(x, drop.Apply(c, o))
				if !m.Config.PreLN {
					r = ly.attnLN.Forward(c, r)
				}
				return r
			})
			b.Escape(probs)
			for _, t := range kv {
				b.Escape(t)
			}
			return b.Block(func(c *torch.Scope) *torch.Tensor {
				f := h
				if m.Config.PreLN {
					f = ly.ffnLN.Forward(c, f)
				}
				f = ly.fc2.Forward(c, m.activation(c, ly.fc1.Forward(c, f)))
				r := c.Add(h, drop.Apply(c, f))
				if !m.Config.PreLN {
					r = ly.ffnLN.Forward(c, r)
				}
				return r
			})
		})
		if fo.Attentions {
			dec.Attentions = append(dec.Attentions, probs)
		}
		if kv != nil {
			dec.keys, dec.values = append(dec.keys, kv[0]), append(dec.values, kv[1])
		}
		if fo.Hidden {
			dec.LayerOutputs = append(dec.LayerOutputs, next)
			if i < len(m.layers)-1 {
				dec.Hidden = append(dec.Hidden, next)
			}
		} else {
			s.Free(x)
		}
		x = next
	}
	s.Free(bias)
	last := x
	if m.finalLN != nil || m.projOut != nil {
		last = s.Block(func(b *torch.Scope) *torch.Tensor {
			y := x
			if m.finalLN != nil {
				y = m.finalLN.Forward(b, y)
			}
			if m.projOut != nil {
				y = m.projOut.Forward(b, y)
			}
			return y
		})
		if !fo.Hidden {
			s.Free(x)
		}
	}
	dec.Last = last
	if fo.Hidden {
		dec.Hidden = append(dec.Hidden, last)
	}
	return dec
}

func (m *Model) activation(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	if m.Config.Activation == "gelu" {
		return s.GELU(x)
	}
	return s.ReLU(x)
}

// layerShape is the geometry of one layer's activations.
type layerShape struct{ B, L, H, heads, headDim int64 }

// attention is OPTAttention on x [B, L, H] (already layer-normed when
// pre-LN) with the additive bias [B, 1, L, L]: it returns out_proj(ctx)
// [B, L, H] and the attention probabilities [B, heads, L, L] (m more
// columns, first, with an m-vector prefix). The query is scaled by
// head_dim^-0.5 after its projection (bias included), as HF does; float16
// scores go through a float32 softmax, as HF's do. The score chain frees
// each step as the next exists.
//
// With kv non-nil it stores there the key and value projections [B, L, H]
// (before any prefix), which belong to s.
func (m *Model) attention(s *torch.Scope, ly *layer, x, bias *torch.Tensor, sh layerShape, attnDrop *nn.Dropout, kv []*torch.Tensor) (out, probs *torch.Tensor) {
	heads := func(t *torch.Tensor) *torch.Tensor { // [B, L, H] → [B, nh, L, hd]
		return s.Permute(s.Reshape(t, sh.B, sh.L, sh.heads, sh.headDim), 0, 2, 1, 3)
	}
	qp := ly.query.Forward(s, x)
	q := heads(s.MulScalar(qp, math.Pow(float64(sh.headDim), -0.5)))
	s.Free(qp)
	kp, vp := ly.key.Forward(s, x), ly.value.Forward(s, x)
	if kv != nil {
		kv[0], kv[1] = kp, vp
	}
	k, v := heads(kp), heads(vp)
	if ly.prefix != nil {
		k, v, bias = ly.prefix.Extend(s, k, v, bias)
	}
	scores := s.MatMul(q, s.Transpose(k, -1, -2))
	masked := s.Add(scores, bias)
	s.Free(scores)
	dt, err := masked.DType()
	s.Fail(err)
	if dt == torch.Float16 {
		up := s.To(masked, torch.Float32, deviceOf(s, masked))
		s.Free(masked)
		p32 := s.Softmax(up, -1)
		s.Free(up)
		probs = s.To(p32, torch.Float16, deviceOf(s, p32))
		s.Free(p32)
	} else {
		probs = s.Softmax(masked, -1)
		s.Free(masked)
	}
	ctx := s.MatMul(attnDrop.Apply(s, probs), v)
	ctx = s.Reshape(s.Contiguous(s.Permute(ctx, 0, 2, 1, 3)), sh.B, sh.L, sh.H)
	return ly.out.Forward(s, ctx), probs
}

// LMHead is the tied (or untied) output embedding without bias:
// h [..., EmbedDim] → logits [..., V].
func (m *Model) LMHead(s *torch.Scope, h *torch.Tensor) *torch.Tensor {
	return s.Linear(h, m.lmW, nil)
}

// Logits runs the decoder and the LM head: [B, L, V].
func (m *Model) Logits(s *torch.Scope, in Inputs, fo ForwardOptions) *torch.Tensor {
	dec := m.Decode(s, in, fo)
	if dec.Last == nil {
		return nil
	}
	return m.LMHead(s, dec.Last)
}

// LMLoss is OPTForCausalLM's loss: logits[:, :-1] against labels[:, 1:]
// (int64 [B, L], −100 ignored), mean cross-entropy over the targets kept.
// logits [B, L, V] → 0-dim.
func (m *Model) LMLoss(s *torch.Scope, logits, labels *torch.Tensor) *torch.Tensor {
	shape, err := logits.Shape()
	if err != nil {
		s.Fail(err)
		return nil
	}
	B, L, V := shape[0], shape[1], shape[2]
	return s.Block(func(b *torch.Scope) *torch.Tensor {
		lg := b.Reshape(b.Contiguous(b.Narrow(logits, 1, 0, L-1)), B*(L-1), V)
		lb := b.Reshape(b.Contiguous(b.Narrow(labels, 1, 1, L-1)), B*(L-1))
		return b.CrossEntropy(lg, lb)
	})
}
