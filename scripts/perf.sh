#!/usr/bin/env bash
# perf: rerun the whole-command measurements of docs/performance.md on this
# machine and print them as markdown rows. Timings depend on the machine
# and its load, so the docs record them with the machine they ran on; this
# script is how they were taken and how to take them again.
#
# Usage: scripts/perf.sh scale   the scaling table: each mode at EP8 to
#                                EP2048, 256 tokens per GPU, and the fitted
#                                growth exponents (about 1 minute on 2 cores;
#                                REPEAT=3 takes the median of 3 runs a point)
#        scripts/perf.sh large   the issue's large cases, EP2048 and EP4096
#                                (about 5 minutes on 2 cores, 5 GiB of memory)
#        scripts/perf.sh run N   N timings of `moesim run` (default scenario)
#        scripts/perf.sh commands
#                                the commands whose times the docs quote
#                                (tune, plan, a sweep, single points; about
#                                1 minute on 2 cores)
#
# Needs GNU time (/usr/bin/time) and python3 (for the JSON and the fit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/moesim" ./cmd/moesim
moesim="$tmp/moesim"

# timed LABEL ARGS...: `moesim run ARGS --format json` REPEAT times (1
# unless set), printed as LABEL|events|wall s|CPU s|peak MiB, each the
# median over the runs: on a noisy machine one run a point moves a fitted
# exponent by about 0.1.
timed() {
  local label=$1
  shift
  : > "$tmp/times"
  for _ in $(seq "${REPEAT:-1}"); do
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$moesim" run "$@" --format json > "$tmp/out.json"
    cat "$tmp/time" >> "$tmp/times"
  done
  python3 - "$label" "$tmp/out.json" "$tmp/times" <<'PY'
import json, statistics, sys
label, out, tm = sys.argv[1:4]
r = json.load(open(out))
runs = [l.split() for l in open(tm) if l.strip()]
wall = statistics.median(float(x[0]) for x in runs)
cpu = statistics.median(float(x[1]) + float(x[2]) for x in runs)
kb = statistics.median(int(x[3]) for x in runs)
ev = r["dispatch"]["events"] + r["combine"]["events"]
print(f"{label}|{ev:,}|{wall:.2f}|{cpu:.2f}|{kb / 1024:.0f}")
PY
}

case "${1:-}" in
scale)
  echo "| mode | ranks | events (dispatch + combine) | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---|---|---|---|"
  for mode in alltoall low-latency normal; do
    for nodes in 1 8 32 128 256; do
      ranks=$((nodes * 8))
      experts=$((ranks > 256 ? ranks : 256))
      extra=()
      if [ "$nodes" = 1 ]; then extra=(--set model.max_nodes_per_token=1); fi
      timed "$mode|$ranks" --set cluster.nodes=$nodes --set model.experts=$experts \
        --set workload.tokens_per_gpu=256 --set kernel.mode=$mode --set kernel.num_sms=24 \
        --set kernel.extrapolate=true "${extra[@]}"
    done
  done | tee "$tmp/rows" | awk -F'|' '{printf "| %s | EP%s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}'
  echo
  # Least squares of log time (and log events) on log ranks, EP64 to
  # EP2048: EP8 is below the clock's resolution.
  python3 - "$tmp/rows" <<'PY'
import math, sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
def slope(xs, ys):
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
for mode in ("alltoall", "low-latency", "normal"):
    pts = [(int(r[1]), int(r[2].replace(",", "")), float(r[3]), float(r[4])) for r in rows if r[0] == mode and int(r[1]) >= 64]
    lr = [math.log(p[0]) for p in pts]
    kw = slope(lr, [math.log(max(p[2], 0.005)) for p in pts])
    kc = slope(lr, [math.log(max(p[3], 0.005)) for p in pts])
    ke = slope(lr, [math.log(p[1]) for p in pts])
    print(f"{mode}: time ~ ranks^{kw:.2f} (wall), ^{kc:.2f} (CPU); events ~ ranks^{ke:.2f}")
PY
  ;;
large)
  echo "| case | events (dispatch + combine) | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---|---|---|"
  {
    timed "all-to-all EP2048, 4096 tokens/GPU" --set cluster.nodes=256 --set model.experts=2048 \
      --set workload.tokens_per_gpu=4096 --set kernel.mode=alltoall
    timed "low-latency EP2048, 256 tokens/GPU" --set cluster.nodes=256 --set model.experts=2048 \
      --set workload.tokens_per_gpu=256 --set kernel.mode=low-latency
    timed "low-latency EP4096, 256 tokens/GPU" --set cluster.nodes=512 --set model.experts=4096 \
      --set workload.tokens_per_gpu=256 --set kernel.mode=low-latency
    timed "normal EP2048, 4096 tokens/GPU, extrapolated" --set cluster.nodes=256 --set model.experts=2048 \
      --set workload.tokens_per_gpu=4096 --set kernel.num_sms=24 --set kernel.extrapolate=true
    # The issue's other EP2048: 256 experts copied 8 times.
    timed "all-to-all EP2048, 256 experts x 8, 4096 tokens/GPU" --set cluster.nodes=256 --set model.experts=256 \
      --set model.redundant_experts=1792 --set workload.tokens_per_gpu=4096 --set kernel.mode=alltoall
    timed "low-latency EP2048, 256 experts x 8, 256 tokens/GPU" --set cluster.nodes=256 --set model.experts=256 \
      --set model.redundant_experts=1792 --set workload.tokens_per_gpu=256 --set kernel.mode=low-latency
    timed "normal EP4096, 256 tokens/GPU, extrapolated" --set cluster.nodes=512 --set model.experts=4096 \
      --set workload.tokens_per_gpu=256 --set kernel.num_sms=24 --set kernel.extrapolate=true
  } | awk -F'|' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
  ;;
commands)
  # cmd LABEL ARGS...: one moesim command, as LABEL|wall s|CPU s|peak MiB.
  cmd() {
    local label=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$moesim" "$@" > /dev/null 2>&1
    read -r wall user sys_ kb < "$tmp/time"
    echo "$label|$wall|$(printf '%.2f' "$(echo "$user + $sys_" | bc)")|$((kb / 1024))"
  }
  echo "| command | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---|---|"
  # The labels are Markdown: their backticks are meant literally.
  # shellcheck disable=SC2016
  {
    cmd '`moesim run` (default: EP64, 4096 tokens/GPU)' run
    cmd '`moesim run --set cluster.nodes=2 --set model.max_nodes_per_token=2` (EP16)' run --set cluster.nodes=2 --set model.max_nodes_per_token=2
    cmd '`moesim run --set cluster.nodes=16 --set kernel.extrapolate=true` (EP128)' run --set cluster.nodes=16 --set kernel.extrapolate=true
    cmd '`moesim sweep` of 8 EP64 points (`--vary seed=1,2 --vary kernel.num_sms=16,24 --vary cluster.nic_GBps=25,50`)' \
      sweep --vary seed=1,2 --vary kernel.num_sms=16,24 --vary cluster.nic_GBps=25,50 --out "$tmp/sweep.jsonl"
    cmd '`moesim tune` (default: 4..48 SMs and the uncertainty reruns)' tune
    cmd '`moesim tune --range=false`' tune --range=false
    cmd '`moesim plan --example v3-train-nic`' plan --example v3-train-nic
    "$moesim" plan --example v3-train-nic --show |
      sed 's/workload.tokens_per_gpu: 1024/workload.tokens_per_gpu: 4096/' > "$tmp/nic4096.yaml"
    cmd '`moesim plan` of v3-train-nic at 4096 tokens/GPU, `--no-uncertainty`' plan "$tmp/nic4096.yaml" --no-uncertainty
    cmd '`moesim validate`' validate
  } | awk -F'|' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}'
  ;;
run)
  n=${2:-10}
  for _ in $(seq "$n"); do
    /usr/bin/time -f '%e' -o "$tmp/time" "$moesim" run > /dev/null
    cat "$tmp/time"
  done | sort -n | tr '\n' ' '
  echo
  ;;
*)
  echo "usage: scripts/perf.sh scale|large|commands|run [N]" >&2
  exit 2
  ;;
esac
