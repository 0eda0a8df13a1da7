#!/usr/bin/env bash
# Checkpoint-delta figures for the README: sizes of standalone archives against deltas
# (`compress NEW --base BASE`) on a training sequence and on fine-tune pairs, both made by
# examples/checkpoints.rs. Usage: scripts/delta-figures.sh [DIR]
#   DIR     where the checkpoints and archives go (kept); default a temporary folder under /dev/shm
#           (or $TMPDIR), removed at exit unless the script fails
#   PERIOD  checkpoints per period for periodic bases (default 5): checkpoints 0, P, 2P, ... are
#           standalone, every other one a delta against the first of its period
#   DTYPES  dtypes to measure (default "bf16 fp32")
#   STEPS, EVERY, SEED  passed to the generator (defaults 100, 10, 1: 10 checkpoints)
#   ZNN     the binary to measure (default target/release/znn-gpu, built here)
#   CODECS  the --codecs of every archive (default fast; smallest: rANS, format v4)
# Every archive is restored and compared with `cmp`; a difference stops the script with status 1.
# Markdown tables go to stdout, progress to stderr. A binary without `--base` gets n/a in the delta
# columns.
set -euo pipefail
cd "$(dirname "$0")/.."
PERIOD=${PERIOD:-5}
DTYPES=${DTYPES:-bf16 fp32}
STEPS=${STEPS:-100}
EVERY=${EVERY:-10}
SEED=${SEED:-1}
CODECS=${CODECS:-fast}
cargo build --release --quiet --bin znn-gpu --example checkpoints
BIN=${ZNN:-target/release/znn-gpu}
GEN=target/release/examples/checkpoints

if [ $# -ge 1 ]; then
    DIR=$1
    mkdir -p "$DIR"
else
    ROOT=/dev/shm
    [ -d "$ROOT" ] && [ -w "$ROOT" ] || ROOT=${TMPDIR:-/tmp}
    DIR=$(mktemp -d "$ROOT/delta-figures.XXXXXX")
    # Kept after a failure, for inspection.
    trap 'if [ $? = 0 ]; then rm -rf "$DIR"; else echo "files kept in $DIR" >&2; fi' EXIT
fi

if "$BIN" compress --help | grep -q -- '--base'; then
    DELTA=1
else
    DELTA=0
    echo "note: $BIN compress has no --base option: delta sizes are not measured (n/a)" >&2
fi
# zstd -3 of the whole-file XOR, as a reference for the delta codec; needs python3 and zstd.
XORREF=0
if command -v python3 >/dev/null && command -v zstd >/dev/null; then
    XORREF=1
fi

size() { stat -c %s "$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", 100 * a / b }'; }

fail() {
    echo "ROUND TRIP FAILED: $*" >&2
    exit 1
}

# Standalone archive of $1 at $2, checked by a round trip; prints its size.
standalone() {
    "$BIN" compress -q -f --codecs "$CODECS" "$1" -o "$2"
    "$BIN" decompress -q -f "$2" -o "$2.out"
    cmp -s "$1" "$2.out" || fail "$2 does not restore $1"
    rm -f "$2.out"
    size "$2"
}

# Delta archive of $1 against base $2 at $3, checked by a round trip; prints its size, or n/a.
delta() {
    if [ "$DELTA" = 0 ]; then
        echo n/a
        return
    fi
    "$BIN" compress -q -f --codecs "$CODECS" "$1" --base "$2" -o "$3"
    "$BIN" decompress -q -f "$3" --base "$2" -o "$3.out"
    cmp -s "$1" "$3.out" || fail "$3 with base $2 does not restore $1"
    rm -f "$3.out"
    size "$3"
}

# zstd -3 size of $1 XOR $2 (the shorter one padded with zeros), or n/a.
xorzstd() {
    if [ "$XORREF" = 0 ]; then
        echo n/a
        return
    fi
    python3 -c '
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
n = max(len(a), len(b))
x = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
sys.stdout.buffer.write(x.to_bytes(n, "little"))' "$1" "$2" | zstd -3 -q -c | wc -c
}

# "SIZE (PCT%)" of $1 bytes against $2 original bytes, or n/a.
cell() {
    if [ "$1" = n/a ]; then echo n/a; else echo "$1 ($(pct "$1" "$2")%)"; fi
}

sequence() {
    local dt=$1 d="$DIR/seq-$dt"
    mkdir -p "$d"
    echo "generating the $dt sequence in $d" >&2
    local t0=$SECONDS
    "$GEN" "$d" --steps "$STEPS" --every "$EVERY" --dtype "$dt" --seed "$SEED" 2>/dev/null
    echo "  $((SECONDS - t0)) s" >&2
    local files=("$d"/ckpt-*.safetensors)
    local n=${#files[@]}
    [ "$n" -ge 2 ] || { echo "fewer than 2 checkpoints in $d" >&2; exit 1; }
    echo
    echo "### $dt training sequence ($n checkpoints, every $EVERY steps; period $PERIOD)"
    echo
    echo "| checkpoint | original | standalone | chained delta | periodic delta (base) | zstd -3 of XOR prev |"
    echo "|---|---:|---:|---:|---:|---:|"
    local orig_sum=0 alone_sum=0 chain_sum=0 per_sum=0 i
    for ((i = 0; i < n; i++)); do
        local f=${files[$i]} name
        name=$(basename "$f" .safetensors)
        echo "  $name" >&2
        local orig alone chain per p x
        orig=$(size "$f")
        alone=$(standalone "$f" "$d/$name.znn")
        p=$((i / PERIOD * PERIOD))
        if [ "$i" = 0 ]; then
            chain=$alone
            x=-
        else
            chain=$(delta "$f" "${files[$((i - 1))]}" "$d/$name.chain.znn")
            x=$(cell "$(xorzstd "$f" "${files[$((i - 1))]}")" "$orig")
        fi
        if [ "$p" = "$i" ]; then
            per=$alone
        else
            per=$(delta "$f" "${files[$p]}" "$d/$name.period.znn")
        fi
        orig_sum=$((orig_sum + orig))
        alone_sum=$((alone_sum + alone))
        if [ "$chain" = n/a ] || [ "$chain_sum" = n/a ]; then chain_sum=n/a; else chain_sum=$((chain_sum + chain)); fi
        if [ "$per" = n/a ] || [ "$per_sum" = n/a ]; then per_sum=n/a; else per_sum=$((per_sum + per)); fi
        local cc pc
        if [ "$i" = 0 ]; then cc="(standalone)"; else cc=$(cell "$chain" "$orig"); fi
        if [ "$p" = "$i" ]; then
            pc="(standalone)"
        else
            pc="$(cell "$per" "$orig") ($(basename "${files[$p]}" .safetensors))"
        fi
        echo "| $name | $orig | $(cell "$alone" "$orig") | $cc | $pc | $x |"
    done
    echo
    echo "Totals over $n checkpoints of $orig_sum bytes: all standalone $(cell "$alone_sum" "$orig_sum"),"
    echo "chained $(cell "$chain_sum" "$orig_sum"), periodic (P = $PERIOD) $(cell "$per_sum" "$orig_sum")."
    echo "Restoring checkpoint i from the chain decodes checkpoints 0..i; a periodic delta needs"
    echo "only the base of its period."
}

finetune() {
    local dt=$1 d="$DIR/ft-$dt"
    mkdir -p "$d"
    echo "generating the $dt fine-tune pairs in $d" >&2
    local t0=$SECONDS
    "$GEN" "$d" --finetune --dtype "$dt" --seed "$SEED" 2>/dev/null
    echo "  $((SECONDS - t0)) s" >&2
    local base="$d/base.safetensors" orig alone
    orig=$(size "$base")
    alone=$(standalone "$base" "$d/base.znn")
    echo
    echo "### $dt fine-tune pairs (base: $orig bytes, standalone $(cell "$alone" "$orig"))"
    echo
    echo "| variant | original | standalone | delta against base | zstd -3 of XOR |"
    echo "|---|---:|---:|---:|---:|"
    local v f
    for v in ft-lora ft-head ft-reordered; do
        f="$d/$v.safetensors"
        echo "  $v" >&2
        orig=$(size "$f")
        alone=$(standalone "$f" "$d/$v.znn")
        local dl x
        dl=$(delta "$f" "$base" "$d/$v.delta.znn")
        # A whole-file XOR means nothing when the layouts differ.
        if [ "$v" = ft-reordered ]; then x=-; else x=$(cell "$(xorzstd "$f" "$base")" "$orig"); fi
        echo "| $v | $orig | $(cell "$alone" "$orig") | $(cell "$dl" "$orig") | $x |"
    done
}

for dt in $DTYPES; do
    sequence "$dt"
done
for dt in $DTYPES; do
    finetune "$dt"
done
if [ "$DELTA" = 0 ]; then
    echo
    echo "note: deltas not measured: this znn-gpu has no \`compress --base\`."
fi
