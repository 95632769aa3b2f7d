/*
 * sql.h - the one storage interface: a database connection and its prepared
 * statements, on SQLite or on PostgreSQL.
 *
 * Every layer above server/store talks to the database through these calls
 * and never names sqlite3 or libpq. The calls mirror SQLite's C API one for
 * one (same argument order, same result codes), so that code written for
 * SQLite reads the same; the PostgreSQL backend (libpq) gives them the same
 * meaning:
 *
 *  - SQL text uses `?` or `?N` parameters (1-based); the PostgreSQL backend
 *    rewrites them to `$N` outside string literals and identifiers.
 *  - kc_stmt_step() returns KC_ROW while rows remain, then KC_DONE, or -1
 *    with err filled. On PostgreSQL the first step executes the statement
 *    (binary parameters, binary results) and later steps walk its rows.
 *  - Column values are read from the current row. Text and blob pointers
 *    stay valid until the next step, reset or finalize of the statement.
 *  - kc_stmt_reset() makes the statement runnable again and keeps its
 *    bindings; kc_stmt_clear_bindings() sets every parameter to NULL.
 *  - A connection is used by one thread at a time. Statements belong to the
 *    connection that prepared them and die with it at the latest.
 *
 * SQL that differs between the two databases is chosen with
 * kc_sql_backend(); everything portable (ON CONFLICT ... DO NOTHING/UPDATE,
 * RETURNING, CAST, COALESCE) is written once.
 */
#ifndef KC_SQL_H
#define KC_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct kc_sql;	/* a connection (opaque outside server/store) */
struct kc_stmt; /* a prepared statement of one connection (opaque) */

enum kc_sql_backend {
	KC_SQL_SQLITE,
	KC_SQL_PG,
};

/* Per-backend SQL text for what SQLite and PostgreSQL spell differently,
 * for statements kept as a table indexed by kc_sql_backend():
 *  - KC_SQL_JSON_TEXTS_*(p) / KC_SQL_JSON_IDS_*(p): the elements of the
 *    JSON array bound to parameter p (strings / integers), as a
 *    parenthesized one-column subquery for `x IN ...`;
 *  - KC_SQL_XJOIN_*: an inner join that SQLite must not reorder (its
 *    CROSS JOIN ... ON); PostgreSQL has no CROSS JOIN with ON and plans
 *    the order itself. */
#define KC_SQL_JSON_TEXTS_SQLITE(p) "(SELECT value FROM json_each(" p ")) "
#define KC_SQL_JSON_TEXTS_PG(p) "(SELECT value FROM json_array_elements_text(CAST(" p " AS json))) "
#define KC_SQL_JSON_IDS_SQLITE(p) KC_SQL_JSON_TEXTS_SQLITE(p)
#define KC_SQL_JSON_IDS_PG(p)                                                               \
	"(SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(" p " AS json))) "
#define KC_SQL_XJOIN_SQLITE "CROSS JOIN "
#define KC_SQL_XJOIN_PG "JOIN "

/* Result codes, with SQLite's values. */
#define KC_SQL_OK 0
#define KC_ROW 100
#define KC_DONE 101

/* Column types, with SQLite's values (kc_stmt_column_type). */
#define KC_SQL_INTEGER 1
#define KC_SQL_FLOAT 2
#define KC_SQL_TEXT 3
#define KC_SQL_BLOB 4
#define KC_SQL_NULL 5

/* Lifetime of bound text and blobs: KC_SQL_STATIC when the caller keeps
 * the buffer alive and unchanged until the statement is reset or
 * finalized, KC_SQL_TRANSIENT to have it copied at the bind. */
enum kc_sql_lifetime {
	KC_SQL_STATIC,
	KC_SQL_TRANSIENT,
};

/* True when target names a PostgreSQL database rather than a file: it
 * starts with "postgresql://" or "postgres://", or is a libpq key=value
 * string (contains "dbname=" or "host="). */
int kc_sql_target_is_pg(const char *target);

/* Close conn, finalizing every statement it still has (the cached ones
 * and any the caller forgot). NULL is a no-op. */
void kc_sql_close(struct kc_sql *conn);

/* Run sql, which may hold several statements separated by `;` and binds
 * no parameters (migrations, BEGIN/COMMIT, pragmas); rows are discarded.
 * -1 with err filled (code kc_sql_errc) on failure. */
int kc_sql_exec(struct kc_sql *conn, const char *sql, struct kc_err *err);

/* A statement for sql kept prepared on conn: the first call prepares it,
 * later calls with the same text find it again, reset and with its
 * bindings cleared. The caller steps and resets it but never finalizes it
 * (kc_sql_close does). A statement still being stepped (between its first
 * KC_ROW and its reset) is not handed out twice: a second one is
 * prepared. */
struct kc_stmt *kc_sql_prepare_cached(struct kc_sql *conn, const char *sql,
				      struct kc_err *err);

/* Which database conn talks to. */
enum kc_sql_backend kc_sql_backend(const struct kc_sql *conn);

/* The message of the last failed call on conn (owned by conn, valid until
 * its next call). */
const char *kc_sql_errmsg(struct kc_sql *conn);

/* The domain code of the last failure on conn: KC_E_UNAVAILABLE for
 * conditions that pass (busy, locked, full, I/O, connection lost, server
 * shutting down, serialization failure), KC_E_INTERNAL for the rest. */
enum kc_errc kc_sql_errc(struct kc_sql *conn);

/* Rows changed by the last INSERT, UPDATE or DELETE run on conn. */
int64_t kc_sql_changes(struct kc_sql *conn);

/* The id of the row the last INSERT on conn created (SQLite's rowid,
 * PostgreSQL's lastval()). Prefer RETURNING id in new code. */
int64_t kc_sql_last_insert_rowid(struct kc_sql *conn);

/* Whether conn is inside BEGIN ... COMMIT. */
int kc_sql_in_transaction(struct kc_sql *conn);

/* Take checkpoints out of conn's COMMITs (SQLite: a COMMIT then only
 * appends to the WAL and syncs it; without this, the COMMIT that leaves the
 * WAL at KC_SQL_CHECKPOINT_PAGES pages or more also copies the WAL back
 * into the database file and syncs that, in its own latency). The owner of
 * conn then calls kc_sql_checkpoint_due when that cost is nobody's wait:
 * the writer, after it has answered a batch. Durability is unchanged: a
 * commit is durable once its WAL frames are synced. PostgreSQL: nothing
 * to do. Returns 0, or -1 with err. */
int kc_sql_defer_checkpoints(struct kc_sql *conn, struct kc_err *err);

/* After kc_sql_defer_checkpoints: checkpoint now if the WAL has grown to
 * KC_SQL_CHECKPOINT_PAGES pages or more since the last complete
 * checkpoint (one that fails or is partial is tried again after the next
 * commit). Call outside a transaction. */
void kc_sql_checkpoint_due(struct kc_sql *conn);
#define KC_SQL_CHECKPOINT_PAGES 1000

/* Prepare sql on conn, or NULL with err filled (the database's message).
 * The caller finalizes the statement. */
struct kc_stmt *kc_sql_prepare(struct kc_sql *conn, const char *sql, struct kc_err *err);

int kc_stmt_bind_int64(struct kc_stmt *st, int idx, int64_t v);
int kc_stmt_bind_int(struct kc_stmt *st, int idx, int v);
int kc_stmt_bind_double(struct kc_stmt *st, int idx, double v);
/* n < 0: s is NUL-terminated. */
int kc_stmt_bind_text(struct kc_stmt *st, int idx, const char *s, int n,
		      enum kc_sql_lifetime life);
int kc_stmt_bind_blob(struct kc_stmt *st, int idx, const void *p, size_t n,
		      enum kc_sql_lifetime life);
int kc_stmt_bind_null(struct kc_stmt *st, int idx);

/* One step: KC_ROW, KC_DONE, or -1 with err filled (code kc_sql_errc). */
int kc_stmt_step(struct kc_stmt *st, struct kc_err *err) KC_MUST_CHECK;

/* NULL is a no-op (KC_SQL_OK), as for finalize. */
int kc_stmt_reset(struct kc_stmt *st);
int kc_stmt_clear_bindings(struct kc_stmt *st);
/* NULL is a no-op. */
void kc_stmt_finalize(struct kc_stmt *st);

int kc_stmt_column_count(struct kc_stmt *st);
const char *kc_stmt_column_name(struct kc_stmt *st, int col);
int kc_stmt_column_type(struct kc_stmt *st, int col);
int64_t kc_stmt_column_int64(struct kc_stmt *st, int col);
int kc_stmt_column_int(struct kc_stmt *st, int col);
double kc_stmt_column_double(struct kc_stmt *st, int col);
/* NULL for SQL NULL. */
const unsigned char *kc_stmt_column_text(struct kc_stmt *st, int col);
const void *kc_stmt_column_blob(struct kc_stmt *st, int col);
int kc_stmt_column_bytes(struct kc_stmt *st, int col);

#endif
