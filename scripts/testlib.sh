# Shell helpers of the test command (sourced by scripts/test.sh and the test
# scripts it runs): named suites with a summary line each, floors on how many
# tests a suite ran, and the one documented way to skip a part (KC_SKIP,
# docs/testing.md). Nothing here skips silently: a part is skipped only when
# KC_SKIP names it, the skip is printed and logged to $KC_SKIP_LOG, and the
# test command then ends "incomplete" (non-zero under CI=true).

# kc_skipped PART WHY: true (and loud) when KC_SKIP names PART.
kc_skipped() {
	case ",${KC_SKIP:-}," in
	*",$1,"*) ;;
	*) return 1 ;;
	esac
	echo "SKIPPED $1 (KC_SKIP): $2" >&2
	if [[ -n ${KC_SKIP_LOG:-} ]]; then echo "SKIPPED $1 (KC_SKIP): $2" >> "$KC_SKIP_LOG"; fi
	return 0
}

# kc_require_floor WHAT GOT FLOOR: fail unless GOT >= FLOOR.
kc_require_floor() {
	if (($2 < $3)); then
		echo "FAIL: $1: $2 ran, at least $3 expected" >&2
		return 1
	fi
}

# kc_ctest DIR [EXCLUDE]: every ctest of DIR, which must be exactly the
# list in tests/expected-tests.txt (a test CMake dropped, or a new one not
# listed, fails), with --no-tests=error; EXCLUDE (an anchored ctest -E
# regular expression) leaves the tests it matches out of this run, and the
# count is the listed tests it does not match.
kc_ctest() {
	local dir=$1 exclude=${2:-} want got run
	want=$(grep -v '^#' tests/expected-tests.txt | sort)
	got=$(ctest --test-dir "$dir" -N | sed -n 's/^ *Test *#[0-9]*: *//p' | sort)
	if [[ $want != "$got" ]]; then
		echo "FAIL: the tests of $dir differ from tests/expected-tests.txt:" >&2
		diff <(echo "$want") <(echo "$got") >&2 || true
		return 1
	fi
	run=$want
	[[ -z $exclude ]] || run=$(echo "$want" | grep -Ev "$exclude" || true)
	# (called in a `||` context, where set -e does not apply: every
	# failure is returned explicitly)
	# nproc at a time: the tests are CPU-bound (a /proc/stat sample of a
	# whole run: 93-100% busy), so more would only interleave them; the
	# long ones start first (COST, set in tests/integration/CMakeLists.txt).
	ctest --test-dir "$dir" --output-on-failure --no-tests=error \
		--parallel "$(nproc)" ${exclude:+-E "$exclude"} || return 1
	KC_SUITE_COUNT=$(echo "$run" | wc -l)
}

# kc_counted FLOOR CMD...: run CMD, which ends its output with the line
# "N passed, M failed"; fail unless it exits 0, M is 0 and N >= FLOOR.
kc_counted() {
	local floor=$1 out line passed failed rc=0
	shift
	out=$(mktemp)
	"$@" 2>&1 | tee "$out" || rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1 || true)
	rm -f "$out"
	passed=${line%% passed*}
	failed=${line#*, }
	failed=${failed%% failed}
	if [[ -z $line ]]; then
		echo "FAIL: $1 printed no 'N passed, M failed' line" >&2
		return 1
	fi
	((rc == 0 && failed == 0)) || return 1
	kc_require_floor "$1" "$passed" "$floor" || return 1
	KC_SUITE_COUNT=$passed
}

# kernel_log_clean SERIAL_LOG: fail (and show the context) when the kernel
# printed a bug, a warning, a KASAN report, a call trace or a sysfs
# duplicate-name error (a module that lost its sections/ directory).
KC_KERNEL_BAD='BUG:|WARNING:|KASAN|Oops|Kernel panic|Call Trace:|cannot create duplicate filename'
kernel_log_clean() {
	if grep -qE "$KC_KERNEL_BAD" "$1"; then
		echo "FAIL: kernel problems in the serial log $1:"
		grep -E -B2 -A8 "$KC_KERNEL_BAD" "$1" | head -60
		return 1
	fi
}

KC_SUITES_PASSED=0
KC_SUITES_FAILED=0
KC_SUITE_LINES=()

# kc_suite NAME CMD...: run CMD as suite NAME (unless KC_SKIP names it) and
# record one summary line; a failed suite does not stop the later ones.
kc_suite() {
	local name=$1 t0 rc=0
	shift
	if kc_skipped "$name" "suite not run"; then
		KC_SUITE_LINES+=("suite $name: SKIPPED")
		return 0
	fi
	echo "=== suite $name"
	t0=$(date +%s)
	KC_SUITE_COUNT=
	"$@" || rc=$?
	local took=$(($(date +%s) - t0)) count=${KC_SUITE_COUNT:+, ${KC_SUITE_COUNT} tests}
	if ((rc == 0)); then
		KC_SUITES_PASSED=$((KC_SUITES_PASSED + 1))
		KC_SUITE_LINES+=("suite $name: passed${count} in ${took}s")
	else
		KC_SUITES_FAILED=$((KC_SUITES_FAILED + 1))
		KC_SUITE_LINES+=("suite $name: FAILED (exit $rc) after ${took}s")
	fi
	echo "${KC_SUITE_LINES[-1]}"
}

# kc_summary: the summary lines and the final verdict; returns non-zero when
# a suite failed, or (under CI=true) when anything was skipped.
kc_summary() {
	local skipped=0 line
	[[ -s ${KC_SKIP_LOG:-/nonexistent} ]] && skipped=$(wc -l < "$KC_SKIP_LOG")
	echo "=== summary"
	for line in "${KC_SUITE_LINES[@]}"; do echo "$line"; done
	if ((skipped)); then
		echo "skipped parts (KC_SKIP):"
		sed 's/^/  /' "$KC_SKIP_LOG"
	fi
	echo "$KC_SUITES_PASSED passed, $KC_SUITES_FAILED failed, $skipped skipped"
	((KC_SUITES_FAILED == 0)) || return 1
	if ((skipped)); then
		echo "INCOMPLETE: $skipped part(s) skipped on request"
		[[ ${CI:-} != true ]] || return 3
	fi
	return 0
}
