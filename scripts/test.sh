#!/usr/bin/env bash
# The test command: install dependencies, build a normal and an
# AddressSanitizer+UndefinedBehaviorSanitizer tree, run every test in both,
# then the kernel (QEMU), browser, fuzz and benchmark-smoke tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
ctest --test-dir build --output-on-failure
# The patched 6.1 kernel under QEMU: kselftest semantics, then kcov-collect in
# the guest -> kcovd -> import of the very vmlinux/.ko (docs/kernel.md). The
# kernel build is cached under /var/cache/kcov-kernel.
tests/kernel/run.sh
scripts/build.sh build-asan -DKC_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure
# The web UI in Chromium against a kcovd with pushed (and imported) data;
# npm ci runs inside. Screenshots: build/tests/out/web/ (docs/web.md).
tests/web/run.sh build
ASAN_OPTIONS=detect_leaks=1 tests/web/run.sh build-asan
# Fuzz every parser of untrusted bytes for a bounded time (clang libFuzzer,
# ASan+UBSan; KC_FUZZ_SECONDS per target, 5 targets): tests/fuzz/run.sh.
tests/fuzz/run.sh "${KC_FUZZ_SECONDS:-45}"
# Benchmarks at toy size (< 60 s; docs/performance.md is not touched): fails
# on errors, never on slow figures. The full run is bench/run.
KC_BENCH_BUILD=build KC_BENCH_REBUILD=0 bench/run --smoke
