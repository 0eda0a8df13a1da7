#!/usr/bin/env bash
# Load checks that CI does not run: peak memory (RSS), threads and open files of the CLI on
#  (a) many files: a folder of N synthetic safetensors shards of SHARD_MIB each, compressed and
#      decompressed one file per run (a loop), and as one folder run when `znn-gpu compress DIR`
#      exists in this build;
#  (b) one big stream: GIB GiB of synthetic BF16, generated on the fly into `compress -`, and
#      decompressed to stdout straight into `cmp` against a second generation of the same data.
#      The original is never stored, but `compress -` spools its input (it needs the length
#      before it writes), so the spool (GIB GiB, deleted at exit) and the archive (~0.7 x GIB) are
#      on disk in TMPDIR / DIR at the peak.
#
# usage: scripts/load-check.sh [many|stream|all] [options]
#   N=300 SHARD_MIB=4   shards of part (a)
#   GIBS="1 4"           sizes of part (b), one run each (32 for the 32 GiB figure: needs ~55 GiB
#                        free and ~GIB x 2 x 10 s on 2 cores)
#   DIR=$TMPDIR          where files go (removed at exit)
#   NO_BUILD=1           use the binaries already in target/release
#   ZNN_GPU=PATH         the znn-gpu binary to measure (default target/release/znn-gpu)
# Prints one line per measurement: what, wall seconds, peak RSS (MiB), max threads, max fds.
set -euo pipefail
WHAT=${1:-all}
N=${N:-300}; SHARD_MIB=${SHARD_MIB:-4}; GIBS=${GIBS:-"1 4"}
cd "$(dirname "$0")/.."
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release --quiet --example synth
  cargo build --release --quiet
fi
BIN=${ZNN_GPU:-$PWD/target/release/znn-gpu}; SYNTH=$PWD/target/release/examples/synth
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install -y time)"; exit 1; }
W=$(mktemp -d "${DIR:-${TMPDIR:-/tmp}}/znn-load.XXXXXX")
trap 'rm -rf "$W"' EXIT

# measure LABEL CMD...: runs CMD (a shell command line in "$@") and samples the znn-gpu processes it
# starts every 20 ms: threads (max over samples), open descriptors (max), VmHWM (peak RSS, max).
# GNU time's %M of the whole command line is reported too (the largest child's peak).
measure() {
  local label=$1; shift
  local out="$W/measure.$$"
  /usr/bin/time -f '%e %M' -o "$out.time" bash -c "$*" &
  local tpid=$! thr=0 fds=0 hwm=0
  # Processes come and go between the reads of a sample: no read may stop the script.
  set +e +o pipefail
  while kill -0 "$tpid" 2>/dev/null; do
    for p in $(pgrep -f "^$BIN " 2>/dev/null || true); do
      [ -r "/proc/$p/status" ] || continue
      local t h f
      t=$(awk '/^Threads:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      h=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      f=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
      [ "${t:-0}" -gt "$thr" ] && thr=$t
      [ "${h:-0}" -gt "$hwm" ] && hwm=$h
      [ "${f:-0}" -gt "$fds" ] && fds=$f
    done
    sleep 0.02
  done
  set -e -o pipefail
  wait "$tpid" || { echo "$label: FAILED"; return 1; }
  read -r secs maxkb < "$out.time"
  [ "$maxkb" -gt "$hwm" ] && hwm=$maxkb
  printf '%-44s %8.2f s  peak RSS %6d MiB  threads %3d  fds %4d\n' \
    "$label" "$secs" $((hwm / 1024)) "$thr" "$fds"
}

many() {
  local S="$W/shards"; mkdir -p "$S"
  # A pool of synthetic BF16 values, cut into shards at different offsets, each wrapped in a
  # one-tensor safetensors header (so that the safetensors path of the CLI is the one measured).
  local pool_mib=$((SHARD_MIB * 8 < 64 ? 64 : SHARD_MIB * 8))
  "$SYNTH" "$W/pool" "$pool_mib" bf16
  python3 - "$W/pool" "$S" "$N" "$SHARD_MIB" <<'EOF'
import json, os, sys
pool, out, n, mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(pool, "rb").read()
size = mib << 20
for i in range(n):
    off = (i * 7919 * 4096) % (len(data) - size)
    h = json.dumps({"__metadata__": {"shard": str(i)},
                    "w": {"dtype": "BF16", "shape": [size // 2], "data_offsets": [0, size]}}).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, f"model-{i:05d}-of-{n:05d}.safetensors"), "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + data[off:off + size])
EOF
  rm -f "$W/pool"
  echo "many files: $N shards of $SHARD_MIB MiB in $S ($(du -sh "$S" | cut -f1))"
  measure "compress: loop over $N files" \
    "for f in '$S'/*.safetensors; do '$BIN' compress -q \"\$f\" -o \"\$f.znn\"; done"
  measure "decompress: loop over $N files" \
    "for f in '$S'/*.safetensors; do '$BIN' decompress -q --device cpu \"\$f.znn\" -o \"\$f.back\"; done"
  local bad=0
  for f in "$S"/*.safetensors; do cmp -s "$f" "$f.back" || bad=$((bad + 1)); done
  echo "loop round trip: $bad of $N files differ"
  rm -f "$S"/*.znn "$S"/*.back
  # Folder support (`znn-gpu compress DIR [-o OUTDIR]`, FOLDER-NOTES.md): measured when this build
  # accepts a directory. Mirrored trees: shards -> shards.znn (one NAME.znn per shard) -> back.
  if "$BIN" compress --help 2>/dev/null | grep -qi 'folder\|director'; then
    measure "compress DIR -o DIR.znn ($N files)" "'$BIN' compress -q '$S' -o '$S.znn'"
    echo "folder compress wrote $(find "$S.znn" -type f -name '*.znn' | wc -l) .znn files ($(du -sh "$S.znn" | cut -f1))"
    measure "decompress DIR.znn -o DIR ($N files)" \
      "'$BIN' decompress -q --device cpu '$S.znn' -o '$W/back'"
    bad=0
    for f in "$S"/*.safetensors; do cmp -s "$f" "$W/back/$(basename "$f")" || bad=$((bad + 1)); done
    echo "folder round trip: $bad of $N files differ"
  else
    echo "compress DIR: not supported by this build"
  fi
  rm -rf "$S" "$S.znn" "$W/back"
}

stream() {
  local gib=$1 z="$W/stream.znn"
  local mib=$((gib * 1024))
  # synth writes to /dev/stdout: the original goes through a pipe only.
  TMPDIR="$W" measure "compress - ($gib GiB from a pipe)" \
    "'$SYNTH' /dev/stdout $mib bf16 | '$BIN' compress -q --dtype bf16 - -o '$z'"
  local zs; zs=$(stat -c %s "$z")
  measure "decompress -o - | cmp ($gib GiB)" \
    "cmp <('$SYNTH' /dev/stdout $mib bf16) <('$BIN' decompress -q --device cpu '$z' -o -)"
  echo "stream $gib GiB: archive $zs bytes ($(awk "BEGIN{printf \"%.2f\", 100*$zs/($mib*1048576)}")%), round trip identical"
  rm -f "$z"
}

case $WHAT in
  many) many ;;
  stream) for g in $GIBS; do stream "$g"; done ;;
  all) many; for g in $GIBS; do stream "$g"; done ;;
  *) echo "usage: $0 [many|stream|all]"; exit 2 ;;
esac
