/*
 * symbolize.c - times kc_symbolize_file (server/symbolize.c) on one binary
 * for bench/run: wall and CPU seconds, peak RSS, and how many coverage
 * points, functions and files it found.
 *
 * usage: bench-symbolize BINARY
 * Output: one line of key=value pairs; exit 1 on error.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "symbolize.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct kc_symtab t;
	struct kc_err err;
	struct rusage ru;
	uint64_t with_line = 0, with_func = 0;
	double t0, wall;

	if (argc != 2) {
		fprintf(stderr, "usage: bench-symbolize BINARY\n");
		return 2;
	}
	t0 = now_s();
	if (kc_symbolize_file(argv[1], NULL, &t, &err) < 0) {
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
