#!/usr/bin/env bash
# The run command: install dependencies, build, start kcovd on its embedded
# SQLite default (./kcovd-data/kcovd.db, 127.0.0.1:8080 unless KCOVD_LISTEN
# says otherwise), load the demo (scripts/demo.py: two revisions of a
# generated kernel-like tree, 24 emulated test machines), and keep serving
# until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
export KCOVD_DATA_DIR=${KCOVD_DATA_DIR:-$PWD/kcovd-data}
listen=${KCOVD_LISTEN:-127.0.0.1:8080}
mkdir -p "$KCOVD_DATA_DIR"
rm -f "$KCOVD_DATA_DIR/port"
build/server/kcovd serve --listen "$listen" --web-dir web --port-file "$KCOVD_DATA_DIR/port" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do [ -s "$KCOVD_DATA_DIR/port" ] && break; sleep 0.1; done
url="http://${listen%:*}:$(cat "$KCOVD_DATA_DIR/port")"
st=$PWD/build/tests/kcov-standin
KCOVD=$PWD/build/server/kcovd KCOV_COLLECT=$PWD/build/collector/kcov-collect \
  STANDIN_LIB=$st/libkcov_standin.so STANDIN_WORKLOAD=$st/kcov-standin-workload \
  STANDIN_MKSYSROOT=$st/kcov-standin-mksysroot \
  STANDIN_KERNEL=$PWD/tests/fixtures/standin/kernel.desc PYTHONDONTWRITEBYTECODE=1 \
  python3 scripts/demo.py "$url" "$KCOVD_DATA_DIR"
echo
echo "kcovd is serving $url  (data in $KCOVD_DATA_DIR; tokens: build/server/kcovd token add NAME)"
echo "  browser report:  $url/"
echo "  machines:        curl $url/api/v1/machines"
echo "  builds:          curl $url/api/v1/builds"
echo "  metrics:         curl $url/metrics"
echo "Ctrl-C stops it."
wait $pid
