#!/usr/bin/env bash
# Are the .znn files this checkout writes byte-identical to those of revision REV? Builds REV's CLI
# in a throwaway worktree (dev profile: the bytes written do not depend on optimisation), compresses
# the shipped model and every corpus file (when ../shared is there) with both binaries and compares.
# usage: scripts/same-bytes.sh REV [BIN]   (BIN: this checkout's binary, default target/release/znn-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1
new=$(realpath "${2:-target/release/znn-gpu}")
work=$(mktemp -d /tmp/same-bytes.XXXXXX)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/src" "$rev"
# An old revision has no `cli` feature; a new one needs it (default features include it).
(cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo build -q --bin znn-gpu)
old="$work/target/debug/znn-gpu"
files=(data/mobilenet-v2.fp32.safetensors)
for f in ../shared/corpus/*.safetensors; do [ -f "$f" ] && files+=("$f"); done
status=0
for f in "${files[@]}"; do
  "$old" compress "$f" -o "$work/old.znn" >/dev/null
  "$new" compress "$f" -o "$work/new.znn" >/dev/null
  if cmp -s "$work/old.znn" "$work/new.znn"; then
    echo "identical: $f ($(stat -c %s "$work/new.znn") bytes, sha256 $(sha256sum <"$work/new.znn" | cut -c1-16))"
  else
    echo "DIFFERENT: $f"; status=1
  fi
  rm -f "$work/old.znn" "$work/new.znn"
done
exit $status
