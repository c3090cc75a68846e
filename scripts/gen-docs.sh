#!/usr/bin/env bash
# gen-docs: regenerate the blocks of docs/*.md that are command output, so
# the docs cannot drift from the model. Each block sits between
#   <!-- BEGIN generated NAME -->   and   <!-- END generated NAME -->
# and is replaced by the output of the command this script runs for NAME.
#
# Usage: scripts/gen-docs.sh          rewrite the blocks in place
#        scripts/gen-docs.sh --check  exit 1 if any block is stale (for CI)
#
# Runtime: about 5 minutes on 2 cores, almost all of it
# `moesim validate --sensitivity` (about 470 CPU-seconds: every predicted
# case at 0.8x and 1.2x of 16 constants, and tune at 0.8x and 1.2x of 9).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/gen-docs.sh [--check]" >&2; exit 2 ;;
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
    *) echo "gen-docs: no generator for block $1" >&2; exit 1 ;;
  esac
}

stale=0
for doc in docs/*.md; do
  names=$(sed -n 's/^<!-- BEGIN generated \([a-z0-9-]*\) -->$/\1/p' "$doc")
  [ -n "$names" ] || continue
  cp "$doc" "$tmp/doc.md"
  for name in $names; do
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
