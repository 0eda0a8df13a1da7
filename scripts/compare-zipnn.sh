#!/usr/bin/env bash
# Side by side in one run: znn-gpu bench and the ZipNN 0.5.4 reference (../shared/tools) on FILE,
# at 1 and 2 threads, file to file on the same filesystem (put FILE on tmpfs, /dev/shm).
# usage: scripts/compare-zipnn.sh FILE [bfloat16|float16|float32] [RUNS=5]
set -euo pipefail
F=${1:?usage: compare-zipnn.sh FILE [DTYPE] [RUNS]}; DT=${2:-bfloat16}; RUNS=${3:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${ZIPNN_BASELINE:-$HERE/../shared/tools/zipnn-baseline.sh}
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
case $DT in bfloat16) D=bf16;; float16) D=fp16;; *) D=fp32;; esac
echo "== znn-gpu ($(nproc) cores)"
"$HERE/target/release/znn-gpu" --threads 2 bench "$F" --dtype "$D" --runs "$RUNS" --device cpu
if [[ -x $BASE || -f $BASE ]]; then
  for t in 1 2; do echo "== ZipNN 0.5.4, $t thread(s)"; bash "$BASE" "$F" "$DT" "$t" "$RUNS"; done
else
  echo "ZipNN baseline script not found at $BASE (set ZIPNN_BASELINE)"
fi
