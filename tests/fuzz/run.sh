#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) straight from the sources, and run
# each one for a bounded time on a scratch copy of its committed seed
# corpus, as many at a time as there are CPUs. Fails when a target crashes,
# leaks, times out or breaks an invariant; the input is left in
# BUILD/artifacts/TARGET/ and belongs, once the bug is fixed, in
# tests/fuzz/regressions/TARGET/ (ctest replays it).
#
# Each target must also execute at least KC_FUZZ_MIN_EXECS inputs (default
# 500 per second of its time; the slowest target, symbolize, runs 2,600-12,000
# per second here, depending on the load), so a target that stalls on its
# seeds cannot pass.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   env: KC_FUZZ_BUILD (default build-fuzz), CC (default clang), KC_FUZZ_MIN_EXECS
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-45}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(wire_frame wire_payload wire_v2 kallsyms ingest symbolize syzkaller maintainers)
fi
MIN_EXECS=${KC_FUZZ_MIN_EXECS:-$((SECONDS_EACH * 500))}
BUILD=${KC_FUZZ_BUILD:-build-fuzz}
CC=${CC:-clang}
mkdir -p "$BUILD/obj"
BUILD=$(cd "$BUILD" && pwd) # absolute: the schema is written through cmake -P

CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
        -include common/banned.h -Icommon -Iserver/store -Iserver/build $(pkg-config --cflags libpq) -Icollector -Itests/fuzz
        -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all)
LIBS=(-lroaring -lz -llzma -lzstd -ldw -lelf -lsqlite3 -lpq -lcurl -ljansson -lpcre2-8 -lpthread -lm)
SRCS=(common/addrmap.c common/buf.c common/elfinfo.c common/err.c common/fileio.c
      common/kallsyms.c common/blob.c common/grow.c common/path.c common/search.c common/wire.c
      server/store/canon.c server/store/db.c server/store/sql.c server/store/sql_sqlite.c
      server/store/sql_pg.c server/store/pg_schema.c server/build/symbolize.c
      server/build/elfscan.c server/build/dwarf.c server/build/sympath.c server/build/unpack.c
      server/build/maintainers.c
      collector/spool.c collector/syzkaller.c tests/fuzz/fuzz_common.c "$BUILD/schema_sql.c"
      "$BUILD/schema_pg_sql.c")

# canon.c uses db.c, which carries the schema migrations (as kcovd does).
cmake -DSCHEMA_DIR="$PWD/schema" -DOUT="$BUILD/schema_sql.c" -P cmake/embed_schema.cmake
cmake -DSCHEMA_DIR="$PWD/schema/pg" -DOUT="$BUILD/schema_pg_sql.c" -DPREFIX=kcovpg_ \
      -P cmake/embed_schema.cmake

JOBS=${KC_FUZZ_JOBS:-$(nproc)}

# Compile the shared sources once, only when they changed, JOBS at a time.
OBJS=()
compiling=0
for src in "${SRCS[@]}"; do
  obj="$BUILD/obj/$(basename "$src").o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ common/wire.h -nt "$obj" ]; then
    rm -f "$obj"
    "$CC" "${CFLAGS[@]}" -c "$src" -o "$obj" &
    compiling=$((compiling + 1))
    if [ "$compiling" -ge "$JOBS" ]; then wait -n || true; compiling=$((compiling - 1)); fi
  fi
  OBJS+=("$obj")
done
wait
for obj in "${OBJS[@]}"; do
  [ -f "$obj" ] || { echo "fuzz: compiling $obj failed" >&2; exit 1; }
done

# One target: link, run, and judge it; its report goes to $BUILD/fuzz_T.result
# (the lines to print, then "execs N" and "status ok|failed").
run_target() { # TARGET
  local t=$1 bin work art maxlen log rc execs cov out
  bin="$BUILD/fuzz_$t"
  out="$BUILD/fuzz_$t.result"
  : >"$out"
  work="$BUILD/corpus/$t"
  art="$BUILD/artifacts/$t"
  log="$BUILD/fuzz_$t.log"
  if ! "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "${OBJS[@]}" "${LIBS[@]}" \
      -o "$bin" >"$log" 2>&1; then
    { cat "$log"; echo "fuzz: $t FAILED to build"; echo "execs 0"; echo "status failed"; } >"$out"
    return
  fi
  rm -rf "$work" "$art"
  mkdir -p "$work" "$art"
  cp tests/fuzz/corpus/"$t"/* "$work"/
  if [ -d tests/fuzz/regressions/"$t" ]; then
    cp tests/fuzz/regressions/"$t"/* "$work"/ 2>/dev/null || true
  fi
  maxlen=4096
  if [ "$t" = symbolize ]; then maxlen=20000; fi
  rc=0
  mkdir -p "$BUILD/tmp/$t"
  TMPDIR="$BUILD/tmp/$t" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$SECONDS_EACH" -max_len="$maxlen" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art/" "$work" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  {
    echo "fuzz: $t: ${execs:-0} inputs executed, $cov, corpus $(ls "$work" | wc -l) inputs, exit $rc"
    if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$art")" ]; then
      tail -40 "$log"
      echo "fuzz: $t FAILED; crash inputs in $art/"
      echo "status failed"
    elif [ "${execs:-0}" -lt "$MIN_EXECS" ]; then
      tail -20 "$log"
      echo "fuzz: $t FAILED: ${execs:-0} inputs executed, the floor is $MIN_EXECS"
      echo "status failed"
    else
      echo "status ok"
    fi
    echo "execs ${execs:-0}"
  } >"$out"
}

# Each libFuzzer run is one busy thread: run as many at a time as there
# are CPUs (KC_FUZZ_JOBS overrides), each for its full SECONDS_EACH.
running=0
for t in "${TARGETS[@]}"; do
  echo "fuzz: $t for ${SECONDS_EACH}s"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

total_execs=0
failed=()
for t in "${TARGETS[@]}"; do
  out="$BUILD/fuzz_$t.result"
  [ -f "$out" ] || echo "fuzz: $t left no result" >"$out"
  grep -v -E '^(status|execs) ' "$out" || true
  grep -q '^status ok$' "$out" || failed+=("$t")
  execs=$(sed -n 's/^execs //p' "$out" | tail -1)
  total_execs=$((total_execs + ${execs:-0}))
done
echo "fuzz: ${#TARGETS[@]} targets, $total_execs inputs executed in total, ${#failed[@]} failed ${failed[*]:-}"
[ ${#failed[@]} -eq 0 ]
