/*
 * import.c - build import: turn a vmlinux and its modules into the tables
 * of schema/002 (images, files, functions, file_points). Symbolization
 * (symbolize.c) yields per binary a sorted point table; here the points of
 * all binaries are regrouped by source file, so that a query of one file
 * or one directory reads a few bitmaps and arrays instead of scanning
 * millions of rows. Every point is stored as its "point bit" (call-site
 * offset + 5, the canonical PC kcov reports). A point belongs to a
 * function only when the function is declared in the point's own file
 * (the innermost inline frame), so per-file function counts add up.
 */
#include "import.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <roaring/roaring.h>

#include "buf.h"
#include "db.h"
#include "fileio.h"
#include "symbolize.h"
#include "wire.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the u32 arrays of schema 002 are stored in native (little-endian) order"
#endif

#define NONE UINT32_MAX

#define MAX_MODULES 65536
#define MAX_DEPTH 16

/* A u32 vector. */
struct u32v {
	uint32_t *v;
	uint32_t n, cap;
};

static int u32v_push(struct u32v *a, uint32_t x)
{
	if (a->n == a->cap) {
		uint32_t cap = a->cap ? a->cap * 2 : 16;
		uint32_t *v = realloc(a->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* One symbolized binary. */
struct image {
	struct kc_symtab t;
	char *path;
	uint32_t *file_map; /* t.files index -> global file index */
	uint32_t *func_idx; /* t.funcs index -> idx within its file's functions */
	uint32_t *func_file; /* t.funcs index -> global file index of its decl */
};

struct func {
	const char *name; /* borrowed from a symtab */
	uint32_t line_start, line_end;
	uint64_t points;
};

struct file {
	const char *path; /* borrowed from a symtab */
	struct u32v lines; /* sorted distinct non-zero lines */
	struct func *funcs;
	uint32_t nfuncs;
	uint64_t points;
	struct kc_buf source; /* empty when not read */
	int has_source;
};

/* The points of one (file, image). */
struct fpoints {
	uint32_t file, image;
	roaring_bitmap_t *bits;
	struct u32v line_idx, func_idx;
};

struct kc_import {
	char *vmlinux, *modules_dir, *source_dir;
	struct image *images; /* [0] is vmlinux */
	uint32_t nimages;
	struct file *files;
	uint32_t nfiles;
	struct fpoints *fps;
	size_t nfps;
	uint64_t points, functions, sources;
};

void kc_import_free(struct kc_import *imp)
{
	if (!imp)
		return;
	for (uint32_t i = 0; i < imp->nimages; i++) {
		kc_symtab_release(&imp->images[i].t);
		free(imp->images[i].path);
		free(imp->images[i].file_map);
		free(imp->images[i].func_idx);
		free(imp->images[i].func_file);
	}
	for (uint32_t i = 0; i < imp->nfiles; i++) {
		free(imp->files[i].lines.v);
		free(imp->files[i].funcs);
		kc_buf_release(&imp->files[i].source);
	}
	for (size_t i = 0; i < imp->nfps; i++) {
		kc_bitmap_free(imp->fps[i].bits);
		free(imp->fps[i].line_idx.v);
		free(imp->fps[i].func_idx.v);
	}
	free(imp->images);
	free(imp->files);
	free(imp->fps);
	free(imp->vmlinux);
	free(imp->modules_dir);
	free(imp->source_dir);
	free(imp);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- finding modules ---------------------------------------------------- */

struct pathlist {
	char **v;
	size_t n, cap;
};

static void pathlist_release(struct pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Append every regular *.ko below dir (following no symlinked dirs). */
static int find_modules(const char *dir, int depth, struct pathlist *out, struct kc_err *err)
{
	DIR *d;
	struct dirent *e;
	int ret = -1;

	if (depth > MAX_DEPTH)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: directories nested too deeply", dir);
	d = opendir(dir);
	if (!d)
		return kc_err_set(err, KC_E_BAD_INPUT, "cannot open modules directory %s", dir);
	while ((e = readdir(d))) {
		char path[4096];
		struct stat sb;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
			kc_err_set(err, KC_E_BAD_INPUT, "path too long below %s", dir);
			goto out;
		}
		if (lstat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (find_modules(path, depth + 1, out, err) < 0)
				goto out;
		} else if ((S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) && ends_with(e->d_name, ".ko")) {
			if (out->n >= MAX_MODULES) {
				kc_err_set(err, KC_E_BAD_INPUT,
					   "more than %d modules below %s", MAX_MODULES, dir);
				goto out;
			}
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 64;
				char **v = realloc(out->v, cap * sizeof(*v));

				if (!v) {
					kc_err_set(err, KC_E_INTERNAL, "out of memory");
					goto out;
				}
				out->v = v;
				out->cap = cap;
			}
			out->v[out->n] = strdup(path);
			if (!out->v[out->n]) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
			out->n++;
		}
	}
	ret = 0;
out:
	closedir(d);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- regrouping by file ------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Global file table: every path of every image, once, sorted. */
static int build_files(struct kc_import *imp, struct kc_err *err)
{
	size_t total = 0, k = 0;
	const char **all = NULL;
	int ret = -1;

	for (uint32_t i = 0; i < imp->nimages; i++)
		total += imp->images[i].t.nfiles;
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < imp->nimages; i++)
		for (uint32_t f = 0; f < imp->images[i].t.nfiles; f++)
			all[k++] = imp->images[i].t.files[f];
	if (total > 1)
		qsort(all, total, sizeof(*all), cmp_str);
	imp->files = calloc(total ? total : 1, sizeof(*imp->files));
	if (!imp->files) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < total; i++)
		if (imp->nfiles == 0 || strcmp(imp->files[imp->nfiles - 1].path, all[i]) != 0)
			imp->files[imp->nfiles++].path = all[i];
	for (uint32_t i = 0; i < imp->nimages; i++) {
		struct image *im = &imp->images[i];

		im->file_map = malloc((im->t.nfiles ? im->t.nfiles : 1) * sizeof(uint32_t));
		if (!im->file_map) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		for (uint32_t f = 0; f < im->t.nfiles; f++) {
			uint32_t lo = 0, hi = imp->nfiles;

			while (lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;

				if (strcmp(imp->files[mid].path, im->t.files[f]) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			im->file_map[f] = lo;
		}
	}
	ret = 0;
out:
	free(all);
	return ret;
}

/* A function occurrence: (file, name) from one image. */
struct fref {
	uint32_t file, image, local;
	const char *name;
	uint32_t line_start, line_end;
};

static int cmp_fref(const void *a, const void *b)
{
	const struct fref *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_func(const void *a, const void *b)
{
	const struct func *x = a, *y = b;

	if (x->line_start != y->line_start)
		return x->line_start < y->line_start ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Functions per file, unique by name; line ranges merged over images. */
static int build_funcs(struct kc_import *imp, struct kc_err *err)
{
	size_t total = 0, k = 0;
	struct fref *refs;
	uint32_t *count = NULL;
	int ret = -1;

	for (uint32_t i = 0; i < imp->nimages; i++) {
		struct image *im = &imp->images[i];

		total += im->t.nfuncs;
		im->func_idx = malloc((im->t.nfuncs ? im->t.nfuncs : 1) * sizeof(uint32_t));
		im->func_file = malloc((im->t.nfuncs ? im->t.nfuncs : 1) * sizeof(uint32_t));
		if (!im->func_idx || !im->func_file)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		for (uint32_t f = 0; f < im->t.nfuncs; f++)
			im->func_idx[f] = im->func_file[f] = NONE;
	}
	refs = malloc((total ? total : 1) * sizeof(*refs));
	count = calloc(imp->nfiles ? imp->nfiles : 1, sizeof(*count));
	if (!refs || !count) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct kc_symtab *t = &imp->images[i].t;

		for (uint32_t f = 0; f < t->nfuncs; f++) {
			if (t->funcs[f].file == KC_SYM_NONE || t->funcs[f].file >= t->nfiles)
				continue;
			refs[k].file = imp->images[i].file_map[t->funcs[f].file];
			refs[k].image = i;
			refs[k].local = f;
			refs[k].name = t->funcs[f].name;
			refs[k].line_start = t->funcs[f].line_start;
			refs[k].line_end = t->funcs[f].line_end;
			k++;
		}
	}
	total = k;
	if (total > 1)
		qsort(refs, total, sizeof(*refs), cmp_fref);
	/* Count unique functions per file, then fill each file's array. */
	for (size_t i = 0; i < total; i++)
		if (i == 0 || cmp_fref(&refs[i - 1], &refs[i]) != 0)
			count[refs[i].file]++;
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		if (!count[f])
			continue;
		imp->files[f].funcs = calloc(count[f], sizeof(struct func));
		if (!imp->files[f].funcs) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < total; i++) {
		struct file *fl = &imp->files[refs[i].file];
		struct func *fn;

		if (i == 0 || cmp_fref(&refs[i - 1], &refs[i]) != 0) {
			fn = &fl->funcs[fl->nfuncs++];
			fn->name = refs[i].name;
			fn->line_start = refs[i].line_start;
			fn->line_end = refs[i].line_end;
		} else {
			fn = &fl->funcs[fl->nfuncs - 1];
			if (refs[i].line_start < fn->line_start)
				fn->line_start = refs[i].line_start;
			if (refs[i].line_end > fn->line_end)
				fn->line_end = refs[i].line_end;
		}
	}
	/* Order each file's functions by line and map image functions to
	 * their index (binary search by name after sorting). */
	for (uint32_t f = 0; f < imp->nfiles; f++)
		if (imp->files[f].nfuncs > 1)
			qsort(imp->files[f].funcs, imp->files[f].nfuncs, sizeof(struct func),
			      cmp_func);
	for (size_t i = 0; i < total; i++) {
		const struct file *fl = &imp->files[refs[i].file];
		struct image *im = &imp->images[refs[i].image];

		for (uint32_t j = 0; j < fl->nfuncs; j++)
			if (strcmp(fl->funcs[j].name, refs[i].name) == 0) {
				im->func_idx[refs[i].local] = j;
				im->func_file[refs[i].local] = refs[i].file;
				break;
			}
	}
	ret = 0;
out:
	free(refs);
	free(count);
	return ret;
}

/* Sorted distinct lines per file. */
static int build_lines(struct kc_import *imp, struct kc_err *err)
{
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct image *im = &imp->images[i];

		for (uint64_t p = 0; p < im->t.npoints; p++) {
			const struct kc_sym_point *pt = &im->t.points[p];

			if (pt->file == KC_SYM_NONE || pt->file >= im->t.nfiles || pt->line == 0)
				continue;
			if (u32v_push(&imp->files[im->file_map[pt->file]].lines, pt->line) < 0)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		}
	}
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		struct u32v *l = &imp->files[f].lines;
		uint32_t n = 0;

		if (l->n > 1)
			qsort(l->v, l->n, sizeof(uint32_t), cmp_u32);
		for (uint32_t i = 0; i < l->n; i++)
			if (n == 0 || l->v[n - 1] != l->v[i])
				l->v[n++] = l->v[i];
		l->n = n;
	}
	return 0;
}

static uint32_t find_line(const struct u32v *l, uint32_t line)
{
	uint32_t lo = 0, hi = l->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (l->v[mid] < line)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->v[lo] == line ? lo : NONE;
}

/* Per (file, image) bitmaps and arrays. Points are sorted by offset, so
 * appending in point order keeps the arrays in bitmap order. */
static int build_points(struct kc_import *imp, struct kc_err *err)
{
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct image *im = &imp->images[i];
		size_t first = imp->nfps;
		size_t *slot = calloc(im->t.nfiles ? im->t.nfiles : 1, sizeof(*slot));
		struct fpoints *grown;

		if (!slot)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		grown = realloc(imp->fps, (imp->nfps + im->t.nfiles + 1) * sizeof(*grown));
		if (!grown) {
			free(slot);
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		}
		imp->fps = grown;
		for (uint64_t p = 0; p < im->t.npoints; p++) {
			const struct kc_sym_point *pt = &im->t.points[p];
			struct fpoints *fp;
			struct file *fl;
			uint32_t gf, fi = NONE;

			if (pt->offset + 5 > UINT32_MAX) {
				free(slot);
				return kc_err_set(err, KC_E_BAD_INPUT,
						  "%s: point at offset 0x%llx is beyond 4 GiB of text",
						  im->path, (unsigned long long)pt->offset);
			}
			if (pt->file == KC_SYM_NONE || pt->file >= im->t.nfiles)
				continue;
			gf = im->file_map[pt->file];
			fl = &imp->files[gf];
			if (!slot[pt->file]) {
				fp = &imp->fps[imp->nfps++];
				memset(fp, 0, sizeof(*fp));
				fp->file = gf;
				fp->image = i;
				fp->bits = roaring_bitmap_create();
				slot[pt->file] = imp->nfps - first;
				if (!fp->bits) {
					free(slot);
					return kc_err_set(err, KC_E_INTERNAL, "out of memory");
				}
			}
			fp = &imp->fps[first + slot[pt->file] - 1];
			if (pt->func != KC_SYM_NONE && pt->func < im->t.nfuncs &&
			    im->func_file[pt->func] == gf)
				fi = im->func_idx[pt->func];
			roaring_bitmap_add(fp->bits, (uint32_t)(pt->offset + 5));
			if (u32v_push(&fp->line_idx, pt->line ? find_line(&fl->lines, pt->line) : NONE) < 0 ||
			    u32v_push(&fp->func_idx, fi) < 0) {
				free(slot);
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			}
			fl->points++;
			if (fi != NONE)
				fl->funcs[fi].points++;
		}
		free(slot);
	}
	for (size_t i = 0; i < imp->nfps; i++)
		roaring_bitmap_run_optimize(imp->fps[i].bits);
	for (uint32_t f = 0; f < imp->nfiles; f++)
		imp->functions += imp->files[f].nfuncs;
	return 0;
}

/* Read the text of every relative path without ".." from the source dir. */
static void read_sources(struct kc_import *imp)
{
	for (uint32_t f = 0; f < imp->nfiles && imp->source_dir; f++) {
		struct file *fl = &imp->files[f];
		char path[4096];
		struct kc_err ignored;

		if (fl->path[0] == '/' || strcmp(fl->path, "..") == 0 ||
		    strncmp(fl->path, "../", 3) == 0 || strstr(fl->path, "/../") ||
		    ends_with(fl->path, "/.."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", imp->source_dir, fl->path) >=
		    (int)sizeof(path))
			continue;
		if (kc_read_file(path, KC_IMPORT_SOURCE_MAX, &fl->source, &ignored) < 0 ||
		    fl->source.oom) {
			kc_buf_release(&fl->source);
			continue;
		}
		fl->has_source = 1;
		imp->sources++;
	}
}

static int add_image(struct kc_import *imp, const char *path, const struct kc_sym_opts *so,
		     int want_module, struct kc_err *err)
{
	struct image *im = &imp->images[imp->nimages];

	memset(im, 0, sizeof(*im));
	if (kc_symbolize_file(path, so, &im->t, err) < 0)
		return kc_err_prefix(err, "%s", path);
	imp->nimages++;
	im->path = strdup(path);
	if (!im->path)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (im->t.is_module != want_module)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s is %s", path,
				  want_module ? "not a module (.ko)" : "a module, not a vmlinux");
	if (!want_module && !im->t.build_id[0])
		return kc_err_set(err, KC_E_BAD_INPUT, "%s has no GNU build id note", path);
	if (want_module && !im->t.modname[0])
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: no module name", path);
	for (uint32_t i = 1; i + 1 < imp->nimages; i++)
		if (want_module && strcmp(imp->images[i].t.modname, im->t.modname) == 0)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "module %s is both %s and %s", im->t.modname,
					  imp->images[i].path, path);
	imp->points += im->t.npoints;
	return 0;
}

int kc_import_prepare(const struct kc_import_opts *o, struct kc_import **out,
		      struct kc_err *err)
{
	struct kc_import *imp = calloc(1, sizeof(*imp));
	struct pathlist mods = { NULL, 0, 0 };
	struct kc_sym_opts so = { o->strip_prefixes, o->nstrip };
	int ret = -1;

	*out = NULL;
	if (!imp)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (!o->vmlinux || !*o->vmlinux) {
		kc_err_set(err, KC_E_BAD_INPUT, "a vmlinux path is required");
		goto out;
	}
	imp->vmlinux = strdup(o->vmlinux);
	imp->modules_dir = dup_or_null(o->modules_dir);
	imp->source_dir = dup_or_null(o->source_dir);
	if (!imp->vmlinux || (o->modules_dir && !imp->modules_dir) ||
	    (o->source_dir && !imp->source_dir)) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (o->source_dir) {
		struct stat sb;

		if (stat(o->source_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "source directory %s is not a directory", o->source_dir);
			goto out;
		}
	}
	if (o->modules_dir && find_modules(o->modules_dir, 0, &mods, err) < 0)
		goto out;
	if (mods.n > 1)
		qsort(mods.v, mods.n, sizeof(*mods.v), cmp_str);
	imp->images = calloc(mods.n + 1, sizeof(*imp->images));
	if (!imp->images) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (add_image(imp, o->vmlinux, &so, 0, err) < 0)
		goto out;
	for (size_t i = 0; i < mods.n; i++)
		if (add_image(imp, mods.v[i], &so, 1, err) < 0)
			goto out;
	if (build_files(imp, err) < 0 || build_funcs(imp, err) < 0 || build_lines(imp, err) < 0 ||
	    build_points(imp, err) < 0)
		goto out;
	read_sources(imp);
	*out = imp;
	imp = NULL;
	ret = 0;
out:
	pathlist_release(&mods);
	kc_import_free(imp);
	return ret;
}

/* ---- writing ------------------------------------------------------------ */

static int step(sqlite3 *db, sqlite3_stmt *st, struct kc_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
	return 0;
}

/* Bind a serialized bitmap (transient copy). */
static int bind_bitmap(sqlite3_stmt *st, int col, const roaring_bitmap_t *b, struct kc_err *err)
{
	size_t n = roaring_bitmap_portable_size_in_bytes(b);
	char *buf = malloc(n ? n : 1);

	if (!buf)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	roaring_bitmap_portable_serialize(b, buf);
	sqlite3_bind_blob64(st, col, buf, n, free);
	return 0;
}

static void bind_u32s(sqlite3_stmt *st, int col, const uint32_t *v, uint32_t n)
{
	sqlite3_bind_blob64(st, col, n ? (const void *)v : "", (sqlite3_uint64)n * sizeof(uint32_t),
			    SQLITE_STATIC);
}

/* First column of the first row of sql with ?1 = a and text ?2..?4 (NULL =
 * unbound): the id, -1 when there is no row, -2 on error. */
static int64_t get_id(sqlite3 *db, const char *sql, int64_t a, const char *t1, const char *t2,
		      const char *t3, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(db, sql, err);
	int64_t id = -1;
	int rc;

	if (!st)
		return -2;
	sqlite3_bind_int64(st, 1, a);
	if (t1)
		sqlite3_bind_text(st, 2, t1, -1, SQLITE_STATIC);
	if (t2)
		sqlite3_bind_text(st, 3, t2, -1, SQLITE_STATIC);
	if (t3)
		sqlite3_bind_text(st, 4, t3, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = -2;
	if (id == -2)
		kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return id;
}

/* Upsert the builds row, return its id (or -1). */
static int64_t write_build(sqlite3 *db, const struct kc_import *imp, struct kc_err *err)
{
	const struct kc_symtab *v = &imp->images[0].t;
	sqlite3_stmt *st = kc_db_prepare(
		db,
		"INSERT INTO builds (build_id, release, link_text, first_seen, last_seen) "
		"VALUES (?1, '', ?2, ?3, ?3) ON CONFLICT(build_id) DO UPDATE SET link_text = ?2",
		err);
	int64_t now = (int64_t)time(NULL), id;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, v->build_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)v->text_base);
	sqlite3_bind_int64(st, 3, now);
	if (step(db, st, err) < 0) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	id = get_id(db, "SELECT id FROM builds WHERE build_id = ?2", 0, v->build_id, NULL, NULL,
		    err);
	if (id < 0)
		return id == -1 ? kc_err_set(err, KC_E_BAD_INPUT, "build row vanished") : -1;
	return id;
}

/* Forget a previous import of the build. */
static int clear_build(sqlite3 *db, int64_t build, struct kc_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM file_points WHERE file IN (SELECT id FROM files WHERE build = ?)",
		"DELETE FROM functions WHERE file IN (SELECT id FROM files WHERE build = ?)",
		"DELETE FROM files WHERE build = ?",
		"DELETE FROM images WHERE build = ?",
		"DELETE FROM build_imports WHERE build = ?",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = kc_db_prepare(db, sql[i], err);
		int r;

		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, build);
		r = step(db, st, err);
		sqlite3_finalize(st);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The binaries row of an image, created when no address map named it yet:
 * modules match by name with the same build id or an unknown ('') one. */
static int ensure_binary(sqlite3 *db, int64_t build, const struct image *im, struct kc_err *err)
{
	const char *kind = im->t.is_module ? "module" : "vmlinux";
	const char *name = im->t.is_module ? im->t.modname : "vmlinux";
	sqlite3_stmt *st;
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
	sqlite3_bind_int64(st, 1, build);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, im->t.build_id, -1, SQLITE_STATIC);
	r = step(db, st, err);
	sqlite3_finalize(st);
	return r;
}

static int write_images(sqlite3 *db, int64_t build, const struct kc_import *imp,
			int64_t *image_ids, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(
		db,
		"INSERT INTO images (build, kind, name, build_id, path, text_base, points, "
		"skipped_points, unresolved_points, bits) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
		sqlite3_bind_int64(st, 1, build);
		sqlite3_bind_text(st, 2, im->t.is_module ? "module" : "vmlinux", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, im->t.is_module ? im->t.modname : "vmlinux", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, im->t.build_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, im->path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (int64_t)im->t.text_base);
		sqlite3_bind_int64(st, 7, (int64_t)im->t.npoints);
		sqlite3_bind_int64(st, 8, (int64_t)im->t.skipped_points);
		sqlite3_bind_int64(st, 9, (int64_t)im->t.unresolved);
		if (bind_bitmap(st, 10, bits, err) < 0 || step(db, st, err) < 0)
			goto out;
		image_ids[i] = sqlite3_last_insert_rowid(db);
	}
	ret = 0;
out:
	kc_bitmap_free(bits);
	sqlite3_finalize(st);
	return ret;
}

static int write_files(sqlite3 *db, int64_t build, const struct kc_import *imp,
		       int64_t *file_ids, struct kc_err *err)
{
	sqlite3_stmt *fs = kc_db_prepare(
		db,
		"INSERT INTO files (build, path, points, nlines, nfuncs, lines, source) "
		"VALUES (?,?,?,?,?,?,?)",
		err);
	sqlite3_stmt *fn = fs ? kc_db_prepare(db,
					      "INSERT INTO functions (file, idx, name, line_start, "
					      "line_end, points) VALUES (?,?,?,?,?,?)",
					      err)
			      : NULL;
	int ret = -1;

	if (!fs || !fn)
		goto out;
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		const struct file *fl = &imp->files[f];

		sqlite3_bind_int64(fs, 1, build);
		sqlite3_bind_text(fs, 2, fl->path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(fs, 3, (int64_t)fl->points);
		sqlite3_bind_int64(fs, 4, fl->lines.n);
		sqlite3_bind_int64(fs, 5, fl->nfuncs);
		bind_u32s(fs, 6, fl->lines.v, fl->lines.n);
		if (fl->has_source)
			sqlite3_bind_blob64(fs, 7, fl->source.len ? (const void *)fl->source.data : "",
					    fl->source.len, SQLITE_STATIC);
		if (step(db, fs, err) < 0)
			goto out;
		file_ids[f] = sqlite3_last_insert_rowid(db);
		for (uint32_t i = 0; i < fl->nfuncs; i++) {
			sqlite3_bind_int64(fn, 1, file_ids[f]);
			sqlite3_bind_int64(fn, 2, i);
			sqlite3_bind_text(fn, 3, fl->funcs[i].name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(fn, 4, fl->funcs[i].line_start);
			sqlite3_bind_int64(fn, 5, fl->funcs[i].line_end);
			sqlite3_bind_int64(fn, 6, (int64_t)fl->funcs[i].points);
			if (step(db, fn, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	sqlite3_finalize(fs);
	sqlite3_finalize(fn);
	return ret;
}

static int write_points(sqlite3 *db, const struct kc_import *imp, const int64_t *file_ids,
			const int64_t *image_ids, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(db,
					 "INSERT INTO file_points (file, image, bits, line_idx, "
					 "func_idx) VALUES (?,?,?,?,?)",
					 err);
	int ret = -1;

	if (!st)
		return -1;
	for (size_t i = 0; i < imp->nfps; i++) {
		const struct fpoints *fp = &imp->fps[i];

		sqlite3_bind_int64(st, 1, file_ids[fp->file]);
		sqlite3_bind_int64(st, 2, image_ids[fp->image]);
		bind_u32s(st, 4, fp->line_idx.v, fp->line_idx.n);
		bind_u32s(st, 5, fp->func_idx.v, fp->func_idx.n);
		if (bind_bitmap(st, 3, fp->bits, err) < 0 || step(db, st, err) < 0)
			goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* build_imports.imported doubles as the import's generation: it is the
 * unix time, but always greater than the previous import's value, so
 * caches of a build's points (query/cache.c) notice every re-import. */
static int write_record(sqlite3 *db, int64_t build, int64_t prev, const struct kc_import *imp,
			struct kc_err *err)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st = kc_db_prepare(db,
					 "INSERT INTO build_imports (build, imported, vmlinux, "
					 "modules_dir, source_dir, files, functions, points) "
					 "VALUES (?,?,?,?,?,?,?,?)",
					 err);
	int r;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, build);
	sqlite3_bind_int64(st, 2, now > prev ? now : prev + 1);
	sqlite3_bind_text(st, 3, imp->vmlinux, -1, SQLITE_STATIC);
	if (imp->modules_dir)
		sqlite3_bind_text(st, 4, imp->modules_dir, -1, SQLITE_STATIC);
	if (imp->source_dir)
		sqlite3_bind_text(st, 5, imp->source_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, imp->nfiles);
	sqlite3_bind_int64(st, 7, (int64_t)imp->functions);
	sqlite3_bind_int64(st, 8, (int64_t)imp->points);
	r = step(db, st, err);
	sqlite3_finalize(st);
	return r;
}

int kc_import_write(void *arg, void *dbp, struct kc_err *err)
{
	const struct kc_import *imp = arg;
	sqlite3 *db = dbp;
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
	    write_record(db, build, prev, imp, err) < 0)
		goto out;
	ret = 0;
out:
	free(file_ids);
	free(image_ids);
	return ret;
}

json_t *kc_import_summary(const struct kc_import *imp)
{
	json_t *images = json_array();
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
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I}", "build_id",
			 imp->images[0].t.build_id, "link_text", base, "images", images, "files",
			 (json_int_t)imp->nfiles, "functions", (json_int_t)imp->functions, "points",
			 (json_int_t)imp->points, "sources", (json_int_t)imp->sources);
}

int kc_import_run(sqlite3 *db, const struct kc_import_opts *o, json_t **summary,
		  struct kc_err *err)
{
	struct kc_import *imp = NULL;
	int ret = -1;

	if (summary)
		*summary = NULL;
	if (kc_import_prepare(o, &imp, err) < 0)
		return -1;
	if (kc_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (kc_import_write(imp, db, err) < 0) {
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
