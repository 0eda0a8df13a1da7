#!/usr/bin/env bash
# Peak memory of file-to-file compress and decompress on a synthetic BF16 file of SIZE_MIB
# (default 4096 = 4 GiB), measured with GNU time. Needs SIZE_MIB x ~2.7 of free disk in DIR.
# usage: scripts/rss-check.sh [SIZE_MIB] [DIR]
set -euo pipefail
MIB=${1:-4096}; DIR=${2:-${TMPDIR:-/tmp}}
cd "$(dirname "$0")/.."
cargo build --release --quiet --example synth
cargo build --release --quiet
BIN=target/release/znn-gpu; F="$DIR/znn-rss-$MIB.bf16"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)"; exit 1; }
trap 'rm -f "$F" "$F.znn" "$F.out"' EXIT
target/release/examples/synth "$F" "$MIB" bf16
peak() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1; }
c=$(peak $BIN compress -q -f "$F" -o "$F.znn" --dtype bf16)
d=$(peak $BIN decompress -q -f "$F.znn" -o "$F.out")
cmp "$F" "$F.out"
printf 'file %d MiB: compressed to %s bytes; peak RSS compress %d MiB, decompress %d MiB; round trip identical\n' \
  "$MIB" "$(stat -c %s "$F.znn")" $((c / 1024)) $((d / 1024))
