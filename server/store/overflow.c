/*
 * overflow.c - overflow statistics. At ingest every run of a report adds to
 * the overflow_daily row of its (day, machine, build, label, mode,
 * workload): run and overflow counts and a histogram of trace fill levels
 * in whole percent. Queries fold those rows by up to two dimensions and
 * compute rates and fill percentiles, plus the fleet summary (machines,
 * machines overflowing in at least half their runs, median machine rate,
 * unique versus trace mode).
 */
#include "overflow.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "day.h"
#include "grow.h"
#include "nodes.h"

struct fold {
	char key[2][300];
	uint64_t runs, overflowed, remote_runs, remote_overflowed;
	uint32_t fill[KC_FILL_BUCKETS];
};

static unsigned fill_bucket(const struct kc_run *run)
{
	if (run->capacity_words == 0)
		return 0;
	return (unsigned)(run->used_words * 100 / run->capacity_words);
}

static void fill_add_blob(uint32_t *fill, const void *blob, int n)
{
	const unsigned char *p = blob;

	if (n != KC_FILL_BUCKETS * 4)
		return; /* written only by this module; ignore anything else */
	for (int i = 0; i < KC_FILL_BUCKETS; i++)
		fill[i] += (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
			   (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
}

static void fill_to_blob(const uint32_t *fill, unsigned char *p)
{
	for (int i = 0; i < KC_FILL_BUCKETS; i++)
		for (int b = 0; b < 4; b++)
			p[4 * i + b] = (unsigned char)(fill[i] >> (8 * b));
}

/* Fold one (mode, workload) group of the report into its daily row. */
static int record_one(struct kc_sql *db, struct kc_stmt *get, struct kc_stmt *put, const int64_t key[4],
		      uint8_t mode, const char *workload, const struct fold *f, struct kc_err *err)
{
	uint32_t fill[KC_FILL_BUCKETS];
	unsigned char blob[KC_FILL_BUCKETS * 4];
	int64_t runs = (int64_t)f->runs, over = (int64_t)f->overflowed;
	int64_t rruns = (int64_t)f->remote_runs, rover = (int64_t)f->remote_overflowed;
	int rc, k = 1;

	memcpy(fill, f->fill, sizeof(fill));
	for (int i = 0; i < 4; i++)
		kc_stmt_bind_int64(get, i + 1, key[i]);
	kc_stmt_bind_int(get, 5, mode);
	kc_stmt_bind_text(get, 6, workload, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, get, err);
	if (rc == KC_ROW) {
		runs += kc_stmt_column_int64(get, 0);
		over += kc_stmt_column_int64(get, 1);
		rruns += kc_stmt_column_int64(get, 2);
		rover += kc_stmt_column_int64(get, 3);
		fill_add_blob(fill, kc_stmt_column_blob(get, 4), kc_stmt_column_bytes(get, 4));
	}
	kc_stmt_reset(get);
	if (rc < 0)
		return -1;
	fill_to_blob(fill, blob);
	for (int i = 0; i < 4; i++)
		kc_stmt_bind_int64(put, k++, key[i]);
	kc_stmt_bind_int(put, k++, mode);
	kc_stmt_bind_text(put, k++, workload, -1, KC_SQL_STATIC);
	kc_stmt_bind_int64(put, k++, runs);
	kc_stmt_bind_int64(put, k++, over);
	kc_stmt_bind_int64(put, k++, rruns);
	kc_stmt_bind_int64(put, k++, rover);
	kc_stmt_bind_blob(put, k, blob, sizeof(blob), KC_SQL_STATIC);
	rc = kc_db_step(db, put, err);
	kc_stmt_reset(put);
	if (rc < 0)
		return -1;
	return 0;
}

/* The statements record_one needs. */
static int prepare_record(struct kc_sql *db, struct kc_stmt **get, struct kc_stmt **put, struct kc_err *err)
{
	/* Once per report on the writer: the statements stay prepared. */
	*get = kc_db_cached(db,
			     "SELECT runs, overflowed, remote_runs, remote_overflowed, fill "
			     "FROM overflow_daily WHERE day = ? AND machine = ? AND build = ? AND "
			     "label = ? AND mode = ? AND workload = ?",
			     err);
	*put = *get ? kc_db_cached(db,
				    "INSERT INTO overflow_daily (day, machine, build, "
				    "label, mode, workload, runs, overflowed, remote_runs, "
				    "remote_overflowed, fill) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
				    "ON CONFLICT (day, machine, build, label, mode, workload) "
				    "DO UPDATE SET runs = excluded.runs, overflowed = excluded.overflowed, "
				    "remote_runs = excluded.remote_runs, "
				    "remote_overflowed = excluded.remote_overflowed, fill = excluded.fill",
				    err)
		    : NULL;
	return *put ? 0 : -1;
}

int kc_overflow_record(struct kc_sql *db, int64_t day, int64_t machine, int64_t build, int64_t label,
		       const struct kc_report *r, struct kc_err *err)
{
	const int64_t key[4] = { day, machine, build, label };
	struct kc_stmt *get = NULL, *put = NULL;
	char *done = calloc(r->nruns ? r->nruns : 1, 1);
	int ret = -1;

	if (!done)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (prepare_record(db, &get, &put, err) < 0)
		goto out;
	/* Read-modify-write of the key's rows: other nodes of a PostgreSQL
	 * database wait for this transaction (one lock per report's key). */
	{
		int64_t k = kc_nodes_union_key(kc_nodes_union_key(machine, build, day), label, -2);

		if (kc_nodes_lock_keys(db, &k, 1, err) < 0)
			goto out;
	}
	/* Group the report's runs by (mode, workload): one row update each. */
	for (uint32_t i = 0; i < r->nruns; i++) {
		struct fold f;

		if (done[i])
			continue;
		memset(&f, 0, sizeof(f));
		for (uint32_t j = i; j < r->nruns; j++) {
			const struct kc_run *run = &r->runs[j];

			if (done[j] || run->mode != r->runs[i].mode ||
			    strcmp(run->workload, r->runs[i].workload) != 0)
				continue;
			done[j] = 1;
			f.runs++;
			f.overflowed += run->overflowed;
			f.remote_runs += run->remote_capacity_words != 0;
			f.remote_overflowed += run->remote_overflowed;
			f.fill[fill_bucket(run)]++;
		}
		if (record_one(db, get, put, key, r->runs[i].mode, r->runs[i].workload, &f, err) < 0)
			goto out;
	}
	ret = 0;
out:
	kc_stmt_reset(get);
	kc_stmt_reset(put);
	free(done);
	return ret;
}

/* One overflow_daily row being rolled up. */
struct day_row {
	int64_t machine, build, label;
	int mode;
	char workload[KC_NAME_MAX + 1];
	struct fold f;
};

static int64_t month_start(int64_t day)
{
	char s[11];
	int64_t first;

	kc_day_format(day, s);
	s[8] = '0';
	s[9] = '1';
	return kc_day_parse(s, &first) == 0 ? first : day;
}

/* Read the rows of day into *rows (grown with KC_GROW); delete them. */
static int take_day(struct kc_sql *db, int64_t day, struct day_row **rows, size_t *n, size_t *cap,
		    struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db,
					 "SELECT machine, build, label, mode, workload, runs, "
					 "overflowed, remote_runs, remote_overflowed, fill "
					 "FROM overflow_daily WHERE day = ?",
					 err);
	int rc = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, day);
	*n = 0;
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		struct day_row *r;
		const char *w = (const char *)kc_stmt_column_text(st, 4);

		if (KC_GROW(*rows, *cap, *n + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		r = &(*rows)[(*n)++];
		memset(r, 0, sizeof(*r));
		r->machine = kc_stmt_column_int64(st, 0);
		r->build = kc_stmt_column_int64(st, 1);
		r->label = kc_stmt_column_int64(st, 2);
		r->mode = kc_stmt_column_int(st, 3);
		snprintf(r->workload, sizeof(r->workload), "%s", w ? w : "");
		r->f.runs = (uint64_t)kc_stmt_column_int64(st, 5);
		r->f.overflowed = (uint64_t)kc_stmt_column_int64(st, 6);
		r->f.remote_runs = (uint64_t)kc_stmt_column_int64(st, 7);
		r->f.remote_overflowed = (uint64_t)kc_stmt_column_int64(st, 8);
		fill_add_blob(r->f.fill, kc_stmt_column_blob(st, 9), kc_stmt_column_bytes(st, 9));
	}
	kc_stmt_finalize(st);
	if (rc < 0)
		return -1;
	st = kc_db_prepare(db, "DELETE FROM overflow_daily WHERE day = ?", err);
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, day);
	rc = kc_db_step(db, st, err);
	kc_stmt_finalize(st);
	return rc < 0 ? -1 : 0;
}

int kc_overflow_rollup(struct kc_sql *db, int64_t cutoff, int64_t *rolled, struct kc_err *err)
{
	struct kc_stmt *days = NULL, *get = NULL, *put = NULL;
	int64_t *dv = NULL;
	struct day_row *rows = NULL;
	size_t nd = 0, capd = 0, nrows = 0, caprows = 0;
	int rc, ret = -1;

	*rolled = 0;
	days = kc_db_prepare(db, "SELECT DISTINCT day FROM overflow_daily WHERE day >= 0 AND "
				 "day < ? ORDER BY day",
			     err);
	if (!days)
		goto out;
	kc_stmt_bind_int64(days, 1, cutoff);
	while ((rc = kc_db_step(db, days, err)) == KC_ROW) {
		int64_t d = kc_stmt_column_int64(days, 0);

		if (d == month_start(d))
			continue; /* already a month's rollup */
		if (KC_GROW(dv, capd, nd + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		dv[nd++] = d;
	}
	if (rc < 0 || prepare_record(db, &get, &put, err) < 0)
		goto out;
	for (size_t i = 0; i < nd; i++) {
		if (take_day(db, dv[i], &rows, &nrows, &caprows, err) < 0)
			goto out;
		for (size_t j = 0; j < nrows; j++) {
			const struct day_row *r = &rows[j];
			const int64_t key[4] = { month_start(dv[i]), r->machine, r->build, r->label };

			if (record_one(db, get, put, key, (uint8_t)r->mode, r->workload, &r->f,
				       err) < 0)
				goto out;
		}
		*rolled += (int64_t)nrows;
	}
	ret = 0;
out:
	kc_stmt_finalize(days);
	kc_stmt_finalize(get);
	kc_stmt_finalize(put);
	free(dv);
	free(rows);
	return ret;
}

/* A group key: its name in the request and its SQL expression per
 * backend (pg NULL: the same as SQLite's). */
static const struct dim {
	const char *name;
	const char *expr;
	const char *pg;
} dims[] = {
	{ "machine", "m.name", NULL },
	{ "build", "b.build_id", NULL },
	{ "label", "l.name", NULL },
	{ "mode", "CASE o.mode WHEN 1 THEN 'unique' ELSE 'trace' END", NULL },
	{ "workload", "o.workload", NULL },
	{ "day", "date(o.day * 86400, 'unixepoch')",
	  "to_char(to_timestamp(o.day * 86400) AT TIME ZONE 'UTC', 'YYYY-MM-DD')" },
};

static const struct dim *find_dim(const char *name)
{
	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
		if (strcmp(dims[i].name, name) == 0)
			return &dims[i];
	return NULL;
}

static double rate(uint64_t over, uint64_t runs)
{
	return runs ? (double)over / (double)runs : 0.0;
}

/* Smallest fill percent at or below which pct of the runs lie, as a
 * fraction (0..1). */
static double fill_percentile(const uint32_t *fill, uint64_t runs, double pct)
{
	uint64_t need = (uint64_t)((double)runs * pct + 0.999999), seen = 0;

	for (int i = 0; i < KC_FILL_BUCKETS; i++) {
		seen += fill[i];
		if (seen >= need && seen)
			return i / 100.0;
	}
	return 1.0;
}

static json_t *fold_json(const struct fold *f, const struct kc_overflow_query *q)
{
	json_t *o = json_object();

	for (int i = 0; i < q->ngroup; i++)
		json_object_set_new(o, q->group[i], json_string(f->key[i]));
	json_object_set_new(o, "runs", json_integer((json_int_t)f->runs));
	json_object_set_new(o, "overflowed", json_integer((json_int_t)f->overflowed));
	json_object_set_new(o, "rate", json_real(rate(f->overflowed, f->runs)));
	json_object_set_new(o, "fill_p50", json_real(fill_percentile(f->fill, f->runs, 0.50)));
	json_object_set_new(o, "fill_p90", json_real(fill_percentile(f->fill, f->runs, 0.90)));
	json_object_set_new(o, "fill_p99", json_real(fill_percentile(f->fill, f->runs, 0.99)));
	json_object_set_new(o, "remote_runs", json_integer((json_int_t)f->remote_runs));
	json_object_set_new(o, "remote_overflowed",
			    json_integer((json_int_t)f->remote_overflowed));
	return o;
}

static int cmp_rate_desc(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	double rx = json_real_value(json_object_get(x, "rate"));
	double ry = json_real_value(json_object_get(y, "rate"));

	if (rx != ry)
		return rx < ry ? 1 : -1;
	return (int)(json_integer_value(json_object_get(y, "runs")) -
		     json_integer_value(json_object_get(x, "runs")));
}

static const char filter[] =
	" FROM overflow_daily o JOIN machines m ON m.id = o.machine JOIN builds b ON "
	"b.id = o.build JOIN labels l ON l.id = o.label WHERE o.day BETWEEN ?1 AND ?2 ";

/* The grouped rows. */
static json_t *groups(struct kc_sql *db, const struct kc_overflow_query *q, struct kc_err *err)
{
	char sql[2048], keys[512] = "";
	const char *sel[2];
	struct kc_stmt *st;
	json_t *arr = json_array();
	json_t **items = NULL;
	struct fold f;
	int rc, have = 0;
	size_t n = 0;

	for (int i = 0; i < q->ngroup; i++) {
		const struct dim *d = find_dim(q->group[i]);

		sel[i] = kc_sql_backend(db) == KC_SQL_PG && d->pg ? d->pg : d->expr;
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? ", " : "",
			 sel[i]);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT %s%s o.runs, o.overflowed, o.remote_runs, o.remote_overflowed, o.fill %s "
		 "ORDER BY %s",
		 keys, q->ngroup ? "," : "", filter, q->ngroup ? keys : "1");
	st = kc_db_prepare(db, sql, err);
	if (!st)
		goto fail;
	kc_stmt_bind_int64(st, 1, q->since);
	kc_stmt_bind_int64(st, 2, q->until);
	memset(&f, 0, sizeof(f));
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		int c = q->ngroup, same = have;

		for (int i = 0; i < q->ngroup; i++) {
			const char *v = (const char *)kc_stmt_column_text(st, i);

			same = same && strcmp(f.key[i], v ? v : "") == 0;
		}
		if (!same) {
			if (have)
				json_array_append_new(arr, fold_json(&f, q));
			memset(&f, 0, sizeof(f));
			for (int i = 0; i < q->ngroup; i++) {
				const char *v = (const char *)kc_stmt_column_text(st, i);

				snprintf(f.key[i], sizeof(f.key[i]), "%s", v ? v : "");
			}
			have = 1;
		}
		f.runs += (uint64_t)kc_stmt_column_int64(st, c);
		f.overflowed += (uint64_t)kc_stmt_column_int64(st, c + 1);
		f.remote_runs += (uint64_t)kc_stmt_column_int64(st, c + 2);
		f.remote_overflowed += (uint64_t)kc_stmt_column_int64(st, c + 3);
		fill_add_blob(f.fill, kc_stmt_column_blob(st, c + 4), kc_stmt_column_bytes(st, c + 4));
	}
	kc_stmt_finalize(st);
	if (rc < 0) {
		goto fail;
	}
	if (have)
		json_array_append_new(arr, fold_json(&f, q));
	/* Worst first, unless the first dimension is time. */
	if (q->ngroup && strcmp(q->group[0], "day") != 0) {
		json_t *sorted = json_array();
		size_t i;
		json_t *v;

		n = json_array_size(arr);
		items = calloc(n ? n : 1, sizeof(*items));
		if (!items) {
			json_decref(sorted);
			goto fail;
		}
		json_array_foreach(arr, i, v)
			items[i] = v;
		qsort(items, n, sizeof(*items), cmp_rate_desc);
		for (i = 0; i < n && (int64_t)i < q->limit; i++)
			json_array_append(sorted, items[i]);
		free(items);
		json_decref(arr);
		arr = sorted;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Machine figures over rows where mode matches (0 = any). */
static json_t *fleet_part(struct kc_sql *db, const struct kc_overflow_query *q, int mode,
			  struct kc_err *err)
{
	char sql[1024];
	struct kc_stmt *st;
	double *rates = NULL;
	size_t n = 0, cap = 0, ge50 = 0;
	uint64_t runs = 0, over = 0;
	double median = 0;
	json_t *o = NULL;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT sum(o.runs), sum(o.overflowed) %s AND (?3 = 0 OR o.mode = ?3) "
		 "GROUP BY o.machine",
		 filter);
	st = kc_db_prepare(db, sql, err);
	if (!st)
		return NULL;
	kc_stmt_bind_int64(st, 1, q->since);
	kc_stmt_bind_int64(st, 2, q->until);
	kc_stmt_bind_int(st, 3, mode);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		uint64_t r = (uint64_t)kc_stmt_column_int64(st, 0);
		uint64_t v = (uint64_t)kc_stmt_column_int64(st, 1);
		if (KC_GROW(rates, cap, n + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		rates[n++] = rate(v, r);
		ge50 += 2 * v >= r && r;
		runs += r;
		over += v;
	}
	if (rc < 0)
		goto out;
	if (n) {
		qsort(rates, n, sizeof(*rates), cmp_double);
		median = n % 2 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
	}
	o = json_pack("{s:I, s:I, s:f, s:I, s:I, s:f}", "machines", (json_int_t)n,
		      "machines_overflow_ge_50pct", (json_int_t)ge50, "median_machine_rate", median,
		      "runs", (json_int_t)runs, "overflowed", (json_int_t)over, "rate",
		      rate(over, runs));
out:
	kc_stmt_finalize(st);
	free(rates);
	return o;
}

json_t *kc_overflow_query(struct kc_sql *db, const struct kc_overflow_query *q, struct kc_err *err)
{
	json_t *arr, *all = NULL, *uniq = NULL, *trace = NULL, *reduction;
	double ru, rt;

	for (int i = 0; i < q->ngroup; i++)
		if (!find_dim(q->group[i]) || (i && strcmp(q->group[0], q->group[1]) == 0)) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "group must be one or two of machine, build, label, "
					      "mode, workload, day");
			return NULL;
		}
	arr = groups(db, q, err);
	if (!arr || !(all = fleet_part(db, q, 0, err)) ||
	    !(uniq = fleet_part(db, q, KC_MODE_UNIQUE, err)) ||
	    !(trace = fleet_part(db, q, KC_MODE_TRACE, err))) {
		json_decref(arr);
		json_decref(all);
		json_decref(uniq);
		return NULL;
	}
	ru = json_real_value(json_object_get(uniq, "rate"));
	rt = json_real_value(json_object_get(trace, "rate"));
	reduction = rt > 0 && json_integer_value(json_object_get(uniq, "runs")) ? json_real(1 - ru / rt)
										 : json_null();
	json_object_set_new(all, "unique", uniq);
	json_object_set_new(all, "trace", trace);
	json_object_set_new(all, "unique_vs_trace_reduction", reduction);
	return json_pack("{s:o, s:o}", "groups", arr, "fleet", all);
}
