/*
 * srcroot.c - finding the kernel source root among a build's source paths.
 *
 * A kernel built out of tree (make O=DIR, as distros and CI do) names its
 * sources in DWARF by absolute paths outside the build directory
 * (/build/linux-6.1/fs/libfs.c), which the comp_dir stripping of
 * sympath.c cannot make relative. After symbolization, import.c calls
 * imp_detect_source_root(): the root is the directory D, among the
 * ancestors of the absolute paths, that has both D/include/ and D/kernel/
 * below it among those paths (the layout of a kernel tree), and that holds
 * the most of them (ties: the deepest). Every absolute path below D then
 * loses the prefix "D/". An explicit --strip-prefix skips the detection.
 */
#include "imp.h"

#include <stdlib.h>
#include <string.h>

#include "search.h"

#define PATH_CAP_IMP 4096

struct prefix_key {
	const char *const *v;
	const char *s;
	size_t n;
};

/* Is v[i] ordered before the key (the first n bytes of s)? */
static int prefix_below(const void *ctx, size_t i)
{
	const struct prefix_key *k = ctx;

	return strncmp(k->v[i], k->s, k->n) < 0;
}

/* How many of the sorted strings v start with s[0..n). */
static size_t count_prefix(const char *const *v, size_t nv, const char *s, size_t n)
{
	struct prefix_key k = { v, s, n };
	size_t lo = kc_lower_bound(nv, prefix_below, &k), hi = lo;

	while (hi < nv && strncmp(v[hi], s, n) == 0)
		hi++;
	return hi - lo;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Does some path start with dir[0..n) + "/" + sub + "/"? */
static int has_subdir(const char *const *v, size_t nv, const char *dir, size_t n,
		      const char *sub)
{
	char key[PATH_CAP_IMP];
	size_t m = strlen(sub);

	if (n + m + 2 >= sizeof(key))
		return 0;
	memcpy(key, dir, n);
	key[n] = '/';
	memcpy(key + n + 1, sub, m);
	key[n + 1 + m] = '/';
	return count_prefix(v, nv, key, n + m + 2) > 0;
}

int imp_detect_source_root(struct kc_import *imp, struct kc_err *err)
{
	const char **abs = NULL;
	size_t nabs = 0, total = 0, best_n = 0, best_count = 0;
	const char *best = NULL;
	int ret = -1;

	for (uint32_t i = 0; i < imp->nimages; i++)
		total += imp->images[i].t.nfiles;
	abs = malloc((total ? total : 1) * sizeof(*abs));
	if (!abs)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < imp->nimages; i++)
		for (uint32_t f = 0; f < imp->images[i].t.nfiles; f++)
			if (imp->images[i].t.files[f][0] == '/')
				abs[nabs++] = imp->images[i].t.files[f];
	if (nabs > 1)
		qsort(abs, nabs, sizeof(*abs), cmp_cstr);
	/* Each ancestor of each path is a candidate; the sorted order makes
	 * "how many paths lie below D" two binary searches. */
	for (size_t i = 0; i < nabs; i++) {
		const char *p = abs[i];

		if (i > 0 && strcmp(abs[i - 1], p) == 0)
			continue;
		for (size_t n = strlen(p); n > 0; n--) {
			size_t count;

			if (p[n] != '/')
				continue;
			if (!has_subdir(abs, nabs, p, n, "include") ||
			    !has_subdir(abs, nabs, p, n, "kernel"))
				continue;
			count = count_prefix(abs, nabs, p, n + 1);
			if (count > best_count || (count == best_count && n > best_n)) {
				best = p;
				best_n = n;
				best_count = count;
			}
		}
	}
	if (!best) {
		ret = 0;
		goto out;
	}
	imp->source_root = strndup(best, best_n);
	if (!imp->source_root) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	/* Strip "root/" in place (each path is its own allocation). A
	 * stripped path may now equal another of the same image: the
	 * regrouping by file (import.c) merges them. */
	for (uint32_t i = 0; i < imp->nimages; i++)
		for (uint32_t f = 0; f < imp->images[i].t.nfiles; f++) {
			char *s = imp->images[i].t.files[f];

			if (strncmp(s, imp->source_root, best_n) == 0 && s[best_n] == '/' &&
			    s[best_n + 1])
				memmove(s, s + best_n + 1, strlen(s + best_n + 1) + 1);
		}
	ret = 0;
out:
	free(abs);
	return ret;
}
