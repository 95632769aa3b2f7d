/*
 * pindex.c - loading the point index of an imported build (cq.h, struct
 * pindex): its images, then every (file, image) row of points with their
 * line and function indexes, then the functions' names and lines, all in
 * path order as import.c stored them; then the build's MAINTAINERS
 * subsystems (schema 009) as lists of index file numbers.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "search.h"
#include "grow.h"

void cq_index_free(struct pindex *x)
{
	if (!x)
		return;
	for (uint32_t f = 0; f < x->nfiles; f++) {
		struct pfile *pf = &x->files[f];

		for (uint32_t i = 0; i < pf->nparts; i++) {
			free(pf->parts[i].bits);
			free(pf->parts[i].li);
			free(pf->parts[i].fi);
		}
		for (uint32_t i = 0; pf->funcs && i < pf->nfuncs; i++)
			free(pf->funcs[i].name);
		free(pf->parts);
		free(pf->funcs);
		free(pf->lines);
		free(pf->path);
	}
	for (uint32_t i = 0; i < x->nsubs; i++) {
		free(x->subs[i].name);
		free(x->subs[i].files);
	}
	free(x->subs);
	free(x->files);
	free(x->img);
	free(x->img_limit);
	free(x);
}

static int index_images(struct kc_sql *db, struct pindex *x, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, "SELECT id FROM images WHERE build = ? ORDER BY id",
					 err);
	size_t cap = 0, cap_limit = 0;
	int rc, ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, x->build);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(x->img, cap, (size_t)x->nimg + 1) < 0 ||
		    KC_GROW(x->img_limit, cap_limit, (size_t)x->nimg + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		x->img[x->nimg] = kc_stmt_column_int64(st, 0);
		x->img_limit[x->nimg++] = 0;
	}
	if (rc < 0)
		goto out;
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

struct image_key {
	const struct pindex *x;
	int64_t image;
};

static int image_below(const void *ctx, size_t i)
{
	const struct image_key *k = ctx;

	return k->x->img[i] < k->image;
}

static int64_t slot_of(const struct pindex *x, int64_t image)
{
	struct image_key k = { x, image };
	size_t lo = kc_lower_bound(x->nimg, image_below, &k);

	return lo < x->nimg && x->img[lo] == image ? (int64_t)lo : -1;
}

/* A new file entry from a walk row (columns as in index_points). */
static struct pfile *index_file(struct pindex *x, struct kc_stmt *st, struct kc_err *err)
{
	struct pfile *pf;
	uint32_t nlines = (uint32_t)kc_stmt_column_int64(st, 2);

	if (KC_GROW(x->files, x->capfiles, (size_t)x->nfiles + 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	pf = &x->files[x->nfiles++];
	memset(pf, 0, sizeof(*pf));
	pf->id = kc_stmt_column_int64(st, 0);
	pf->text_id = kc_stmt_column_int64(st, 9); /* NULL reads as 0 */
	pf->path = strdup((const char *)kc_stmt_column_text(st, 1));
	pf->nlines = nlines;
	pf->nfuncs = (uint32_t)kc_stmt_column_int64(st, 3);
	pf->lines = malloc(((size_t)nlines + 1) * 4);
	pf->funcs = calloc((size_t)pf->nfuncs + 1, sizeof(*pf->funcs));
	if (!pf->path || !pf->lines || !pf->funcs) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	if ((size_t)kc_stmt_column_bytes(st, 4) != (size_t)nlines * 4) {
		kc_err_set(err, KC_E_INTERNAL, "stored lines of %s are corrupt", pf->path);
		return NULL;
	}
	if (nlines)
		memcpy(pf->lines, kc_stmt_column_blob(st, 4), (size_t)nlines * 4);
	return pf;
}

static int index_part(struct pindex *x, struct pfile *pf, struct kc_stmt *st, struct kc_err *err)
{
	roaring_bitmap_t *bits = kc_db_column_bitmap(st, 6);
	int64_t slot = slot_of(x, kc_stmt_column_int64(st, 5));
	struct part *p;
	uint64_t n;
	int ret = -1;

	if (!bits || slot < 0) {
		kc_err_set(err, KC_E_INTERNAL, "stored points of %s are corrupt", pf->path);
		goto out;
	}
	n = roaring_bitmap_get_cardinality(bits);
	if ((uint64_t)kc_stmt_column_bytes(st, 7) != n * 4 ||
	    (uint64_t)kc_stmt_column_bytes(st, 8) != n * 4) {
		kc_err_set(err, KC_E_INTERNAL, "stored point arrays of %s are corrupt", pf->path);
		goto out;
	}
	if (KC_GROW(pf->parts, pf->capparts, (size_t)pf->nparts + 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	p = &pf->parts[pf->nparts++];
	memset(p, 0, sizeof(*p));
	p->slot = (uint32_t)slot;
	p->n = (uint32_t)n;
	p->bits = malloc(n * 4 + 4);
	p->li = malloc(n * 4 + 4);
	p->fi = malloc(n * 4 + 4);
	if (!p->bits || !p->li || !p->fi) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	roaring_bitmap_to_uint32_array(bits, p->bits);
	if (n) {
		memcpy(p->li, kc_stmt_column_blob(st, 7), n * 4);
		memcpy(p->fi, kc_stmt_column_blob(st, 8), n * 4);
		if (p->bits[n - 1] + 1 > x->img_limit[slot])
			x->img_limit[slot] = p->bits[n - 1] + 1;
	}
	ret = 0;
out:
	kc_bitmap_free(bits);
	return ret;
}

static int index_points(struct kc_sql *db, struct pindex *x, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"SELECT f.id, f.path, f.nlines, f.nfuncs, f.lines, fp.image, fp.bits, "
		"fp.line_idx, fp.func_idx, f.text_id FROM files f "
		"JOIN file_points fp ON fp.file = f.id "
		"WHERE f.build = ? ORDER BY f.path, fp.image",
		err);
	struct pfile *pf = NULL;
	int rc, ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, x->build);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (!pf || pf->id != kc_stmt_column_int64(st, 0)) {
			pf = index_file(x, st, err);
			if (!pf)
				goto out;
		}
		if (index_part(x, pf, st, err) < 0)
			goto out;
	}
	if (rc < 0) {
		kc_err_prefix(err, "reading points");
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

static int index_functions(struct kc_sql *db, struct pindex *x, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"SELECT fn.file, fn.idx, fn.name, fn.line_start, fn.line_end FROM functions fn "
		"JOIN files f ON f.id = fn.file WHERE f.build = ? ORDER BY f.path, fn.idx",
		err);
	uint32_t at = 0;
	int rc, ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, x->build);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		int64_t file = kc_stmt_column_int64(st, 0), idx = kc_stmt_column_int64(st, 1);
		struct pfile *pf;
		uint32_t j = at;

		/* Both queries run in path order. A file can have functions but
		 * no coverage point (a header whose inline function was never
		 * instrumented): it is not in the point index, skip it. */
		while (j < x->nfiles && x->files[j].id != file)
			j++;
		if (j == x->nfiles)
			continue;
		at = j;
		pf = &x->files[at];
		if (idx < 0 || idx >= pf->nfuncs || pf->funcs[idx].name)
			continue;
		pf->funcs[idx].name = strdup((const char *)kc_stmt_column_text(st, 2));
		if (!pf->funcs[idx].name) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		pf->funcs[idx].line_start = kc_stmt_column_int64(st, 3);
		pf->funcs[idx].line_end = kc_stmt_column_int64(st, 4);
	}
	if (rc < 0) {
		kc_err_prefix(err, "reading functions");
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

/* The subsystems of the build and their files in the index (files
 * without points are in none of them here, as in the tree). */
static int index_subsystems(struct kc_sql *db, struct pindex *x, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db,
		"SELECT s.name, f.path FROM subsystems s JOIN file_subsystems fs ON "
		"fs.subsystem = s.id JOIN files f ON f.id = fs.file WHERE s.build = ?1 "
		"ORDER BY s.name, f.path",
		err);
	struct kc_stmt *mt = st ? kc_db_prepare(db,
					      "SELECT maintainers IS NOT NULL FROM build_imports "
					      "WHERE build = ?",
					      err)
			      : NULL;
	struct psub *sub = NULL;
	size_t cap = 0;
	int rc, ret = -1;

	if (!mt)
		goto out;
	kc_stmt_bind_int64(mt, 1, x->build);
	rc = kc_db_step(db, mt, err);
	if (rc < 0) {
		kc_err_prefix(err, "reading subsystems");
		goto out;
	}
	x->maintainers = rc == KC_ROW && kc_stmt_column_int64(mt, 0) == 1;
	kc_stmt_bind_int64(st, 1, x->build);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		const char *name = (const char *)kc_stmt_column_text(st, 0);
		const char *path = (const char *)kc_stmt_column_text(st, 1);
		uint32_t at;

		if (!name || !path)
			continue;
		at = cq_lower_bound(x, path);
		if (at >= x->nfiles || strcmp(x->files[at].path, path) != 0)
			continue; /* a file without points: a subsystem of only those is none */
		if (!sub || strcmp(sub->name, name) != 0) {
			if (KC_GROW(x->subs, x->capsubs, (size_t)x->nsubs + 1) < 0)
				goto oom;
			sub = &x->subs[x->nsubs++];
			memset(sub, 0, sizeof(*sub));
			cap = 0;
			if (!(sub->name = strdup(name)))
				goto oom;
		}
		if (KC_GROW(sub->files, cap, (size_t)sub->n + 1) < 0)
			goto oom;
		sub->files[sub->n++] = at;
	}
	if (rc < 0) {
		kc_err_prefix(err, "reading subsystems");
		goto out;
	}
	ret = 0;
	goto out;
oom:
	kc_err_set(err, KC_E_INTERNAL, "out of memory");
out:
	kc_stmt_finalize(st);
	kc_stmt_finalize(mt);
	return ret;
}

/* Bytes an index holds (its arrays and strings). */
static size_t index_size(const struct pindex *x)
{
	size_t n = sizeof(*x) + (size_t)x->nimg * 12 + (size_t)x->capfiles * sizeof(*x->files);

	for (uint32_t f = 0; f < x->nfiles; f++) {
		const struct pfile *pf = &x->files[f];

		n += strlen(pf->path) + 1 + (size_t)pf->nlines * 4 +
		     ((size_t)pf->nfuncs + 1) * sizeof(*pf->funcs) +
		     (size_t)pf->nparts * sizeof(*pf->parts);
		for (uint32_t i = 0; i < pf->nparts; i++)
			n += (size_t)pf->parts[i].n * 12;
		for (uint32_t i = 0; pf->funcs && i < pf->nfuncs; i++)
			n += pf->funcs[i].name ? strlen(pf->funcs[i].name) + 1 : 0;
	}
	n += x->capsubs * sizeof(*x->subs);
	for (uint32_t i = 0; i < x->nsubs; i++)
		n += strlen(x->subs[i].name) + 1 + (size_t)x->subs[i].n * 4;
	return n;
}

struct pindex *cq_index_load(struct kc_sql *db, int64_t build, int64_t generation, struct kc_err *err)
{
	struct pindex *x = calloc(1, sizeof(*x));

	if (!x) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	x->build = build;
	x->generation = generation;
	if (index_images(db, x, err) < 0 || index_points(db, x, err) < 0 ||
	    index_functions(db, x, err) < 0 || index_subsystems(db, x, err) < 0) {
		cq_index_free(x);
		return NULL;
	}
	x->bytes = index_size(x);
	return x;
}

struct path_key {
	const struct pindex *x;
	const char *path;
};

static int path_below(const void *ctx, size_t i)
{
	const struct path_key *k = ctx;

	return strcmp(k->x->files[i].path, k->path) < 0;
}

uint32_t cq_lower_bound(const struct pindex *x, const char *key)
{
	struct path_key k = { x, key };

	return (uint32_t)kc_lower_bound(x->nfiles, path_below, &k);
}

struct sub_key {
	const struct pindex *x;
	const char *name;
};

static int sub_below(const void *ctx, size_t i)
{
	const struct sub_key *k = ctx;

	return strcmp(k->x->subs[i].name, k->name) < 0;
}

const struct psub *cq_find_subsystem(const struct pindex *x, const char *name)
{
	struct sub_key k = { x, name };
	size_t at = kc_lower_bound(x->nsubs, sub_below, &k);

	return at < x->nsubs && strcmp(x->subs[at].name, name) == 0 ? &x->subs[at] : NULL;
}
