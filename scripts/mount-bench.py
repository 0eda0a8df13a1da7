#!/usr/bin/env python3
"""Figures of `znn-gpu mount`, side by side in one run (a benchmark, not a test). For one BF16
safetensors model M (200+ MB; scripts/make-bench-model.py makes one) in a compressed folder:

  seq     first sequential read of M through a fresh mount (1 MiB reads) against
          `znn-gpu decompress M.znn -o - | cat > /dev/null` with the same --threads, and a read of
          the uncompressed file (tmpfs page cache; reference only). Best of RUNS rounds.
  random  4 KiB and 1 MiB reads at random offsets through a fresh mount (cold: nothing decoded,
          nothing in the page cache) and of the uncompressed file.
  load    safetensors.safe_open (every tensor, torch) and transformers BertModel.from_pretrained
          through a fresh mount, of the uncompressed folder, and decompress-then-load (the
          decompress of the folder counted).
  rss     peak RSS of the mount server (VmHWM) while a synthetic 4 GiB BF16 file is read end to
          end through it (--rss-mib; 0 skips), with its --cache-mib.

usage: mount-bench.py --bin target/release/znn-gpu --model M.safetensors [--threads N]
                      [--runs 3] [--work /dev/shm/znn-mount-bench] [--rss-mib 4096]
                      [--synth target/release/examples/synth]
Keep --work on tmpfs: the figures are then the decoder's, not a disk's.
"""

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--work", default="/dev/shm/znn-mount-bench")
ap.add_argument("--rss-mib", type=int, default=4096)
ap.add_argument("--cache-mib", type=int, default=256)
ap.add_argument("--synth", default=None)
a = ap.parse_args()
BIN = os.path.abspath(a.bin)
T = ["--threads", str(a.threads)]


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def mounted(mp):
    mp = os.path.realpath(mp)
    with open("/proc/self/mountinfo") as f:
        return any(l.split(" ")[4] == mp for l in f)


class Mount:
    """A foreground mount server (its pid is the one to measure), live on enter."""

    def __init__(self, src, extra=()):
        self.mp = tempfile.mkdtemp(prefix="mp-", dir=a.work)
        self.p = subprocess.Popen([BIN, *T, "mount", src, self.mp, "-f", *extra])
        t = time.time()
        while not mounted(self.mp):
            if self.p.poll() is not None or time.time() - t > 30:
                sys.exit(f"mount of {src} failed")
            time.sleep(0.01)

    def __enter__(self):
        return self

    def __exit__(self, *e):
        subprocess.run(["fusermount3", "-u", self.mp])
        self.p.wait(timeout=30)
        os.rmdir(self.mp)


def read_all(path, bs=1 << 20):
    buf = bytearray(bs)
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                return n
            n += k


def gbs(nbytes, s):
    return f"{nbytes / s / 1e9:.2f} GB/s"


os.makedirs(a.work, exist_ok=True)
orig = os.path.join(a.work, "orig")
comp = os.path.join(a.work, "comp")
dec = os.path.join(a.work, "dec")
for d in (orig, comp, dec):
    shutil.rmtree(d, ignore_errors=True)
os.makedirs(orig)
M = os.path.join(orig, "model.safetensors")
shutil.copyfile(a.model, M)
size = os.path.getsize(M)

# A BERT config matching the model's tensors, so that from_pretrained builds and fills it.
raw = open(M, "rb").read(8)
head = json.loads(open(M, "rb").read(8 + struct.unpack("<Q", raw)[0])[8:])
names = [k for k in head if k != "__metadata__"]
pre = "bert." if any(k.startswith("bert.") for k in names) else ""
shape = lambda k: head[pre + k]["shape"]
layers = {int(k[len(pre):].split(".")[2]) for k in names if k[len(pre):].startswith("encoder.layer.")}
hidden = shape("embeddings.word_embeddings.weight")[1]
cfg = {
    "architectures": ["BertModel"], "model_type": "bert", "torch_dtype": "bfloat16",
    "vocab_size": shape("embeddings.word_embeddings.weight")[0], "hidden_size": hidden,
    "num_hidden_layers": len(layers), "num_attention_heads": max(1, hidden // 32),
    "intermediate_size": shape("encoder.layer.0.intermediate.dense.weight")[0],
    "max_position_embeddings": shape("embeddings.position_embeddings.weight")[0],
    "type_vocab_size": shape("embeddings.token_type_embeddings.weight")[0],
}
json.dump(cfg, open(os.path.join(orig, "config.json"), "w"))
t = time.perf_counter()
run(BIN, *T, "-q", "compress", orig, "-o", comp)
print(f"model: {size / 1e6:.0f} MB BF16, {len(names)} tensors, {len(layers)} layers; compressed to "
      f"{os.path.getsize(os.path.join(comp, 'model.safetensors.znn')) / size:.1%} in "
      f"{time.perf_counter() - t:.1f} s; threads {a.threads}; best of {a.runs}")
Z = os.path.join(comp, "model.safetensors.znn")

# --- first sequential read -------------------------------------------------------------------
best = {"mount": 1e9, "decompress | cat": 1e9, "uncompressed (page cache)": 1e9}
for _ in range(a.runs):
    with Mount(comp) as m:
        t = time.perf_counter()
        assert read_all(os.path.join(m.mp, "model.safetensors")) == size
        best["mount"] = min(best["mount"], time.perf_counter() - t)
    t = time.perf_counter()
    run("sh", "-c", f"'{BIN}' --threads {a.threads} decompress -q '{Z}' -o - | cat > /dev/null")
    best["decompress | cat"] = min(best["decompress | cat"], time.perf_counter() - t)
    t = time.perf_counter()
    read_all(M)
    best["uncompressed (page cache)"] = min(best["uncompressed (page cache)"], time.perf_counter() - t)
print("\nfirst sequential read (1 MiB reads):")
for k, s in best.items():
    print(f"  {k:28s} {s:6.3f} s  {gbs(size, s)}")
print(f"  mount / decompress: {best['decompress | cat'] / best['mount']:.2f}x")

# --- random reads ----------------------------------------------------------------------------
print("\nrandom reads (cold: a fresh mount per size):")
rng = random.Random(1)
for bs, n in ((4096, 2000), (1 << 20, 200)):
    offs = [rng.randrange(0, size - bs) for _ in range(n)]
    res = {}
    for what in ("mount", "uncompressed"):
        def go(path):
            fd = os.open(path, os.O_RDONLY)
            t = time.perf_counter()
            for o in offs:
                assert len(os.pread(fd, bs, o)) == bs
            s = time.perf_counter() - t
            os.close(fd)
            return s
        if what == "mount":
            with Mount(comp) as m:
                res[what] = go(os.path.join(m.mp, "model.safetensors"))
        else:
            res[what] = go(M)
    for what, s in res.items():
        print(f"  {bs // 1024:5d} KiB x {n}: {what:13s} {s / n * 1e6:9.0f} us/read  "
              f"{gbs(bs * n, s)}")

# --- loads -----------------------------------------------------------------------------------
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

torch.set_num_threads(a.threads)


def st_load(path):
    with safe_open(path, "pt") as f:
        return sum(f.get_tensor(k).numel() for k in f.keys())


def hf_load(folder):
    from transformers import BertModel
    m = BertModel.from_pretrained(folder, torch_dtype=torch.bfloat16)
    return sum(p.numel() for p in m.parameters())


print("\nloads (best of runs; decompress-then-load counts the folder's decompress):")
for name, fn, rel in (("safe_open, every tensor", st_load, "model.safetensors"),
                      ("BertModel.from_pretrained", hf_load, "")):
    want = fn(os.path.join(orig, rel))
    best = {"mount": 1e9, "uncompressed": 1e9, "decompress then load": 1e9}
    for _ in range(a.runs):
        with Mount(comp) as m:
            t = time.perf_counter()
            assert fn(os.path.join(m.mp, rel)) == want
            best["mount"] = min(best["mount"], time.perf_counter() - t)
        t = time.perf_counter()
        fn(os.path.join(orig, rel))
        best["uncompressed"] = min(best["uncompressed"], time.perf_counter() - t)
        shutil.rmtree(dec, ignore_errors=True)
        t = time.perf_counter()
        run(BIN, *T, "-q", "decompress", comp, "-o", dec)
        fn(os.path.join(dec, rel))
        best["decompress then load"] = min(best["decompress then load"], time.perf_counter() - t)
    print(f"  {name}:")
    for k, s in best.items():
        print(f"    {k:22s} {s:6.3f} s")
shutil.rmtree(dec, ignore_errors=True)

# --- memory while reading a large file -------------------------------------------------------
if a.rss_mib and a.synth:
    big = os.path.join(a.work, "big")
    os.makedirs(big, exist_ok=True)
    f = os.path.join(big, "big.bf16")
    run(a.synth, f, str(a.rss_mib), "bf16", stdout=subprocess.DEVNULL)
    run(BIN, *T, "-q", "compress", f, "-o", f + ".znn", "--dtype", "bf16")
    os.remove(f)
    with Mount(big, ("--cache-mib", str(a.cache_mib))) as m:
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for l in open(f"/proc/{m.p.pid}/status"):
                    if l.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(l.split()[1]))
                time.sleep(0.02)
        th = threading.Thread(target=sample)
        th.start()
        t = time.perf_counter()
        n = read_all(os.path.join(m.mp, "big.bf16"))
        s = time.perf_counter() - t
        stop.set()
        th.join()
        hwm = next(int(l.split()[1]) for l in open(f"/proc/{m.p.pid}/status")
                   if l.startswith("VmHWM:"))
    shutil.rmtree(big)
    print(f"\nrss: {n / 2**30:.1f} GiB read end to end through the mount in {s:.1f} s "
          f"({gbs(n, s)}); server peak RSS {hwm / 1024:.0f} MiB (sampled {peak[0] / 1024:.0f} MiB) "
          f"with --cache-mib {a.cache_mib}")
shutil.rmtree(orig)
shutil.rmtree(comp)
