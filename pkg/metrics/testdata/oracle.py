"""Writes oracle.json: the reference libraries' own values for pkg/metrics tests.

Run with the reference's stack (the fixtures' environment: Debian 12, numpy
1.24.2, scipy 1.10.1, scikit-learn 1.2.1) over netlib's reference BLAS
(libblas3 3.11), e.g. on Debian 12:

    apt-get install python3-numpy python3-scipy python3-sklearn libblas3 liblapack3
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack \
        /usr/bin/python3 oracle.py > oracle.json

Inputs are not stored: both sides rebuild them from (kind, seed, n, a, b) with
a 32-bit LCG, s <- (1664525*s + 1013904223) mod 2^32, one state per value:
    int: (s >> 16) % a                     int64
    f32: float32(((s >> 8) / 2^24) * a + b)  float32
    f64: ((s >> 8) / 2^24) * a + b           float64
    q:   float32(((s >> 16) % a) / b)        float32 (quantised, like STS-B labels)
Outputs are IEEE-754 bit patterns in hex (float64, or float32 where noted).
"""
import json, struct, sys, warnings

import numpy as np
import scipy, sklearn
from scipy import stats
from sklearn.metrics import f1_score, matthews_corrcoef
from threadpoolctl import threadpool_info

warnings.simplefilter("ignore")
if any(p.get("internal_api") in ("openblas", "mkl", "blis") for p in threadpool_info()):
    sys.exit("an optimised BLAS is loaded; run over netlib's libblas (see the docstring)")


def gen(kind, seed, n, a, b=0):
    s = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        s = (1664525 * s + 1013904223) & 0xFFFFFFFF
        if kind == "int":
            out.append((s >> 16) % a)
        elif kind in ("f32", "f64"):
            out.append(((s >> 8) / 16777216.0) * a + b)
        elif kind == "q":
            out.append(((s >> 16) % a) / b)
        else:
            raise ValueError(kind)
    dtype = {"int": np.int64, "f32": np.float32, "f64": np.float64, "q": np.float32}[kind]
    return np.array(out, dtype=dtype)


def spec(kind, seed, n, a, b=0):
    return {"kind": kind, "seed": seed, "n": n, "a": a, "b": b}


def arr(s):
    return gen(s["kind"], s["seed"], s["n"], s["a"], s["b"])


def h64(v):
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def h32(v):
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", np.float32(v)))[0]


out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}}

# eval_loss: HF 4.28.1 prediction_loop repeats each batch mean batch_size
# times, truncates to n, and takes numpy's float32 mean.
cases = []
for seed, nb, bs, n in [(1, 8, 4, 32), (2, 218, 4, 872), (3, 553, 4, 2210), (4, 2501, 4, 10001),
                        (5, 1000, 16, 15990), (6, 3000, 4, 12000), (7, 1, 4, 3), (8, 2, 4, 5),
                        (9, 40, 8, 313), (10, 10000, 1, 10000), (19, 20000, 1, 20000),
                        (20, 16385, 1, 16385)]:
    means = gen("f32", seed, nb, 2.5, 0.3)
    losses = np.repeat(means, bs)[:n]
    assert losses.dtype == np.float32 and len(losses) == n
    cases.append({"means": spec("f32", seed, nb, 2.5, 0.3), "batch_size": bs, "n": n,
                  "eval_loss_f32": h32(losses.mean())})
out["eval_loss"] = cases

# Means: ndarray.mean() in the array's dtype, and mean(dtype=float64) as
# pearsonr takes it (pairwise sums in 8192-element chunks).
cases = []
for x in [spec("f64", 30, 20000, 1.0, 1000.0), spec("f64", 31, 8193, 3.0, -1.0), spec("f64", 32, 100, 1.0, 0.1),
          spec("f32", 33, 20000, 7.0, 100.0), spec("f32", 34, 50000, 1.0, 0.0), spec("int", 35, 30000, 6)]:
    a = arr(x)
    c = {"x": x, "mean_f64": h64(a.mean(dtype=np.float64))}
    if a.dtype == np.float32:
        c["mean_f32"] = h32(a.mean())
    cases.append(c)
out["mean"] = cases

# compute_metrics_fn's logits.reshape([num_sample, -1, k]).mean(axis=0).
cases = []
for seed, S, N, K in [(11, 16, 5, 2), (12, 4, 7, 3), (13, 16, 1, 1), (14, 4, 1, 2), (15, 1, 6, 2),
                      (16, 16, 3, 1), (17, 200, 1, 1), (18, 9, 2, 5)]:
    logits = gen("f32", seed, S * N * K, 20.0, -10.0).reshape([S, -1, K])
    mean = logits.mean(axis=0)
    cases.append({"logits": spec("f32", seed, S * N * K, 20.0, -10.0), "num_sample": S, "k": K,
                  "mean_f32": [h32(v) for v in mean.reshape(-1)]})
out["average_samples"] = cases

# Correlations, as glue_compute_metrics calls them: pearsonr(preds, labels)[0]
# and spearmanr(preds, labels)[0].
pairs = []
for i, n in enumerate([3, 4, 5, 7, 12, 32, 100, 1379, 1500, 9000]):
    pairs.append((spec("int", 100 + i, n, 2), spec("q", 200 + i, n, 26, 5)))      # MeZO's argmax preds vs STS-B labels
    pairs.append((spec("f32", 300 + i, n, 5.0, 0.0), spec("q", 400 + i, n, 26, 5)))  # regression outputs vs labels
    pairs.append((spec("f64", 500 + i, n, 3.0, -1.0), spec("f64", 600 + i, n, 7.0, 2.0)))
    pairs.append((spec("int", 700 + i, n, 6), spec("int", 800 + i, n, 4)))          # heavy ties
pairs.append((spec("int", 900, 2, 2), spec("f32", 901, 2, 1.0, 0.0)))                # n == 2
pairs.append((spec("int", 902, 20, 1), spec("f32", 903, 20, 1.0, 0.0)))              # constant preds
cases = []
for x, y in pairs:
    xa, ya = arr(x), arr(y)
    p = stats.pearsonr(xa, ya)[0]
    s = stats.spearmanr(xa, ya)[0]
    cases.append({"x": x, "y": y, "pearson": h64(p), "spearmanr": h64(s)})
out["correlation"] = cases

# acc_and_f1's f1_score(y_true=labels, y_pred=preds) and
# matthews_corrcoef(labels, preds).
cases = []
for i, (n, kp, kl) in enumerate([(7, 2, 2), (32, 2, 2), (100, 2, 2), (408, 2, 2), (1043, 2, 2),
                                 (5000, 2, 2), (40430, 2, 2), (13, 2, 1), (13, 1, 2), (9, 1, 1)]):
    preds, labels = spec("int", 1000 + i, n, kp), spec("int", 1100 + i, n, kl)
    pa, la = arr(preds), arr(labels)
    if kp == 1 and kl == 1:
        pa = pa + 1  # all predictions 1, all labels 0
        preds = dict(preds, add=1)
    cases.append({"preds": preds, "labels": labels,
                  "f1": h64(f1_score(y_true=la, y_pred=pa)), "mcc": h64(matthews_corrcoef(la, pa))})
for i, (n, k) in enumerate([(10, 3), (1000, 3), (5000, 6), (31, 4)]):
    preds, labels = spec("int", 1200 + i, n, k), spec("int", 1300 + i, n, k)
    cases.append({"preds": preds, "labels": labels, "mcc": h64(matthews_corrcoef(arr(labels), arr(preds)))})
out["classification"] = cases

json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
