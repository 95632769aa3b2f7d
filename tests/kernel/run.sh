#!/usr/bin/env bash
# Kernel tests: build (or reuse) the KCOV_UNIQUE test kernel, boot it under
# QEMU and check
#   1. the kernel semantics with the kselftest tools/testing/selftests/kcov
#      (compiled statically on the host, run in the guest), and
#   2. the end-to-end path, see tests/kernel/e2e.sh (KC_SKIP=kernel-e2e skips
#      it, loudly, and the test command then ends incomplete).
# Fails on any failure, and on a kernel warning in any serial log. Kernel sources and builds stay outside the repository
# (kernel/build.sh caches them under /var/cache/kcov-kernel).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/testlib.sh
repo=$PWD
t0=$(date +%s)
kdir=$(kernel/build.sh)
t1=$(date +%s)
echo "kernel: $kdir ($((t1 - t0))s)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The selftest source is part of the patch series: take the new file
# tools/testing/selftests/kcov/kcov_unique_test.c out of its patch.
src=$work/kcov_unique_test.c
awk '
	/^\+\+\+ b\// { on = ($2 == "b/tools/testing/selftests/kcov/kcov_unique_test.c"); next }
	on && /^@@/ { next }
	on && /^\+/ { print substr($0, 2); next }
	on { on = 0 }
' kernel/patches/*.patch > "$src"
[[ -s $src ]] || { echo "FAIL: selftest source not found in kernel/patches"; exit 1; }
gcc -O2 -Wall -static -o "$work/kcov_unique_test" "$src"
# Link-time _text of this vmlinux, to locate the module in canonical PCs.
link_text=$(awk '$3 == "_text" { print $1; exit }' "$kdir/System.map")
echo "$link_text" > "$work/link_text"

kernel/qemu-run.sh -k "$kdir" -s tests/kernel/guest-selftest.sh -o "$work/results" \
	-l "$work/serial.log" -t 180 \
	-f "$work/kcov_unique_test:/kcov_unique_test" -f "$work/link_text:/link_text"
t2=$(date +%s)
tr -d '\r' < "$work/results" > "$work/results.txt"
sed 's/^/  guest: /' "$work/results.txt"
fail=0
grep -q '^END-OF-RESULTS' "$work/results.txt" || { echo "FAIL: results incomplete"; fail=1; }
grep -q '^selftest_rc=0$' "$work/results.txt" || { echo "FAIL: selftest status"; fail=1; }
if grep -q '^not ok' "$work/results.txt"; then echo "FAIL: selftest failures"; fail=1; fi
if grep -q '# SKIP' "$work/results.txt"; then echo "FAIL: selftest skipped checks"; fail=1; fi
npass=$(grep -c '^ok ' "$work/results.txt" || true)
((npass >= 20)) || { echo "FAIL: only $npass checks passed"; fail=1; }
kernel_log_clean "$work/serial.log" || fail=1
echo "selftest: $npass checks passed, boot+run $((t2 - t1))s"
((fail == 0)) || exit 1

if ! kc_skipped kernel-e2e "the kernel end-to-end test"; then
	bash tests/kernel/e2e.sh "$kdir"
fi
echo "kernel tests passed in $(( $(date +%s) - t0 ))s"
