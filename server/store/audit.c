/*
 * audit.c - who did which admin action when. The rows are only appended;
 * kcovd never updates or deletes them. Token changes and build imports
 * write their row in the same transaction as the change itself, so the
 * table never shows an action that did not happen nor misses one that did.
 */
#include "audit.h"

#include <time.h>

#include "db.h"

int kc_audit_add(struct kc_sql *db, const char *actor, const char *action, const char *target,
		 const char *detail, struct kc_err *err)
{
	struct kc_stmt *st;
	int ret = -1;

	st = kc_db_prepare(db, "INSERT INTO audit (at, actor, action, target, detail) "
			       "VALUES (?, ?, ?, ?, ?)", err);
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, (int64_t)time(NULL));
	kc_stmt_bind_text(st, 2, actor, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 3, action, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 4, target, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 5, detail ? detail : "", -1, KC_SQL_STATIC);
	if (kc_db_step(db, st, err) < 0) {
		kc_err_prefix(err, "writing the audit row");
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

json_t *kc_audit_list(struct kc_sql *db, unsigned limit, struct kc_err *err)
{
	struct kc_stmt *st;
	json_t *rows = json_array(), *row;
	int rc, ok = 0;

	st = kc_db_prepare(db, "SELECT id, at, actor, action, target, detail FROM audit "
			       "ORDER BY id DESC LIMIT ?", err);
	if (!st || !rows)
		goto out;
	kc_stmt_bind_int64(st, 1, limit);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		row = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "id",
				(json_int_t)kc_stmt_column_int64(st, 0), "at",
				(json_int_t)kc_stmt_column_int64(st, 1), "actor",
				(const char *)kc_stmt_column_text(st, 2), "action",
				(const char *)kc_stmt_column_text(st, 3), "target",
				(const char *)kc_stmt_column_text(st, 4), "detail",
				(const char *)kc_stmt_column_text(st, 5));
		if (!row || json_array_append_new(rows, row) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "audit row %lld is not valid UTF-8 or out of memory",
				   (long long)kc_stmt_column_int64(st, 0));
			goto out;
		}
	}
	ok = rc == KC_DONE;
out:
	kc_stmt_finalize(st);
	if (!ok) {
		if (!rows)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		json_decref(rows);
		rows = NULL;
	}
	return rows;
}
