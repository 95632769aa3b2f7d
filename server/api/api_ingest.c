/*
 * api_ingest.c - POST /api/v1/reports and POST /api/v1/boots: decode the
 * wire frame (400 with the decoder's message, or when its version is above
 * --wire-max), find the boot's address map
 * (428 when the server has none), canonicalize, and hand the result to the
 * writer; answer only after the commit (200), or 503 when it failed. A
 * report's request is parked (kc_req_defer) while its job waits for the
 * group commit, so waiting reports hold no worker thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "canon.h"

/* 428: the error object with the machine and boot whose map is missing. */
static enum MHD_Result need_map(struct kc_req *r, const struct kc_report *rep)
{
	struct kc_err err;
	json_t *j;

	kc_err_set(&err, KC_E_NEED_ADDRESS_MAP,
		   "address map needed: POST the boot's map to /api/v1/boots, then send the "
		   "report again");
	j = kc_error_json(&err);
	if (j && (json_object_set_new(j, "machine", json_string(rep->machine)) < 0 ||
		  json_object_set_new(j, "boot_id", json_string(rep->boot_id)) < 0)) {
		json_decref(j);
		j = NULL;
	}
	return kc_respond_json(r, kc_errc_status(err.code), j);
}

/* A push token bound to a machine-name pattern (token add --machines)
 * pushes only for matching machines; others are refused (403). */
static int machine_forbidden(struct kc_req *r, const char *machine, struct kc_err *err)
{
	if (kc_token_machine_allowed(r->token, machine))
		return 0;
	atomic_fetch_add(&r->srv->metrics.rejected_auth, 1);
	return kc_err_set(err, KC_E_FORBIDDEN,
			  "token '%s' may push only for machines matching '%s', not '%s'",
			  r->token->name, r->token->machines, machine);
}

/* One report from decoding to its answer. Heap-allocated: with a deferred
 * answer it outlives the handler's call until the request ends. */
struct ingest {
	struct kc_report rep;
	struct kc_canon_boot boot;
	struct kc_canon_result canon;
	struct kc_job job;
	unsigned version;
};

static void ingest_free(void *arg)
{
	struct ingest *in = arg;

	kc_canon_result_release(&in->canon);
	kc_canon_boot_release(&in->boot);
	kc_report_release(&in->rep);
	free(in);
}

/* The answer once the writer is done with the job (after its commit). */
static enum MHD_Result ingest_answer(struct kc_req *r, void *arg)
{
	struct ingest *in = arg;
	struct kc_metrics *m = &r->srv->metrics;
	const struct kc_job *job = &in->job;
	char uid[2 * KC_UPLOAD_ID_LEN + 1];

	kc_upload_id_hex(in->rep.upload_id, uid);
	if (job->status == KC_JOB_FAILED) {
		atomic_fetch_add(&m->rejected_store, 1);
		return kc_respond_error(r, KC_E_UNAVAILABLE, "report not stored: %s", job->err.msg);
	}
	if (job->status == KC_JOB_DUPLICATE) {
		atomic_fetch_add(&m->reports_duplicate, 1);
	} else {
		atomic_fetch_add(&m->reports_accepted, 1);
		atomic_fetch_add(&m->reports_wire[in->version - 1], 1);
		atomic_fetch_add(&m->pcs_ingested, in->canon.known + in->canon.unknown);
		atomic_fetch_add(&m->pcs_unknown, in->canon.unknown);
		for (uint32_t i = 0; i < in->rep.nruns; i++) {
			int t = in->rep.runs[i].mode == KC_MODE_TRACE;

			atomic_fetch_add(&m->runs[t], 1);
			atomic_fetch_add(&m->runs_overflowed[t], in->rep.runs[i].overflowed);
		}
	}
	return kc_respond_json(r, 200,
			       json_pack("{s:s, s:b, s:s, s:I, s:I, s:I, s:I}", "status", "stored",
					 "duplicate", job->status == KC_JOB_DUPLICATE, "upload_id", uid,
					 "report", (json_int_t)job->id, "pcs",
					 (json_int_t)(in->canon.known + in->canon.unknown),
					 "unknown_pcs", (json_int_t)in->canon.unknown, "runs",
					 (json_int_t)in->rep.nruns));
}

/* Writer thread, after the job's commit: wake the parked request. */
static void ingest_done(struct kc_job *job, void *arg)
{
	(void)job;
	kc_req_resume(arg);
}

enum MHD_Result kc_api_post_report(struct kc_req *r)
{
	struct ingest *in;
	struct kc_err err;
	struct kc_metrics *m = &r->srv->metrics;
	struct kc_defer *parked;
	enum kc_msg_kind kind;
	unsigned version = 1;
	struct kc_sql *db;
	enum MHD_Result ret;
	int found;

	kc_err_clear(&err);
	if (kc_wire_peek(r->body, r->body_len, &kind, &version, &err) == 0 &&
	    version > r->srv->opts.wire_max) {
		atomic_fetch_add(&m->rejected_decode, 1);
		return kc_respond_error(r, KC_E_BAD_INPUT,
					"bad report: wire version %u is not accepted here "
					"(kcovd --wire-max %u)",
					version, r->srv->opts.wire_max);
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return kc_respond_error(r, KC_E_INTERNAL, "out of memory");
	in->version = version;
	if (kc_wire_decode_report(r->body, r->body_len, &in->rep, &err) < 0) {
		atomic_fetch_add(&m->rejected_decode, 1);
		kc_err_prefix(&err, "bad report");
		free(in);
		return kc_respond_err(r, &err);
	}
	if (machine_forbidden(r, in->rep.machine, &err) < 0) {
		ret = kc_respond_err(r, &err);
		goto out;
	}
	db = kc_db_get(r->srv, &err);
	found = db ? kc_canon_load(db, in->rep.machine, in->rep.boot_id, &in->boot, &err) : -1;
	kc_db_put(r->srv, db);
	if (found < 0) {
		atomic_fetch_add(&m->rejected_store, 1);
		ret = kc_respond_error(r, KC_E_UNAVAILABLE,
				       "cannot read the database: %s", err.msg);
		goto out;
	}
	if (found == 0) {
		atomic_fetch_add(&m->rejected_no_map, 1);
		ret = need_map(r, &in->rep);
		goto out;
	}
	if (kc_canon_report(&in->boot, &in->rep, &in->canon, &err) < 0) {
		atomic_fetch_add(&m->rejected_other, 1);
		ret = kc_respond_error(r, KC_E_UNAVAILABLE, "%s", err.msg);
		goto out;
	}
	in->job.kind = KC_JOB_REPORT;
	in->job.report = &in->rep;
	in->job.boot = &in->boot;
	in->job.canon = &in->canon;
	in->job.bytes = r->body_len;
	/* Park the request until the commit: the worker thread serves other
	 * connections meanwhile, so the writer's batch can take every report
	 * that is waiting. The answer (ingest_answer) comes after the commit. */
	parked = kc_req_defer(r, in, ingest_answer, ingest_free);
	if (parked) {
		in->job.done = ingest_done;
		in->job.done_arg = parked;
		kc_store_submit_async(r->srv->store, &in->job);
		return MHD_YES;
	}
	kc_store_submit(r->srv->store, &in->job); /* the server is stopping */
	ret = ingest_answer(r, in);
out:
	ingest_free(in);
	return ret;
}

enum MHD_Result kc_api_post_boot(struct kc_req *r)
{
	struct kc_addrmap map;
	struct kc_err err;
	struct kc_job job;
	enum MHD_Result ret;

	kc_err_clear(&err);
	if (kc_wire_decode_addrmap(r->body, r->body_len, &map, &err) < 0) {
		atomic_fetch_add(&r->srv->metrics.rejected_decode, 1);
		kc_err_prefix(&err, "bad address map");
		return kc_respond_err(r, &err);
	}
	memset(&job, 0, sizeof(job));
	job.kind = KC_JOB_ADDRMAP;
	job.map = &map;
	if (machine_forbidden(r, map.machine, &err) < 0) {
		ret = kc_respond_err(r, &err);
		goto out;
	}
	kc_store_submit(r->srv->store, &job);
	if (job.status == KC_JOB_FAILED) {
		/* A conflicting map is the client's fault (409); a failed commit
		 * is ours (503). */
		atomic_fetch_add(&r->srv->metrics.rejected_store, 1);
		kc_err_prefix(&job.err, "address map not stored");
		ret = kc_respond_err(r, &job.err);
	} else {
		atomic_fetch_add(&r->srv->metrics.maps_accepted, 1);
		ret = kc_respond_json(r, 200,
				      json_pack("{s:s, s:I, s:s, s:s, s:i}", "status", "stored",
						"boot", (json_int_t)job.id, "boot_id", map.boot_id,
						"build_id", map.build_id, "modules",
						(int)map.nmodules));
	}
out:
	kc_addrmap_release(&map);
	return ret;
}
