package opt

import (
	"math"
	"testing"

	"github.com/gomezo/gomezo/cgo/torch"
	"github.com/gomezo/gomezo/internal/paritytest"
	"github.com/gomezo/gomezo/pkg/hf"
)

// refModel is an independent, naive float64 OPT forward over host slices
// (loops, no libtorch), written from the HF 4.28 modeling_opt.py semantics,
// to check the variants opt-tiny does not cover: post-LayerNorm,
// project_in/out, no biases, no LayerNorm affine, an untied head, gelu.
type refModel struct {
	cfg Config
	p   map[string][]float64
}

func (r *refModel) has(n string) bool { _, ok := r.p[n]; return ok }

// linear applies W [o, i] (and b when present) to x [i].
func (r *refModel) linear(name string, x []float64, o int) []float64 {
	w := r.p[name+".weight"]
	in := len(x)
	y := make([]float64, o)
	for a := 0; a < o; a++ {
		s := 0.0
		for c := 0; c < in; c++ {
			s += w[a*in+c] * x[c]
		}
		if b, ok := r.p[name+".bias"]; ok {
			s += b[a]
		}
		y[a] = s
	}
	return y
}

func (r *refModel) layerNorm(name string, x []float64) []float64 {
	n := float64(len(x))
	mean, v := 0.0, 0.0
	for _, a := range x {
		mean += a
	}
	mean /= n
	for _, a := range x {
		v += (a - mean) * (a - mean)
	}
	v /= n
	y := make([]float64, len(x))
	for i, a := range x {
		y[i] = (a - mean) / math.Sqrt(v+LayerNormEps)
		if w, ok := r.p[name+".weight"]; ok {
			y[i] = y[i]*w[i] + r.p[name+".bias"][i]
		}
	}
	return y
}

func add(a, b []float64) []float64 {
	y := make([]float64, len(a))
	for i := range a {
		y[i] = a[i] + b[i]
	}
	return y
}

// logits returns [L][V] for one row (ids, mask) at the token positions
// (pad rows are returned as nil).
func (r *refModel) logits(ids, mask []int64) [][]float64 {
	c := r.cfg
	L, H, E := len(ids), c.Hidden, c.EmbedDim
	hd := H / c.Heads
	x := make([][]float64, L)
	pos := int64(0)
	for t := 0; t < L; t++ {
		pos += mask[t]
		row := pos*mask[t] + 1
		e := append([]float64(nil), r.p[decoderPrefix+"embed_tokens.weight"][ids[t]*int64(E):(ids[t]+1)*int64(E)]...)
		if c.Projected() {
			e = r.linear(decoderPrefix+"project_in", e, H)
		}
		x[t] = add(e, r.p[decoderPrefix+"embed_positions.weight"][row*int64(H):(row+1)*int64(H)])
	}
	for l := 0; l < c.Layers; l++ {
		p := LayerPrefix(l)
		a := make([][]float64, L)
		for t := range x {
			a[t] = x[t]
			if c.PreLN {
				a[t] = r.layerNorm(p+"self_attn_layer_norm", x[t])
			}
		}
		q, k, v := make([][]float64, L), make([][]float64, L), make([][]float64, L)
		for t := range a {
			q[t] = r.linear(p+"self_attn.q_proj", a[t], H)
			for i := range q[t] {
				q[t][i] *= math.Pow(float64(hd), -0.5)
			}
			k[t], v[t] = r.linear(p+"self_attn.k_proj", a[t], H), r.linear(p+"self_attn.v_proj", a[t], H)
		}
		next := make([][]float64, L)
		for i := 0; i < L; i++ {
			ctx := make([]float64, H)
			for h := 0; h < c.Heads; h++ {
				var js []int
				for j := 0; j <= i; j++ {
					if mask[j] == 1 {
						js = append(js, j)
					}
				}
				if len(js) == 0 { // a left-pad query: not compared
					continue
				}
				sc := make([]float64, len(js))
				mx := math.Inf(-1)
				for n, j := range js {
					for d := 0; d < hd; d++ {
						sc[n] += q[i][h*hd+d] * k[j][h*hd+d]
					}
					mx = math.Max(mx, sc[n])
				}
				z := 0.0
				for n := range sc {
					sc[n] = math.Exp(sc[n] - mx)
					z += sc[n]
				}
				for n, j := range js {
					for d := 0; d < hd; d++ {
						ctx[h*hd+d] += sc[n] / z * v[j][h*hd+d]
					}
				}
			}
			h := add(x[i], r.linear(p+"self_attn.out_proj", ctx, H))
			if !c.PreLN {
				h = r.layerNorm(p+"self_attn_layer_norm", h)
			}
			f := h
			if c.PreLN {
				f = r.layerNorm(p+"final_layer_norm", h)
			}
			f = r.linear(p+"fc1", f, c.FFN)
			for n, u := range f {
				if c.Activation == "gelu" {
					f[n] = 0.5 * u * (1 + math.Erf(u/math.Sqrt2))
				} else {
					f[n] = math.Max(u, 0)
				}
			}
			o := add(h, r.linear(p+"fc2", f, H))
			if !c.PreLN {
				o = r.layerNorm(p+"final_layer_norm", o)
			}
			next[i] = o
		}
		x = next
	}
	head := r.p["lm_head.weight"]
	if head == nil {
		head = r.p[decoderPrefix+"embed_tokens.weight"]
	}
	out := make([][]float64, L)
	for t := range x {
		if mask[t] == 0 {
			continue
		}
		y := x[t]
		if c.FinalLN {
			y = r.layerNorm(decoderPrefix+"final_layer_norm", y)
		}
		if c.Projected() {
			y = r.linear(decoderPrefix+"project_out", y, E)
		}
		out[t] = make([]float64, c.VocabSize)
		for w := range out[t] {
			for d := 0; d < E; d++ {
				out[t][w] += head[w*E+d] * y[d]
			}
		}
	}
	return out
}

// TestVariantsAgainstNaiveReference runs random float64 OPTs of every
// architectural variant on a batch with left and right padding and
// compares their logits at token positions with refModel.
func TestVariantsAgainstNaiveReference(t *testing.T) {
	type variant struct {
		name                                 string
		pre, removeFinal, affine, bias, tied bool
		embedDim                             int
		act                                  string
	}
	for _, v := range []variant{
		{name: "pre-ln", pre: true, affine: true, bias: true, tied: true, embedDim: 16, act: "relu"},
		{name: "post-ln-projected", pre: false, affine: true, bias: true, tied: true, embedDim: 8, act: "relu"},
		{name: "pre-ln-projected-no-final-ln", pre: true, removeFinal: true, affine: true, bias: true, tied: true, embedDim: 12, act: "relu"},
		{name: "no-bias-no-affine-untied-gelu", pre: true, affine: false, bias: false, tied: false, embedDim: 16, act: "gelu"},
	} {
		t.Run(v.name, func(t *testing.T) {
			c := &hf.Config{ModelType: "opt", VocabSize: 40, HiddenSize: 16, NumHiddenLayers: 2, NumAttentionHeads: 4,
				FFNDim: 24, MaxPositionEmbeddings: 12, WordEmbedProjDim: v.embedDim, PadTokenID: 1,
				DoLayerNormBefore: v.pre, RemoveFinalLayerNorm: v.removeFinal, LayerNormElementwiseAffine: v.affine,
				EnableBias: v.bias, TieWordEmbeddings: v.tied, ActivationFunction: v.act, InitStd: 0.3}
			m, err := New(c, Options{DType: torch.Float64, InitSeed: 7})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// Give LayerNorms and biases non-trivial values.
			ref := &refModel{cfg: m.Config, p: map[string][]float64{}}
			for i, p := range m.Params.All() {
				vals := paritytest.Values(t, p.T)
				z, err := torch.Randn(shapeOf(t, p.T), uint64(100+i), torch.Float64, torch.CPU)
				if err != nil {
					t.Fatal(err)
				}
				zs := paritytest.Values(t, z)
				z.Close()
				for j := range vals {
					vals[j] += 0.1 * zs[j]
				}
				nt, err := torch.FromFloat64s(vals, shapeOf(t, p.T), torch.CPU)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.T.CopyFrom(nt); err != nil {
					t.Fatal(err)
				}
				nt.Close()
				ref.p[p.Name] = vals
			}
			ids := []int64{2, 5, 9, 33, 7, 1, 1, 1, 1, 1, 2, 17, 3, 39, 22}
			mask := []int64{1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}
			B, L := int64(3), int64(5)
			// rows: right padding ([:5]), heavy left padding, a pad id (1) inside real content.
			ids[8] = 1
			s := torch.NewScope(torch.NoGrad)
			defer s.Close()
			logits := m.Logits(s, Inputs{InputIDs: s.FromInt64s(ids, []int64{B, L}, torch.CPU), AttentionMask: s.FromInt64s(mask, []int64{B, L}, torch.CPU)}, ForwardOptions{})
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			got := paritytest.Values(t, logits)
			V := int64(c.VocabSize)
			worst := 0.0
			compared := 0
			for b := int64(0); b < B; b++ {
				want := ref.logits(ids[b*L:(b+1)*L], mask[b*L:(b+1)*L])
				for tt := int64(0); tt < L; tt++ {
					if want[tt] == nil {
						continue
					}
					for w := int64(0); w < V; w++ {
						g := got[(b*L+tt)*V+w]
						d := math.Abs(g - want[tt][w])
						worst = math.Max(worst, d)
						if d > 1e-9+1e-9*math.Abs(want[tt][w]) {
							t.Fatalf("row %d position %d word %d: ours %.12g, reference %.12g", b, tt, w, g, want[tt][w])
						}
						compared++
					}
				}
			}
			if compared == 0 {
				t.Fatal("nothing compared")
			}
			t.Logf("%s: %d logits, max |diff| %.3g", v.name, compared, worst)
		})
	}
}

func shapeOf(t *testing.T, x *torch.Tensor) []int64 {
	t.Helper()
	s, err := x.Shape()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
