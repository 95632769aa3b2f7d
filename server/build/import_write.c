/*
 * import_write.c - storing a prepared build import (import.c) inside the
 * caller's transaction: the builds and binaries rows, each image with its
 * point bitmap, each file with its lines and source, its functions, and
 * per (file, image) the point bitmap with line and function indexes; and
 * the command line's import, which prepares and writes in one go.
 */
#include "imp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "labelidx.h"
#include "wire.h"

/* Run a prepared insert or update once, then make it ready for the next. */
static int step(struct kc_sql *db, struct kc_stmt *st, struct kc_err *err)
{
	int rc = kc_db_step(db, st, err);

	kc_stmt_reset(st);
	kc_stmt_clear_bindings(st);
	return rc < 0 ? -1 : 0;
}

/* step() for an INSERT ... RETURNING id: *id gets the new row's id. */
static int step_id(struct kc_sql *db, struct kc_stmt *st, int64_t *id, struct kc_err *err)
{
	int rc = kc_db_step(db, st, err);

	if (rc == KC_ROW)
		*id = kc_stmt_column_int64(st, 0);
	kc_stmt_reset(st);
	kc_stmt_clear_bindings(st);
	if (rc == KC_DONE)
		return kc_err_set(err, KC_E_INTERNAL, "an insert returned no id");
	return rc < 0 ? -1 : 0;
}

static void bind_u32s(struct kc_stmt *st, int col, const uint32_t *v, uint32_t n)
{
	kc_stmt_bind_blob(st, col, n ? (const void *)v : "", (uint64_t)n * sizeof(uint32_t),
			    KC_SQL_STATIC);
}

/* First column of the first row of sql with ?1 = a and text ?2..?4 (NULL =
 * unbound): the id, -1 when there is no row, -2 on error. */
static int64_t get_id(struct kc_sql *db, const char *sql, int64_t a, const char *t1, const char *t2,
		      const char *t3, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	int64_t id = -1;
	int rc;

	if (!st)
		return -2;
	kc_stmt_bind_int64(st, 1, a);
	if (t1)
		kc_stmt_bind_text(st, 2, t1, -1, KC_SQL_STATIC);
	if (t2)
		kc_stmt_bind_text(st, 3, t2, -1, KC_SQL_STATIC);
	if (t3)
		kc_stmt_bind_text(st, 4, t3, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, st, err);
	if (rc == KC_ROW)
		id = kc_stmt_column_int64(st, 0);
	else if (rc < 0)
		id = -2;
	kc_stmt_finalize(st);
	return id;
}

/* Upsert the builds row, return its id (or -1). */
static int64_t write_build(struct kc_sql *db, const struct kc_import *imp, struct kc_err *err)
{
	const struct kc_symtab *v = &imp->images[0].t;
	struct kc_stmt *st = kc_db_prepare(
		db,
		"INSERT INTO builds (build_id, release, link_text, first_seen, last_seen) "
		"VALUES (?1, '', ?2, ?3, ?3) ON CONFLICT(build_id) DO UPDATE SET link_text = ?2",
		err);
	int64_t now = (int64_t)time(NULL), id;

	if (!st)
		return -1;
	kc_stmt_bind_text(st, 1, v->build_id, -1, KC_SQL_STATIC);
	kc_stmt_bind_int64(st, 2, (int64_t)v->text_base);
	kc_stmt_bind_int64(st, 3, now);
	if (step(db, st, err) < 0) {
		kc_stmt_finalize(st);
		return -1;
	}
	kc_stmt_finalize(st);
	id = get_id(db, "SELECT id FROM builds WHERE build_id = ?2", 0, v->build_id, NULL, NULL,
		    err);
	if (id < 0)
		return id == -1 ? kc_err_set(err, KC_E_BAD_INPUT, "build row vanished") : -1;
	return id;
}

/* Forget a previous import of the build. */
static int clear_build(struct kc_sql *db, int64_t build, struct kc_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM label_files WHERE file IN (SELECT id FROM files WHERE build = ?)",
		"DELETE FROM label_files_built WHERE build = ?",
		"DELETE FROM file_subsystems WHERE subsystem IN "
		"(SELECT id FROM subsystems WHERE build = ?)",
		"DELETE FROM subsystems WHERE build = ?",
		"DELETE FROM file_points WHERE file IN (SELECT id FROM files WHERE build = ?)",
		"DELETE FROM functions WHERE file IN (SELECT id FROM files WHERE build = ?)",
		"DELETE FROM files WHERE build = ?",
		"DELETE FROM images WHERE build = ?",
		"DELETE FROM build_imports WHERE build = ?",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		struct kc_stmt *st = kc_db_prepare(db, sql[i], err);
		int r;

		if (!st)
			return -1;
		kc_stmt_bind_int64(st, 1, build);
		r = step(db, st, err);
		kc_stmt_finalize(st);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The binaries row of an image, created when no address map named it yet:
 * modules match by name with the same build id or an unknown ('') one. */
static int ensure_binary(struct kc_sql *db, int64_t build, const struct image *im, struct kc_err *err)
{
	const char *kind = im->t.is_module ? "module" : "vmlinux";
	const char *name = im->t.is_module ? im->t.modname : "vmlinux";
	struct kc_stmt *st;
	int64_t id;
	int r;

	id = get_id(db,
		    "SELECT id FROM binaries WHERE build = ?1 AND name = ?2 AND "
		    "(build_id = ?3 OR build_id = '') AND kind = ?4 LIMIT 1",
		    build, name, im->t.build_id, kind, err);
	if (id < -1)
		return -1;
	if (id >= 0)
		return 0;
	st = kc_db_prepare(db, "INSERT INTO binaries (build, kind, name, build_id) VALUES (?,?,?,?)",
			   err);
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, build);
	kc_stmt_bind_text(st, 2, kind, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 3, name, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 4, im->t.build_id, -1, KC_SQL_STATIC);
	r = step(db, st, err);
	kc_stmt_finalize(st);
	return r;
}

static int write_images(struct kc_sql *db, int64_t build, const struct kc_import *imp,
			int64_t *image_ids, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"INSERT INTO images (build, kind, name, build_id, path, text_base, points, "
		"skipped_points, unresolved_points, bits) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
		err);
	roaring_bitmap_t *bits = NULL;
	int ret = -1;

	if (!st)
		return -1;
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct image *im = &imp->images[i];

		if (ensure_binary(db, build, im, err) < 0)
			goto out;
		kc_bitmap_free(bits);
		bits = roaring_bitmap_create();
		if (!bits) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		for (uint64_t p = 0; p < im->t.npoints; p++)
			roaring_bitmap_add(bits, (uint32_t)(im->t.points[p].offset + 5));
		roaring_bitmap_run_optimize(bits);
		kc_stmt_bind_int64(st, 1, build);
		kc_stmt_bind_text(st, 2, im->t.is_module ? "module" : "vmlinux", -1, KC_SQL_STATIC);
		kc_stmt_bind_text(st, 3, im->t.is_module ? im->t.modname : "vmlinux", -1,
				  KC_SQL_STATIC);
		kc_stmt_bind_text(st, 4, im->t.build_id, -1, KC_SQL_STATIC);
		kc_stmt_bind_text(st, 5, im->path, -1, KC_SQL_STATIC);
		kc_stmt_bind_int64(st, 6, (int64_t)im->t.text_base);
		kc_stmt_bind_int64(st, 7, (int64_t)im->t.npoints);
		kc_stmt_bind_int64(st, 8, (int64_t)im->t.skipped_points);
		kc_stmt_bind_int64(st, 9, (int64_t)im->t.unresolved);
		if (kc_db_bind_bitmap(st, 10, bits, err) < 0 ||
		    step_id(db, st, &image_ids[i], err) < 0)
			goto out;
	}
	ret = 0;
out:
	kc_bitmap_free(bits);
	kc_stmt_finalize(st);
	return ret;
}

/* The source_texts id of a file's text, stored when its content id is
 * new (ins, sel: the prepared statements of write_files). -1 on error. */
static int64_t text_id(struct kc_sql *db, struct kc_stmt *ins, struct kc_stmt *sel, const struct file *fl,
		       struct kc_err *err)
{
	int64_t id = -1;
	int rc;

	kc_stmt_bind_text(ins, 1, fl->text_id, -1, KC_SQL_STATIC);
	kc_stmt_bind_blob(ins, 2, fl->source.len ? (const void *)fl->source.data : "",
			    fl->source.len, KC_SQL_STATIC);
	if (step(db, ins, err) < 0)
		return -1;
	kc_stmt_bind_text(sel, 1, fl->text_id, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, sel, err);
	if (rc == KC_ROW)
		id = kc_stmt_column_int64(sel, 0);
	else if (rc == KC_DONE)
		kc_err_set(err, KC_E_INTERNAL, "source text %s vanished", fl->text_id);
	kc_stmt_reset(sel);
	kc_stmt_clear_bindings(sel);
	return id;
}

static int write_files(struct kc_sql *db, int64_t build, const struct kc_import *imp,
		       int64_t *file_ids, struct kc_err *err)
{
	struct kc_stmt *ins = kc_db_prepare(db,
					  "INSERT INTO source_texts (hash, text) VALUES (?1, ?2) "
					  "ON CONFLICT (hash) DO NOTHING",
					  err);
	struct kc_stmt *sel =
		ins ? kc_db_prepare(db, "SELECT id FROM source_texts WHERE hash = ?1", err) : NULL;
	struct kc_stmt *fs = sel ? kc_db_prepare(
		db,
		"INSERT INTO files (build, path, points, nlines, nfuncs, lines, text_id) "
		"VALUES (?,?,?,?,?,?,?) RETURNING id",
		err) : NULL;
	struct kc_stmt *fn = fs ? kc_db_prepare(db,
					      "INSERT INTO functions (file, idx, name, line_start, "
					      "line_end, points) VALUES (?,?,?,?,?,?)",
					      err)
			      : NULL;
	int ret = -1;

	if (!fs || !fn)
		goto out;
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		const struct file *fl = &imp->files[f];

		kc_stmt_bind_int64(fs, 1, build);
		kc_stmt_bind_text(fs, 2, fl->path, -1, KC_SQL_STATIC);
		kc_stmt_bind_int64(fs, 3, (int64_t)fl->points);
		kc_stmt_bind_int64(fs, 4, fl->lines.n);
		kc_stmt_bind_int64(fs, 5, fl->nfuncs);
		bind_u32s(fs, 6, fl->lines.v, fl->lines.n);
		if (fl->has_source) {
			int64_t id = text_id(db, ins, sel, fl, err);

			if (id < 0)
				goto out;
			kc_stmt_bind_int64(fs, 7, id);
		}
		if (step_id(db, fs, &file_ids[f], err) < 0)
			goto out;
		for (uint32_t i = 0; i < fl->nfuncs; i++) {
			kc_stmt_bind_int64(fn, 1, file_ids[f]);
			kc_stmt_bind_int64(fn, 2, i);
			kc_stmt_bind_text(fn, 3, fl->funcs[i].name, -1, KC_SQL_STATIC);
			kc_stmt_bind_int64(fn, 4, fl->funcs[i].line_start);
			kc_stmt_bind_int64(fn, 5, fl->funcs[i].line_end);
			kc_stmt_bind_int64(fn, 6, (int64_t)fl->funcs[i].points);
			if (step(db, fn, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	kc_stmt_finalize(ins);
	kc_stmt_finalize(sel);
	kc_stmt_finalize(fs);
	kc_stmt_finalize(fn);
	return ret;
}

/* After a re-import: drop the texts no file refers to any more. */
static int drop_unused_texts(struct kc_sql *db, struct kc_err *err)
{
	return kc_db_exec(db,
			  "DELETE FROM source_texts WHERE NOT EXISTS "
			  "(SELECT 1 FROM files WHERE files.text_id = source_texts.id)",
			  err);
}

static int write_points(struct kc_sql *db, const struct kc_import *imp, const int64_t *file_ids,
			const int64_t *image_ids, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db,
					 "INSERT INTO file_points (file, image, bits, line_idx, "
					 "func_idx) VALUES (?,?,?,?,?)",
					 err);
	int ret = -1;

	if (!st)
		return -1;
	for (size_t i = 0; i < imp->nfps; i++) {
		const struct fpoints *fp = &imp->fps[i];

		kc_stmt_bind_int64(st, 1, file_ids[fp->file]);
		kc_stmt_bind_int64(st, 2, image_ids[fp->image]);
		bind_u32s(st, 4, fp->line_idx.v, fp->line_idx.n);
		bind_u32s(st, 5, fp->func_idx.v, fp->func_idx.n);
		if (kc_db_bind_bitmap(st, 3, fp->bits, err) < 0 || step(db, st, err) < 0)
			goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

/* The subsystems that hold files of the build, and each file's
 * membership (schema 009). */
static int write_subsystems(struct kc_sql *db, int64_t build, const struct kc_import *imp,
			    const int64_t *file_ids, struct kc_err *err)
{
	size_t n = imp->maint ? kc_maint_count(imp->maint) : 0;
	int64_t *sub_ids = calloc(n + 1, sizeof(*sub_ids));
	struct kc_stmt *ss = NULL, *fs = NULL;
	int ret = -1;

	if (!sub_ids) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (n == 0) {
		ret = 0;
		goto out;
	}
	ss = kc_db_prepare(db, "INSERT INTO subsystems (build, name, files) VALUES (?,?,?) RETURNING id",
			   err);
	fs = ss ? kc_db_prepare(db, "INSERT INTO file_subsystems (subsystem, file) VALUES (?,?)",
				err)
		: NULL;
	if (!fs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (imp->sub_files[i] == 0)
			continue;
		kc_stmt_bind_int64(ss, 1, build);
		kc_stmt_bind_text(ss, 2, kc_maint_name(imp->maint, i), -1, KC_SQL_STATIC);
		kc_stmt_bind_int64(ss, 3, imp->sub_files[i]);
		if (step_id(db, ss, &sub_ids[i], err) < 0)
			goto out;
	}
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		const struct file *fl = &imp->files[f];

		for (uint32_t i = 0; i < fl->subs.n; i++) {
			kc_stmt_bind_int64(fs, 1, sub_ids[fl->subs.v[i]]);
			kc_stmt_bind_int64(fs, 2, file_ids[f]);
			if (step(db, fs, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	kc_stmt_finalize(ss);
	kc_stmt_finalize(fs);
	free(sub_ids);
	return ret;
}

/* build_imports.imported doubles as the import's generation: it is the
 * unix time, but always greater than the previous import's value, so
 * caches of a build's points (query/cache.c) notice every re-import. */
static int write_record(struct kc_sql *db, int64_t build, int64_t prev, const struct kc_import *imp,
			struct kc_err *err)
{
	int64_t now = (int64_t)time(NULL);
	struct kc_stmt *st = kc_db_prepare(db,
					 "INSERT INTO build_imports (build, imported, vmlinux, "
					 "modules_dir, source_dir, files, functions, points, "
					 "source_git, source_rev, source_root, maintainers) "
					 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
					 err);
	int r;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, build);
	kc_stmt_bind_int64(st, 2, now > prev ? now : prev + 1);
	kc_stmt_bind_text(st, 3, imp->vmlinux, -1, KC_SQL_STATIC);
	if (imp->modules_dir)
		kc_stmt_bind_text(st, 4, imp->modules_dir, -1, KC_SQL_STATIC);
	if (imp->source_dir)
		kc_stmt_bind_text(st, 5, imp->source_dir, -1, KC_SQL_STATIC);
	kc_stmt_bind_int64(st, 6, imp->nfiles);
	kc_stmt_bind_int64(st, 7, (int64_t)imp->functions);
	kc_stmt_bind_int64(st, 8, (int64_t)imp->points);
	if (imp->git_repo) {
		kc_stmt_bind_text(st, 9, imp->git_repo, -1, KC_SQL_STATIC);
		kc_stmt_bind_text(st, 10, imp->git_rev, -1, KC_SQL_STATIC);
	}
	if (imp->source_root)
		kc_stmt_bind_text(st, 11, imp->source_root, -1, KC_SQL_STATIC);
	if (imp->maint)
		kc_stmt_bind_int64(st, 12, (int64_t)kc_maint_count(imp->maint));
	r = step(db, st, err);
	kc_stmt_finalize(st);
	return r;
}

int kc_import_write(void *arg, void *dbp, struct kc_err *err)
{
	const struct kc_import *imp = arg;
	struct kc_sql *db = dbp;
	int64_t *file_ids = malloc((imp->nfiles + 1) * sizeof(int64_t));
	int64_t *image_ids = malloc((imp->nimages + 1) * sizeof(int64_t));
	int64_t build, prev;
	int ret = -1;

	if (!file_ids || !image_ids) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	build = write_build(db, imp, err);
	if (build < 0)
		goto out;
	prev = get_id(db, "SELECT imported FROM build_imports WHERE build = ?1", build, NULL, NULL,
		      NULL, err);
	if (prev < -1 || clear_build(db, build, err) < 0 ||
	    write_images(db, build, imp, image_ids, err) < 0 ||
	    write_files(db, build, imp, file_ids, err) < 0 ||
	    write_points(db, imp, file_ids, image_ids, err) < 0 ||
	    write_subsystems(db, build, imp, file_ids, err) < 0 ||
	    write_record(db, build, prev, imp, err) < 0 ||
	    kc_lidx_build(db, build, err) < 0 || /* from coverage pushed before */
	    (prev >= 0 && drop_unused_texts(db, err) < 0))
		goto out;
	ret = 0;
out:
	free(file_ids);
	free(image_ids);
	return ret;
}

json_t *kc_import_summary(const struct kc_import *imp)
{
	json_t *images = json_array(), *sum;
	char base[24];

	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct kc_symtab *t = &imp->images[i].t;

		json_array_append_new(
			images, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "name",
					  t->is_module ? t->modname : "vmlinux", "kind",
					  t->is_module ? "module" : "vmlinux", "build_id", t->build_id,
					  "path", imp->images[i].path, "points", (json_int_t)t->npoints,
					  "skipped_points", (json_int_t)t->skipped_points,
					  "unresolved_points", (json_int_t)t->unresolved));
	}
	snprintf(base, sizeof(base), "0x%016llx", (unsigned long long)imp->images[0].t.text_base);
	sum = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s?, s:o}", "build_id",
			imp->images[0].t.build_id, "link_text", base, "images", images, "files",
			(json_int_t)imp->nfiles, "functions", (json_int_t)imp->functions, "points",
			(json_int_t)imp->points, "sources", (json_int_t)imp->sources,
			"source_root", imp->source_root, "subsystems",
			imp->maint ? json_integer(imp->nsubs) : json_null());
	if (sum && imp->git_repo) {
		json_object_set_new(sum, "git", json_string(imp->git_repo));
		json_object_set_new(sum, "rev", json_string(imp->git_rev));
	}
	return sum;
}

int kc_import_write_audited(void *arg, void *db, struct kc_err *err)
{
	const struct kc_import_audited *a = arg;
	const struct kc_import *imp = a->imp;

	if (kc_import_write(a->imp, db, err) < 0)
		return -1;
	return kc_audit_add(db, a->actor, "build.import",
			    imp->nimages ? imp->images[0].t.build_id : "", imp->vmlinux, err);
}

int kc_import_run(struct kc_sql *db, const struct kc_import_opts *o, const char *actor,
		  json_t **summary, struct kc_err *err)
{
	struct kc_import *imp = NULL;
	struct kc_import_audited a;
	int ret = -1;

	if (summary)
		*summary = NULL;
	if (kc_import_prepare(o, &imp, err) < 0)
		return -1;
	if (kc_db_begin(db, err) < 0)
		goto out;
	a.imp = imp;
	a.actor = actor;
	if (kc_import_write_audited(&a, db, err) < 0) {
		(void)kc_db_exec(db, "ROLLBACK", NULL);
		goto out;
	}
	if (kc_db_exec(db, "COMMIT", err) < 0) {
		(void)kc_db_exec(db, "ROLLBACK", NULL);
		goto out;
	}
	if (summary)
		*summary = kc_import_summary(imp);
	ret = 0;
out:
	kc_import_free(imp);
	return ret;
}
