/*
 * jobs.h - background jobs of the server: work too long for one HTTP
 * request (an asynchronous POST /api/v1/builds) runs on its own thread, and
 * its state and result are read back by id (GET /api/v1/jobs/{id}).
 *
 * The table is owned by the server object (struct kc_server.jobs) and
 * bounded: at most KC_JOBS_RUNNING jobs run at once and KC_JOBS_MAX are
 * kept; a new job evicts the oldest finished one when the table is full,
 * and is refused (KC_E_UNAVAILABLE, 503) when every kept job still runs.
 * kc_jobs_free() waits for running jobs to end (a job cannot be cancelled
 * half way: an import either commits or does not).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KC_JOBS_H
#define KC_JOBS_H

#include <jansson.h>

#include "err.h"

#define KC_JOBS_MAX 32
#define KC_JOBS_RUNNING 2
#define KC_JOB_ID_LEN 32 /* hex characters of a job id */

/* The work of a job, run on the job's thread: returns its result (a new
 * JSON reference, owned by the table then) or NULL with err filled. */
typedef json_t *(*kc_job_fn)(void *arg, struct kc_err *err);

struct kc_jobs;

/* A new empty table, or NULL when out of memory. */
struct kc_jobs *kc_jobs_new(void);

/* Start fn(arg) on a new thread as a job of kind (a short word such as
 * "build.import", copied). free_arg(arg) runs when the job is over (on its
 * thread), also when the start fails. On success id (KC_JOB_ID_LEN + 1
 * bytes) receives the job's id and 0 is returned; -1 with err
 * (KC_E_UNAVAILABLE when the table is full of running jobs). */
int kc_jobs_start(struct kc_jobs *jobs, const char *kind, kc_job_fn fn, void *arg,
		  void (*free_arg)(void *), char *id, struct kc_err *err) KC_MUST_CHECK;

/* The job's state as a new JSON object: {"id", "kind", "state": "running" |
 * "done" | "failed", "created", "finished" (unix seconds, null while
 * running), "result" (done) or "error" {error, code, status} (failed)}.
 * NULL when no job has that id (or out of memory: *oom set). */
json_t *kc_jobs_get(struct kc_jobs *jobs, const char *id, int *oom);

/* Wait for every running job, then free the table. NULL is harmless. */
void kc_jobs_free(struct kc_jobs *jobs);

#endif
