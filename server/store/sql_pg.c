/*
 * sql_pg.c - the PostgreSQL backend of the storage interface (sql.h), on
 * libpq: one PGconn per kc_sql connection, and SQLite's calls given their
 * SQLite meaning over prepared statements.
 *
 *  - kc_sql_prepare rewrites `?`/`?N` to `$N` outside string literals,
 *    quoted identifiers, comments and dollar quotes, and the bare word
 *    binary (a column of the schema, a reserved word on PostgreSQL) to
 *    "binary", so the portable SQL runs unchanged; it prepares the text
 *    once per connection (PQprepare + PQdescribePrepared, cached by SQL
 *    text, so preparing the same text again costs no round trip). A text
 *    of several statements without parameters (a migration) is not
 *    prepared: its step runs it whole with PQexec and returns KC_DONE.
 *  - A parameter the server cannot type from its first use (`? IS NULL`)
 *    is given the first of text, bigint, double, bytea that prepares.
 *    Bound values are kept as SQLite values and encoded at the step
 *    for the parameter type the server inferred (binary int2/int4/int8/float4/
 *    float8/bool/text/bytea; the text form for any other type, which the
 *    server parses), so `?` works wherever PostgreSQL can type it.
 *  - The first step runs PQexecPrepared with binary results; column calls
 *    decode int2/int4/int8/oid/bool/float4/float8/numeric/text/varchar/
 *    bytea by column type OID and convert like SQLite (an integer read as
 *    text is its decimal form, a text read as an integer its leading
 *    number).
 *  - Errors: KC_E_UNAVAILABLE for a lost connection and for SQLSTATE
 *    classes 08 (connection), 53 (resources), 57P (shutdown), 40001/40P01
 *    (serialization, deadlock) and 25006 (read-only); KC_E_INTERNAL else.
 *    After a lost connection the next call resets it (PQreset) and
 *    re-prepares the cached statements on demand, so the service recovers
 *    by itself once the server is back. Nothing is retried silently: the
 *    failed call's caller decides (a write may have committed before the
 *    connection dropped).
 *  - last_insert_rowid is `SELECT lastval()` (inside a savepoint when in a
 *    transaction, so a session without a sequence use does not abort it);
 *    unlike SQLite it also moves on an INSERT that ON CONFLICT skipped.
 *  - Every session runs with synchronous_commit on (a COMMIT returns once
 *    the WAL is flushed); readonly sets default_transaction_read_only.
 *
 * Why one file (about 1,240 lines): it is one backend, one table of
 * functions (sql_impl.h) over one PGconn: parameter rewriting, binary
 * encoding and decoding, the statement cache and error mapping all work
 * on the same private connection and statement structs.
 */
#include "sql_impl.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grow.h"

/* Type OIDs (pg_type.dat; stable across versions). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_NAME 19
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_UNKNOWN 705
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_NUMERIC 1700

/* SQLite's result codes for the bind calls. */
#define RC_NOMEM 7
#define RC_RANGE 25

/* One prepared statement of the connection, shared by every kc_stmt of
 * the same SQL text; owned by the connection until it closes. */
struct pg_entry {
	char *sql;	 /* the caller's text (the cache key) */
	char *pgsql;	 /* with $N parameters */
	char name[24];	 /* server-side name */
	int nparams;
	int multi;	 /* several statements, no parameters: PQexec */
	Oid *ptypes;	 /* nparams inferred types */
	PGresult *desc;	 /* PQdescribePrepared: column names and count */
	unsigned gen;	 /* connection generation it was prepared in */
};

struct pg_conn {
	struct kc_sql base;
	PGconn *pg;
	int readonly;
	unsigned gen; /* bumped by every reset: the server forgot its statements */
	struct pg_entry **entries;
	size_t nentries, capentries;
	struct pg_stmt *stmts; /* every live statement, to close them all */
	char msg[KC_ERR_MAX];
	enum kc_errc errc;
	int64_t changes;
};

enum pg_kind { V_NULL, V_INT, V_FLOAT, V_TEXT, V_BLOB };

struct pg_val {
	enum pg_kind kind;
	int64_t i;
	double d;
	const char *p; /* text or blob bytes (owned when own) */
	size_t n;
	int own;
	char wire[40]; /* binary or text encoding made at the step */
	char *text;    /* NUL-terminated copy of text bound for the text form */
};

struct pg_stmt {
	struct kc_stmt base;
	struct pg_entry *e;
	struct pg_val *vals; /* e->nparams */
	PGresult *res;	     /* the executed statement's rows */
	enum { ST_READY, ST_ROWS, ST_DONE } state;
	int row, nrows;
	char (*conv)[40];    /* per column: a number's text form */
	int cached;	     /* prepare_cached's: kc_sql_close frees it */
	struct pg_stmt *prev, *next; /* in the connection's list */
};

static const struct kc_sql_ops pg_ops;

static struct pg_conn *pconn(struct kc_sql *c)
{
	return (struct pg_conn *)c;
}

static struct pg_stmt *pstmt(struct kc_stmt *s)
{
	return (struct pg_stmt *)s;
}

/* Record a failure on the connection: the message (trimmed) and its code
 * from the result's SQLSTATE, or from the connection state. */
static void pg_fail(struct pg_conn *c, const PGresult *res, const char *what)
{
	const char *m = res ? PQresultErrorMessage(res) : "";
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!m || !*m)
		m = PQerrorMessage(c->pg);
	snprintf(c->msg, sizeof(c->msg), "%s%s%s", what ? what : "", what ? ": " : "",
		 m && *m ? m : "unknown error");
	size_t n = strlen(c->msg);
	while (n && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
		c->msg[--n] = '\0';
	c->errc = KC_E_INTERNAL;
	if (PQstatus(c->pg) == CONNECTION_BAD)
		c->errc = KC_E_UNAVAILABLE;
	else if (state && (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) ||
			   !strncmp(state, "57P", 3) || !strcmp(state, "40001") ||
			   !strcmp(state, "40P01") || !strcmp(state, "25006")))
		c->errc = KC_E_UNAVAILABLE;
}

static void pg_notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The settings every session gets, at open and after a reset. */
static int pg_session(struct pg_conn *c)
{
	const char *sql = c->readonly ? "SET synchronous_commit = on; "
					"SET default_transaction_read_only = on"
				      : "SET synchronous_commit = on";
	PGresult *res = PQexec(c->pg, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(c, res, "session settings");
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Before every call that talks to the server: a connection found lost is
 * reset (and its statements forgotten by the server). */
static int pg_ready(struct pg_conn *c)
{
	if (PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		pg_fail(c, NULL, "connection lost");
		return -1;
	}
	c->gen++;
	return pg_session(c);
}

/* --- parameter rewriting ------------------------------------------------ */

/* The length of a dollar-quote tag ($tag$ or $$) starting at s, or 0. */
static size_t dollar_tag(const char *s)
{
	size_t i = 1;

	if (s[0] != '$')
		return 0;
	while (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	       (i > 1 && s[i] >= '0' && s[i] <= '9'))
		i++;
	return s[i] == '$' ? i + 1 : 0;
}

/* sql with ?/?N turned into $N; *nparams the highest index, *multi whether
 * there is a statement after a top-level ';'. NULL on bad input or OOM. */
static char *rewrite(const char *sql, int *nparams, int *multi, struct kc_err *err)
{
	size_t len = strlen(sql), o = 0;
	/* "?" becomes at most "$32766": 7 bytes for 1. */
	char *out = malloc(len * 7 + 1);
	int max = 0, semi = 0;

	*multi = 0;
	if (!out) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len;) {
		char ch = sql[i];
		size_t tag;

		if (ch == '\'' || ch == '"') {
			size_t j = i + 1;
			while (j < len && !(sql[j] == ch && sql[j + 1] != ch))
				j += sql[j] == ch ? 2 : 1;
			j = j < len ? j + 1 : len;
			memcpy(out + o, sql + i, j - i);
			o += j - i;
			i = j;
			if (semi)
				*multi = 1;
			continue;
		}
		if (ch == '-' && sql[i + 1] == '-') {
			while (i < len && sql[i] != '\n')
				out[o++] = sql[i++];
			continue;
		}
		if (ch == '/' && sql[i + 1] == '*') {
			const char *end = strstr(sql + i + 2, "*/");
			size_t j = end ? (size_t)(end - sql) + 2 : len;
			memcpy(out + o, sql + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		if ((tag = dollar_tag(sql + i)) != 0) {
			char t[64];
			const char *end;
			size_t j;

			if (tag >= sizeof(t)) {
				free(out);
				kc_err_set(err, KC_E_INTERNAL, "dollar quote tag too long");
				return NULL;
			}
			memcpy(t, sql + i, tag);
			t[tag] = '\0';
			end = strstr(sql + i + tag, t);
			j = end ? (size_t)(end - sql) + tag : len;
			memcpy(out + o, sql + i, j - i);
			o += j - i;
			i = j;
			if (semi)
				*multi = 1;
			continue;
		}
		if (ch == '?') {
			int idx;
			size_t j = i + 1;

			if (sql[j] >= '0' && sql[j] <= '9') {
				long v = 0;
				while (sql[j] >= '0' && sql[j] <= '9' && v < 100000)
					v = v * 10 + (sql[j++] - '0');
				if (v < 1 || v > 32766) {
					free(out);
					kc_err_set(err, KC_E_INTERNAL, "bad parameter index in SQL");
					return NULL;
				}
				idx = (int)v;
			} else {
				idx = max + 1;
			}
			if (idx > max)
				max = idx;
			o += (size_t)snprintf(out + o, 8, "$%d", idx);
			i = j;
			if (semi)
				*multi = 1;
			continue;
		}
		if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
			size_t j = i;
			while (j < len && (sql[j] == '_' || sql[j] == '$' ||
					   (sql[j] >= 'a' && sql[j] <= 'z') ||
					   (sql[j] >= 'A' && sql[j] <= 'Z') ||
					   (sql[j] >= '0' && sql[j] <= '9')))
				j++;
			/* The schema's column "binary" is a reserved word here. */
			if (j - i == 6 && !strncasecmp(sql + i, "binary", 6)) {
				memcpy(out + o, "\"binary\"", 8);
				o += 8;
			} else {
				memcpy(out + o, sql + i, j - i);
				o += j - i;
			}
			i = j;
			if (semi)
				*multi = 1;
			continue;
		}
		if (ch == ';')
			semi = 1;
		else if (semi && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			*multi = 1;
		out[o++] = ch;
		i++;
	}
	out[o] = '\0';
	*nparams = max;
	return out;
}

/* --- connection --------------------------------------------------------- */

struct kc_sql *kc_sql_pg_open(const char *conninfo, int readonly, struct kc_err *err)
{
	struct pg_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	c->base.ops = &pg_ops;
	c->readonly = readonly;
	c->pg = PQconnectdb(conninfo);
	if (!c->pg) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	PQsetNoticeProcessor(c->pg, pg_notice_drop, NULL);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		pg_fail(c, NULL, NULL);
		kc_err_set(err, KC_E_UNAVAILABLE, "cannot connect to PostgreSQL: %s", c->msg);
		goto fail;
	}
	if (pg_session(c) < 0) {
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		goto fail;
	}
	return &c->base;
fail:
	PQfinish(c->pg);
	free(c);
	return NULL;
}

static void pg_finalize(struct kc_stmt *st);

static void pg_close(struct kc_sql *conn)
{
	struct pg_conn *c = pconn(conn);

	while (c->stmts)
		pg_finalize(&c->stmts->base);

	for (size_t i = 0; i < c->nentries; i++) {
		struct pg_entry *e = c->entries[i];
		free(e->sql);
		free(e->pgsql);
		free(e->ptypes);
		PQclear(e->desc);
		free(e);
	}
	free(c->entries);
	PQfinish(c->pg);
	free(c);
}

static const char *pg_errmsg(struct kc_sql *conn)
{
	return pconn(conn)->msg;
}

static enum kc_errc pg_errc(struct kc_sql *conn)
{
	return pconn(conn)->errc;
}

static int64_t pg_changes(struct kc_sql *conn)
{
	return pconn(conn)->changes;
}

static int64_t pg_exec_int(struct pg_conn *c, const char *sql, int *ok)
{
	PGresult *res = PQexec(c->pg, sql);
	int64_t v = 0;

	*ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (*ok)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (PQresultStatus(res) != PGRES_COMMAND_OK)
		*ok = 0;
	PQclear(res);
	return v;
}

static int64_t pg_last_insert_rowid(struct kc_sql *conn)
{
	struct pg_conn *c = pconn(conn);
	int in_tx, ok;
	int64_t v;

	if (pg_ready(c) < 0)
		return 0;
	in_tx = PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
	if (in_tx) {
		PQclear(PQexec(c->pg, "SAVEPOINT kc_lastval"));
		v = pg_exec_int(c, "SELECT lastval()", &ok);
		PQclear(PQexec(c->pg, ok ? "RELEASE SAVEPOINT kc_lastval"
					 : "ROLLBACK TO SAVEPOINT kc_lastval; "
					   "RELEASE SAVEPOINT kc_lastval"));
	} else {
		v = pg_exec_int(c, "SELECT lastval()", &ok);
	}
	return ok ? v : 0;
}

static int pg_in_transaction(struct kc_sql *conn)
{
	PGTransactionStatusType t = PQtransactionStatus(pconn(conn)->pg);

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Prepare e on the server (again, after a reset). */
static int pg_server_prepare(struct pg_conn *c, struct pg_entry *e)
{
	PGresult *res;

	if (e->multi) {
		e->gen = c->gen;
		return 0;
	}
	/* A parameter the server cannot type from its first use (`?1 IS NULL
	 * OR x = ?1`) gets a type here: text, then bigint, double, bytea,
	 * until the statement prepares (an odometer over the parameters
	 * found untyped, so later uses decide). */
	static const Oid cand[] = { OID_TEXT, OID_INT8, OID_FLOAT8, OID_BYTEA };
	int forced[8], nforced = 0, pick[8] = {0};
	/* Inside a transaction a failed PQprepare aborts it: the tries run in
	 * a savepoint, rolled back after each failure, so preparing leaves
	 * the transaction as it was (as on SQLite) whether it succeeds or not. */
	int sp = PQtransactionStatus(c->pg) == PQTRANS_INTRANS;

	if (sp)
		PQclear(PQexec(c->pg, "SAVEPOINT kc_prepare"));
	for (int tries = 0;; tries++) {
		const char *state, *m, *dollar;
		long n;

		res = PQprepare(c->pg, e->name, e->pgsql, e->nparams, e->ptypes);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			break;
		if (sp)
			PQclear(PQexec(c->pg, "ROLLBACK TO SAVEPOINT kc_prepare"));
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		dollar = m ? strchr(m, '$') : NULL;
		n = dollar ? strtol(dollar + 1, NULL, 10) : 0;
		if (tries < 64 && state && (!strcmp(state, "42P18") || !strcmp(state, "42P08")) && n >= 1 && n <= e->nparams &&
		    !e->ptypes[n - 1] && nforced < 8) {
			forced[nforced] = (int)n - 1;
			pick[nforced] = 0;
			e->ptypes[n - 1] = cand[0];
			nforced++;
			PQclear(res);
			continue;
		}
		if (tries < 64 && state && nforced &&
		    (!strcmp(state, "42883") || !strcmp(state, "42804") || !strcmp(state, "42725"))) {
			int k = nforced - 1;

			while (k >= 0 && pick[k] == (int)(sizeof(cand) / sizeof(cand[0])) - 1) {
				pick[k] = 0;
				e->ptypes[forced[k]] = cand[0];
				k--;
			}
			if (k >= 0) {
				pick[k]++;
				e->ptypes[forced[k]] = cand[pick[k]];
				PQclear(res);
				continue;
			}
		}
		pg_fail(c, res, NULL);
		PQclear(res);
		if (sp)
			PQclear(PQexec(c->pg, "RELEASE SAVEPOINT kc_prepare"));
		for (int k = 0; k < nforced; k++)
			e->ptypes[forced[k]] = 0;
		return -1;
	}
	PQclear(res);
	if (sp)
		PQclear(PQexec(c->pg, "RELEASE SAVEPOINT kc_prepare"));
	res = PQdescribePrepared(c->pg, e->name);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(c, res, NULL);
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < e->nparams && i < PQnparams(res); i++)
		e->ptypes[i] = PQparamtype(res, i);
	PQclear(e->desc);
	e->desc = res;
	e->gen = c->gen;
	return 0;
}

static struct pg_entry *pg_entry_get(struct pg_conn *c, const char *sql, struct kc_err *err)
{
	struct pg_entry *e;

	for (size_t i = 0; i < c->nentries; i++)
		if (!strcmp(c->entries[i]->sql, sql))
			return c->entries[i];
	e = calloc(1, sizeof(*e));
	if (!e || KC_GROW(c->entries, c->capentries, c->nentries + 1) < 0) {
		free(e);
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	e->sql = strdup(sql);
	e->pgsql = e->sql ? rewrite(sql, &e->nparams, &e->multi, err) : NULL;
	if (e->pgsql && e->multi && e->nparams) {
		kc_err_set(err, KC_E_INTERNAL, "several statements with parameters in one text");
		goto fail;
	}
	e->ptypes = calloc((size_t)e->nparams + 1, sizeof(Oid));
	if (!e->sql || !e->pgsql || !e->ptypes) {
		if (err && !err->code)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	snprintf(e->name, sizeof(e->name), "kc%zu", c->nentries);
	e->gen = c->gen - 1;
	if (pg_server_prepare(c, e) < 0) {
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		goto fail;
	}
	c->entries[c->nentries++] = e;
	return e;
fail:
	free(e->sql);
	free(e->pgsql);
	free(e->ptypes);
	free(e);
	return NULL;
}

static struct kc_stmt *pg_prepare(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	struct pg_conn *c = pconn(conn);
	struct pg_stmt *s;
	struct pg_entry *e;

	if (pg_ready(c) < 0) {
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		return NULL;
	}
	e = pg_entry_get(c, sql, err);
	if (!e)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s)
		s->vals = calloc((size_t)e->nparams + 1, sizeof(*s->vals));
	if (!s || !s->vals) {
		free(s);
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	s->base.ops = &pg_ops;
	s->base.conn = conn;
	s->e = e;
	s->next = c->stmts;
	if (c->stmts)
		c->stmts->prev = s;
	c->stmts = s;
	return &s->base;
}

static int pg_reset(struct kc_stmt *st);
static int pg_clear_bindings(struct kc_stmt *st);
static int pg_set_changes(struct pg_conn *c, PGresult *res);

/* A statement still being stepped is not handed out twice (sql.h). */
static struct kc_stmt *pg_prepare_cached(struct kc_sql *conn, const char *sql,
					 struct kc_err *err)
{
	struct pg_conn *c = pconn(conn);
	struct kc_stmt *st;

	for (struct pg_stmt *s = c->stmts; s; s = s->next)
		if (s->cached && s->state != ST_ROWS && !strcmp(s->e->sql, sql)) {
			pg_reset(&s->base);
			pg_clear_bindings(&s->base);
			return &s->base;
		}
	st = pg_prepare(conn, sql, err);
	if (st)
		pstmt(st)->cached = 1;
	return st;
}

/* Several statements without parameters, run whole (migrations, BEGIN);
 * rows are discarded. The text gets the same rewriting as a prepared one
 * (binary quoted), and SQLite's BEGIN IMMEDIATE is PostgreSQL's BEGIN
 * (writers serialize on row and advisory locks instead). */
static int pg_exec(struct kc_sql *conn, const char *sql, struct kc_err *err)
{
	struct pg_conn *c = pconn(conn);
	int nparams, multi, rc = -1;
	char *text = NULL;
	PGresult *res = NULL;
	ExecStatusType st;

	if (pg_ready(c) < 0) {
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		return -1;
	}
	if (!strncasecmp(sql, "BEGIN IMMEDIATE", 15) || !strncasecmp(sql, "BEGIN EXCLUSIVE", 15))
		sql = "BEGIN";
	text = rewrite(sql, &nparams, &multi, err);
	if (!text)
		return -1;
	if (nparams) {
		kc_err_set(err, KC_E_INTERNAL, "exec with parameters");
		goto out;
	}
	res = PQexec(c->pg, text);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		pg_fail(c, res, NULL);
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		goto out;
	}
	pg_set_changes(c, res);
	rc = 0;
out:
	PQclear(res);
	free(text);
	return rc;
}

/* --- binding ------------------------------------------------------------ */

static struct pg_val *pg_val(struct kc_stmt *st, int idx)
{
	struct pg_stmt *s = pstmt(st);

	if (idx < 1 || idx > s->e->nparams)
		return NULL;
	return &s->vals[idx - 1];
}

static void val_clear(struct pg_val *v)
{
	if (v->own)
		free((void *)v->p);
	free(v->text);
	memset(v, 0, sizeof(*v));
}

static int pg_bind_int64(struct kc_stmt *st, int idx, int64_t x)
{
	struct pg_val *v = pg_val(st, idx);

	if (!v)
		return RC_RANGE;
	val_clear(v);
	v->kind = V_INT;
	v->i = x;
	return KC_SQL_OK;
}

static int pg_bind_double(struct kc_stmt *st, int idx, double x)
{
	struct pg_val *v = pg_val(st, idx);

	if (!v)
		return RC_RANGE;
	val_clear(v);
	v->kind = V_FLOAT;
	v->d = x;
	return KC_SQL_OK;
}

static int pg_bind_bytes(struct kc_stmt *st, int idx, enum pg_kind kind, const void *p, size_t n,
			 enum kc_sql_lifetime life)
{
	struct pg_val *v = pg_val(st, idx);

	if (!v)
		return RC_RANGE;
	val_clear(v);
	if (!p && kind == V_TEXT)
		return KC_SQL_OK; /* NULL text is SQL NULL */
	v->kind = kind;
	v->n = n;
	v->p = p ? p : "";
	if (life == KC_SQL_TRANSIENT && n) {
		char *copy = malloc(n);
		if (!copy) {
			v->kind = V_NULL;
			return RC_NOMEM;
		}
		memcpy(copy, p, n);
		v->p = copy;
		v->own = 1;
	}
	return KC_SQL_OK;
}

static int pg_bind_text(struct kc_stmt *st, int idx, const char *s, int n,
			enum kc_sql_lifetime life)
{
	return pg_bind_bytes(st, idx, V_TEXT, s, s ? (n < 0 ? strlen(s) : (size_t)n) : 0, life);
}

static int pg_bind_blob(struct kc_stmt *st, int idx, const void *p, size_t n,
			enum kc_sql_lifetime life)
{
	return pg_bind_bytes(st, idx, V_BLOB, p, n, life);
}

static int pg_bind_null(struct kc_stmt *st, int idx)
{
	struct pg_val *v = pg_val(st, idx);

	if (!v)
		return RC_RANGE;
	val_clear(v);
	return KC_SQL_OK;
}

static void put_be(char *out, uint64_t x, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, x >>= 8)
		out[i] = (char)(x & 0xff);
}

static uint64_t get_be(const char *in, int bytes)
{
	uint64_t x = 0;

	for (int i = 0; i < bytes; i++)
		x = x << 8 | (unsigned char)in[i];
	return x;
}

static int is_text_oid(Oid t)
{
	return t == OID_TEXT || t == OID_VARCHAR || t == OID_BPCHAR || t == OID_NAME ||
	       t == OID_UNKNOWN;
}

/* Encode v for a parameter of type t: value, length and format for
 * PQexecPrepared. */
static int encode(struct pg_val *v, Oid t, const char **val, int *len, int *fmt)
{
	*fmt = 1;
	switch (v->kind) {
	case V_NULL:
		*val = NULL;
		*len = 0;
		return 0;
	case V_INT:
		if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2 || t == OID_OID) {
			int bytes = t == OID_INT8 ? 8 : t == OID_INT2 ? 2 : 4;
			int64_t lo = bytes == 2 ? INT16_MIN : INT32_MIN;
			int64_t hi = bytes == 2 ? INT16_MAX : t == OID_OID ? UINT32_MAX : INT32_MAX;
			if (bytes < 8 && (v->i < lo || v->i > hi))
				break; /* the server's range error, from the text form */
			put_be(v->wire, (uint64_t)v->i, bytes);
			*len = bytes;
		} else if (t == OID_BOOL) {
			v->wire[0] = v->i != 0;
			*len = 1;
		} else if (t == OID_FLOAT8) {
			double d = (double)v->i;
			uint64_t b;
			memcpy(&b, &d, 8);
			put_be(v->wire, b, 8);
			*len = 8;
		} else {
			break;
		}
		*val = v->wire;
		return 0;
	case V_FLOAT:
		if (t == OID_FLOAT8 || t == OID_FLOAT4) {
			uint64_t b;
			if (t == OID_FLOAT8) {
				memcpy(&b, &v->d, 8);
				put_be(v->wire, b, 8);
				*len = 8;
			} else {
				float f = (float)v->d;
				uint32_t b4;
				memcpy(&b4, &f, 4);
				put_be(v->wire, b4, 4);
				*len = 4;
			}
			*val = v->wire;
			return 0;
		}
		break;
	case V_TEXT:
	case V_BLOB:
		if (is_text_oid(t) || t == OID_BYTEA) {
			*val = v->p;
			*len = (int)v->n;
			return 0;
		}
		break;
	}
	/* The text form: the server parses it as its type. */
	*fmt = 0;
	*len = 0;
	if (v->kind == V_INT) {
		snprintf(v->wire, sizeof(v->wire), "%" PRId64, v->i);
		*val = v->wire;
	} else if (v->kind == V_FLOAT) {
		snprintf(v->wire, sizeof(v->wire), "%.17g", v->d);
		*val = v->wire;
	} else {
		free(v->text);
		v->text = malloc(v->n + 1);
		if (!v->text)
			return -1;
		memcpy(v->text, v->p, v->n);
		v->text[v->n] = '\0';
		*val = v->text;
	}
	return 0;
}

/* --- running ------------------------------------------------------------ */

static int pg_set_changes(struct pg_conn *c, PGresult *res)
{
	const char *tag = PQcmdStatus(res);

	if (!strncmp(tag, "INSERT", 6) || !strncmp(tag, "UPDATE", 6) ||
	    !strncmp(tag, "DELETE", 6) || !strncmp(tag, "MERGE", 5))
		c->changes = strtoll(PQcmdTuples(res), NULL, 10);
	return 0;
}

static int pg_execute(struct pg_stmt *s, struct kc_err *err)
{
	struct pg_conn *c = pconn(s->base.conn);
	struct pg_entry *e = s->e;
	int n = e->nparams, rc = -1;
	const char **vals = calloc((size_t)n + 1, sizeof(*vals));
	int *lens = calloc((size_t)n + 1, sizeof(*lens));
	int *fmts = calloc((size_t)n + 1, sizeof(*fmts));
	PGresult *res = NULL;
	ExecStatusType st;

	if (!vals || !lens || !fmts) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (pg_ready(c) < 0 || (e->gen != c->gen && pg_server_prepare(c, e) < 0)) {
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (encode(&s->vals[i], e->ptypes[i], &vals[i], &lens[i], &fmts[i]) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
	if (e->multi)
		res = PQexec(c->pg, e->pgsql);
	else
		res = PQexecPrepared(c->pg, e->name, n, vals, lens, fmts, 1);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		pg_fail(c, res, NULL);
		kc_err_set(err, c->errc, "postgresql: %s", c->msg);
		PQclear(res);
		goto out;
	}
	pg_set_changes(c, res);
	if (e->multi || st == PGRES_COMMAND_OK) {
		PQclear(res);
		res = NULL;
	}
	s->res = res;
	s->nrows = res ? PQntuples(res) : 0;
	s->row = 0;
	free(s->conv);
	s->conv = res ? calloc((size_t)PQnfields(res) + 1, sizeof(*s->conv)) : NULL;
	if (res && !s->conv) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(vals);
	free(lens);
	free(fmts);
	return rc;
}

static int pg_reset(struct kc_stmt *st)
{
	struct pg_stmt *s = pstmt(st);

	PQclear(s->res);
	s->res = NULL;
	s->state = ST_READY;
	s->row = s->nrows = 0;
	return KC_SQL_OK;
}

/* Like sqlite3_step: the first step runs the statement; a step after
 * KC_DONE or an error runs it again (SQLite's automatic reset). */
static int pg_step(struct kc_stmt *st, struct kc_err *err)
{
	struct pg_stmt *s = pstmt(st);

	if (s->state == ST_ROWS) {
		s->row++;
	} else {
		pg_reset(st);
		if (pg_execute(s, err) < 0)
			return -1;
		s->state = ST_ROWS;
	}
	if (s->row < s->nrows)
		return KC_ROW;
	PQclear(s->res);
	s->res = NULL;
	s->state = ST_DONE;
	return KC_DONE;
}

static int pg_clear_bindings(struct kc_stmt *st)
{
	struct pg_stmt *s = pstmt(st);

	for (int i = 0; i < s->e->nparams; i++)
		val_clear(&s->vals[i]);
	return KC_SQL_OK;
}

static void pg_finalize(struct kc_stmt *st)
{
	struct pg_stmt *s = pstmt(st);
	struct pg_conn *c = pconn(st->conn);

	if (s->prev)
		s->prev->next = s->next;
	else
		c->stmts = s->next;
	if (s->next)
		s->next->prev = s->prev;

	pg_clear_bindings(st);
	PQclear(s->res);
	free(s->vals);
	free(s->conv);
	free(s);
}

/* --- columns ------------------------------------------------------------ */

static int pg_column_count(struct kc_stmt *st)
{
	struct pg_stmt *s = pstmt(st);

	if (s->res)
		return PQnfields(s->res);
	return s->e->desc ? PQnfields(s->e->desc) : 0;
}

static const char *pg_column_name(struct kc_stmt *st, int col)
{
	struct pg_stmt *s = pstmt(st);
	const PGresult *r = s->res ? s->res : s->e->desc;

	return r && col >= 0 && col < PQnfields(r) ? PQfname(r, col) : NULL;
}

/* The current row's value of col, or NULL for SQL NULL / no row. */
static const char *cell(struct pg_stmt *s, int col, int *len, Oid *type)
{
	if (!s->res || s->row < 0 || s->row >= s->nrows || col < 0 || col >= PQnfields(s->res) ||
	    PQgetisnull(s->res, s->row, col))
		return NULL;
	*len = PQgetlength(s->res, s->row, col);
	*type = PQftype(s->res, col);
	return PQgetvalue(s->res, s->row, col);
}

/* A binary numeric: *i when it is an integer that fits, else only *d.
 * Returns 1 for an integer, 0 for a fraction (or a huge value), -1 bad. */
static int numeric_decode(const char *p, int len, int64_t *i, double *d)
{
	int nd, weight, sign, dscale, exact = 1;
	int64_t acc = 0;
	double dv = 0;

	if (len < 8)
		return -1;
	nd = (int16_t)get_be(p, 2);
	weight = (int16_t)get_be(p + 2, 2);
	sign = (int)get_be(p + 4, 2);
	dscale = (int16_t)get_be(p + 6, 2);
	if (nd < 0 || len < 8 + 2 * nd)
		return -1;
	if (sign == 0xC000) {
		*d = 0.0 / 0.0;
		*i = 0;
		return 0;
	}
	for (int k = 0; k < nd; k++) {
		int digit = (int)get_be(p + 8 + 2 * k, 2), w = weight - k;
		double m = 1;
		for (int e = 0; e < (w < 0 ? -w : w); e++)
			m *= 10000;
		dv += w < 0 ? digit / m : digit * m;
		if (w < 0 && digit)
			exact = 0;
	}
	/* The integer part exactly, when it fits. */
	for (int w = weight; w >= 0 && exact; w--) {
		int k = weight - w;
		int digit = k < nd ? (int)get_be(p + 8 + 2 * k, 2) : 0;
		if (__builtin_mul_overflow(acc, 10000, &acc) || __builtin_add_overflow(acc, digit, &acc))
			exact = 0;
	}
	*d = sign == 0x4000 ? -dv : dv;
	*i = exact ? (sign == 0x4000 ? -acc : acc) : (int64_t)*d;
	return exact && dscale == 0;
}

static int pg_column_type(struct kc_stmt *st, int col)
{
	int len;
	Oid t;
	const char *p = cell(pstmt(st), col, &len, &t);
	int64_t i;
	double d;

	if (!p)
		return KC_SQL_NULL;
	switch (t) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
	case OID_BOOL:
		return KC_SQL_INTEGER;
	case OID_FLOAT4:
	case OID_FLOAT8:
		return KC_SQL_FLOAT;
	case OID_NUMERIC:
		return numeric_decode(p, len, &i, &d) == 1 ? KC_SQL_INTEGER : KC_SQL_FLOAT;
	case OID_BYTEA:
		return KC_SQL_BLOB;
	default:
		return KC_SQL_TEXT;
	}
}

/* The numeric value of a cell: 1 integer in *i, 0 float in *d, 2 text. */
static int cell_number(const char *p, int len, Oid t, int64_t *i, double *d)
{
	uint64_t b;
	float f;

	switch (t) {
	case OID_INT2:
		*i = (int16_t)get_be(p, 2);
		return 1;
	case OID_INT4:
		*i = (int32_t)get_be(p, 4);
		return 1;
	case OID_OID:
		*i = (uint32_t)get_be(p, 4);
		return 1;
	case OID_INT8:
		*i = (int64_t)get_be(p, 8);
		return 1;
	case OID_BOOL:
		*i = p[0] != 0;
		return 1;
	case OID_FLOAT4: {
		uint32_t b4 = (uint32_t)get_be(p, 4);
		memcpy(&f, &b4, 4);
		*d = f;
		return 0;
	}
	case OID_FLOAT8:
		b = get_be(p, 8);
		memcpy(d, &b, 8);
		return 0;
	case OID_NUMERIC:
		return numeric_decode(p, len, i, d) == 1 ? 1 : 0;
	default:
		return 2;
	}
}

static int64_t pg_column_int64(struct kc_stmt *st, int col)
{
	int len;
	Oid t;
	const char *p = cell(pstmt(st), col, &len, &t);
	int64_t i = 0;
	double d = 0;

	if (!p)
		return 0;
	switch (cell_number(p, len, t, &i, &d)) {
	case 1:
		return i;
	case 0:
		return d != d ? 0 : d >= 9.2233720368547758e18 ? INT64_MAX
				: d <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)d;
	default:
		return strtoll(p, NULL, 10);
	}
}

static double pg_column_double(struct kc_stmt *st, int col)
{
	int len;
	Oid t;
	const char *p = cell(pstmt(st), col, &len, &t);
	int64_t i = 0;
	double d = 0;

	if (!p)
		return 0;
	switch (cell_number(p, len, t, &i, &d)) {
	case 1:
		return (double)i;
	case 0:
		return d;
	default:
		return strtod(p, NULL);
	}
}

/* A cell as bytes: text and bytea as stored, numbers in their text form
 * (in the statement's per-column buffer). */
static const char *cell_bytes(struct kc_stmt *st, int col, int *len)
{
	struct pg_stmt *s = pstmt(st);
	Oid t;
	const char *p = cell(s, col, len, &t);
	int64_t i = 0;
	double d = 0;

	if (!p)
		return NULL;
	switch (cell_number(p, *len, t, &i, &d)) {
	case 1:
		*len = snprintf(s->conv[col], sizeof(s->conv[col]), "%" PRId64, i);
		return s->conv[col];
	case 0:
		*len = snprintf(s->conv[col], sizeof(s->conv[col]), "%.15g", d);
		return s->conv[col];
	default:
		return p;
	}
}

static const unsigned char *pg_column_text(struct kc_stmt *st, int col)
{
	int len;

	return (const unsigned char *)cell_bytes(st, col, &len);
}

static const void *pg_column_blob(struct kc_stmt *st, int col)
{
	int len;

	return cell_bytes(st, col, &len);
}

static int pg_column_bytes(struct kc_stmt *st, int col)
{
	int len = 0;

	return cell_bytes(st, col, &len) ? len : 0;
}

static const struct kc_sql_ops pg_ops = {
	.backend = KC_SQL_PG,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.errc = pg_errc,
	.changes = pg_changes,
	.last_insert_rowid = pg_last_insert_rowid,
	.in_transaction = pg_in_transaction,
	.prepare = pg_prepare,
	.exec = pg_exec,
	.prepare_cached = pg_prepare_cached,
	.bind_int64 = pg_bind_int64,
	.bind_double = pg_bind_double,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.clear_bindings = pg_clear_bindings,
	.finalize = pg_finalize,
	.column_count = pg_column_count,
	.column_name = pg_column_name,
	.column_type = pg_column_type,
	.column_int64 = pg_column_int64,
	.column_double = pg_column_double,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.column_bytes = pg_column_bytes,
};
