/*
 * covquery.c - opening a coverage query of a build: look the build up,
 * load the filter's coverage per image (select.c, through the coverage
 * cache) and take the build's point index (pindex.c, through the index
 * cache), and freeing it again. The queries themselves are tree.c,
 * labels.c, functions.c and export.c; cq.h lists the modules.
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"

/* The coverage cache key of q's filter for import generation
 * `generation`, the caller's coverage generation and the build's own
 * (moved by every commit that adds to its coverage); NULL when out of
 * memory. */
static char *covset_key(const struct kc_covq *q, int64_t generation)
{
	const struct kc_cov_filter *f = &q->f;
	struct kc_buf b = KC_BUF_INIT;

	kc_buf_addf(&b, "%lld/%lld/%llu/%lld/%s/%s/%d/%lld/%lld", (long long)q->build,
		    (long long)generation, (unsigned long long)q->coverage_gen,
		    (long long)q->build_gen,
		    f->labels_json ? f->labels_json : "-", f->minus_json ? f->minus_json : "-",
		    f->days, (long long)f->since, (long long)f->until);
	if (b.oom) {
		kc_buf_release(&b);
		return NULL;
	}
	return (char *)b.data; /* NUL-terminated, owned by the caller */
}


void kc_covq_free(struct kc_covq *q)
{
	if (!q)
		return;
	if (q->img_ref)
		cq_covshared_put(q->cache, q->img_ref);
	else
		cq_covset_release(&q->img);
	for (uint32_t i = 0; !q->bitset_shared && q->bitset && q->index && i < q->index->nimg; i++)
		free(q->bitset[i]);
	if (!q->bitset_shared)
		free(q->bitset);
	free(q->cov);
	free(q->tkey);
	cq_merge_free(q->merge);
	free(q->fmask);
	if (q->index)
		cq_index_put(q->cache, q->index);
	free(q);
}

/* The filter's coverage per image into q->img, from the cache or the
 * database. */
static int load_coverage(struct kc_covq *q, int64_t generation, struct kc_err *err)
{
	char *key = covset_key(q, generation);
	int hit = key ? cq_covcache_get(q->cache, key, &q->img, &q->img_ref) : 0, ret = -1;

	if (!hit) {
		if (cq_load_filtered(q, 0, &q->img, err) < 0) {
			err->code = KC_E_INTERNAL;
			goto out;
		}
		if (key)
			cq_covcache_put(q->cache, key, &q->img, &q->img_ref);
	}
	ret = 0;
out:
	free(key);
	return ret;
}

/* q->fmask: the files of q's subsystem filter. */
static int subsystem_mask(struct kc_covq *q, struct kc_err *err)
{
	const struct psub *s = cq_find_subsystem(q->index, q->f.subsystem);

	if (!s)
		return kc_err_set(err, KC_E_NOT_FOUND, "no subsystem %s in build %s%s",
				  q->f.subsystem, q->build_id,
				  q->index->maintainers ? "" : " (imported without MAINTAINERS)");
	q->fmask = calloc((size_t)q->index->nfiles + 1, 1);
	if (!q->fmask)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < s->n; i++)
		q->fmask[s->files[i]] = 1;
	return 0;
}

struct kc_covq *kc_covq_open(struct kc_covq_cache *cache, struct kc_sql *db, uint64_t coverage_gen,
			     const char *build_id, const struct kc_cov_filter *f, unsigned flags,
			     struct kc_err *err)
{
	struct kc_covq *q = calloc(1, sizeof(*q));
	struct kc_stmt *st = NULL;
	int64_t generation = 0;
	int rc, ok = 0;

	if (!q) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	q->db = db;
	q->cache = cache;
	q->coverage_gen = coverage_gen;
	q->flags = flags;
	q->f = *f;
	/* Index loads and the summary read large blobs. */
	kc_db_tune_reader(db);
	snprintf(q->build_id, sizeof(q->build_id), "%s", build_id);
	st = kc_db_prepare(db,
			   "SELECT b.id, (SELECT imported FROM build_imports WHERE build = b.id), "
			   "b.coverage_gen FROM builds b WHERE b.build_id = ?",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_text(st, 1, build_id, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, st, err);
	if (rc == KC_DONE) {
		kc_err_set(err, KC_E_NOT_FOUND, "no build %s", build_id);
		goto out;
	}
	if (rc < 0)
		goto out;
	q->build = kc_stmt_column_int64(st, 0);
	q->imported = kc_stmt_column_type(st, 1) != KC_SQL_NULL;
	generation = kc_stmt_column_int64(st, 1);
	q->build_gen = kc_stmt_column_int64(st, 2);
	kc_stmt_finalize(st);
	st = NULL;
	if ((flags & KC_COVQ_NEED_IMPORT) && !q->imported) {
		kc_err_set(err, KC_E_NOT_IMPORTED,
			   "build %s has not been imported (POST /api/v1/builds)",
			    build_id);
		goto out;
	}
	if (!(flags & KC_COVQ_NO_COVERAGE) && load_coverage(q, generation, err) < 0)
		goto out;
	if (q->imported) {
		q->index = cq_index_get(q->cache, db, q->build, generation, err);
		if (!q->index) {
			err->code = KC_E_INTERNAL;
			goto out;
		}
		q->cov = calloc((size_t)q->index->nimg + 1, sizeof(*q->cov));
		if (!q->cov) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		for (uint32_t i = 0; i < q->index->nimg; i++)
			q->cov[i] = cq_covset_get(&q->img, q->index->img[i]);
		/* Flat bitsets an earlier walk made for this shared coverage:
		 * a bit test per point instead of a roaring lookup, for every
		 * query (merged file queries tally a file in each build). */
		if (q->img_ref && (q->bitset = cq_covshared_bitsets(q->cache, q->img_ref)))
			q->bitset_shared = 1;
		if (f->subsystem && subsystem_mask(q, err) < 0)
			goto out;
	}
	ok = 1;
out:
	kc_stmt_finalize(st);
	if (!ok) {
		kc_covq_free(q);
		q = NULL;
	}
	return q;
}
