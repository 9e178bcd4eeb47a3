#!/usr/bin/python3
"""Python baseline for `mezo bench`: time and peak RSS of the reference's steps in eager PyTorch.

Runs on Debian 12's python3-torch (torch 1.13) without Hugging Face transformers: the
model below is a torch.nn RoBERTa that computes what HF 4.28's RobertaModel computes
(eval mode, so dropout is the identity and is left out), with MeZO's prompt head
(RobertaModelForPromptFinetuning: untied LM head at the <mask> position, restricted to
the label words, mean cross-entropy). Parameter names and named_parameters() order are
HF's/MeZO's, so the MeZO step draws z for the parameters in the reference's order.

  infer: one step = two forward passes of the prompt loss under torch.inference_mode()
  mezo:  one step = MeZO's efficient step (medium_models/src/trainer.py): +eps z, l+,
         -2 eps z, l-, +eps z, then the update along z, z regenerated from the seed
  ft:    one step = the HF 4.28 trainer's fine-tuning step as MeZO runs it: forward,
         backward, clip_grad_norm_(1.0), transformers.AdamW (lr 1e-5, weight decay 0,
         written out below as 4.28 has it), zero_grad (dropout off, as in `mezo bench`)

--model FILE loads the weights from a safetensors file (`mezo bench --save-model FILE`
writes the one `mezo bench` builds), so both sides run the same weights and their
losses can be compared; without it the weights are HF's initialisation from seed 1.

One warm-up step, then --steps timed steps; prints one JSON line. Run one mode per
process: peak_rss_bytes is the process's maximum resident set.
"""
import argparse
import json
import math
import resource
import struct
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

PAD = 1  # RoBERTa's <pad> id: padding_idx of the word and position embeddings
LABEL_WORDS = [5, 6]


class Embeddings(nn.Module):  # HF RobertaEmbeddings
    def __init__(self, a):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab, a.hidden, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(a.seq + 2, a.hidden, padding_idx=PAD)  # pad + 1 + seq
        self.token_type_embeddings = nn.Embedding(1, a.hidden)  # type_vocab_size 1
        self.LayerNorm = nn.LayerNorm(a.hidden, eps=1e-5)

    def forward(self, ids):
        # create_position_ids_from_input_ids: padding_idx + running count of non-pad tokens
        mask = ids.ne(PAD).int()
        pos = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + PAD
        types = torch.zeros_like(ids)
        e = self.word_embeddings(ids) + self.token_type_embeddings(types)
        e += self.position_embeddings(pos)
        return self.LayerNorm(e)


class SelfAttention(nn.Module):  # HF RobertaSelfAttention (absolute positions, no cache)
    def __init__(self, a):
        super().__init__()
        self.heads, self.hd = a.heads, a.hidden // a.heads
        self.query = nn.Linear(a.hidden, a.hidden)
        self.key = nn.Linear(a.hidden, a.hidden)
        self.value = nn.Linear(a.hidden, a.hidden)

    def split(self, x):  # [B, L, H] -> [B, heads, L, hd]
        return x.view(x.size(0), x.size(1), self.heads, self.hd).permute(0, 2, 1, 3)

    def forward(self, x, bias):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2))
        scores = scores / math.sqrt(self.hd)
        scores = scores + bias
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), -1)


class DenseLN(nn.Module):  # HF Roberta{Self,}Output: LayerNorm(dense(h) + residual)
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.LayerNorm = nn.LayerNorm(n_out, eps=1e-5)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):  # HF RobertaAttention
    def __init__(self, a):
        super().__init__()
        self.self = SelfAttention(a)
        self.output = DenseLN(a.hidden, a.hidden)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):  # HF RobertaIntermediate, hidden_act "gelu" (erf)
    def __init__(self, a):
        super().__init__()
        self.dense = nn.Linear(a.hidden, a.ffn)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):  # HF RobertaLayer
    def __init__(self, a):
        super().__init__()
        self.attention = Attention(a)
        self.intermediate = Intermediate(a)
        self.output = DenseLN(a.ffn, a.hidden)

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.layer = nn.ModuleList(Layer(a) for _ in range(a.layers))


class Pooler(nn.Module):  # HF RobertaPooler: computed by HF's forward, unused by the loss
    def __init__(self, a):
        super().__init__()
        self.dense = nn.Linear(a.hidden, a.hidden)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class RobertaModel(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embeddings = Embeddings(a)
        self.encoder = Encoder(a)
        self.pooler = Pooler(a)

    def forward(self, ids, attention_mask):
        x = self.embeddings(ids)
        # get_extended_attention_mask: [B, 1, 1, L], (1 - mask) * finfo.min
        ext = attention_mask[:, None, None, :].to(x.dtype)
        bias = (1.0 - ext) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, bias)
        self.pooler(x)
        return x


class LMHead(nn.Module):  # HF RobertaLMHead; decoder.bias is lm_head.bias, as in HF
    def __init__(self, a):
        super().__init__()
        self.dense = nn.Linear(a.hidden, a.hidden)
        self.layer_norm = nn.LayerNorm(a.hidden, eps=1e-5)
        self.decoder = nn.Linear(a.hidden, a.vocab)
        self.bias = nn.Parameter(torch.zeros(a.vocab))
        self.decoder.bias = self.bias

    def forward(self, h):
        return self.decoder(self.layer_norm(F.gelu(self.dense(h))))


class PromptModel(nn.Module):  # MeZO's RobertaModelForPromptFinetuning (decoder untied)
    def __init__(self, a):
        super().__init__()
        self.roberta = RobertaModel(a)
        self.lm_head = LMHead(a)
        self.classifier = nn.Linear(a.hidden, len(LABEL_WORDS))  # linear probing only; unused

    def forward(self, ids, attention_mask, mask_pos, labels):
        seq = self.roberta(ids, attention_mask)
        scores = self.lm_head(seq[torch.arange(seq.size(0)), mask_pos])
        logits = torch.cat([scores[:, w].unsqueeze(-1) for w in LABEL_WORDS], -1)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))


def init_weights(m):  # HF RobertaPreTrainedModel._init_weights, initializer_range 0.02
    if isinstance(m, nn.Linear):
        m.weight.data.normal_(mean=0.0, std=0.02)
        if m.bias is not None:
            m.bias.data.zero_()
    elif isinstance(m, nn.Embedding):
        m.weight.data.normal_(mean=0.0, std=0.02)
        if m.padding_idx is not None:
            m.weight.data[m.padding_idx].zero_()
    elif isinstance(m, nn.LayerNorm):
        m.weight.data.fill_(1.0)
        m.bias.data.zero_()


def synthetic_batch(B, L, V):  # the batch `mezo bench` builds (pkg/bench syntheticBatch)
    ids = torch.tensor([[0 if j == 0 else 4 + (r * 7919 + j * 104729) % (V - 4) for j in range(L)]
                        for r in range(B)])
    return (ids, torch.ones(B, L, dtype=torch.long),
            torch.tensor([1 + r % (L - 2) for r in range(B)]), torch.tensor([r % 2 for r in range(B)]))


def zo_perturb(params, seed, scaling, eps):  # MeZO's efficient_perturb_parameters
    torch.manual_seed(seed)
    for _, p in params:
        z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
        p.data = p.data + scaling * z * eps


def mezo_step(params, loss, seed, eps=1e-3, lr=1e-7, weight_decay=0.0):
    # The trainer's efficient_zero_order path without zero_order_use_trainer_optim:
    # projected_grad stays a 0-dim tensor, and the update is the trainer's expression
    # verbatim (with weight decay 0 it computes p - lr * (g z + 0 p), temporaries included).
    with torch.no_grad():
        zo_perturb(params, seed, 1, eps)
        l_plus = loss()
        zo_perturb(params, seed, -2, eps)
        l_minus = loss()
        projected_grad = (l_plus - l_minus) / (2 * eps)
        zo_perturb(params, seed, 1, eps)  # back to the step's starting weights
        torch.manual_seed(seed)
        for _, p in params:
            z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
            p.data = p.data - lr * (projected_grad * z + weight_decay * p.data)
    return l_plus


def load_safetensors(path):  # the format's spec: u64 LE header length, JSON header, raw data
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
    out, base = {}, 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + lo:base + hi]), dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def load_weights(model, path):
    sd = load_safetensors(path)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # lm_head.decoder.bias is lm_head.bias (tied, as in HF)
    missing = [k for k in missing if k != "lm_head.decoder.bias"]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")


class HFAdamW:  # transformers 4.28 optimization.AdamW.step, correct_bias=True
    def __init__(self, params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params, self.lr, self.betas, self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.state = {}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            grad = p.grad
            state = self.state.setdefault(p, {})
            if len(state) == 0:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            beta1, beta2 = self.betas
            state["step"] += 1
            exp_avg.mul_(beta1).add_(grad, alpha=(1.0 - beta1))
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denom = exp_avg_sq.sqrt().add_(self.eps)
            bias_correction1 = 1.0 - beta1 ** state["step"]
            bias_correction2 = 1.0 - beta2 ** state["step"]
            step_size = self.lr * math.sqrt(bias_correction2) / bias_correction1
            p.addcdiv_(exp_avg, denom, value=-step_size)
            if self.wd > 0.0:
                p.add_(p, alpha=(-self.lr * self.wd))


def ft_step(model, params, opt, loss):  # HF Trainer.training_step + the optimizer step of _inner_training_loop
    l = loss()
    l.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    model.zero_grad()
    return l.detach()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in [("hidden", 768), ("layers", 4), ("heads", 12), ("ffn", 3072), ("vocab", 50265),
                          ("batch", 16), ("seq", 128), ("threads", 2), ("steps", 2)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--mode", choices=["infer", "mezo", "ft"], default="infer")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (timing synchronises the device)")
    ap.add_argument("--model", help="safetensors FILE with the weights (mezo bench --save-model)")
    a = ap.parse_args()
    assert a.hidden % a.heads == 0 and a.seq >= 4 and a.vocab >= 8 and a.steps >= 1

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = PromptModel(a)
    model.apply(init_weights)
    if a.model:
        load_weights(model, a.model)
    dev = torch.device(a.device)
    model.to(dev)
    model.eval()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    batch = tuple(t.to(dev) for t in synthetic_batch(a.batch, a.seq, a.vocab))
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    loss = lambda: model(*batch)
    opt = HFAdamW([p for _, p in params]) if a.mode == "ft" else None

    def step(i):
        if a.mode == "infer":
            with torch.inference_mode():
                loss()
                return loss()
        if a.mode == "ft":
            return ft_step(model, [p for _, p in params], opt, loss)
        return mezo_step(params, loss, seed=i + 1)

    step(0)  # warm-up
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times, last = [], None
    for i in range(1, a.steps + 1):
        t0 = time.perf_counter()
        last = step(i)
        sync()
        times.append(time.perf_counter() - t0)

    print(json.dumps({
        "mode": a.mode, "params": sum(p.numel() for _, p in params),
        "hidden": a.hidden, "layers": a.layers, "heads": a.heads, "ffn": a.ffn, "vocab": a.vocab,
        "batch": a.batch, "seq": a.seq, "threads": torch.get_num_threads(), "steps": a.steps,
        "median_step_s": statistics.median(times), "min_step_s": min(times), "max_step_s": max(times),
        "step_s": times,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "weights": a.model or "init seed 1", "device": str(dev),
        "peak_cuda_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else 0,
        "param_bytes": sum(p.numel() * p.element_size() for _, p in params),
        "last_loss": float(last), "torch_version": torch.__version__,
        "impl": "torch.nn eager RoBERTa equivalent of HF 4.28 RobertaModel + MeZO prompt head"
                + ("; HF 4.28 AdamW" if a.mode == "ft" else ""),
    }))


if __name__ == "__main__":
    main()
