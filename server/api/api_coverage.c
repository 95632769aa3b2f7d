/*
 * api_coverage.c - the HTTP face of build import and coverage queries:
 * POST /api/v1/builds (admin) imports a build from server-local paths, and
 * GET /api/v1/builds/{build}/{tree,files/PATH,functions,labels,lcov,files.csv,
 * functions.csv,subsystems,summary} answer from query/ (covquery.h). The route table has
 * already checked the method, the token and that {build} is a build id;
 * this file parses and validates the rest (paths, label/day filters,
 * paging) and answers covquery's errors by their domain code
 * (kc_respond_err); docs/api-coverage.md is the reference.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum what { W_TREE, W_FILE, W_FUNCS, W_LABELS, W_LCOV, W_FILES_CSV, W_FUNCS_CSV, W_SUMMARY,
	     W_SUBSYSTEMS };

static enum MHD_Result answer(struct kc_req *r, const char *build, enum what w, const char *path)
{
	struct filter_args fa;
	struct kc_err err;
	struct kc_covq *q = NULL;
	struct kc_buf buf = KC_BUF_INIT;
	char dir[MAX_PATH_LEN + 1];
	json_t *j = NULL;
	sqlite3 *db = NULL;
	const char *file = NULL, *match = NULL, *type = NULL;
	uint64_t limit = 0, offset = 0, line = 0;
	unsigned flags = KC_COVQ_NEED_IMPORT;
	enum kc_func_sort sort = KC_SORT_NAME;
	enum MHD_Result ret;
	int failed = 0;

	kc_err_clear(&err);
	if (parse_filter(r, &fa) < 0) {
		ret = kc_respond_err(r, &fa.err);
		goto out;
	}
	if (dir_arg(r, w == W_TREE ? "path" : "prefix", dir, sizeof(dir)) < 0) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT, "%s= is not a valid relative source path",
				       w == W_TREE ? "path" : "prefix");
		goto out;
	}
	if (w == W_FUNCS) {
		const char *s = kc_req_arg(r, "sort");

		file = kc_req_arg(r, "file");
		if (file && !valid_path(file)) {
			ret = kc_respond_error(r, KC_E_BAD_INPUT,
					       "file= is not a valid source path");
			goto out;
		}
		match = kc_req_arg(r, "q");
		if (match && strlen(match) > 256) {
			ret = kc_respond_error(r, KC_E_BAD_INPUT, "q= is longer than 256 bytes");
			goto out;
		}
		if (!s || strcmp(s, "name") == 0)
			sort = KC_SORT_NAME;
		else if (strcmp(s, "coverage") == 0)
			sort = KC_SORT_COVERAGE;
		else if (strcmp(s, "points") == 0)
			sort = KC_SORT_POINTS;
		else {
			ret = kc_respond_error(r, KC_E_BAD_INPUT,
					       "sort= must be name, coverage or points");
			goto out;
		}
		if (arg_uint(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit, &err) < 0 ||
		    arg_uint(r, "offset", 0, INT_MAX, 0, &offset, &err) < 0) {
			ret = kc_respond_err(r, &err);
			goto out;
		}
	}
	if (w == W_LABELS) {
		file = kc_req_arg(r, "file");
		if (!file || !valid_path(file)) {
			ret = kc_respond_error(r, KC_E_BAD_INPUT,
					       "file= (a source path) is required");
			goto out;
		}
		if (arg_uint(r, "line", 1, INT_MAX, 0, &line, &err) < 0 ||
		    arg_uint(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit, &err) < 0) {
			ret = kc_respond_err(r, &err);
			goto out;
		}
		flags |= KC_COVQ_NO_COVERAGE;
	}
	if (w == W_SUMMARY)
		flags &= ~KC_COVQ_NEED_IMPORT;
	db = kc_db_get(r->srv, &err);
	q = db ? kc_covq_open(r->srv->opts.covq_cache, db,
			     kc_store_coverage_generation(r->srv->store), build, &fa.f, flags,
			     &err)
	       : NULL;
	if (!q) {
		ret = kc_respond_err(r, &err);
		goto out;
	}
	switch (w) {
	case W_TREE: j = kc_covq_tree(q, dir, &err); break;
	case W_FILE: j = kc_covq_file(q, path, &err); break;
	case W_FUNCS:
		j = kc_covq_functions(q, file, match, sort, (size_t)limit, (size_t)offset, &err);
		break;
	case W_LABELS: j = kc_covq_labels(q, file, (int64_t)line, (size_t)limit, &err); break;
	case W_SUMMARY: j = kc_covq_summary(q, &err); break;
	case W_SUBSYSTEMS: j = kc_covq_subsystems(q, &err); break;
	case W_LCOV:
		type = "text/plain; charset=utf-8";
		failed = kc_covq_lcov(q, dir, &buf, &err) < 0;
		break;
	case W_FILES_CSV:
		type = "text/csv; charset=utf-8";
		failed = kc_covq_files_csv(q, dir, &buf, &err) < 0;
		break;
	case W_FUNCS_CSV:
		type = "text/csv; charset=utf-8";
		failed = kc_covq_functions_csv(q, dir, &buf, &err) < 0;
		break;
	}
	if (failed || (!type && !j))
		ret = kc_respond_err(r, &err);
	else if (!type)
		ret = kc_respond_json(r, 200, j);
	else if (buf.oom)
		ret = kc_respond_error(r, KC_E_INTERNAL, "out of memory");
	else
		ret = kc_respond_text(r, 200, type, buf.data ? (char *)buf.data : "", buf.len);
out:
	kc_covq_free(q);
	kc_db_put(r->srv, db);
	kc_buf_release(&buf);
	filter_release(&fa);
	return ret;
}

/* The handlers of the GET .../{build}/<query> routes: one answer() each. */
#define QUERY_HANDLER(fn, w)                                                   \
	enum MHD_Result fn(struct kc_req *r)                                   \
	{                                                                      \
		return answer(r, kc_req_param(r, "build"), w, NULL);           \
	}
QUERY_HANDLER(kc_api_tree, W_TREE)
QUERY_HANDLER(kc_api_functions, W_FUNCS)
QUERY_HANDLER(kc_api_build_labels, W_LABELS)
QUERY_HANDLER(kc_api_lcov, W_LCOV)
QUERY_HANDLER(kc_api_files_csv, W_FILES_CSV)
QUERY_HANDLER(kc_api_functions_csv, W_FUNCS_CSV)
QUERY_HANDLER(kc_api_summary, W_SUMMARY)
QUERY_HANDLER(kc_api_subsystems, W_SUBSYSTEMS)

enum MHD_Result kc_api_file(struct kc_req *r)
{
	const char *path = kc_req_param(r, "path");

	if (!valid_path(path))
		return kc_respond_error(r, KC_E_BAD_INPUT, "not a valid source path: %s", path);
	return answer(r, kc_req_param(r, "build"), W_FILE, path);
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
static void warm_index(struct kc_req *r, json_t *summary)
{
	const char *build = json_string_value(json_object_get(summary, "build_id"));
	struct kc_cov_filter none;
	struct kc_err err;
	sqlite3 *db;

	if (!build)
		return;
	memset(&none, 0, sizeof(none));
	db = kc_db_get(r->srv, &err);
	if (!db)
		return;
	kc_covq_free(kc_covq_open(r->srv->opts.covq_cache, db,
				  kc_store_coverage_generation(r->srv->store), build, &none,
				  KC_COVQ_NEED_IMPORT | KC_COVQ_NO_COVERAGE, &err));
	kc_db_put(r->srv, db);
}

enum MHD_Result kc_api_post_build(struct kc_req *r)
{
	static const char *const known[] = { "vmlinux", "modules", "source", "strip_prefix" };
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
	int bad = 0;

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
	if (bad || !o.vmlinux) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT,
				       "vmlinux (required), modules and source must be "
					       "absolute server-local paths");
		goto out;
	}
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
	if (kc_import_prepare(&o, &imp, &err) < 0) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT, "import failed: %s", err.msg);
		goto out;
	}
	aud.imp = imp;
	aud.actor = actor;
	if (r->token)
		kc_token_actor(r->token, actor, sizeof(actor));
	if (kc_store_call(r->srv->store, kc_import_write_audited, &aud, &err) < 0) {
		kc_err_prefix(&err, "storing the import failed");
		ret = kc_respond_err(r, &err);
		goto out;
	}
	sum = kc_import_summary(imp);
	warm_index(r, sum);
	ret = kc_respond_json(r, 200, sum);
out:
	kc_import_free(imp);
	json_decref(j);
	return ret;
}
