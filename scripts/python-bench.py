#!/usr/bin/env python3
"""Speed of the Python package, side by side in one process (a benchmark, not a test): for one
BF16 safetensors model, the best of RUNS rounds (each round runs every contender once, in turn) of

  load_file   znn_gpu.torch.load_file(M.znn): the whole state dict, decoded into one buffer
  cli         `znn-gpu decompress M.znn -o - | cat > /dev/null` (a shell pipeline; process start
              included, as a user would run it)
  zipnn       ZipNN 0.5.4's own Python path: read M.zipnn, ZipNN(is_streaming=True).decompress,
              safetensors.torch.load, as its zipnn_hf() loader does (decompress_znn in zipnn.py,
              including its `d_data = b""; d_data += ...` copy to bytes, which st.load requires)
  st.load     safetensors.torch.load(open(M).read()) of the uncompressed file (reference only)

GB/s are of original bytes. Before timing, load_file's tensors are checked bit for bit against
safetensors' own load of M, and ZipNN's round trip against M. Needs torch, safetensors, zipnn and
znn_gpu importable (the CI venv plus the built package), the CLI built (cargo build --release).

usage: python-bench.py MODEL.safetensors [--runs 5] [--threads N] [--cli target/release/znn-gpu]
                        [--no-huge]   (load_file without huge-page advice on its buffer)
Make a 200+ MB BF16 model with scripts/make-bench-model.py; keep files on tmpfs (/dev/shm).
"""

import argparse
import gc
import os
import subprocess
import sys
import time

import safetensors.torch as st
import torch

import znn_gpu
import znn_gpu.torch as zt

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--threads", type=int, default=None, help="decode threads (default: all cores)")
here = os.path.dirname(os.path.abspath(__file__))
ap.add_argument("--cli", default=os.path.join(here, "..", "target", "release", "znn-gpu"))
ap.add_argument("--no-huge", action="store_true", help="no huge-page advice for load_file's buffer")
args = ap.parse_args()
if args.no_huge:
    znn_gpu._core.HUGE_ADVICE_BYTES = float("inf")

model = args.model
size = os.path.getsize(model)
z, zz = model + ".znn", model + ".zipnn"
if not os.path.exists(z) or os.path.getmtime(z) < os.path.getmtime(model):
    znn_gpu.compress_file(model, z, overwrite=True)
from zipnn import ZipNN  # noqa: E402

if not os.path.exists(zz) or os.path.getmtime(zz) < os.path.getmtime(model):
    with open(model, "rb") as f:
        data = f.read()
    with open(zz, "wb") as f:
        f.write(ZipNN(is_streaming=True, bytearray_dtype="bfloat16").compress(data))
    del data

# correctness first
ref = st.load(open(model, "rb").read())
got = zt.load_file(z, threads=args.threads)
assert set(got) == set(ref) and all(
    got[k].dtype == ref[k].dtype and torch.equal(got[k].view(torch.uint8), ref[k].view(torch.uint8)) for k in ref
), "load_file differs from safetensors"
with open(zz, "rb") as f:
    assert ZipNN(is_streaming=True).decompress(f.read()) == open(model, "rb").read(), "zipnn round trip"
del ref, got
gc.collect()

cli = os.path.abspath(args.cli)
threads = [] if args.threads is None else ["--threads", str(args.threads)]
env = dict(os.environ)


def run_load_file():
    sd = zt.load_file(z, threads=args.threads)
    return len(sd)


def run_cli():
    cmd = " ".join([repr(cli), *threads, "decompress", "-q", repr(z), "-o", "-", "|", "cat", ">", "/dev/null"])
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, env=env)


def run_zipnn():
    with open(zz, "rb") as f:
        blob = f.read()
    d = b""
    d += ZipNN(is_streaming=True).decompress(blob)  # as zipnn_hf's decompress_znn (a bytes copy)
    sd = st.load(d)
    return len(sd)


def run_st_load():
    with open(model, "rb") as f:
        sd = st.load(f.read())
    return len(sd)


contenders = [("load_file", run_load_file), ("cli", run_cli), ("zipnn", run_zipnn), ("st.load", run_st_load)]
times = {name: [] for name, _ in contenders}
for r in range(args.runs):
    for name, fn in contenders:
        gc.collect()
        t = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - t)
best = {name: min(v) for name, v in times.items()}
median = {name: sorted(v)[len(v) // 2] for name, v in times.items()}

print(f"model {model}: {size / 1e6:.1f} MB, .znn {100 * os.path.getsize(z) / size:.2f}%, "
      f".zipnn {100 * os.path.getsize(zz) / size:.2f}%; best (median) of {args.runs}; "
      f"threads {args.threads or os.cpu_count()}; huge pages {'off' if args.no_huge else 'advised'}; "
      f"torch {torch.__version__}")
for name, _ in contenders:
    print(f"  {name:10s} {best[name]:.3f} s  {size / best[name] / 1e9:.2f} GB/s   "
          f"(median {median[name]:.3f} s, {size / median[name] / 1e9:.2f} GB/s)")
for other, target in (("cli", "0.8x"), ("zipnn", "2x")):
    print(f"  load_file / {other} speed: {best[other] / best['load_file']:.2f}x best, "
          f"{median[other] / median['load_file']:.2f}x median (target >= {target})")
sys.exit(0)
