/*
 * api_admin.c - retention on a running kcovd (admin token): POST
 * /api/v1/admin/gc and DELETE /api/v1/builds/{build}. Both run on the
 * writer through kc_store_maintain (store/retention.c does the SQL and
 * the audit row), so the writer's caches and the query caches never
 * serve what was removed.
 */
#include <string.h>

#include "api.h"
#include "audit.h"
#include "parse.h"
#include "retention.h"

/* The actor of the audit row: the admin token that asked. */
static void actor_of(const struct kc_req *r, char *out, size_t size)
{
	snprintf(out, size, "admin");
	if (r->token)
		kc_token_actor(r->token, out, size);
}

/* POST /api/v1/admin/gc {"keep_days": N} */
enum MHD_Result kc_api_gc(struct kc_req *r)
{
	char actor[KC_AUDIT_ACTOR_MAX];
	struct kc_gc_job job;
	struct kc_err err;
	json_error_t jerr;
	json_t *j, *v;
	enum MHD_Result ret;

	memset(&job, 0, sizeof(job));
	j = json_loadb((const char *)(r->body ? r->body : (const unsigned char *)""), r->body_len,
		       0, &jerr);
	v = json_object_get(j, "keep_days");
	if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_integer(v) ||
	    json_integer_value(v) < 1 || json_integer_value(v) > 36500) {
		ret = kc_respond_error(r, KC_E_BAD_INPUT,
				       "body must be {\"keep_days\": N} with N in 1..36500%s%s",
				       j ? "" : ": ", j ? "" : jerr.text);
		goto out;
	}
	job.keep_days = (unsigned)json_integer_value(v);
	actor_of(r, actor, sizeof(actor));
	job.actor = actor;
	if (kc_store_maintain(r->srv->store, kc_gc_call, &job, &err) < 0) {
		ret = kc_respond_err(r, &err);
		goto out;
	}
	ret = kc_respond_json(
		r, 200,
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "cutoff_day",
			  (json_int_t)job.res.cutoff_day, "unions_extended",
			  (json_int_t)job.res.folded, "day_rows_deleted", (json_int_t)job.res.day_rows,
			  "reports_deleted", (json_int_t)job.res.reports, "overflow_rows_rolled_up",
			  (json_int_t)job.res.overflow_rows, "pages_freed",
			  (json_int_t)job.freed_pages));
out:
	json_decref(j);
	return ret;
}

/* DELETE /api/v1/builds/{build} */
enum MHD_Result kc_api_delete_build(struct kc_req *r)
{
	char actor[KC_AUDIT_ACTOR_MAX];
	struct kc_build_delete_job job;
	struct kc_err err;

	memset(&job, 0, sizeof(job));
	actor_of(r, actor, sizeof(actor));
	job.actor = actor;
	job.build_id = kc_req_param(r, "build");
	if (kc_store_maintain(r->srv->store, kc_build_delete_call, &job, &err) < 0)
		return kc_respond_err(r, &err);
	return kc_respond_json(
		r, 200,
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "deleted", job.build_id, "binaries",
			  (json_int_t)job.res.binaries, "boots", (json_int_t)job.res.boots,
			  "reports", (json_int_t)job.res.reports, "coverage_rows",
			  (json_int_t)job.res.coverage_rows, "files", (json_int_t)job.res.files,
			  "pages_freed", (json_int_t)job.freed_pages));
}
