/*
 * e2e-workload.c - the workload tests/kernel/e2e.sh runs under kcov-collect in
 * the guest: reads and writes through fs/read_write.c and a write to the test
 * module's debugfs trigger, so that both vmlinux and module coverage appear.
 * Static, no libc start-up surprises beyond what the kernel does for exec.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static char buf[4096];
	int z = open("/dev/zero", O_RDONLY);
	int n = open("/dev/null", O_WRONLY);
	int t = open("/sys/kernel/debug/test_kcov_unique/trigger", O_WRONLY);

	if (z < 0 || n < 0 || t < 0) {
		perror("e2e-workload: open");
		return 1;
	}
	for (int i = 0; i < 4; i++) {
		if (read(z, buf, sizeof(buf)) != sizeof(buf) ||
		    write(n, buf, sizeof(buf)) != sizeof(buf) ||
		    pread(z, buf, 64, 0) != 64) {
			perror("e2e-workload: io");
			return 1;
		}
	}
	if (write(t, "20", 2) != 2) {
		perror("e2e-workload: trigger");
		return 1;
	}
	return 0;
}
