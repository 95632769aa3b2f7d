#!/usr/bin/env bash
# The run command: install dependencies, build, start kcovd on its embedded
# SQLite default (./kcovd-data/kcovd.db, 127.0.0.1:8080 unless KCOVD_LISTEN
# says otherwise), load demo coverage from emulated test machines, and keep
# serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
export KCOVD_DATA_DIR=${KCOVD_DATA_DIR:-$PWD/kcovd-data}
listen=${KCOVD_LISTEN:-127.0.0.1:8080}
mkdir -p "$KCOVD_DATA_DIR"
token_file=$KCOVD_DATA_DIR/demo-push.token
[ -s "$token_file" ] || build/server/kcovd token add demo-collectors --scope push > "$token_file"
rm -f "$KCOVD_DATA_DIR/port"
build/server/kcovd serve --listen "$listen" --web-dir web --port-file "$KCOVD_DATA_DIR/port" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do [ -s "$KCOVD_DATA_DIR/port" ] && break; sleep 0.1; done
url="http://${listen%:*}:$(cat "$KCOVD_DATA_DIR/port")"
scripts/demo-load.sh build "$url" "$(cat "$token_file")"
echo
echo "kcovd is serving $url  (data in $KCOVD_DATA_DIR, push token in $token_file)"
echo "  browser report:  $url/"
echo "  machines:        curl $url/api/v1/machines"
echo "  builds:          curl $url/api/v1/builds"
echo "  metrics:         curl $url/metrics"
echo "Ctrl-C stops it."
wait $pid
