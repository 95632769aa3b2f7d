#!/usr/bin/env bash
# The layer order of kcovd (docs/architecture.md): each folder of server/
# may include headers of, and link, only itself and the layers below it.
# CMake already makes an upward include fail to compile (a layer's target
# sees only the include directories of what it links); this check says
# so by name and also catches an upward target_link_libraries.
#
#   tests/layers/check.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
# layer: the layers it may use (itself first).
declare -A may=(
  [store]="store common"
  [build]="build store common"
  [query]="query store common"
  [http]="http store common"
  [api]="api http query build store common"
)
# Which layer a header belongs to.
declare -A owner=()
for dir in common server/store server/build server/query server/http server/api; do
  for h in "$dir"/*.h; do
    owner[$(basename "$h")]=$(basename "$dir")
  done
done
bad=0
checked=0
for layer in "${!may[@]}"; do
  for f in server/"$layer"/*.[ch]; do
    while read -r inc; do
      o=${owner[$inc]:-}
      [ -n "$o" ] || continue # system or generated header
      checked=$((checked + 1))
      if [[ " ${may[$layer]} " != *" $o "* ]]; then
        echo "FAIL: $f includes $inc of layer $o, which $layer may not use"
        bad=1
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
  done
  for lib in $(grep -o 'kc_[a-z]*' server/"$layer"/CMakeLists.txt | sort -u); do
    l=${lib#kc_}
    if [[ " ${may[$layer]} " != *" $l "* ]]; then
      echo "FAIL: server/$layer/CMakeLists.txt uses $lib, which $layer may not use"
      bad=1
    fi
  done
done
# Only the storage backends (server/store/sql_*.c) name a database's
# client library; everything else, server/store's other files included,
# goes through the storage interface (server/store/sql.h). bench/ is not
# checked: its query tools write and read SQLite files directly.
while IFS=: read -r f line inc; do
  case "$f" in
  server/store/sql_*.c) ;;
  *)
    echo "FAIL: $f:$line includes $inc: only server/store/sql_*.c may (use server/store/sql.h)"
    bad=1
    ;;
  esac
done < <(grep -rnoE '^#[[:space:]]*include[[:space:]]*[<"](sqlite3|libpq-fe)\.h[>"]' \
  --include='*.c' --include='*.h' server common collector tests || true)
echo "layers: $checked includes checked"
exit $bad
