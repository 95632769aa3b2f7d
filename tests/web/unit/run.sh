#!/usr/bin/env bash
# Unit tests of web/lib/ under node's built-in test runner; ends with the
# line "N passed, M failed" (scripts/testlib.sh kc_counted) and exits
# non-zero when a test failed or none ran.
set -uo pipefail
cd "$(dirname "$0")"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
node --test --test-reporter=tap ./*.test.mjs >"$out" 2>&1
rc=$?
cat "$out"
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -1)
echo "${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] && [ "${passed:-0}" -gt 0 ] && [ "${failed:-1}" -eq 0 ]
