#!/usr/bin/env bash
# The test command: install dependencies, build a normal and an
# AddressSanitizer+UndefinedBehaviorSanitizer tree, run every test suite in
# both, then the kernel (QEMU), browser, fuzz and benchmark-smoke suites.
# Every suite prints a summary line; the last line is "N passed, M failed,
# K skipped". Nothing is skipped unless KC_SKIP names it (docs/testing.md);
# then the run ends "incomplete", which fails under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/testlib.sh
KC_SKIP_LOG=$(mktemp)
export KC_SKIP_LOG
asan_pid= asan_log=
cleanup() {
	[[ -z $asan_pid ]] || kill -- "-$asan_pid" 2>/dev/null || true
	rm -f "$KC_SKIP_LOG" "$asan_log"
}
trap cleanup EXIT
# Floors: how many tests a suite must have run (docs/testing.md).
WEB_TESTS=25          # tests/web/run.mjs, all of them
WEB_UNIT_TESTS=5      # tests/web/unit/*.test.mjs, all of them
WEB_DEMO_TESTS=4      # tests/web/demo.mjs, all of them
FUZZ_SECONDS=${KC_FUZZ_SECONDS:-45}

scripts/install-deps.sh
scripts/build.sh build
# The sanitized tree builds meanwhile at the lowest priority: every suite
# until ctest-asan is CPU-bound except the kernel tests' uniprocessor QEMU
# runs, which leave one of two cores idle for minutes; this build takes
# that core and hardly any other (nice 19 against 0: about 1.5% of a core
# it shares). Waited for (and its output shown on failure) before ctest-asan.
asan_log=$(mktemp)
# (setsid: its own process group, which cleanup kills if we stop first)
setsid nice -n 19 scripts/build.sh build-asan -DKC_SANITIZE=ON >"$asan_log" 2>&1 &
asan_pid=$!
# The plain tree runs every test but the PostgreSQL reruns of the SQLite
# integration tests (it_pg_*), which the sanitized tree runs with the rest,
# as the browser tests split below (docs/testing.md).
kc_suite ctest kc_ctest build '^it_pg_'
# The patched 6.1 kernel under QEMU: kselftest semantics, then kcov-collect in
# the guest -> kcovd -> import of the very vmlinux/.ko (docs/kernel.md). The
# kernel build is cached under /var/cache/kcov-kernel.
kc_suite kernel tests/kernel/run.sh
if ! wait "$asan_pid"; then
	cat "$asan_log"
	echo "FAIL: scripts/build.sh build-asan -DKC_SANITIZE=ON" >&2
	exit 1
fi
asan_pid=
export ASAN_OPTIONS=detect_leaks=1
kc_suite ctest-asan kc_ctest build-asan
# web/lib/ under node's test runner (no browser, no kcovd).
kc_suite web-unit kc_counted "$WEB_UNIT_TESTS" tests/web/unit/run.sh
# The web UI in Chromium against a kcovd with pushed (and imported) data;
# npm ci runs inside. Screenshots: build/tests/out/web/ (docs/web.md). The
# plain tree on SQLite, the sanitized one on PostgreSQL (a throw-away
# server): every browser test on both backends.
kc_suite web kc_counted "$WEB_TESTS" tests/web/run.sh build
kc_suite web-asan kc_counted "$WEB_TESTS" tests/web/run.sh build-asan --pg
# The run command's demo, loaded as scripts/run.sh loads it, walked in
# Chromium (the sanitized tree loads it in ctest's it_test_demo).
kc_suite web-demo kc_counted "$WEB_DEMO_TESTS" tests/web/run.sh build --demo
unset ASAN_OPTIONS
# Fuzz every parser of untrusted bytes for a bounded time (clang libFuzzer,
# ASan+UBSan; FUZZ_SECONDS per target, each with a floor of executed
# inputs): tests/fuzz/run.sh.
kc_suite fuzz tests/fuzz/run.sh "$FUZZ_SECONDS"
# Benchmarks at toy size (< 60 s; docs/performance.md is not touched): fails
# on errors, never on slow figures. The full run is bench/run.
kc_suite bench-smoke env KC_BENCH_BUILD=build KC_BENCH_REBUILD=0 bench/run --smoke
kc_summary
