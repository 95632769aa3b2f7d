/*
 * history.c - coverage over time (GET /api/v1/history, docs/api-coverage.md
 * "History"): per period (UTC day, ISO week or calendar month) the builds
 * with coverage taken in it, and the coverage of a path merged over them
 * and projected onto the period's newest imported build T, exactly as a
 * merge= query of T with the period's days would answer (merge.c). The
 * lines newly covered and no longer covered compare this period's covered
 * lines of T with the previous period's coverage projected onto the same
 * T (when the previous period had the same T, its answer is reused).
 *
 * What a period costs is cached (cache.c, struct cq_hist): per period
 * and T, the merged figures of every file of T and its covered lines,
 * under a key naming the filter, the days, the period's builds with their
 * import generations and the coverage_days stamps of the days (schema
 * 012, kept by triggers on coverage, so every writer of per-day rows
 * moves them). The (day, build) pairs and the stamps are read once per
 * series; a period found in the cache costs a sum over the path's files
 * of T; one that is not costs a merged walk of every file of T. Any path
 * of the same period and T shares the entry.
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "day.h"
#include "db.h"
#include "grow.h"

/* ---- periods ---- */

static int year_of(int64_t day)
{
	char s[11];

	kc_day_format(day, s);
	return atoi(s);
}

/* First day of year y, month m (1..12; 13 is January of y + 1). */
static int64_t month_day(int y, int m)
{
	char s[32];
	int64_t d = 0;

	if (y < 1970 || y > 9999)
		return KC_DAY_MAX + 1;
	if (m > 12) {
		y++;
		m -= 12;
	}
	snprintf(s, sizeof(s), "%04d-%02d-01", y, m);
	return kc_day_parse(s, &d) == 0 ? d : KC_DAY_MAX + 1;
}

int64_t kc_period_start(enum kc_step step, int64_t day)
{
	char s[11];

	switch (step) {
	case KC_STEP_WEEK:
		return day - (day + 3) % 7; /* 1970-01-01 was a Thursday */
	case KC_STEP_MONTH:
		kc_day_format(day, s);
		return month_day(atoi(s), atoi(s + 5));
	default:
		return day;
	}
}

int64_t kc_period_next(enum kc_step step, int64_t start)
{
	char s[11];

	switch (step) {
	case KC_STEP_WEEK:
		return start + 7;
	case KC_STEP_MONTH:
		kc_day_format(start, s);
		return month_day(atoi(s), atoi(s + 5) + 1);
	default:
		return start + 1;
	}
}

void kc_period_name(enum kc_step step, int64_t start, char out[16])
{
	char s[11];

	kc_day_format(start, s);
	if (step == KC_STEP_DAY) {
		memcpy(out, s, 11);
	} else if (step == KC_STEP_MONTH) {
		memcpy(out, s, 7);
		out[7] = '\0';
	} else {
		/* ISO 8601: the week belongs to the year of its Thursday */
		int64_t thu = start + 3;
		int y = year_of(thu);

		snprintf(out, 16, "%04d-W%02d", y % 10000,
			 (int)((thu - month_day(y, 1)) / 7 + 1) % 100);
	}
}

/* ---- one period ---- */

/* The builds with coverage of the request's labels on days [a, b], oldest
 * first (first seen, then id), with whether each was imported. */
struct pbuild {
	char id[KC_BUILD_ID_MAX + 1];
	int imported;
	int64_t seen, row; /* builds.first_seen, builds.id */
	int64_t gen;       /* build_imports.imported, 0: none */
};

struct pbuilds {
	struct pbuild *v;
	size_t n, cap;
};

/* The (day, build) pairs with coverage of a series, by day: read once per
 * series (one statement, not one per period). */
struct daybuild {
	int64_t day;
	struct pbuild b;
};

struct daybuilds {
	struct daybuild *v;
	size_t n, cap;
};

/* The pairs come from coverage_days (schema 012), which counts every
 * label's rows; with a label filter, those of its (day, binary) rows that
 * have a row of one of the labels (a primary key lookup each). */
static int load_daybuilds(struct kc_sql *db, const struct kc_history_req *h, const char *labels,
			  int64_t a, int64_t b, struct daybuilds *out, struct kc_err *err)
{
#define SQL(J)                                                                             \
	"SELECT cd.day, b.build_id, EXISTS (SELECT 1 FROM images i WHERE i.build = b.id), "  \
	"b.first_seen, b.id, (SELECT bim.imported FROM build_imports bim WHERE bim.build = b.id) " \
	"FROM coverage_days cd JOIN binaries bi ON bi.id = cd.binary "                      \
	"JOIN builds b ON b.id = bi.build "                                                 \
	"WHERE cd.nrows > 0 AND cd.day BETWEEN ?1 AND ?2 "                                  \
	"AND (?4 IS NULL OR substr(b.release, 1, length(?4)) = ?4) "                        \
	"AND (?3 IS NULL OR EXISTS (SELECT 1 FROM coverage c WHERE c.binary = cd.binary "   \
	" AND c.day = cd.day AND c.label IN "                                               \
	" (SELECT l.id FROM labels l WHERE l.name IN " J "))) "                             \
	"GROUP BY cd.day, b.id ORDER BY cd.day"
	static const char *const sql[2] = { SQL(KC_SQL_JSON_TEXTS_SQLITE("?3")),
					    SQL(KC_SQL_JSON_TEXTS_PG("?3")) };
#undef SQL
	struct kc_stmt *st = kc_db_prepare(db, sql[kc_sql_backend(db) == KC_SQL_PG], err);
	int rc, ret = -1;

	out->n = 0;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, a);
	kc_stmt_bind_int64(st, 2, b);
	if (labels)
		kc_stmt_bind_text(st, 3, labels, -1, KC_SQL_STATIC);
	if (h->release)
		kc_stmt_bind_text(st, 4, h->release, -1, KC_SQL_STATIC);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		struct daybuild *d;

		if (KC_GROW(out->v, out->cap, out->n + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		d = &out->v[out->n++];
		d->day = kc_stmt_column_int64(st, 0);
		snprintf(d->b.id, sizeof(d->b.id), "%s", (const char *)kc_stmt_column_text(st, 1));
		d->b.imported = kc_stmt_column_int(st, 2);
		d->b.seen = kc_stmt_column_int64(st, 3);
		d->b.row = kc_stmt_column_int64(st, 4);
		d->b.gen = kc_stmt_column_int64(st, 5);
	}
	ret = rc == KC_DONE ? 0 : -1;
out:
	kc_stmt_finalize(st);
	return ret;
}

/* The coverage_days stamps of a series' days (schema 012), by day: what
 * the cache keys of its periods name. Read before the pairs and the
 * coverage, so an entry stored under them holds coverage at least as new. */
struct stamp {
	int64_t day, binary, stamp;
};

struct stamps {
	struct stamp *v;
	size_t n, cap;
};

static int load_stamps(struct kc_sql *db, int64_t a, int64_t b, struct stamps *out,
		       struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db,
					   "SELECT cd.day, cd.binary, cd.stamp FROM coverage_days cd "
					   "WHERE cd.day BETWEEN ?1 AND ?2 ORDER BY cd.day, cd.binary",
					   err);
	int rc, ret = -1;

	out->n = 0;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, a);
	kc_stmt_bind_int64(st, 2, b);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(out->v, out->cap, out->n + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		out->v[out->n].day = kc_stmt_column_int64(st, 0);
		out->v[out->n].binary = kc_stmt_column_int64(st, 1);
		out->v[out->n++].stamp = kc_stmt_column_int64(st, 2);
	}
	ret = rc == KC_DONE ? 0 : -1;
out:
	kc_stmt_finalize(st);
	return ret;
}

static int pbuild_cmp(const void *x, const void *y)
{
	const struct pbuild *a = x, *b = y;

	if (a->seen != b->seen)
		return a->seen < b->seen ? -1 : 1;
	return (a->row > b->row) - (a->row < b->row);
}

/* The builds of days [a, b] out of the series' pairs. */
static int period_builds(const struct daybuilds *all, int64_t a, int64_t b, struct pbuilds *out,
			 struct kc_err *err)
{
	out->n = 0;
	for (size_t i = 0; i < all->n; i++) {
		size_t k;

		if (all->v[i].day < a || all->v[i].day > b)
			continue;
		for (k = 0; k < out->n && out->v[k].row != all->v[i].b.row; k++)
			;
		if (k < out->n)
			continue;
		if (KC_GROW(out->v, out->cap, out->n + 1) < 0)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		out->v[out->n++] = all->v[i].b;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), pbuild_cmp);
	return 0;
}

static void pbuilds_release(struct pbuilds *p)
{
	free(p->v);
}

/* ---- a period's figures, cached ---- */

/* Filling an entry: one record per file of T walked, its covered lines. */
struct hfill {
	struct cq_hist *h;
	size_t cap, kcap;
};

static int hfill_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct hfill *w = arg;
	struct cq_hist *h = w->h;
	uint32_t f = (uint32_t)(v->pf - q->index->files);
	struct totals t;

	cq_fview_totals(v, &t);
	if (KC_GROW(h->rec, w->cap, (size_t)h->nrec + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	h->rec[h->nrec++] = (struct cq_hfile){ .file = f,
					       .points = (uint32_t)t.points,
					       .covered = (uint32_t)t.covered,
					       .lines = (uint32_t)t.lines,
					       .lines_full = (uint32_t)t.lines_full,
					       .lines_partial = (uint32_t)t.lines_partial,
					       .funcs = (uint32_t)t.funcs,
					       .funcs_hit = (uint32_t)t.funcs_hit,
					       .lost = (uint32_t)t.lost };
	for (uint32_t l = 0; l < v->nlines; l++) {
		if (!v->ltot[l] || v->mstate[l] != 2)
			continue;
		if (KC_GROW(h->keys, w->kcap, h->nkeys + 1) < 0)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		h->keys[h->nkeys++] = (uint64_t)f << 32 | l;
	}
	return 0;
}

/* Open the merged query of T over days [a, b] merged with the builds of
 * pb (T itself and builds never imported are left out by kc_covq_merge;
 * the latter are listed as skipped). NULL with err set. */
static struct kc_covq *open_merged(const struct kc_history_ctx *c, const char *t,
				   const char *labels, int64_t a, int64_t b,
				   const struct pbuilds *pb, struct kc_err *err)
{
	struct kc_cov_filter f = { .labels_json = labels, .minus_json = c->h->minus_json,
				   .days = 1, .since = a, .until = b,
				   .subsystem = c->h->subsystem };
	const char *ids[KC_MERGE_MAX + 1];
	struct kc_covq_merge m = { .builds = ids };
	struct kc_covq *q;

	for (size_t i = 0; i < pb->n; i++) {
		if (strcmp(pb->v[i].id, t) == 0)
			continue;
		if (m.nbuilds == KC_MERGE_MAX) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "more than %d builds have coverage in one period: use a shorter "
				   "step or release=", KC_MERGE_MAX + 1);
			return NULL;
		}
		ids[m.nbuilds++] = pb->v[i].id;
	}
	q = kc_covq_open(c->cache, c->db, c->coverage_gen, t, &f, KC_COVQ_NEED_IMPORT, err);
	if (q && kc_covq_merge(q, &m, err) < 0) {
		kc_covq_free(q);
		q = NULL;
	}
	return q;
}

/* The cache key of period [a, b] projected onto T (its row and import
 * generation) with the builds pb: everything its figures depend on. NULL
 * when out of memory. */
static char *period_key(const struct kc_history_ctx *c, const char *labels, int64_t a, int64_t b,
			const struct pbuild *t, const struct pbuilds *pb, const struct stamps *sv)
{
	const struct kc_history_req *h = c->h;
	const char *strs[3] = { labels, h->minus_json, h->subsystem };
	struct kc_buf k = KC_BUF_INIT;

	/* the strings with their lengths ("-" for none): no name can run into
	 * the next field */
	for (int i = 0; i < 3; i++)
		if (strs[i])
			kc_buf_addf(&k, "%zu:%s|", strlen(strs[i]), strs[i]);
		else
			kc_buf_addf(&k, "%s", "-|");
	kc_buf_addf(&k, "%lld-%lld|T%lld:%lld|", (long long)a, (long long)b, (long long)t->row,
		    (long long)t->gen);
	for (size_t i = 0; i < pb->n; i++)
		kc_buf_addf(&k, "%lld:%lld:%d,", (long long)pb->v[i].row, (long long)pb->v[i].gen,
			    pb->v[i].imported);
	kc_buf_addf(&k, "%s", "|");
	for (size_t i = 0; i < sv->n; i++)
		if (sv->v[i].day >= a && sv->v[i].day <= b)
			kc_buf_addf(&k, "%lld:%lld:%lld,", (long long)sv->v[i].day,
				    (long long)sv->v[i].binary, (long long)sv->v[i].stamp);
	if (k.oom || !k.data) {
		kc_buf_release(&k);
		return NULL;
	}
	return (char *)k.data;
}

/* The figures of days [a, b] with builds pb merged onto T: from the cache,
 * else by a merged walk of every file of T (then stored). A counted
 * reference (cq_hist_put), or NULL with err set. */
static struct cq_hist *period_figures(const struct kc_history_ctx *c, const char *labels,
				      int64_t a, int64_t b, const struct pbuild *t,
				      const struct pbuilds *pb, const struct stamps *sv,
				      struct kc_err *err)
{
	char *key = period_key(c, labels, a, b, t, pb, sv);
	struct hfill w = { 0 };
	struct kc_covq *q = NULL;
	struct kc_err e;

	if (!key) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	if ((w.h = cq_hist_get(c->cache, key)))
		goto out;
	if (!(w.h = cq_hist_new())) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	kc_err_clear(&e);
	q = open_merged(c, t->id, labels, a, b, pb, &e);
	if (!q && e.code == KC_E_NOT_FOUND && c->h->subsystem) {
		w.h->nosub = 1; /* T lacks the subsystem: nothing to count */
	} else if (!q || cq_walk(q, NULL, NULL, hfill_file, &w, err) < 0) {
		if (!q)
			*err = e;
		cq_hist_put(c->cache, w.h);
		w.h = NULL;
		goto out;
	}
	cq_hist_store(c->cache, key, w.h);
out:
	kc_covq_free(q);
	free(key);
	return w.h;
}

/* The records of h on T's files [lo, hi). */
static void rec_range(const struct cq_hist *h, uint32_t lo, uint32_t hi, size_t *from,
		      size_t *to)
{
	size_t i = 0, j = h->nrec, m;

	while (i < j) {
		m = i + (j - i) / 2;
		if (h->rec[m].file < lo)
			i = m + 1;
		else
			j = m;
	}
	*from = i;
	for (j = i; j < h->nrec && h->rec[j].file < hi; j++)
		;
	*to = j;
}

/* The covered lines of h on T's files [lo, hi): keys [*from, *to). */
static void key_range(const struct cq_hist *h, uint32_t lo, uint32_t hi, size_t *from,
		      size_t *to)
{
	uint64_t bound[2] = { (uint64_t)lo << 32, (uint64_t)hi << 32 };
	size_t r[2];

	for (int k = 0; k < 2; k++) {
		size_t i = 0, j = h ? h->nkeys : 0, m;

		while (i < j) {
			m = i + (j - i) / 2;
			if (h->keys[m] < bound[k])
				i = m + 1;
			else
				j = m;
		}
		r[k] = i;
	}
	*from = r[0];
	*to = r[1];
}

/* The covered lines of a and of b (NULL: none) on T's files [lo, hi) and
 * how many both have: |a \ b| = na - both, |b \ a| = nb - both. One
 * branch-free merge of the two ascending key ranges. */
static void overlap(const struct cq_hist *a, const struct cq_hist *b, uint32_t lo, uint32_t hi,
		    uint64_t *na, uint64_t *nb, uint64_t *both)
{
	size_t i, ie, j, je;
	uint64_t n = 0;

	key_range(a, lo, hi, &i, &ie);
	key_range(b, lo, hi, &j, &je);
	*na = ie - i;
	*nb = je - j;
	while (i < ie && j < je) {
		uint64_t x = a->keys[i], y = b->keys[j];

		n += x == y;
		i += x <= y;
		j += y <= x;
	}
	*both = n;
}

/* The request's path in T's index: files [*lo, *hi), as walk_path did. */
static int path_range(const struct pindex *x, const char *path, uint32_t *lo, uint32_t *hi,
		      struct kc_err *err)
{
	uint32_t at = cq_lower_bound(x, path);
	size_t len;
	char *prefix;
	int ret;

	if (!*path)
		return cq_walk_range(x, NULL, NULL, lo, hi, err);
	if (at < x->nfiles && strcmp(x->files[at].path, path) == 0)
		return cq_walk_range(x, path, NULL, lo, hi, err);
	len = strlen(path);
	if (!(prefix = malloc(len + 2)))
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	memcpy(prefix, path, len);
	prefix[len] = '/';
	prefix[len + 1] = '\0';
	ret = cq_walk_range(x, NULL, prefix, lo, hi, err);
	free(prefix);
	return ret;
}

/* The state carried from one period to the next of a series. */
struct carry {
	struct daybuilds days; /* the series' (day, build) pairs */
	struct stamps stamps;  /* the series' coverage_days stamps */
	struct pbuild t;       /* the previous period's T; t.id "" when none */
	struct cq_hist *cur;   /* the previous period's figures on its T */
	struct pbuilds pb, prevpb;
	int64_t prev_a, prev_b;
};

static json_t *builds_array(const struct pbuilds *pb, int imported)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < pb->n; i++)
		if (pb->v[i].imported == imported)
			json_array_append_new(a, json_string(pb->v[i].id));
	return a;
}

static void put_nulls(json_t *o)
{
	static const char *const keys[] = { "files", "points_covered", "points_total",
					    "lines_covered", "lines_partial", "lines_total",
					    "functions_covered", "functions_total",
					    "lost_lines", "lines_new", "lines_dropped" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_set_new(o, keys[i], json_null());
}

/* The figures of period [a, b] into o. */
static int period(const struct kc_history_ctx *c, const char *labels, int64_t a, int64_t b,
		  struct carry *cr, json_t *o, struct kc_err *err)
{
	struct cq_hist *cur = NULL, *prev = NULL;
	const struct pbuild *t = NULL;
	struct pindex *x = NULL;
	struct totals tot;
	uint64_t ncur, nprev, both;
	uint32_t lo, hi;
	size_t from, to;
	int ret = -1;

	if (period_builds(&cr->days, a, b, &cr->pb, err) < 0)
		return -1;
	for (size_t i = 0; i < cr->pb.n; i++)
		if (cr->pb.v[i].imported)
			t = &cr->pb.v[i]; /* the newest imported */
	json_object_set_new(o, "build_id", t ? json_string(t->id) : json_null());
	json_object_set_new(o, "builds", builds_array(&cr->pb, 1));
	json_object_set_new(o, "not_imported", builds_array(&cr->pb, 0));
	if (t && !(cur = period_figures(c, labels, a, b, t, &cr->pb, &cr->stamps, err)))
		return -1;
	if (!cur || cur->nosub) {
		/* no imported build, or T lacks the subsystem: nothing to count */
		put_nulls(o);
		cr->t.id[0] = '\0';
		cq_hist_put(c->cache, cur);
		cur = NULL;
		ret = 0;
		goto swap;
	}
	/* the previous period projected onto this T: the previous answer
	 * when it had the same T, else its figures on T */
	if (strcmp(cr->t.id, t->id) == 0) {
		prev = cr->cur;
		cr->cur = NULL;
	} else if (cr->prevpb.n &&
		   !(prev = period_figures(c, labels, cr->prev_a, cr->prev_b, t, &cr->prevpb,
					   &cr->stamps, err))) {
		goto fail;
	}
	if (!(x = cq_index_get(c->cache, c->db, t->row, t->gen, err)) ||
	    path_range(x, c->h->path, &lo, &hi, err) < 0)
		goto fail;
	memset(&tot, 0, sizeof(tot));
	tot.merged = 1;
	rec_range(cur, lo, hi, &from, &to);
	for (size_t i = from; i < to; i++) {
		const struct cq_hfile *r = &cur->rec[i];

		tot.points += r->points;
		tot.covered += r->covered;
		tot.lines += r->lines;
		tot.lines_full += r->lines_full;
		tot.lines_partial += r->lines_partial;
		tot.funcs += r->funcs;
		tot.funcs_hit += r->funcs_hit;
		tot.lost += r->lost;
	}
	tot.files = to - from;
	json_object_set_new(o, "files", json_integer((json_int_t)tot.files));
	cq_put_totals(o, &tot);
	overlap(cur, prev, lo, hi, &ncur, &nprev, &both);
	json_object_set_new(o, "lines_new", json_integer((json_int_t)(ncur - both)));
	json_object_set_new(o, "lines_dropped", json_integer((json_int_t)(nprev - both)));
	cr->t = *t;
	ret = 0;
swap:
	{
		struct pbuilds y = cr->prevpb;

		cr->prevpb = cr->pb;
		cr->pb = y;
		cr->prev_a = a;
		cr->prev_b = b;
	}
	cq_hist_put(c->cache, cr->cur);
	cr->cur = cur;
	cur = NULL;
fail:
	if (x)
		cq_index_put(c->cache, x);
	cq_hist_put(c->cache, prev);
	cq_hist_put(c->cache, cur);
	return ret;
}

/* The periods of one series (labels: a JSON array text or NULL). */
static json_t *series(const struct kc_history_ctx *c, const char *labels, struct kc_err *err)
{
	const struct kc_history_req *h = c->h;
	json_t *arr = json_array(), *scratch = json_object();
	struct carry cr;
	int64_t a = kc_period_start(h->step, h->since);
	int64_t pa = a >= 1 ? kc_period_start(h->step, a - 1) : a; /* none before day 0 */
	int64_t end = kc_period_next(h->step, kc_period_start(h->step, h->until)) - 1;
	int ok = 0;

	memset(&cr, 0, sizeof(cr));
	if (!arr || !scratch) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (load_stamps(c->db, pa, end, &cr.stamps, err) < 0 ||
	    load_daybuilds(c->db, h, labels, pa, end, &cr.days, err) < 0)
		goto out;
	/* the period before the first, for the first one's comparison */
	if (a >= 1 && period(c, labels, pa, a - 1, &cr, scratch, err) < 0)
		goto out;
	for (; a <= h->until; a = kc_period_next(h->step, a)) {
		int64_t b = kc_period_next(h->step, a) - 1;
		char name[16], d1[11], d2[11];
		json_t *o;

		kc_period_name(h->step, a, name);
		kc_day_format(a, d1);
		kc_day_format(b, d2);
		o = json_pack("{s:s, s:s, s:s}", "period", name, "first_day", d1, "last_day", d2);
		if (!o || json_array_append_new(arr, o) < 0 ||
		    period(c, labels, a, b, &cr, o, err) < 0)
			goto out;
	}
	ok = 1;
out:
	json_decref(scratch);
	free(cr.days.v);
	free(cr.stamps.v);
	cq_hist_put(c->cache, cr.cur);
	pbuilds_release(&cr.pb);
	pbuilds_release(&cr.prevpb);
	if (!ok) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* The labels of the series: the request's, else every label with coverage
 * in the days, by name; at most KC_HISTORY_MAX_SERIES. */
static json_t *series_labels(const struct kc_history_ctx *c, struct kc_err *err)
{
	const struct kc_history_req *h = c->h;
	json_t *names;
	struct kc_stmt *st;
	int rc;

	if (h->labels_json) {
		names = json_loads(h->labels_json, 0, NULL);
		if (!names) {
			kc_err_set(err, KC_E_INTERNAL, "bad label list");
			return NULL;
		}
	} else {
		names = json_array();
		st = kc_db_prepare(c->db,
				   "SELECT l.name FROM labels l WHERE EXISTS (SELECT 1 FROM "
				   "coverage c WHERE c.label = l.id AND c.day BETWEEN ?1 AND ?2) "
				   "ORDER BY l.name",
				   err);
		if (!st || !names) {
			json_decref(names);
			kc_stmt_finalize(st);
			return NULL;
		}
		kc_stmt_bind_int64(st, 1, kc_period_start(h->step, h->since));
		kc_stmt_bind_int64(st, 2, h->until);
		while ((rc = kc_db_step(c->db, st, err)) == KC_ROW)
			json_array_append_new(names,
					      json_string((const char *)kc_stmt_column_text(st, 0)));
		kc_stmt_finalize(st);
		if (rc != KC_DONE) {
			json_decref(names);
			return NULL;
		}
	}
	if (json_array_size(names) > KC_HISTORY_MAX_SERIES) {
		json_decref(names);
		kc_err_set(err, KC_E_BAD_INPUT,
			   "series=label over %d labels: name at most %d with label=",
			   (int)json_array_size(names), KC_HISTORY_MAX_SERIES);
		return NULL;
	}
	return names;
}

json_t *kc_covq_history(const struct kc_history_ctx *c, struct kc_err *err)
{
	const struct kc_history_req *h = c->h;
	json_t *out = NULL, *names = NULL, *arr;
	char d1[11], d2[11];
	size_t n = 0, i;
	json_t *v;

	for (int64_t a = kc_period_start(h->step, h->since); a <= h->until;
	     a = kc_period_next(h->step, a))
		if (++n > KC_HISTORY_MAX_PERIODS) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "more than %d periods between since= and until=",
				   KC_HISTORY_MAX_PERIODS);
			return NULL;
		}
	kc_day_format(h->since, d1);
	kc_day_format(h->until, d2);
	out = json_pack("{s:s, s:s, s:s, s:s}", "path", h->path,
			"step", h->step == KC_STEP_DAY ? "day" : h->step == KC_STEP_WEEK ? "week"
											  : "month",
			"since", d1, "until", d2);
	if (!out) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (!h->series) {
		if (!(arr = series(c, h->labels_json, err)))
			goto fail;
		json_object_set_new(out, "periods", arr);
		return out;
	}
	if (!(names = series_labels(c, err)) || !(arr = json_array()))
		goto fail;
	json_object_set_new(out, "series", arr);
	json_array_foreach(names, i, v) {
		json_t *one = json_array(), *periods;
		char *text;

		if (!one || json_array_append(one, v) < 0 || !(text = json_dumps(one, JSON_COMPACT))) {
			json_decref(one);
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto fail;
		}
		json_decref(one);
		periods = series(c, text, err);
		free(text);
		if (!periods)
			goto fail;
		json_array_append_new(arr, json_pack("{s:O, s:o}", "label", v, "periods", periods));
	}
	json_decref(names);
	return out;
fail:
	json_decref(names);
	json_decref(out);
	return NULL;
}
