#!/usr/bin/env bash
# The overflow experiment of docs/overflow-stats.md ("Reproduction on the
# test kernel"): the upstream cover letter's 24-instance comparison of trace
# and unique mode, on our patched kernel, through the whole pipeline
#   kcov-fuzz-executor (tests/kernel/executor.c) in the QEMU guest
#   -> spools out over the second serial port -> kcov-collect push -> kcovd
#   -> GET /api/v1/stats/overflow and GET /api/v1/builds/B/pcs.
#
# The fleet: 24 instances, 12 pairs. Pair j runs seed BASE+j twice, once in
# trace mode and once in unique mode, so both halves run the same programs:
#   trace:  pairs 0-5 with syzkaller's 512Ki-word buffer (capacity 524,287),
#           pairs 6-7 128Ki, 8-9 32Ki, 10-11 8Ki words;
#   unique: 4,096 bitmap words + 520,192 trace words (capacity 520,191),
#           the upstream experiment's split of the same 512Ki words.
# Each instance has its own spool and machine name (exp-trace-512k-00,
# exp-unique-00, ...) and label (overflow-exp/trace-512Ki, ...). The pair's
# two executors run at the same time, so neither sees a colder kernel.
#
# The claims, stated before the run (the script fails when one does not hold):
#   1. nothing lost: every instance has exactly PROGRAMS runs at kcovd, and
#      no report has a PC kcovd could not canonicalize;
#   2. the load fills a syzkaller-size buffer: the 512Ki trace instances
#      overflowed in at least one program;
#   3. unique mode overflows far less at the same trace capacity: the
#      unique half's overflow rate is at most a tenth of the 512Ki trace
#      instances' rate, and no unique instance overflowed in >= 50%;
#   4. unique mode loses no coverage: the merged vmlinux coverage of the
#      unique half (its own kcovd) is at least 98% of the trace half's, and
#      so is that of the six unique instances of seeds BASE..BASE+5 against
#      the six 512Ki trace instances of the same seeds (the same capacity;
#      the 2% is the noise bound: the same programs take slightly different
#      kernel paths from run to run, allocator slow paths, RCU, timers); the
#      fleet's merged coverage is the union of the halves'.
#
# Usage: tests/kernel/overflow-experiment.sh KERNEL_BUILD_DIR [smoke|full]
#   smoke (the test command, tests/kernel/run.sh): 30 programs per instance
#   (10 on the SMP+KASAN kernel, which runs about 10 times slower under TCG);
#   full (by hand): 100. KCOV_EXP_PROGRAMS=N overrides the size,
#   KCOV_EXP_SEED the base seed (default 1), KCOV_EXP_TIMEOUT the guest
#   timeout in seconds, KCOV_EXP_TABLE=FILE writes the markdown table there,
#   KCOV_EXP_KEEP=1 keeps the work directory and leaves the fleet's kcovd
#   running (its URL is printed) for a look at the web overflow page.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/testlib.sh
kdir=$(cd "$1" && pwd -P)
size=${2:-smoke}
build=${KC_BUILD_DIR:-build}
smp=0
grep -qx 'CONFIG_SMP=y' "$kdir/.config" && smp=1
case $size in
smoke) programs=$((smp ? 10 : 30)) ;;
full) programs=100 ;;
*) echo "usage: $0 KERNEL_BUILD_DIR [smoke|full]" >&2; exit 2 ;;
esac
programs=${KCOV_EXP_PROGRAMS:-$programs}
seed=${KCOV_EXP_SEED:-1}
for b in collector/kcov-collect server/kcovd tests/kernel/kcov-fuzz-executor; do
	[[ -x $build/$b ]] || { echo "FAIL: overflow experiment: $build/$b not built"; exit 1; }
done
work=$(mktemp -d)
srv_pids=()
cleanup() {
	if [[ -n ${KCOV_EXP_KEEP:-} ]]; then
		echo "overflow experiment: kept $work (kcovd pids ${srv_pids[*]})"
		return
	fi
	for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# Private copies: others may rebuild build/ while this runs.
cp "$build/collector/kcov-collect" "$build/server/kcovd" "$build/tests/kernel/kcov-fuzz-executor" "$work/"
link_text=$(awk '$3 == "_text" { print $1; exit }' "$kdir/System.map")

# The fleet, one line per instance: machine label mode words bitmap seed.
fleet=$work/fleet.txt
: > "$fleet"
for j in $(seq 0 11); do
	if ((j < 6)); then w=524288 n=512Ki
	elif ((j < 8)); then w=131072 n=128Ki
	elif ((j < 10)); then w=32768 n=32Ki
	else w=8192 n=8Ki; fi
	printf 'exp-trace-%s-%02d overflow-exp/trace-%s trace %s 0 %s\n' \
		"$(echo "$n" | tr A-Z a-z | tr -d i)" "$j" "$n" "$w" "$((seed + j))" >> "$fleet"
	printf 'exp-unique-%02d overflow-exp/unique-4096+520192 unique 524288 4096 %s\n' \
		"$j" "$((seed + j))" >> "$fleet"
done

# The guest: run the pairs (two at a time on the SMP kernel), then send the
# executors' summaries and the spools (tar.gz, base64) over /dev/ttyS1.
guest=$work/guest.sh
{
	echo 'out=/dev/ttyS1'
	echo 'ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up'
	echo 'run() { /executor --spool /tmp/spool/$1 --machine $1 --label $2 --mode $3 --words $4 \'
	echo '	$( [ $5 -gt 0 ] && echo --bitmap-words $5 ) --seed $6 --programs '"$programs"' \'
	echo '	--link-text 0x'"$link_text"' > /tmp/log.$1 2>&1; echo "rc=$?" >> /tmp/log.$1; }'
	echo 'mkdir -p /tmp/spool'
	echo 't0=$(date +%s)'
	per=$((smp ? 4 : 2)) n=0
	while read -r m l mo w b s; do
		echo "run $m $l $mo $w $b $s &"
		n=$((n + 1))
		((n % per == 0)) && echo "wait; echo \"overflow experiment: $n of 24 instances done\""
	done < "$fleet"
	echo 'wait'
	echo '{'
	echo '	echo "guest_seconds=$(( $(date +%s) - t0 ))"'
	echo '	cat /tmp/log.*'
	echo '	echo BEGIN-SPOOL'
	echo '	tar -C /tmp -cf - spool | gzip | base64'
	echo '	echo END-SPOOL'
	echo '} > $out 2>&1'
} > "$guest"

t0=$(date +%s)
tmo=${KCOV_EXP_TIMEOUT:-$((300 + programs * (smp ? 90 : 10)))}
kernel/qemu-run.sh -k "$kdir" -s "$guest" -o "$work/out" -l "$work/serial.log" -t "$tmo" \
	-b "$work/kcov-fuzz-executor:/executor"
t1=$(date +%s)
tr -d '\r' < "$work/out" > "$work/out.txt"
grep -E '^(executor|guest_seconds)' "$work/out.txt" | sed 's/^/  guest: /'
kernel_log_clean "$work/serial.log" || exit 1
bad=$(grep -E '^executor ' "$work/out.txt" | grep -cv ' failed=0$' || true)
nexec=$(grep -c '^executor ' "$work/out.txt" || true)
if ((nexec != 24 || bad)) || grep -q '^rc=[^0]' "$work/out.txt"; then
	echo "FAIL: $nexec of 24 executors reported, $bad with failed programs:"
	grep -vE '^[A-Za-z0-9+/=]+$' "$work/out.txt" | head -60
	exit 1
fi
mkdir -p "$work/spools"
sed -n '/^BEGIN-SPOOL$/,/^END-SPOOL$/p' "$work/out.txt" | sed '1d;$d' | base64 -d |
	gunzip | tar -C "$work/spools" -mxf -

# Five kcovds: the fleet (all 24 instances: the statistics and the web
# page), one per half for each half's merged coverage, and the same for the
# pairs 0-5 (512Ki trace against unique, the same capacity and seeds).
start_kcovd() { # NAME [ARGS...] -> sets port
	local d=$work/kcovd-$1
	shift
	mkdir -p "$d"
	"$work/kcovd" serve --data-dir "$d" --listen 127.0.0.1:0 --port-file "$d/port" "$@" \
		>"$d/kcovd.log" 2>&1 &
	srv_pids+=($!)
	for _ in $(seq 200); do [[ -s $d/port ]] && break; sleep 0.05; done
	[[ -s $d/port ]] || { echo "FAIL: kcovd did not start"; cat "$d/kcovd.log"; exit 1; }
	port=$(cat "$d/port")
}
push_to() { # NAME SPOOL_COPY PORT
	local token
	token=$("$work/kcovd" token add "exp-$1-$RANDOM" --scope push --data-dir "$work/kcovd-$1" 2>/dev/null)
	"$work/kcov-collect" push --spool "$2" --server "http://127.0.0.1:$3" --token "$token" ||
		{ echo "FAIL: push of $2 to the $1 kcovd"; exit 1; }
	if [[ -n $(ls "$2"/rejected 2>/dev/null) ]]; then echo "FAIL: $2: reports rejected"; exit 1; fi
}
declare -A ports
start_kcovd fleet --web-dir "$PWD/web"
ports[fleet]=$port
for k in trace unique trace512 unique512; do
	start_kcovd "$k"
	ports[$k]=$port
done
while read -r m l mo w b s; do
	sub=
	((s - seed < 6)) && sub=${mo}512
	for k in fleet "$mo" $sub; do
		rm -rf "$work/push"
		cp -a "$work/spools/spool/$m" "$work/push"
		push_to "$k" "$work/push" "${ports[$k]}"
	done
done < "$fleet"
t2=$(date +%s)

for k in fleet trace unique trace512 unique512; do
	u=http://127.0.0.1:${ports[$k]}
	curl -sf "$u/api/v1/builds" > "$work/builds-$k.json"
	b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["builds"][0]["build_id"])' \
		"$work/builds-$k.json")
	curl -sf "$u/api/v1/builds/$b/pcs" > "$work/pcs-$k.json"
	curl -sf "$u/api/v1/machines" > "$work/machines-$k.json"
done
u=http://127.0.0.1:${ports[fleet]}
curl -sf "$u/api/v1/stats/overflow?group=machine&limit=100" > "$work/by-machine.json"
curl -sf "$u/api/v1/stats/overflow?group=label&limit=100" > "$work/by-label.json"
: > "$work/reports.json"
while read -r m _; do
	curl -sf "$u/api/v1/reports?machine=$m&limit=10000" >> "$work/reports.json"
	echo >> "$work/reports.json"
done < "$fleet"

# The web overflow page of the fleet, rendered by Chromium (headless, its
# DOM after the page's own API calls): kept for the Python checks below.
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || { echo "FAIL: no $chromium for the overflow page check"; exit 1; }
page="$u/overflow?group=machine&limit=100"
render() { # OUT CHROMIUM_ARGS...
	local out=$1
	shift
	timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu --user-data-dir="$work/chromium" \
		--virtual-time-budget=15000 --window-size=1400,2400 "$@" "$page" > "$out" 2>"$work/chromium.log" ||
		{ echo "FAIL: chromium could not render $page:"; tail -5 "$work/chromium.log"; exit 1; }
}
render "$work/overflow-page.html" --dump-dom
render /dev/null --screenshot="$work/overflow-page.png"

python3 - "$work" "$programs" "$seed" "$size" "$(basename "$kdir")" "$smp" \
	"$((t1 - t0))" "$((t2 - t1))" "${KCOV_EXP_TABLE:-}" <<'PY'
import json, sys
work, programs, seed, size, kname, smp, t_guest, t_push, table_out = sys.argv[1:10]
programs = int(programs)
fail = []
fleet = [l.split() for l in open(f"{work}/fleet.txt")]
bym = {g["machine"]: g for g in json.load(open(f"{work}/by-machine.json"))["groups"]}
st = json.load(open(f"{work}/by-machine.json"))["fleet"]

# 1. nothing lost
for m, label, mode, *_ in fleet:
    g = bym.get(m)
    if not g or g["runs"] != programs:
        fail.append(f"{m}: {g and g['runs']} runs at kcovd, {programs} expected")
unknown = 0
nreports = 0
for line in open(f"{work}/reports.json"):
    if line.strip():
        for r in json.loads(line)["reports"]:
            nreports += 1
            unknown += r.get("unknown_pcs") or 0
if unknown:
    fail.append(f"{unknown} PCs kcovd could not canonicalize")
if nreports != 24 * programs:
    fail.append(f"{nreports} reports at kcovd, {24 * programs} expected")

# Per group of the fleet: instances, runs, overflowed, machine rates.
groups = {}
for m, label, mode, words, bitmap, s in fleet:
    g = groups.setdefault(label, {"mode": mode, "words": int(words), "bitmap": int(bitmap),
                                  "machines": [], "runs": 0, "overflowed": 0})
    gm = bym.get(m, {"runs": 0, "overflowed": 0, "rate": 0})
    g["machines"].append(gm["rate"])
    g["runs"] += gm["runs"]
    g["overflowed"] += gm["overflowed"]

def median(v):
    v = sorted(v)
    n = len(v)
    return 0 if not n else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)

t512 = groups["overflow-exp/trace-512Ki"]
uq = groups["overflow-exp/unique-4096+520192"]
rate = lambda g: g["overflowed"] / g["runs"] if g["runs"] else 0
# 2. the load fills a syzkaller-size buffer
if t512["overflowed"] < 1:
    fail.append("no program overflowed the 512Ki-word trace buffer: the load does not test the claim")
# 3. unique overflows far less at the same capacity
if rate(uq) > rate(t512) / 10:
    fail.append(f"unique rate {rate(uq):.4f} > a tenth of the 512Ki trace rate {rate(t512):.4f}")
if st["unique"]["machines_overflow_ge_50pct"] != 0:
    fail.append("a unique instance overflowed in >= 50% of its programs")
# 4. coverage
def vm(k):
    for b in json.load(open(f"{work}/pcs-{k}.json"))["binaries"]:
        if b["name"] == "vmlinux":
            return set(b["offsets"])
    return set()
cov = {k: vm(k) for k in ("fleet", "trace", "unique", "trace512", "unique512")}
ct, cu, cf, ct5, cu5 = (len(cov[k]) for k in ("trace", "unique", "fleet", "trace512", "unique512"))
if cu < 0.98 * ct:
    fail.append(f"unique half covers {cu} vmlinux PCs, < 98% of the trace half's {ct}")
if cu5 < 0.98 * ct5:
    fail.append(f"unique pairs 0-5 cover {cu5} vmlinux PCs, < 98% of the 512Ki trace instances' {ct5}")
if cov["fleet"] != cov["trace"] | cov["unique"]:
    fail.append("the fleet's merged coverage is not the union of the halves'")

# The web overflow page shows the fleet: every instance in its groups table
# with kcovd's runs and overflowed, and the fleet/mode figures.
from html.parser import HTMLParser
class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.cur, self.row, self.cell, self.ready = {}, None, None, None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body" and a.get("data-state") == "ready":
            self.ready = True
        if tag == "table" and a.get("id"):
            self.cur = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self.cur is not None:
            self.row = []
        elif tag == "td" and self.row is not None:
            self.cell = ""
    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row:
                self.cur.append(self.row)
            self.row = None
        elif tag == "table":
            self.cur = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell += d
t = Tables()
t.feed(open(f"{work}/overflow-page.html").read())
shown = {r[0]: r for r in t.tables.get("overflow-groups", [])}
modes = t.tables.get("overflow-modes", [])
if not t.ready:
    fail.append("web overflow page: not rendered (body data-state is not ready)")
num = lambda x: int(x.replace(",", "").replace("\u202f", "").replace(" ", "") or -1)
for m, *_ in fleet:
    g, r = bym.get(m), shown.get(m)
    if not r or not g or num(r[1]) != g["runs"] or num(r[2]) != g["overflowed"]:
        fail.append(f"web overflow page: {m} shown as {r}, kcovd has {g}")
want_modes = [[str(x["machines"]), str(x["machines_overflow_ge_50pct"])] for x in (st, st["unique"], st["trace"])]
print(f"  web overflow page: {len(shown)} groups shown, modes {[r[:3] for r in modes]}")
if [r[1:3] for r in modes] != want_modes:
    fail.append(f"web overflow page: modes table {modes}, kcovd {want_modes}")

same = 1 - rate(uq) / rate(t512) if rate(t512) else None
rows = []
rows.append("| instances | mode | buffer (words) | trace capacity | programs | overflowed | rate | instances ≥ 50% | median instance |")
rows.append("|---|---|---|---|---|---|---|---|---|")
for label, g in sorted(groups.items(), key=lambda kv: (kv[1]["mode"], -kv[1]["words"])):
    cap = g["words"] - g["bitmap"] - 1
    buf = f"{g['bitmap']:,} + {g['words'] - g['bitmap']:,}" if g["bitmap"] else f"{g['words']:,}"
    rows.append(f"| {len(g['machines'])} | {g['mode']} | {buf} | {cap:,} | {g['runs']:,} | "
                f"{g['overflowed']:,} | {100 * rate(g):.1f}% | "
                f"{sum(r >= 0.5 for r in g['machines'])} | {100 * median(g['machines']):.1f}% |")
f = st
rows.append(f"| **24** | fleet | | | {f['runs']:,} | {f['overflowed']:,} | {100 * f['rate']:.1f}% | "
            f"{f['machines_overflow_ge_50pct']} | {100 * f['median_machine_rate']:.1f}% |")
summary = [
    "",
    f"- trace half (12 instances): {f['trace']['runs']:,} programs, {f['trace']['overflowed']:,} overflowed "
    f"({100 * f['trace']['rate']:.1f}%), {f['trace']['machines_overflow_ge_50pct']} instances ≥ 50%, "
    f"median instance {100 * f['trace']['median_machine_rate']:.1f}%",
    f"- unique half (12 instances): {f['unique']['runs']:,} programs, {f['unique']['overflowed']:,} overflowed "
    f"({100 * f['unique']['rate']:.1f}%)",
    f"- reduction, unique vs the whole trace half (kcovd's `unique_vs_trace_reduction`): "
    + (f"{100 * f['unique_vs_trace_reduction']:.1f}%" if f['unique_vs_trace_reduction'] is not None else "n/a"),
    f"- reduction at the same capacity (unique vs the six 512Ki trace instances): "
    + (f"{100 * same:.1f}%" if same is not None else "n/a"),
    f"- merged vmlinux coverage (PCs): trace half {ct:,}, unique half {cu:,} "
    f"({100 * (cu - ct) / ct:+.2f}%), fleet {cf:,}; only in trace {len(cov['trace'] - cov['unique']):,}, "
    f"only in unique {len(cov['unique'] - cov['trace']):,}",
    f"- the same at the same capacity (the six 512Ki trace instances against the six unique ones "
    f"of the same seeds): trace {ct5:,}, unique {cu5:,} ({100 * (cu5 - ct5) / ct5:+.2f}%); only in trace "
    f"{len(cov['trace512'] - cov['unique512']):,}, only in unique {len(cov['unique512'] - cov['trace512']):,}",
    f"- kernel {kname} ({'SMP -smp 4' if smp == '1' else 'UP'}), seeds {seed}..{int(seed) + 11}, "
    f"{programs} programs per instance ({size}); guest {t_guest} s, push and queries {t_push} s",
]
text = "\n".join(rows + summary) + "\n"
print(text)
if table_out:
    open(table_out, "w").write(text)
for m in fail:
    print("FAIL:", m)
sys.exit(1 if fail else 0)
PY
if [[ -n ${KCOV_EXP_KEEP:-} ]]; then
	echo "overflow experiment: the fleet's kcovd: http://127.0.0.1:${ports[fleet]}/overflow"
fi
echo "overflow experiment: passed"
