#!/usr/bin/env bash
# Runs the given test tiers (folders under test/) with uvu through tsx, and ends with the line
# "N passed, N failed" summed over every tier. A tier that crashes before reporting counts as
# one failure. Exit status: 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_DISABLE_COLORS=1 FORCE_COLOR=0
passed=0; failed=0; skipped=0
for tier in "$@"; do
  [ -d "test/$tier" ] || continue
  ls test/"$tier"/*.test.ts >/dev/null 2>&1 || continue
  echo "── tier $tier"
  out=$(mktemp)
  node_modules/.bin/tsx node_modules/uvu/bin.js "test/$tier" '.*\.test\.ts$' 2>&1 | tee "$out"
  code=${PIPESTATUS[0]}
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
  total=$(grep -E '^ *Total: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  pass=$(grep -E '^ *Passed: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  skip=$(grep -E '^ *Skipped: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  rm -f "$out"
  if [ -z "$total" ] || [ -z "$pass" ]; then
    echo "tier $tier crashed before reporting (exit $code)"
    failed=$((failed + 1)); continue
  fi
  passed=$((passed + pass)); skipped=$((skipped + ${skip:-0}))
  failed=$((failed + total - pass - ${skip:-0}))
  if [ "$code" -ne 0 ] && [ "$total" -eq "$pass" ]; then failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
