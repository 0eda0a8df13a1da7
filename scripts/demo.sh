#!/usr/bin/env bash
# The main job on the model file that ships in the repo: build, compress, inspect, decompress, and
# check that the round trip is byte-identical. Usage: scripts/demo.sh [MODEL.safetensors]
set -euo pipefail
cd "$(dirname "$0")/.."
IN=${1:-data/mobilenet-v2.fp32.safetensors}
cargo build --release --quiet
BIN=target/release/znn-gpu
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
$BIN compress -v "$IN" -o "$T/model.znn"
$BIN info "$T/model.znn"
$BIN decompress -v "$T/model.znn" -o "$T/model.out"
cmp "$IN" "$T/model.out"
echo "round trip OK: $IN restored byte for byte"
