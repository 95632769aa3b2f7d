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
#include "imp.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <roaring/roaring.h>

#include "buf.h"
#include "fileio.h"
#include "path.h"
#include "symbolize.h"
#include "unpack.h"
#include "wire.h"
#include "search.h"
#include "grow.h"

#define MAX_MODULES 65536
#define MAX_DEPTH 16

static int u32v_push(struct u32v *a, uint32_t x)
{
	if (KC_GROW(a->v, a->cap, (size_t)a->n + 1) < 0)
		return -1;
	a->v[a->n++] = x;
	return 0;
}

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
		free(imp->files[i].subs.v);
	}
	kc_maint_free(imp->maint);
	free(imp->sub_files);
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
	free(imp->source_root);
	free(imp->git_repo);
	free(imp->git_rev);
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

/* A module file name: *.ko, or *.ko.xz / *.ko.zst / *.ko.gz as
 * distributions install them (decompressed in memory, unpack.h). */
static int is_module_name(const char *name)
{
	size_t n = strlen(name) - kc_unpack_suffix_len(name);

	return n > 3 && memcmp(name + n - 3, ".ko", 3) == 0;
}

/* Append every regular module file below dir (following no symlinked
 * dirs: the build/ and source/ links of a modules_install tree are not
 * entered). */
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
		} else if ((S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) && is_module_name(e->d_name)) {
			if (out->n >= MAX_MODULES) {
				kc_err_set(err, KC_E_BAD_INPUT,
					   "more than %d modules below %s", MAX_MODULES, dir);
				goto out;
			}
			if (KC_GROW(out->v, out->cap, out->n + 1) < 0) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
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

struct path_key {
	const struct kc_import *imp;
	const char *path;
};

static int path_below(const void *ctx, size_t i)
{
	const struct path_key *k = ctx;

	return strcmp(k->imp->files[i].path, k->path) < 0;
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
			struct path_key key = { imp, im->t.files[f] };

			im->file_map[f] = (uint32_t)kc_lower_bound(imp->nfiles, path_below, &key);
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

/* Sorted distinct lines per file: each file's lines go into a bitmap
 * (points come in address order, not line order), which gives them back
 * sorted and unique. */
static int build_lines(struct kc_import *imp, struct kc_err *err)
{
	roaring_bitmap_t **seen = calloc(imp->nfiles ? imp->nfiles : 1, sizeof(*seen));
	int ret = -1;

	if (!seen)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct image *im = &imp->images[i];

		for (uint64_t p = 0; p < im->t.npoints; p++) {
			const struct kc_sym_point *pt = &im->t.points[p];
			uint32_t f;

			if (pt->file == KC_SYM_NONE || pt->file >= im->t.nfiles || pt->line == 0)
				continue;
			f = im->file_map[pt->file];
			if (!seen[f] && !(seen[f] = roaring_bitmap_create())) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
			roaring_bitmap_add(seen[f], pt->line);
		}
	}
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		struct u32v *l = &imp->files[f].lines;
		uint64_t n = seen[f] ? roaring_bitmap_get_cardinality(seen[f]) : 0;

		if (n == 0)
			continue;
		l->v = malloc(n * sizeof(*l->v));
		if (!l->v) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		roaring_bitmap_to_uint32_array(seen[f], l->v);
		l->n = l->cap = (uint32_t)n;
	}
	ret = 0;
out:
	for (uint32_t f = 0; f < imp->nfiles; f++)
		if (seen[f])
			roaring_bitmap_free(seen[f]);
	free(seen);
	return ret;
}

struct line_key {
	const struct u32v *l;
	uint32_t line;
};

static int line_below(const void *ctx, size_t i)
{
	const struct line_key *k = ctx;

	return k->l->v[i] < k->line;
}

static uint32_t find_line(const struct u32v *l, uint32_t line)
{
	struct line_key k = { l, line };
	size_t lo = kc_lower_bound(l->n, line_below, &k);

	return lo < l->n && l->v[lo] == line ? (uint32_t)lo : NONE;
}

/* Per (file, image) bitmaps and arrays. Points are sorted by offset, so
 * appending in point order keeps the arrays in bitmap order. */
static int build_points(struct kc_import *imp, struct kc_err *err)
{
	for (uint32_t i = 0; i < imp->nimages; i++) {
		const struct image *im = &imp->images[i];
		size_t first = imp->nfps;
		/* per global file: its fpoints + 1 in this image (two local
		 * paths may name one file once a source root is stripped) */
		size_t *slot = calloc(imp->nfiles ? imp->nfiles : 1, sizeof(*slot));

		if (!slot)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		if (KC_GROW(imp->fps, imp->cap_fps, imp->nfps + im->t.nfiles + 1) < 0) {
			free(slot);
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		}
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
			if (!slot[gf]) {
				fp = &imp->fps[imp->nfps++];
				memset(fp, 0, sizeof(*fp));
				fp->file = gf;
				fp->image = i;
				fp->bits = roaring_bitmap_create();
				slot[gf] = imp->nfps - first;
				if (!fp->bits) {
					free(slot);
					return kc_err_set(err, KC_E_INTERNAL, "out of memory");
				}
			}
			fp = &imp->fps[first + slot[gf] - 1];
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

/* Read the text of every relative path of plain segments from the build's
 * source (source.h); files it lacks, or larger than KC_IMPORT_SOURCE_MAX,
 * get no text. */
static int read_sources(struct kc_import *imp, struct kc_source *src, struct kc_err *err)
{
	for (uint32_t f = 0; f < imp->nfiles && src; f++) {
		struct file *fl = &imp->files[f];
		int rc = kc_source_read_file(src, fl->path, KC_IMPORT_SOURCE_MAX, &fl->source,
					     fl->text_id, err);

		if (rc < 0)
			return kc_err_prefix(err, "source of %s", fl->path);
		if (rc == 0)
			continue;
		fl->has_source = 1;
		imp->sources++;
	}
	return 0;
}

/* The build's source as o names it (a directory or a git revision), or
 * NULL in *out when it names none. */
static int open_source(struct kc_import *imp, const struct kc_import_opts *o,
		       struct kc_source **out, struct kc_err *err)
{
	*out = NULL;
	if (o->source_dir && o->git_repo)
		return kc_err_set(err, KC_E_BAD_INPUT, "give a source directory or a git "
						       "repository, not both");
	if (o->git_rev && !o->git_repo)
		return kc_err_set(err, KC_E_BAD_INPUT, "a revision needs a git repository");
	if (o->source_dir)
		*out = kc_source_open_dir(o->source_dir, err);
	else if (o->git_repo)
		*out = kc_source_open_git(o->git_repo, o->git_rev, err);
	else
		return 0;
	if (!*out)
		return -1;
	if (o->git_repo && (!(imp->git_repo = strdup(o->git_repo)) ||
			    !(imp->git_rev = strdup(kc_source_revision(*out)))))
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	return 0;
}

/* The subsystems of every relative file of plain segments, from the
 * MAINTAINERS of the build's source (src: a directory or a git revision;
 * NULL: no source); none when it has none. Files outside the tree
 * (absolute paths) are in no subsystem. */
static int read_maintainers(struct kc_import *imp, struct kc_source *src, struct kc_err *err)
{
	if (!src)
		return 0;
	imp->maint = kc_maint_load(src, err);
	if (!imp->maint) {
		if (err->code != KC_E_NOT_FOUND)
			return kc_err_prefix(err, "MAINTAINERS");
		kc_err_clear(err);
		return 0;
	}
	imp->sub_files = calloc(kc_maint_count(imp->maint) + 1, sizeof(*imp->sub_files));
	if (!imp->sub_files)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t f = 0; f < imp->nfiles; f++) {
		struct file *fl = &imp->files[f];
		const size_t *idx;
		size_t n;

		if (!kc_path_safe(fl->path, 0))
			continue;
		if (kc_maint_match(imp->maint, fl->path, &idx, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (u32v_push(&fl->subs, (uint32_t)idx[i]) < 0)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			if (imp->sub_files[idx[i]]++ == 0)
				imp->nsubs++;
		}
	}
	return 0;
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

static void report_progress(const struct kc_import_opts *o, const struct kc_import *imp,
			    uint32_t total, uint32_t files)
{
	struct kc_import_progress p = { imp->nimages, total, imp->points, files };

	if (o->progress)
		o->progress(o->progress_ctx, &p);
}

int kc_import_prepare(const struct kc_import_opts *o, struct kc_import **out,
		      struct kc_err *err)
{
	struct kc_import *imp = calloc(1, sizeof(*imp));
	struct pathlist mods = { NULL, 0, 0 };
	struct kc_sym_opts so = { .strip_prefixes = o->strip_prefixes, .nstrip = o->nstrip,
				   .debug_dir = o->debug_dir };
	struct kc_source *src = NULL;
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
	if (open_source(imp, o, &src, err) < 0)
		goto out;
	if (o->modules_dir && find_modules(o->modules_dir, 0, &mods, err) < 0)
		goto out;
	if (mods.n > 1)
		qsort(mods.v, mods.n, sizeof(*mods.v), cmp_str);
	imp->images = calloc(mods.n + 1, sizeof(*imp->images));
	if (!imp->images) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i <= mods.n; i++) {
		if (add_image(imp, i ? mods.v[i - 1] : o->vmlinux, &so, i > 0, err) < 0)
			goto out;
		report_progress(o, imp, (uint32_t)mods.n + 1, 0);
	}
	if (o->nstrip == 0 && imp_detect_source_root(imp, err) < 0)
		goto out;
	if (build_files(imp, err) < 0)
		goto out;
	report_progress(o, imp, (uint32_t)mods.n + 1, imp->nfiles);
	if (build_funcs(imp, err) < 0 || build_lines(imp, err) < 0 || build_points(imp, err) < 0)
		goto out;
	if (read_sources(imp, src, err) < 0 || read_maintainers(imp, src, err) < 0)
		goto out;
	*out = imp;
	imp = NULL;
	ret = 0;
out:
	pathlist_release(&mods);
	kc_source_free(src);
	kc_import_free(imp);
	return ret;
}
