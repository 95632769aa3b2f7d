/*
 * api_read.c - the fleet read API: machines, builds, reports, labels, a build's raw
 * canonical coverage, /healthz and the Prometheus /metrics page. Every query
 * is a prepared statement with bound parameters; rows become JSON objects
 * keyed by column name (columns named j_* hold JSON text and are embedded,
 * columns named b_* are booleans).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>

#include "blob.h"
#include "day.h"
#include "audit.h"
#include "db.h"
#include "api.h"
#include "overflow.h"
#include "parse.h"

/* Turn every row of st (prepared on db) into a JSON object; returns a new
 * array, or NULL with err set. */
static json_t *rows_json(struct kc_sql *db, struct kc_stmt *st, struct kc_err *err)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		json_t *o = json_object();

		for (int i = 0; i < kc_stmt_column_count(st); i++) {
			const char *name = kc_stmt_column_name(st, i);
			json_t *v;

			switch (kc_stmt_column_type(st, i)) {
			case KC_SQL_INTEGER:
				if (strncmp(name, "b_", 2) == 0) {
					v = json_boolean(kc_stmt_column_int64(st, i) != 0);
					name += 2;
				} else {
					v = json_integer(kc_stmt_column_int64(st, i));
				}
				break;
			case KC_SQL_FLOAT:
				v = json_real(kc_stmt_column_double(st, i));
				break;
			case KC_SQL_NULL:
				v = json_null();
				break;
			default:
				if (strncmp(name, "j_", 2) == 0) {
					v = json_loads((const char *)kc_stmt_column_text(st, i), 0,
						       NULL);
					name += 2;
				} else {
					v = json_string((const char *)kc_stmt_column_text(st, i));
				}
			}
			json_object_set_new(o, name, v ? v : json_null());
		}
		json_array_append_new(arr, o);
	}
	if (rc < 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* Run sql with up to two text parameters (NULL = unbound); rows as JSON. */
static json_t *query_rows(struct kc_sql *db, const char *sql, const char *p1, const char *p2,
			  struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	json_t *rows;

	if (!st)
		return NULL;
	if (p1)
		kc_stmt_bind_text(st, 1, p1, -1, KC_SQL_STATIC);
	if (p2)
		kc_stmt_bind_text(st, 2, p2, -1, KC_SQL_STATIC);
	rows = rows_json(db, st, err);
	kc_stmt_finalize(st);
	return rows;
}

/* Answer {key: rows of sql} (pg_sql on PostgreSQL when not NULL). */
static enum MHD_Result answer_rows(struct kc_req *r, const char *key, const char *sql,
				   const char *pg_sql, const char *p1, const char *p2)
{
	struct kc_err err;
	struct kc_sql *db = kc_db_get(r->srv, &err);
	json_t *rows;

	if (!db)
		return kc_respond_err(r, &err);
	rows = query_rows(db, kc_sql_backend(db) == KC_SQL_PG && pg_sql ? pg_sql : sql, p1, p2,
			  &err);
	kc_db_put(r->srv, db);
	if (!rows)
		return kc_respond_err(r, &err);
	return kc_respond_json(r, 200, json_pack("{s:o}", key, rows));
}

enum MHD_Result kc_api_machines(struct kc_req *r)
{
#define MACHINES(RELEASES)                                                                \
	"SELECT m.name, m.first_seen, m.last_push, m.reports, m.pcs, m.unknown_pcs, "      \
	" (SELECT count(*) FROM boots b WHERE b.machine = m.id) AS boots, "                \
	" (SELECT " RELEASES " FROM boots b WHERE b.machine = m.id) AS j_releases "         \
	"FROM machines m ORDER BY m.name"
	/* PostgreSQL's json_agg is NULL over no rows, SQLite's [] */
	return answer_rows(r, "machines", MACHINES("json_group_array(DISTINCT b.release)"),
			   MACHINES("coalesce(CAST(json_agg(DISTINCT b.release) AS text), '[]')"),
			   NULL, NULL);
#undef MACHINES
}

static uint64_t blob_cardinality(const void *p, int n)
{
	roaring_bitmap_t *b = kc_bitmap_from_blob(p, (size_t)n);
	uint64_t c = b ? roaring_bitmap_get_cardinality(b) : 0;

	kc_bitmap_free(b);
	return c;
}

/* Covered PCs per build: sum of the all-time rows of its binaries (a
 * binary's base and delta rows are disjoint, so cardinalities add up). */
static int add_covered(struct kc_sql *db, json_t *builds, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db,
					 "SELECT t.bits FROM coverage_total t JOIN binaries b ON "
					 "b.id = t.binary JOIN builds bl ON bl.id = b.build "
					 "WHERE bl.build_id = ?",
					 err);
	size_t i;
	json_t *b;
	int rc = 0;

	if (!st)
		return -1;
	json_array_foreach(builds, i, b) {
		uint64_t covered = 0;

		kc_stmt_bind_text(st, 1, json_string_value(json_object_get(b, "build_id")), -1,
				  KC_SQL_TRANSIENT);
		while ((rc = kc_db_step(db, st, err)) == KC_ROW)
			covered += blob_cardinality(kc_stmt_column_blob(st, 0),
						    kc_stmt_column_bytes(st, 0));
		kc_stmt_reset(st);
		if (rc < 0)
			break;
		json_object_set_new(b, "covered_pcs", json_integer((json_int_t)covered));
	}
	kc_stmt_finalize(st);
	return rc < 0 ? kc_err_prefix(err, "reading coverage") : 0;
}

enum MHD_Result kc_api_builds(struct kc_req *r)
{
	struct kc_err err;
	struct kc_sql *db = kc_db_get(r->srv, &err);
	json_t *rows;

	if (!db)
		return kc_respond_err(r, &err);
	rows = query_rows(db,
			  "SELECT bl.build_id, bl.release, bl.first_seen, bl.last_seen, "
			  " (SELECT count(DISTINCT machine) FROM boots WHERE build = bl.id) AS machines, "
			  " (SELECT count(*) FROM boots WHERE build = bl.id) AS boots, "
			  " (SELECT count(*) FROM binaries WHERE build = bl.id AND kind = 'module') "
			  "   AS modules, "
			  " (bi.build IS NOT NULL) AS b_imported, "
			  " coalesce(bi.files, 0) AS files, coalesce(bi.points, 0) AS points "
			  "FROM builds bl LEFT JOIN build_imports bi ON bi.build = bl.id "
			  "ORDER BY bl.last_seen DESC, bl.id DESC",
			  NULL, NULL, &err);
	if (rows && add_covered(db, rows, &err) < 0) {
		json_decref(rows);
		rows = NULL;
	}
	kc_db_put(r->srv, db);
	if (!rows)
		return kc_respond_err(r, &err);
	return kc_respond_json(r, 200, json_pack("{s:o}", "builds", rows));
}

enum MHD_Result kc_api_reports(struct kc_req *r)
{
	const char *machine = kc_req_arg(r, "machine");
	const char *limit = kc_req_arg(r, "limit");
	struct kc_err err;
	uint64_t n = 100;
	char lim[24];

	if (limit && kc_parse_u64(limit, "limit", 1, 10000, &n, &err) < 0)
		return kc_respond_err(r, &err);
	snprintf(lim, sizeof(lim), "%llu", (unsigned long long)n);
	return answer_rows(
		r, "reports",
		"SELECT r.upload_id, m.name AS machine, b.boot_id, l.name AS label, r.received, "
		" r.created, r.pcs, r.unknown_pcs, r.runs, r.overflowed_runs, r.bytes "
		"FROM reports r JOIN machines m ON m.id = r.machine JOIN boots b ON b.id = r.boot "
		"JOIN labels l ON l.id = r.label WHERE (?1 IS NULL OR m.name = ?1) "
		"ORDER BY r.id DESC LIMIT CAST(?2 AS INTEGER)",
		NULL, machine, lim);
}

/* GET /api/v1/audit?limit=N (admin): the newest admin actions. */
enum MHD_Result kc_api_audit(struct kc_req *r)
{
	const char *limit = kc_req_arg(r, "limit");
	struct kc_err err;
	uint64_t n = 100;
	json_t *rows = NULL;
	struct kc_sql *db;

	kc_err_clear(&err);
	if (limit && kc_parse_u64(limit, "limit", 1, 10000, &n, &err) < 0)
		return kc_respond_err(r, &err);
	db = kc_db_get(r->srv, &err);
	if (db)
		rows = kc_audit_list(db, (unsigned)n, &err);
	kc_db_put(r->srv, db);
	if (!rows)
		return kc_respond_err(r, &err);
	return kc_respond_json(r, 200, json_pack("{s:o}", "audit", rows));
}

/* The union of the coverage_total rows (base and deltas) of binary (rows
 * prepared on db), or NULL with err set. */
static roaring_bitmap_t *stored_total(struct kc_sql *db, struct kc_stmt *rows, int64_t binary,
				      struct kc_err *err)
{
	roaring_bitmap_t *u = roaring_bitmap_create();
	int rc = 0;

	kc_stmt_bind_int64(rows, 1, binary);
	while (u && (rc = kc_db_step(db, rows, err)) == KC_ROW) {
		roaring_bitmap_t *b = kc_db_column_bitmap(rows, 0);

		if (!b) {
			rc = kc_err_set(err, KC_E_INTERNAL,
					"stored coverage of binary %lld is corrupt",
					(long long)binary);
			break;
		}
		roaring_bitmap_or_inplace(u, b);
		kc_bitmap_free(b);
	}
	kc_stmt_reset(rows);
	if (!u)
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (rc < 0) {
		kc_bitmap_free(u);
		u = NULL;
	}
	return u;
}

/* GET /api/v1/builds/{build}/pcs[?binary=NAME]: the canonical coverage. */
enum MHD_Result kc_api_pcs(struct kc_req *r)
{
	const char *build = kc_req_param(r, "build");
	const char *binary = kc_req_arg(r, "binary");
	struct kc_err err;
	struct kc_sql *db = kc_db_get(r->srv, &err);
	struct kc_stmt *st, *rows = NULL;
	json_t *out = json_array();
	int rc, found = 0;

	if (!db) {
		json_decref(out);
		return kc_respond_err(r, &err);
	}
	st = kc_db_prepare(db,
			   "SELECT b.id, b.name, b.kind, b.build_id FROM binaries b "
			   "JOIN builds bl ON bl.id = b.build "
			   "WHERE bl.build_id = ?1 AND (?2 IS NULL OR b.name = ?2) ORDER BY b.id",
			   &err);
	rows = st ? kc_db_prepare(db, "SELECT bits FROM coverage_total WHERE binary = ?", &err)
		  : NULL;
	if (!rows)
		goto fail;
	kc_stmt_bind_text(st, 1, build, -1, KC_SQL_STATIC);
	if (binary)
		kc_stmt_bind_text(st, 2, binary, -1, KC_SQL_STATIC);
	while ((rc = kc_db_step(db, st, &err)) == KC_ROW) {
		roaring_bitmap_t *bits = stored_total(db, rows, kc_stmt_column_int64(st, 0), &err);
		json_t *offs = json_array();
		roaring_uint32_iterator_t *it;

		if (!bits) {
			json_decref(offs);
			goto fail;
		}
		found = 1;
		it = roaring_create_iterator(bits);
		for (; it->has_value; roaring_advance_uint32_iterator(it))
			json_array_append_new(offs, json_integer(it->current_value));
		roaring_free_uint32_iterator(it);
		json_array_append_new(out,
				      json_pack("{s:s, s:s, s:s, s:I, s:o}", "name",
						(const char *)kc_stmt_column_text(st, 1), "kind",
						(const char *)kc_stmt_column_text(st, 2), "build_id",
						(const char *)kc_stmt_column_text(st, 3), "count",
						(json_int_t)roaring_bitmap_get_cardinality(bits), "offsets",
						offs));
		kc_bitmap_free(bits);
	}
	if (rc < 0)
		goto fail;
	kc_stmt_finalize(st);
	kc_stmt_finalize(rows);
	kc_db_put(r->srv, db);
	if (!found) {
		json_decref(out);
		return kc_respond_error(r, KC_E_NOT_FOUND,
					"no build %s%s%s", build, binary ? " with binary " : "",
					binary ? binary : "");
	}
	return kc_respond_json(r, 200, json_pack("{s:s, s:o}", "build_id", build, "binaries", out));
fail:
	kc_stmt_finalize(st);
	kc_stmt_finalize(rows);
	kc_db_put(r->srv, db);
	json_decref(out);
	return kc_respond_err(r, &err);
}

/* GET /api/v1/stats/overflow?group=A[,B]&since=&until=&limit= */
enum MHD_Result kc_api_overflow(struct kc_req *r)
{
	const char *group = kc_req_arg(r, "group"), *since = kc_req_arg(r, "since");
	const char *until = kc_req_arg(r, "until"), *limit = kc_req_arg(r, "limit");
	struct kc_overflow_query q = { { NULL, NULL }, 0, INT64_MIN, INT64_MAX, 50 };
	char groups[64] = "", *comma;
	struct kc_err err;
	struct kc_sql *db;
	json_t *j;

	kc_err_clear(&err);
	if (group && snprintf(groups, sizeof(groups), "%s", group) >= (int)sizeof(groups))
		return kc_respond_error(r, KC_E_BAD_INPUT, "group is too long");
	if (groups[0]) {
		q.group[q.ngroup++] = groups;
		comma = strchr(groups, ',');
		if (comma) {
			*comma = '\0';
			q.group[q.ngroup++] = comma + 1;
		}
	}
	if ((since && kc_day_parse(since, &q.since) < 0) || (until && kc_day_parse(until, &q.until) < 0))
		return kc_respond_error(r, KC_E_BAD_INPUT, "since and until are dates: YYYY-MM-DD");
	if (limit && kc_parse_i64(limit, "limit", 1, 100000, &q.limit, &err) < 0)
		return kc_respond_err(r, &err);
	db = kc_db_get(r->srv, &err);
	if (!db)
		return kc_respond_err(r, &err);
	j = kc_overflow_query(db, &q, &err);
	kc_db_put(r->srv, db);
	if (!j)
		return kc_respond_err(r, &err);
	json_object_set_new(j, "group", json_string(group ? group : ""));
	return kc_respond_json(r, 200, j);
}

/* GET /healthz: 200 when a read connection answers `SELECT 1` (on
 * PostgreSQL a round trip to the server; a lost connection is reset by
 * the next call, so the answer recovers with the server), else 503
 * database_unreachable. */
enum MHD_Result kc_api_healthz(struct kc_req *r)
{
	struct kc_store_stats st;
	struct kc_err err = { "", KC_E_NONE };
	struct kc_sql *db = kc_db_get(r->srv, &err);
	struct kc_stmt *ping = db ? kc_db_cached(db, "SELECT 1", &err) : NULL;
	int rc = ping ? kc_db_step(db, ping, &err) : -1;
	const char *backend = db && kc_sql_backend(db) == KC_SQL_PG ? "postgresql" : "sqlite";

	if (ping)
		kc_stmt_reset(ping);
	if (db)
		kc_db_put(r->srv, db);
	if (rc != KC_ROW)
		return kc_respond_error(r, KC_E_DB_UNREACHABLE, "the database does not answer: %s",
					err.msg);
	kc_store_stats(r->srv->store, &st);
	return kc_respond_json(r, 200,
			       json_pack("{s:s, s:i, s:I, s:s, s:s}", "status", "ok",
					 "schema_version", kc_db_schema_version(), "queue_depth",
					 (json_int_t)st.queue_depth, "database", backend,
					 "database_status", "ok"));
}

enum MHD_Result kc_api_metrics(struct kc_req *r)
{
	struct kc_metrics *m = &r->srv->metrics;
	struct kc_store_stats st;
	struct kc_buf b = KC_BUF_INIT;
	enum MHD_Result ret;
	static const char *const reasons[] = { "auth", "decode", "too_large", "content_type",
					       "no_address_map", "store", "other", "client_cert" };
	unsigned long long rejected[] = {
		m->rejected_auth, m->rejected_decode, m->rejected_too_large, m->rejected_type,
		m->rejected_no_map, m->rejected_store, m->rejected_other, m->rejected_client_cert,
	};

	kc_store_stats(r->srv->store, &st);
	kc_buf_addf(&b, "# HELP kcovd_reports_accepted_total Reports stored.\n"
			"# TYPE kcovd_reports_accepted_total counter\n"
			"kcovd_reports_accepted_total %llu\n",
		    (unsigned long long)m->reports_accepted);
	kc_buf_addf(&b, "# HELP kcovd_reports_duplicate_total Reports acknowledged as already stored.\n"
			"# TYPE kcovd_reports_duplicate_total counter\n"
			"kcovd_reports_duplicate_total %llu\n",
		    (unsigned long long)m->reports_duplicate);
	kc_buf_addf(&b, "# HELP kcovd_reports_rejected_total Requests refused, by reason.\n"
			"# TYPE kcovd_reports_rejected_total counter\n");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		kc_buf_addf(&b, "kcovd_reports_rejected_total{reason=\"%s\"} %llu\n", reasons[i],
			    rejected[i]);
	kc_buf_addf(&b, "# HELP kcovd_address_maps_total Address maps stored.\n"
			"# TYPE kcovd_address_maps_total counter\n"
			"kcovd_address_maps_total %llu\n"
			"# HELP kcovd_pcs_ingested_total PCs received in stored reports.\n"
			"# TYPE kcovd_pcs_ingested_total counter\n"
			"kcovd_pcs_ingested_total %llu\n"
			"# HELP kcovd_pcs_unknown_total PCs that fell in no known region.\n"
			"# TYPE kcovd_pcs_unknown_total counter\n"
			"kcovd_pcs_unknown_total %llu\n",
		    (unsigned long long)m->maps_accepted, (unsigned long long)m->pcs_ingested,
		    (unsigned long long)m->pcs_unknown);
	kc_buf_addf(&b, "# HELP kcovd_queue_depth Jobs waiting for the writer.\n"
			"# TYPE kcovd_queue_depth gauge\n"
			"kcovd_queue_depth %llu\n"
			"# HELP kcovd_commit_latency_ms Duration of the last group commit.\n"
			"# TYPE kcovd_commit_latency_ms gauge\n"
			"kcovd_commit_latency_ms %.3f\n"
			"# HELP kcovd_commits_total Group commits.\n"
			"# TYPE kcovd_commits_total counter\n"
			"kcovd_commits_total %llu\n"
			"# HELP kcovd_commit_failures_total Group commits that failed.\n"
			"# TYPE kcovd_commit_failures_total counter\n"
			"kcovd_commit_failures_total %llu\n"
			"# HELP kcovd_committed_jobs_total Jobs applied by the writer.\n"
			"# TYPE kcovd_committed_jobs_total counter\n"
			"kcovd_committed_jobs_total %llu\n"
			"# HELP kcovd_http_requests_total HTTP requests received.\n"
			"# TYPE kcovd_http_requests_total counter\n"
			"kcovd_http_requests_total %llu\n",
		    (unsigned long long)st.queue_depth, st.last_commit_ms,
		    (unsigned long long)st.batches, (unsigned long long)st.commit_failures,
		    (unsigned long long)st.jobs, (unsigned long long)m->http_requests);
	kc_buf_addf(&b, "# HELP kcovd_reports_clock_clamped_total Stored reports whose taken time "
			"was outside the window around their receipt, by side.\n"
			"# TYPE kcovd_reports_clock_clamped_total counter\n"
			"kcovd_reports_clock_clamped_total{side=\"past\"} %llu\n"
			"kcovd_reports_clock_clamped_total{side=\"future\"} %llu\n",
		    (unsigned long long)st.clamped_past, (unsigned long long)st.clamped_future);
	kc_buf_addf(&b, "# HELP kcovd_runs_total Runs received, by coverage mode.\n"
			"# TYPE kcovd_runs_total counter\n"
			"kcovd_runs_total{mode=\"unique\"} %llu\nkcovd_runs_total{mode=\"trace\"} %llu\n"
			"# HELP kcovd_runs_overflowed_total Runs whose trace buffer overflowed.\n"
			"# TYPE kcovd_runs_overflowed_total counter\n"
			"kcovd_runs_overflowed_total{mode=\"unique\"} %llu\n"
			"kcovd_runs_overflowed_total{mode=\"trace\"} %llu\n",
		    (unsigned long long)m->runs[0], (unsigned long long)m->runs[1],
		    (unsigned long long)m->runs_overflowed[0],
		    (unsigned long long)m->runs_overflowed[1]);
	kc_buf_addf(&b, "# HELP kcovd_rate_limited_total Requests refused with 429, by the bucket's key.\n"
			"# TYPE kcovd_rate_limited_total counter\n"
			"kcovd_rate_limited_total{key=\"token\"} %llu\n"
			"kcovd_rate_limited_total{key=\"address\"} %llu\n",
		    (unsigned long long)m->rate_limited_token,
		    (unsigned long long)m->rate_limited_addr);
	/* Which node these counters are of (several share one PostgreSQL
	 * database): its node_generations row, a Prometheus label value. */
	kc_buf_addf(&b, "# HELP kcovd_node_info The node these metrics are of (host:pid:start).\n"
			"# TYPE kcovd_node_info gauge\nkcovd_node_info{node=\"");
	for (const char *p = kc_store_node(r->srv->store); *p; p++) {
		if (*p == '\\' || *p == '"')
			kc_buf_add(&b, "\\", 1);
		if (*p == '\n')
			kc_buf_add(&b, "\\n", 2);
		else
			kc_buf_add(&b, p, 1);
	}
	kc_buf_addf(&b, "\"} 1\n"
			"# HELP kcovd_generation_polls_total Reads of the database's generation "
			"(PostgreSQL: other nodes' changes).\n"
			"# TYPE kcovd_generation_polls_total counter\n"
			"kcovd_generation_polls_total %llu\n",
		    (unsigned long long)st.generation_polls);
	kc_buf_addf(&b, "# HELP kcovd_reports_wire_total Reports stored, by wire format version.\n"
			"# TYPE kcovd_reports_wire_total counter\n");
	for (unsigned v = 1; v <= KC_WIRE_VERSION_MAX; v++)
		kc_buf_addf(&b, "kcovd_reports_wire_total{version=\"%u\"} %llu\n", v,
			    (unsigned long long)m->reports_wire[v - 1]);
	if (b.oom) {
		kc_buf_release(&b);
		return kc_respond_error(r, KC_E_INTERNAL, "out of memory");
	}
	ret = kc_respond_text(r, 200, "text/plain; version=0.0.4", (char *)b.data, b.len);
	kc_buf_release(&b);
	return ret;
}

enum MHD_Result kc_api_labels(struct kc_req *r)
{
	return answer_rows(
		r, "labels",
		"SELECT l.name, "
		" (SELECT count(*) FROM reports r WHERE r.label = l.id) AS reports, "
		" (SELECT max(received) FROM reports r WHERE r.label = l.id) AS last_report "
		"FROM labels l ORDER BY l.name",
		NULL, NULL, NULL);
}
