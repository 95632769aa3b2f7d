/*
 * workload.c - kcov-standin-workload, the "user program" of the KCOV
 * stand-in: it issues synthetic syscalls by calling kcov_standin_syscall()
 * of the preloaded libkcov_standin.so, so the emulated kernel runs their
 * coverage callbacks into whatever kcov this task has enabled.
 *
 * usage: kcov-standin-workload [--repeat N] SYSCALL...
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*syscall_fn)(const char *name);

static int usage(void)
{
	fprintf(stderr, "usage: kcov-standin-workload [--repeat N] SYSCALL...\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long repeat = 1;
	syscall_fn fn;
	void *sym;
	int i = 1;

	if (argc > 2 && strcmp(argv[1], "--repeat") == 0) {
		char *end;

		repeat = strtoul(argv[2], &end, 10);
		if (*end || repeat == 0 || repeat > 100000000ul)
			return usage();
		i = 3;
	}
	if (i >= argc)
		return usage();
	sym = dlsym(RTLD_DEFAULT, "kcov_standin_syscall");
	if (!sym) {
		fprintf(stderr, "kcov-standin-workload: libkcov_standin.so is not preloaded "
				"(set LD_PRELOAD)\n");
		return 2;
	}
	*(void **)&fn = sym;
	for (unsigned long r = 0; r < repeat; r++) {
		for (int a = i; a < argc; a++) {
			if (fn(argv[a]) < 0) {
				fprintf(stderr, "kcov-standin-workload: unknown syscall '%s' "
						"(or no kernel description)\n", argv[a]);
				return 2;
			}
		}
	}
	return 0;
}
