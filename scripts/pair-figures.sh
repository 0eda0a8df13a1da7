#!/usr/bin/env bash
# Issue 13's figures in one run: per file, the size with each codec set (fast = v1 codecs,
# balanced = + pair codes K=3, small = + best K per chunk), ZipNN 0.5.4's size, the order-0 bounds
# (scripts/entropy.py), then in-memory and file-to-file speed of each set at 1 and 2 threads with
# `znn-gpu bench`, and ZipNN's file-to-file times (../shared/tools/zipnn-baseline.sh).
# usage: [RUNS=3] [SPEED=1] scripts/pair-figures.sh FILE DTYPE(bfloat16|float16|float32) ...
# Put the files on tmpfs (/dev/shm). Needs numpy for entropy.py (PYTHON=python with numpy).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${ZIPNN_BASELINE:-$HERE/../shared/tools/zipnn-baseline.sh}
PY=${PYTHON:-python3}
B="$HERE/target/release/znn-gpu"
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
while [[ $# -ge 2 ]]; do
  F=$1; DT=$2; shift 2
  case $DT in bfloat16) D=bf16;; float16) D=fp16;; *) D=fp32;; esac
  o=$(stat -c %s "$F")
  echo "== $F ($o bytes)"
  for c in fast balanced small; do
    "$B" compress "$F" -o "/tmp/pair-figures.znn" --codecs "$c" --dtype "$D" -f -q
    s=$(stat -c %s /tmp/pair-figures.znn)
    echo "size $c: $(python3 -c "print(f'{100*$s/$o:.3f}%')") ($s B)"
  done
  if [[ -f $BASE ]]; then bash "$BASE" "$F" "$DT" 1 "${RUNS:-3}"; fi
  "$PY" "$HERE/scripts/entropy.py" "$F" | grep -E "per tensor (H\(A\)\+H\(B\|A\)|H\(P3\)|huff\(P3\)|H\(A,B\) 2-fold)|per chunk  (H\(A\)\+H\(B\|A\)|H\(P3\))" || true
  if [[ ${SPEED:-1} == 1 ]]; then
    for c in fast balanced; do
      "$B" --threads 2 bench "$F" --dtype "$D" --codecs "$c" --runs "${RUNS:-3}" --device cpu --json |
        python3 -c "import json,sys; r=json.load(sys.stdin); print('$c', ' '.join(f'{k}={v:.2f}' for k,v in r.items() if 'gbs' in k and 'zstd' not in k and 'gpu' not in k))"
    done
  fi
done
rm -f /tmp/pair-figures.znn
