#!/usr/bin/env bash
# Side by side in one run: znn-gpu bench and the ZipNN 0.5.4 reference (../shared/tools) on FILE,
# at 1 and 2 threads, file to file on the same filesystem (put FILE on tmpfs, /dev/shm).
# The znn-gpu bench is repeated REPEAT times (default 3) and the best of each figure is printed,
# because the VMs here see ±25% host noise between invocations (ZipNN's script is best-of-RUNS too).
# usage: [REPEAT=3] scripts/compare-zipnn.sh FILE [bfloat16|float16|float32] [RUNS=5]
set -euo pipefail
F=${1:?usage: compare-zipnn.sh FILE [DTYPE] [RUNS]}; DT=${2:-bfloat16}; RUNS=${3:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=${ZIPNN_BASELINE:-$HERE/../shared/tools/zipnn-baseline.sh}
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
case $DT in bfloat16) D=bf16;; float16) D=fp16;; *) D=fp32;; esac
echo "== znn-gpu ($(nproc) cores), best of ${REPEAT:-3} invocations x $RUNS runs"
for i in $(seq 1 "${REPEAT:-3}"); do
  "$HERE/target/release/znn-gpu" --threads 2 bench "$F" --dtype "$D" --runs "$RUNS" --device cpu --json
done | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
best = {k: max(r[k] for r in rows) for k in rows[0] if k.endswith("_gbs") or "_gbs_" in k}
r = rows[0]
print("size %.2f%% (zstd -3: %.2f%%)" % (r["ratio_percent"], r["zstd3_ratio_percent"]))
for k, v in best.items():
    print("  %-28s %6.2f GB/s" % (k, v))
'
if [[ -x $BASE || -f $BASE ]]; then
  for t in 1 2; do echo "== ZipNN 0.5.4, $t thread(s)"; bash "$BASE" "$F" "$DT" "$t" "$RUNS"; done
else
  echo "ZipNN baseline script not found at $BASE (set ZIPNN_BASELINE)"
fi
