# Guest side of tests/kernel/e2e.sh: run the workload under kcov-collect in
# unique mode and send the spool (base64 tar) out over the second serial port.
# The test module is unloaded before kcov-collect first captures the boot's
# address map and loaded again before the workload, so its coverage is only
# canonicalized if the collector notices the late module (docs/wire-format.md).
out=/dev/ttyS1
collect() {
	/kcov-collect run --spool /tmp/spool --machine "$(cat /machine)" --label kernel-e2e \
		--mode unique --words 262144 --bitmap-words 4096 --link-text "0x$(cat /link_text)" \
		-- "$@"
}
{
	echo "text=$(grep -m1 ' _text$' /proc/kallsyms)"
	rmmod test_kcov_unique || echo "rmmod failed"
	collect /bin/cat /proc/version > /dev/null
	echo "early_rc=$?"
	insmod /test_kcov_unique.ko || echo "insmod failed"
	echo "module_text=$(cat /sys/module/test_kcov_unique/sections/.text)"
	collect /e2e-workload
	echo "collect_rc=$?"
	echo "BEGIN-SPOOL"
	tar -C /tmp -cf - spool | base64
	echo "END-SPOOL"
} > $out 2>&1
