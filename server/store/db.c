/*
 * db.c - SQLite connection setup (WAL, full sync, busy timeout, foreign
 * keys) and the schema migrator: numbered migrations are applied in one
 * transaction each, and a database written by a newer kcovd is refused
 * rather than misread. Every connection gets the SQL aggregate
 * kc_roaring_or(blob), the union of CRoaring portable bitmaps, which
 * migrations use to build unions from stored rows. A new database gets
 * incremental auto-vacuum, so gc can give space back while kcovd serves.
 * kc_db_lock keeps a server and the maintenance commands apart.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <roaring/roaring.h>

#include "blob.h"
#include "wire.h"

extern const char *const kc_migrations[];
extern const char *const kc_migration_names[];
extern const int kc_migration_numbers[];
extern const int kc_nmigrations;

/* The version is the number of the newest migration (NNN of NNN_name.sql),
 * so a migration added between existing numbers is still applied. */
int kc_db_schema_version(void)
{
	return kc_nmigrations ? kc_migration_numbers[kc_nmigrations - 1] : 0;
}

enum kc_errc kc_db_errc(sqlite3 *db)
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

int kc_db_exec(sqlite3 *db, const char *sql, struct kc_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kc_err_set(err, kc_db_errc(db), "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *kc_db_prepare(sqlite3 *db, const char *sql, struct kc_err *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		kc_err_set(err, kc_db_errc(db), "sqlite prepare: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

sqlite3_stmt *kc_db_cached(sqlite3 *db, const char *sql, struct kc_err *err)
{
	sqlite3_stmt *st;

	for (st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
		const char *text = sqlite3_sql(st);

		if (text && strcmp(text, sql) == 0 && !sqlite3_stmt_busy(st)) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		kc_err_set(err, kc_db_errc(db), "sqlite prepare: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

void kc_db_close(sqlite3 *db)
{
	sqlite3_stmt *st;

	if (!db)
		return;
	while ((st = sqlite3_next_stmt(db, NULL)))
		sqlite3_finalize(st);
	sqlite3_close(db);
}

int kc_db_get_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(db, sql, err);
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*out = dflt;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
	return 0;
}

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

sqlite3 *kc_db_open(const char *path, int readonly, struct kc_err *err)
{
	sqlite3 *db = NULL;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		kc_err_set(err, KC_E_UNAVAILABLE,
			   "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_create_function(db, "kc_roaring_or", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    NULL, roaring_or_step, roaring_or_final) != SQLITE_OK) {
		kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (kc_db_exec(db, "PRAGMA foreign_keys = ON", err) < 0)
		goto fail;
	/* auto_vacuum first: a new file takes it only before its first write
	 * (WAL mode is one); on an existing file it waits for a VACUUM. */
	if (!readonly && kc_db_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; "
					"PRAGMA synchronous = FULL", err) < 0)
		goto fail;
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

int kc_db_migrate(sqlite3 *db, struct kc_err *err)
{
	int64_t version;

	if (kc_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
		       err) < 0 ||
	    kc_db_get_int(db, "SELECT max(version) FROM schema_version", 0, &version, err) < 0)
		return -1;
	if (version > kc_db_schema_version())
		return kc_err_set(err, KC_E_INTERNAL,
				  "the database has schema version %lld but this kcovd knows only "
				  "up to %d: upgrade kcovd (refusing to touch newer data)",
				  (long long)version, kc_db_schema_version());
	for (int i = 0; i < kc_nmigrations; i++) {
		char bump[96];

		snprintf(bump, sizeof(bump), "SELECT count(*) FROM schema_version WHERE version = %d",
			 kc_migration_numbers[i]);
		if (kc_db_get_int(db, bump, 0, &version, err) < 0)
			return -1;
		if (version)
			continue; /* applied already */
		snprintf(bump, sizeof(bump), "INSERT INTO schema_version VALUES (%d);",
			 kc_migration_numbers[i]);
		if (kc_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
			return -1;
		if (kc_db_exec(db, kc_migrations[i], err) < 0 || kc_db_exec(db, bump, err) < 0) {
			kc_err_prefix(err, "migration %s", kc_migration_names[i]);
			(void)kc_db_exec(db, "ROLLBACK", NULL);
			return -1;
		}
		if (kc_db_exec(db, "COMMIT", err) < 0)
			return -1;
	}
	return 0;
}

int kc_db_step(sqlite3 *db, sqlite3_stmt *st, struct kc_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	return kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
}

roaring_bitmap_t *kc_db_column_bitmap(sqlite3_stmt *st, int col)
{
	return kc_bitmap_from_blob(sqlite3_column_blob(st, col),
				   (size_t)sqlite3_column_bytes(st, col));
}

int kc_db_bind_bitmap(sqlite3_stmt *st, int col, const roaring_bitmap_t *b, struct kc_err *err)
{
	size_t n;
	void *buf = kc_bitmap_to_blob(b, &n);

	if (!buf)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	sqlite3_bind_blob64(st, col, buf, n, free);
	return 0;
}

int kc_db_lock(const char *path, struct kc_err *err)
{
	char lock[4096];
	int fd;

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock))
		return kc_err_set(err, KC_E_BAD_INPUT, "database path too long");
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kc_err_errno(err, errno, "%s: %s", lock, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return kc_err_set(err, KC_E_CONFLICT,
					  "%s is in use: a kcovd serves it or a maintenance "
					  "command runs on it (%s is locked)", path, lock);
		return kc_err_errno(err, e, "locking %s: %s", lock, strerror(e));
	}
	return fd;
}
