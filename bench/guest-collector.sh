# Guest side of the QEMU step of bench/run (runs under kernel/qemu-run.sh in
# the KCOV test kernel): times kcov-collect in trace and in unique mode over
# the same workload, and the workload alone, then collects a few reports of a
# broader workload for the wire figures and sends that spool out (base64 tar)
# over the second serial port. Times come from /proc/uptime (10 ms steps).
out=/dev/ttyS1
n=20
up() { cut -d' ' -f1 /proc/uptime; }
{
	for mode in trace unique; do
		a=$(up)
		/kcov-collect run --spool /tmp/s-$mode --machine qemu-bench --label bench \
			--mode $mode --words 262144 --bitmap-words 4096 --repeat $n \
			-- /e2e-workload >/dev/null 2>&1
		rc=$?
		echo "collect mode=$mode rc=$rc runs=$n start=$a end=$(up) bytes=$(cat /tmp/s-$mode/r.*.kcov | wc -c)"
	done
	a=$(up)
	i=0
	while [ $i -lt $n ]; do
		/e2e-workload >/dev/null 2>&1
		i=$((i + 1))
	done
	echo "collect mode=none rc=0 runs=$n start=$a end=$(up) bytes=0"
	/kcov-collect run --spool /tmp/s-wire --machine qemu-bench --label bench --mode unique \
		--words 1048576 --bitmap-words 4096 --repeat 3 \
		-- /bin/sh -c 'ls -lR /sys/kernel /proc/sys >/dev/null 2>&1; find / -xdev >/dev/null 2>&1' \
		>/dev/null 2>&1
	echo "wire rc=$?"
	echo "BEGIN-SPOOL"
	tar -C /tmp -cf - s-wire | base64
	echo "END-SPOOL"
} >$out 2>&1
