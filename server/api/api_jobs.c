/*
 * api_jobs.c - asynchronous build imports and the job resource:
 * POST /api/v1/builds with "async": true (or Prefer: respond-async) answers
 * 202 with a job URL at once and imports on a job thread of the server's
 * table (http/jobs.h); GET /api/v1/jobs/{job} polls it. The import itself
 * is the synchronous one's (kc_import_prepare, then the audited write
 * through the store's writer), on copies of the request's options.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "import.h"
#include "jobs.h"
#include "server.h"

/* An import to run later: owned copies of everything the request named. */
struct build_job {
	struct kc_server *srv;
	struct kc_import_opts o;
	char *vmlinux, *modules, *source, *debug_dir, *git_repo, *git_rev;
	char *strip[KC_IMPORT_MAX_STRIP];
	const char *strip_ro[KC_IMPORT_MAX_STRIP];
	char actor[KC_AUDIT_ACTOR_MAX];
};

static void build_job_free(void *p)
{
	struct build_job *b = p;

	if (!b)
		return;
	free(b->vmlinux);
	free(b->modules);
	free(b->source);
	free(b->debug_dir);
	free(b->git_repo);
	free(b->git_rev);
	for (size_t i = 0; i < KC_IMPORT_MAX_STRIP; i++)
		free(b->strip[i]);
	free(b);
}

/* A copy of s (NULL stays NULL); sets *oom when the copy fails. */
static char *copy(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = 1;
	return d;
}

static struct build_job *build_job_new(struct kc_server *srv, const struct kc_import_opts *o,
				       const char *actor)
{
	struct build_job *b = calloc(1, sizeof(*b));
	int oom = 0;

	if (!b || o->nstrip > KC_IMPORT_MAX_STRIP) {
		free(b);
		return NULL;
	}
	b->srv = srv;
	b->vmlinux = copy(o->vmlinux, &oom);
	b->modules = copy(o->modules_dir, &oom);
	b->source = copy(o->source_dir, &oom);
	b->debug_dir = copy(o->debug_dir, &oom);
	b->git_repo = copy(o->git_repo, &oom);
	b->git_rev = copy(o->git_rev, &oom);
	for (size_t i = 0; i < o->nstrip; i++)
		b->strip_ro[i] = b->strip[i] = copy(o->strip_prefixes[i], &oom);
	snprintf(b->actor, sizeof(b->actor), "%s", actor);
	if (oom) {
		build_job_free(b);
		return NULL;
	}
	b->o.vmlinux = b->vmlinux;
	b->o.modules_dir = b->modules;
	b->o.source_dir = b->source;
	b->o.debug_dir = b->debug_dir;
	b->o.git_repo = b->git_repo;
	b->o.git_rev = b->git_rev;
	b->o.strip_prefixes = b->strip_ro;
	b->o.nstrip = o->nstrip;
	return b;
}

static json_t *build_job_run(void *p, struct kc_err *err)
{
	struct build_job *b = p;
	struct kc_import *imp = NULL;
	struct kc_import_audited aud;
	json_t *sum = NULL;

	if (kc_import_prepare(&b->o, &imp, err) < 0) {
		kc_err_prefix(err, "import failed");
		goto out;
	}
	aud.imp = imp;
	aud.actor = b->actor;
	if (kc_store_call(b->srv->store, kc_import_write_audited, &aud, err) < 0) {
		kc_err_prefix(err, "storing the import failed");
		goto out;
	}
	sum = kc_import_summary(imp);
	if (!sum) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	kc_api_warm_index(b->srv, sum);
out:
	kc_import_free(imp);
	return sum;
}

int kc_api_wants_async(struct kc_req *r, json_t *body, struct kc_err *err)
{
	json_t *a = json_object_get(body, "async");
	const char *prefer = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Prefer");

	if (a && !json_is_boolean(a))
		return kc_err_set(err, KC_E_BAD_INPUT, "async must be true or false");
	if (a)
		return json_is_true(a);
	/* RFC 7240: Prefer: respond-async (among other preferences). */
	return prefer && strstr(prefer, "respond-async") ? 1 : 0;
}

enum MHD_Result kc_api_build_async(struct kc_req *r, const struct kc_import_opts *o,
				   const char *actor)
{
	struct build_job *b = build_job_new(r->srv, o, actor);
	char id[KC_JOB_ID_LEN + 1], url[64 + KC_JOB_ID_LEN];
	struct kc_err err;
	json_t *j;

	kc_err_clear(&err);
	if (!b)
		return kc_respond_error(r, KC_E_INTERNAL, "out of memory");
	if (kc_jobs_start(r->srv->jobs, "build.import", build_job_run, b, build_job_free, id,
			  &err) < 0)
		return kc_respond_err(r, &err);
	snprintf(url, sizeof(url), "/api/v1/jobs/%s", id);
	j = json_pack("{s:s, s:s, s:s, s:s}", "job", id, "kind", "build.import", "state",
		      "running", "url", url);
	return kc_respond_json_hdr(r, 202, j, "Location", url);
}

enum MHD_Result kc_api_job(struct kc_req *r)
{
	const char *id = kc_req_param(r, "job");
	json_t *j;
	int oom;

	if (!id || strlen(id) != KC_JOB_ID_LEN || strspn(id, "0123456789abcdef") != KC_JOB_ID_LEN)
		return kc_respond_error(r, KC_E_NOT_FOUND, "no such job");
	j = kc_jobs_get(r->srv->jobs, id, &oom);
	if (!j)
		return oom ? kc_respond_error(r, KC_E_INTERNAL, "out of memory")
			   : kc_respond_error(r, KC_E_NOT_FOUND,
					      "no such job (finished jobs are kept until %d newer "
					      "ones push them out)", KC_JOBS_MAX);
	return kc_respond_json(r, 200, j);
}
