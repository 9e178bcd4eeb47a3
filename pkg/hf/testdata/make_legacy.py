#!/usr/bin/python3
"""Generate pkg/hf's torch.save test files and their torch-made expectations.

Run once with Debian's interpreter and torch (apt-get install python3-torch):

    cd pkg/hf/testdata && /usr/bin/python3 make_legacy.py

It writes
  legacy.bin     torch.save(sd, _use_new_zipfile_serialization=False): the legacy pickle stream
  zip.bin        torch.save(sd): the zip format
  expected.json  for every key, in state-dict order: dtype, shape, and the row-major
                 little-endian bytes of t.contiguous() as hex, computed here by torch
                 (for F16/BF16 also the bytes of t.float());
                 plus which keys share a storage in the saved dict.

The state dict covers tied tensors (the same tensor under two keys), views into a
larger storage at a non-zero offset, transposed (non-contiguous) and stride-0
expanded tensors (like Hugging Face's position_ids), an nn.Parameter, a scalar,
an empty tensor, and every dtype pkg/hf reads.
"""
import collections
import json

import torch

torch.manual_seed(1234)

sd = collections.OrderedDict()
base = torch.randn(4, 5)
sd["f32"] = base
sd["f32_tied"] = base  # same tensor object: one storage, two keys
sd["f32_row_view"] = base[1:3]  # storage offset 5, contiguous
sd["f32_transposed"] = base.t()  # stride (1, 5)
sd["f32_col_slice"] = base[:, 1:4]  # offset 1, stride (5, 1), rows not adjacent
sd["position_ids"] = torch.arange(66).expand((1, -1))  # HF's buffer: stride (0, 1)
sd["i64_expanded"] = torch.arange(6, dtype=torch.int64).expand(3, 6)  # stride (0, 1)
sd["f64"] = torch.randn(2, 3, dtype=torch.float64)
sd["f16"] = torch.randn(3, 4).half()
sd["f16_transposed"] = sd["f16"].t()
sd["bf16"] = torch.randn(2, 5).bfloat16()
sd["bf16_strided"] = sd["bf16"][:, ::2]  # stride (5, 2)
sd["i32"] = torch.tensor([[-3, 2**31 - 1], [-(2**31), 7]], dtype=torch.int32)
sd["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
sd["i8"] = torch.tensor([-128, 127, -1], dtype=torch.int8)
sd["u8"] = torch.tensor([0, 255, 17, 3], dtype=torch.uint8)
sd["bool"] = torch.tensor([[True, False, True]])
sd["i64_big"] = torch.tensor([2**62, -(2**63), 1], dtype=torch.int64)
sd["scalar"] = torch.tensor(3.5)
sd["empty"] = torch.zeros(0, 3)
sd["param"] = torch.nn.Parameter(torch.randn(2, 2))
sd["f32_special"] = torch.tensor([float("inf"), float("-inf"), -0.0, 1e-45])


def raw_bytes(t):
    c = t.detach().contiguous().reshape(-1)
    if c.numel() == 0:
        return b""
    return bytes(c.view(torch.uint8).tolist())


def dtype_name(t):
    return {
        torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
        torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
        torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
    }[t.dtype]


expected = collections.OrderedDict()
for k, t in sd.items():
    expected[k] = {
        "dtype": dtype_name(t),
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "hex": raw_bytes(t).hex(),
    }
    if t.dtype in (torch.float16, torch.bfloat16):
        # torch's own widening to float32, to check pkg/hf's decoders.
        expected[k]["float32_hex"] = raw_bytes(t.float()).hex()

groups = collections.OrderedDict()
for k, t in sd.items():
    groups.setdefault(t.storage().data_ptr(), []).append(k)
shared = [g for g in groups.values() if len(g) > 1]

torch.save(sd, "legacy.bin", _use_new_zipfile_serialization=False)
torch.save(sd, "zip.bin")

# Check both files load back to the same values in torch itself.
for fn in ("legacy.bin", "zip.bin"):
    back = torch.load(fn)
    assert list(back.keys()) == list(sd.keys()), fn
    for k in sd:
        assert raw_bytes(back[k]) == raw_bytes(sd[k]), (fn, k)

with open("expected.json", "w") as f:
    json.dump({"producer": "make_legacy.py, torch " + torch.__version__,
               "order": list(sd.keys()), "shared_storage": shared,
               "tensors": expected}, f, indent=1)
    f.write("\n")
