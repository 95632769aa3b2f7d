/*
 * sqlconv_shim.h - transitional (issue 19): SQLite's C API names spelled
 * as the storage interface's (sql.h), so code still written against
 * sqlite3.h builds on struct kc_sql until the mechanical conversion
 * (sqlconv.sh) renames them in the source. Each macro is one mapping of
 * that script. Removed right after the conversion.
 *
 * sqlconv: native SQLite (the sqlconv.sh conversion leaves this file alone)
 */
#ifndef KC_SQLCONV_SHIM_H
#define KC_SQLCONV_SHIM_H

#include <stdint.h>

#include "sql.h"

#define sqlite3 struct kc_sql
#define sqlite3_stmt struct kc_stmt
#define sqlite3_int64 int64_t
#define sqlite3_uint64 uint64_t
#define sqlite3_bind_int64 kc_stmt_bind_int64
#define sqlite3_bind_int kc_stmt_bind_int
#define sqlite3_bind_double kc_stmt_bind_double
#define sqlite3_bind_text kc_stmt_bind_text
#define sqlite3_bind_null kc_stmt_bind_null
#define sqlite3_bind_blob kc_stmt_bind_blob
#define sqlite3_bind_blob64 kc_stmt_bind_blob
#define sqlite3_column_int64 kc_stmt_column_int64
#define sqlite3_column_int kc_stmt_column_int
#define sqlite3_column_double kc_stmt_column_double
#define sqlite3_column_text kc_stmt_column_text
#define sqlite3_column_blob kc_stmt_column_blob
#define sqlite3_column_bytes kc_stmt_column_bytes
#define sqlite3_column_type kc_stmt_column_type
#define sqlite3_column_count kc_stmt_column_count
#define sqlite3_column_name kc_stmt_column_name
#define sqlite3_reset kc_stmt_reset
#define sqlite3_clear_bindings kc_stmt_clear_bindings
#define sqlite3_finalize kc_stmt_finalize
#define sqlite3_step(st) kc_stmt_step((st), NULL)
#define sqlite3_errmsg kc_sql_errmsg
#define sqlite3_changes kc_sql_changes
#define sqlite3_changes64 kc_sql_changes
#define sqlite3_last_insert_rowid kc_sql_last_insert_rowid
#define sqlite3_get_autocommit(db) (!kc_sql_in_transaction(db))
#define sqlite3_close kc_sql_close
#define SQLITE_ROW KC_ROW
#define SQLITE_DONE KC_DONE
#define SQLITE_OK KC_SQL_OK
#define SQLITE_STATIC KC_SQL_STATIC
#define SQLITE_TRANSIENT KC_SQL_TRANSIENT
#define SQLITE_INTEGER KC_SQL_INTEGER
#define SQLITE_FLOAT KC_SQL_FLOAT
#define SQLITE_TEXT KC_SQL_TEXT
#define SQLITE_BLOB KC_SQL_BLOB
#define SQLITE_NULL KC_SQL_NULL

#endif
