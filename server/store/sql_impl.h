/*
 * sql_impl.h - what a storage backend implements (private to server/store).
 *
 * A backend's connection and statement structs start with struct kc_sql and
 * struct kc_stmt, whose ops point at the backend's table; sql.c forwards
 * every public call of sql.h through that table. Each function has the
 * meaning documented in sql.h for the call of the same name.
 */
#ifndef KC_SQL_IMPL_H
#define KC_SQL_IMPL_H

#include "sql.h"

struct kc_sql_ops {
	enum kc_sql_backend backend;
	void (*close)(struct kc_sql *conn);
	const char *(*errmsg)(struct kc_sql *conn);
	enum kc_errc (*errc)(struct kc_sql *conn);
	int64_t (*changes)(struct kc_sql *conn);
	int64_t (*last_insert_rowid)(struct kc_sql *conn);
	int (*in_transaction)(struct kc_sql *conn);
	int (*defer_checkpoints)(struct kc_sql *conn, struct kc_err *err); /* or NULL */
	void (*checkpoint_due)(struct kc_sql *conn);			   /* or NULL */
	struct kc_stmt *(*prepare)(struct kc_sql *conn, const char *sql, struct kc_err *err);
	int (*exec)(struct kc_sql *conn, const char *sql, struct kc_err *err);
	struct kc_stmt *(*prepare_cached)(struct kc_sql *conn, const char *sql,
					  struct kc_err *err);

	int (*bind_int64)(struct kc_stmt *st, int idx, int64_t v);
	int (*bind_double)(struct kc_stmt *st, int idx, double v);
	int (*bind_text)(struct kc_stmt *st, int idx, const char *s, int n,
			 enum kc_sql_lifetime life);
	int (*bind_blob)(struct kc_stmt *st, int idx, const void *p, size_t n,
			 enum kc_sql_lifetime life);
	int (*bind_null)(struct kc_stmt *st, int idx);
	int (*step)(struct kc_stmt *st, struct kc_err *err);
	int (*reset)(struct kc_stmt *st);
	int (*clear_bindings)(struct kc_stmt *st);
	void (*finalize)(struct kc_stmt *st);

	int (*column_count)(struct kc_stmt *st);
	const char *(*column_name)(struct kc_stmt *st, int col);
	int (*column_type)(struct kc_stmt *st, int col);
	int64_t (*column_int64)(struct kc_stmt *st, int col);
	double (*column_double)(struct kc_stmt *st, int col);
	const unsigned char *(*column_text)(struct kc_stmt *st, int col);
	const void *(*column_blob)(struct kc_stmt *st, int col);
	int (*column_bytes)(struct kc_stmt *st, int col);
};

/* The first member of every backend connection. */
struct kc_sql {
	const struct kc_sql_ops *ops;
};

/* The first member of every backend statement. */
struct kc_stmt {
	const struct kc_sql_ops *ops;
	struct kc_sql *conn;
};

/* Open a SQLite file (sql_sqlite.c): readonly opens SQLITE_OPEN_READONLY. */
struct kc_sql *kc_sql_sqlite_open(const char *path, int readonly, struct kc_err *err);

/* Open a PostgreSQL connection (sql_pg.c) from a libpq connection string
 * or URI; readonly sets default_transaction_read_only. A server that
 * cannot be reached is KC_E_UNAVAILABLE "cannot connect to PostgreSQL". */
struct kc_sql *kc_sql_pg_open(const char *conninfo, int readonly, struct kc_err *err);

/* SQLite only (sql_sqlite.c): copy every page of the database src into
 * dst with the online backup API, in one step (one read transaction on
 * src, one write transaction on dst). KC_E_BAD_INPUT when either is not a
 * SQLite connection. */
int kc_sql_sqlite_copy(struct kc_sql *src, struct kc_sql *dst, const char *what,
		       struct kc_err *err);

/* SQLite only: open path for a backup's own use (no pragmas, no WAL):
 * readonly, or read-write creating it. */
struct kc_sql *kc_sql_sqlite_open_plain(const char *path, int readonly, struct kc_err *err);

#endif
