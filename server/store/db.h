/*
 * db.h - opening the SQLite store and upgrading its schema.
 *
 * The database is one file in WAL mode with synchronous=FULL, so a commit
 * that returned is on disk. Migrations are schema/NNN_*.sql compiled into
 * the binary; schema_version holds one row per applied migration number,
 * and the database's version is the highest.
 */
#ifndef KC_DB_H
#define KC_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "err.h"

/* Open (creating if needed) and configure a connection. readonly opens
 * with SQLITE_OPEN_READONLY. The caller closes it with sqlite3_close. */
sqlite3 *kc_db_open(const char *path, int readonly, struct kc_err *err);

/* Take the lock of the database at path (the file path + ".lock", created
 * as needed, flock LOCK_EX): `kcovd serve` holds it while it serves, the
 * commands that must not run beside a server (gc, build delete, vacuum,
 * restore) while they run. Returns the descriptor to close (which
 * releases it), or -1 with KC_E_CONFLICT when it is held elsewhere. */
int kc_db_lock(const char *path, struct kc_err *err);

/* Apply missing migrations; refuse a database newer than this binary. */
int kc_db_migrate(sqlite3 *db, struct kc_err *err) KC_MUST_CHECK;

/* The schema version this binary writes. */
int kc_db_schema_version(void);

/* The domain code of the last SQLite error on db: KC_E_UNAVAILABLE for
 * conditions that pass (full, busy, locked, I/O, cannot open, read-only),
 * KC_E_INTERNAL for everything else. */
enum kc_errc kc_db_errc(sqlite3 *db);

/* Not must-check: rollbacks on error paths ignore it. */
int kc_db_exec(sqlite3 *db, const char *sql, struct kc_err *err);

/* Prepare or fail with the SQLite message. */
sqlite3_stmt *kc_db_prepare(sqlite3 *db, const char *sql, struct kc_err *err);

/* A statement of db for sql kept prepared on the connection: the first
 * call prepares it, later calls find it again (its text compared) and reset
 * it, so a hot path does not parse SQL per call. The caller resets or
 * steps it to the end, never finalizes it; kc_db_close does. Use it only
 * for SQL text that is never prepared with kc_db_prepare on the same
 * connection, and not re-entrantly (one user of a text at a time). */
sqlite3_stmt *kc_db_cached(sqlite3 *db, const char *sql, struct kc_err *err);

/* Finalize every statement of db (the kc_db_cached ones) and close it.
 * NULL is a no-op. */
void kc_db_close(sqlite3 *db);

/* One sqlite3_step of st (prepared on db): SQLITE_ROW or SQLITE_DONE, or
 * -1 with err set (code kc_db_errc, message SQLite's). */
int kc_db_step(sqlite3 *db, sqlite3_stmt *st, struct kc_err *err) KC_MUST_CHECK;

/* The bitmap in blob column col of the current row (kc_bitmap_from_blob),
 * NULL when it is not one. Free with kc_bitmap_free. */
roaring_bitmap_t *kc_db_column_bitmap(sqlite3_stmt *st, int col);

/* Bind b, serialized (the statement owns the copy), to parameter col. */
int kc_db_bind_bitmap(sqlite3_stmt *st, int col, const roaring_bitmap_t *b,
		      struct kc_err *err) KC_MUST_CHECK;

/* Run a statement expected to return one integer (or none: *out = dflt). */
int kc_db_get_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out,
		  struct kc_err *err) KC_MUST_CHECK;

#endif
