/*
 * session.c - a collector session: the kcov buffers of one process, the
 * report being built from its runs, and the spool it goes to. It owns the
 * choice between unique and trace mode, the per-run figures (capacity,
 * fill, overflow, duration, exit status) and --keep-bitmap, which in trace
 * mode is emulated by subtracting every PC already seen in the session.
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addrmap.h"
#include "spool.h"

struct kc_session {
	struct kc_session_opts opts;
	struct kc_kcov local;      /* the traced task's buffer */
	struct kc_kcov remote;     /* remote coverage buffer (fd -1 if unused) */
	struct kc_spool spool;
	struct kc_report pending;  /* runs since the last flush */
	struct kc_report seen;     /* every PC of the session (keep-bitmap in trace mode) */
	struct timespec started;   /* start of the current run */
	char machine[KC_NAME_MAX + 1];
};

static int fill_identity(struct kc_session *s, struct kc_err *err)
{
	struct kc_report *r = &s->pending;
	struct kc_addrmap map;
	char warn[4096];
	int ret;

	kc_addrmap_init(&map);
	memcpy(r->machine, s->machine, sizeof(r->machine));
	snprintf(r->label, sizeof(r->label), "%s", s->opts.label ? s->opts.label : "");
	if (kc_read_boot_id(s->opts.sysroot, r->boot_id, err) < 0)
		return -1;
	if (kc_spool_has_map(&s->spool, r->boot_id)) {
		/* Already captured this boot: only a module loaded (or moved)
		 * since then changes the map, which then goes out again. */
		struct kc_buf b = KC_BUF_INIT;

		ret = kc_spool_read_map(&s->spool, r->boot_id, &b, err);
		if (ret == 0)
			ret = kc_wire_decode_addrmap(b.data, b.len, &map, err);
		kc_buf_release(&b);
		if (ret == 0 && (ret = kc_addrmap_refresh(s->opts.sysroot, &map, err)) > 0)
			ret = kc_spool_update_map(&s->spool, &map, err);
		if (ret < 0)
			kc_addrmap_release(&map);
	} else {
		ret = kc_addrmap_capture(s->opts.sysroot, s->machine, s->opts.link_text, &map, err);
		if (ret == 0 && (ret = kc_spool_put_map(&s->spool, &map, err)) < 0)
			kc_addrmap_release(&map);
	}
	if (ret < 0)
		return kc_err_prefix(err, "address map");
	if (kc_addrmap_warnings(&map, warn, sizeof(warn)))
		fprintf(stderr, "kcov-collect: warning: %s", warn);
	memcpy(r->release, map.release, sizeof(r->release));
	kc_addrmap_release(&map);
	return 0;
}

static int new_upload_id(struct kc_report *r, struct kc_err *err)
{
	if (getrandom(r->upload_id, KC_UPLOAD_ID_LEN, 0) != KC_UPLOAD_ID_LEN)
		return kc_err_errno(err, errno, "getrandom: %s", strerror(errno));
	return 0;
}

struct kc_session *kc_session_open(const struct kc_session_opts *o, struct kc_err *err)
{
	struct kc_session *s = calloc(1, sizeof(*s));

	if (!s) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	s->opts = *o;
	s->local.fd = s->remote.fd = -1;
	kc_report_init(&s->pending);
	kc_report_init(&s->seen);
	if (!s->opts.device)
		s->opts.device = "/sys/kernel/debug/kcov";
	if (!s->opts.sysroot)
		s->opts.sysroot = "/";
	if (!s->opts.words)
		s->opts.words = KC_DEFAULT_WORDS;
	if (!s->opts.bitmap_words)
		s->opts.bitmap_words = KC_DEFAULT_BITMAP_WORDS;
	if (!s->opts.link_text)
		s->opts.link_text = KC_DEFAULT_LINK_TEXT;
	if (o->machine)
		snprintf(s->machine, sizeof(s->machine), "%s", o->machine);
	else if (gethostname(s->machine, sizeof(s->machine) - 1) < 0)
		snprintf(s->machine, sizeof(s->machine), "unknown");
	if (!o->spool_dir) {
		kc_err_set(err, KC_E_IO, "no spool directory given");
		goto fail;
	}
	/* The kcov device first: without it nothing can be collected, and its
	 * message (debugfs, CONFIG_KCOV) names the real problem, which an
	 * address-map error on the same machine would otherwise hide. */
	if (kc_kcov_open(&s->local, s->opts.device, s->opts.words,
			 s->opts.mode == KC_PREFER_TRACE ? 0 : s->opts.bitmap_words, err) < 0 ||
	    kc_kcov_probe(&s->local, s->opts.mode, err) < 0)
		goto fail;
	if (s->opts.remote_handle) {
		if (kc_kcov_open(&s->remote, s->opts.device, s->opts.words, 0, err) < 0)
			goto fail;
		s->remote.remote = 1;
		s->remote.mode = KC_MODE_TRACE;
	}
	if (kc_spool_open(&s->spool, o->spool_dir, err) < 0 || fill_identity(s, err) < 0 ||
	    new_upload_id(&s->pending, err) < 0)
		goto fail;
	return s;
fail:
	kc_session_close(s);
	return NULL;
}

void kc_session_close(struct kc_session *s)
{
	if (!s)
		return;
	kc_kcov_close(&s->local);
	kc_kcov_close(&s->remote);
	kc_report_release(&s->pending);
	kc_report_release(&s->seen);
	free(s);
}

uint8_t kc_session_mode(const struct kc_session *s)
{
	return s->local.mode;
}

const struct kc_report *kc_session_pending(const struct kc_session *s)
{
	return &s->pending;
}

static void start_run(struct kc_session *s)
{
	kc_kcov_reset(&s->local, s->opts.keep_bitmap);
	if (s->remote.fd >= 0)
		kc_kcov_reset(&s->remote, 0);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
}

/* Collect the finished run's buffers into the pending report. */
static int finish_run(struct kc_session *s, const char *workload, int status, struct kc_err *err)
{
	struct kc_report scratch;
	struct kc_run run;
	struct timespec now;
	int ret = -1;

	memset(&run, 0, sizeof(run));
	kc_report_init(&scratch);
	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(run.workload, sizeof(run.workload), "%s", workload ? workload : "");
	run.exit_status = status;
	run.duration_us = (uint64_t)((now.tv_sec - s->started.tv_sec) * 1000000LL +
				     (now.tv_nsec - s->started.tv_nsec) / 1000);
	if (kc_kcov_collect(&s->local, &scratch, &run, err) < 0 ||
	    (s->remote.fd >= 0 && kc_kcov_collect(&s->remote, &scratch, &run, err) < 0))
		goto out;
	if (s->opts.keep_bitmap)
		kc_report_andnot(&scratch, &s->seen);
	run.npcs = kc_report_npcs(&scratch);
	if (kc_report_or(&s->seen, &scratch, err) < 0 ||
	    kc_report_or(&s->pending, &scratch, err) < 0 ||
	    kc_report_add_run(&s->pending, &run, err) < 0)
		goto out;
	ret = 0;
out:
	kc_report_release(&scratch);
	return ret;
}

/* What the child reports through its close-on-exec pipe when it could not
 * start the workload: nothing arrives when exec succeeded. */
struct child_failure {
	int stage; /* 1 remote enable, 2 enable, 3 fork */
	int err;   /* errno */
};

static void child_fail(int fd, int stage, int e)
{
	struct child_failure f = { stage, e };

	if (write(fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(126);
}

/* In the child: enable remote coverage (in an intermediate process, since a
 * task can hold only one kcov) and local coverage, then exec. Never returns. */
static void child_exec(struct kc_session *s, char *const argv[], int fd)
{
	int r;

	if (s->remote.fd >= 0) {
		pid_t pid;
		int status;

		r = kc_kcov_remote_enable(&s->remote, s->opts.remote_handle);
		if (r < 0)
			child_fail(fd, 1, -r);
		pid = fork();
		if (pid < 0)
			child_fail(fd, 3, errno);
		if (pid > 0) {
			close(fd); /* only the workload's exec may close the last copy */
			if (waitpid(pid, &status, 0) < 0)
				_exit(126);
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
	r = kc_kcov_enable(&s->local);
	if (r < 0)
		child_fail(fd, 2, -r);
	execvp(argv[0], argv);
	dprintf(2, "kcov-collect: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int kc_session_run_cmd(struct kc_session *s, char *const argv[], const char *workload,
		       int *wstatus, struct kc_err *err)
{
	static const char *const stages[] = { "", "KCOV_REMOTE_ENABLE", "enabling coverage",
					      "fork" };
	struct child_failure f;
	int fds[2];
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return kc_err_errno(err, errno, "pipe: %s", strerror(errno));
	start_run(s);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return kc_err_errno(err, errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		child_exec(s, argv, fds[1]);
	}
	close(fds[1]);
	do
		n = read(fds[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	while (waitpid(pid, wstatus, 0) < 0)
		if (errno != EINTR)
			return kc_err_errno(err, errno, "waitpid: %s", strerror(errno));
	if (n == (ssize_t)sizeof(f) && f.stage >= 1 && f.stage <= 3)
		return kc_err_set(err, KC_E_IO, "the child could not start the workload: %s: %s",
				  stages[f.stage], strerror(f.err));
	return finish_run(s, workload ? workload : argv[0], *wstatus, err);
}

int kc_session_begin(struct kc_session *s, struct kc_err *err)
{
	int r;

	start_run(s);
	r = kc_kcov_enable(&s->local);
	if (r < 0)
		return kc_err_set(err, KC_E_IO, "enabling coverage: %s", strerror(-r));
	return 0;
}

int kc_session_end(struct kc_session *s, const char *workload, int exit_status,
		   struct kc_err *err)
{
	int r = kc_kcov_disable(&s->local);

	if (r < 0)
		return kc_err_set(err, KC_E_IO, "KCOV_DISABLE: %s", strerror(-r));
	return finish_run(s, workload, exit_status, err);
}

int kc_session_flush(struct kc_session *s, struct kc_err *err)
{
	struct kc_report *r = &s->pending;

	if (r->nruns == 0)
		return 0;
	/* Drawn here, not (only) after the previous flush: a forked child
	 * that records and flushes its own runs (an executor running each
	 * program in a child) would otherwise spool its report under the id
	 * the parent and every sibling inherited, and the server keeps one
	 * report per upload id. */
	if (new_upload_id(r, err) < 0)
		return -1;
	r->created_unix = (uint64_t)time(NULL);
	if (kc_spool_put_report(&s->spool, r, err) < 0)
		return -1;
	free(r->runs);
	r->runs = NULL;
	r->nruns = 0;
	r->cap_runs = 0;
	kc_report_clear_pcs(r);
	return 0;
}
