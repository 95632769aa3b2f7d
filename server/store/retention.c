/*
 * retention.c - gc, build deletion and vacuum (retention.h). Everything
 * is SQL on the caller's connection and transaction, on both backends: the
 * fold of old days moves label_unions.upto past the cutoff, then per
 * (binary, label) deletes the per-day rows before it and appends their
 * union (folded in kcovd with kc_sql_union, under the key's lock when
 * several nodes share a PostgreSQL database) as one delta row of its union
 * of completed days (day -1, schema/004 and 006: a key's coverage is the
 * OR of its rows), so the union plus the kept rows hold exactly what the
 * deleted rows held; the label index of the builds that lost rows is then
 * recomputed. Vacuum, backup and restore are SQLite's (its incremental
 * vacuum and online backup API); PostgreSQL refuses them.
 */
#include "retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "dayunion.h"
#include "db.h"
#include "grow.h"
#include "labelidx.h"
#include "nodes.h"
#include "overflow.h"
#include "sql_impl.h"
#include "sql_union.h"
#include "store.h"
#include "wire.h"

/* Run sql with ?1 bound to v; *changes (may be NULL) gets the rows it changed. */
static int exec_i(struct kc_sql *db, const char *sql, int64_t v, int64_t *changes, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, v);
	rc = kc_db_step(db, st, err);
	kc_stmt_finalize(st);
	if (rc < 0)
		return -1;
	if (changes)
		*changes = kc_sql_changes(db);
	return 0;
}

/* One (binary, label) with per-day rows before the cutoff. */
struct gc_key {
	int64_t binary, label, upto;
};

/* The keys with per-day rows before cutoff, ordered, each with the upto
 * of its label union as read now (0 when none): *keys (free it) and *n. */
static int gc_keys(struct kc_sql *db, int64_t cutoff, struct gc_key **keys, size_t *n,
		   struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"SELECT c.binary, c.label, coalesce(max(u.upto), 0) FROM coverage c "
		"LEFT JOIN label_unions u ON u.binary = c.binary AND u.label = c.label "
		"WHERE c.day >= 0 AND c.day < ?1 GROUP BY c.binary, c.label "
		"ORDER BY c.binary, c.label",
		err);
	size_t cap = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, cutoff);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(*keys, cap, *n + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		(*keys)[(*n)++] = (struct gc_key){ kc_stmt_column_int64(st, 0),
						   kc_stmt_column_int64(st, 1),
						   kc_stmt_column_int64(st, 2) };
	}
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}

/* Fold key k's days before cutoff into its union of completed days and
 * delete them: the rows a DELETE ... RETURNING removed are exactly the
 * rows folded (a late report of another node may add one meanwhile), the
 * days before upto are in the union already (NULL: not folded again), and
 * the union's next row is written under the key's lock (taken by the
 * caller). *folded is incremented when the union took bits, *rows gets
 * the rows deleted. */
static int gc_fold_key(struct kc_sql *db, const struct gc_key *k, int64_t cutoff,
		       int64_t *folded, int64_t *rows, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"DELETE FROM coverage WHERE binary = ?1 AND label = ?2 AND day >= 0 "
		"AND day < ?3 RETURNING CASE WHEN day >= ?4 THEN bits END",
		err);
	roaring_bitmap_t *u;
	int64_t seq;
	int ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, k->binary);
	kc_stmt_bind_int64(st, 2, k->label);
	kc_stmt_bind_int64(st, 3, cutoff);
	kc_stmt_bind_int64(st, 4, k->upto);
	u = kc_sql_union(st, 0, err);
	kc_stmt_finalize(st);
	if (!u)
		return -1;
	*rows += kc_sql_changes(db);
	if (roaring_bitmap_is_empty(u)) {
		ret = 0;
		goto out;
	}
	roaring_bitmap_run_optimize(u);
	st = kc_db_prepare(db,
			   "SELECT coalesce(max(seq) + 1, 0) FROM coverage WHERE binary = ? "
			   "AND label = ? AND day = ?",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_int64(st, 1, k->binary);
	kc_stmt_bind_int64(st, 2, k->label);
	kc_stmt_bind_int64(st, 3, KC_ALL_DAYS);
	if (kc_db_step(db, st, err) != KC_ROW) {
		kc_stmt_finalize(st);
		goto out;
	}
	seq = kc_stmt_column_int64(st, 0);
	kc_stmt_finalize(st);
	st = kc_db_prepare(db, "INSERT INTO coverage (binary, label, day, seq, bits) "
			       "VALUES (?,?,?,?,?)", err);
	if (!st)
		goto out;
	kc_stmt_bind_int64(st, 1, k->binary);
	kc_stmt_bind_int64(st, 2, k->label);
	kc_stmt_bind_int64(st, 3, KC_ALL_DAYS);
	kc_stmt_bind_int64(st, 4, seq);
	if (kc_db_bind_bitmap(st, 5, u, err) == 0 && kc_db_step(db, st, err) == KC_DONE) {
		++*folded;
		ret = 0;
	}
	kc_stmt_finalize(st);
out:
	kc_bitmap_free(u);
	return ret;
}

/* Append to *locks (n of them, room for n) the lock keys of the day
 * unions before cutoff (dayunion.h); *total gets the new count. */
static int gc_day_union_locks(struct kc_sql *db, int64_t cutoff, int64_t **locks,
			      size_t *total, size_t n, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, "SELECT DISTINCT binary, day FROM "
					       "coverage_day_unions WHERE day < ?1", err);
	size_t cap = n;
	int rc;

	*total = n;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, cutoff);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(*locks, cap, *total + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		(*locks)[(*total)++] = kc_dayunion_key(kc_stmt_column_int64(st, 0),
						       kc_stmt_column_int64(st, 1));
	}
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}

/* The fold of every label's days before cutoff (step 1 of kc_gc_run),
 * per key in kcovd with kc_sql_union, the same on both backends. Lock
 * order against the writer (store.c takes label_unions rows while it
 * folds, then the union key locks at its flush): label_unions rows
 * first, then the keys' locks, sorted. */
static int gc_fold(struct kc_sql *db, int64_t cutoff, struct kc_gc_result *res,
		   struct kc_err *err)
{
	struct gc_key *keys;
	int64_t *locks = NULL;
	size_t n, n_locks = 0;
	int ret = -1;

	if (gc_keys(db, cutoff, &keys, &n, err) < 0)
		goto out;
	if (n && !(locks = malloc(n * sizeof(*locks)))) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	/* Those days are now folded. */
	if (exec_i(db,
		   "INSERT INTO label_unions (binary, label, upto) "
		   "SELECT binary, label, ?1 FROM coverage WHERE day >= 0 AND day < ?1 "
		   "GROUP BY binary, label "
		   "ON CONFLICT(binary, label) DO UPDATE SET upto = CASE WHEN excluded.upto > "
		   "label_unions.upto THEN excluded.upto ELSE label_unions.upto END",
		   cutoff, NULL, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		locks[i] = kc_nodes_union_key(keys[i].binary, keys[i].label, KC_ALL_DAYS);
	if (gc_day_union_locks(db, cutoff, &locks, &n_locks, n, err) < 0 ||
	    kc_nodes_lock_keys(db, locks, n_locks, err) < 0)
		goto out;
	/* The days' unions of every label go first: a late report another
	 * node commits meanwhile keeps its per-label rows and union rows both,
	 * or loses both, or has its union marked stale by the per-label
	 * deletes below (dayunion.h). */
	if (exec_i(db, "DELETE FROM coverage_day_unions WHERE day < ?1", cutoff, NULL, err) < 0)
		goto out;
	/* The label index of the builds that lose rows is recomputed after
	 * (the first day of a file may move). */
	if (exec_i(db,
		   "DELETE FROM label_files_built WHERE build IN (SELECT DISTINCT b.build FROM "
		   "coverage c JOIN binaries b ON b.id = c.binary WHERE c.day >= 0 AND c.day < ?1)",
		   cutoff, NULL, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (gc_fold_key(db, &keys[i], cutoff, &res->folded, &res->day_rows, err) < 0)
			goto out;
	ret = 0;
out:
	free(locks);
	free(keys);
	return ret;
}

int kc_gc_run(struct kc_sql *db, int64_t today, unsigned keep_days, const char *actor,
	      struct kc_gc_result *res, struct kc_err *err)
{
	char target[32], detail[160];
	int64_t cutoff = today - (int64_t)keep_days;

	*res = (struct kc_gc_result){ .cutoff_day = cutoff };
	if (keep_days < 1)
		return kc_err_set(err, KC_E_BAD_INPUT, "keep at least 1 day");
	/* 1. The days of each label not yet in its union, before the cutoff,
	 * become one more row of that union, and go. 2. The label index of
	 * the builds that lost rows is recomputed, old reports and overflow
	 * days go. */
	if (gc_fold(db, cutoff, res, err) < 0 || kc_lidx_build_missing(db, NULL, err) < 0 ||
	    exec_i(db, "DELETE FROM reports WHERE received < ?1 * 86400", cutoff, &res->reports,
		   err) < 0 ||
	    kc_overflow_rollup(db, cutoff, &res->overflow_rows, err) < 0)
		return kc_err_prefix(err, "gc");
	if (!res->folded && !res->day_rows && !res->reports && !res->overflow_rows)
		return 0; /* nothing removed: no audit row (a periodic run every hour) */
	snprintf(target, sizeof(target), "keep %u days", keep_days);
	snprintf(detail, sizeof(detail),
		 "before day %lld: %lld unions extended, %lld day rows, %lld reports, "
		 "%lld overflow day rows rolled up per month",
		 (long long)cutoff, (long long)res->folded, (long long)res->day_rows,
		 (long long)res->reports, (long long)res->overflow_rows);
	return kc_audit_add(db, actor, "gc", target, detail, err);
}

int kc_build_delete(struct kc_sql *db, const char *build_id, const char *actor,
		    struct kc_build_delete_result *res, struct kc_err *err)
{
	/* Children before parents (foreign keys are on). */
	static const struct {
		const char *sql;
		int count; /* which result field the changes go to, -1 none */
	} steps[] = {
		{ "DELETE FROM label_files WHERE file IN (SELECT id FROM files WHERE build = ?1)", -1 },
		{ "DELETE FROM label_files_built WHERE build = ?1", -1 },
		{ "DELETE FROM file_subsystems WHERE subsystem IN "
		  "(SELECT id FROM subsystems WHERE build = ?1)", -1 },
		{ "DELETE FROM subsystems WHERE build = ?1", -1 },
		{ "DELETE FROM file_points WHERE file IN (SELECT id FROM files WHERE build = ?1)", -1 },
		{ "DELETE FROM functions WHERE file IN (SELECT id FROM files WHERE build = ?1)", -1 },
		{ "DELETE FROM files WHERE build = ?1", 4 },
		{ "DELETE FROM images WHERE build = ?1", -1 },
		{ "DELETE FROM build_imports WHERE build = ?1", -1 },
		{ "DELETE FROM coverage WHERE binary IN (SELECT id FROM binaries WHERE build = ?1)", 3 },
		{ "DELETE FROM coverage_total WHERE binary IN "
		  "(SELECT id FROM binaries WHERE build = ?1)", -1 },
		{ "DELETE FROM coverage_day_unions WHERE binary IN "
		  "(SELECT id FROM binaries WHERE build = ?1)", -1 },
		{ "DELETE FROM label_unions WHERE binary IN "
		  "(SELECT id FROM binaries WHERE build = ?1)", -1 },
		{ "DELETE FROM overflow_daily WHERE build = ?1", -1 },
		{ "DELETE FROM reports WHERE boot IN (SELECT id FROM boots WHERE build = ?1)", 2 },
		{ "DELETE FROM boot_modules WHERE boot IN (SELECT id FROM boots WHERE build = ?1) "
		  "OR binary IN (SELECT id FROM binaries WHERE build = ?1)", -1 },
		{ "DELETE FROM boots WHERE build = ?1", 1 },
		{ "DELETE FROM binaries WHERE build = ?1", 0 },
		{ "DELETE FROM builds WHERE id = ?1", -1 },
	};
	int64_t *fields[] = { &res->binaries, &res->boots, &res->reports, &res->coverage_rows,
			      &res->files };
	char detail[200];
	struct kc_stmt *st;
	int64_t id = 0, n;
	int rc;

	*res = (struct kc_build_delete_result){ 0 };
	st = kc_db_prepare(db, "SELECT id FROM builds WHERE build_id = ?", err);
	if (!st)
		return -1;
	kc_stmt_bind_text(st, 1, build_id, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, st, err);
	if (rc == KC_ROW)
		id = kc_stmt_column_int64(st, 0);
	kc_stmt_finalize(st);
	if (rc < 0)
		return -1;
	if (rc != KC_ROW)
		return kc_err_set(err, KC_E_NOT_FOUND, "no build %s", build_id);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (exec_i(db, steps[i].sql, id, &n, err) < 0)
			return kc_err_prefix(err, "deleting build %s", build_id);
		if (steps[i].count >= 0)
			*fields[steps[i].count] = n;
	}
	snprintf(detail, sizeof(detail),
		 "%lld binaries, %lld boots, %lld reports, %lld coverage rows, %lld files",
		 (long long)res->binaries, (long long)res->boots, (long long)res->reports,
		 (long long)res->coverage_rows, (long long)res->files);
	return kc_audit_add(db, actor, "build.delete", build_id, detail, err);
}

int kc_db_vacuum(struct kc_sql *db, int full, int64_t *freed, struct kc_err *err)
{
	int64_t mode, before, after;

	/* PostgreSQL: autovacuum makes dead rows' space reusable by itself;
	 * there are no pages to give back after a delete, and a full VACUUM
	 * is the DBA's (psql), not kcovd's. */
	if (kc_sql_backend(db) == KC_SQL_PG) {
		if (full)
			return kc_err_set(err, KC_E_BAD_INPUT, KC_VACUUM_PG_REFUSAL);
		if (freed)
			*freed = 0;
		return 0;
	}
	if (kc_db_get_int(db, "PRAGMA page_count", 0, &before, err) < 0)
		return -1;
	if (full) {
		if (kc_db_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", err) < 0 ||
		    kc_db_exec(db, "VACUUM", err) < 0)
			return kc_err_prefix(err, "vacuum");
	} else {
		if (kc_db_get_int(db, "PRAGMA auto_vacuum", 0, &mode, err) < 0)
			return -1;
		if (mode == 2 && kc_db_exec(db, "PRAGMA incremental_vacuum", err) < 0)
			return kc_err_prefix(err, "incremental vacuum");
	}
	if (kc_db_get_int(db, "PRAGMA page_count", 0, &after, err) < 0)
		return -1;
	if (freed)
		*freed = before > after ? before - after : 0;
	return 0;
}

/* After a removal: SQLite's incremental vacuum; PostgreSQL's autovacuum
 * reclaims the space itself (*freed stays 0). */
static int give_back(struct kc_sql *db, int64_t *freed, struct kc_err *err)
{
	*freed = 0;
	return kc_sql_backend(db) == KC_SQL_PG ? 0 : kc_db_vacuum(db, 0, freed, err);
}

int kc_gc_call(void *arg, void *db, struct kc_err *err)
{
	struct kc_gc_job *j = arg;
	int64_t today = j->today ? j->today : (int64_t)time(NULL) / 86400;

	if (kc_gc_run(db, today, j->keep_days, j->actor, &j->res, err) < 0)
		return -1;
	return give_back(db, &j->freed_pages, err);
}

int kc_build_delete_call(void *arg, void *db, struct kc_err *err)
{
	struct kc_build_delete_job *j = arg;

	if (kc_build_delete(db, j->build_id, j->actor, &j->res, err) < 0)
		return -1;
	return give_back(db, &j->freed_pages, err);
}

int kc_db_run_locked(const char *path, int (*fn)(void *arg, void *db, struct kc_err *err),
		     void *arg, struct kc_err *err)
{
	int fd = kc_db_lock(path, err), ret = -1;
	struct kc_sql *db = NULL;

	if (fd < 0)
		return -1;
	db = kc_db_open(path, 0, err);
	if (!db || kc_db_migrate(db, err) < 0 || kc_db_begin(db, err) < 0)
		goto out;
	/* Serving nodes of a PostgreSQL database learn of the change from
	 * the generation (nodes.h), bumped in the same transaction. */
	if (fn(arg, db, err) < 0 ||
	    (kc_sql_backend(db) == KC_SQL_PG &&
	     kc_nodes_bump(db, "cli", 1, 0, (int64_t)time(NULL), err) < 0) ||
	    kc_db_exec(db, "COMMIT", err) < 0) {
		(void)kc_db_exec(db, "ROLLBACK", NULL);
		goto out;
	}
	ret = 0;
out:
	kc_db_close(db);
	close(fd);
	return ret;
}

/* PRAGMA integrity_check of db ("ok"), else KC_E_BAD_INPUT naming what. */
static int integrity(struct kc_sql *db, const char *what, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, "PRAGMA integrity_check", err);
	int rc, ok;

	/* A file too damaged to read its schema fails the check as well. */
	if (!st)
		return kc_err_prefix(err, "%s fails integrity_check", what);
	rc = kc_db_step(db, st, err);
	ok = rc == KC_ROW && strcmp((const char *)kc_stmt_column_text(st, 0), "ok") == 0;
	if (rc == KC_ROW && !ok)
		kc_err_set(err, KC_E_BAD_INPUT, "%s fails integrity_check: %.200s", what,
			   (const char *)kc_stmt_column_text(st, 0));
	kc_stmt_finalize(st);
	if (rc < 0)
		return kc_err_prefix(err, "%s fails integrity_check", what);
	return ok ? 0 : -1;
}

/* Copy src (open) into the file dest, replacing it, through dest.tmp. */
static int backup_to(struct kc_sql *src, const char *dest, struct kc_err *err)
{
	char tmp[4096];
	struct kc_sql *dst = NULL;
	int ret = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", dest) >= (int)sizeof(tmp))
		return kc_err_set(err, KC_E_BAD_INPUT, "backup path too long");
	if (unlink(tmp) < 0 && errno != ENOENT)
		return kc_err_errno(err, errno, "%s: %s", tmp, strerror(errno));
	dst = kc_sql_sqlite_open_plain(tmp, 0, err);
	if (!dst) {
		err->code = KC_E_IO;
		goto out;
	}
	if (kc_sql_sqlite_copy(src, dst, "backup", err) < 0 ||
	    integrity(dst, "the copy", err) < 0)
		goto out;
	kc_db_close(dst);
	dst = NULL;
	if (rename(tmp, dest) < 0) {
		kc_err_errno(err, errno, "%s: %s", dest, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	kc_sql_close(dst);
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/* The audit row of a finished backup, in the live database (so the copy
 * itself does not hold it). */
static int audit_backup(const char *src_path, const char *dest, struct kc_err *err)
{
	struct kc_sql *db = kc_db_open(src_path, 0, err);
	int ret;

	if (!db)
		return -1;
	ret = kc_audit_add(db, "cli", "backup", dest, NULL, err);
	kc_db_close(db);
	return ret;
}

int kc_db_backup(const char *src_path, const char *dest, struct kc_err *err)
{
	struct stat sb;
	struct kc_sql *src;
	int ret;

	if (kc_sql_target_is_pg(src_path))
		return kc_err_set(err, KC_E_BAD_INPUT, "kcovd backup copies a SQLite database; back "
				  "up PostgreSQL with pg_dump (docs/operations.md)");
	if (stat(dest, &sb) == 0)
		return kc_err_set(err, KC_E_CONFLICT, "%s exists; back up into a new file", dest);
	if (stat(src_path, &sb) < 0)
		return kc_err_errno(err, errno, "%s: %s", src_path, strerror(errno));
	src = kc_db_open(src_path, 1, err);
	if (!src)
		return -1;
	ret = backup_to(src, dest, err);
	kc_sql_close(src);
	if (ret == 0)
		ret = audit_backup(src_path, dest, err);
	return ret;
}

int kc_db_restore(const char *backup, const char *path, const char *actor, struct kc_err *err)
{
	char aside[4096];
	struct stat sb;
	struct kc_sql *src = NULL, *dst = NULL;
	int64_t version;
	int fd, ret = -1;

	if (kc_sql_target_is_pg(path))
		return kc_err_set(err, KC_E_BAD_INPUT, "kcovd restore installs a SQLite database; "
				  "restore PostgreSQL with pg_restore (docs/operations.md)");
	if (snprintf(aside, sizeof(aside), "%s.pre-restore", path) >= (int)sizeof(aside))
		return kc_err_set(err, KC_E_BAD_INPUT, "database path too long");
	fd = kc_db_lock(path, err);
	if (fd < 0)
		return -1;
	if (stat(backup, &sb) < 0) {
		kc_err_errno(err, errno, "%s: %s", backup, strerror(errno));
		goto out;
	}
	src = kc_sql_sqlite_open_plain(backup, 1, err);
	if (!src) {
		err->code = KC_E_BAD_INPUT;
		goto out;
	}
	if (integrity(src, backup, err) < 0) {
		err->code = KC_E_BAD_INPUT;
		goto out;
	}
	if (kc_db_get_int(src, "SELECT max(version) FROM schema_version", 0, &version, err) < 0 ||
	    version < 1) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s is not a kcovd database", backup);
		goto out;
	}
	if (version > kc_db_schema_version()) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%s has schema version %lld, newer than this kcovd's %d", backup,
			   (long long)version, kc_db_schema_version());
		goto out;
	}
	dst = kc_db_open(path, 0, err);
	if (!dst)
		goto out;
	if (stat(path, &sb) == 0 && sb.st_size > 0 && backup_to(dst, aside, err) < 0) {
		kc_err_prefix(err, "keeping the current database as %s", aside);
		goto out;
	}
	if (kc_sql_sqlite_copy(src, dst, "restore", err) < 0 || integrity(dst, path, err) < 0 ||
	    kc_db_migrate(dst, err) < 0 ||
	    kc_audit_add(dst, actor, "restore", backup, NULL, err) < 0)
		goto out;
	ret = 0;
out:
	kc_sql_close(src);
	kc_sql_close(dst);
	close(fd);
	return ret;
}
