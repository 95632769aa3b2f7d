/*
 * sql_sqlite.c - the SQLite backend of the storage interface (sql.h): a
 * connection wraps a sqlite3 handle, a statement a sqlite3_stmt, and every
 * call is the SQLite call of the same name. The SQLite-only facilities
 * live here and nowhere else: the connection setup (busy timeout, foreign
 * keys, incremental auto-vacuum, WAL, synchronous=FULL), the SQL aggregate
 * kc_roaring_or(blob) that migration 006 uses to union CRoaring portable
 * bitmaps (kcovd itself folds with kc_sql_union, sql_union.h), WAL
 * checkpoints taken out of COMMIT for the writer (a sqlite3_wal_hook:
 * kc_sql_defer_checkpoints, kc_sql_checkpoint_due), and the online backup
 * API behind `kcovd backup` and `kcovd restore`. This is the only file of
 * kcovd that includes sqlite3.h.
 *
 * sqlconv: native SQLite (the sqlconv.sh conversion leaves this file alone)
 */
#include "sql_impl.h"

#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>
#include <sqlite3.h>

#include "blob.h"
#include "wire.h"

struct kc_sqlite_stmt;

struct kc_sqlite_conn {
	struct kc_sql base;
	sqlite3 *db;
	struct kc_sqlite_stmt *stmts; /* every live statement, to close them all */
	int wal_pages;                /* at its last commit, with defer_checkpoints */
};

struct kc_sqlite_stmt {
	struct kc_stmt base;
	sqlite3_stmt *st;
	int cached;                         /* prepare_cached's: kc_sql_close frees it */
	struct kc_sqlite_stmt *prev, *next; /* in the connection's list */
};

static const struct kc_sql_ops sqlite_ops;

static struct kc_sqlite_conn *conn_of(struct kc_sql *conn)
{
	return (struct kc_sqlite_conn *)conn;
}

static sqlite3_stmt *st_of(struct kc_stmt *st)
{
	return ((struct kc_sqlite_stmt *)st)->st;
}

static enum kc_errc errc_of(sqlite3 *db)
{
	switch (db ? sqlite3_errcode(db) : SQLITE_NOMEM) {
	case SQLITE_FULL:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return KC_E_UNAVAILABLE;
	default:
		return KC_E_INTERNAL;
	}
}

static void s_close(struct kc_sql *conn)
{
	struct kc_sqlite_conn *c = conn_of(conn);

	while (c->stmts) {
		struct kc_sqlite_stmt *s = c->stmts;

		c->stmts = s->next;
		sqlite3_finalize(s->st);
		free(s);
	}
	sqlite3_close(c->db);
	free(c);
}

static const char *s_errmsg(struct kc_sql *conn)
{
	return sqlite3_errmsg(conn_of(conn)->db);
}

static enum kc_errc s_errc(struct kc_sql *conn)
{
	return errc_of(conn_of(conn)->db);
}

static int64_t s_changes(struct kc_sql *conn)
{
	return sqlite3_changes64(conn_of(conn)->db);
}

static int64_t s_last_insert_rowid(struct kc_sql *conn)
{
	return sqlite3_last_insert_rowid(conn_of(conn)->db);
}

static int s_in_transaction(struct kc_sql *conn)
{
	return !sqlite3_get_autocommit(conn_of(conn)->db);
}

static struct kc_stmt *wrap(struct kc_sqlite_conn *c, const char *sql, unsigned flags,
			    struct kc_err *err)
{
	struct kc_sqlite_stmt *s = calloc(1, sizeof(*s));

	if (!s) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, flags, &s->st, NULL) != SQLITE_OK) {
		kc_err_set(err, errc_of(c->db), "sqlite prepare: %s", sqlite3_errmsg(c->db));
		free(s);
		return NULL;
	}
	s->base.ops = &sqlite_ops;
	s->base.conn = &c->base;
	s->next = c->stmts;
	if (c->stmts)
		c->stmts->prev = s;
	c->stmts = s;
	return &s->base;
}

static struct kc_stmt *s_prepare(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	return wrap(conn_of(conn), sql, 0, err);
}

static struct kc_stmt *s_prepare_cached(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	struct kc_sqlite_conn *c = conn_of(conn);
	struct kc_stmt *st;

	for (struct kc_sqlite_stmt *s = c->stmts; s; s = s->next) {
		const char *text;

		if (!s->cached || sqlite3_stmt_busy(s->st))
			continue;
		text = sqlite3_sql(s->st);
		if (text && strcmp(text, sql) == 0) {
			sqlite3_reset(s->st);
			sqlite3_clear_bindings(s->st);
			return &s->base;
		}
	}
	st = wrap(c, sql, SQLITE_PREPARE_PERSISTENT, err);
	if (st)
		((struct kc_sqlite_stmt *)st)->cached = 1;
	return st;
}

static int s_exec(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	sqlite3 *db = conn_of(conn)->db;
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kc_err_set(err, errc_of(db), "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int s_bind_int64(struct kc_stmt *st, int idx, int64_t v)
{
	return sqlite3_bind_int64(st_of(st), idx, v);
}

static int s_bind_double(struct kc_stmt *st, int idx, double v)
{
	return sqlite3_bind_double(st_of(st), idx, v);
}

static int s_bind_text(struct kc_stmt *st, int idx, const char *s, int n,
		       enum kc_sql_lifetime life)
{
	return sqlite3_bind_text(st_of(st), idx, s, n,
				 life == KC_SQL_STATIC ? SQLITE_STATIC : SQLITE_TRANSIENT);
}

static int s_bind_blob(struct kc_stmt *st, int idx, const void *p, size_t n,
		       enum kc_sql_lifetime life)
{
	return sqlite3_bind_blob64(st_of(st), idx, p, n,
				   life == KC_SQL_STATIC ? SQLITE_STATIC : SQLITE_TRANSIENT);
}

static int s_bind_null(struct kc_stmt *st, int idx)
{
	return sqlite3_bind_null(st_of(st), idx);
}

static int s_step(struct kc_stmt *st, struct kc_err *err)
{
	int rc = sqlite3_step(st_of(st));
	sqlite3 *db;

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	db = conn_of(st->conn)->db;
	return kc_err_set(err, errc_of(db), "sqlite: %s", sqlite3_errmsg(db));
}

static int s_reset(struct kc_stmt *st)
{
	return sqlite3_reset(st_of(st));
}

static int s_clear_bindings(struct kc_stmt *st)
{
	return sqlite3_clear_bindings(st_of(st));
}

static void s_finalize(struct kc_stmt *st)
{
	struct kc_sqlite_stmt *s = (struct kc_sqlite_stmt *)st;
	struct kc_sqlite_conn *c = conn_of(st->conn);

	if (s->prev)
		s->prev->next = s->next;
	else
		c->stmts = s->next;
	if (s->next)
		s->next->prev = s->prev;
	sqlite3_finalize(s->st);
	free(s);
}

static int s_column_count(struct kc_stmt *st)
{
	return sqlite3_column_count(st_of(st));
}

static const char *s_column_name(struct kc_stmt *st, int col)
{
	return sqlite3_column_name(st_of(st), col);
}

/* SQLite's type codes are the KC_SQL_* values. */
static int s_column_type(struct kc_stmt *st, int col)
{
	return sqlite3_column_type(st_of(st), col);
}

static int64_t s_column_int64(struct kc_stmt *st, int col)
{
	return sqlite3_column_int64(st_of(st), col);
}

static double s_column_double(struct kc_stmt *st, int col)
{
	return sqlite3_column_double(st_of(st), col);
}

static const unsigned char *s_column_text(struct kc_stmt *st, int col)
{
	return sqlite3_column_text(st_of(st), col);
}

static const void *s_column_blob(struct kc_stmt *st, int col)
{
	return sqlite3_column_blob(st_of(st), col);
}

static int s_column_bytes(struct kc_stmt *st, int col)
{
	return sqlite3_column_bytes(st_of(st), col);
}

/* sqlite3_wal_hook of a connection whose checkpoints are deferred: runs
 * in its COMMIT with the WAL's size in pages. Installing it turns SQLite's
 * automatic checkpoint off (sqlite3_wal_autocheckpoint is such a hook). */
static int wal_pages_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct kc_sqlite_conn *c = arg;

	(void)db;
	(void)name;
	c->wal_pages = pages;
	return SQLITE_OK;
}

static int s_defer_checkpoints(struct kc_sql *conn, struct kc_err *err)
{
	struct kc_sqlite_conn *c = conn_of(conn);

	(void)err;
	sqlite3_wal_hook(c->db, wal_pages_hook, c);
	return 0;
}

/* PASSIVE takes no lock a reader waits for and copies what no reader
 * still needs; run by the writer between its transactions, no commit
 * lands during it, so it usually copies the whole WAL, and the writer's
 * next transaction starts the WAL from its beginning again. A partial or
 * failed checkpoint is retried after the next commit. */
static void s_checkpoint_due(struct kc_sql *conn)
{
	struct kc_sqlite_conn *c = conn_of(conn);
	int log = -1, done = -1;

	if (c->wal_pages < KC_SQL_CHECKPOINT_PAGES)
		return;
	if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
		    SQLITE_OK &&
	    log == done)
		c->wal_pages = 0;
}

static const struct kc_sql_ops sqlite_ops = {
	.backend = KC_SQL_SQLITE,
	.close = s_close,
	.defer_checkpoints = s_defer_checkpoints,
	.checkpoint_due = s_checkpoint_due,
	.errmsg = s_errmsg,
	.errc = s_errc,
	.changes = s_changes,
	.last_insert_rowid = s_last_insert_rowid,
	.in_transaction = s_in_transaction,
	.prepare = s_prepare,
	.exec = s_exec,
	.prepare_cached = s_prepare_cached,
	.bind_int64 = s_bind_int64,
	.bind_double = s_bind_double,
	.bind_text = s_bind_text,
	.bind_blob = s_bind_blob,
	.bind_null = s_bind_null,
	.step = s_step,
	.reset = s_reset,
	.clear_bindings = s_clear_bindings,
	.finalize = s_finalize,
	.column_count = s_column_count,
	.column_name = s_column_name,
	.column_type = s_column_type,
	.column_int64 = s_column_int64,
	.column_double = s_column_double,
	.column_text = s_column_text,
	.column_blob = s_column_blob,
	.column_bytes = s_column_bytes,
};

/* kc_roaring_or(bits): the aggregate's state is the union so far. */
static void roaring_or_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	roaring_bitmap_t **acc = sqlite3_aggregate_context(ctx, sizeof(*acc));
	roaring_bitmap_t *b;

	(void)argc;
	if (!acc) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	b = kc_bitmap_from_blob(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]));
	if (!b) {
		sqlite3_result_error(ctx, "kc_roaring_or: not a portable bitmap", -1);
		return;
	}
	if (*acc) {
		roaring_bitmap_or_inplace(*acc, b);
		kc_bitmap_free(b);
	} else {
		*acc = b;
	}
}

static void roaring_or_final(sqlite3_context *ctx)
{
	roaring_bitmap_t **acc = sqlite3_aggregate_context(ctx, 0);
	roaring_bitmap_t *u = acc && *acc ? *acc : roaring_bitmap_create();
	size_t n;
	void *out;

	if (!u) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	roaring_bitmap_run_optimize(u);
	out = kc_bitmap_to_blob(u, &n);
	if (!out)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob(ctx, out, (int)n, free);
	kc_bitmap_free(u);
}

/* A connection on path with flags, configured when setup is set. */
static struct kc_sql *open_conn(const char *path, int flags, int setup, int readonly,
				struct kc_err *err)
{
	struct kc_sqlite_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	c->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		kc_err_set(err, KC_E_UNAVAILABLE, "%s: %s", path,
			   c->db ? sqlite3_errmsg(c->db) : "cannot open");
		goto fail;
	}
	if (!setup)
		return &c->base;
	sqlite3_busy_timeout(c->db, 10000);
	if (sqlite3_create_function(c->db, "kc_roaring_or", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    NULL, NULL, roaring_or_step, roaring_or_final) != SQLITE_OK) {
		kc_err_set(err, errc_of(c->db), "sqlite: %s", sqlite3_errmsg(c->db));
		goto fail;
	}
	if (s_exec(&c->base, "PRAGMA foreign_keys = ON", err) < 0)
		goto fail;
	/* auto_vacuum first: a new file takes it only before its first write
	 * (WAL mode is one); on an existing file it waits for a VACUUM. */
	if (!readonly && s_exec(&c->base, "PRAGMA auto_vacuum = INCREMENTAL; "
					  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL",
				err) < 0)
		goto fail;
	return &c->base;
fail:
	s_close(&c->base);
	return NULL;
}

struct kc_sql *kc_sql_sqlite_open(const char *path, int readonly, struct kc_err *err)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	return open_conn(path, flags, 1, readonly, err);
}

struct kc_sql *kc_sql_sqlite_open_plain(const char *path, int readonly, struct kc_err *err)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	return open_conn(path, flags, 0, readonly, err);
}

int kc_sql_sqlite_copy(struct kc_sql *src, struct kc_sql *dst, const char *what,
		       struct kc_err *err)
{
	sqlite3_backup *b;
	sqlite3 *d;
	int rc;

	if (src->ops != &sqlite_ops || dst->ops != &sqlite_ops)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: only a SQLite database can be copied "
						       "page by page", what);
	d = conn_of(dst)->db;
	b = sqlite3_backup_init(d, "main", conn_of(src)->db, "main");
	if (!b)
		return kc_err_set(err, errc_of(d), "%s: %s", what, sqlite3_errmsg(d));
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return kc_err_set(err, rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? KC_E_UNAVAILABLE
										: errc_of(d),
				  "%s: %s", what, sqlite3_errstr(rc));
	return 0;
}
