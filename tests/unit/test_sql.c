/*
 * test_sql.c - the storage interface (server/store/sql.h) on its SQLite
 * backend, on a real database file made here: which targets name
 * PostgreSQL, that an unreachable PostgreSQL target is a clear error at
 * open, values of every type going in through binds and
 * coming back through columns (NULL, empty blob, text with a length),
 * changes / last insert id / transaction state, several statements in one
 * exec, cached statements found again by their text but never handed out
 * twice while one is being stepped, a failing step reporting the
 * database's message with a domain code, and deferred checkpoints: the
 * commits only grow the WAL, kc_sql_checkpoint_due copies it into the
 * file, and the WAL is then reused from its start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "sql.h"
#include "testdb.h"

struct fixture {
	char dir[64], path[96];
	struct kc_sql *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kc_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kc_test_sql.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	f->db = kc_db_open(f->path, 0, &err);
	assert_non_null(f->db);
	assert_int_equal(kc_sql_exec(f->db,
				     "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, "
				     "s TEXT, b BLOB, u TEXT UNIQUE);",
				     &err),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kc_sql_close(f->db);
	kc_test_rm_db(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_targets(void **state)
{
	struct kc_err err;

	(void)state;
	assert_true(kc_sql_target_is_pg("postgresql://kc@127.0.0.1:5432/kcov"));
	assert_true(kc_sql_target_is_pg("postgres://db.example/kcov"));
	assert_true(kc_sql_target_is_pg("host=/tmp dbname=kcov"));
	assert_false(kc_sql_target_is_pg("/var/lib/kcovd/kcovd.db"));
	assert_false(kc_sql_target_is_pg("kcovd.db"));
	kc_err_clear(&err);
	/* A PostgreSQL target goes to the libpq backend: nothing listens on
	 * port 1, a clear error at open (unit_sql_pg tests a live server). */
	assert_null(kc_db_open("postgresql://kc@127.0.0.1:1/kcov?connect_timeout=5", 0, &err));
	assert_int_equal(err.code, KC_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL"));
}

static void test_values_round_trip(void **state)
{
	struct fixture *f = *state;
	static const unsigned char blob[] = { 0, 1, 2, 0xff };
	struct kc_err err;
	struct kc_stmt *st;

	assert_int_equal(kc_sql_backend(f->db), KC_SQL_SQLITE);
	st = kc_sql_prepare(f->db, "INSERT INTO t (i, d, s, b, u) VALUES (?1, ?2, ?3, ?4, ?5)",
			    &err);
	assert_non_null(st);
	assert_int_equal(kc_stmt_bind_int64(st, 1, INT64_MIN + 1), KC_SQL_OK);
	assert_int_equal(kc_stmt_bind_double(st, 2, 0.25), KC_SQL_OK);
	assert_int_equal(kc_stmt_bind_text(st, 3, "abcdef", 3, KC_SQL_TRANSIENT), KC_SQL_OK);
	assert_int_equal(kc_stmt_bind_blob(st, 4, blob, sizeof(blob), KC_SQL_STATIC), KC_SQL_OK);
	assert_int_equal(kc_stmt_bind_null(st, 5), KC_SQL_OK);
	assert_int_equal(kc_stmt_step(st, &err), KC_DONE);
	assert_int_equal(kc_sql_changes(f->db), 1);
	assert_int_equal(kc_sql_last_insert_rowid(f->db), 1);
	/* reset keeps the bindings: the same row again, id 2 */
	assert_int_equal(kc_stmt_reset(st), KC_SQL_OK);
	assert_int_equal(kc_stmt_step(st, &err), KC_DONE);
	assert_int_equal(kc_sql_last_insert_rowid(f->db), 2);
	/* cleared bindings are NULL; an empty blob is a blob, not NULL */
	assert_int_equal(kc_stmt_reset(st), KC_SQL_OK);
	assert_int_equal(kc_stmt_clear_bindings(st), KC_SQL_OK);
	assert_int_equal(kc_stmt_bind_blob(st, 4, "", 0, KC_SQL_STATIC), KC_SQL_OK);
	assert_int_equal(kc_stmt_step(st, &err), KC_DONE);
	kc_stmt_finalize(st);

	st = kc_sql_prepare(f->db, "SELECT id, i, d, s, b, u FROM t ORDER BY id", &err);
	assert_non_null(st);
	assert_int_equal(kc_stmt_column_count(st), 6);
	assert_string_equal(kc_stmt_column_name(st, 3), "s");
	assert_int_equal(kc_stmt_step(st, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_type(st, 1), KC_SQL_INTEGER);
	assert_true(kc_stmt_column_int64(st, 1) == INT64_MIN + 1);
	assert_int_equal(kc_stmt_column_type(st, 2), KC_SQL_FLOAT);
	assert_true(kc_stmt_column_double(st, 2) == 0.25);
	assert_int_equal(kc_stmt_column_type(st, 3), KC_SQL_TEXT);
	assert_string_equal((const char *)kc_stmt_column_text(st, 3), "abc");
	assert_int_equal(kc_stmt_column_type(st, 4), KC_SQL_BLOB);
	assert_int_equal(kc_stmt_column_bytes(st, 4), sizeof(blob));
	assert_memory_equal(kc_stmt_column_blob(st, 4), blob, sizeof(blob));
	assert_int_equal(kc_stmt_column_type(st, 5), KC_SQL_NULL);
	assert_null(kc_stmt_column_text(st, 5));
	assert_int_equal(kc_stmt_step(st, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_int(st, 0), 2);
	assert_int_equal(kc_stmt_step(st, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_type(st, 1), KC_SQL_NULL);
	assert_int_equal(kc_stmt_column_type(st, 4), KC_SQL_BLOB);
	assert_int_equal(kc_stmt_column_bytes(st, 4), 0);
	assert_int_equal(kc_stmt_step(st, &err), KC_DONE);
	kc_stmt_finalize(st);
	kc_stmt_finalize(NULL);
}

static void test_exec_transaction_changes(void **state)
{
	struct fixture *f = *state;
	struct kc_err err;
	int64_t n;

	assert_false(kc_sql_in_transaction(f->db));
	assert_int_equal(kc_sql_exec(f->db, "BEGIN; INSERT INTO t (i) VALUES (1); "
					    "INSERT INTO t (i) VALUES (2); INSERT INTO t (i) VALUES (3);",
				     &err),
			 0);
	assert_true(kc_sql_in_transaction(f->db));
	assert_int_equal(kc_sql_exec(f->db, "UPDATE t SET i = i + 10 WHERE i >= 2", &err), 0);
	assert_int_equal(kc_sql_changes(f->db), 2);
	assert_int_equal(kc_sql_exec(f->db, "ROLLBACK", &err), 0);
	assert_false(kc_sql_in_transaction(f->db));
	assert_int_equal(kc_db_get_int(f->db, "SELECT count(*) FROM t", -1, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(kc_db_get_int(f->db, "SELECT i FROM t", -7, &n, &err), 0);
	assert_int_equal(n, -7);
}

static long long file_size(const char *path, const char *suffix)
{
	char p[128];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Commit n blobs of 64 KiB, one transaction each (2 x 16 = 32 pages). */
static void commit_blobs(struct kc_sql *db, int n)
{
	static char blob[65536];
	struct kc_err err;
	struct kc_stmt *st = kc_sql_prepare(db, "INSERT INTO t (b) VALUES (?)", &err);

	assert_non_null(st);
	for (int i = 0; i < n; i++) {
		memset(blob, 'a' + i % 26, sizeof(blob));
		assert_int_equal(kc_sql_exec(db, "BEGIN IMMEDIATE", &err), 0);
		kc_stmt_bind_blob(st, 1, blob, sizeof(blob), KC_SQL_TRANSIENT);
		assert_int_equal(kc_stmt_step(st, &err), KC_DONE);
		kc_stmt_reset(st);
		assert_int_equal(kc_sql_exec(db, "COMMIT", &err), 0);
	}
	kc_stmt_finalize(st);
}

static void test_deferred_checkpoints(void **state)
{
	struct fixture *f = *state;
	const long long wal_bound = (long long)KC_SQL_CHECKPOINT_PAGES * 4096;
	long long db0, wal;
	struct kc_err err;
	int64_t n;

	assert_int_equal(kc_sql_defer_checkpoints(f->db, &err), 0);
	kc_sql_checkpoint_due(f->db); /* nothing due yet */
	db0 = file_size(f->path, "");
	/* 100 x 64 KiB: past the WAL size at which SQLite's automatic
	 * checkpoint would have run in a COMMIT; none ran. */
	commit_blobs(f->db, 100);
	wal = file_size(f->path, "-wal");
	assert_true(wal > wal_bound);
	assert_int_equal(file_size(f->path, ""), db0);
	/* Due: the WAL goes into the file. */
	kc_sql_checkpoint_due(f->db);
	assert_true(file_size(f->path, "") >= db0 + 100 * 65536);
	/* The next commits reuse the WAL from its start: it does not grow. */
	commit_blobs(f->db, 20);
	assert_int_equal(file_size(f->path, "-wal"), wal);
	assert_int_equal(kc_db_get_int(f->db, "SELECT count(*) FROM t", -1, &n, &err), 0);
	assert_int_equal(n, 120);
}

static void test_cached_statements(void **state)
{
	struct fixture *f = *state;
	static const char sql[] = "SELECT i FROM t ORDER BY i";
	char copy[sizeof(sql)];
	struct kc_err err;
	struct kc_stmt *a, *b, *c;

	assert_int_equal(kc_sql_exec(f->db, "INSERT INTO t (i) VALUES (1), (2)", &err), 0);
	a = kc_sql_prepare_cached(f->db, sql, &err);
	assert_non_null(a);
	assert_int_equal(kc_stmt_step(a, &err), KC_ROW);
	/* a is being stepped: the same text gives another statement */
	memcpy(copy, sql, sizeof(sql));
	b = kc_sql_prepare_cached(f->db, copy, &err);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(kc_stmt_step(b, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_int64(b, 0), 1);
	assert_int_equal(kc_stmt_step(a, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_int64(a, 0), 2);
	assert_int_equal(kc_stmt_step(a, &err), KC_DONE);
	assert_int_equal(kc_stmt_reset(a), KC_SQL_OK);
	assert_int_equal(kc_stmt_reset(b), KC_SQL_OK);
	/* once reset, the text finds one of them again, from the start */
	c = kc_sql_prepare_cached(f->db, sql, &err);
	assert_true(c == a || c == b);
	assert_int_equal(kc_stmt_step(c, &err), KC_ROW);
	assert_int_equal(kc_stmt_column_int64(c, 0), 1);
	kc_stmt_reset(c);
	/* a statement the caller never finalizes dies with the connection
	 * (ASan's leak check sees it otherwise) */
	assert_non_null(kc_sql_prepare(f->db, "SELECT 1", &err));
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct kc_err err;
	struct kc_stmt *st;

	kc_err_clear(&err);
	assert_null(kc_sql_prepare(f->db, "SELECT nosuchcolumn FROM t", &err));
	assert_int_equal(err.code, KC_E_INTERNAL);
	assert_non_null(strstr(err.msg, "nosuchcolumn"));
	assert_int_equal(kc_sql_exec(f->db, "INSERT INTO t (u) VALUES ('x')", &err), 0);
	st = kc_sql_prepare(f->db, "INSERT INTO t (u) VALUES ('x')", &err);
	assert_non_null(st);
	kc_err_clear(&err);
	assert_int_equal(kc_stmt_step(st, &err), -1);
	assert_int_equal(err.code, KC_E_INTERNAL);
	assert_non_null(strstr(err.msg, "UNIQUE"));
	assert_non_null(strstr(kc_sql_errmsg(f->db), "UNIQUE"));
	kc_stmt_finalize(st);
	kc_err_clear(&err);
	assert_int_equal(kc_sql_exec(f->db, "SELECT 1; NOT SQL", &err), -1);
	assert_int_equal(err.code, KC_E_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),
		cmocka_unit_test_setup_teardown(test_values_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_transaction_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
