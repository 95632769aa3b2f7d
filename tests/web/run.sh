#!/usr/bin/env bash
# Browser tests of kcovd's UI against a built tree: installs the npm
# packages (npm ci: Chart.js for web/, playwright-core for the tests),
# checks the vendored Chart.js equals the locked package, then runs
# run.mjs with Debian's Chromium. Usage: tests/web/run.sh BUILD_DIR [--demo|--pg]
# (--demo: demo.mjs, the walk of the run command's demo, instead; --pg: the
# same tests with kcovd on PostgreSQL, KC_DB_BACKEND=pg: the fixture starts
# a throw-away server with tests/integration/pgserver.py and removes it when
# it ends, also on failure or SIGTERM).
# Screenshots: BUILD_DIR/tests/out/web/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
mode=${2:-}
case $mode in
  ""|--demo) ;;
  --pg) export KC_DB_BACKEND=pg ;;
  *) echo "usage: tests/web/run.sh BUILD_DIR [--demo|--pg]" >&2; exit 2 ;;
esac
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "no $chromium (apt-get install chromium)" >&2; exit 1; }
(cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root/tests/web" && npm ci --no-audit --no-fund --loglevel=error)
cmp "$root/web/node_modules/chart.js/dist/chart.umd.min.js" "$root/web/vendor/chart.umd.min.js" ||
  { echo "web/vendor/chart.umd.min.js differs from the locked chart.js: run 'npm run vendor' in web/" >&2; exit 1; }
st=$build/tests/kcov-standin
export KCOVD=$build/server/kcovd KCOV_COLLECT=$build/collector/kcov-collect \
  STANDIN_LIB=$st/libkcov_standin.so STANDIN_WORKLOAD=$st/kcov-standin-workload \
  STANDIN_MKSYSROOT=$st/kcov-standin-mksysroot \
  STANDIN_KERNEL=$root/tests/fixtures/standin/kernel.desc \
  SYM_SOURCE_DIR=$root/tests/symbolize/fixture \
  WEB_DIR=$root/web OUT_DIR=$build/tests/out/web CHROMIUM=$chromium \
  PYTHONDONTWRITEBYTECODE=1 ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
cd "$root/tests/web"
if [ "$mode" = --demo ]; then exec node demo.mjs; fi
exec node run.mjs
