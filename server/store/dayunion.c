/*
 * dayunion.c - rebuilding the per-day union of every label (dayunion.h,
 * schema 013) from the day's per-label rows: for a (binary, day) the
 * writer finds stale, and for every stale one at start-up. The bits are
 * folded in kcovd (kc_sql_union), the same on both backends.
 */
#include "dayunion.h"

#include <stdlib.h>

#include "db.h"
#include "grow.h"
#include "nodes.h"
#include "search.h"
#include "wire.h"

/* The label value of a day union in the writer's merge keys and locks. */
#define KC_DAY_UNION_LABEL (-2)

int64_t kc_dayunion_key(int64_t binary, int64_t day)
{
	return kc_nodes_union_key(binary, KC_DAY_UNION_LABEL, day);
}

/* Run sql with ?1 = binary, ?2 = day to its end. */
static int exec_key(struct kc_sql *db, const char *sql, int64_t binary, int64_t day,
		    struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, binary);
	kc_stmt_bind_int64(st, 2, day);
	rc = kc_db_step(db, st, err);
	kc_stmt_finalize(st);
	return rc < 0 ? -1 : 0;
}

/* Replace the union rows of (binary, day) by u (no row when empty) and
 * mark the union valid. */
static int put_union(struct kc_sql *db, int64_t binary, int64_t day, roaring_bitmap_t *u,
		     struct kc_err *err)
{
	struct kc_stmt *st;
	int rc;

	if (exec_key(db, "DELETE FROM coverage_day_unions WHERE binary = ?1 AND day = ?2", binary,
		     day, err) < 0)
		return -1;
	if (!roaring_bitmap_is_empty(u)) {
		roaring_bitmap_run_optimize(u);
		st = kc_db_prepare(db, "INSERT INTO coverage_day_unions (binary, day, seq, bits) "
				       "VALUES (?1, ?2, 0, ?3)", err);
		if (!st)
			return -1;
		kc_stmt_bind_int64(st, 1, binary);
		kc_stmt_bind_int64(st, 2, day);
		rc = kc_db_bind_bitmap(st, 3, u, err) < 0 ? -1 : kc_db_step(db, st, err);
		kc_stmt_finalize(st);
		if (rc != KC_DONE)
			return -1;
	}
	return exec_key(db, "UPDATE coverage_days SET union_stamp = stamp WHERE binary = ?1 "
			    "AND day = ?2", binary, day, err);
}

/* The stale days of one binary, ascending; their unions, filled by one
 * scan of the binary's per-day rows (the primary key leads with binary and
 * label, so one scan per binary, not per day). */
struct stale {
	int64_t binary;
	int64_t *days;
	roaring_bitmap_t **u;
	size_t n;
};

struct day_key {
	const int64_t *days;
	int64_t day;
};

static int day_below(const void *ctx, size_t i)
{
	const struct day_key *k = ctx;

	return k->days[i] < k->day;
}

static int fill_stale(struct kc_sql *db, struct stale *g, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, "SELECT day, bits FROM coverage WHERE binary = ?1 "
					       "AND day BETWEEN ?2 AND ?3", err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, g->binary);
	kc_stmt_bind_int64(st, 2, g->days[0]);
	kc_stmt_bind_int64(st, 3, g->days[g->n - 1]);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		struct day_key k = { g->days, kc_stmt_column_int64(st, 0) };
		size_t i = kc_lower_bound(g->n, day_below, &k);
		roaring_bitmap_t *b;

		if (i == g->n || g->days[i] != k.day)
			continue; /* a valid day between two stale ones */
		if (!(b = kc_db_column_bitmap(st, 1))) {
			rc = kc_err_set(err, KC_E_INTERNAL, "a stored coverage bitmap is corrupt");
			break;
		}
		roaring_bitmap_or_inplace(g->u[i], b);
		kc_bitmap_free(b);
	}
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}

int kc_dayunion_rebuild(struct kc_sql *db, int64_t binary, int64_t day, struct kc_err *err)
{
	roaring_bitmap_t *u = roaring_bitmap_create();
	struct stale g = { .binary = binary, .days = &day, .u = &u, .n = 1 };
	int64_t nrows = 0;
	struct kc_stmt *st;
	int ret = -1;

	if (!u)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	/* A day without rows (new, or emptied by gc) needs no scan. */
	st = kc_db_prepare(db, "SELECT nrows FROM coverage_days WHERE binary = ?1 AND day = ?2",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_int64(st, 1, binary);
	kc_stmt_bind_int64(st, 2, day);
	if (kc_db_step(db, st, err) == KC_ROW)
		nrows = kc_stmt_column_int64(st, 0);
	kc_stmt_finalize(st);
	if ((nrows > 0 && fill_stale(db, &g, err) < 0) || put_union(db, binary, day, u, err) < 0)
		goto out;
	ret = 0;
out:
	kc_bitmap_free(u);
	if (ret < 0)
		kc_err_prefix(err, "rebuilding the union of day %lld of binary %lld",
			      (long long)day, (long long)binary);
	return ret;
}

int kc_dayunion_rebuild_stale(struct kc_sql *db, int64_t *rebuilt, struct kc_err *err)
{
	/* Stale days with rows, and stale days emptied since (moved or
	 * deleted by other means) whose union rows are left over. */
	struct kc_stmt *st = kc_db_prepare(
		db, "SELECT binary, day FROM coverage_days cd WHERE union_stamp <> stamp AND "
		    "(nrows > 0 OR EXISTS (SELECT 1 FROM coverage_day_unions u WHERE "
		    "u.binary = cd.binary AND u.day = cd.day)) ORDER BY binary, day", err);
	int64_t *bins = NULL, *days = NULL, *locks = NULL;
	roaring_bitmap_t **u = NULL;
	size_t n = 0, cap = 0, cap2 = 0;
	int rc, ret = -1;

	if (rebuilt)
		*rebuilt = 0;
	if (!st)
		return -1;
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(bins, cap, n + 1) < 0 || KC_GROW(days, cap2, n + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		bins[n] = kc_stmt_column_int64(st, 0);
		days[n++] = kc_stmt_column_int64(st, 1);
	}
	kc_stmt_finalize(st);
	if (rc != KC_DONE)
		goto out;
	if (!n) {
		ret = 0;
		goto out;
	}
	if (!(locks = malloc(n * sizeof(*locks))) || !(u = calloc(n, sizeof(*u)))) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		locks[i] = kc_dayunion_key(bins[i], days[i]);
		if (!(u[i] = roaring_bitmap_create())) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	if (kc_nodes_lock_keys(db, locks, n, err) < 0)
		goto out;
	/* One scan per binary of its rows between its first and last stale
	 * day, then each union written. */
	for (size_t i = 0, j; i < n; i = j) {
		struct stale g = { .binary = bins[i], .days = days + i, .u = u + i };

		for (j = i; j < n && bins[j] == bins[i]; j++)
			;
		g.n = j - i;
		if (fill_stale(db, &g, err) < 0)
			goto out;
		for (size_t k = i; k < j; k++)
			if (put_union(db, bins[k], days[k], u[k], err) < 0)
				goto out;
	}
	if (rebuilt)
		*rebuilt = (int64_t)n;
	ret = 0;
out:
	for (size_t i = 0; u && i < n; i++)
		kc_bitmap_free(u[i]);
	free(u);
	free(locks);
	free(bins);
	free(days);
	if (ret < 0)
		kc_err_prefix(err, "rebuilding stale day unions");
	return ret;
}
