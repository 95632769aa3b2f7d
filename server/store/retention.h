/*
 * retention.h - removing old or unwanted data from the coverage database
 * without changing what is kept: `kcovd gc` (per-day rows, reports and
 * overflow rows older than N days), `kcovd build delete`, and giving the
 * space back (vacuum). Each removal writes its audit row in the same
 * transaction.
 *
 * kc_gc_run and kc_build_delete run no BEGIN/COMMIT: the caller runs them
 * inside a transaction on a read-write connection (the writer's, through
 * kc_store_maintain, or the CLI's own while no kcovd serves the file:
 * kc_db_lock). They change coverage rows behind the writer's union cache,
 * so on a serving kcovd they must go through kc_store_maintain.
 */
#ifndef KC_RETENTION_H
#define KC_RETENTION_H

#include <stdint.h>

#include "err.h"
#include "sql.h"

struct kc_gc_result {
	int64_t cutoff_day;   /* rows of days before this one were removed */
	int64_t folded;       /* (binary, label) unions that took new days */
	int64_t day_rows;     /* per-day coverage rows deleted */
	int64_t reports;      /* report rows deleted */
	int64_t overflow_rows; /* overflow_daily day rows rolled up into their month */
};

/* Keep keep_days (>= 1) days before today (UTC days since 1970): every
 * label's per-day coverage rows of earlier days are first folded into its
 * union of completed days (schema/006), so all-time and per-label coverage
 * are unchanged; then those rows, the reports received before the cutoff
 * and the overflow rows of those days are deleted. Per-day queries
 * (since/until) of removed days then find nothing. The audit row is
 * written when something was removed. actor is borrowed. */
int kc_gc_run(struct kc_sql *db, int64_t today, unsigned keep_days, const char *actor,
	      struct kc_gc_result *res, struct kc_err *err) KC_MUST_CHECK;

struct kc_build_delete_result {
	int64_t binaries, boots, reports, coverage_rows, files;
};

/* Remove the build whose vmlinux build id is build_id (hex) with all it
 * holds: its import (files, functions, points), its binaries' coverage,
 * its boots and their reports, its overflow rows. KC_E_NOT_FOUND when no
 * such build. Machines keep their counters. */
int kc_build_delete(struct kc_sql *db, const char *build_id, const char *actor,
		    struct kc_build_delete_result *res, struct kc_err *err) KC_MUST_CHECK;

/* What kc_db_vacuum and `kcovd vacuum` answer on PostgreSQL. */
#define KC_VACUUM_PG_REFUSAL                                                            \
	"kcovd vacuum compacts a SQLite file; PostgreSQL reclaims space with "        \
	"autovacuum (or VACUUM in psql, docs/operations.md)"

/* Give free pages back to the file system (SQLite; full on PostgreSQL:
 * KC_E_BAD_INPUT with KC_VACUUM_PG_REFUSAL). full: VACUUM (outside any
 * transaction; it also switches the file to incremental auto-vacuum, so
 * later runs need not be full). Otherwise PRAGMA incremental_vacuum when
 * the file has incremental auto-vacuum (else nothing). *freed receives
 * the pages given back (may be NULL). On PostgreSQL the non-full form
 * does nothing and gives 0 (autovacuum reuses the space). */
int kc_db_vacuum(struct kc_sql *db, int full, int64_t *freed, struct kc_err *err) KC_MUST_CHECK;

/* The same as store calls (kc_store_maintain(s, kc_gc_call, &job, err)),
 * each followed by an incremental vacuum on SQLite (none on PostgreSQL:
 * freed_pages 0). Results land in the job. */
struct kc_gc_job {
	unsigned keep_days;
	const char *actor;
	int64_t today; /* 0: now */
	struct kc_gc_result res;
	int64_t freed_pages;
};
int kc_gc_call(void *job, void *db, struct kc_err *err);

struct kc_build_delete_job {
	const char *build_id, *actor;
	struct kc_build_delete_result res;
	int64_t freed_pages;
};
int kc_build_delete_call(void *job, void *db, struct kc_err *err);

/* An online, consistent copy of the database at src into the new file dest
 * (KC_E_CONFLICT when dest exists): SQLite's backup API in one step, so
 * the copy is the database as one read transaction saw it, while a kcovd
 * may go on writing (WAL: the writer is not blocked). The copy is written
 * to dest.tmp, must pass PRAGMA integrity_check, and is then renamed. */
int kc_db_backup(const char *src, const char *dest, struct kc_err *err) KC_MUST_CHECK;

/* Replace the database at path by the backup file: under the database's
 * lock (no kcovd may serve it), after the backup passed integrity_check
 * and is a kcovd database of this or an older schema; the database as it
 * was is first copied to path.pre-restore (replacing an older one). The
 * copy into path is one transaction; migrations then run and an audit row
 * `restore` by actor is added. KC_E_BAD_INPUT for a bad backup file. */
int kc_db_restore(const char *backup, const char *path, const char *actor,
		  struct kc_err *err) KC_MUST_CHECK;

/* For the command line: take the database's lock (kc_db_lock: refused
 * while a kcovd serves it; none on PostgreSQL, where nodes may serve
 * meanwhile), open and migrate it, run fn in one transaction (commit on
 * 0; on PostgreSQL with a bump of the generation of the node "cli", so
 * serving nodes drop their caches), close, release. */
int kc_db_run_locked(const char *path, int (*fn)(void *arg, void *db, struct kc_err *err),
		     void *arg, struct kc_err *err) KC_MUST_CHECK;

#endif
