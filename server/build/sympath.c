/*
 * sympath.c - normalizing the source paths DWARF names: join with the
 * compilation directory, collapse "//", "." and "..", strip the build
 * directory and the configured prefixes, so one source file has one path
 * whatever directory it was compiled from.
 */
#include "sym.h"

#include <stdio.h>
#include <string.h>

/*
 * Collapse "//", "." and ".." in `in` into out (capacity PATH_CAP). ".."
 * never climbs above "/" for absolute paths; leading ".." of relative paths
 * are kept. Returns -1 if the result does not fit.
 */
int sym_collapse_path(const char *in, char *out)
{
	size_t n = 0;
	bool abs = in[0] == '/';
	const char *p = in;

	if (abs)
		out[n++] = '/';
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			size_t base = abs ? 1 : 0;
			size_t k = n;
			bool parent_is_dotdot;

			/* find start of last component */
			while (k > base && out[k - 1] != '/')
				k--;
			parent_is_dotdot = (n - k == 2 && out[k] == '.' && out[k + 1] == '.');
			if (n > base && !parent_is_dotdot) {
				n = k > base ? k - 1 : base; /* drop component and its '/' */
				continue;
			}
			if (abs)
				continue; /* "/.." is "/" */
		}
		if (n > (abs ? 1u : 0u)) {
			if (n + 1 >= PATH_CAP)
				return -1;
			out[n++] = '/';
		}
		if (n + len >= PATH_CAP)
			return -1;
		memcpy(out + n, s, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

/* If `path` starts with directory `dir` (at a component boundary), return
 * the rest without leading '/', else NULL. A path equal to dir is not
 * stripped (that would leave nothing). */
static const char *strip_dir(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 0 || strncmp(path, dir, len) != 0)
		return NULL;
	if (dir[len - 1] != '/' && path[len] != '/')
		return NULL;
	path += len;
	while (*path == '/')
		path++;
	return *path ? path : NULL;
}

/* Normalize a DWARF file name against the CU's (already collapsed)
 * comp_dir and intern it. */
uint32_t sym_normalize_file(struct sym_state *st, const char *comp_dir, const char *name)
{
	char joined[PATH_CAP], clean[PATH_CAP];
	const char *rel, *r;
	int n;

	if (name[0] != '/' && comp_dir && comp_dir[0]) {
		n = snprintf(joined, sizeof(joined), "%s/%s", comp_dir, name);
		if (n < 0 || (size_t)n >= sizeof(joined))
			return KC_SYM_NONE;
		name = joined;
	}
	if (sym_collapse_path(name, clean) < 0)
		return KC_SYM_NONE;
	rel = clean;
	if (comp_dir && comp_dir[0] && (r = strip_dir(rel, comp_dir)) != NULL)
		rel = r;
	if (st->opts) {
		for (size_t i = 0; i < st->opts->nstrip; i++) {
			const char *pfx = st->opts->strip_prefixes[i];

			if (pfx && (r = strip_dir(rel, pfx)) != NULL) {
				rel = r;
				break;
			}
		}
	}
	return sym_intern_file(st, rel);
}
