/*
 * api.h - the request handlers of kcovd. Only routes.c (the route table)
 * and the modules that define them include this header: nothing else calls
 * a handler directly.
 *
 * Every handler is called by http.c after the route's checks (method,
 * scope, Content-Type, body size) passed and the whole body was read; it
 * answers the request (kc_respond_*) and returns the MHD result.
 */
#ifndef KC_API_H
#define KC_API_H

#include "server.h"

/* api_ingest.c: POST /api/v1/reports and /api/v1/boots. */
enum MHD_Result kc_api_post_report(struct kc_req *r);
enum MHD_Result kc_api_post_boot(struct kc_req *r);

/* api_read.c: the fleet read API, /healthz and /metrics. */
enum MHD_Result kc_api_healthz(struct kc_req *r);
enum MHD_Result kc_api_metrics(struct kc_req *r);
enum MHD_Result kc_api_machines(struct kc_req *r);
enum MHD_Result kc_api_builds(struct kc_req *r);
enum MHD_Result kc_api_reports(struct kc_req *r);
enum MHD_Result kc_api_labels(struct kc_req *r);
enum MHD_Result kc_api_overflow(struct kc_req *r);
enum MHD_Result kc_api_audit(struct kc_req *r);
enum MHD_Result kc_api_pcs(struct kc_req *r); /* {build} */

/* api_coverage.c: build import and coverage queries, all under {build}
 * (and {path*} for files/). */
enum MHD_Result kc_api_post_build(struct kc_req *r);
enum MHD_Result kc_api_tree(struct kc_req *r);
enum MHD_Result kc_api_file(struct kc_req *r);
enum MHD_Result kc_api_functions(struct kc_req *r);
enum MHD_Result kc_api_build_labels(struct kc_req *r);
enum MHD_Result kc_api_lcov(struct kc_req *r);
enum MHD_Result kc_api_files_csv(struct kc_req *r);
enum MHD_Result kc_api_functions_csv(struct kc_req *r);
enum MHD_Result kc_api_summary(struct kc_req *r);
enum MHD_Result kc_api_history(struct kc_req *r);
enum MHD_Result kc_api_patch(struct kc_req *r);   /* base= */
enum MHD_Result kc_api_commits(struct kc_req *r); /* base= */
enum MHD_Result kc_api_subsystems(struct kc_req *r);

/* api_coverage.c: load a new import's point index into the query cache
 * (summary: kc_import_summary's object); failures only cost time later. */
void kc_api_warm_index(struct kc_server *srv, json_t *summary);

/* api_jobs.c: asynchronous imports (docs/api-coverage.md). */
struct kc_import_opts;
/* 1 when the POST /api/v1/builds body says "async": true or the request
 * has Prefer: respond-async, 0 when not, -1 with err for a bad "async". */
int kc_api_wants_async(struct kc_req *r, json_t *body, struct kc_err *err);
/* Answer 202 with the URL of a job that imports o (copied) as actor. */
enum MHD_Result kc_api_build_async(struct kc_req *r, const struct kc_import_opts *o,
				   const char *actor);
/* GET /api/v1/jobs/{job} (admin): the job's state and result. */
enum MHD_Result kc_api_job(struct kc_req *r);

/* static.c: the browser UI's files under --web-dir ({file*}). */
enum MHD_Result kc_api_static(struct kc_req *r);

/* api_admin.c: retention on a running server (admin). */
enum MHD_Result kc_api_gc(struct kc_req *r);
enum MHD_Result kc_api_delete_build(struct kc_req *r); /* {build} */

#endif
