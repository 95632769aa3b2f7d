/*
 * audit.c - who did which admin action when. The rows are only appended;
 * kcovd never updates or deletes them. Token changes and build imports
 * write their row in the same transaction as the change itself, so the
 * table never shows an action that did not happen nor misses one that did.
 */
#include "audit.h"

#include <time.h>

#include "db.h"

int kc_audit_add(sqlite3 *db, const char *actor, const char *action, const char *target,
		 const char *detail, struct kc_err *err)
{
	sqlite3_stmt *st;
	int ret = -1;

	st = kc_db_prepare(db, "INSERT INTO audit (at, actor, action, target, detail) "
			       "VALUES (?, ?, ?, ?, ?)", err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
	if (kc_db_step(db, st, err) < 0) {
		kc_err_prefix(err, "writing the audit row");
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

json_t *kc_audit_list(sqlite3 *db, unsigned limit, struct kc_err *err)
{
	sqlite3_stmt *st;
	json_t *rows = json_array(), *row;
	int rc, ok = 0;

	st = kc_db_prepare(db, "SELECT id, at, actor, action, target, detail FROM audit "
			       "ORDER BY id DESC LIMIT ?", err);
	if (!st || !rows)
		goto out;
	sqlite3_bind_int64(st, 1, limit);
	while ((rc = kc_db_step(db, st, err)) == SQLITE_ROW) {
		row = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "id",
				(json_int_t)sqlite3_column_int64(st, 0), "at",
				(json_int_t)sqlite3_column_int64(st, 1), "actor",
				(const char *)sqlite3_column_text(st, 2), "action",
				(const char *)sqlite3_column_text(st, 3), "target",
				(const char *)sqlite3_column_text(st, 4), "detail",
				(const char *)sqlite3_column_text(st, 5));
		if (!row || json_array_append_new(rows, row) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "audit row %lld is not valid UTF-8 or out of memory",
				   (long long)sqlite3_column_int64(st, 0));
			goto out;
		}
	}
	ok = rc == SQLITE_DONE;
out:
	sqlite3_finalize(st);
	if (!ok) {
		if (!rows)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		json_decref(rows);
		rows = NULL;
	}
	return rows;
}
