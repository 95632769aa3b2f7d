/*
 * functions.c - the functions of one file or of a whole build with their
 * points and covered points, filtered by name, sorted and paged (a page
 * of a long list is a partial heap sort, not a full one).
 */
#include "cq.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

/* A function in a whole-build list. The strings are borrowed from the
 * point index, which the query holds until it is freed. */
struct fentry {
	const char *file, *name;
	int64_t line_start, line_end;
	uint64_t points, covered;
	uint64_t who; /* merged queries: builds that hit it (merge.c) */
};

struct func_walk {
	struct fentry *v;
	size_t n, cap;
	const char *match; /* keep only names or paths containing it, or NULL */
};

static int collect_func(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
			int64_t le, void *arg, struct kc_err *err)
{
	struct func_walk *w = arg;
	struct fentry *e;

	if (w->match && !strcasestr(name, w->match) && !strcasestr(v->path, w->match))
		return 0;
	if (KC_GROW(w->v, w->cap, w->n + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	e = &w->v[w->n++];
	e->file = v->path;
	e->name = name;
	e->line_start = ls;
	e->line_end = le;
	e->points = v->ftot[idx];
	e->covered = v->fcov[idx];
	e->who = v->merged ? v->fwho[idx] : 0;
	return 0;
}

static int func_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	return cq_each_function(q, v, collect_func, arg, err);
}

static void func_walk_release(struct func_walk *w)
{
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static int cmp_name(const struct fentry *a, const struct fentry *b)
{
	int c = strcmp(a->name, b->name);

	return c ? c : strcmp(a->file, b->file);
}

static int cmp_by_name(const void *x, const void *y)
{
	return cmp_name(x, y);
}

static int cmp_by_points(const void *x, const void *y)
{
	const struct fentry *a = x, *b = y;

	if (a->points != b->points)
		return a->points > b->points ? -1 : 1;
	return cmp_name(a, b);
}

static int cmp_by_coverage(const void *x, const void *y)
{
	const struct fentry *a = x, *b = y;
	/* a->covered / a->points vs b->covered / b->points, exactly (point
	 * counts of one function stay far below 2^32) */
	uint64_t l = a->covered * b->points, r = b->covered * a->points;

	if (l != r)
		return l > r ? -1 : 1;
	return cmp_by_points(x, y);
}

typedef int (*cmp_fn)(const void *, const void *);

static void sift_down(struct fentry *h, size_t n, size_t i, cmp_fn cmp)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct fentry t;

		if (l < n && cmp(&h[l], &h[m]) > 0)
			m = l;
		if (r < n && cmp(&h[r], &h[m]) > 0)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Put the k first entries of v (in cmp order) sorted at its front; the rest
 * is left in any order. A page of a long list costs O(n log k), not a full
 * sort: a max-heap of the k best seen so far. */
static void sort_first(struct fentry *v, size_t n, size_t k, cmp_fn cmp)
{
	if (k >= n / 2) {
		if (n > 1)
			qsort(v, n, sizeof(*v), cmp);
		return;
	}
	if (k == 0)
		return;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(v, k, i, cmp);
	for (size_t i = k; i < n; i++) {
		if (cmp(&v[i], &v[0]) < 0) {
			struct fentry t = v[0];

			v[0] = v[i];
			v[i] = t;
			sift_down(v, k, 0, cmp);
		}
	}
	qsort(v, k, sizeof(*v), cmp);
}

json_t *kc_covq_functions(struct kc_covq *q, const char *file, const char *match,
			  enum kc_func_sort sort, size_t limit, size_t offset, struct kc_err *err)
{
	struct func_walk w;
	json_t *out = NULL, *arr;
	int64_t n;

	memset(&w, 0, sizeof(w));
	w.match = match && *match ? match : NULL;
	n = cq_walk(q, file, NULL, func_file, &w, err);
	if (n < 0)
		goto out;
	if (file && n == 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no file %s in build %s", file, q->build_id);
		goto out;
	}
	sort_first(w.v, w.n, offset + limit,
		   sort == KC_SORT_NAME     ? cmp_by_name
		   : sort == KC_SORT_POINTS ? cmp_by_points
					    : cmp_by_coverage);
	arr = json_array();
	for (size_t i = offset; i < w.n && i - offset < limit; i++) {
		const struct fentry *e = &w.v[i];
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "file", e->file, "name",
				      e->name, "line_start", (json_int_t)e->line_start,
				      "line_end", (json_int_t)e->line_end, "points",
				      (json_int_t)e->points, "covered", (json_int_t)e->covered);

		if (o && q->merge) {
			json_object_set_new(o, "hit", json_boolean(e->who != 0));
			json_object_set_new(o, "builds", cq_merge_builds(q, e->who));
		}
		json_array_append_new(arr, o);
	}
	out = cq_base_object(q);
	if (file)
		json_object_set_new(out, "file", json_string(file));
	if (w.match)
		json_object_set_new(out, "q", json_string(w.match));
	json_object_set_new(out, "total", json_integer((json_int_t)w.n));
	json_object_set_new(out, "offset", json_integer((json_int_t)offset));
	json_object_set_new(out, "limit", json_integer((json_int_t)limit));
	json_object_set_new(out, "functions", arr);
	if (q->merge)
		json_object_set_new(out, "merge", cq_merge_object(q));
out:
	func_walk_release(&w);
	return out;
}
