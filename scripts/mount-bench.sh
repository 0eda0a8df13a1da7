#!/usr/bin/env bash
# Figures of `znn-gpu mount` (README "Mount a compressed model"): builds the CLI and the synth
# example, makes the 237 MB BF16 bench model from the corpus minilm in /dev/shm when it is not
# there, then runs scripts/mount-bench.py with the test venv's Python (torch, safetensors,
# transformers). Everything lives in /dev/shm and is deleted afterwards.
# usage: scripts/mount-bench.sh [THREADS=all cores] [RUNS=3] [RSS_MIB=4096]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-$(nproc)}; RUNS=${2:-3}; RSS_MIB=${3:-4096}
cargo build --release --quiet
cargo build --release --quiet --example synth
PY=${ZNN_PY_VENV:-$HOME/.cache/znn-gpu/py311-venv}/bin/python
[ -x "$PY" ] || PY=$(.ci/python-venv | tail -n 1)/bin/python
MODEL=/dev/shm/minilm-x.bf16.safetensors
[ -f "$MODEL" ] || "$PY" scripts/make-bench-model.py "$MODEL" 237
WORK=/dev/shm/znn-mount-bench
trap 'rm -rf "$WORK"' EXIT
"$PY" scripts/mount-bench.py --bin target/release/znn-gpu --model "$MODEL" --threads "$THREADS" \
  --runs "$RUNS" --rss-mib "$RSS_MIB" --synth target/release/examples/synth --work "$WORK"
