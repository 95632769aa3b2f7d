/*
 * kc_maint_match.c - test helper: the subsystems server/build/maintainers.c
 * finds for paths, for the oracle test against the kernel's own
 * scripts/get_maintainer.pl (test_maintainers_oracle.py).
 *
 *   kc-maint-match SOURCE_DIR < paths
 *
 * Loads SOURCE_DIR/MAINTAINERS exactly as build import does
 * (kc_maint_load of a directory source: directories are asked of SOURCE_DIR) and prints, per
 * input line (a path relative to SOURCE_DIR), the path and its subsystems,
 * separated by tabs. Exit status 1 with a message on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maintainers.h"
#include "source.h"

int main(int argc, char **argv)
{
	struct kc_err err = {0};
	struct kc_source *src;
	struct kc_maint *m;
	char line[8192];
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: kc-maint-match SOURCE_DIR < paths\n");
		return 2;
	}
	src = kc_source_open_dir(argv[1], &err);
	m = src ? kc_maint_load(src, &err) : NULL;
	if (!m)
		goto out;
	fprintf(stderr, "kc-maint-match: %zu subsystems, %zu entries ignored\n", kc_maint_count(m),
		kc_maint_ignored(m));
	while (fgets(line, sizeof(line), stdin)) {
		const size_t *idx;
		size_t n;

		line[strcspn(line, "\n")] = '\0';
		if (kc_maint_match(m, line, &idx, &n, &err) < 0)
			goto out;
		fputs(line, stdout);
		for (size_t i = 0; i < n; i++)
			printf("\t%s", kc_maint_name(m, idx[i]));
		putchar('\n');
	}
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	if (err.code != KC_E_NONE)
		fprintf(stderr, "kc-maint-match: %s\n", err.msg);
	kc_maint_free(m);
	kc_source_free(src);
	return ret;
}
