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

/* Coverage per image (by_binary = 0) or per binaries row (1): the
 * all-time union (filtered = 0), or the rows of the days since..until
 * (KC_ALL_DAYS: all days) of the labels in labels_json (NULL: all labels). Images and binaries are
 * scanned in id order ("+" keeps SQLite off the build index), so rows come
 * grouped by key without sorting their blobs, and merging only looks at the
 * last entry; each key's rows are found through the primary key (binary,
 * label, day). */
static int covset_load(struct kc_sql *db, int64_t build, int by_binary, int filtered,
		       const char *labels_json, int64_t since, int64_t until, struct covset *out,
		       struct kc_err *err)
{
#define IMAGES(X) "FROM images i " X "binaries b ON " IMG_BINARY
#define LABELS(J) "c.label IN (SELECT l.id FROM labels l WHERE l.name IN " J ") AND "
#define DAYS "c.day BETWEEN ?3 AND ?4 "
#define SQL(X, J)                                                                         \
	{ { "SELECT i.id, t.bits " IMAGES(X) X "coverage_total t ON t.binary = b.id "      \
	    "WHERE +i.build = ?1 ORDER BY i.id",                                              \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " LABELS(J) DAYS "ORDER BY i.id",                       \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " DAYS "ORDER BY i.id",                                 \
	    "SELECT i.id, c.bits " IMAGES(X) X "coverage c ON c.binary = b.id "              \
	    "WHERE +i.build = ?1 AND " LABELS(J) KC_ALL_DAYS_ROWS "ORDER BY i.id" },         \
	  { "SELECT b.id, t.bits FROM binaries b " X "coverage_total t ON "                  \
	    "t.binary = b.id WHERE +b.build = ?1 ORDER BY b.id",                             \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " LABELS(J) DAYS "ORDER BY b.id",                       \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " DAYS "ORDER BY b.id",                                 \
	    "SELECT b.id, c.bits FROM binaries b " X "coverage c ON c.binary = b.id "        \
	    "WHERE +b.build = ?1 AND " LABELS(J) KC_ALL_DAYS_ROWS "ORDER BY b.id" } }
	/* [backend][by_binary][variant] */
	static const char *const sql[2][2][4] = {
		SQL(KC_SQL_XJOIN_SQLITE, KC_SQL_JSON_TEXTS_SQLITE("?2")),
		SQL(KC_SQL_XJOIN_PG, KC_SQL_JSON_TEXTS_PG("?2")),
	};
#undef SQL
#undef IMAGES
#undef LABELS
#undef DAYS
	/* 0: all-time union; 1: labels, days; 2: all labels, days; 3: labels,
	 * all days. */
	int variant = !filtered ? 0 : !labels_json ? 2 : since == KC_ALL_DAYS ? 3 : 1;
	struct kc_stmt *st = kc_db_prepare(db, sql[kc_sql_backend(db) == KC_SQL_PG][by_binary][variant], err);
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, build);
	if (filtered) {
		if (labels_json)
			kc_stmt_bind_text(st, 2, labels_json, -1, KC_SQL_STATIC);
		if (variant != 3) {
			kc_stmt_bind_int64(st, 3, since);
			kc_stmt_bind_int64(st, 4, until);
		}
	}
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		int64_t id = kc_stmt_column_int64(st, 0);
		roaring_bitmap_t *b = kc_db_column_bitmap(st, 1);

		if (!b) {
			kc_err_set(err, KC_E_INTERNAL,
				   "stored coverage bitmap of %lld is corrupt", (long long)id);
			goto out;
		}
		if (out->n && out->v[out->n - 1].id == id) {
			roaring_bitmap_or_inplace(out->v[out->n - 1].bits, b);
			kc_bitmap_free(b);
			continue;
		}
		if (KC_GROW(out->v, out->cap, out->n + 1) < 0) {
			kc_bitmap_free(b);
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		out->v[out->n].id = id;
		out->v[out->n++].bits = b;
	}
	if (rc < 0) {
		kc_err_prefix(err, "loading coverage");
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
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
