# tests/kernel/lib.sh - what the kernel merge tests (e2e-merge.sh and
# e2e-patched.sh) share: a work directory holding copies of the built
# binaries, a kcovd serving a fresh data directory there with a push and an
# admin token and each build's test module, and get/import helpers that fail
# the test on any answer but 200. Sourced by the tests, which set `build`,
# `ks` and `kt` (the two kernel directories) first; then:
#   kc_merge_work NAME   checks the binaries, makes $work (removed at exit
#                        unless KCOV_E2E_KEEP is set) and copies them there
#   kc_merge_serve       starts kcovd on $work/data; sets $push, $admin, $url
#   get PATH OUT         GET $url$PATH into OUT
#   import KDIR MODULES OUT   POST /api/v1/builds of KDIR with --source
# shellcheck shell=bash

kc_merge_cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
	if [[ -n ${KCOV_E2E_KEEP:-} ]]; then echo "$kc_name: kept $work"; else rm -rf "$work"; fi
}

kc_merge_work() { # NAME
	kc_name=$1
	if [[ ! -x $build/collector/kcov-collect || ! -x $build/server/kcovd ]]; then
		echo "FAIL: $kc_name: $build/collector/kcov-collect or $build/server/kcovd not built"
		exit 1
	fi
	work=$(mktemp -d)
	pid=
	trap kc_merge_cleanup EXIT
	cp "$build/collector/kcov-collect" "$build/server/kcovd" "$work/"
}

kc_merge_serve() {
	d=$work/data
	mkdir -p "$d" "$work/mods" "$work/modt"
	cp "$ks/test_kcov_unique.ko" "$work/mods/"
	cp "$kt/test_kcov_unique.ko" "$work/modt/"
	push=$("$work/kcovd" token add e2e-push --scope push --data-dir "$d" 2>/dev/null)
	admin=$("$work/kcovd" token add e2e-admin --scope admin --data-dir "$d" 2>/dev/null)
	"$work/kcovd" serve --data-dir "$d" --listen 127.0.0.1:0 --port-file "$d/port" \
		>"$d/kcovd.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do [[ -s $d/port ]] && break; sleep 0.05; done
	[[ -s $d/port ]] || { echo "FAIL: kcovd did not start"; cat "$d/kcovd.log"; exit 1; }
	url=http://127.0.0.1:$(cat "$d/port")
}

get() { # PATH OUT
	local code
	code=$(curl -s -o "$2" -w '%{http_code}' "$url$1" || true)
	if [[ $code != 200 ]]; then
		echo "FAIL: GET $1 answered $code: $(head -c 300 "$2" 2>/dev/null)"
		exit 1
	fi
}

import() { # KDIR MODULES OUT
	local code
	printf '{"vmlinux":"%s","modules":"%s","source":"%s"}' "$1/vmlinux" "$2" \
		"$1/linux-source-6.1" > "$work/import.json"
	code=$(curl -s -o "$3" -w '%{http_code}' -X POST -H "Authorization: Bearer $admin" \
		-H 'Content-Type: application/json' --data-binary @"$work/import.json" \
		"$url/api/v1/builds" || true)
	if [[ $code != 200 ]]; then
		echo "FAIL: import of $1 answered $code: $(head -c 500 "$3")"
		exit 1
	fi
}
