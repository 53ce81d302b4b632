#!/usr/bin/env bash
# Runs the given test tiers (folders under test/) with uvu through tsx, and ends with the line
# "N passed, N failed" summed over every tier. A tier that crashes before reporting counts as
# one failure. Exit status: 0 only when nothing failed.
# A tier folder holding a file named `.parallel` runs each of its files as a process of its own,
# all at once (the crash walk: its files wait on processes and Docker more than on the CPU).
# Each uvu process is stopped after BERTH_TEST_TIMEOUT seconds (default 1200): a hang is reported
# as that file or tier failing, with what it printed, not as a CI run that never ends.
# Each tier's wall time is printed after it.
set -uo pipefail
cd "$(dirname "$0")/.."
export FORCE_COLOR=0
passed=0; failed=0; skipped=0
limit=${BERTH_TEST_TIMEOUT:-1200}
uvu() { timeout --kill-after=20 "$limit" node_modules/.bin/tsx node_modules/uvu/bin.js "$@"; }
started=$SECONDS
# The CLI the tests spawn (bin/berth.mjs) is the compiled one, built from the sources as they are.
node scripts/build.mjs --quiet || { echo "the build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

# Adds one uvu run's counts (its output in $1, its exit code in $2, its name in $3).
count() {
  local clean total pass skip
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$1")
  total=$(grep -E '^ *Total: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  pass=$(grep -E '^ *Passed: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  skip=$(grep -E '^ *Skipped: +[0-9]+' <<<"$clean" | tail -1 | grep -oE '[0-9]+' || true)
  if [ -z "$total" ] || [ -z "$pass" ]; then
    if [ "$2" -eq 124 ] || [ "$2" -eq 137 ]; then echo "$3 stopped after ${limit} s (BERTH_TEST_TIMEOUT)"
    else echo "$3 crashed before reporting (exit $2)"; fi
    failed=$((failed + 1)); return
  fi
  passed=$((passed + pass)); skipped=$((skipped + ${skip:-0}))
  failed=$((failed + total - pass - ${skip:-0}))
  if [ "$2" -ne 0 ] && [ "$total" -eq "$pass" ]; then failed=$((failed + 1)); fi
}

for tier in "$@"; do
  [ -d "test/$tier" ] || continue
  ls test/"$tier"/*.test.ts >/dev/null 2>&1 || continue
  echo "── tier $tier"
  tier_start=$SECONDS
  if [ -f "test/$tier/.parallel" ]; then
    files=(test/"$tier"/*.test.ts); outs=(); pids=()
    for f in "${files[@]}"; do
      out=$(mktemp); outs+=("$out")
      uvu "test/$tier" "^$(basename "$f" | sed 's/\./\\./g')\$" >"$out" 2>&1 &
      pids+=($!)
    done
    for i in "${!files[@]}"; do
      wait "${pids[$i]}"; code=$?
      cat "${outs[$i]}"
      count "${outs[$i]}" "$code" "${files[$i]}"
      rm -f "${outs[$i]}"
    done
    echo "── tier $tier: $((SECONDS - tier_start)) s"
    continue
  fi
  out=$(mktemp)
  uvu "test/$tier" '.*\.test\.ts$' 2>&1 | tee "$out"
  code=${PIPESTATUS[0]}
  count "$out" "$code" "tier $tier"
  rm -f "$out"
  echo "── tier $tier: $((SECONDS - tier_start)) s"
done
echo "── all tiers: $((SECONDS - started)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
