/*
 * pg_schema.h - the PostgreSQL schema: migrations schema/pg/NNN_*.sql,
 * compiled in and numbered like schema/NNN_*.sql (the same version is the
 * same tables and columns on both databases).
 */
#ifndef KC_PG_SCHEMA_H
#define KC_PG_SCHEMA_H

#include "err.h"
#include "sql.h"

/* The newest PostgreSQL migration's number (equal to kc_db_schema_version
 * for SQLite: the unit test unit_sql_pg checks both lists match). */
int kc_pg_schema_version(void);

/* Number and file name of PostgreSQL migration i (0 <= i < count). */
int kc_pg_migration_count(void);
int kc_pg_migration_number(int i);

/* Apply the migrations conn's database lacks, each in its own transaction
 * with its schema_version row, under a transaction-level advisory lock
 * (pg_advisory_xact_lock), so that several nodes starting at once apply
 * each migration exactly once. A database whose schema_version is newer
 * than this kcovd knows is refused (KC_E_INTERNAL, nothing touched), as
 * on SQLite (kc_db_migrate). conn must be a PostgreSQL connection outside
 * a transaction. Returns 0, or -1 with err filled. */
int kc_pg_migrate(struct kc_sql *conn, struct kc_err *err);

#endif
