/*
 * symbolize.c - times kc_symbolize_file (server/symbolize.c) on one binary
 * for bench/run: wall and CPU seconds, peak RSS, and how many coverage
 * points, functions and files it found.
 *
 * usage: bench-symbolize BINARY [THREADS]   (THREADS: kc_sym_opts.threads)
 *        bench-symbolize --run SHELL-COMMAND   (times a reference command:
 *        wall seconds and the peak RSS of its largest process)
 * Output: one line of key=value pairs; exit 1 on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symbolize.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `sh -c cmd` and report its wall time and peak RSS (wait4 accounts
 * the largest of the shell and the processes it waited for). */
static int run_reference(const char *cmd)
{
	struct rusage ru;
	double t0 = now_s();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return 1;
	printf("seconds=%.3f maxrss_kb=%ld status=%d\n", now_s() - t0, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct kc_symtab t;
	struct kc_sym_opts opts = { 0 };
	struct kc_err err;
	struct rusage ru;
	uint64_t with_line = 0, with_func = 0;
	double t0, wall;

	if (argc == 3 && strcmp(argv[1], "--run") == 0)
		return run_reference(argv[2]);
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: bench-symbolize BINARY [THREADS] | --run COMMAND\n");
		return 2;
	}
	if (argc == 3)
		opts.threads = (unsigned)atoi(argv[2]);
	t0 = now_s();
	if (kc_symbolize_file(argv[1], &opts, &t, &err) < 0) {
		fprintf(stderr, "bench-symbolize: %s: %s\n", argv[1], err.msg);
		return 1;
	}
	wall = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru);
	for (uint64_t i = 0; i < t.npoints; i++) {
		with_line += t.points[i].file != KC_SYM_NONE;
		with_func += t.points[i].func != KC_SYM_NONE;
	}
	printf("points=%llu funcs=%u files=%u with_line=%llu with_func=%llu unresolved=%llu "
	       "seconds=%.3f cpu_s=%.3f maxrss_kb=%ld points_per_s=%.0f\n",
	       (unsigned long long)t.npoints, t.nfuncs, t.nfiles, (unsigned long long)with_line,
	       (unsigned long long)with_func, (unsigned long long)t.unresolved, wall,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
	       ru.ru_maxrss, wall > 0 ? (double)t.npoints / wall : 0.0);
	kc_symtab_release(&t);
	return 0;
}
