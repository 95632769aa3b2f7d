/*
 * store.h - the single writer of the coverage database.
 *
 * HTTP threads decode and canonicalize, then hand a job to the writer and
 * wait, or (kc_store_submit_async) return and get called back. The writer takes every queued job (up to KC_STORE_BATCH), applies
 * them in one transaction (group commit), merges coverage bitmaps in memory
 * so each touched bitmap is read and written once per batch, commits, and
 * only then wakes the waiting threads: an acknowledged report is durable.
 *
 * The storage interface. Everything above this layer writes through these
 * calls and nothing else: kc_store_open / kc_store_close, kc_store_submit
 * of a job (a canonicalized report, a boot's address map, or a call run on
 * the writer inside its transaction: build import, tokens),
 * kc_store_stats and kc_store_read_generation. A second backend
 * (PostgreSQL) implements these same calls behind struct kc_store. Reads
 * do not go through it yet: canon.c, query/ and the API's read handlers
 * take a read connection (db.h, kc_db_get) and run SQLite SQL, and
 * KC_JOB_CALL hands its function the SQLite connection; those are the
 * parts a second backend also has to provide.
 */
#ifndef KC_STORE_H
#define KC_STORE_H

#include <stdint.h>

#include "canon.h"
#include "err.h"
#include "wire.h"

#define KC_STORE_BATCH 512

/* coverage.day of a label's union of its completed days, those before
 * label_unions.upto (schema/006_label_unions.sql); real days are >= 0. */
#define KC_ALL_DAYS (-1)

/* SQL condition on `coverage c`: the rows that together hold each label's
 * coverage over all days (its union of completed days, then its rows from
 * label_unions.upto on). */
#define KC_ALL_DAYS_ROWS                                                               \
	"(c.day = -1 OR c.day >= coalesce((SELECT u.upto FROM label_unions u WHERE "    \
	"u.binary = c.binary AND u.label = c.label), 0)) "

/* SQL condition joining `images i` to `binaries b`: the coverage rows
 * (binaries) that count for an image: same build, kind and name, and the
 * image's build id or none recorded. */
#define IMG_BINARY                                                                        \
	"b.build = i.build AND b.kind = i.kind AND b.name = i.name AND "                   \
	"(b.build_id = i.build_id OR b.build_id = '') "

enum kc_job_kind { KC_JOB_REPORT, KC_JOB_ADDRMAP, KC_JOB_CALL };

enum kc_job_status {
	KC_JOB_PENDING = 0,
	KC_JOB_OK,
	KC_JOB_DUPLICATE,
	KC_JOB_FAILED, /* err says why; the database was not changed by this job */
};

struct kc_job {
	enum kc_job_kind kind;
	/* KC_JOB_REPORT (borrowed from the submitter) */
	const struct kc_report *report;
	const struct kc_canon_boot *boot;
	const struct kc_canon_result *canon;
	uint64_t bytes; /* wire size of the report */
	/* KC_JOB_ADDRMAP (borrowed) */
	const struct kc_addrmap *map;
	/* KC_JOB_CALL */
	int (*fn)(void *arg, void *db, struct kc_err *err);
	void *arg;
	/* kc_store_submit_async: called once on the writer thread after the
	 * job's transaction committed or failed (status final); it must not
	 * block or submit. The job and what it borrows stay valid until then. */
	void (*done)(struct kc_job *job, void *arg);
	void *done_arg;
	int maintenance; /* kc_store_maintain: runs in a batch of its own */
	/* filled by the writer */
	enum kc_job_status status;  /* published after the commit, under the lock */
	enum kc_job_status outcome; /* writer-private until then */
	int64_t id; /* report or boot row id */
	struct kc_err err;
	struct kc_job *next;
};

struct kc_store_stats {
	uint64_t batches, jobs, queue_depth, commit_failures;
	double last_commit_ms;
	/* stored reports whose taken time was clamped (kc_store_taken_time) */
	uint64_t clamped_past, clamped_future;
	/* reads of the database's generation (kc_store_read_generation) */
	uint64_t generation_polls;
};

/*
 * The day a report belongs to (docs/wire-format.md, "Which day a report
 * belongs to"): the UTC day it was taken, `created` by the collector's
 * clock, trusted within a window around its receipt: a report cannot be
 * taken after it was received (later: the receipt time; more than
 * KC_TAKEN_SKEW seconds later counts as clamped, *clamped = 1), nor more
 * than KC_TAKEN_MAX_AGE seconds before it (earlier: receipt minus that,
 * *clamped = -1). Returns the taken time in unix seconds; *clamped is 0
 * when the clock was believed. Pure; any thread.
 */
#define KC_TAKEN_SKEW 300                     /* 5 minutes */
#define KC_TAKEN_MAX_AGE (30 * 86400)         /* 30 days */
int64_t kc_store_taken_time(uint64_t created, int64_t received, int *clamped);

struct kc_store;
struct kc_sql;

/* Open the database file (created and migrated as needed), take its lock
 * (kc_db_lock: KC_E_CONFLICT when another kcovd serves it or a
 * maintenance command runs on it) and start the writer thread. */
struct kc_store *kc_store_open(const char *path, struct kc_err *err);
/* Stop the writer after the queued jobs are done; close the database. */
void kc_store_close(struct kc_store *s);

/* Queue job and wait until its transaction committed (or failed). */
void kc_store_submit(struct kc_store *s, struct kc_job *job);
/* Queue job and return at once; job->done(job, job->done_arg) is called on
 * the writer thread once its transaction committed (or failed), so a
 * waiting request holds no thread. Jobs queued together share one commit
 * (up to KC_STORE_BATCH): the batch is as large as the number waiting. */
void kc_store_submit_async(struct kc_store *s, struct kc_job *job);

/* Like kc_store_call, for functions that change or delete stored
 * coverage behind the writer (retention.h: gc, build deletion): fn runs in
 * a transaction of its own (no report of the same batch), after it the
 * writer forgets its decoded unions, and a commit moves the coverage
 * generation, so no cache answers with the old coverage. */
int kc_store_maintain(struct kc_store *s, int (*fn)(void *arg, void *db, struct kc_err *err),
		      void *arg, struct kc_err *err) KC_MUST_CHECK;

void kc_store_stats(struct kc_store *s, struct kc_store_stats *out);

/* How often readers look at the database's generation at most
 * (kc_store_read_generation): another node's committed change is seen
 * by every request that starts this long after its commit. */
#define KC_GENERATION_POLL_MS 100

/* What readers key caches of decoded coverage on, beside each build's
 * builds.coverage_gen (schema 015: ingest into one of the build's
 * binaries moves it, in the same transaction; kc_covq_open reads it with
 * the build): on SQLite the count of this writer's commits of maintenance
 * jobs (gc, build deletion), which change any build's coverage; on
 * PostgreSQL that plus the database's generation (nodes.h: the sums over
 * every node's row), read with one SELECT on db (the caller's read
 * connection, borrowed) when the last read began KC_GENERATION_POLL_MS
 * or more ago, so another node's ingest, import or gc moves it too. Any
 * thread. */
uint64_t kc_store_read_generation(struct kc_store *s, struct kc_sql *db);

/* This node's name in node_generations (host:pid:start), owned by s. */
const char *kc_store_node(struct kc_store *s);

/* Run fn on the writer connection, on the writer thread, inside a
 * transaction (used by admin operations such as token creation and build
 * import). fn returns 0 to commit, -1 to roll back. */
int kc_store_call(struct kc_store *s, int (*fn)(void *arg, void *db, struct kc_err *err),
		  void *arg, struct kc_err *err) KC_MUST_CHECK;

#endif
