#!/usr/bin/env bash
# Kernel tests: build (or reuse) the KCOV_UNIQUE test kernels (the default
# configuration, then smp-kasan: SMP, PREEMPT, KASAN, comparisons; see
# kernel/build.sh), boot each under QEMU and check
#   1. the kernel semantics with the kselftest tools/testing/selftests/kcov
#      (compiled statically on the host, run in the guest), and
#   2. the end-to-end path, see tests/kernel/e2e.sh (KC_SKIP=kernel-e2e skips
#      it, loudly, and the test command then ends incomplete), and
#   3. the overflow experiment at its smoke size, trace against unique mode
#      under a fuzzer-like load, see tests/kernel/overflow-experiment.sh
#      (KC_SKIP=kernel-overflow skips it, as loudly), on the default
#      configuration (KC_KERNEL_OVERFLOW=all: on smp-kasan too), and
#   4. after both configurations, the default build's coverage merged onto
#      the smp-kasan build, see tests/kernel/e2e-merge.sh (runs whenever
#      both end-to-end tests ran), and
#   5. the default build's coverage merged onto a patched build of it (a
#      small change to fs/read_write.c, rebuilt incrementally from the cached
#      tree by kernel/build-patched.sh and booted with the same workload), see
#      tests/kernel/e2e-patched.sh (runs whenever the default e2e ran; before
#      the smp-kasan tests, while that kernel builds).
# Fails on any failure, and on a kernel warning in any serial log. Kernel sources and builds stay outside the repository
# (kernel/build.sh caches them under /var/cache/kcov-kernel).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/testlib.sh
repo=$PWD
t0=$(date +%s)
work=$(mktemp -d)
smp_pid=
trap '[[ -z $smp_pid ]] || kill -- "-$smp_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

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
gcc -O2 -Wall -static -pthread -o "$work/kcov_unique_test" "$src"

# One configuration: build (or reuse), selftest in the guest, then the e2e.
run_config() { # CONFIG TIMEOUT_S
	local cfg=$1 tmo=$2 kdir t1 t2 t3 fail=0 npass res
	t1=$(date +%s)
	kdir=$(kernel/build.sh --config "$cfg")
	t2=$(date +%s)
	echo "kernel [$cfg]: $kdir ($((t2 - t1))s)"
	# Link-time _text of this vmlinux, to locate the module in canonical PCs.
	awk '$3 == "_text" { print $1; exit }' "$kdir/System.map" > "$work/link_text"
	res=$work/results-$cfg
	kernel/qemu-run.sh -k "$kdir" -s tests/kernel/guest-selftest.sh -o "$res" \
		-l "$work/serial-$cfg.log" -t "$tmo" \
		-f "$work/kcov_unique_test:/kcov_unique_test" -f "$work/link_text:/link_text"
	t3=$(date +%s)
	tr -d '\r' < "$res" > "$res.txt"
	sed 's/^/  guest: /' "$res.txt"
	grep -q '^END-OF-RESULTS' "$res.txt" || { echo "FAIL [$cfg]: results incomplete"; fail=1; }
	grep -q '^selftest_rc=0$' "$res.txt" || { echo "FAIL [$cfg]: selftest status"; fail=1; }
	if grep -q '^not ok' "$res.txt"; then
		# Named on the FAIL line: a CI log may keep only its last lines.
		echo "FAIL [$cfg]: selftest failures: $(grep '^not ok' "$res.txt" | sed 's/^not ok [0-9]* - //' | tr '\n' ' ')"
		fail=1
	fi
	if grep -q '# SKIP' "$res.txt"; then echo "FAIL [$cfg]: selftest skipped checks"; fail=1; fi
	npass=$(grep -c '^ok ' "$res.txt" || true)
	((npass >= 30)) || { echo "FAIL [$cfg]: only $npass checks passed"; fail=1; }
	kernel_log_clean "$work/serial-$cfg.log" || fail=1
	echo "selftest [$cfg]: $npass checks passed, boot+run $((t3 - t2))s"
	((fail == 0)) || return 1
	if ! kc_skipped kernel-e2e "the kernel end-to-end test"; then
		KCOV_E2E_TIMEOUT=$tmo KCOV_E2E_SAVE_SPOOL=$work/spool-$cfg \
			bash tests/kernel/e2e.sh "$kdir" || return 1
		echo "$kdir" > "$work/kdir-$cfg"
	fi
	# The experiment's smoke size on the small kernel (3.5 min here); on
	# smp-kasan it takes 12 min under TCG, so there only with
	# KC_KERNEL_OVERFLOW=all (docs/overflow-stats.md has both results).
	if [ "$cfg" = default ] || [ "${KC_KERNEL_OVERFLOW:-}" = all ]; then
		if ! kc_skipped kernel-overflow "the kernel overflow experiment (smoke size)"; then
			bash tests/kernel/overflow-experiment.sh "$kdir" smoke || return 1
		fi
	fi
}

# The small uniprocessor kernel, then the same series on SMP (-smp 4) with
# PREEMPT, KASAN and comparison operands (KC_SKIP=kernel-smp-kasan skips the
# second, loudly; the test command then ends incomplete).
smp=1
kc_skipped kernel-smp-kasan "the SMP+PREEMPT+KASAN kernel configuration" && smp=0
# The default kernel first; then the smp-kasan one builds (when not cached)
# while the default one's tests run: they boot a uniprocessor guest, one
# busy core for minutes, and the build takes the other (nice 10: the guest
# keeps the core it shares). run_config finds it cached.
t1=$(date +%s)
kernel/build.sh --config default >/dev/null
echo "kernel [default]: built or found in $(($(date +%s) - t1))s"
if ((smp)); then
	setsid nice -n 10 kernel/build.sh --config smp-kasan >"$work/smp-build.log" 2>&1 &
	smp_pid=$!
fi
run_config default 180
# 5. The default build's coverage merged onto a patched build of the same
# tree (another source text): shifted lines keep it, the changed one is lost.
# Before the smp-kasan tests: its guest is uniprocessor too, so the
# smp-kasan build still has a core beside it.
if [[ -s $work/kdir-default ]]; then
	t1=$(date +%s)
	kp=$(kernel/build-patched.sh "$(cat "$work/kdir-default")" \
		kernel/test-patches/e2e-read_write.patch)
	echo "kernel [patched]: $kp ($(( $(date +%s) - t1 ))s)"
	KCOV_E2E_TIMEOUT=180 bash tests/kernel/e2e-patched.sh "$(cat "$work/kdir-default")" \
		"$work/spool-default" "$kp"
fi
if ((smp)); then
	t1=$(date +%s)
	if ! wait "$smp_pid"; then
		smp_pid=
		cat "$work/smp-build.log"
		echo "FAIL: kernel/build.sh --config smp-kasan"
		exit 1
	fi
	smp_pid=
	echo "kernel [smp-kasan]: built beside the default tests, waited $(($(date +%s) - t1))s for it"
	run_config smp-kasan 600
fi
# 4. The default build's coverage merged onto the smp-kasan build (same
# source, other instrumentation), see tests/kernel/e2e-merge.sh: after both
# end-to-end tests, which saved a spool and their kernel directory.
if [[ -s $work/kdir-default && -s $work/kdir-smp-kasan ]]; then
	bash tests/kernel/e2e-merge.sh "$(cat "$work/kdir-default")" "$work/spool-default" \
		"$(cat "$work/kdir-smp-kasan")"
fi
echo "kernel tests passed in $(( $(date +%s) - t0 ))s"
