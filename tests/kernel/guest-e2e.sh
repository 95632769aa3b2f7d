# Guest side of tests/kernel/e2e.sh: run the workload under kcov-collect in
# unique mode and send the spool (base64 tar) out over the second serial port.
out=/dev/ttyS1
{
	echo "text=$(grep -m1 ' _text$' /proc/kallsyms)"
	echo "module_text=$(cat /sys/module/test_kcov_unique/sections/.text)"
	/kcov-collect run --spool /tmp/spool --machine "$(cat /machine)" --label kernel-e2e \
		--mode unique --words 262144 --bitmap-words 4096 --link-text "0x$(cat /link_text)" \
		-- /e2e-workload
	echo "collect_rc=$?"
	echo "BEGIN-SPOOL"
	tar -C /tmp -cf - spool | base64
	echo "END-SPOOL"
} > $out 2>&1
