/*
 * db.h - opening the store and upgrading its schema, and the store's
 * shorthands over the storage interface (sql.h).
 *
 * The store is a SQLite file (WAL mode, synchronous=FULL, so a commit
 * that returned is on disk) or, with a PostgreSQL target, a PostgreSQL
 * database (sql_impl.h: the backend is chosen by kc_db_open). Migrations are schema/NNN_*.sql compiled into
 * the binary; schema_version holds one row per applied migration number,
 * and the database's version is the highest.
 */
#ifndef KC_DB_H
#define KC_DB_H

#include <stdint.h>

#include <roaring/roaring.h>

#include "err.h"
#include "sql.h"

/* Open (creating a SQLite file if needed) and configure a connection to
 * target: a PostgreSQL database when kc_sql_target_is_pg(target), else a
 * SQLite file path. readonly opens a read-only connection. The caller
 * closes it with kc_db_close. */
struct kc_sql *kc_db_open(const char *target, int readonly, struct kc_err *err);

/* Take the lock of the database at path (the file path + ".lock", created
 * as needed, flock LOCK_EX): `kcovd serve` holds it while it serves, the
 * commands that must not run beside a server (gc, build delete, vacuum,
 * restore) while they run. Returns the descriptor to close (which
 * releases it), or -1 with KC_E_CONFLICT when it is held elsewhere. A
 * PostgreSQL target takes no lock (several nodes share the database) and
 * gets a descriptor of /dev/null to close. */
int kc_db_lock(const char *path, struct kc_err *err);

/* Apply missing migrations; refuse a database newer than this binary. */
int kc_db_migrate(struct kc_sql *db, struct kc_err *err) KC_MUST_CHECK;

/* The schema version this binary writes. */
int kc_db_schema_version(void);

/* The domain code of the last failure on db (kc_sql_errc; KC_E_INTERNAL
 * for a NULL db). */
enum kc_errc kc_db_errc(struct kc_sql *db);

/* Not must-check: rollbacks on error paths ignore it. */
int kc_db_exec(struct kc_sql *db, const char *sql, struct kc_err *err);

/* Begin a write transaction: BEGIN IMMEDIATE on SQLite (the write lock is
 * taken now, so waiting for another writer happens here and not at the
 * first write), BEGIN on PostgreSQL. End it with kc_db_exec "COMMIT" or
 * "ROLLBACK". */
int kc_db_begin(struct kc_sql *db, struct kc_err *err) KC_MUST_CHECK;

/* Cap the database at mib MiB: on SQLite a write that would grow the file
 * further fails as on a full disk (KC_E_UNAVAILABLE). PostgreSQL has no
 * such per-connection cap: KC_E_BAD_INPUT there. */
int kc_db_cap_size(struct kc_sql *db, unsigned mib, struct kc_err *err) KC_MUST_CHECK;

/* Tune a read connection for large blobs: on SQLite, map the file rather
 * than copying pages through the small default cache; nothing elsewhere.
 * Best effort (a failure changes only speed). */
void kc_db_tune_reader(struct kc_sql *db);

/* Prepare or fail with the database's message (kc_sql_prepare). */
struct kc_stmt *kc_db_prepare(struct kc_sql *db, const char *sql, struct kc_err *err);

/* A statement of db for sql kept prepared on the connection: the first
 * call prepares it, later calls find it again (its text compared) and reset
 * it, so a hot path does not parse SQL per call. The caller resets or
 * steps it to the end, never finalizes it; kc_db_close does. Use it only
 * for SQL text that is never prepared with kc_db_prepare on the same
 * connection, and not re-entrantly (one user of a text at a time). */
struct kc_stmt *kc_db_cached(struct kc_sql *db, const char *sql, struct kc_err *err);

/* Finalize every statement of db (the kc_db_cached ones) and close it.
 * NULL is a no-op. */
void kc_db_close(struct kc_sql *db);

/* One kc_stmt_step of st (prepared on db): KC_ROW or KC_DONE, or -1 with
 * err set (code kc_sql_errc, message the database's). */
int kc_db_step(struct kc_sql *db, struct kc_stmt *st, struct kc_err *err) KC_MUST_CHECK;

/* The bitmap in blob column col of the current row (kc_bitmap_from_blob),
 * NULL when it is not one. Free with kc_bitmap_free. */
roaring_bitmap_t *kc_db_column_bitmap(struct kc_stmt *st, int col);

/* Bind b, serialized (the statement keeps its own copy), to parameter col. */
int kc_db_bind_bitmap(struct kc_stmt *st, int col, const roaring_bitmap_t *b,
		      struct kc_err *err) KC_MUST_CHECK;

/* Run a statement expected to return one integer (or none: *out = dflt). */
int kc_db_get_int(struct kc_sql *db, const char *sql, int64_t dflt, int64_t *out,
		  struct kc_err *err) KC_MUST_CHECK;

#endif
