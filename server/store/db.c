/*
 * db.c - opening the store (a SQLite file or, with a PostgreSQL target, a
 * PostgreSQL database: kc_db_open picks the backend of sql.h) and the
 * schema migrator: numbered migrations are applied in one transaction
 * each, and a database written by a newer kcovd is refused rather than
 * misread. The kc_db_* helpers are the store's shorthands over sql.h; the
 * SQLite connection setup (WAL, full sync, busy timeout, foreign keys,
 * incremental auto-vacuum, the kc_roaring_or aggregate) is in
 * sql_sqlite.c. kc_db_lock keeps a server and the maintenance commands
 * apart.
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
#include "pg_schema.h"
#include "sql_impl.h"
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

enum kc_errc kc_db_errc(struct kc_sql *db)
{
	return db ? kc_sql_errc(db) : KC_E_INTERNAL;
}

int kc_db_exec(struct kc_sql *db, const char *sql, struct kc_err *err)
{
	return kc_sql_exec(db, sql, err);
}

int kc_db_begin(struct kc_sql *db, struct kc_err *err)
{
	return kc_sql_exec(db, kc_sql_backend(db) == KC_SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN",
			   err);
}

int kc_db_cap_size(struct kc_sql *db, unsigned mib, struct kc_err *err)
{
	char sql[64];
	int64_t page;

	if (kc_sql_backend(db) != KC_SQL_SQLITE)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "a database size cap applies to SQLite files only (on PostgreSQL "
				  "use the server's disk quota)");
	if (kc_db_get_int(db, "PRAGMA page_size", 4096, &page, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
		 (long long)(((int64_t)mib << 20) / (page > 0 ? page : 4096)));
	return kc_db_exec(db, sql, err);
}

void kc_db_tune_reader(struct kc_sql *db)
{
	if (kc_sql_backend(db) == KC_SQL_SQLITE)
		(void)kc_db_exec(db, "PRAGMA mmap_size = 17179869184", NULL);
}

struct kc_stmt *kc_db_prepare(struct kc_sql *db, const char *sql, struct kc_err *err)
{
	return kc_sql_prepare(db, sql, err);
}

struct kc_stmt *kc_db_cached(struct kc_sql *db, const char *sql, struct kc_err *err)
{
	return kc_sql_prepare_cached(db, sql, err);
}

void kc_db_close(struct kc_sql *db)
{
	kc_sql_close(db);
}

int kc_db_get_int(struct kc_sql *db, const char *sql, int64_t dflt, int64_t *out,
		  struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	int rc;

	if (!st)
		return -1;
	rc = kc_stmt_step(st, err);
	if (rc == KC_ROW)
		*out = kc_stmt_column_int64(st, 0);
	else if (rc == KC_DONE)
		*out = dflt;
	kc_stmt_finalize(st);
	return rc < 0 ? -1 : 0;
}

struct kc_sql *kc_db_open(const char *target, int readonly, struct kc_err *err)
{
	if (kc_sql_target_is_pg(target))
		return kc_sql_pg_open(target, readonly, err);
	return kc_sql_sqlite_open(target, readonly, err);
}

int kc_db_migrate(struct kc_sql *db, struct kc_err *err)
{
	int64_t version;

	if (kc_sql_backend(db) == KC_SQL_PG)
		return kc_pg_migrate(db, err); /* schema/pg/, same numbers and rules */
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
		if (kc_db_begin(db, err) < 0)
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

int kc_db_step(struct kc_sql *db, struct kc_stmt *st, struct kc_err *err)
{
	(void)db; /* the statement knows its connection */
	return kc_stmt_step(st, err);
}

roaring_bitmap_t *kc_db_column_bitmap(struct kc_stmt *st, int col)
{
	return kc_bitmap_from_blob(kc_stmt_column_blob(st, col),
				   (size_t)kc_stmt_column_bytes(st, col));
}

int kc_db_bind_bitmap(struct kc_stmt *st, int col, const roaring_bitmap_t *b, struct kc_err *err)
{
	size_t n;
	void *buf = kc_bitmap_to_blob(b, &n);
	int rc;

	if (!buf)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	rc = kc_stmt_bind_blob(st, col, buf, n, KC_SQL_TRANSIENT);
	free(buf);
	return rc == KC_SQL_OK ? 0 : kc_err_set(err, KC_E_INTERNAL, "binding a bitmap failed");
}

int kc_db_lock(const char *path, struct kc_err *err)
{
	char lock[4096];
	int fd;

	/* Several nodes share a PostgreSQL database: no file to lock (the
	 * writers coordinate with row and advisory locks, docs/scale-out.md);
	 * a descriptor to close all the same. */
	if (kc_sql_target_is_pg(path)) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? fd : kc_err_errno(err, errno, "/dev/null: %s", strerror(errno));
	}
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
