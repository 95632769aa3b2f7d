/*
 * api_coverage.c - the HTTP face of build import and coverage queries:
 * POST /api/v1/builds (admin) imports a build from server-local paths, and
 * GET /api/v1/builds/{build}/{tree,files/PATH,functions,labels,lcov,files.csv,
 * functions.csv,subsystems,summary} and GET /api/v1/history answer from
 * query/ (covquery.h). The route table has
 * already checked the method, the token and that {build} is a build id;
 * this file parses and validates the rest (paths, label/day filters,
 * paging) and answers covquery's errors by their domain code
 * (kc_respond_err); docs/api-coverage.md is the reference.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "covquery.h"
#include "api.h"
#include "day.h"
#include "import.h"
#include "maintainers.h"
#include "parse.h"
#include "path.h"
#include "wire.h"

#define MAX_LABELS 64
#define MAX_PATH_LEN 4096
#define MAX_LIMIT 10000
#define DEFAULT_LIMIT 100
#define MAX_REV_LEN 256
#define MAX_MERGE 63 /* builds besides the target (covquery.h) */

/* A request's parsed filter; the JSON texts are owned. */
struct filter_args {
	struct kc_cov_filter f;
	char *labels, *minus;
	json_t *lab, *min;
	struct kc_err err; /* why the arguments are refused */
};

/* A source path: printable, with plain segments (kc_path_safe; a leading
 * '/' is allowed for absolute paths). */
static int valid_path(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > MAX_PATH_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return kc_path_safe(p, KC_PATH_ABSOLUTE);
}

/* what= is "YYYY-MM-DD" or a day number. */
static int parse_day(const char *s, const char *what, int64_t *out, struct kc_err *err)
{
	if (kc_day_parse(s, out) == 0)
		return 0;
	if (kc_parse_i64(s, what, 0, KC_DAY_MAX, out, err) < 0)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s must be YYYY-MM-DD or a day number", what);
	return 0;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct filter_args *a = cls;
	json_t *arr;
	(void)kind;

	if (strcmp(key, "label") == 0)
		arr = a->lab ? a->lab : (a->lab = json_array());
	else if (strcmp(key, "minus") == 0)
		arr = a->min ? a->min : (a->min = json_array());
	else
		return MHD_YES;
	if (!value || !kc_valid_name(value, KC_NAME_MAX)) {
		kc_err_set(&a->err, KC_E_BAD_INPUT, "%s= needs a label name", key);
		return MHD_NO;
	}
	if (json_array_size(arr) >= MAX_LABELS) {
		kc_err_set(&a->err, KC_E_BAD_INPUT, "at most %d %s= arguments", MAX_LABELS, key);
		return MHD_NO;
	}
	json_array_append_new(arr, json_string(value));
	return MHD_YES;
}

static void filter_release(struct filter_args *a)
{
	json_decref(a->lab);
	json_decref(a->min);
	free(a->labels);
	free(a->minus);
}

/* subsystem=NAME: a MAINTAINERS section name (printable, bounded). */
static int subsystem_arg(struct kc_req *r, const char **out, struct kc_err *err)
{
	const char *s = kc_req_arg(r, "subsystem");
	size_t n;

	*out = NULL;
	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n > KC_MAINT_MAX_NAME)
		return kc_err_set(err, KC_E_BAD_INPUT, "subsystem= needs a name of 1..%u bytes",
				  KC_MAINT_MAX_NAME);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "subsystem= holds a control character");
	*out = s;
	return 0;
}

/* Parse label=, minus=, since=, until=, subsystem=. Returns -1 with a->err on a bad
 * argument. */
static int parse_filter(struct kc_req *r, struct filter_args *a)
{
	const char *since = kc_req_arg(r, "since"), *until = kc_req_arg(r, "until");

	memset(a, 0, sizeof(*a));
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, a);
	if (a->err.code != KC_E_NONE)
		return -1;
	if ((a->lab && !(a->labels = json_dumps(a->lab, JSON_COMPACT))) ||
	    (a->min && !(a->minus = json_dumps(a->min, JSON_COMPACT))))
		return kc_err_set(&a->err, KC_E_INTERNAL, "out of memory");
	a->f.labels_json = a->labels;
	a->f.minus_json = a->minus;
	if (subsystem_arg(r, &a->f.subsystem, &a->err) < 0)
		return -1;
	a->f.since = 0;
	a->f.until = KC_DAY_MAX;
	if (since || until) {
		a->f.days = 1;
		if ((since && parse_day(since, "since=", &a->f.since, &a->err) < 0) ||
		    (until && parse_day(until, "until=", &a->f.until, &a->err) < 0))
			return -1;
		if (a->f.since > a->f.until)
			return kc_err_set(&a->err, KC_E_BAD_INPUT, "since= is after until=");
	}
	return 0;
}

/* Integer argument name= in [lo, hi], or dflt when absent. */
static int arg_uint(struct kc_req *r, const char *name, uint64_t lo, uint64_t hi, uint64_t dflt,
		    uint64_t *out, struct kc_err *err)
{
	const char *s = kc_req_arg(r, name);
	char what[32];

	*out = dflt;
	if (!s)
		return 0;
	snprintf(what, sizeof(what), "%s=", name);
	return kc_parse_u64(s, what, lo, hi, out, err);
}

/* Directory or prefix argument: "" when absent; trailing '/' removed. */
static int dir_arg(struct kc_req *r, const char *name, char *out, size_t size)
{
	const char *s = kc_req_arg(r, name);
	size_t n;

	out[0] = '\0';
	if (!s || !*s)
		return 0;
	n = strlen(s);
	if (n >= size)
		return -1;
	memcpy(out, s, n + 1);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (strcmp(out, "/") == 0)
		return 0;
	return valid_path(out) ? 0 : -1;
}

/* merge=: build ids (a copy of the argument, cut at the commas) or window. */
struct merge_args {
	struct kc_covq_merge m;
	char *text;
	const char *ids[MAX_MERGE];
};

/* Parse merge= and release=; m.nbuilds == 0 and !m.window: no merge. */
static int parse_merge(struct kc_req *r, struct merge_args *a, struct kc_err *err)
{
	const char *s = kc_req_arg(r, "merge"), *rel = kc_req_arg(r, "release");
	char *p;

	memset(a, 0, sizeof(*a));
	if (rel && (!s || strcmp(s, "window") != 0))
		return kc_err_set(err, KC_E_BAD_INPUT, "release= needs merge=window");
	if (!s)
		return 0;
	if (strcmp(s, "window") == 0) {
		if (rel && (!*rel || strlen(rel) > KC_NAME_MAX))
			return kc_err_set(err, KC_E_BAD_INPUT, "release= must be 1..%d bytes",
					  KC_NAME_MAX);
		a->m.window = 1;
		a->m.release = rel;
		return 0;
	}
	a->text = strdup(s);
	if (!a->text)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (p = a->text; p;) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		if (!kc_build_id_valid(p, strlen(p), KC_BUILD_ID_MAX))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "merge= must be window or build ids separated by commas");
		if (a->m.nbuilds == MAX_MERGE)
			return kc_err_set(err, KC_E_BAD_INPUT, "merge= names more than %d builds",
					  MAX_MERGE);
		a->ids[a->m.nbuilds++] = p;
		p = comma ? comma + 1 : NULL;
	}
	a->m.builds = a->ids;
	return 0;
}

/* One coverage query request: its parsed filter, the read connection and
 * the opened query; query_begin .. query_send* (which release it). */
struct query {
	struct filter_args fa;
	struct merge_args ma;
	struct kc_sql *db;
	struct kc_covq *q;
	struct kc_buf buf; /* text answers */
	struct kc_err err;
};

/* Parse the filter every query takes. -1 with x->err on a bad argument
 * (answer with query_send, which releases x). */
static int query_begin(struct kc_req *r, struct query *x)
{
	memset(x, 0, sizeof(*x));
	kc_err_clear(&x->err);
	if (parse_filter(r, &x->fa) < 0) {
		x->err = x->fa.err;
		return -1;
	}
	return parse_merge(r, &x->ma, &x->err);
}

/* Open the query of the route's {build} with flags (KC_COVQ_*). */
static int query_open(struct kc_req *r, struct query *x, unsigned flags)
{
	x->db = kc_db_get(r->srv, &x->err);
	if (!x->db)
		return -1;
	x->q = kc_covq_open(r->srv->opts.covq_cache, x->db,
			    kc_store_read_generation(r->srv->store, x->db), kc_req_param(r, "build"),
			    &x->fa.f, flags, &x->err);
	if (!x->q)
		return -1;
	if (x->ma.m.window || x->ma.m.nbuilds)
		return kc_covq_merge(x->q, &x->ma.m, &x->err);
	return 0;
}

static void query_release(struct kc_req *r, struct query *x)
{
	kc_covq_free(x->q);
	kc_db_put(r->srv, x->db);
	kc_buf_release(&x->buf);
	filter_release(&x->fa);
	free(x->ma.text);
}

/* Answer j (owned; NULL: the error in x->err) and release x. */
static enum MHD_Result query_send(struct kc_req *r, struct query *x, json_t *j)
{
	enum MHD_Result ret = j ? kc_respond_json(r, 200, j) : kc_respond_err(r, &x->err);

	query_release(r, x);
	return ret;
}

/* Answer x->buf as text of MIME type `type` when rc is 0 (else the error
 * in x->err) and release x. */
static enum MHD_Result query_send_text(struct kc_req *r, struct query *x, int rc,
				       const char *type)
{
	enum MHD_Result ret;

	if (rc < 0)
		ret = kc_respond_err(r, &x->err);
	else if (x->buf.oom)
		ret = kc_respond_error(r, KC_E_INTERNAL, "out of memory");
	else
		ret = kc_respond_text(r, 200, type, x->buf.data ? (char *)x->buf.data : "",
				      x->buf.len);
	query_release(r, x);
	return ret;
}

/* dir_arg with the query's error: 400 naming the argument. */
static int query_dir(struct kc_req *r, struct query *x, const char *name, char *dir)
{
	if (dir_arg(r, name, dir, MAX_PATH_LEN + 1) == 0)
		return 0;
	return kc_err_set(&x->err, KC_E_BAD_INPUT, "%s= is not a valid relative source path",
			  name);
}

enum MHD_Result kc_api_tree(struct kc_req *r)
{
	struct query x;
	char dir[MAX_PATH_LEN + 1];

	if (query_begin(r, &x) < 0 || query_dir(r, &x, "path", dir) < 0 ||
	    query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_tree(x.q, dir, &x.err));
}

enum MHD_Result kc_api_subsystems(struct kc_req *r)
{
	struct query x;

	if (query_begin(r, &x) < 0 || query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_subsystems(x.q, &x.err));
}

enum MHD_Result kc_api_file(struct kc_req *r)
{
	const char *path = kc_req_param(r, "path");
	struct query x;

	if (!valid_path(path))
		return kc_respond_error(r, KC_E_BAD_INPUT, "not a valid source path: %s", path);
	if (query_begin(r, &x) < 0 || query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_file(x.q, path, &x.err));
}

/* sort= of the functions list. */
static int sort_arg(struct kc_req *r, enum kc_func_sort *sort, struct kc_err *err)
{
	const char *s = kc_req_arg(r, "sort");

	if (!s || strcmp(s, "name") == 0)
		*sort = KC_SORT_NAME;
	else if (strcmp(s, "coverage") == 0)
		*sort = KC_SORT_COVERAGE;
	else if (strcmp(s, "points") == 0)
		*sort = KC_SORT_POINTS;
	else
		return kc_err_set(err, KC_E_BAD_INPUT, "sort= must be name, coverage or points");
	return 0;
}

enum MHD_Result kc_api_functions(struct kc_req *r)
{
	const char *file = kc_req_arg(r, "file"), *match = kc_req_arg(r, "q");
	enum kc_func_sort sort = KC_SORT_NAME;
	uint64_t limit = 0, offset = 0;
	struct query x;

	if (query_begin(r, &x) < 0)
		return query_send(r, &x, NULL);
	if (file && !valid_path(file))
		kc_err_set(&x.err, KC_E_BAD_INPUT, "file= is not a valid source path");
	else if (match && strlen(match) > 256)
		kc_err_set(&x.err, KC_E_BAD_INPUT, "q= is longer than 256 bytes");
	if (x.err.code != KC_E_NONE || sort_arg(r, &sort, &x.err) < 0 ||
	    arg_uint(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit, &x.err) < 0 ||
	    arg_uint(r, "offset", 0, INT_MAX, 0, &offset, &x.err) < 0 ||
	    query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_functions(x.q, file, match, sort, (size_t)limit,
						   (size_t)offset, &x.err));
}

enum MHD_Result kc_api_build_labels(struct kc_req *r)
{
	const char *file = kc_req_arg(r, "file");
	uint64_t line = 0, limit = 0;
	struct query x;

	if (query_begin(r, &x) < 0)
		return query_send(r, &x, NULL);
	if (!file || !valid_path(file))
		kc_err_set(&x.err, KC_E_BAD_INPUT, "file= (a source path) is required");
	if (x.err.code != KC_E_NONE ||
	    arg_uint(r, "line", 1, INT_MAX, 0, &line, &x.err) < 0 ||
	    arg_uint(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit, &x.err) < 0 ||
	    query_open(r, &x, KC_COVQ_NEED_IMPORT | KC_COVQ_NO_COVERAGE) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_labels(x.q, file, (int64_t)line, (size_t)limit, &x.err));
}

enum MHD_Result kc_api_summary(struct kc_req *r)
{
	struct query x;

	if (query_begin(r, &x) < 0 || query_open(r, &x, 0) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_summary(x.q, &x.err));
}

/* base= (a build id) or base_rev= (a git revision) of patch and commits. */
static int base_arg(struct kc_req *r, struct query *x, const char **base, const char **rev)
{
	*base = kc_req_arg(r, "base");
	*rev = kc_req_arg(r, "base_rev");
	if (*rev && !*base && **rev && strlen(*rev) <= 255 && **rev != '-')
		return 0;
	if (*base && !*rev && kc_build_id_valid(*base, strlen(*base), KC_BUILD_ID_MAX))
		return 0;
	return kc_err_set(&x->err, KC_E_BAD_INPUT,
			  "one of base= (a build id) or base_rev= (a git revision) is required");
}

/* Patch coverage: the lines new since build base= under path= (a dir),
 * or only those of commit=. */
enum MHD_Result kc_api_patch(struct kc_req *r)
{
	const char *base, *rev, *commit = kc_req_arg(r, "commit");
	char dir[MAX_PATH_LEN + 1];
	struct query x;

	if (query_begin(r, &x) < 0 || base_arg(r, &x, &base, &rev) < 0)
		return query_send(r, &x, NULL);
	if (commit && (!*commit || strlen(commit) > 64 ||
		       strspn(commit, "0123456789abcdef") != strlen(commit)))
		kc_err_set(&x.err, KC_E_BAD_INPUT, "commit= must be a lowercase hex commit id");
	if (x.err.code != KC_E_NONE || query_dir(r, &x, "path", dir) < 0 ||
	    query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x, kc_covq_patch(x.q, base, rev, dir, commit, &x.err));
}

/* The commits between build base= and the build, with their new lines. */
enum MHD_Result kc_api_commits(struct kc_req *r)
{
	const char *base, *rev, *sort = kc_req_arg(r, "sort");
	struct query x;

	if (query_begin(r, &x) < 0 || base_arg(r, &x, &base, &rev) < 0)
		return query_send(r, &x, NULL);
	if (sort && strcmp(sort, "date") != 0 && strcmp(sort, "uncovered") != 0)
		kc_err_set(&x.err, KC_E_BAD_INPUT, "sort= must be date or uncovered");
	if (x.err.code != KC_E_NONE || query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send(r, &x,
			  kc_covq_commits(x.q, base, rev,
					  sort && strcmp(sort, "uncovered") == 0
						  ? KC_COMMIT_SORT_UNCOVERED
						  : KC_COMMIT_SORT_DATE,
					  &x.err));
}

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define TEXT_CSV "text/csv; charset=utf-8"

/* A text export of every file below prefix=: lcov or one of the CSVs. */
/* GET /api/v1/history: the filter (label=, minus=, since=, until=,
 * subsystem=), path=, step=, release=, series=. */
enum MHD_Result kc_api_history(struct kc_req *r)
{
	struct query x;
	char dir[MAX_PATH_LEN + 1];
	const char *step = kc_req_arg(r, "step"), *series = kc_req_arg(r, "series");
	const char *since = kc_req_arg(r, "since"), *until = kc_req_arg(r, "until");
	struct kc_history_req h = { .path = dir, .step = KC_STEP_DAY };
	struct kc_history_ctx c = { .h = &h };

	memset(&x, 0, sizeof(x));
	kc_err_clear(&x.err);
	if (parse_filter(r, &x.fa) < 0) {
		x.err = x.fa.err;
		return query_send(r, &x, NULL);
	}
	if (query_dir(r, &x, "path", dir) < 0)
		return query_send(r, &x, NULL);
	if (step && strcmp(step, "day") != 0)
		h.step = strcmp(step, "week") == 0 ? KC_STEP_WEEK
			 : strcmp(step, "month") == 0 ? KC_STEP_MONTH : (enum kc_step)-1;
	if ((int)h.step < 0) {
		kc_err_set(&x.err, KC_E_BAD_INPUT, "step= must be day, week or month");
		return query_send(r, &x, NULL);
	}
	if (series && strcmp(series, "label") != 0) {
		kc_err_set(&x.err, KC_E_BAD_INPUT, "series= must be label");
		return query_send(r, &x, NULL);
	}
	if (kc_req_arg(r, "merge")) {
		kc_err_set(&x.err, KC_E_BAD_INPUT,
			   "history merges the builds of each period itself: no merge=");
		return query_send(r, &x, NULL);
	}
	h.release = kc_req_arg(r, "release");
	if (h.release && (!*h.release || strlen(h.release) > KC_NAME_MAX)) {
		kc_err_set(&x.err, KC_E_BAD_INPUT, "release= must be 1..%d bytes", KC_NAME_MAX);
		return query_send(r, &x, NULL);
	}
	/* until: today by default; since: 30 days, 12 weeks or 12 months back */
	h.until = until ? x.fa.f.until : (int64_t)time(NULL) / 86400;
	h.since = since ? x.fa.f.since
			: h.step == KC_STEP_DAY	 ? h.until - 29
			: h.step == KC_STEP_WEEK ? h.until - 7 * 11
						 : h.until - 334;
	if (h.since < 7)
		h.since = 7; /* the first whole ISO week starts on 1970-01-05 */
	if (h.since > h.until) {
		kc_err_set(&x.err, KC_E_BAD_INPUT, "since= is after until=");
		return query_send(r, &x, NULL);
	}
	h.labels_json = x.fa.f.labels_json;
	h.minus_json = x.fa.f.minus_json;
	h.subsystem = x.fa.f.subsystem;
	h.series = series != NULL;
	x.db = kc_db_get(r->srv, &x.err);
	if (!x.db)
		return query_send(r, &x, NULL);
	c.cache = r->srv->opts.covq_cache;
	c.db = x.db;
	c.coverage_gen = kc_store_read_generation(r->srv->store, x.db);
	return query_send(r, &x, kc_covq_history(&c, &x.err));
}

typedef int (*export_fn)(struct kc_covq *q, const char *prefix, struct kc_buf *out,
			 struct kc_err *err);

static enum MHD_Result export_query(struct kc_req *r, export_fn fn, const char *type)
{
	struct query x;
	char dir[MAX_PATH_LEN + 1];

	if (query_begin(r, &x) < 0 || query_dir(r, &x, "prefix", dir) < 0 ||
	    query_open(r, &x, KC_COVQ_NEED_IMPORT) < 0)
		return query_send(r, &x, NULL);
	return query_send_text(r, &x, fn(x.q, dir, &x.buf, &x.err), type);
}

enum MHD_Result kc_api_lcov(struct kc_req *r)
{
	return export_query(r, kc_covq_lcov, TEXT_PLAIN);
}

enum MHD_Result kc_api_files_csv(struct kc_req *r)
{
	return export_query(r, kc_covq_files_csv, TEXT_CSV);
}

enum MHD_Result kc_api_functions_csv(struct kc_req *r)
{
	return export_query(r, kc_covq_functions_csv, TEXT_CSV);
}

/* ---- POST /api/v1/builds -------------------------------------------------- */

static const char *opt_path(json_t *j, const char *key, int *bad)
{
	json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || json_string_value(v)[0] != '/' ||
	    strlen(json_string_value(v)) > MAX_PATH_LEN) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

/* Load the new import's point index (the query cache keeps it) now, so the
 * first query does not pay for it. Failures only cost that later. */
void kc_api_warm_index(struct kc_server *srv, json_t *summary)
{
	const char *build = json_string_value(json_object_get(summary, "build_id"));
	struct kc_cov_filter none;
	struct kc_err err;
	struct kc_sql *db;

	if (!build)
		return;
	memset(&none, 0, sizeof(none));
	db = kc_db_get(srv, &err);
	if (!db)
		return;
	kc_covq_free(kc_covq_open(srv->opts.covq_cache, db,
				  kc_store_read_generation(srv->store, db), build, &none,
				  KC_COVQ_NEED_IMPORT | KC_COVQ_NO_COVERAGE, &err));
	kc_db_put(srv, db);
}

enum MHD_Result kc_api_post_build(struct kc_req *r)
{
	static const char *const known[] = { "vmlinux", "modules", "source", "strip_prefix",
					     "git", "rev", "debug_dir", "async" };
	const char *strip[KC_IMPORT_MAX_STRIP];
	struct kc_import_opts o;
	struct kc_import *imp = NULL;
	struct kc_import_audited aud;
	char actor[KC_AUDIT_ACTOR_MAX] = "admin";
	struct kc_err err;
	json_error_t jerr;
	json_t *j = NULL, *sp, *v, *sum;
	const char *key;
	enum MHD_Result ret;
	int bad = 0, async;

	kc_err_clear(&err);
	memset(&o, 0, sizeof(o));
	j = json_loadb((const char *)(r->body ? r->body : (const unsigned char *)""), r->body_len,
		       0, &jerr);
	if (!j || !json_is_object(j)) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT, "body must be a JSON object: %s",
				       j ? "not an object" : jerr.text);
		goto out;
	}
	json_object_foreach(j, key, v) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			ret = kc_respond_error(r, KC_E_BAD_INPUT, "unknown field '%s'", key);
			goto out;
		}
	}
	o.vmlinux = opt_path(j, "vmlinux", &bad);
	o.modules_dir = opt_path(j, "modules", &bad);
	o.source_dir = opt_path(j, "source", &bad);
	o.git_repo = opt_path(j, "git", &bad);
	o.debug_dir = opt_path(j, "debug_dir", &bad);
	if (bad || !o.vmlinux) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT,
				       "vmlinux (required), modules, source, git and debug_dir "
				       "must be absolute server-local paths");
		goto out;
	}
	v = json_object_get(j, "rev");
	if (v && (!json_is_string(v) || !*json_string_value(v) ||
		  strlen(json_string_value(v)) > MAX_REV_LEN)) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT, "rev must be a revision name of 1..%d "
							  "bytes",
				       MAX_REV_LEN);
		goto out;
	}
	o.git_rev = v ? json_string_value(v) : NULL;
	sp = json_object_get(j, "strip_prefix");
	if (json_is_string(sp)) {
		strip[o.nstrip++] = json_string_value(sp);
	} else if (json_is_array(sp) && json_array_size(sp) <= KC_IMPORT_MAX_STRIP) {
		size_t i;

		json_array_foreach(sp, i, v) {
			if (!json_is_string(v) || !*json_string_value(v)) {
				ret = kc_respond_error(r, KC_E_BAD_INPUT,
						       "strip_prefix must hold strings");
				goto out;
			}
			strip[o.nstrip++] = json_string_value(v);
		}
	} else if (sp && !json_is_null(sp)) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT,
				       "strip_prefix must be a string or up to %d strings",
				       KC_IMPORT_MAX_STRIP);
		goto out;
	}
	o.strip_prefixes = strip;
	if (r->token)
		kc_token_actor(r->token, actor, sizeof(actor));
	async = kc_api_wants_async(r, j, &err);
	if (async) {
		ret = async < 0 ? kc_respond_err(r, &err) : kc_api_build_async(r, &o, actor);
		goto out;
	}
	if (kc_import_prepare(&o, &imp, &err) < 0) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT, "import failed: %s", err.msg);
		goto out;
	}
	aud.imp = imp;
	aud.actor = actor;
	if (kc_store_call(r->srv->store, kc_import_write_audited, &aud, &err) < 0) {
		kc_err_prefix(&err, "storing the import failed");
		ret = kc_respond_err(r, &err);
		goto out;
	}
	sum = kc_import_summary(imp);
	kc_api_warm_index(r->srv, sum);
	ret = kc_respond_json(r, 200, sum);
out:
	kc_import_free(imp);
	json_decref(j);
	return ret;
}
