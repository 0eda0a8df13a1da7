#!/usr/bin/env python3
"""Builds a larger realistic BF16 model from ../shared/corpus/minilm-l6.bf16.safetensors (needs
numpy): the embeddings and head once, then copies of the six encoder layers until the file holds
at least MB megabytes, each copy with the rows of every matrix (and the elements of every vector)
shuffled by its own seed, so no two copies share bytes but every tensor keeps its real value
distribution. Written as safetensors with `{"format": "pt"}` metadata.

usage: make-bench-model.py [OUT=/dev/shm/minilm-x.bf16.safetensors] [MB=220]
       ZNN_CORPUS=DIR   the corpus folder (default ../shared/corpus beside the clone)
"""

import json
import os
import re
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("ZNN_CORPUS", os.path.join(HERE, "..", "..", "shared", "corpus"))
SRC = os.path.join(CORPUS, "minilm-l6.bf16.safetensors")
out = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/minilm-x.bf16.safetensors"
want = int(float(sys.argv[2] if len(sys.argv) > 2 else 220) * 1e6)
if not os.path.isfile(SRC):
    sys.exit(f"SKIPPED: {SRC} not found (../shared/corpus is needed)")

raw = open(SRC, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8 : 8 + n])
base = 8 + n
tensors = {}
for k, v in head.items():
    if k == "__metadata__":
        continue
    s, e = v["data_offsets"]
    tensors[k] = (v["dtype"], v["shape"], raw[base + s : base + e])

layer = re.compile(r"^(.*layers?\.)(\d+)(\..*)$")
fixed = {k: t for k, t in tensors.items() if not layer.match(k)}
layers = {k: t for k, t in tensors.items() if layer.match(k)}
fixed_bytes = sum(len(t[2]) for t in fixed.values())
per_copy = sum(len(t[2]) for t in layers.values())
nlayers = 1 + max(int(layer.match(k).group(2)) for k in layers)
copies = max(1, -(-(want - fixed_bytes) // per_copy))

outt = dict(fixed)
for c in range(copies):
    rng = np.random.default_rng(c)
    for k, (dt, shape, b) in layers.items():
        pre, i, post = layer.match(k).groups()
        name = f"{pre}{c * nlayers + int(i)}{post}"
        if c == 0:
            outt[name] = (dt, shape, b)
            continue
        esize = {"BF16": 2, "F16": 2, "F32": 4, "I64": 8}.get(dt, 1)
        a = np.frombuffer(b, dtype=f"V{esize}")
        a = a.reshape(shape[0], -1) if len(shape) >= 2 else a.reshape(-1, 1)
        outt[name] = (dt, shape, a[rng.permutation(a.shape[0])].tobytes())

hdr = {"__metadata__": {"format": "pt"}}
off, blobs = 0, []
for name, (dt, shape, b) in outt.items():
    hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
j = json.dumps(hdr, separators=(",", ":")).encode()
j += b" " * (-len(j) % 8)
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(j)) + j)
    for b in blobs:
        f.write(b)
os.replace(tmp, out)
print(f"{out}: {os.path.getsize(out) / 1e6:.1f} MB, {len(outt)} tensors, {copies * nlayers} layers")
