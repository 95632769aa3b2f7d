/*
 * walk.c - walking the files of a query's point index in path order and
 * tallying, per file, points and covered points per line and per
 * function (struct fview), with flat bitsets of the coverage for walks
 * over many files; and the JSON pieces every answer shares.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

int cq_need_index(const struct kc_covq *q, struct kc_err *err)
{
	if (q->index)
		return 0;
	return kc_err_set(err, KC_E_NOT_IMPORTED, "build %s has not been imported (POST /api/v1/builds)",
			  q->build_id);
}

struct bitset_fill {
	uint64_t *w;
	uint32_t limit;
};

static bool set_bit(uint32_t v, void *arg)
{
	struct bitset_fill *b = arg;

	if (v >= b->limit)
		return false; /* values ascend: nothing further fits */
	b->w[v >> 6] |= 1ull << (v & 63);
	return true;
}

/* Flat bitsets of each image's coverage (up to its largest point bit), for
 * walks over many files: one load and mask per point. Made once per shared
 * coverage set (cache.c) and kept with it, so merged walks over many
 * builds do not rebuild them per request. */
int cq_ensure_bitsets(struct kc_covq *q, struct kc_err *err)
{
	const struct pindex *x = q->index;

	if (q->bitset)
		return 0;
	if (q->img_ref && (q->bitset = cq_covshared_bitsets(q->cache, q->img_ref))) {
		q->bitset_shared = 1;
		return 0;
	}
	q->bitset = calloc((size_t)x->nimg + 1, sizeof(*q->bitset));
	if (!q->bitset)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < x->nimg; i++) {
		struct bitset_fill b;

		if (!q->cov[i] || !x->img_limit[i])
			continue;
		b.limit = x->img_limit[i];
		b.w = calloc(((size_t)b.limit + 63) / 64, 8);
		if (!b.w)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		roaring_iterate(q->cov[i], set_bit, &b);
		q->bitset[i] = b.w;
	}
	if (q->img_ref && cq_covshared_keep_bitsets(q->cache, q->img_ref, q->bitset, x->nimg))
		q->bitset_shared = 1;
	return 0;
}

void cq_fview_release(struct fview *v)
{
	free(v->ltot);
	free(v->lcov);
	free(v->ftot);
	free(v->fcov);
	free(v->mstate);
	free(v->mwho);
	free(v->fhit);
	free(v->fwho);
	memset(v, 0, sizeof(*v));
}

/* Tally the points of one file. */
int cq_fview_fill(struct kc_covq *q, struct fview *v, const struct pfile *pf,
		      struct kc_err *err)
{
	if (pf->nlines + 1 > v->lcap) {
		free(v->ltot);
		free(v->lcov);
		v->lcap = pf->nlines + 1;
		v->ltot = malloc(v->lcap * 4);
		v->lcov = malloc(v->lcap * 4);
	}
	if (pf->nfuncs + 1 > v->fcap) {
		free(v->ftot);
		free(v->fcov);
		v->fcap = pf->nfuncs + 1;
		v->ftot = malloc(v->fcap * 4);
		v->fcov = malloc(v->fcap * 4);
	}
	if (!v->ltot || !v->lcov || !v->ftot || !v->fcov) {
		v->lcap = v->fcap = 0;
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	v->pf = pf;
	v->id = pf->id;
	v->path = pf->path;
	v->lines = pf->lines;
	v->nlines = pf->nlines;
	v->nfuncs = pf->nfuncs;
	memset(v->ltot, 0, ((size_t)pf->nlines + 1) * 4);
	memset(v->lcov, 0, ((size_t)pf->nlines + 1) * 4);
	memset(v->ftot, 0, ((size_t)pf->nfuncs + 1) * 4);
	memset(v->fcov, 0, ((size_t)pf->nfuncs + 1) * 4);
	v->points = v->covered = 0;
	for (uint32_t k = 0; k < pf->nparts; k++) {
		const struct part *p = &pf->parts[k];
		const uint64_t *bs = q->bitset ? q->bitset[p->slot] : NULL;
		const roaring_bitmap_t *cov = q->cov[p->slot];
		uint32_t *restrict ltot = v->ltot, *restrict lcov = v->lcov;
		uint32_t *restrict ftot = v->ftot, *restrict fcov = v->fcov;
		const uint32_t nlines = v->nlines, nfuncs = v->nfuncs;
		uint64_t covered = 0;

		for (uint32_t i = 0; i < p->n; i++) {
			uint32_t b = p->bits[i], l = p->li[i], f = p->fi[i], c;

			if (bs)
				c = (uint32_t)(bs[b >> 6] >> (b & 63)) & 1;
			else
				c = cov && roaring_bitmap_contains(cov, b);
			if (l < nlines) {
				ltot[l]++;
				lcov[l] += c;
			}
			if (f < nfuncs) {
				ftot[f]++;
				fcov[f] += c;
			}
			covered += c;
		}
		v->covered += covered;
		v->points += p->n;
	}
	return q->merge ? cq_merge_fill(q, v, err) : 0;
}

void cq_fview_totals(const struct fview *v, struct totals *t)
{
	uint64_t lines = 0, full = 0, partial = 0, funcs = 0, hit = 0;

	memset(t, 0, sizeof(*t));
	t->files = 1;
	t->points = v->points;
	t->covered = v->covered;
	/* branch-free: coverage makes these comparisons unpredictable */
	for (uint32_t l = 0; l < v->nlines; l++) {
		uint32_t tot = v->ltot[l], cov = v->lcov[l];

		lines += tot != 0;
		full += (tot != 0) & (cov == tot);
		partial += (cov != 0) & (cov != tot);
	}
	for (uint32_t f = 0; f < v->nfuncs; f++) {
		funcs += v->ftot[f] != 0;
		hit += v->fcov[f] != 0;
	}
	if (v->merged) {
		/* best state over the merged builds (merge.c) */
		full = partial = hit = 0;
		for (uint32_t l = 0; l < v->nlines; l++) {
			full += v->ltot[l] && v->mstate[l] == 2;
			partial += v->ltot[l] && v->mstate[l] == 1;
		}
		for (uint32_t f = 0; f < v->nfuncs; f++)
			hit += v->ftot[f] && v->fhit[f];
		t->lost = v->lost;
		t->merged = 1;
	}
	t->lines = lines;
	t->lines_full = full;
	t->lines_partial = partial;
	t->funcs = funcs;
	t->funcs_hit = hit;
}

void cq_totals_add(struct totals *a, const struct totals *b)
{
	a->points += b->points;
	a->covered += b->covered;
	a->lines += b->lines;
	a->lines_full += b->lines_full;
	a->lines_partial += b->lines_partial;
	a->funcs += b->funcs;
	a->funcs_hit += b->funcs_hit;
	a->files += b->files;
	a->lost += b->lost;
	a->merged |= b->merged;
}

int cq_ensure_walk_bitsets(struct kc_covq *q, struct kc_err *err)
{
	if (cq_ensure_bitsets(q, err) < 0)
		return -1;
	for (uint32_t k = 0; q->merge && k < q->merge->n; k++)
		if (cq_ensure_bitsets(q->merge->sub[k].q, err) < 0)
			return -1;
	return 0;
}

int cq_walk_range(const struct pindex *x, const char *exact, const char *prefix, uint32_t *lo,
		  uint32_t *hi, struct kc_err *err)
{
	*lo = 0;
	*hi = x->nfiles;
	if (exact) {
		*lo = cq_lower_bound(x, exact);
		*hi = *lo < x->nfiles && strcmp(x->files[*lo].path, exact) == 0 ? *lo + 1 : *lo;
	} else if (prefix && *prefix) {
		size_t n = strlen(prefix);
		char *upper = strdup(prefix);

		if (!upper)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		upper[n - 1] = (char)(upper[n - 1] + 1); /* "dir/" -> "dir0" */
		*lo = cq_lower_bound(x, prefix);
		*hi = cq_lower_bound(x, upper);
		free(upper);
	}
	return 0;
}

int64_t cq_walk(struct kc_covq *q, const char *exact, const char *prefix, file_fn fn,
		    void *arg, struct kc_err *err)
{
	const struct pindex *x = q->index;
	uint32_t lo, hi;
	struct fview v;
	int64_t ret = -1;

	memset(&v, 0, sizeof(v));
	if (cq_need_index(q, err) < 0 || cq_walk_range(x, exact, prefix, &lo, &hi, err) < 0)
		return -1;
	if (hi - lo > KC_BITSET_MIN_FILES && cq_ensure_walk_bitsets(q, err) < 0)
		goto out;
	ret = 0;
	for (uint32_t f = lo; f < hi; f++) {
		if (!cq_file_in(q, f))
			continue;
		if (cq_fview_fill(q, &v, &x->files[f], err) < 0 || fn(q, &v, arg, err) < 0) {
			ret = -1;
			goto out;
		}
		ret++;
	}
out:
	cq_fview_release(&v);
	return ret;
}

int cq_each_function(struct kc_covq *q, const struct fview *v, func_fn fn, void *arg,
			 struct kc_err *err)
{
	(void)q;
	for (uint32_t i = 0; i < v->nfuncs; i++) {
		const struct pfunc *pf = &v->pf->funcs[i];

		if (pf->name && v->ftot[i] && fn(v, i, pf->name, pf->line_start, pf->line_end, arg,
						  err) < 0)
			return -1;
	}
	return 0;
}

void cq_put_totals(json_t *o, const struct totals *t)
{
	json_object_set_new(o, "points_covered", json_integer((json_int_t)t->covered));
	json_object_set_new(o, "points_total", json_integer((json_int_t)t->points));
	json_object_set_new(o, "lines_covered", json_integer((json_int_t)t->lines_full));
	json_object_set_new(o, "lines_partial", json_integer((json_int_t)t->lines_partial));
	json_object_set_new(o, "lines_total", json_integer((json_int_t)t->lines));
	json_object_set_new(o, "functions_covered", json_integer((json_int_t)t->funcs_hit));
	json_object_set_new(o, "functions_total", json_integer((json_int_t)t->funcs));
	if (t->merged)
		json_object_set_new(o, "lost_lines", json_integer((json_int_t)t->lost));
}

json_t *cq_base_object(struct kc_covq *q)
{
	return json_pack("{s:s}", "build_id", q->build_id);
}
