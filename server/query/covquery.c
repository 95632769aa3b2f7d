/*
 * covquery.c - coverage of an imported build per directory, file and
 * function, and its exports (LCOV, CSV). The points of a build are stored
 * per (file, image) as a bitmap of point bits plus u32 arrays in bitmap
 * order (line index, function index) by import.c. A query loads the
 * coverage of each image once (the union of coverage rows for the filter,
 * minus the union for the subtracted labels), then walks the files asked
 * for in path order: per (file, image) one bitmap AND and one pass over the
 * file's points that tallies points per line and per function. Directory
 * children are contiguous in path order, so a tree is one ordered walk.
 */
#include "covquery.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "buf.h"
#include "day.h"
#include "db.h"
#include "store.h"
#include "wire.h"

#define NONE UINT32_MAX


struct imgcov {
	int64_t id; /* images.id or binaries.id */
	roaring_bitmap_t *bits;
};

struct covset {
	struct imgcov *v; /* sorted by id */
	size_t n, cap;
};

struct kc_covq {
	sqlite3 *db; /* borrowed */
	int64_t build;
	char build_id[KC_BUILD_ID_MAX + 1];
	int imported;
	struct kc_cov_filter f; /* strings borrowed */
	struct covset img;      /* coverage per image */
	struct pindex *index;   /* the build's points (shared, counted) */
	const roaring_bitmap_t **cov; /* per index slot, borrowed from img */
	uint64_t **bitset;      /* per slot, made by ensure_bitsets() */
	char *tkey;             /* totals cache key, made by totals_key() */
};

/* The tallies of one file while walking. */
struct fview {
	const struct pfile *pf; /* the file in the index */
	int64_t id;
	const char *path;
	uint32_t nlines, nfuncs;
	const uint32_t *lines; /* instrumented line numbers */
	uint32_t *ltot, *lcov; /* points / covered points per line index */
	uint32_t *ftot, *fcov; /* per function idx */
	size_t lcap, fcap;
	uint64_t points, covered;
};

/* Totals of a file or a directory. */
struct totals {
	uint64_t points, covered;
	uint64_t lines, lines_full, lines_partial;
	uint64_t funcs, funcs_hit;
	uint64_t files;
};

typedef int (*file_fn)(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err);

/* ---- coverage sets ------------------------------------------------------ */

/* The coverage rows (binaries) that count for an image: same build, kind
 * and name, and the image's build id or none recorded. */
#define IMG_BINARY                                                                        \
	"b.build = i.build AND b.kind = i.kind AND b.name = i.name AND "                   \
	"(b.build_id = i.build_id OR b.build_id = '') "
#define IMG_JOIN "FROM images i JOIN binaries b ON " IMG_BINARY

static void covset_release(struct covset *s)
{
	for (size_t i = 0; i < s->n; i++)
		kc_bitmap_free(s->v[i].bits);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static const roaring_bitmap_t *covset_get(const struct covset *s, int64_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo].id == id ? s->v[lo].bits : NULL;
}

/* Coverage per image (by_binary = 0) or per binaries row (1): the
 * all-time union (filtered = 0), or the rows of the days since..until
 * (KC_ALL_DAYS: all days) of the labels in labels_json (NULL: all labels). Images and binaries are
 * scanned in id order ("+" keeps SQLite off the build index), so rows come
 * grouped by key without sorting their blobs, and merging only looks at the
 * last entry; each key's rows are found through the primary key (binary,
 * label, day). */
static int covset_load(sqlite3 *db, int64_t build, int by_binary, int filtered,
		       const char *labels_json, int64_t since, int64_t until, struct covset *out,
		       struct kc_err *err)
{
#define IMAGES "FROM images i CROSS JOIN binaries b ON " IMG_BINARY
#define LABELS                                                                            \
	"c.label IN (SELECT l.id FROM labels l JOIN json_each(?2) j ON l.name = j.value) AND "
#define DAYS "c.day BETWEEN ?3 AND ?4 "
	static const char *const sql[2][4] = {
		{ "SELECT i.id, t.bits " IMAGES "CROSS JOIN coverage_total t ON t.binary = b.id "
		  "WHERE +i.build = ?1 ORDER BY i.id",
		  "SELECT i.id, c.bits " IMAGES "CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +i.build = ?1 AND " LABELS DAYS "ORDER BY i.id",
		  "SELECT i.id, c.bits " IMAGES "CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +i.build = ?1 AND " DAYS "ORDER BY i.id",
		  "SELECT i.id, c.bits " IMAGES "CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +i.build = ?1 AND " LABELS KC_ALL_DAYS_ROWS "ORDER BY i.id" },
		{ "SELECT b.id, t.bits FROM binaries b CROSS JOIN coverage_total t ON "
		  "t.binary = b.id WHERE +b.build = ?1 ORDER BY b.id",
		  "SELECT b.id, c.bits FROM binaries b CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +b.build = ?1 AND " LABELS DAYS "ORDER BY b.id",
		  "SELECT b.id, c.bits FROM binaries b CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +b.build = ?1 AND " DAYS "ORDER BY b.id",
		  "SELECT b.id, c.bits FROM binaries b CROSS JOIN coverage c ON c.binary = b.id "
		  "WHERE +b.build = ?1 AND " LABELS KC_ALL_DAYS_ROWS "ORDER BY b.id" },
	};
#undef IMAGES
#undef LABELS
#undef DAYS
	/* 0: all-time union; 1: labels, days; 2: all labels, days; 3: labels,
	 * all days. */
	int variant = !filtered ? 0 : !labels_json ? 2 : since == KC_ALL_DAYS ? 3 : 1;
	sqlite3_stmt *st = kc_db_prepare(db, sql[by_binary][variant], err);
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, build);
	if (filtered) {
		if (labels_json)
			sqlite3_bind_text(st, 2, labels_json, -1, SQLITE_STATIC);
		if (variant != 3) {
			sqlite3_bind_int64(st, 3, since);
			sqlite3_bind_int64(st, 4, until);
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		roaring_bitmap_t *b = roaring_bitmap_portable_deserialize_safe(
			sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));

		if (!b) {
			kc_err_set(err, KC_E_INTERNAL,
				   "stored coverage bitmap of %lld is corrupt", (long long)id);
			goto out;
		}
		if (out->n && out->v[out->n - 1].id == id) {
			roaring_bitmap_or_inplace(out->v[out->n - 1].bits, b);
			kc_bitmap_free(b);
			continue;
		}
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 8;
			struct imgcov *v = realloc(out->v, cap * sizeof(*v));

			if (!v) {
				kc_bitmap_free(b);
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n].id = id;
		out->v[out->n++].bits = b;
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(db), "loading coverage: %s", sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	if (ret < 0)
		covset_release(out);
	return ret;
}

/*
 * Decoded coverage per image of recent queries, keyed by build, import
 * generation, filter and the writer's coverage generation, so a repeated
 * query copies bitmaps instead of reading and decoding blobs. Any commit
 * that changes coverage changes the key.
 */
#define KC_COVSET_CACHE 32

struct covcache {
	char *key;        /* NULL: free slot */
	struct covset set;
	uint64_t used;
};

static pthread_mutex_t covcache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct covcache covcache[KC_COVSET_CACHE];
static uint64_t covcache_tick;

static int covset_copy(const struct covset *from, struct covset *to)
{
	memset(to, 0, sizeof(*to));
	to->v = calloc(from->n ? from->n : 1, sizeof(*to->v));
	if (!to->v)
		return -1;
	for (size_t i = 0; i < from->n; i++) {
		to->v[i].id = from->v[i].id;
		to->v[i].bits = roaring_bitmap_copy(from->v[i].bits);
		to->n = to->cap = i + 1;
		if (!to->v[i].bits) {
			covset_release(to);
			return -1;
		}
	}
	return 0;
}

static char *covset_key(const struct kc_covq *q, int64_t generation)
{
	const struct kc_cov_filter *f = &q->f;
	struct kc_buf b = KC_BUF_INIT;

	kc_buf_addf(&b, "%lld/%lld/%llu/%s/%s/%d/%lld/%lld", (long long)q->build,
		    (long long)generation, (unsigned long long)kc_store_coverage_generation(),
		    f->labels_json ? f->labels_json : "-", f->minus_json ? f->minus_json : "-",
		    f->days, (long long)f->since, (long long)f->until);
	if (b.oom) {
		kc_buf_release(&b);
		return NULL;
	}
	return (char *)b.data; /* NUL-terminated, owned by the caller */
}

/* Copy the cached coverage of key into out: 1 hit, 0 miss, -1 error. */
static int covcache_get(const char *key, struct covset *out)
{
	int r = 0;

	pthread_mutex_lock(&covcache_lock);
	for (int i = 0; i < KC_COVSET_CACHE; i++)
		if (covcache[i].key && strcmp(covcache[i].key, key) == 0) {
			covcache[i].used = ++covcache_tick;
			r = covset_copy(&covcache[i].set, out) < 0 ? -1 : 1;
			break;
		}
	pthread_mutex_unlock(&covcache_lock);
	return r;
}

static void covcache_put(const char *key, const struct covset *set)
{
	int slot = 0;

	pthread_mutex_lock(&covcache_lock);
	for (int i = 0; i < KC_COVSET_CACHE; i++) {
		if (!covcache[i].key) {
			slot = i; /* a free slot */
			break;
		}
		if (covcache[i].used < covcache[slot].used)
			slot = i; /* else the least recently used */
	}
	free(covcache[slot].key);
	covset_release(&covcache[slot].set);
	covcache[slot].key = strdup(key);
	if (covcache[slot].key && covset_copy(set, &covcache[slot].set) < 0) {
		free(covcache[slot].key);
		covcache[slot].key = NULL;
	}
	covcache[slot].used = ++covcache_tick;
	pthread_mutex_unlock(&covcache_lock);
}

/* The coverage of the filter, minus the coverage of the minus labels. */
static int load_filtered(struct kc_covq *q, int by_binary, struct covset *out, struct kc_err *err)
{
	const struct kc_cov_filter *f = &q->f;
	/* Without a day window, each label's union over all days. */
	int64_t since = f->days ? f->since : KC_ALL_DAYS, until = f->days ? f->until : KC_ALL_DAYS;
	int filtered = f->labels_json || f->days;
	struct covset minus;

	if (covset_load(q->db, q->build, by_binary, filtered, f->labels_json, since, until, out,
			err) < 0)
		return -1;
	if (!f->minus_json)
		return 0;
	if (covset_load(q->db, q->build, by_binary, 1, f->minus_json, since, until, &minus, err) <
	    0) {
		covset_release(out);
		return -1;
	}
	for (size_t i = 0; i < out->n; i++) {
		const roaring_bitmap_t *m = covset_get(&minus, out->v[i].id);

		if (m)
			roaring_bitmap_andnot_inplace(out->v[i].bits, m);
	}
	covset_release(&minus);
	return 0;
}

/* ---- the in-memory point index of a build -------------------------------- */

/*
 * The points of an imported build never change until it is re-imported, so
 * they are loaded once into memory (struct pindex, immutable, shared by all
 * queries, reference-counted) and a query only scans arrays: per point one
 * bit test against the coverage, no SQL and no bitmap decoding. The cache
 * holds the most recently used builds, up to KC_INDEX_SLOTS of them and
 * index_budget bytes (kc_covq_set_cache_mb; the newest is kept even when it
 * alone is larger), and is keyed by (build, build_imports.imported), which
 * import.c makes strictly increasing.
 */
#define KC_INDEX_SLOTS 64
/* Walks over more files than this turn the coverage into flat bitsets. */
#define KC_BITSET_MIN_FILES 32

struct part {
	uint32_t slot; /* image index in pindex.img */
	uint32_t n;
	uint32_t *bits; /* point bits, ascending */
	uint32_t *li;   /* line index per point (NONE: line 0) */
	uint32_t *fi;   /* function index per point (NONE: none) */
};

struct pfunc {
	char *name; /* NULL when the idx has no row */
	int64_t line_start, line_end;
};

struct pfile {
	int64_t id;
	char *path;
	uint32_t nlines, nfuncs, nparts;
	uint32_t *lines;
	struct pfunc *funcs; /* by idx */
	struct part *parts;
};

struct pindex {
	int64_t build, generation;
	size_t bytes;        /* memory held, for the cache budget */
	unsigned refs;       /* users, including the cache */
	uint64_t used;       /* LRU tick */
	int64_t *img;        /* image ids, ascending; index = slot */
	uint32_t *img_limit; /* largest point bit + 1 per slot */
	uint32_t nimg;
	struct pfile *files; /* sorted by path */
	uint32_t nfiles, capfiles;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pindex *cache[KC_INDEX_SLOTS];
static size_t index_budget = (size_t)KC_COVQ_CACHE_MB_DEFAULT << 20;
static size_t cached_bytes; /* sum of the cached indexes' bytes */

void kc_covq_set_cache_mb(unsigned mb)
{
	pthread_mutex_lock(&cache_lock);
	index_budget = (size_t)mb << 20;
	pthread_mutex_unlock(&cache_lock);
}
static uint64_t cache_tick;

static void index_free(struct pindex *x)
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
	free(x->files);
	free(x->img);
	free(x->img_limit);
	free(x);
}

static int index_images(sqlite3 *db, struct pindex *x, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(db, "SELECT id FROM images WHERE build = ? ORDER BY id",
					 err);
	size_t cap = 0;
	int rc, ret = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, x->build);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (x->nimg == cap) {
			int64_t *v;
			uint32_t *l;

			cap = cap ? cap * 2 : 8;
			v = realloc(x->img, cap * sizeof(*v));
			if (v)
				x->img = v;
			l = v ? realloc(x->img_limit, cap * sizeof(*l)) : NULL;
			if (!l) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
			x->img_limit = l;
		}
		x->img[x->nimg] = sqlite3_column_int64(st, 0);
		x->img_limit[x->nimg++] = 0;
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static int64_t slot_of(const struct pindex *x, int64_t image)
{
	uint32_t lo = 0, hi = x->nimg;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (x->img[mid] < image)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nimg && x->img[lo] == image ? (int64_t)lo : -1;
}

/* A new file entry from a walk row (columns as in index_points). */
static struct pfile *index_file(struct pindex *x, sqlite3_stmt *st, struct kc_err *err)
{
	struct pfile *pf;
	uint32_t nlines = (uint32_t)sqlite3_column_int64(st, 2);

	if (x->nfiles == x->capfiles) {
		uint32_t cap = x->capfiles ? x->capfiles * 2 : 256;
		struct pfile *v = realloc(x->files, (size_t)cap * sizeof(*v));

		if (!v) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			return NULL;
		}
		x->files = v;
		x->capfiles = cap;
	}
	pf = &x->files[x->nfiles++];
	memset(pf, 0, sizeof(*pf));
	pf->id = sqlite3_column_int64(st, 0);
	pf->path = strdup((const char *)sqlite3_column_text(st, 1));
	pf->nlines = nlines;
	pf->nfuncs = (uint32_t)sqlite3_column_int64(st, 3);
	pf->lines = malloc(((size_t)nlines + 1) * 4);
	pf->funcs = calloc((size_t)pf->nfuncs + 1, sizeof(*pf->funcs));
	if (!pf->path || !pf->lines || !pf->funcs) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	if ((size_t)sqlite3_column_bytes(st, 4) != (size_t)nlines * 4) {
		kc_err_set(err, KC_E_INTERNAL, "stored lines of %s are corrupt", pf->path);
		return NULL;
	}
	if (nlines)
		memcpy(pf->lines, sqlite3_column_blob(st, 4), (size_t)nlines * 4);
	return pf;
}

static int index_part(struct pindex *x, struct pfile *pf, sqlite3_stmt *st, struct kc_err *err)
{
	roaring_bitmap_t *bits = roaring_bitmap_portable_deserialize_safe(
		sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6));
	int64_t slot = slot_of(x, sqlite3_column_int64(st, 5));
	struct part *p, *v;
	uint64_t n;
	int ret = -1;

	if (!bits || slot < 0) {
		kc_err_set(err, KC_E_INTERNAL, "stored points of %s are corrupt", pf->path);
		goto out;
	}
	n = roaring_bitmap_get_cardinality(bits);
	if ((uint64_t)sqlite3_column_bytes(st, 7) != n * 4 ||
	    (uint64_t)sqlite3_column_bytes(st, 8) != n * 4) {
		kc_err_set(err, KC_E_INTERNAL, "stored point arrays of %s are corrupt", pf->path);
		goto out;
	}
	v = realloc(pf->parts, ((size_t)pf->nparts + 1) * sizeof(*v));
	if (!v) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	pf->parts = v;
	p = &v[pf->nparts++];
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
		memcpy(p->li, sqlite3_column_blob(st, 7), n * 4);
		memcpy(p->fi, sqlite3_column_blob(st, 8), n * 4);
		if (p->bits[n - 1] + 1 > x->img_limit[slot])
			x->img_limit[slot] = p->bits[n - 1] + 1;
	}
	ret = 0;
out:
	kc_bitmap_free(bits);
	return ret;
}

static int index_points(sqlite3 *db, struct pindex *x, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(
		db,
		"SELECT f.id, f.path, f.nlines, f.nfuncs, f.lines, fp.image, fp.bits, "
		"fp.line_idx, fp.func_idx FROM files f JOIN file_points fp ON fp.file = f.id "
		"WHERE f.build = ? ORDER BY f.path, fp.image",
		err);
	struct pfile *pf = NULL;
	int rc, ret = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, x->build);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!pf || pf->id != sqlite3_column_int64(st, 0)) {
			pf = index_file(x, st, err);
			if (!pf)
				goto out;
		}
		if (index_part(x, pf, st, err) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(db), "reading points: %s", sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static int index_functions(sqlite3 *db, struct pindex *x, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(
		db,
		"SELECT fn.file, fn.idx, fn.name, fn.line_start, fn.line_end FROM functions fn "
		"JOIN files f ON f.id = fn.file WHERE f.build = ? ORDER BY f.path, fn.idx",
		err);
	uint32_t at = 0;
	int rc, ret = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, x->build);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t file = sqlite3_column_int64(st, 0), idx = sqlite3_column_int64(st, 1);
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
		pf->funcs[idx].name = strdup((const char *)sqlite3_column_text(st, 2));
		if (!pf->funcs[idx].name) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		pf->funcs[idx].line_start = sqlite3_column_int64(st, 3);
		pf->funcs[idx].line_end = sqlite3_column_int64(st, 4);
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(db), "reading functions: %s", sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static void index_put_locked(struct pindex *x)
{
	if (x && --x->refs == 0)
		index_free(x);
}

static void index_put(struct pindex *x)
{
	pthread_mutex_lock(&cache_lock);
	index_put_locked(x);
	pthread_mutex_unlock(&cache_lock);
}

static void drop_totals_locked(const struct pindex *x);

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
	return n;
}

/* Drop cache slot i (and the totals computed from it). */
static void cache_evict_locked(int i)
{
	if (!cache[i])
		return;
	cached_bytes -= cache[i]->bytes;
	drop_totals_locked(cache[i]);
	index_put_locked(cache[i]);
	cache[i] = NULL;
}

/* The index of (build, generation), from the cache or loaded now. The
 * caller gives it back with index_put. Loading holds the cache lock, so a
 * build is loaded once even when many queries arrive together. */
static struct pindex *index_get(sqlite3 *db, int64_t build, int64_t generation,
				struct kc_err *err)
{
	struct pindex *x = NULL;
	int victim = 0;

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < KC_INDEX_SLOTS; i++) {
		if (cache[i] && cache[i]->build == build && cache[i]->generation == generation) {
			x = cache[i];
			x->refs++;
			x->used = ++cache_tick;
			goto out;
		}
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	x->build = build;
	x->generation = generation;
	if (index_images(db, x, err) < 0 || index_points(db, x, err) < 0 ||
	    index_functions(db, x, err) < 0) {
		index_free(x);
		x = NULL;
		goto out;
	}
	x->refs = 2; /* the cache and the caller */
	x->used = ++cache_tick;
	x->bytes = index_size(x);
	/* Replace an older import of the build, else take a free slot, else the
	 * least recently used; then drop the least recently used others while
	 * over the budget. */
	for (int i = 0; i < KC_INDEX_SLOTS; i++) {
		if (cache[i] && cache[i]->build == build) {
			victim = i;
			break;
		}
		if (!cache[i] || (cache[victim] && cache[i]->used < cache[victim]->used))
			victim = i;
	}
	cache_evict_locked(victim);
	cache[victim] = x;
	cached_bytes += x->bytes;
	while (cached_bytes > index_budget) {
		int lru = -1;

		for (int i = 0; i < KC_INDEX_SLOTS; i++)
			if (cache[i] && cache[i] != x && (lru < 0 || cache[i]->used < cache[lru]->used))
				lru = i;
		if (lru < 0)
			break;
		cache_evict_locked(lru);
	}
out:
	pthread_mutex_unlock(&cache_lock);
	return x;
}

/* ---- the query context -------------------------------------------------- */

void kc_covq_free(struct kc_covq *q)
{
	if (!q)
		return;
	covset_release(&q->img);
	for (uint32_t i = 0; q->bitset && q->index && i < q->index->nimg; i++)
		free(q->bitset[i]);
	free(q->bitset);
	free(q->cov);
	free(q->tkey);
	index_put(q->index);
	free(q);
}

/* The filter's coverage per image into q->img, from the cache or the
 * database. */
static int load_coverage(struct kc_covq *q, int64_t generation, struct kc_err *err)
{
	char *key = covset_key(q, generation);
	int hit = key ? covcache_get(key, &q->img) : 0, ret = -1;

	if (hit < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (!hit) {
		if (load_filtered(q, 0, &q->img, err) < 0) {
			err->code = KC_E_INTERNAL;
			goto out;
		}
		if (key)
			covcache_put(key, &q->img);
	}
	ret = 0;
out:
	free(key);
	return ret;
}

struct kc_covq *kc_covq_open(sqlite3 *db, const char *build_id, const struct kc_cov_filter *f,
			     unsigned flags, struct kc_err *err)
{
	struct kc_covq *q = calloc(1, sizeof(*q));
	sqlite3_stmt *st = NULL;
	int64_t generation = 0;
	int rc, ok = 0;

	if (!q) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	q->db = db;
	q->f = *f;
	/* Index loads and the summary read large blobs: map the database rather
	 * than copying pages through SQLite's small default cache. */
	(void)kc_db_exec(db, "PRAGMA mmap_size = 17179869184", NULL);
	snprintf(q->build_id, sizeof(q->build_id), "%s", build_id);
	st = kc_db_prepare(db,
			   "SELECT b.id, (SELECT imported FROM build_imports WHERE build = b.id) "
			   "FROM builds b WHERE b.build_id = ?",
			   err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, build_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		kc_err_set(err, KC_E_NOT_FOUND, "no build %s", build_id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		kc_err_set(err, kc_db_errc(db), "sqlite: %s", sqlite3_errmsg(db));
		goto out;
	}
	q->build = sqlite3_column_int64(st, 0);
	q->imported = sqlite3_column_type(st, 1) != SQLITE_NULL;
	generation = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if ((flags & KC_COVQ_NEED_IMPORT) && !q->imported) {
		kc_err_set(err, KC_E_NOT_IMPORTED,
			   "build %s has not been imported (POST /api/v1/builds)",
			    build_id);
		goto out;
	}
	if (!(flags & KC_COVQ_NO_COVERAGE) && load_coverage(q, generation, err) < 0)
		goto out;
	if (q->imported) {
		q->index = index_get(db, q->build, generation, err);
		if (!q->index) {
			err->code = KC_E_INTERNAL;
			goto out;
		}
		q->cov = calloc((size_t)q->index->nimg + 1, sizeof(*q->cov));
		if (!q->cov) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		for (uint32_t i = 0; i < q->index->nimg; i++)
			q->cov[i] = covset_get(&q->img, q->index->img[i]);
	}
	ok = 1;
out:
	sqlite3_finalize(st);
	if (!ok) {
		kc_covq_free(q);
		q = NULL;
	}
	return q;
}

/* ---- walking files ------------------------------------------------------ */

struct bitset_fill {
	uint64_t *w;
	uint32_t limit;
};

static bool set_bit(uint32_t v, void *arg)
{
	struct bitset_fill *b = arg;

	if (v >= b->limit)
		return false; /* values ascend: nothing further fits */
	b->w[v >> 6] |= 1ull << (v & 63);
	return true;
}

/* Flat bitsets of each image's coverage (up to its largest point bit), for
 * walks over many files: one load and mask per point. */
static int ensure_bitsets(struct kc_covq *q, struct kc_err *err)
{
	const struct pindex *x = q->index;

	if (q->bitset)
		return 0;
	q->bitset = calloc((size_t)x->nimg + 1, sizeof(*q->bitset));
	if (!q->bitset)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (uint32_t i = 0; i < x->nimg; i++) {
		struct bitset_fill b;

		if (!q->cov[i] || !x->img_limit[i])
			continue;
		b.limit = x->img_limit[i];
		b.w = calloc(((size_t)b.limit + 63) / 64, 8);
		if (!b.w)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		roaring_iterate(q->cov[i], set_bit, &b);
		q->bitset[i] = b.w;
	}
	return 0;
}

static void fview_release(struct fview *v)
{
	free(v->ltot);
	free(v->lcov);
	free(v->ftot);
	free(v->fcov);
	memset(v, 0, sizeof(*v));
}

/* Tally the points of one file. */
static int fview_fill(struct kc_covq *q, struct fview *v, const struct pfile *pf,
		      struct kc_err *err)
{
	if (pf->nlines + 1 > v->lcap) {
		free(v->ltot);
		free(v->lcov);
		v->lcap = pf->nlines + 1;
		v->ltot = malloc(v->lcap * 4);
		v->lcov = malloc(v->lcap * 4);
	}
	if (pf->nfuncs + 1 > v->fcap) {
		free(v->ftot);
		free(v->fcov);
		v->fcap = pf->nfuncs + 1;
		v->ftot = malloc(v->fcap * 4);
		v->fcov = malloc(v->fcap * 4);
	}
	if (!v->ltot || !v->lcov || !v->ftot || !v->fcov) {
		v->lcap = v->fcap = 0;
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	v->pf = pf;
	v->id = pf->id;
	v->path = pf->path;
	v->lines = pf->lines;
	v->nlines = pf->nlines;
	v->nfuncs = pf->nfuncs;
	memset(v->ltot, 0, ((size_t)pf->nlines + 1) * 4);
	memset(v->lcov, 0, ((size_t)pf->nlines + 1) * 4);
	memset(v->ftot, 0, ((size_t)pf->nfuncs + 1) * 4);
	memset(v->fcov, 0, ((size_t)pf->nfuncs + 1) * 4);
	v->points = v->covered = 0;
	for (uint32_t k = 0; k < pf->nparts; k++) {
		const struct part *p = &pf->parts[k];
		const uint64_t *bs = q->bitset ? q->bitset[p->slot] : NULL;
		const roaring_bitmap_t *cov = q->cov[p->slot];
		uint32_t *restrict ltot = v->ltot, *restrict lcov = v->lcov;
		uint32_t *restrict ftot = v->ftot, *restrict fcov = v->fcov;
		const uint32_t nlines = v->nlines, nfuncs = v->nfuncs;
		uint64_t covered = 0;

		for (uint32_t i = 0; i < p->n; i++) {
			uint32_t b = p->bits[i], l = p->li[i], f = p->fi[i], c;

			if (bs)
				c = (uint32_t)(bs[b >> 6] >> (b & 63)) & 1;
			else
				c = cov && roaring_bitmap_contains(cov, b);
			if (l < nlines) {
				ltot[l]++;
				lcov[l] += c;
			}
			if (f < nfuncs) {
				ftot[f]++;
				fcov[f] += c;
			}
			covered += c;
		}
		v->covered += covered;
		v->points += p->n;
	}
	return 0;
}

static void fview_totals(const struct fview *v, struct totals *t)
{
	uint64_t lines = 0, full = 0, partial = 0, funcs = 0, hit = 0;

	memset(t, 0, sizeof(*t));
	t->files = 1;
	t->points = v->points;
	t->covered = v->covered;
	/* branch-free: coverage makes these comparisons unpredictable */
	for (uint32_t l = 0; l < v->nlines; l++) {
		uint32_t tot = v->ltot[l], cov = v->lcov[l];

		lines += tot != 0;
		full += (tot != 0) & (cov == tot);
		partial += (cov != 0) & (cov != tot);
	}
	for (uint32_t f = 0; f < v->nfuncs; f++) {
		funcs += v->ftot[f] != 0;
		hit += v->fcov[f] != 0;
	}
	t->lines = lines;
	t->lines_full = full;
	t->lines_partial = partial;
	t->funcs = funcs;
	t->funcs_hit = hit;
}

static void totals_add(struct totals *a, const struct totals *b)
{
	a->points += b->points;
	a->covered += b->covered;
	a->lines += b->lines;
	a->lines_full += b->lines_full;
	a->lines_partial += b->lines_partial;
	a->funcs += b->funcs;
	a->funcs_hit += b->funcs_hit;
	a->files += b->files;
}

/* First file whose path is >= key (byte order, as SQLite's BINARY). */
static uint32_t lower_bound(const struct pindex *x, const char *key)
{
	uint32_t lo = 0, hi = x->nfiles;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (strcmp(x->files[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Call fn for every file of the build whose path is exactly `exact`, or
 * starts with `prefix` (which ends with '/'), or every file when both are
 * NULL, in path order. Returns the number of files, or -1. */
static int64_t walk(struct kc_covq *q, const char *exact, const char *prefix, file_fn fn,
		    void *arg, struct kc_err *err)
{
	const struct pindex *x = q->index;
	uint32_t lo = 0, hi = x->nfiles;
	struct fview v;
	int64_t ret = -1;

	memset(&v, 0, sizeof(v));
	if (exact) {
		lo = lower_bound(x, exact);
		hi = lo < x->nfiles && strcmp(x->files[lo].path, exact) == 0 ? lo + 1 : lo;
	} else if (prefix && *prefix) {
		size_t n = strlen(prefix);
		char *upper = strdup(prefix);

		if (!upper)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		upper[n - 1] = (char)(upper[n - 1] + 1); /* "dir/" -> "dir0" */
		lo = lower_bound(x, prefix);
		hi = lower_bound(x, upper);
		free(upper);
	}
	if (hi - lo > KC_BITSET_MIN_FILES && ensure_bitsets(q, err) < 0)
		goto out;
	for (uint32_t f = lo; f < hi; f++)
		if (fview_fill(q, &v, &x->files[f], err) < 0 || fn(q, &v, arg, err) < 0)
			goto out;
	ret = hi - lo;
out:
	fview_release(&v);
	return ret;
}

/* Run fn(name, line_start, line_end, idx) over the functions of a file
 * that own points. */
typedef int (*func_fn)(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		       int64_t le, void *arg, struct kc_err *err);

static int each_function(struct kc_covq *q, const struct fview *v, func_fn fn, void *arg,
			 struct kc_err *err)
{
	(void)q;
	for (uint32_t i = 0; i < v->nfuncs; i++) {
		const struct pfunc *pf = &v->pf->funcs[i];

		if (pf->name && v->ftot[i] && fn(v, i, pf->name, pf->line_start, pf->line_end, arg,
						  err) < 0)
			return -1;
	}
	return 0;
}

/* ---- JSON helpers ------------------------------------------------------- */

static void put_totals(json_t *o, const struct totals *t)
{
	json_object_set_new(o, "points_covered", json_integer((json_int_t)t->covered));
	json_object_set_new(o, "points_total", json_integer((json_int_t)t->points));
	json_object_set_new(o, "lines_covered", json_integer((json_int_t)t->lines_full));
	json_object_set_new(o, "lines_partial", json_integer((json_int_t)t->lines_partial));
	json_object_set_new(o, "lines_total", json_integer((json_int_t)t->lines));
	json_object_set_new(o, "functions_covered", json_integer((json_int_t)t->funcs_hit));
	json_object_set_new(o, "functions_total", json_integer((json_int_t)t->funcs));
}

static json_t *base_object(struct kc_covq *q)
{
	return json_pack("{s:s}", "build_id", q->build_id);
}

/* ---- tree --------------------------------------------------------------- */

struct tree_walk {
	size_t plen;         /* length of the directory prefix */
	json_t *children;
	char *cur;           /* current child's name */
	int cur_dir;
	struct totals cur_t, all;
	const char *prefix;
};

static int tree_flush(struct tree_walk *w, struct kc_err *err)
{
	json_t *o;
	char *path;
	size_t n;

	if (!w->cur)
		return 0;
	n = w->plen + strlen(w->cur) + 1;
	path = malloc(n);
	if (!path)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	snprintf(path, n, "%s%s", w->prefix, w->cur);
	o = json_pack("{s:s, s:s, s:s}", "name", w->cur, "path", path, "type",
		      w->cur_dir ? "dir" : "file");
	free(path);
	if (!o)
		return kc_err_set(err, KC_E_INTERNAL, "path is not UTF-8 or out of memory");
	if (w->cur_dir)
		json_object_set_new(o, "files", json_integer((json_int_t)w->cur_t.files));
	put_totals(o, &w->cur_t);
	json_array_append_new(w->children, o);
	free(w->cur);
	w->cur = NULL;
	return 0;
}

/* Add a file's totals to the child of the directory it falls in. */
static int tree_add(struct tree_walk *w, const char *path, const struct totals *t,
		    struct kc_err *err)
{
	const char *rest = path + w->plen;
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);

	if (slash && len == 0)
		len = 1; /* an absolute path below the root: child "/" */
	totals_add(&w->all, t);
	if (!w->cur || strlen(w->cur) != len || memcmp(w->cur, rest, len) != 0 ||
	    w->cur_dir != (slash != NULL)) {
		if (tree_flush(w, err) < 0)
			return -1;
		w->cur = strndup(rest, len);
		if (!w->cur)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		w->cur_dir = slash != NULL;
		memset(&w->cur_t, 0, sizeof(w->cur_t));
	}
	totals_add(&w->cur_t, t);
	return 0;
}

static int tree_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct totals t;
	(void)q;

	fview_totals(v, &t);
	return tree_add(arg, v->path, &t, err);
}

/*
 * Per-file totals of every file, cached for repeated large trees: the key
 * is the index, the filter, the newest report id and the cardinality of
 * each image's selected coverage, so any new coverage misses the cache.
 */
#define KC_TOTALS_CACHE 8

struct tentry {
	struct pindex *index; /* counted reference */
	char *key;
	struct totals *t; /* per index file */
	uint64_t used;
};

static struct tentry tcache[KC_TOTALS_CACHE];

static int totals_key(struct kc_covq *q, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	int64_t newest;

	if (q->tkey)
		return 0;
	if (kc_db_get_int(q->db, "SELECT max(id) FROM reports", 0, &newest, err) < 0) {
		err->code = KC_E_INTERNAL;
		return -1;
	}
	kc_buf_addf(&b, "%s\n%s\n%d %lld %lld\n%lld\n", q->f.labels_json ? q->f.labels_json : "-",
		    q->f.minus_json ? q->f.minus_json : "-", q->f.days, (long long)q->f.since,
		    (long long)q->f.until, (long long)newest);
	for (uint32_t i = 0; i < q->index->nimg; i++)
		kc_buf_addf(&b, "%llu,", (unsigned long long)(q->cov[i] ? roaring_bitmap_get_cardinality(
									      q->cov[i])
									: 0));
	if (b.oom) {
		kc_buf_release(&b);
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	q->tkey = (char *)b.data; /* kc_buf_addf keeps it NUL-terminated */
	return 0;
}

/* Forget the cached totals of an index leaving the index cache. */
static void drop_totals_locked(const struct pindex *x)
{
	for (int i = 0; i < KC_TOTALS_CACHE; i++) {
		if (tcache[i].index != x)
			continue;
		free(tcache[i].key);
		free(tcache[i].t);
		index_put_locked(tcache[i].index);
		memset(&tcache[i], 0, sizeof(tcache[i]));
	}
}

/* A copy of the cached totals for q, or NULL. */
static struct totals *totals_lookup(struct kc_covq *q)
{
	struct totals *t = NULL;
	size_t n = ((size_t)q->index->nfiles + 1) * sizeof(*t);

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < KC_TOTALS_CACHE; i++) {
		if (tcache[i].index == q->index && strcmp(tcache[i].key, q->tkey) == 0) {
			t = malloc(n);
			if (t)
				memcpy(t, tcache[i].t, n);
			tcache[i].used = ++cache_tick;
			break;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return t;
}

static void totals_store(struct kc_covq *q, const struct totals *t)
{
	size_t n = ((size_t)q->index->nfiles + 1) * sizeof(*t);
	struct totals *copy = malloc(n);
	char *key = strdup(q->tkey);
	int victim = 0;

	if (!copy || !key) {
		free(copy);
		free(key);
		return;
	}
	memcpy(copy, t, n);
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < KC_TOTALS_CACHE; i++) {
		if (!tcache[i].index) {
			victim = i;
			break;
		}
		if (tcache[i].used < tcache[victim].used)
			victim = i;
	}
	index_put_locked(tcache[victim].index);
	free(tcache[victim].key);
	free(tcache[victim].t);
	q->index->refs++;
	tcache[victim].index = q->index;
	tcache[victim].key = key;
	tcache[victim].t = copy;
	tcache[victim].used = ++cache_tick;
	pthread_mutex_unlock(&cache_lock);
}

/* Totals of every file of the index (owned by the caller). */
static struct totals *all_totals(struct kc_covq *q, struct kc_err *err)
{
	const struct pindex *x = q->index;
	struct totals *t;
	struct fview v;

	if (totals_key(q, err) < 0)
		return NULL;
	t = totals_lookup(q);
	if (t)
		return t;
	t = calloc((size_t)x->nfiles + 1, sizeof(*t));
	if (!t || ensure_bitsets(q, err) < 0) {
		free(t);
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	memset(&v, 0, sizeof(v));
	for (uint32_t f = 0; f < x->nfiles; f++) {
		if (fview_fill(q, &v, &x->files[f], err) < 0) {
			fview_release(&v);
			free(t);
			return NULL;
		}
		fview_totals(&v, &t[f]);
	}
	fview_release(&v);
	totals_store(q, t);
	return t;
}

/* The children of a directory whose files are [lo, hi) of the index, from
 * the per-file totals cache; 1 when answered, 0 when the cache has nothing
 * and the range is not the whole build (cheaper to walk it), -1 on error. */
static int tree_cached(struct kc_covq *q, struct tree_walk *w, uint32_t lo, uint32_t hi,
		       struct kc_err *err)
{
	struct totals *t;
	int ret = -1;

	if (lo == 0 && hi == q->index->nfiles) {
		t = all_totals(q, err);
	} else {
		if (totals_key(q, err) < 0)
			return -1;
		t = totals_lookup(q);
		if (!t)
			return 0;
	}
	if (!t)
		return -1;
	for (uint32_t f = lo; f < hi; f++)
		if (tree_add(w, q->index->files[f].path, &t[f], err) < 0)
			goto out;
	ret = 1;
out:
	free(t);
	return ret;
}

json_t *kc_covq_tree(struct kc_covq *q, const char *dir, struct kc_err *err)
{
	struct tree_walk w;
	char *prefix = NULL;
	json_t *out = NULL;
	uint32_t lo = 0, hi = q->index->nfiles;
	int64_t n;
	int r = 0;

	memset(&w, 0, sizeof(w));
	if (*dir) {
		size_t len = strlen(dir);

		prefix = malloc(len + 2);
		if (!prefix) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			return NULL;
		}
		snprintf(prefix, len + 2, "%s%s", dir, dir[len - 1] == '/' ? "" : "/");
		lo = lower_bound(q->index, prefix);
		prefix[strlen(prefix) - 1]++;
		hi = lower_bound(q->index, prefix);
		prefix[strlen(prefix) - 1]--;
	}
	w.prefix = prefix ? prefix : "";
	w.plen = strlen(w.prefix);
	w.children = json_array();
	if (hi - lo > KC_BITSET_MIN_FILES)
		r = tree_cached(q, &w, lo, hi, err);
	if (r < 0)
		goto out;
	n = r ? (int64_t)(hi - lo) : walk(q, NULL, prefix, tree_file, &w, err);
	if (n < 0 || tree_flush(&w, err) < 0)
		goto out;
	if (n == 0 && *dir) {
		kc_err_set(err, KC_E_NOT_FOUND, "no directory %s in build %s", dir, q->build_id);
		goto out;
	}
	out = base_object(q);
	json_object_set_new(out, "path", json_string(dir));
	json_object_set_new(out, "files", json_integer((json_int_t)w.all.files));
	put_totals(out, &w.all);
	json_object_set(out, "children", w.children);
out:
	json_decref(w.children);
	free(w.cur);
	free(prefix);
	return out;
}

/* ---- one file ----------------------------------------------------------- */

struct file_walk {
	json_t *out;
};

static int file_func(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		     int64_t le, void *arg, struct kc_err *err)
{
	json_t *arr = arg;
	(void)err;

	json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", name,
					     "line_start", (json_int_t)ls, "line_end",
					     (json_int_t)le, "points", (json_int_t)v->ftot[idx],
					     "covered", (json_int_t)v->fcov[idx]));
	return 0;
}

static int file_one(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct file_walk *w = arg;
	json_t *lines = json_array(), *funcs = json_array();
	struct totals t;

	fview_totals(v, &t);
	for (uint32_t l = 0; l < v->nlines; l++) {
		const char *state;

		if (!v->ltot[l])
			continue;
		state = v->lcov[l] == v->ltot[l] ? "covered" : v->lcov[l] ? "partial" : "uncovered";
		json_array_append_new(lines, json_pack("{s:I, s:s, s:I, s:I}", "line",
						       (json_int_t)v->lines[l], "state", state,
						       "covered", (json_int_t)v->lcov[l], "points",
						       (json_int_t)v->ltot[l]));
	}
	if (each_function(q, v, file_func, funcs, err) < 0) {
		json_decref(lines);
		json_decref(funcs);
		return -1;
	}
	w->out = base_object(q);
	json_object_set_new(w->out, "path", json_string(v->path));
	put_totals(w->out, &t);
	json_object_set_new(w->out, "lines", lines);
	json_object_set_new(w->out, "functions", funcs);
	return 0;
}

/* The stored source text of the file, as a JSON string or null. */
static json_t *file_source(struct kc_covq *q, const char *path, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(q->db,
					 "SELECT source FROM files WHERE build = ? AND path = ?",
					 err);
	json_t *s = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, q->build);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const void *p = sqlite3_column_blob(st, 0);

		s = json_stringn(p ? p : "", (size_t)sqlite3_column_bytes(st, 0));
	}
	sqlite3_finalize(st);
	return s ? s : json_null();
}

json_t *kc_covq_file(struct kc_covq *q, const char *path, struct kc_err *err)
{
	struct file_walk w = { NULL };
	int64_t n = walk(q, path, NULL, file_one, &w, err);
	json_t *src;

	if (n < 0) {
		json_decref(w.out);
		return NULL;
	}
	if (n == 0 || !w.out) {
		kc_err_set(err, KC_E_NOT_FOUND, "no file %s in build %s", path, q->build_id);
		json_decref(w.out);
		return NULL;
	}
	src = file_source(q, path, err);
	json_object_set_new(w.out, "source", src ? src : json_null());
	return w.out;
}

/* ---- labels of a file or a line ------------------------------------------ */

/* The points asked for, per part of the file: their bits (ascending, as in
 * the part) as an array and a bitmap, and their line indexes. Point j of
 * part k is bit (off[k] + j) of a label's hit set. */
struct lsel {
	const struct pfile *pf;
	uint32_t *bits, *li; /* all selected points, part by part */
	uint32_t *off;       /* per part: first index; off[nparts] = total */
	roaring_bitmap_t **bm; /* per part: the selected bits */
	uint32_t n;
	size_t words;        /* uint64 words of a hit set */
	char *images;        /* JSON array of the parts' image ids */
};

/* A label while reading its rows. */
struct llabel {
	int64_t id;
	char *name;
	uint64_t *hit;         /* selected points it covered */
	int64_t first, last;   /* days it covered any of them */
	uint64_t covered;      /* hit minus the minus labels, counted at the end */
};

struct lread {
	struct llabel *v;
	size_t n, cap;
	uint64_t *minus, *row; /* hit sets: the minus labels', the current row's */
};

static void lsel_release(struct lsel *s)
{
	for (uint32_t k = 0; s->bm && s->pf && k < s->pf->nparts; k++)
		kc_bitmap_free(s->bm[k]);
	free(s->bm);
	free(s->bits);
	free(s->li);
	free(s->off);
	free(s->images);
	memset(s, 0, sizeof(*s));
}

static void lread_release(struct lread *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].hit);
	}
	free(r->v);
	free(r->minus);
	free(r->row);
	memset(r, 0, sizeof(*r));
}

/* The ids of the images of pf's parts, as a JSON array text. */
static char *lsel_images(const struct kc_covq *q, const struct pfile *pf)
{
	struct kc_buf b = KC_BUF_INIT;

	kc_buf_addf(&b, "[");
	for (uint32_t k = 0; k < pf->nparts; k++)
		kc_buf_addf(&b, "%s%lld", k ? "," : "", (long long)q->index->img[pf->parts[k].slot]);
	kc_buf_addf(&b, "]");
	if (b.oom) {
		kc_buf_release(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* Select the points of pf on line index li (NONE: all of them). */
static int lsel_init(struct lsel *s, const struct kc_covq *q, const struct pfile *pf, uint32_t li,
		     struct kc_err *err)
{
	size_t total = 0;

	memset(s, 0, sizeof(*s));
	s->pf = pf;
	for (uint32_t k = 0; k < pf->nparts; k++)
		total += pf->parts[k].n;
	s->bits = malloc((total + 1) * 4);
	s->li = malloc((total + 1) * 4);
	s->off = malloc(((size_t)pf->nparts + 1) * 4);
	s->bm = calloc((size_t)pf->nparts + 1, sizeof(*s->bm));
	s->images = lsel_images(q, pf);
	if (!s->bits || !s->li || !s->off || !s->bm || !s->images)
		goto oom;
	for (uint32_t k = 0; k < pf->nparts; k++) {
		const struct part *p = &pf->parts[k];

		s->off[k] = s->n;
		for (uint32_t i = 0; i < p->n; i++)
			if (li == NONE || p->li[i] == li) {
				s->bits[s->n] = p->bits[i];
				s->li[s->n++] = p->li[i];
			}
		s->bm[k] = roaring_bitmap_of_ptr(s->n - s->off[k], s->bits + s->off[k]);
		if (!s->bm[k])
			goto oom;
	}
	s->off[pf->nparts] = s->n;
	s->words = (s->n + 63) / 64 + 1;
	return 0;
oom:
	lsel_release(s);
	return kc_err_set(err, KC_E_INTERNAL, "out of memory");
}

struct lmark {
	const uint32_t *bits; /* the part's selected bits */
	uint32_t n, off;
	uint64_t *row;
	int any;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool mark_point(uint32_t bit, void *arg)
{
	struct lmark *m = arg;
	const uint32_t *at = bsearch(&bit, m->bits, m->n, sizeof(bit), cmp_u32);

	if (at) {
		uint32_t j = m->off + (uint32_t)(at - m->bits);

		m->row[j >> 6] |= 1ull << (j & 63);
		m->any = 1;
	}
	return true;
}

/* Mark in r->row the selected points of image `image` that cov covers.
 * Returns 1 when it marked any. */
static int lsel_mark(const struct kc_covq *q, const struct lsel *s, int64_t image,
		     const roaring_bitmap_t *cov, uint64_t *row, struct kc_err *err)
{
	struct lmark m = { NULL, 0, 0, row, 0 };

	for (uint32_t k = 0; k < s->pf->nparts; k++) {
		roaring_bitmap_t *both;

		if (q->index->img[s->pf->parts[k].slot] != image || s->off[k] == s->off[k + 1])
			continue;
		both = roaring_bitmap_and(cov, s->bm[k]);
		if (!both)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		m.bits = s->bits + s->off[k];
		m.n = s->off[k + 1] - s->off[k];
		m.off = s->off[k];
		roaring_iterate(both, mark_point, &m);
		kc_bitmap_free(both);
	}
	return m.any;
}

/* The label of id (rows come ordered by label id, so it is the last one
 * or a new one). */
static struct llabel *lread_label(struct lread *r, const struct lsel *s, int64_t id,
				  const char *name)
{
	struct llabel *l;

	if (r->n && r->v[r->n - 1].id == id)
		return &r->v[r->n - 1];
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct llabel *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	l = &r->v[r->n];
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->first = INT64_MAX;
	l->last = INT64_MIN;
	l->name = strdup(name ? name : "");
	l->hit = calloc(s->words, 8);
	if (!l->name || !l->hit) {
		free(l->name);
		free(l->hit);
		return NULL;
	}
	r->n++;
	return l;
}

/* Read the coverage rows of the filter's days for the selected points'
 * images: per listed label its hit set, and the minus labels' union. */
static int lread_rows(struct kc_covq *q, const struct lsel *s, struct lread *r,
		      struct kc_err *err)
{
	const struct kc_cov_filter *f = &q->f;
	/* Labels outermost (in id order, so no sort of the blobs), then the
	 * primary key (binary, label, day) of each label's rows. */
#define ROWS                                                                              \
	"WITH sel(id, name, listed, minus) AS (SELECT id, name, "                          \
	"?2 IS NULL OR name IN (SELECT value FROM json_each(?2)), "                        \
	"?3 IS NOT NULL AND name IN (SELECT value FROM json_each(?3)) FROM labels) "       \
	"SELECT s.id, s.name, i.id, c.day, c.bits, s.listed, s.minus FROM sel s "          \
	"CROSS JOIN images i JOIN binaries b ON " IMG_BINARY                               \
	"CROSS JOIN coverage c ON c.binary = b.id AND c.label = s.id "                     \
	"WHERE (s.listed OR s.minus) AND i.id IN (SELECT value FROM json_each(?1)) AND "
	static const char *const sql[2] = {
		ROWS KC_ALL_DAYS_ROWS "ORDER BY s.id",
		ROWS "c.day BETWEEN ?4 AND ?5 ORDER BY s.id",
	};
#undef ROWS
	sqlite3_stmt *st = kc_db_prepare(q->db, sql[f->days ? 1 : 0], err);
	int rc, ret = -1;

	r->minus = calloc(s->words, 8);
	r->row = calloc(s->words, 8);
	if (!st || !r->minus || !r->row) {
		if (st)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	sqlite3_bind_text(st, 1, s->images, -1, SQLITE_STATIC);
	if (f->labels_json)
		sqlite3_bind_text(st, 2, f->labels_json, -1, SQLITE_STATIC);
	if (f->minus_json)
		sqlite3_bind_text(st, 3, f->minus_json, -1, SQLITE_STATIC);
	if (f->days) {
		sqlite3_bind_int64(st, 4, f->since);
		sqlite3_bind_int64(st, 5, f->until);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(st, 3);
		roaring_bitmap_t *cov = roaring_bitmap_portable_deserialize_safe(
			sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4));
		struct llabel *l = NULL;
		int any;

		if (!cov) {
			kc_err_set(err, KC_E_INTERNAL, "a stored coverage bitmap is corrupt");
			goto out;
		}
		memset(r->row, 0, s->words * 8);
		any = lsel_mark(q, s, sqlite3_column_int64(st, 2), cov, r->row, err);
		kc_bitmap_free(cov);
		if (any < 0)
			goto out;
		if (sqlite3_column_int(st, 5)) {
			l = lread_label(r, s, sqlite3_column_int64(st, 0),
					(const char *)sqlite3_column_text(st, 1));
			if (!l) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
		}
		for (size_t w = 0; any && w < s->words; w++) {
			if (l)
				l->hit[w] |= r->row[w];
			if (sqlite3_column_int(st, 6))
				r->minus[w] |= r->row[w];
		}
		if (l && any) {
			l->first = day < l->first ? day : l->first;
			l->last = day > l->last ? day : l->last;
		}
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(q->db), "reading coverage: %s", sqlite3_errmsg(q->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

/* Mark the selected points that label id covered on day (hit: the
 * prepared statement of llabel_days); 1 if any. */
static int llabel_day_hit(struct kc_covq *q, const struct lsel *s, sqlite3_stmt *st, int64_t id,
			  int64_t day, uint64_t *row, struct kc_err *err)
{
	int rc, hit = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, day);
	sqlite3_bind_text(st, 3, s->images, -1, SQLITE_STATIC);
	while (!hit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		roaring_bitmap_t *cov = roaring_bitmap_portable_deserialize_safe(
			sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));

		if (!cov)
			return kc_err_set(err, KC_E_INTERNAL,
					  "a stored coverage bitmap is corrupt");
		hit = lsel_mark(q, s, sqlite3_column_int64(st, 0), cov, row, err);
		kc_bitmap_free(cov);
	}
	if (hit == 0 && rc != SQLITE_DONE)
		return kc_err_set(err, kc_db_errc(q->db), "reading coverage: %s", sqlite3_errmsg(q->db));
	return hit;
}

/* Without a day window the rows read are each label's union over all
 * days, so the first and last day a listed label covered a selected point
 * come from its per-day rows: its days (read without their bitmaps) from
 * each end, up to the first day that covered one. */
static int llabel_days(struct kc_covq *q, const struct lsel *s, struct llabel *l, uint64_t *row,
		       struct kc_err *err)
{
#define DAYS                                                                              \
	"SELECT DISTINCT c.day " IMG_JOIN "JOIN coverage c ON c.binary = b.id "            \
	"WHERE c.label = ?1 AND c.day >= 0 AND i.id IN (SELECT value FROM json_each(?2)) " \
	"ORDER BY c.day "
	static const char *const sql[2] = { DAYS "ASC", DAYS "DESC" };
#undef DAYS
	sqlite3_stmt *hit_st = kc_db_prepare(q->db,
					     "SELECT i.id, c.bits " IMG_JOIN "JOIN coverage c ON "
					     "c.binary = b.id WHERE c.label = ?1 AND c.day = ?2 AND "
					     "i.id IN (SELECT value FROM json_each(?3))",
					     err);
	int64_t *ends[2] = { &l->first, &l->last };
	int ret = -1;

	if (!hit_st)
		return -1;
	for (int e = 0; e < 2; e++) {
		sqlite3_stmt *st = kc_db_prepare(q->db, sql[e], err);
		int rc, hit = 0;

		if (!st)
			goto out;
		sqlite3_bind_int64(st, 1, l->id);
		sqlite3_bind_text(st, 2, s->images, -1, SQLITE_STATIC);
		while (hit == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t day = sqlite3_column_int64(st, 0);

			hit = llabel_day_hit(q, s, hit_st, l->id, day, row, err);
			if (hit > 0)
				*ends[e] = day;
		}
		if (hit == 0 && rc != SQLITE_DONE)
			hit = kc_err_set(err, kc_db_errc(q->db), "reading coverage days: %s", sqlite3_errmsg(q->db));
		sqlite3_finalize(st);
		if (hit < 0)
			goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(hit_st);
	return ret;
}

static int cmp_llabel(const void *x, const void *y)
{
	const struct llabel *a = x, *b = y;

	if (a->covered != b->covered)
		return a->covered < b->covered ? 1 : -1;
	return strcmp(a->name, b->name);
}

/* One label's entry: its counts, days and covered lines. lcov and ltot
 * have a slot per line index of the file. */
static json_t *llabel_json(const struct lsel *s, const struct llabel *l, const uint64_t *minus,
			   uint32_t *lcov, const uint32_t *ltot)
{
	json_t *lines = json_array();
	char first[11], last[11];
	int known = l->first >= 0 && l->last <= KC_DAY_MAX && l->first <= l->last;

	memset(lcov, 0, ((size_t)s->pf->nlines + 1) * 4);
	for (uint32_t j = 0; j < s->n; j++)
		if (s->li[j] < s->pf->nlines && ((l->hit[j >> 6] & ~minus[j >> 6]) >> (j & 63) & 1))
			lcov[s->li[j]]++;
	for (uint32_t i = 0; i < s->pf->nlines; i++)
		if (lcov[i])
			json_array_append_new(lines, json_pack("{s:I, s:I, s:I}", "line",
							       (json_int_t)s->pf->lines[i], "covered",
							       (json_int_t)lcov[i], "points",
							       (json_int_t)ltot[i]));
	if (known) {
		kc_day_format(l->first, first);
		kc_day_format(l->last, last);
	}
	/* Days are unknown (null) only if per-day rows disagree with the union. */
	return json_pack("{s:s, s:I, s:s?, s:s?, s:o}", "label", l->name, "covered",
			 (json_int_t)l->covered, "first_day", known ? first : NULL, "last_day",
			 known ? last : NULL, "lines", lines);
}

json_t *kc_covq_labels(struct kc_covq *q, const char *path, int64_t line, size_t limit,
		       struct kc_err *err)
{
	const struct pindex *x = q->index;
	struct lsel s = { 0 };
	struct lread r = { 0 };
	uint32_t *lcov = NULL, *ltot = NULL, at, li = NONE;
	size_t shown = 0;
	json_t *out = NULL, *arr = NULL;
	const struct pfile *pf;

	if (!x) {
		kc_err_set(err, KC_E_NOT_IMPORTED, "build %s has not been imported", q->build_id);
		return NULL;
	}
	at = lower_bound(x, path);
	if (at >= x->nfiles || strcmp(x->files[at].path, path) != 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no file %s in build %s", path, q->build_id);
		return NULL;
	}
	pf = &x->files[at];
	if (line > 0) {
		uint32_t key = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
		const uint32_t *hit = bsearch(&key, pf->lines, pf->nlines, sizeof(key), cmp_u32);

		/* A line without points selects nothing: no point has index NONE - 1. */
		li = hit && *hit == line ? (uint32_t)(hit - pf->lines) : NONE - 1;
	}
	/* No point selected (a line without points): no row can cover one. */
	if (lsel_init(&s, q, pf, li, err) < 0 || (s.n && lread_rows(q, &s, &r, err) < 0))
		goto out;
	lcov = malloc(((size_t)pf->nlines + 1) * 4);
	ltot = calloc((size_t)pf->nlines + 1, 4);
	arr = json_array();
	if (!lcov || !ltot || !arr) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t j = 0; j < s.n; j++)
		if (s.li[j] < pf->nlines)
			ltot[s.li[j]]++;
	for (size_t i = 0; i < r.n; i++) {
		struct llabel *l = &r.v[i];

		for (size_t w = 0; w < s.words; w++)
			l->covered += (uint64_t)__builtin_popcountll(l->hit[w] & ~r.minus[w]);
		if (l->covered)
			r.v[shown++] = *l;
		else {
			free(l->name);
			free(l->hit);
		}
	}
	r.n = shown;
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), cmp_llabel);
	for (size_t i = 0; i < r.n && i < limit; i++) {
		if (!q->f.days && llabel_days(q, &s, &r.v[i], r.row, err) < 0)
			goto out;
		json_array_append_new(arr, llabel_json(&s, &r.v[i], r.minus, lcov, ltot));
	}
	out = base_object(q);
	json_object_set_new(out, "path", json_string(pf->path));
	if (line > 0)
		json_object_set_new(out, "line", json_integer((json_int_t)line));
	json_object_set_new(out, "points", json_integer((json_int_t)s.n));
	json_object_set_new(out, "labels_total", json_integer((json_int_t)r.n));
	json_object_set(out, "labels", arr);
out:
	json_decref(arr);
	free(lcov);
	free(ltot);
	lread_release(&r);
	lsel_release(&s);
	return out;
}

/* ---- functions ---------------------------------------------------------- */

/* A function in a whole-build list. The strings are borrowed from the
 * point index, which the query holds until it is freed. */
struct fentry {
	const char *file, *name;
	int64_t line_start, line_end;
	uint64_t points, covered;
};

struct func_walk {
	struct fentry *v;
	size_t n, cap;
	const char *match; /* keep only names or paths containing it, or NULL */
};

static int collect_func(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
			int64_t le, void *arg, struct kc_err *err)
{
	struct func_walk *w = arg;
	struct fentry *e;

	if (w->match && !strcasestr(name, w->match) && !strcasestr(v->path, w->match))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		struct fentry *nv = realloc(w->v, cap * sizeof(*nv));

		if (!nv)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		w->v = nv;
		w->cap = cap;
	}
	e = &w->v[w->n++];
	e->file = v->path;
	e->name = name;
	e->line_start = ls;
	e->line_end = le;
	e->points = v->ftot[idx];
	e->covered = v->fcov[idx];
	return 0;
}

static int func_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	return each_function(q, v, collect_func, arg, err);
}

static void func_walk_release(struct func_walk *w)
{
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static int cmp_name(const struct fentry *a, const struct fentry *b)
{
	int c = strcmp(a->name, b->name);

	return c ? c : strcmp(a->file, b->file);
}

static int cmp_by_name(const void *x, const void *y)
{
	return cmp_name(x, y);
}

static int cmp_by_points(const void *x, const void *y)
{
	const struct fentry *a = x, *b = y;

	if (a->points != b->points)
		return a->points > b->points ? -1 : 1;
	return cmp_name(a, b);
}

static int cmp_by_coverage(const void *x, const void *y)
{
	const struct fentry *a = x, *b = y;
	/* a->covered / a->points vs b->covered / b->points, exactly (point
	 * counts of one function stay far below 2^32) */
	uint64_t l = a->covered * b->points, r = b->covered * a->points;

	if (l != r)
		return l > r ? -1 : 1;
	return cmp_by_points(x, y);
}

typedef int (*cmp_fn)(const void *, const void *);

static void sift_down(struct fentry *h, size_t n, size_t i, cmp_fn cmp)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct fentry t;

		if (l < n && cmp(&h[l], &h[m]) > 0)
			m = l;
		if (r < n && cmp(&h[r], &h[m]) > 0)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Put the k first entries of v (in cmp order) sorted at its front; the rest
 * is left in any order. A page of a long list costs O(n log k), not a full
 * sort: a max-heap of the k best seen so far. */
static void sort_first(struct fentry *v, size_t n, size_t k, cmp_fn cmp)
{
	if (k >= n / 2) {
		if (n > 1)
			qsort(v, n, sizeof(*v), cmp);
		return;
	}
	if (k == 0)
		return;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(v, k, i, cmp);
	for (size_t i = k; i < n; i++) {
		if (cmp(&v[i], &v[0]) < 0) {
			struct fentry t = v[0];

			v[0] = v[i];
			v[i] = t;
			sift_down(v, k, 0, cmp);
		}
	}
	qsort(v, k, sizeof(*v), cmp);
}

json_t *kc_covq_functions(struct kc_covq *q, const char *file, const char *match,
			  enum kc_func_sort sort, size_t limit, size_t offset, struct kc_err *err)
{
	struct func_walk w;
	json_t *out = NULL, *arr;
	int64_t n;

	memset(&w, 0, sizeof(w));
	w.match = match && *match ? match : NULL;
	n = walk(q, file, NULL, func_file, &w, err);
	if (n < 0)
		goto out;
	if (file && n == 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no file %s in build %s", file, q->build_id);
		goto out;
	}
	sort_first(w.v, w.n, offset + limit,
		   sort == KC_SORT_NAME     ? cmp_by_name
		   : sort == KC_SORT_POINTS ? cmp_by_points
					    : cmp_by_coverage);
	arr = json_array();
	for (size_t i = offset; i < w.n && i - offset < limit; i++) {
		const struct fentry *e = &w.v[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "file",
						     e->file, "name", e->name,
						     "line_start", (json_int_t)e->line_start,
						     "line_end", (json_int_t)e->line_end, "points",
						     (json_int_t)e->points, "covered",
						     (json_int_t)e->covered));
	}
	out = base_object(q);
	if (file)
		json_object_set_new(out, "file", json_string(file));
	if (w.match)
		json_object_set_new(out, "q", json_string(w.match));
	json_object_set_new(out, "total", json_integer((json_int_t)w.n));
	json_object_set_new(out, "offset", json_integer((json_int_t)offset));
	json_object_set_new(out, "limit", json_integer((json_int_t)limit));
	json_object_set_new(out, "functions", arr);
out:
	func_walk_release(&w);
	return out;
}

/* ---- LCOV and CSV ------------------------------------------------------- */

static int lcov_fn(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		   int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)v;
	(void)idx;
	(void)le;
	(void)err;

	kc_buf_addf(b, "FN:%lld,%s\n", (long long)ls, name);
	return 0;
}

static int lcov_fnda(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		     int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)ls;
	(void)le;
	(void)err;

	kc_buf_addf(b, "FNDA:%u,%s\n", v->fcov[idx], name);
	return 0;
}

static int lcov_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	struct totals t;

	if (strchr(v->path, '\n'))
		return 0;
	fview_totals(v, &t);
	kc_buf_addf(b, "TN:\nSF:%s\n", v->path);
	if (each_function(q, v, lcov_fn, b, err) < 0 || each_function(q, v, lcov_fnda, b, err) < 0)
		return -1;
	kc_buf_addf(b, "FNF:%llu\nFNH:%llu\n", (unsigned long long)t.funcs,
		    (unsigned long long)t.funcs_hit);
	for (uint32_t l = 0; l < v->nlines; l++)
		if (v->ltot[l])
			kc_buf_addf(b, "DA:%u,%u\n", v->lines[l], v->lcov[l]);
	kc_buf_addf(b, "LF:%llu\nLH:%llu\nend_of_record\n", (unsigned long long)t.lines,
		    (unsigned long long)(t.lines_full + t.lines_partial));
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

static int norm_prefix(const char *prefix, char **out, struct kc_err *err)
{
	size_t len = prefix ? strlen(prefix) : 0;

	*out = NULL;
	if (!len)
		return 0;
	*out = malloc(len + 2);
	if (!*out)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	snprintf(*out, len + 2, "%s%s", prefix, prefix[len - 1] == '/' ? "" : "/");
	return 0;
}

int kc_covq_lcov(struct kc_covq *q, const char *prefix, struct kc_buf *out, struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	n = walk(q, NULL, p, lcov_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(struct kc_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		kc_buf_add(b, s, strlen(s));
		return;
	}
	kc_buf_add_u8(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			kc_buf_add_u8(b, '"');
		kc_buf_add_u8(b, (uint8_t)*s);
	}
	kc_buf_add_u8(b, '"');
}

static int csv_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	struct totals t;
	(void)q;

	fview_totals(v, &t);
	csv_field(b, v->path);
	kc_buf_addf(b, ",%llu,%llu,%llu,%llu,%llu,%llu\n",
		    (unsigned long long)(t.lines_full + t.lines_partial),
		    (unsigned long long)t.lines, (unsigned long long)t.covered,
		    (unsigned long long)t.points, (unsigned long long)t.funcs_hit,
		    (unsigned long long)t.funcs);
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

int kc_covq_files_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
		      struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	kc_buf_addf(out, "Filename,CoveredLines,TotalLines,CoveredPCs,TotalPCs,"
			 "CoveredFunctions,TotalFunctions\n");
	n = walk(q, NULL, p, csv_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

static int csv_fn(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		  int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)ls;
	(void)le;
	(void)err;

	csv_field(b, v->path);
	kc_buf_add_u8(b, ',');
	csv_field(b, name);
	kc_buf_addf(b, ",%u,%u\n", v->fcov[idx], v->ftot[idx]);
	return 0;
}

static int csv_funcs_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;

	if (each_function(q, v, csv_fn, b, err) < 0)
		return -1;
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

int kc_covq_functions_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
			  struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	kc_buf_addf(out, "Filename,Function,CoveredPCs,TotalPCs\n");
	n = walk(q, NULL, p, csv_funcs_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

/* ---- summary ------------------------------------------------------------ */

json_t *kc_covq_summary(struct kc_covq *q, struct kc_err *err)
{
	struct covset bin;
	sqlite3_stmt *st = NULL;
	json_t *out = NULL, *arr = json_array();
	uint64_t points = 0, covered = 0, unmatched = 0, unimported = 0, pcs = 0;
	int rc;

	if (load_filtered(q, 1, &bin, err) < 0) {
		err->code = KC_E_INTERNAL;
		json_decref(arr);
		return NULL;
	}
	st = kc_db_prepare(q->db,
			   "SELECT b.id, b.name, b.kind, b.build_id, i.id, i.points, i.bits "
			   "FROM binaries b LEFT JOIN images i ON i.build = b.build AND "
			   "i.kind = b.kind AND i.name = b.name AND "
			   "(b.build_id = i.build_id OR b.build_id = '') "
			   "WHERE b.build = ? ORDER BY b.kind DESC, b.name, b.id",
			   err);
	if (!st) {
		err->code = KC_E_INTERNAL;
		goto out;
	}
	sqlite3_bind_int64(st, 1, q->build);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const roaring_bitmap_t *cov = covset_get(&bin, sqlite3_column_int64(st, 0));
		uint64_t n = cov ? roaring_bitmap_get_cardinality(cov) : 0;
		json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "name", sqlite3_column_text(st, 1),
				      "kind", sqlite3_column_text(st, 2), "build_id",
				      sqlite3_column_text(st, 3), "pcs", (json_int_t)n);

		pcs += n;
		if (o && sqlite3_column_type(st, 4) != SQLITE_NULL) {
			roaring_bitmap_t *pts = roaring_bitmap_portable_deserialize_safe(
				sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6));
			uint64_t hit, miss;

			if (!pts) {
				json_decref(o);
				kc_err_set(err, KC_E_INTERNAL, "stored points are corrupt");
				goto out;
			}
			hit = cov ? roaring_bitmap_and_cardinality(cov, pts) : 0;
			miss = n - hit;
			unmatched += miss;
			kc_bitmap_free(pts);
			json_object_set_new(o, "imported", json_true());
			json_object_set_new(o, "points", json_integer(sqlite3_column_int64(st, 5)));
			json_object_set_new(o, "covered_points", json_integer((json_int_t)hit));
			json_object_set_new(o, "unmatched_pcs", json_integer((json_int_t)miss));
		} else if (o) {
			unimported += n;
			json_object_set_new(o, "imported", json_false());
			json_object_set_new(o, "points", json_null());
			json_object_set_new(o, "covered_points", json_null());
			json_object_set_new(o, "unmatched_pcs", json_null());
		}
		json_array_append_new(arr, o);
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(q->db), "sqlite: %s", sqlite3_errmsg(q->db));
		goto out;
	}
	sqlite3_finalize(st);
	st = kc_db_prepare(q->db, "SELECT id, points, bits FROM images WHERE build = ?", err);
	if (!st) {
		err->code = KC_E_INTERNAL;
		goto out;
	}
	sqlite3_bind_int64(st, 1, q->build);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const roaring_bitmap_t *cov = covset_get(&q->img, sqlite3_column_int64(st, 0));
		roaring_bitmap_t *pts = roaring_bitmap_portable_deserialize_safe(
			sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));

		if (!pts) {
			kc_err_set(err, KC_E_INTERNAL, "stored points are corrupt");
			goto out;
		}
		points += (uint64_t)sqlite3_column_int64(st, 1);
		covered += cov ? roaring_bitmap_and_cardinality(cov, pts) : 0;
		kc_bitmap_free(pts);
	}
	if (rc != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(q->db), "sqlite: %s", sqlite3_errmsg(q->db));
		goto out;
	}
	out = base_object(q);
	json_object_set_new(out, "imported", json_boolean(q->imported));
	json_object_set_new(out, "pcs", json_integer((json_int_t)pcs));
	json_object_set_new(out, "points", json_integer((json_int_t)points));
	json_object_set_new(out, "covered_points", json_integer((json_int_t)covered));
	json_object_set_new(out, "unmatched_pcs", json_integer((json_int_t)unmatched));
	json_object_set_new(out, "pcs_not_imported", json_integer((json_int_t)unimported));
	json_object_set(out, "binaries", arr);
out:
	sqlite3_finalize(st);
	covset_release(&bin);
	json_decref(arr);
	return out;
}
