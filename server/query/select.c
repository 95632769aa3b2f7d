/*
 * select.c - which coverage a query counts: per image (or per binaries
 * row) the union of the coverage rows of the filter's labels and days,
 * minus the union of the minus labels' rows. Rows are read in id order
 * so each key's rows arrive together and are OR-ed as they come.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include "day.h"
#include "db.h"
#include "search.h"
#include "grow.h"

void cq_covset_release(struct covset *s)
{
	for (size_t i = 0; i < s->n; i++)
		kc_bitmap_free(s->v[i].bits);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct id_key {
	const struct covset *s;
	int64_t id;
};

static int id_below(const void *ctx, size_t i)
{
	const struct id_key *k = ctx;

	return k->s->v[i].id < k->id;
}

const roaring_bitmap_t *cq_covset_get(const struct covset *s, int64_t id)
{
	struct id_key k = { s, id };
	size_t lo = kc_lower_bound(s->n, id_below, &k);

	return lo < s->n && s->v[lo].id == id ? s->v[lo].bits : NULL;
}

/* Step st (bound) to its end, OR-ing column 1's bitmaps into out by the
 * key in column 0. Rows come grouped by key, ascending (images and
 * binaries scanned in id order), so merging looks at the last entry only. */
static int covset_read(struct kc_sql *db, struct kc_stmt *st, struct covset *out,
		       struct kc_err *err)
{
	int rc;

	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		int64_t id = kc_stmt_column_int64(st, 0);
		roaring_bitmap_t *b = kc_db_column_bitmap(st, 1);

		if (!b)
			return kc_err_set(err, KC_E_INTERNAL,
					  "stored coverage bitmap of %lld is corrupt", (long long)id);
		if (out->n && out->v[out->n - 1].id == id) {
			roaring_bitmap_or_inplace(out->v[out->n - 1].bits, b);
			kc_bitmap_free(b);
			continue;
		}
		if (KC_GROW(out->v, out->cap, out->n + 1) < 0) {
			kc_bitmap_free(b);
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		}
		out->v[out->n].id = id;
		out->v[out->n++].bits = b;
	}
	return rc == KC_DONE ? 0 : -1;
}

/* OR from's entries into into (both ascending by id); from is emptied. */
static int covset_or(struct covset *into, struct covset *from, struct kc_err *err)
{
	struct covset m = { 0 };
	size_t i = 0, j = 0, total = into->n + from->n;

	if (!from->n)
		return 0;
	m.v = calloc(total, sizeof(*m.v));
	if (!m.v)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	while (i < into->n || j < from->n) {
		if (j == from->n || (i < into->n && into->v[i].id < from->v[j].id)) {
			m.v[m.n++] = into->v[i++];
		} else if (i == into->n || from->v[j].id < into->v[i].id) {
			m.v[m.n++] = from->v[j++];
		} else {
			roaring_bitmap_or_inplace(into->v[i].bits, from->v[j].bits);
			kc_bitmap_free(from->v[j++].bits);
			m.v[m.n++] = into->v[i++];
		}
	}
	free(into->v);
	free(from->v);
	memset(from, 0, sizeof(*from));
	m.cap = total;
	*into = m;
	return 0;
}

/* Coverage per image (by_binary = 0) or per binaries row (1): the
 * all-time union (filtered = 0), or the rows of the days since..until
 * (KC_ALL_DAYS: all days) of the labels in labels_json (NULL: all labels). Images and binaries are
 * scanned in id order ("+" keeps SQLite off the build index), so rows come
 * grouped by key without sorting their blobs; each key's rows are found
 * through the primary key (binary, label, day). All labels over a day
 * window read the days' unions of every label (dayunion.h) where they are
 * valid, and the per-label rows of the days where they are not: those
 * first, so that a day whose union the writer makes valid between the two
 * statements is read twice (the same bits), never missed. */
static int covset_load(struct kc_sql *db, int64_t build, int by_binary, int filtered,
		       const char *labels_json, int64_t since, int64_t until, struct covset *out,
		       struct kc_err *err)
{
#define IMAGES(X) "FROM images i " X "binaries b ON " IMG_BINARY
#define LABELS(J) "c.label IN (SELECT l.id FROM labels l WHERE l.name IN " J ") AND "
#define DAYS "c.day BETWEEN ?3 AND ?4 "
#define VALID(T, OP) "(SELECT cd.union_stamp " OP " cd.stamp FROM coverage_days cd " \
		     "WHERE cd.day = " T ".day AND cd.binary = " T ".binary) "
#define SQL(X, J)                                                                         \
	{ { "SELECT i.id, t.bits " IMAGES(X) X "coverage_total t ON t.binary = b.id "      \
	    "WHERE +i.build = ?1 ORDER BY i.id",                                              \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " LABELS(J) DAYS "ORDER BY i.id",                       \
	    "SELECT i.id, u.bits " IMAGES(X) X "coverage_day_unions u ON u.binary = b.id "   \
	    "WHERE +i.build = ?1 AND u.day BETWEEN ?3 AND ?4 AND " VALID("u", "=")          \
	    "ORDER BY i.id",                                                                  \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " LABELS(J) KC_ALL_DAYS_ROWS "ORDER BY i.id",           \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " DAYS "AND " VALID("c", "<>") "ORDER BY i.id" },       \
	  { "SELECT b.id, t.bits FROM binaries b " X "coverage_total t ON "                  \
	    "t.binary = b.id WHERE +b.build = ?1 ORDER BY b.id",                             \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " LABELS(J) DAYS "ORDER BY b.id",                       \
	    "SELECT b.id, u.bits FROM binaries b " X "coverage_day_unions u ON "             \
	    "u.binary = b.id WHERE +b.build = ?1 AND u.day BETWEEN ?3 AND ?4 AND "           \
	    VALID("u", "=") "ORDER BY b.id",                                                  \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " LABELS(J) KC_ALL_DAYS_ROWS "ORDER BY b.id",           \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " DAYS "AND " VALID("c", "<>") "ORDER BY b.id" } }
	/* [backend][by_binary][variant] */
	static const char *const sql[2][2][5] = {
		SQL(KC_SQL_XJOIN_SQLITE, KC_SQL_JSON_TEXTS_SQLITE("?2")),
		SQL(KC_SQL_XJOIN_PG, KC_SQL_JSON_TEXTS_PG("?2")),
	};
	/* Is any day of the window stale for the build (then variant 4 runs)? */
	static const char *const stale_sql =
		"SELECT 1 FROM binaries b JOIN coverage_days cd ON cd.binary = b.id "
		"WHERE b.build = ?1 AND cd.day BETWEEN ?2 AND ?3 AND cd.nrows > 0 "
		"AND cd.union_stamp <> cd.stamp LIMIT 1";
#undef SQL
#undef VALID
#undef IMAGES
#undef LABELS
#undef DAYS
	/* 0: all-time union; 1: labels, days; 2: all labels, days (the day
	 * unions, after variant 4: the stale days' rows); 3: labels, all days. */
	int variant = !filtered ? 0 : !labels_json ? 2 : since == KC_ALL_DAYS ? 3 : 1;
	int pg = kc_sql_backend(db) == KC_SQL_PG;
	struct kc_stmt *st = NULL;
	struct covset stale = { 0 };
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (variant == 2) {
		if (!(st = kc_db_prepare(db, stale_sql, err)))
			goto out;
		kc_stmt_bind_int64(st, 1, build);
		kc_stmt_bind_int64(st, 2, since);
		kc_stmt_bind_int64(st, 3, until);
		rc = kc_db_step(db, st, err);
		kc_stmt_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
		if (rc == KC_ROW) {
			if (!(st = kc_db_prepare(db, sql[pg][by_binary][4], err)))
				goto out;
			kc_stmt_bind_int64(st, 1, build);
			kc_stmt_bind_int64(st, 3, since);
			kc_stmt_bind_int64(st, 4, until);
			rc = covset_read(db, st, &stale, err);
			kc_stmt_finalize(st);
			st = NULL;
			if (rc < 0)
				goto fail;
		}
	}
	if (!(st = kc_db_prepare(db, sql[pg][by_binary][variant], err)))
		goto out;
	kc_stmt_bind_int64(st, 1, build);
	if (filtered) {
		if (labels_json)
			kc_stmt_bind_text(st, 2, labels_json, -1, KC_SQL_STATIC);
		if (variant != 3) {
			kc_stmt_bind_int64(st, 3, since);
			kc_stmt_bind_int64(st, 4, until);
		}
	}
	if (covset_read(db, st, out, err) < 0 || covset_or(out, &stale, err) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	kc_err_prefix(err, "loading coverage");
out:
	kc_stmt_finalize(st);
	cq_covset_release(&stale);
	if (ret < 0)
		cq_covset_release(out);
	return ret;
}

int cq_covset_copy(const struct covset *from, struct covset *to)
{
	memset(to, 0, sizeof(*to));
	to->v = calloc(from->n ? from->n : 1, sizeof(*to->v));
	if (!to->v)
		return -1;
	for (size_t i = 0; i < from->n; i++) {
		to->v[i].id = from->v[i].id;
		to->v[i].bits = roaring_bitmap_copy(from->v[i].bits);
		to->n = to->cap = i + 1;
		if (!to->v[i].bits) {
			cq_covset_release(to);
			return -1;
		}
	}
	return 0;
}


/* The coverage of the filter, minus the coverage of the minus labels. */
int cq_load_filtered(struct kc_covq *q, int by_binary, struct covset *out, struct kc_err *err)
{
	const struct kc_cov_filter *f = &q->f;
	/* Without a day window, each label's union over all days. */
	int64_t since = f->days ? f->since : KC_ALL_DAYS, until = f->days ? f->until : KC_ALL_DAYS;
	int filtered = f->labels_json || f->days;
	struct covset minus;

	if (covset_load(q->db, q->build, by_binary, filtered, f->labels_json, since, until, out,
			err) < 0)
		return -1;
	if (!f->minus_json)
		return 0;
	if (covset_load(q->db, q->build, by_binary, 1, f->minus_json, since, until, &minus, err) <
	    0) {
		cq_covset_release(out);
		return -1;
	}
	for (size_t i = 0; i < out->n; i++) {
		const roaring_bitmap_t *m = cq_covset_get(&minus, out->v[i].id);

		if (m)
			roaring_bitmap_andnot_inplace(out->v[i].bits, m);
	}
	cq_covset_release(&minus);
	return 0;
}
