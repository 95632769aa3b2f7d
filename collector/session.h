/*
 * session.h - the collector's C API: a coverage session on one boot.
 *
 * A test harness or fuzzer executor links kc_collector and wraps each of its
 * runs:
 *
 *     struct kc_session *s = kc_session_open(&opts, &err);
 *     for each program:
 *         kc_session_begin(s, &err);            // enable in this thread
 *         ... run the program ...
 *         kc_session_end(s, "prog-42", 0, &err); // disable, collect PCs
 *     kc_session_flush(s, &err);                // spool one report
 *     kc_session_close(s);
 *
 * kc_session_run_cmd() does the same for a command (fork, enable in the
 * child, exec, wait). Reports are spooled, never sent from here; see push.h.
 */
#ifndef KC_SESSION_H
#define KC_SESSION_H

#include <stdint.h>

#include "err.h"
#include "kcov.h"
#include "wire.h"

struct kc_session_opts {
	const char *device;       /* default /sys/kernel/debug/kcov */
	const char *sysroot;      /* default "/" */
	const char *spool_dir;    /* required */
	const char *machine;      /* default: hostname */
	const char *label;        /* suite or fuzzer name, may be NULL */
	uint64_t words;           /* buffer words, default KC_DEFAULT_WORDS */
	uint64_t bitmap_words;    /* unique bitmap words, default KC_DEFAULT_BITMAP_WORDS */
	uint64_t link_text;       /* link-time _text, default KC_DEFAULT_LINK_TEXT */
	enum kc_mode_pref mode;   /* auto, unique or trace */
	int keep_bitmap;          /* accumulate: later runs report only new PCs */
	uint32_t remote_handle;   /* KCOV_REMOTE_ENABLE common handle, 0 = none */
};

struct kc_session;

/* Open the device and learn the mode, then capture the boot's address map
 * into the spool if it is not there yet (in that order: a missing device is
 * reported before any address-map problem). Returns NULL with err set on
 * failure. */
struct kc_session *kc_session_open(const struct kc_session_opts *o, struct kc_err *err);
void kc_session_close(struct kc_session *s);

/* The mode the kernel gave us (enum kc_mode). */
uint8_t kc_session_mode(const struct kc_session *s);

/* Run argv with coverage on its main thread; *wstatus gets waitpid's status.
 * The run is recorded with the given workload name. */
int kc_session_run_cmd(struct kc_session *s, char *const argv[], const char *workload,
		       int *wstatus, struct kc_err *err) KC_MUST_CHECK;

/* In-process runs: begin enables coverage for the calling thread; end
 * disables it and records the run. */
int kc_session_begin(struct kc_session *s, struct kc_err *err) KC_MUST_CHECK;
int kc_session_end(struct kc_session *s, const char *workload, int exit_status,
		   struct kc_err *err) KC_MUST_CHECK;

/* The runs recorded since the last flush (read-only view). */
const struct kc_report *kc_session_pending(const struct kc_session *s);

/* Spool the pending runs as one report under a new upload id, drawn at the
 * flush (so a forked child that begins, ends and flushes its own runs
 * spools a report distinct from its siblings'), and start a new one. A
 * flush with no runs does nothing. */
int kc_session_flush(struct kc_session *s, struct kc_err *err) KC_MUST_CHECK;

#endif
