/*
 * querydb.c - fills a kcovd database for the query benchmark of bench/run:
 * after `kcovd import-build` has stored the builds (points, files,
 * functions), this writes coverage as the ingest path would have: for every
 * imported image, NLABELS labels x NDAYS days of per-day bitmaps
 * (schema/001_initial.sql `coverage`), each a clustered subset of the
 * image's point bits, each label's union of its completed days (day -1,
 * with label_unions.upto = today, schema/006_label_unions.sql) and the
 * all-time union (`coverage_total`).
 * The unions are stored as ingest leaves them, not compacted: today's rows,
 * each label's union and the all-time union are a base row (seq 0) plus
 * NDELTA delta rows with disjoint bits (schema/004_coverage_deltas.sql; the
 * store folds a key's rows back into one past 32, so 16 is a typical state).
 * Writing the rows directly with SQLite and CRoaring takes seconds where
 * pushing NLABELS x NDAYS reports per build would take far longer.
 *
 * usage: bench-querydb DB NLABELS NDAYS PER_MILLE
 *   PER_MILLE: points covered per (label, day) row, in 1/1000 of the image
 * Prints the number of coverage rows and their bytes, and the points and
 * files of one imported build.
 *
 * sqlconv: native SQLite (a SQLite-backend bench tool: sqlconv.sh leaves it alone)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>
#include <sqlite3.h>

#include "pcgen.h"

#define NDELTA 16

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench-querydb: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int put_bitmap(sqlite3_stmt *st, int col, const roaring_bitmap_t *b, size_t *bytes)
{
	size_t n = roaring_bitmap_portable_size_in_bytes(b);
	char *buf = malloc(n ? n : 1);

	if (!buf)
		return -1;
	roaring_bitmap_portable_serialize(b, buf);
	*bytes += n;
	return sqlite3_bind_blob(st, col, buf, (int)n, free) == SQLITE_OK ? 0 : -1;
}

/* Write b under the bound key columns as a base row (seq 0, about half the
 * bits) and ndelta delta rows (seq 1..ndelta) sharing the rest; seq is
 * column seq_col, the bits column bits_col. Returns the rows written, or -1. */
static int put_rows(sqlite3_stmt *st, int seq_col, int bits_col, const roaring_bitmap_t *b,
		    unsigned ndelta, size_t *bytes)
{
	roaring_bitmap_t *part[NDELTA + 1] = { NULL };
	roaring_uint32_iterator_t it;
	int ret = -1;

	for (unsigned i = 0; i <= ndelta; i++)
		if (!(part[i] = roaring_bitmap_create()))
			goto out;
	roaring_init_iterator(b, &it);
	for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
		uint32_t h = it.current_value * 2654435761u;

		roaring_bitmap_add(part[ndelta && (h >> 31) ? 1 + (h >> 8) % ndelta : 0],
				   it.current_value);
	}
	for (unsigned i = 0; i <= ndelta; i++) {
		roaring_bitmap_run_optimize(part[i]);
		sqlite3_bind_int64(st, seq_col, i);
		if (put_bitmap(st, bits_col, part[i], bytes) < 0 || sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	ret = (int)ndelta + 1;
out:
	sqlite3_reset(st);
	for (unsigned i = 0; i <= ndelta; i++)
		roaring_bitmap_free(part[i]);
	return ret;
}

int main(int argc, char **argv)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *img = NULL, *lab = NULL, *cov = NULL, *tot = NULL, *upto = NULL;
	unsigned nlabels, ndays, per_mille;
	int64_t today = (int64_t)time(NULL) / 86400, *label_ids;
	uint64_t rng = 0xC0FFEE;
	int r;
	size_t rows = 0, bytes = 0;
	int ret = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: bench-querydb DB NLABELS NDAYS PER_MILLE\n");
		return 2;
	}
	nlabels = (unsigned)strtoul(argv[2], NULL, 10);
	ndays = (unsigned)strtoul(argv[3], NULL, 10);
	per_mille = (unsigned)strtoul(argv[4], NULL, 10);
	label_ids = calloc(nlabels ? nlabels : 1, sizeof(*label_ids));
	if (!label_ids || sqlite3_open(argv[1], &db) != SQLITE_OK) {
		fprintf(stderr, "bench-querydb: cannot open %s\n", argv[1]);
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO labels (name) VALUES (?)", -1, &lab, NULL) ||
	    sqlite3_prepare_v2(db,
			       "SELECT b.id, i.bits FROM images i JOIN binaries b ON b.build = i.build "
			       "AND b.name = i.name AND b.kind = i.kind",
			       -1, &img, NULL) ||
	    sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO coverage (binary, label, day, bits, seq) "
			       "VALUES (?, ?, ?, ?, ?)",
			       -1, &cov, NULL) ||
	    sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO coverage_total (binary, bits, seq) VALUES (?, ?, ?)",
			       -1, &tot, NULL) ||
	    sqlite3_prepare_v2(db,
			       "INSERT OR REPLACE INTO label_unions (binary, label, upto) "
			       "VALUES (?, ?, ?)",
			       -1, &upto, NULL)) {
		fprintf(stderr, "bench-querydb: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	for (unsigned l = 0; l < nlabels; l++) {
		char name[32];

		snprintf(name, sizeof(name), "label-%03u", l);
		sqlite3_bind_text(lab, 1, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(lab) != SQLITE_DONE)
			goto sqlerr;
		sqlite3_reset(lab);
		label_ids[l] = 0;
	}
	{
		sqlite3_stmt *q;

		if (sqlite3_prepare_v2(db, "SELECT id FROM labels WHERE name = ?", -1, &q, NULL))
			goto sqlerr;
		for (unsigned l = 0; l < nlabels; l++) {
			char name[32];

			snprintf(name, sizeof(name), "label-%03u", l);
			sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(q) == SQLITE_ROW)
				label_ids[l] = sqlite3_column_int64(q, 0);
			sqlite3_reset(q);
		}
		sqlite3_finalize(q);
	}
	while (sqlite3_step(img) == SQLITE_ROW) {
		int64_t binary = sqlite3_column_int64(img, 0);
		roaring_bitmap_t *all = roaring_bitmap_portable_deserialize_safe(
			sqlite3_column_blob(img, 1), (size_t)sqlite3_column_bytes(img, 1));
		roaring_bitmap_t *total;
		uint64_t n, k, *pts, *pick;
		uint32_t *vals, *picked;

		if (!all)
			continue;
		n = roaring_bitmap_get_cardinality(all);
		k = n * per_mille / 1000;
		if (!k)
			k = n < 1 ? n : 1;
		vals = malloc((n ? n : 1) * sizeof(*vals));
		picked = malloc((k ? k : 1) * sizeof(*picked));
		pts = malloc((n ? n : 1) * sizeof(*pts));
		pick = malloc((k ? k : 1) * sizeof(*pick));
		total = roaring_bitmap_create();
		if (!vals || !pts || !pick || !picked || !total)
			goto out;
		roaring_bitmap_to_uint32_array(all, vals);
		for (uint64_t i = 0; i < n; i++)
			pts[i] = vals[i];
		for (unsigned l = 0; l < nlabels; l++) {
			roaring_bitmap_t *lab_all = roaring_bitmap_create();

			if (!lab_all)
				goto out;
			for (unsigned d = 0; d < ndays; d++) {
				size_t got = bench_pick_clustered(pts, n, k, &rng, pick);
				roaring_bitmap_t *b;

				if (got == (size_t)-1)
					goto out;
				for (size_t i = 0; i < got; i++)
					picked[i] = (uint32_t)pick[i];
				b = roaring_bitmap_of_ptr(got, picked);
				roaring_bitmap_run_optimize(b);
				roaring_bitmap_or_inplace(total, b);
				if (d > 0) /* completed days only */
					roaring_bitmap_or_inplace(lab_all, b);
				sqlite3_bind_int64(cov, 1, binary);
				sqlite3_bind_int64(cov, 2, label_ids[l]);
				sqlite3_bind_int64(cov, 3, today - (int64_t)d);
				/* today is still growing: deltas; past days: one row */
				r = put_rows(cov, 5, 4, b, d == 0 ? NDELTA : 0, &bytes);
				roaring_bitmap_free(b);
				if (r < 0)
					goto sqlerr;
				rows += (size_t)r;
			}
			roaring_bitmap_run_optimize(lab_all);
			sqlite3_bind_int64(cov, 1, binary);
			sqlite3_bind_int64(cov, 2, label_ids[l]);
			sqlite3_bind_int64(cov, 3, -1);
			r = put_rows(cov, 5, 4, lab_all, NDELTA, &bytes);
			roaring_bitmap_free(lab_all);
			if (r < 0)
				goto sqlerr;
			rows += (size_t)r;
			sqlite3_bind_int64(upto, 1, binary);
			sqlite3_bind_int64(upto, 2, label_ids[l]);
			sqlite3_bind_int64(upto, 3, today);
			if (sqlite3_step(upto) != SQLITE_DONE)
				goto sqlerr;
			sqlite3_reset(upto);
		}
		roaring_bitmap_run_optimize(total);
		sqlite3_bind_int64(tot, 1, binary);
		r = put_rows(tot, 3, 2, total, NDELTA, &bytes);
		roaring_bitmap_free(total);
		if (r < 0)
			goto sqlerr;
		roaring_bitmap_free(all);
		free(vals);
		free(picked);
		free(pts);
		free(pick);
	}
	if (exec(db, "COMMIT") < 0)
		goto out;
	{
		sqlite3_stmt *q;
		long long points = 0, files = 0;

		if (sqlite3_prepare_v2(db, "SELECT points, files FROM build_imports LIMIT 1", -1, &q,
				       NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW) {
			points = sqlite3_column_int64(q, 0);
			files = sqlite3_column_int64(q, 1);
		}
		sqlite3_finalize(q);
		printf("rows=%zu bytes=%zu points=%lld files=%lld\n", rows, bytes, points, files);
	}
	ret = 0;
	goto out;
sqlerr:
	fprintf(stderr, "bench-querydb: %s\n", sqlite3_errmsg(db));
out:
	sqlite3_finalize(img);
	sqlite3_finalize(lab);
	sqlite3_finalize(cov);
	sqlite3_finalize(tot);
	sqlite3_finalize(upto);
	sqlite3_close(db);
	free(label_ids);
	return ret;
}
