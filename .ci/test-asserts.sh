#!/usr/bin/env bash
# test-asserts: every `func TestXxx(t *testing.T)` must be able to fail.
#
# A Test function's body (from its `func` line to the first line that is
# exactly `}`) must call one of t.Error, t.Errorf, t.Fatal, t.Fatalf,
# t.Fail or t.FailNow (on its own *testing.T, a subtest's, or a
# *rapid.T), or one of the assertion helpers listed in HELPERS below: each
# helper takes the test's T and fails it itself. A test that cannot do
# either (one that only logs or prints is a report, not a test) must be
# listed in .ci/test-asserts.allow as `TestName  reason`.
#
# Usage: .ci/test-asserts.sh [DIR]   (default: the repository root)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
allow="$(cd "$(dirname "$0")" && pwd)/test-asserts.allow"

# Assertion helpers: functions that receive the test's T and call
# t.Error/t.Fatal on it. Keep this list short and each name specific.
HELPERS=(
  golden              # scenarios/report: compares with a golden file, t.Fatalf on a difference
  checkScheduleResult # scenarios/schedule: a schedule run's invariants, t.Fatalf on a breach
)

helpers=$(IFS='|'; echo "${HELPERS[*]}")
fail_re="(^|[^A-Za-z0-9_.])[a-z][a-z]?[.](Error|Errorf|Fatal|Fatalf|Fail|FailNow)[(]"
helper_re="(^|[^A-Za-z0-9_.])(${helpers})[(]"

allowed() {
  [ -f "$allow" ] && grep -Eq "^$1([[:space:]]|$)" "$allow"
}

bad=0
while IFS= read -r f; do
  # Print "name<TAB>1" for tests whose body asserts, "name<TAB>0" otherwise.
  while IFS=$'\t' read -r name ok; do
    if [ "$ok" = 0 ] && ! allowed "$name"; then
      echo "${f#"$root"/}: $name asserts nothing (no t.Error/t.Fatal/t.Fail or helper call; see .ci/test-asserts.sh)"
      bad=1
    fi
  done < <(awk -v fail_re="$fail_re" -v helper_re="$helper_re" '
    /^func Test[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.T\)/ {
      name = $2; sub(/\(.*/, "", name); inbody = 1; ok = 0; next
    }
    inbody && ($0 ~ fail_re || $0 ~ helper_re) { ok = 1 }
    inbody && /^}/ { printf "%s\t%d\n", name, ok; inbody = 0 }
  ' "$f")
done < <(find "$root" -name '*_test.go' -not -path '*/.git/*' | sort)

if [ "$bad" != 0 ]; then
  exit 1
fi
echo "every Test function asserts"
