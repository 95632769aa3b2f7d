# Guest side of tests/kernel/run.sh part 1: runs the KCOV selftest and writes
# its output (and the boot's identity) to the second serial port.
out=/dev/ttyS1
{
	echo "uname=$(uname -r)"
	echo "text=$(grep -m1 ' _text$' /proc/kallsyms)"
	echo "module_text=$(cat /sys/module/test_kcov_unique/sections/.text 2>/dev/null)"
	/kcov_unique_test "$(cat /link_text)"
	echo "selftest_rc=$?"
	echo "END-OF-RESULTS"
} > $out 2>&1
