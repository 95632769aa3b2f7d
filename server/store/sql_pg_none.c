/*
 * sql_pg_none.c - the stand-in for the PostgreSQL backend while kcovd is
 * built without libpq: kc_sql_pg_open refuses every target, so
 * `--db postgresql://...` is a clear error at start rather than a link
 * failure or a file named "postgresql:". The PostgreSQL backend
 * (sql_pg.c, issue 19) replaces this file in server/store/CMakeLists.txt;
 * nothing else changes, since every caller reaches the backend only
 * through kc_db_open and the kc_sql_ops table.
 */
#include "sql_impl.h"

struct kc_sql *kc_sql_pg_open(const char *conninfo, int readonly, struct kc_err *err)
{
	(void)conninfo;
	(void)readonly;
	kc_err_set(err, KC_E_BAD_INPUT,
		   "PostgreSQL support is not built: this kcovd stores into SQLite files only "
		   "(give --db a file path)");
	return NULL;
}
