/*
 * sql.c - the storage interface's dispatch: every call of sql.h goes to the
 * backend (sql_sqlite.c or sql_pg.c) whose table the connection or
 * statement carries, so the layers above never know which database serves
 * them.
 */
#include "sql_impl.h"

#include <string.h>

int kc_sql_target_is_pg(const char *target)
{
	return !strncmp(target, "postgresql://", 13) || !strncmp(target, "postgres://", 11) ||
	       strstr(target, "dbname=") != NULL || strstr(target, "host=") != NULL;
}

enum kc_sql_backend kc_sql_backend(const struct kc_sql *conn)
{
	return conn->ops->backend;
}

const char *kc_sql_errmsg(struct kc_sql *conn)
{
	return conn->ops->errmsg(conn);
}

enum kc_errc kc_sql_errc(struct kc_sql *conn)
{
	return conn->ops->errc(conn);
}

int64_t kc_sql_changes(struct kc_sql *conn)
{
	return conn->ops->changes(conn);
}

int64_t kc_sql_last_insert_rowid(struct kc_sql *conn)
{
	return conn->ops->last_insert_rowid(conn);
}

int kc_sql_in_transaction(struct kc_sql *conn)
{
	return conn->ops->in_transaction(conn);
}

int kc_sql_defer_checkpoints(struct kc_sql *conn, struct kc_err *err)
{
	return conn->ops->defer_checkpoints ? conn->ops->defer_checkpoints(conn, err) : 0;
}

void kc_sql_checkpoint_due(struct kc_sql *conn)
{
	if (conn->ops->checkpoint_due)
		conn->ops->checkpoint_due(conn);
}

void kc_sql_close(struct kc_sql *conn)
{
	if (conn)
		conn->ops->close(conn);
}

int kc_sql_exec(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	return conn->ops->exec(conn, sql, err);
}

struct kc_stmt *kc_sql_prepare_cached(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	return conn->ops->prepare_cached(conn, sql, err);
}

struct kc_stmt *kc_sql_prepare(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	return conn->ops->prepare(conn, sql, err);
}

int kc_stmt_bind_int64(struct kc_stmt *st, int idx, int64_t v)
{
	return st->ops->bind_int64(st, idx, v);
}

int kc_stmt_bind_int(struct kc_stmt *st, int idx, int v)
{
	return st->ops->bind_int64(st, idx, v);
}

int kc_stmt_bind_double(struct kc_stmt *st, int idx, double v)
{
	return st->ops->bind_double(st, idx, v);
}

int kc_stmt_bind_text(struct kc_stmt *st, int idx, const char *s, int n,
		      enum kc_sql_lifetime life)
{
	return st->ops->bind_text(st, idx, s, n, life);
}

int kc_stmt_bind_blob(struct kc_stmt *st, int idx, const void *p, size_t n,
		      enum kc_sql_lifetime life)
{
	return st->ops->bind_blob(st, idx, p, n, life);
}

int kc_stmt_bind_null(struct kc_stmt *st, int idx)
{
	return st->ops->bind_null(st, idx);
}

int kc_stmt_step(struct kc_stmt *st, struct kc_err *err)
{
	return st->ops->step(st, err);
}

int kc_stmt_reset(struct kc_stmt *st)
{
	/* NULL: a cached statement whose prepare failed (a lost connection),
	 * reset on the caller's one cleanup path (auth.c, overflow.c). */
	return st ? st->ops->reset(st) : KC_SQL_OK;
}

int kc_stmt_clear_bindings(struct kc_stmt *st)
{
	return st->ops->clear_bindings(st);
}

void kc_stmt_finalize(struct kc_stmt *st)
{
	if (st)
		st->ops->finalize(st);
}

int kc_stmt_column_count(struct kc_stmt *st)
{
	return st->ops->column_count(st);
}

const char *kc_stmt_column_name(struct kc_stmt *st, int col)
{
	return st->ops->column_name(st, col);
}

int kc_stmt_column_type(struct kc_stmt *st, int col)
{
	return st->ops->column_type(st, col);
}

int64_t kc_stmt_column_int64(struct kc_stmt *st, int col)
{
	return st->ops->column_int64(st, col);
}

int kc_stmt_column_int(struct kc_stmt *st, int col)
{
	return (int)st->ops->column_int64(st, col);
}

double kc_stmt_column_double(struct kc_stmt *st, int col)
{
	return st->ops->column_double(st, col);
}

const unsigned char *kc_stmt_column_text(struct kc_stmt *st, int col)
{
	return st->ops->column_text(st, col);
}

const void *kc_stmt_column_blob(struct kc_stmt *st, int col)
{
	return st->ops->column_blob(st, col);
}

int kc_stmt_column_bytes(struct kc_stmt *st, int col)
{
	return st->ops->column_bytes(st, col);
}
