/*
 * test_jobs.c - the server's background job table (server/http/jobs.c):
 * results and errors read back by id, the bound on running jobs, eviction
 * of the oldest finished job, arguments freed exactly once, and
 * kc_jobs_free waiting for a job still running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"

/* A job that blocks until its gate opens (a pipe byte), then answers. */
struct gate {
	int fd[2];
	int fail;
	atomic_int freed;
	int value;
};

static json_t *gated(void *arg, struct kc_err *err)
{
	struct gate *g = arg;
	char c;

	if (read(g->fd[0], &c, 1) != 1)
		return kc_err_set(err, KC_E_IO, "gate read"), NULL;
	if (g->fail)
		return kc_err_set(err, KC_E_BAD_INPUT, "import failed: no vmlinux"), NULL;
	return json_pack("{s:i}", "value", g->value);
}

static void gate_free(void *arg)
{
	struct gate *g = arg;

	atomic_fetch_add(&g->freed, 1);
}

static void gate_init(struct gate *g, int value, int fail)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(pipe(g->fd), 0);
	g->value = value;
	g->fail = fail;
}

static void gate_open(struct gate *g)
{
	assert_int_equal(write(g->fd[1], "x", 1), 1);
}

static void gate_close(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

/* Poll the job until it is not running; returns its JSON state. */
static json_t *wait_done(struct kc_jobs *jobs, const char *id)
{
	for (int i = 0; i < 5000; i++) {
		int oom;
		json_t *j = kc_jobs_get(jobs, id, &oom);

		assert_non_null(j);
		if (strcmp(json_string_value(json_object_get(j, "state")), "running") != 0)
			return j;
		json_decref(j);
		usleep(1000);
	}
	fail_msg("job %s never finished", id);
	return NULL;
}

static void test_result_and_error(void **state)
{
	struct kc_jobs *jobs = kc_jobs_new();
	struct gate ok, bad;
	char id1[KC_JOB_ID_LEN + 1], id2[KC_JOB_ID_LEN + 1];
	struct kc_err err;
	json_t *j;
	int oom;

	(void)state;
	assert_non_null(jobs);
	gate_init(&ok, 42, 0);
	gate_init(&bad, 0, 1);
	assert_int_equal(kc_jobs_start(jobs, "build.import", gated, &ok, gate_free, id1, &err), 0);
	assert_int_equal(kc_jobs_start(jobs, "build.import", gated, &bad, gate_free, id2, &err), 0);
	assert_int_equal(strlen(id1), KC_JOB_ID_LEN);
	assert_string_not_equal(id1, id2);
	j = kc_jobs_get(jobs, id1, &oom);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
	assert_true(json_is_null(json_object_get(j, "finished")));
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "build.import");
	json_decref(j);
	gate_open(&ok);
	gate_open(&bad);
	j = wait_done(jobs, id1);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "result"), "value")),
			 42);
	assert_true(json_is_integer(json_object_get(j, "finished")));
	json_decref(j);
	j = wait_done(jobs, id2);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			    "bad_input");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "status")),
			 400);
	json_decref(j);
	assert_null(kc_jobs_get(jobs, "0123456789abcdef0123456789abcdef", &oom));
	assert_int_equal(oom, 0);
	kc_jobs_free(jobs);
	assert_int_equal(atomic_load(&ok.freed), 1);
	assert_int_equal(atomic_load(&bad.freed), 1);
	gate_close(&ok);
	gate_close(&bad);
}

static void test_bounds_and_eviction(void **state)
{
	struct kc_jobs *jobs = kc_jobs_new();
	struct gate run[KC_JOBS_RUNNING + 1], fin[KC_JOBS_MAX + 1];
	char ids[KC_JOBS_MAX + 1][KC_JOB_ID_LEN + 1], rid[KC_JOBS_RUNNING + 1][KC_JOB_ID_LEN + 1];
	struct kc_err err;
	json_t *j;
	int oom;

	(void)state;
	/* Fill the table with finished jobs, oldest first. */
	for (int i = 0; i < KC_JOBS_MAX; i++) {
		gate_init(&fin[i], i, 0);
		gate_open(&fin[i]);
		assert_int_equal(kc_jobs_start(jobs, "t", gated, &fin[i], gate_free, ids[i], &err), 0);
		json_decref(wait_done(jobs, ids[i]));
		if (i == 0)
			sleep(1); /* finished times are seconds: make job 0 the oldest */
	}
	/* KC_JOBS_RUNNING may run; one more is refused (and its arg freed). */
	for (int i = 0; i <= KC_JOBS_RUNNING; i++)
		gate_init(&run[i], 100 + i, 0);
	for (int i = 0; i < KC_JOBS_RUNNING; i++)
		assert_int_equal(kc_jobs_start(jobs, "t", gated, &run[i], gate_free, rid[i], &err), 0);
	/* Starting those evicted finished jobs: the oldest (job 0) first. */
	assert_null(kc_jobs_get(jobs, ids[0], &oom));
	kc_err_clear(&err);
	assert_int_equal(kc_jobs_start(jobs, "t", gated, &run[KC_JOBS_RUNNING], gate_free,
				       rid[KC_JOBS_RUNNING], &err), -1);
	assert_int_equal(err.code, KC_E_UNAVAILABLE);
	assert_int_equal(atomic_load(&run[KC_JOBS_RUNNING].freed), 1);
	j = kc_jobs_get(jobs, ids[KC_JOBS_MAX - 1], &oom);
	assert_non_null(j); /* the newest finished one is still kept */
	json_decref(j);
	/* One ends: a new job may start again. */
	gate_open(&run[0]);
	json_decref(wait_done(jobs, rid[0]));
	gate_init(&fin[KC_JOBS_MAX], 7, 0);
	assert_int_equal(kc_jobs_start(jobs, "t", gated, &fin[KC_JOBS_MAX], gate_free,
				       ids[KC_JOBS_MAX], &err), 0);
	/* kc_jobs_free waits for the still running ones. */
	gate_open(&fin[KC_JOBS_MAX]);
	for (int i = 1; i < KC_JOBS_RUNNING; i++)
		gate_open(&run[i]);
	kc_jobs_free(jobs);
	for (int i = 0; i <= KC_JOBS_RUNNING; i++) {
		assert_int_equal(atomic_load(&run[i].freed), 1);
		gate_close(&run[i]);
	}
	for (int i = 0; i <= KC_JOBS_MAX; i++) {
		assert_int_equal(atomic_load(&fin[i].freed), 1);
		gate_close(&fin[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_and_error),
		cmocka_unit_test(test_bounds_and_eviction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
