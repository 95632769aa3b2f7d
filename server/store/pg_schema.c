/*
 * pg_schema.c - applies the PostgreSQL migrations (schema/pg/, embedded by
 * cmake/embed_schema.cmake as kcovpg_migrations) through the storage
 * interface, with the rules of SQLite's kc_db_migrate (db.c): one
 * transaction per migration, a newer database refused. Several nodes may
 * start together on one database: every migration transaction first takes
 * one advisory lock, then looks at schema_version, so the second node
 * waits and then finds the migration applied.
 */
#include "pg_schema.h"

#include <stdio.h>

extern const char *const kcovpg_migrations[];
extern const char *const kcovpg_migration_names[];
extern const int kcovpg_migration_numbers[];
extern const int kcovpg_nmigrations;

/* The advisory lock key of schema changes ("kcovschm"). */
#define MIGRATE_LOCK "7809626436166887789"

int kc_pg_schema_version(void)
{
	return kcovpg_nmigrations ? kcovpg_migration_numbers[kcovpg_nmigrations - 1] : 0;
}

int kc_pg_migration_count(void)
{
	return kcovpg_nmigrations;
}

int kc_pg_migration_number(int i)
{
	return kcovpg_migration_numbers[i];
}

/* Run sql (no parameters, any number of statements) to its end; with
 * out, the first column of its first row as an integer. */
static int run(struct kc_sql *conn, const char *sql, int64_t *out, struct kc_err *err)
{
	struct kc_stmt *st = kc_sql_prepare(conn, sql, err);
	int rc;

	if (!st)
		return -1;
	rc = kc_stmt_step(st, err);
	if (rc == KC_ROW && out)
		*out = kc_stmt_column_int64(st, 0);
	while (rc == KC_ROW)
		rc = kc_stmt_step(st, err);
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}

int kc_pg_migrate(struct kc_sql *conn, struct kc_err *err)
{
	int ret = -1;

	for (int i = 0; i <= kcovpg_nmigrations; i++) {
		char sql[160];
		int64_t version = 0, have = 0;

		if (run(conn, "BEGIN", NULL, err) < 0)
			return -1;
		if (run(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", NULL, err) < 0 ||
		    run(conn, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
			NULL, err) < 0 ||
		    run(conn, "SELECT coalesce(max(version), 0) FROM schema_version", &version,
			err) < 0)
			goto rollback;
		if (version > kc_pg_schema_version()) {
			kc_err_set(err, KC_E_INTERNAL,
				   "the database has schema version %lld but this kcovd knows only "
				   "up to %d: upgrade kcovd (refusing to touch newer data)",
				   (long long)version, kc_pg_schema_version());
			goto rollback;
		}
		if (i == kcovpg_nmigrations) /* the check above, once more at the end */
			break;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_version WHERE version = %d",
			 kcovpg_migration_numbers[i]);
		if (run(conn, sql, &have, err) < 0)
			goto rollback;
		if (!have) {
			snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d)",
				 kcovpg_migration_numbers[i]);
			if (run(conn, kcovpg_migrations[i], NULL, err) < 0 ||
			    run(conn, sql, NULL, err) < 0) {
				kc_err_prefix(err, "migration pg/%s", kcovpg_migration_names[i]);
				goto rollback;
			}
		}
		if (run(conn, "COMMIT", NULL, err) < 0)
			return -1;
	}
	ret = 0;
rollback:
	(void)run(conn, ret == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL);
	return ret;
}
