#!/usr/bin/env bash
# One-call GPU check for a lent NVIDIA machine (H100/H200), or a dry run on lavapipe here.
#
#   scripts/gpu-device-check.sh            # on the device: 4 GiB of synthetic BF16 weights
#   ZNN_CHECK_MIB=64 scripts/gpu-device-check.sh   # a dry run with a small input
#
# What it does, within ~8 minutes on an H200 (16 cores):
#   1. Vulkan: unpacks the carried loader debs (.gl/*.deb, see the device README) when no
#      libvulkan is installed, and points VK_DRIVER_FILES at NVIDIA's ICD when one is there.
#   2. Binaries: $ZNN_BIN / $ZNN_SYNTH, else carried .bin/znn-gpu and .bin/synth, else
#      target/release/{znn-gpu,examples/synth}, else `cargo build --release` (when cargo exists).
#   3. Makes $ZNN_CHECK_MIB MiB (default 4096) of BF16 weights (examples/synth.rs), compresses
#      them, decompresses on the GPU and on the CPU and compares both with the input byte for
#      byte, runs `verify --device gpu`, and `bench FILE --gpu` (text and JSON) on it and on the
#      shipped model (data/); then a fine-tuned copy (every weight moved by ~0.2%) stored as a delta
#      against it, decompressed with --base on the GPU (delta chunks fuse: the base is XORed in
#      the fused kernel) and on the CPU, compared, verified, with both -v lines in the report;
#      then the same delta with --codecs smallest (both XOR streams rANS or Huffman coded, decoded
#      together in the fused kernel), likewise.
#   4. Writes everything under $OUT (default ./gpu-check-out): report.txt (the summary), the
#      bench outputs, the adapter listing and the log.
#
# Carry for a device call: the release binary and the synth example, stripped (about 10 MB):
#   mkdir -p .bin && cp target/release/znn-gpu target/release/examples/synth .bin/ &&
#   strip .bin/* && echo /.bin/ >> .git/info/exclude
# then run with carry [".gl", ".bin"] and command `bash scripts/gpu-device-check.sh`.
set -uo pipefail

OUT=${OUT:-$PWD/gpu-check-out}
MIB=${ZNN_CHECK_MIB:-4096}
RUNS=${ZNN_CHECK_RUNS:-5}
WORK=${ZNN_CHECK_WORK:-$(mktemp -d /tmp/znn-gpu-check.XXXXXX)}
mkdir -p "$OUT" "$WORK"
LOG=$OUT/log.txt
: >"$LOG"
say() { echo "$*" | tee -a "$OUT/report.txt"; }
run() { echo "+ $*" >>"$LOG"; "$@" 2>>"$LOG"; }
fail() {
    say "FAILED: $*"
    exit 1
}
: >"$OUT/report.txt"
say "gpu-device-check: $(date -u +%FT%TZ), ${MIB} MiB BF16 input, $(nproc) cores"

# 1. Vulkan loader and driver.
if ! ldconfig -p 2>/dev/null | grep -q libvulkan; then
    if ls .gl/*.deb >/dev/null 2>&1; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ]; then
    export VK_DRIVER_FILES=$nv_icd
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR=$WORK/xdg
    mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
fi
command -v nvidia-smi >/dev/null && nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1

# 2. Binaries.
pick() {
    for c in "$@"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            echo "$c"
            return
        fi
    done
}
BIN=$(pick "${ZNN_BIN:-}" .bin/znn-gpu target/release/znn-gpu)
SYNTH=$(pick "${ZNN_SYNTH:-}" .bin/synth target/release/examples/synth)
if { [ -z "$BIN" ] || [ -z "$SYNTH" ]; } && command -v cargo >/dev/null; then
    run cargo build --release --bin znn-gpu --example synth || fail "cargo build"
    BIN=target/release/znn-gpu
    SYNTH=target/release/examples/synth
fi
[ -n "$BIN" ] && [ -n "$SYNTH" ] || fail "no znn-gpu/synth binary (carry .bin or build)"
say "binary: $BIN ($("$BIN" --version 2>/dev/null))"

# 3. Input, correctness, bench.
t0=$(date +%s)
run "$SYNTH" "$WORK/w.bf16" "$MIB" bf16 || fail "synth"
run "$BIN" -q compress "$WORK/w.bf16" -o "$WORK/w.znn" --dtype bf16 -f || fail "compress"
say "compressed: $(stat -c %s "$WORK/w.bf16") -> $(stat -c %s "$WORK/w.znn") bytes ($(($(date +%s) - t0)) s so far)"
run "$BIN" -q -v decompress "$WORK/w.znn" -o "$WORK/gpu.out" -f --device gpu || fail "GPU decompress"
grep "device:" "$LOG" | tail -1 | tee -a "$OUT/report.txt"
if grep "device:" "$LOG" | tail -1 | grep -qi "cpu"; then
    say "note: the adapter in use is a CPU (software) device: figures are not GPU speeds"
fi
cmp "$WORK/gpu.out" "$WORK/w.bf16" || fail "GPU output differs from the input"
rm -f "$WORK/gpu.out"
run "$BIN" -q decompress "$WORK/w.znn" -o "$WORK/cpu.out" -f --device cpu || fail "CPU decompress"
cmp "$WORK/cpu.out" "$WORK/w.bf16" || fail "CPU output differs from the input"
rm -f "$WORK/cpu.out"
say "check: GPU output == CPU output == input (${MIB} MiB)"
run "$BIN" -q -v verify "$WORK/w.znn" --device gpu || fail "verify --device gpu"
say "check: verify --device gpu passed"
run "$BIN" -q bench "$WORK/w.znn" --gpu --runs "$RUNS" >"$OUT/bench-large.txt" || fail "bench"
run "$BIN" -q bench "$WORK/w.znn" --gpu --runs "$RUNS" --json >"$OUT/bench-large.json" || fail "bench json"
cat "$OUT/bench-large.txt" | tee -a "$OUT/report.txt" >/dev/null
for m in data/*.safetensors; do
    [ -f "$m" ] || continue
    run "$BIN" -q bench "$m" --gpu --runs "$RUNS" >"$OUT/bench-$(basename "$m" .safetensors).txt" ||
        fail "bench $m"
    say "--- $(basename "$m")"
    cat "$OUT/bench-$(basename "$m" .safetensors).txt" >>"$OUT/report.txt"
done
# 4. A checkpoint delta: the moved copy against the input.
run "$SYNTH" "$WORK/ft.bf16" "$MIB" bf16 moved || fail "synth moved"
# check_delta NAME FILE [COMPRESS OPTIONS]: the moved copy compressed against the input into FILE,
# decompressed on the GPU and on the CPU (both -v lines in the report), the GPU output compared
# with the input byte for byte, and verify --device gpu --base.
check_delta() {
    local name=$1 z=$2 dev
    shift 2
    run "$BIN" -q compress "$WORK/ft.bf16" --base "$WORK/w.bf16" -o "$z" --dtype bf16 -f "$@" ||
        fail "$name: compress --base $*"
    say "$name: $(stat -c %s "$WORK/ft.bf16") -> $(stat -c %s "$z") bytes"
    for dev in gpu cpu; do
        : >"$WORK/v.txt"
        "$BIN" -q -v decompress "$z" --base "$WORK/w.bf16" -o /dev/null -f --device $dev \
            2>"$WORK/v.txt" || { cat "$WORK/v.txt" >>"$LOG"; fail "$name decompress --device $dev"; }
        sed "s/^/$name $dev to \/dev\/null: /" "$WORK/v.txt" | tee -a "$OUT/report.txt" >/dev/null
    done
    run "$BIN" -q decompress "$z" --base "$WORK/w.bf16" -o "$WORK/gpu.out" -f --device gpu ||
        fail "$name GPU decompress"
    cmp "$WORK/gpu.out" "$WORK/ft.bf16" || fail "$name GPU output differs from the input"
    rm -f "$WORK/gpu.out"
    run "$BIN" -q verify "$z" --base "$WORK/w.bf16" --device gpu || fail "$name verify"
    say "check: $name GPU output == input, verify --device gpu --base passed"
    rm -f "$z"
}
rm -f "$WORK/w.znn"
check_delta delta "$WORK/ft.znn"
# 5. The same delta with --codecs smallest (format v4): its XOR streams are rANS (or Huffman)
# coded, both decoded by the fused kernel (shaders/fused_decode.wgsl).
check_delta "delta smallest" "$WORK/ft4.znn" --codecs smallest
rm -rf "$WORK"
say "done in $(($(date +%s) - t0)) s"
