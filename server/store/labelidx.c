/*
 * labelidx.c - the label index (labelidx.h, schema/010_label_files.sql).
 * The writer's part maps a batch's new bits of a (binary, label, day) to
 * the files of the binary's images through a sorted point map per image
 * (point bit -> file), cached for a few images, and merges them into one
 * row per touched file. The rebuild reads, per image and label, the
 * label's rows by day, intersects their union with each file's points and
 * finds the first and last day whose rows touch the file.
 */
#include "labelidx.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "grow.h"
#include "store.h"
#include "wire.h"

/* Point maps kept by the writer: a vmlinux of 2 M points takes 16 MB. */
#define KC_LIDX_MAPS 4

/* One image's points, ascending: (bit << 32 | file slot). */
struct pmap {
	int64_t image;
	uint64_t *v;
	size_t n;
	int64_t *files; /* per slot: files.id */
	size_t nfiles;
	uint64_t used;
};

struct kc_lidx {
	struct pmap maps[KC_LIDX_MAPS];
	size_t n;
	uint64_t clock;
};

struct kc_lidx *kc_lidx_new(void)
{
	return calloc(1, sizeof(struct kc_lidx));
}

static void pmap_release(struct pmap *m)
{
	free(m->v);
	free(m->files);
	memset(m, 0, sizeof(*m));
}

void kc_lidx_forget(struct kc_lidx *x)
{
	for (size_t i = 0; x && i < x->n; i++)
		pmap_release(&x->maps[i]);
	if (x)
		x->n = 0;
}

void kc_lidx_free(struct kc_lidx *x)
{
	kc_lidx_forget(x);
	free(x);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Load the point map of image into m (empty on entry). */
static int pmap_load(struct kc_sql *db, int64_t image, struct pmap *m, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_cached(db, "SELECT file, bits FROM file_points WHERE image = ?",
					err);
	size_t cap = 0, capf = 0;
	int rc;

	if (!st)
		return -1;
	m->image = image;
	kc_stmt_bind_int64(st, 1, image);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		roaring_bitmap_t *b = kc_db_column_bitmap(st, 1);
		uint64_t k = b ? roaring_bitmap_get_cardinality(b) : 0;
		roaring_uint32_iterator_t it;

		if (!b || KC_GROW(m->files, capf, m->nfiles + 1) < 0 ||
		    KC_GROW(m->v, cap, m->n + k + 1) < 0) {
			kc_bitmap_free(b);
			rc = kc_err_set(err, KC_E_INTERNAL, b ? "out of memory" : "corrupt points");
			break;
		}
		m->files[m->nfiles] = kc_stmt_column_int64(st, 0);
		roaring_init_iterator(b, &it);
		for (; it.has_value; roaring_advance_uint32_iterator(&it))
			m->v[m->n++] = (uint64_t)it.current_value << 32 | m->nfiles;
		m->nfiles++;
		kc_bitmap_free(b);
	}
	kc_stmt_reset(st);
	if (rc < 0)
		return kc_err_prefix(err, "loading the points of image %lld", (long long)image);
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), cmp_u64);
	return 0;
}

/* The point map of image, from the cache or loaded into it. */
static struct pmap *pmap_get(struct kc_lidx *x, struct kc_sql *db, int64_t image, struct kc_err *err)
{
	size_t slot = 0;

	for (size_t i = 0; i < x->n; i++) {
		if (x->maps[i].image == image) {
			x->maps[i].used = ++x->clock;
			return &x->maps[i];
		}
		if (x->maps[i].used < x->maps[slot].used)
			slot = i;
	}
	if (x->n < KC_LIDX_MAPS)
		slot = x->n++;
	else
		pmap_release(&x->maps[slot]); /* least recently used */
	if (pmap_load(db, image, &x->maps[slot], err) < 0) {
		pmap_release(&x->maps[slot]);
		x->maps[slot] = x->maps[--x->n];
		return NULL;
	}
	x->maps[slot].used = ++x->clock;
	return &x->maps[slot];
}

/* The file slot of point bit in m, or -1. */
static int64_t pmap_find(const struct pmap *m, uint32_t bit)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uint32_t)(m->v[mid] >> 32) < bit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && (uint32_t)(m->v[lo] >> 32) == bit ? (int64_t)(uint32_t)m->v[lo] : -1;
}

/* Merge bits, covered on days first..last (INT64_MAX..INT64_MIN: on no
 * kept day, stored as NULL), into the row of (file, label, image); fresh:
 * there is no such row yet (a rebuild). */
static int row_merge(struct kc_sql *db, int64_t file, int64_t label, int64_t image, int64_t first,
		     int64_t last, const roaring_bitmap_t *bits, int fresh, struct kc_err *err)
{
	struct kc_stmt *get = kc_db_cached(db,
					 "SELECT first_day, last_day, bits FROM label_files "
					 "WHERE file = ? AND label = ? AND image = ?",
					 err);
	struct kc_stmt *put;
	roaring_bitmap_t *u = NULL;
	int rc, ret = -1;

	if (!get)
		return -1;
	kc_stmt_bind_int64(get, 1, file);
	kc_stmt_bind_int64(get, 2, label);
	kc_stmt_bind_int64(get, 3, image);
	rc = fresh ? KC_DONE : kc_db_step(db, get, err);
	if (rc == KC_ROW) {
		if (kc_stmt_column_type(get, 0) != KC_SQL_NULL) {
			int64_t f = kc_stmt_column_int64(get, 0), l = kc_stmt_column_int64(get, 1);

			first = f < first ? f : first;
			last = l > last ? l : last;
		}
		u = kc_db_column_bitmap(get, 2);
		if (!u)
			rc = kc_err_set(err, KC_E_INTERNAL, "a stored label index row is corrupt");
		else
			roaring_bitmap_or_inplace(u, bits);
	}
	kc_stmt_reset(get);
	if (rc < 0)
		goto out;
	put = kc_db_cached(db,
			   "INSERT INTO label_files (file, label, image, first_day, "
			   "last_day, bits) VALUES (?,?,?,?,?,?) ON CONFLICT (file, label, image) "
			   "DO UPDATE SET first_day = excluded.first_day, "
			   "last_day = excluded.last_day, bits = excluded.bits",
			   err);
	if (!put)
		goto out;
	kc_stmt_bind_int64(put, 1, file);
	kc_stmt_bind_int64(put, 2, label);
	kc_stmt_bind_int64(put, 3, image);
	if (first <= last) {
		kc_stmt_bind_int64(put, 4, first);
		kc_stmt_bind_int64(put, 5, last);
	} else {
		kc_stmt_bind_null(put, 4);
		kc_stmt_bind_null(put, 5);
	}
	if (kc_db_bind_bitmap(put, 6, u ? u : bits, err) < 0 ||
	    (rc = kc_db_step(db, put, err)) < 0) {
		kc_stmt_reset(put);
		goto out;
	}
	kc_stmt_reset(put);
	ret = 0;
out:
	kc_bitmap_free(u);
	return ret;
}

/* Add bits (day's new ones of label) to the rows of the files of m's image. */
static int add_image(struct kc_sql *db, const struct pmap *m, int64_t label, int64_t day,
		     const roaring_bitmap_t *bits, struct kc_err *err)
{
	uint64_t n = roaring_bitmap_get_cardinality(bits);
	uint32_t *v = malloc((n + 1) * sizeof(*v));
	uint64_t *hit = malloc((n + 1) * sizeof(*hit)); /* file slot << 32 | bit */
	size_t k = 0;
	int ret = -1;

	if (!v || !hit) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	roaring_bitmap_to_uint32_array(bits, v);
	for (uint64_t i = 0; i < n; i++) {
		int64_t slot = pmap_find(m, v[i]);

		if (slot >= 0)
			hit[k++] = (uint64_t)slot << 32 | v[i];
	}
	if (k)
		qsort(hit, k, sizeof(*hit), cmp_u64);
	for (size_t i = 0, j; i < k; i = j) {
		roaring_bitmap_t *fb;
		int r;

		for (j = i; j < k && hit[j] >> 32 == hit[i] >> 32; j++)
			v[j - i] = (uint32_t)hit[j];
		fb = roaring_bitmap_of_ptr(j - i, v);
		if (!fb) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		r = row_merge(db, m->files[hit[i] >> 32], label, m->image, day, day, fb, 0, err);
		kc_bitmap_free(fb);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	free(v);
	free(hit);
	return ret;
}

int kc_lidx_add(struct kc_lidx *x, struct kc_sql *db, int64_t binary, int64_t label, int64_t day,
		const roaring_bitmap_t *bits, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_cached(db,
					"SELECT i.id FROM binaries b JOIN images i ON " IMG_BINARY
					"JOIN label_files_built x ON x.build = i.build WHERE b.id = ?",
					err);
	int64_t images[8];
	size_t n = 0;
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, binary);
	/* One binary has one image (its kind and name); 8 is more than enough. */
	while ((rc = kc_db_step(db, st, err)) == KC_ROW && n < 8)
		images[n++] = kc_stmt_column_int64(st, 0);
	kc_stmt_reset(st);
	if (rc < 0)
		return kc_err_prefix(err, "finding the images of binary %lld", (long long)binary);
	for (size_t i = 0; i < n; i++) {
		struct pmap *m = pmap_get(x, db, images[i], err);

		if (!m || add_image(db, m, label, day, bits, err) < 0)
			return kc_err_prefix(err, "indexing labels");
	}
	return 0;
}

/* A label's rows of one image while rebuilding: per day its union. */
struct lday {
	int64_t day;
	roaring_bitmap_t *bits;
};

struct lbuild {
	int64_t image;
	int64_t *fid;            /* per file of the image: files.id */
	roaring_bitmap_t **fbm;  /* and its points */
	size_t nfiles;
	struct lday *days;       /* ascending once read */
	size_t ndays, capdays;
};

static int cmp_lday(const void *a, const void *b)
{
	const struct lday *x = a, *y = b;

	return x->day < y->day ? -1 : x->day > y->day;
}

static void lbuild_days_release(struct lbuild *b)
{
	for (size_t i = 0; i < b->ndays; i++)
		kc_bitmap_free(b->days[i].bits);
	b->ndays = 0;
}

/* Read the files of b->image and their points. */
static int lbuild_files(struct kc_sql *db, struct lbuild *b, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_cached(db, "SELECT file, bits FROM file_points WHERE image = ?",
					err);
	size_t cap = 0, capb = 0;
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, b->image);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		roaring_bitmap_t *bm = kc_db_column_bitmap(st, 1);

		if (!bm || KC_GROW(b->fid, cap, b->nfiles + 1) < 0 ||
		    KC_GROW(b->fbm, capb, b->nfiles + 1) < 0) {
			kc_bitmap_free(bm);
			rc = kc_err_set(err, KC_E_INTERNAL, bm ? "out of memory" : "corrupt points");
			break;
		}
		b->fid[b->nfiles] = kc_stmt_column_int64(st, 0);
		b->fbm[b->nfiles++] = bm;
	}
	kc_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

/* Read label's rows of b->image (over its binaries) into b->days. */
static int lbuild_days(struct kc_sql *db, struct lbuild *b, int64_t label, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_cached(db,
					"SELECT c.day, c.bits FROM images i JOIN binaries b ON "
					IMG_BINARY "JOIN coverage c ON c.binary = b.id "
					"WHERE i.id = ? AND c.label = ?",
					err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, b->image);
	kc_stmt_bind_int64(st, 2, label);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		int64_t day = kc_stmt_column_int64(st, 0);
		roaring_bitmap_t *bm = kc_db_column_bitmap(st, 1);
		size_t i;

		if (!bm) {
			rc = kc_err_set(err, KC_E_INTERNAL, "a stored coverage bitmap is corrupt");
			break;
		}
		for (i = b->ndays; i > 0 && b->days[i - 1].day != day; i--)
			;
		if (i > 0) {
			roaring_bitmap_or_inplace(b->days[i - 1].bits, bm);
			kc_bitmap_free(bm);
			continue;
		}
		if (KC_GROW(b->days, b->capdays, b->ndays + 1) < 0) {
			kc_bitmap_free(bm);
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		b->days[b->ndays++] = (struct lday){ day, bm };
	}
	kc_stmt_reset(st);
	if (rc < 0)
		return -1;
	if (b->ndays)
		qsort(b->days, b->ndays, sizeof(*b->days), cmp_lday);
	return 0;
}

/* The index rows of label in b->image, from b->days. */
static int lbuild_label(struct kc_sql *db, struct lbuild *b, int64_t label, struct kc_err *err)
{
	roaring_bitmap_t *all = roaring_bitmap_create();
	int ret = -1;

	if (!all)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (size_t d = 0; d < b->ndays; d++)
		roaring_bitmap_or_inplace(all, b->days[d].bits);
	for (size_t k = 0; k < b->nfiles; k++) {
		roaring_bitmap_t *hit;
		int64_t first = INT64_MAX, last = INT64_MIN;
		int r;

		if (!roaring_bitmap_intersect(all, b->fbm[k]))
			continue;
		hit = roaring_bitmap_and(all, b->fbm[k]);
		if (!hit) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		for (size_t d = 0; d < b->ndays && first == INT64_MAX; d++)
			if (b->days[d].day >= 0 && roaring_bitmap_intersect(b->days[d].bits, b->fbm[k]))
				first = b->days[d].day;
		for (size_t d = b->ndays; d > 0 && last == INT64_MIN; d--)
			if (b->days[d - 1].day >= 0 &&
			    roaring_bitmap_intersect(b->days[d - 1].bits, b->fbm[k]))
				last = b->days[d - 1].day;
		r = row_merge(db, b->fid[k], label, b->image, first, last, hit, 1, err);
		kc_bitmap_free(hit);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	kc_bitmap_free(all);
	return ret;
}

/* The index rows of one image. */
static int lbuild_image(struct kc_sql *db, int64_t image, struct kc_err *err)
{
	struct lbuild b = { .image = image };
	struct kc_stmt *st = NULL;
	int64_t *labels = NULL;
	size_t nlabels = 0, cap = 0;
	int rc, ret = -1;

	if (lbuild_files(db, &b, err) < 0)
		goto out;
	st = kc_db_prepare(db,
			   "SELECT DISTINCT c.label FROM images i JOIN binaries b ON " IMG_BINARY
			   "JOIN coverage c ON c.binary = b.id WHERE i.id = ?",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_int64(st, 1, image);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(labels, cap, nlabels + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		labels[nlabels++] = kc_stmt_column_int64(st, 0);
	}
	if (rc < 0)
		goto out;
	for (size_t l = 0; l < nlabels; l++) {
		int r = lbuild_days(db, &b, labels[l], err);

		if (r == 0)
			r = lbuild_label(db, &b, labels[l], err);
		lbuild_days_release(&b);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	for (size_t k = 0; k < b.nfiles; k++)
		kc_bitmap_free(b.fbm[k]);
	free(b.fid);
	free(b.fbm);
	free(b.days);
	free(labels);
	return ret;
}

/* Run sql with ?1 bound to v. */
static int exec_i(struct kc_sql *db, const char *sql, int64_t v, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, v);
	rc = kc_db_step(db, st, err);
	kc_stmt_finalize(st);
	return rc < 0 ? -1 : 0;
}

int kc_lidx_clear(struct kc_sql *db, int64_t build, struct kc_err *err)
{
	if (exec_i(db, "DELETE FROM label_files WHERE file IN (SELECT id FROM files WHERE build = ?1)",
		   build, err) < 0 ||
	    exec_i(db, "DELETE FROM label_files_built WHERE build = ?1", build, err) < 0)
		return kc_err_prefix(err, "clearing the label index");
	return 0;
}

/* The ids a one-column query with ?1 = v returns. */
static int ids_of(struct kc_sql *db, const char *sql, int64_t v, int64_t **out, size_t *n,
		  struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, sql, err);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, v);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		if (KC_GROW(*out, cap, *n + 1) < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		(*out)[(*n)++] = kc_stmt_column_int64(st, 0);
	}
	kc_stmt_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int kc_lidx_build(struct kc_sql *db, int64_t build, struct kc_err *err)
{
	int64_t *images;
	size_t n;
	int ret = -1;

	if (kc_lidx_clear(db, build, err) < 0 ||
	    ids_of(db, "SELECT id FROM images WHERE build = ?1 ORDER BY id", build, &images, &n,
		   err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (lbuild_image(db, images[i], err) < 0)
			goto out;
	if (exec_i(db, "INSERT INTO label_files_built (build) VALUES (?1)", build, err) < 0)
		goto out;
	ret = 0;
out:
	free(images);
	return ret < 0 ? kc_err_prefix(err, "indexing the labels of build %lld", (long long)build)
		       : 0;
}

int kc_lidx_build_missing(struct kc_sql *db, int64_t *built, struct kc_err *err)
{
	int64_t *builds;
	size_t n;
	int ret = -1;

	if (built)
		*built = 0;
	if (ids_of(db,
		   "SELECT build FROM build_imports WHERE ?1 = ?1 AND build NOT IN "
		   "(SELECT build FROM label_files_built) ORDER BY build",
		   0, &builds, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (kc_lidx_build(db, builds[i], err) < 0)
			goto out;
	if (built)
		*built = (int64_t)n;
	ret = 0;
out:
	free(builds);
	return ret;
}
