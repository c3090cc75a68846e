#!/usr/bin/env bash
# gen-docs: regenerate the blocks of docs/*.md that are command output, so
# the docs cannot drift from the model. Each block sits between
#   <!-- BEGIN generated NAME -->   and   <!-- END generated NAME -->
# and is replaced by the output of the command this script runs for NAME.
#
# Usage: scripts/gen-docs.sh          rewrite the blocks in place
#        scripts/gen-docs.sh --check  exit 1 if any block is stale (for CI)
#        scripts/gen-docs.sh [--check] NAME...  only the blocks named
#
# Runtime: about 5 minutes on 2 cores, almost all of it
# `moesim validate --sensitivity` (about 470 CPU-seconds: every predicted
# case at 0.8x and 1.2x of 16 constants, and tune at 0.8x and 1.2x of 9).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
only=" $* "
case "$only" in
  *" -"*) echo "usage: scripts/gen-docs.sh [--check] [NAME...]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/moesim" ./cmd/moesim
moesim="$tmp/moesim"

# validate exits 1 when a case is outside its tolerance; its report is
# still the report.
validate() { "$moesim" validate "$@" || [ $? -eq 1 ]; }

# The scenario of docs/tuning.md's worked example.
cat > "$tmp/my-h200.yaml" <<'YAML'
name: my-h200-train
description: our 4-node H200 cluster, EP32, 4096 tokens per micro-batch, DualPipe
cluster:
  preset: h200
  nodes: 4
model:
  hidden: 7168
  experts: 256
  topk: 8
  max_nodes_per_token: 4
workload:
  tokens_per_gpu: 4096
  routing: node-limited
kernel:
  num_sms: 20
schedule:
  kind: dualpipe
YAML

fence() { echo '```'; cat; echo '```'; }

# A plan example's report from its Recommendation to the end of its
# Pareto front, and its Uncertainty table.
plan_head() { awk '/^Recommendation:/ {on = 1} /^Constraints:/ {exit} on' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
plan_uncertainty() { awk '/^Uncertainty:/ {on = 1} on && /^$/ {exit} on'; }

gen() { # NAME: write the block's new content to stdout
  case "$1" in
    validate-table) validate | fence ;;
    validate-sensitivity)
      # The validation table is the block above; keep the sensitivity.
      validate --sensitivity --format markdown | awk '/^### Sensitivity/ {on = 1} on' ;;
    tune-h200) { echo '$ moesim tune --scenario my-h200.yaml --sms 4..36'
                 "$moesim" tune --scenario "$tmp/my-h200.yaml" --sms 4..36; } | fence ;;
    tune-train) { echo '$ moesim tune --preset deepseek-v3-train --sms 4..40'
                  "$moesim" tune --preset deepseek-v3-train --sms 4..40; } | fence ;;
    tune-train-v2) { echo '$ moesim tune --preset deepseek-v3-train --set kernel.mode=v2 --sms 2..40 --range=false'
                     "$moesim" tune --preset deepseek-v3-train --set kernel.mode=v2 --sms 2..40 --range=false; } | fence ;;
    hardware-h200) "$moesim" presets show h200 --format markdown | tail -n +3 ;;
    hardware-h800) "$moesim" presets show h800 --format markdown | tail -n +3 ;;
    chunk-ep8)
      rm -f "$tmp/c8.jsonl"
      "$moesim" sweep --preset deepep-intranode-ep8 --vary kernel.dispatch.nvl_chunk=1,2,4,6,8,16,32,64,128 --out "$tmp/c8.jsonl" >/dev/null 2>&1
      echo '$ moesim sweep --preset deepep-intranode-ep8 --vary kernel.dispatch.nvl_chunk=1,2,4,6,8,16,32,64,128 --out c8.jsonl'
      "$moesim" report "$tmp/c8.jsonl" --format markdown | awk '/^\| #/ {on = 1} on' ;;
    chunk-ep32)
      rm -f "$tmp/c32.jsonl"
      "$moesim" sweep --preset deepep-internode-ep32 --vary kernel.dispatch.rdma_chunk=2,4,8,16,32,64 --out "$tmp/c32.jsonl" >/dev/null 2>&1
      echo '$ moesim sweep --preset deepep-internode-ep32 --vary kernel.dispatch.rdma_chunk=2,4,8,16,32,64 --out c32.jsonl'
      "$moesim" report "$tmp/c32.jsonl" --format markdown | awk '/^\| #/ {on = 1} on' ;;
    ripple-ep16)
      # Dispatch and combine columns of two sweeps, and the seeds' spread.
      points() { "$moesim" report "$1" --format markdown | awk '/^\| #/ {on = 1} on && /^\|/ && !/metric/ {print} on && /^$/ {exit}' | cut -d'|' -f1-8,12 | sed 's/ *$/ |/'; }
      for v in cluster.ib_latency_us=2,2.4,2.6,2.8,3,3.6 seed=42,43,44,45,46,47; do
        rm -f "$tmp/r.jsonl"
        "$moesim" sweep --preset deepep-internode-ep16 --vary "$v" --out "$tmp/r.jsonl" >/dev/null 2>&1
        echo
        echo "\`moesim sweep --preset deepep-internode-ep16 --vary $v\`:"
        echo
        points "$tmp/r.jsonl"
      done
      echo
      "$moesim" report "$tmp/r.jsonl" --format markdown | awk '/^\|.*metric/ {on = 1} on && /metric|--:|time_us|layer_us/'
      echo ;;
    plan-v3-train-nic|plan-v3-decode-ep|plan-v3-train-fabric|plan-v3-train-kernels)
      { echo "\$ moesim plan --example ${1#plan-}"
        "$moesim" plan --example "${1#plan-}" 2>/dev/null | plan_head; } | fence ;;
    plan-v3-train-nic-uncertainty|plan-v3-decode-ep-uncertainty)
      ex=${1#plan-}; "$moesim" plan --example "${ex%-uncertainty}" 2>/dev/null | plan_uncertainty | fence ;;
    fabric-ep128)
      # One EP128 dispatch (the EP64 preset on 16 nodes) on five fabrics.
      echo '| fabric | dispatch µs | RDMA GB/s | vs rail-only | dispatch bottleneck | combine µs |'
      echo '|---|---|---|---|---|---|'
      base=""
      while IFS='|' read -r label sets; do
        # shellcheck disable=SC2086 # sets is a list of flags
        row=$("$moesim" run --preset deepep-internode-ep64 --set cluster.nodes=16 $sets --format csv | sed -n 2p)
        t=$(echo "$row" | cut -d, -f10); bw=$(echo "$row" | cut -d, -f11)
        bn=$(echo "$row" | cut -d, -f13); ct=$(echo "$row" | cut -d, -f14)
        [ -n "$base" ] || base=$t
        awk -v l="$label" -v t="$t" -v b="$bw" -v base="$base" -v bn="$bn" -v c="$ct" \
          'BEGIN { printf "| %s | %.0f | %.1f | %.2f | %s | %.0f |\n", l, t, b, t / base, bn, c }'
      done <<'ROWS'
rail-only, one leaf per rail (default)|
fat-tree 1:1, 4 nodes per leaf, ECMP spray|--set cluster.fabric.kind=fat-tree --set cluster.fabric.nodes_per_leaf=4 --set cluster.fabric.ecmp=spray
fat-tree 1:1, 4 nodes per leaf, ECMP hash|--set cluster.fabric.kind=fat-tree --set cluster.fabric.nodes_per_leaf=4 --set cluster.fabric.ecmp=hash
fat-tree 2:1, 4 nodes per leaf, ECMP spray|--set cluster.fabric.kind=fat-tree --set cluster.fabric.nodes_per_leaf=4 --set cluster.fabric.leaf_oversubscription=2 --set cluster.fabric.ecmp=spray
fat-tree 2:1, 4 nodes per leaf, ECMP hash|--set cluster.fabric.kind=fat-tree --set cluster.fabric.nodes_per_leaf=4 --set cluster.fabric.leaf_oversubscription=2 --set cluster.fabric.ecmp=hash
ROWS
      ;;
    *) echo "gen-docs: no generator for block $1" >&2; exit 1 ;;
  esac
}

stale=0
for doc in docs/*.md; do
  names=$(sed -n 's/^<!-- BEGIN generated \([a-z0-9-]*\) -->$/\1/p' "$doc")
  [ -n "$names" ] || continue
  cp "$doc" "$tmp/doc.md"
  for name in $names; do
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then continue; fi
    gen "$name" > "$tmp/block"
    grep -qx "<!-- END generated $name -->" "$tmp/doc.md" || { echo "gen-docs: $doc: block $name has no END marker" >&2; exit 1; }
    awk -v name="$name" -v block="$tmp/block" '
      $0 == "<!-- BEGIN generated " name " -->" { print; while ((getline line < block) > 0) print line; skip = 1; next }
      $0 == "<!-- END generated " name " -->" { skip = 0 }
      !skip { print }
    ' "$tmp/doc.md" > "$tmp/doc.new"
    mv "$tmp/doc.new" "$tmp/doc.md"
  done
  if ! cmp -s "$doc" "$tmp/doc.md"; then
    if [ "$check" = 1 ]; then
      echo "gen-docs: $doc is stale; run scripts/gen-docs.sh" >&2
      diff -u "$doc" "$tmp/doc.md" | head -40 >&2 || true
      stale=1
    else
      cp "$tmp/doc.md" "$doc"
      echo "gen-docs: rewrote $doc"
    fi
  fi
done
exit "$stale"
