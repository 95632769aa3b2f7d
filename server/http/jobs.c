/*
 * jobs.c - the server's background job table (jobs.h): a fixed array of
 * slots under one mutex, a joinable thread per running job, random ids
 * (libsodium) so that one admin cannot guess another's job, and
 * oldest-finished-first eviction.
 */
#include "jobs.h"
#include "server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

enum state { FREE, RUNNING, DONE, FAILED };

struct job {
	struct kc_jobs *owner;
	enum state state;
	int joined; /* the thread has been joined (or never ran) */
	pthread_t thread;
	char id[KC_JOB_ID_LEN + 1];
	char kind[32];
	time_t created, finished;
	kc_job_fn fn;
	void *arg;
	void (*free_arg)(void *);
	json_t *result;
	struct kc_err err;
};

struct kc_jobs {
	pthread_mutex_t lock;
	struct job slot[KC_JOBS_MAX];
};

struct kc_jobs *kc_jobs_new(void)
{
	struct kc_jobs *jobs;

	if (sodium_init() < 0)
		return NULL;
	jobs = calloc(1, sizeof(*jobs));
	if (!jobs)
		return NULL;
	pthread_mutex_init(&jobs->lock, NULL);
	return jobs;
}

static void *run(void *p)
{
	struct job *j = p;
	struct kc_err err;
	json_t *res;

	kc_err_clear(&err);
	res = j->fn(j->arg, &err);
	if (j->free_arg)
		j->free_arg(j->arg);
	pthread_mutex_lock(&j->owner->lock);
	j->arg = NULL;
	j->result = res;
	j->err = err;
	if (!res && err.code == KC_E_NONE)
		kc_err_set(&j->err, KC_E_INTERNAL, "job failed without a message");
	j->state = res ? DONE : FAILED;
	j->finished = time(NULL);
	pthread_mutex_unlock(&j->owner->lock);
	return NULL;
}

/* Forget a finished job (lock held; its thread has ended). */
static void clear(struct job *j)
{
	if (!j->joined)
		pthread_join(j->thread, NULL);
	json_decref(j->result);
	memset(j, 0, sizeof(*j));
}

int kc_jobs_start(struct kc_jobs *jobs, const char *kind, kc_job_fn fn, void *arg,
		  void (*free_arg)(void *), char *id, struct kc_err *err)
{
	struct job *j = NULL, *oldest = NULL;
	unsigned char rnd[KC_JOB_ID_LEN / 2];
	unsigned running = 0;
	int ret = -1;

	pthread_mutex_lock(&jobs->lock);
	for (size_t i = 0; i < KC_JOBS_MAX; i++) {
		struct job *s = &jobs->slot[i];

		if (s->state == RUNNING)
			running++;
		else if (s->state == FREE && !j)
			j = s;
		else if (s->state != FREE && (!oldest || s->finished < oldest->finished))
			oldest = s;
	}
	if (running >= KC_JOBS_RUNNING) {
		kc_err_set(err, KC_E_UNAVAILABLE,
			   "%u jobs are running already: poll them and try again later", running);
		goto out;
	}
	if (!j && !oldest) {
		kc_err_set(err, KC_E_UNAVAILABLE, "the job table is full");
		goto out;
	}
	if (!j) {
		clear(oldest);
		j = oldest;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(j->id, sizeof(j->id), rnd, sizeof(rnd));
	memcpy(id, j->id, sizeof(j->id));
	snprintf(j->kind, sizeof(j->kind), "%s", kind);
	j->owner = jobs;
	j->fn = fn;
	j->arg = arg;
	j->free_arg = free_arg;
	j->created = time(NULL);
	j->state = RUNNING;
	if (pthread_create(&j->thread, NULL, run, j) != 0) {
		memset(j, 0, sizeof(*j));
		kc_err_set(err, KC_E_UNAVAILABLE, "cannot start a job thread");
		goto out;
	}
	arg = NULL; /* the job owns it now */
	ret = 0;
out:
	pthread_mutex_unlock(&jobs->lock);
	if (arg && free_arg)
		free_arg(arg);
	return ret;
}

static json_t *state_json(const struct job *j)
{
	static const char *const names[] = { "free", "running", "done", "failed" };
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "id", j->id, "kind", j->kind, "state",
			      names[j->state], "created", (json_int_t)j->created);

	if (!o)
		return NULL;
	if (json_object_set_new(o, "finished", j->state == RUNNING
							 ? json_null()
							 : json_integer((json_int_t)j->finished)) < 0 ||
	    (j->state == DONE && json_object_set(o, "result", j->result) < 0) ||
	    (j->state == FAILED && json_object_set_new(o, "error", kc_error_json(&j->err)) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *kc_jobs_get(struct kc_jobs *jobs, const char *id, int *oom)
{
	json_t *o = NULL;

	*oom = 0;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = 0; i < KC_JOBS_MAX; i++) {
		const struct job *j = &jobs->slot[i];

		if (j->state != FREE && strcmp(j->id, id) == 0) {
			o = state_json(j);
			*oom = !o;
			break;
		}
	}
	pthread_mutex_unlock(&jobs->lock);
	return o;
}

void kc_jobs_free(struct kc_jobs *jobs)
{
	if (!jobs)
		return;
	/* Join outside the lock: a finishing job takes it. */
	for (size_t i = 0; i < KC_JOBS_MAX; i++)
		if (jobs->slot[i].state != FREE && !jobs->slot[i].joined) {
			pthread_join(jobs->slot[i].thread, NULL);
			jobs->slot[i].joined = 1;
		}
	for (size_t i = 0; i < KC_JOBS_MAX; i++)
		if (jobs->slot[i].state != FREE)
			clear(&jobs->slot[i]);
	pthread_mutex_destroy(&jobs->lock);
	free(jobs);
}
