/*
 * cq.h - the query layer's inside, shared by its modules and by no one
 * else: the query context, the in-memory point index of a build, the
 * coverage sets of a filter and the file walk. covquery.h is the API.
 *
 *   select.c   which coverage counts: rows of a filter, minus labels
 *   pindex.c   loading the point index of an imported build
 *   cache.c    struct kc_covq_cache: decoded coverage, indexes, totals
 *   covquery.c opening and freeing a query
 *   walk.c     walking files in path order and tallying their points
 *   tree.c     directory tree and one file
 *   labels.c   which labels covered a file or a line
 *   functions.c function lists
 *   export.c   LCOV, CSV and the build summary
 *   linemap.c  which line of one source text is which line of another
 *   merge.c    merged queries: coverage of other builds mapped onto this one
 *   patch.c    patch coverage: the lines new since a base build
 *   subsystems.c totals per MAINTAINERS subsystem
 *   history.c  coverage per period, merged onto each period's newest build
 */
#ifndef KC_CQ_H
#define KC_CQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "covquery.h"
#include "store.h" /* KC_ALL_DAYS: how the store keeps coverage rows */
#include "wire.h"

#define NONE UINT32_MAX

#define IMG_JOIN "FROM images i JOIN binaries b ON " IMG_BINARY

struct imgcov {
	int64_t id; /* images.id or binaries.id */
	roaring_bitmap_t *bits;
};

struct covset {
	struct imgcov *v; /* sorted by id */
	size_t n, cap;
};

struct kc_covq {
	struct kc_sql *db; /* borrowed */
	struct kc_covq_cache *cache; /* borrowed */
	uint64_t coverage_gen;  /* the caller's coverage generation */
	int64_t build;
	int64_t build_gen;      /* builds.coverage_gen (schema 015) as opened */
	char build_id[KC_BUILD_ID_MAX + 1];
	int imported;
	unsigned flags;         /* KC_COVQ_* it was opened with */
	struct kc_cov_filter f; /* strings borrowed */
	struct covset img;      /* coverage per image (a view of img_ref when set) */
	struct covshared *img_ref; /* the cache's shared set behind img, or NULL */
	struct pindex *index;   /* the build's points (shared, counted) */
	const roaring_bitmap_t **cov; /* per index slot, borrowed from img */
	uint64_t **bitset;      /* per slot, made by cq_ensure_bitsets() */
	int bitset_shared;      /* bitset belongs to img_ref */
	char *tkey;             /* totals cache key, made by tree.c */
	struct cq_merge *merge; /* merge= builds (kc_covq_merge), or NULL */
	uint8_t *fmask;         /* per index file: 1 when in f.subsystem; NULL: all */
};

/* Whether index file f passes the query's subsystem filter. */
static inline bool cq_file_in(const struct kc_covq *q, uint32_t f)
{
	return !q->fmask || q->fmask[f];
}

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
	/* With q->merge (merge.c): per line index the merged state (0
	 * uncovered, 1 partial, 2 covered) and the builds with a covered
	 * point on it (bit 0: this build, bit k: merged build k - 1); per
	 * function idx hit anywhere, and by which builds; lost lines of the
	 * merged builds in this file. */
	int merged;
	uint8_t *mstate, *fhit;
	uint64_t *mwho, *fwho;
	size_t mcap, mfcap;
	uint64_t lost;
};

/* Totals of a file or a directory. */
struct totals {
	uint64_t points, covered;
	uint64_t lines, lines_full, lines_partial;
	uint64_t funcs, funcs_hit;
	uint64_t files;
	uint64_t lost; /* merged queries: lost lines (answered only then) */
	int merged;
};


/*
 * The points of an imported build never change until it is re-imported, so
 * they are loaded once into memory (struct pindex, immutable, shared by all
 * queries, reference-counted) and a query only scans arrays: per point one
 * bit test against the coverage, no SQL and no bitmap decoding (cache.c
 * keeps the indexes of recent builds).
 */
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
	int64_t text_id; /* source_texts.id of its content, 0: no text (schema 008) */
	char *path;
	uint32_t nlines, nfuncs, nparts;
	size_t capparts;
	uint32_t *lines;
	struct pfunc *funcs; /* by idx */
	struct part *parts;
};

/* A MAINTAINERS subsystem of the build (schema 009). */
struct psub {
	char *name;
	uint32_t *files; /* index file numbers, ascending */
	uint32_t n;
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
	uint32_t nfiles;
	size_t capfiles;
	int maintainers;     /* 1 when the import read a MAINTAINERS */
	struct psub *subs;   /* sorted by name (byte order) */
	uint32_t nsubs;
	size_t capsubs;
};

struct cq_hunk;
struct cq_linemap;

/* ---- select.c ---- */

void cq_covset_release(struct covset *s);
/* The coverage of id in s (sorted by id), or NULL. */
const roaring_bitmap_t *cq_covset_get(const struct covset *s, int64_t id);
/* Deep copy; -1 when out of memory (to is then empty). */
int cq_covset_copy(const struct covset *from, struct covset *to);
/* The coverage of q's filter minus that of its minus labels, per image
 * (by_binary = 0) or per binaries row (1). */
int cq_load_filtered(struct kc_covq *q, int by_binary, struct covset *out, struct kc_err *err);

/* ---- pindex.c ---- */

/* Load the index of an imported build (refs = 0); NULL with err set. */
struct pindex *cq_index_load(struct kc_sql *db, int64_t build, int64_t generation,
			     struct kc_err *err);
void cq_index_free(struct pindex *x);
/* First file of x whose path is >= key (byte order, as SQLite's BINARY). */
uint32_t cq_lower_bound(const struct pindex *x, const char *key);
/* The subsystem called name, or NULL. */
const struct psub *cq_find_subsystem(const struct pindex *x, const char *name);

/* ---- cache.c ---- */

/* Cached coverage is shared, not copied: a hit hands out the cached set
 * (*out is a shallow view of it, read-only) and a counted reference *ref
 * to give back with cq_covshared_put. 1 hit, 0 miss. */
struct covshared;
int cq_covcache_get(struct kc_covq_cache *c, const char *key, struct covset *out,
		    struct covshared **ref);
/* Move *set (loaded by the caller) into the cache under key; *set stays a
 * shallow view and *ref the caller's reference. When out of memory the set
 * stays the caller's and *ref is NULL. */
void cq_covcache_put(struct kc_covq_cache *c, const char *key, struct covset *set,
		     struct covshared **ref);
void cq_covshared_put(struct kc_covq_cache *c, struct covshared *ref);
/* The flat bitsets made from a shared set (per index slot, walk.c), or
 * NULL; they live as long as ref. keep: hand b (n slots) over to ref,
 * 1 when kept (then the caller must not free it), 0 when ref has some. */
uint64_t **cq_covshared_bitsets(struct kc_covq_cache *c, struct covshared *ref);
int cq_covshared_keep_bitsets(struct kc_covq_cache *c, struct covshared *ref, uint64_t **b,
			      uint32_t n);
/* The index of (build, generation), from the cache or loaded now, counted
 * for the caller, who gives it back with cq_index_put. */
struct pindex *cq_index_get(struct kc_covq_cache *c, struct kc_sql *db, int64_t build,
			    int64_t generation, struct kc_err *err);
void cq_index_put(struct kc_covq_cache *c, struct pindex *x);
/* A copy (owned by the caller) of the cached per-file totals of (index,
 * key), or NULL. */
struct totals *cq_totals_lookup(struct kc_covq_cache *c, struct pindex *x, const char *key);
/* Keep a copy of the per-file totals t of x under key. */
void cq_totals_store(struct kc_covq_cache *c, struct pindex *x, const char *key,
		     const struct totals *t);
/* The cached hunks of (s_text, t_text) copied into m: 1 hit, 0 miss, -1
 * out of memory. */
int cq_linemap_lookup(struct kc_covq_cache *c, int64_t s_text, int64_t t_text,
		      struct cq_linemap *m);
/* Keep a copy of the hunks of (s_text, t_text) (dropped when out of
 * memory; the whole map cache is emptied when it outgrows its budget). */
void cq_linemap_store(struct kc_covq_cache *c, int64_t s_text, int64_t t_text,
		      const struct cq_hunk *h, uint32_t n);

/* The figures of one history period (history.c) merged onto its T, per
 * file of T walked (every file passing the subsystem filter, ascending
 * index): computed once, immutable once stored, shared by counted
 * references. nosub: T has no such subsystem (no figures). */
struct cq_hfile {
	uint32_t file; /* index of T's file */
	uint32_t points, covered, lines, lines_full, lines_partial, funcs, funcs_hit, lost;
};

struct cq_hist {
	unsigned refs;
	int nosub;
	struct cq_hfile *rec;
	uint32_t nrec;
	uint64_t *keys; /* covered lines of T: file << 32 | line index, ascending */
	size_t nkeys;
};

/* A new entry with one reference (the caller's), empty; NULL when out of
 * memory. */
struct cq_hist *cq_hist_new(void);
/* The entry cached under key, counted for the caller, or NULL. */
struct cq_hist *cq_hist_get(struct kc_covq_cache *c, const char *key);
/* Keep h (filled, never changed again) under key: the cache takes its own
 * reference, the caller keeps its one. Dropped when out of memory; the
 * least recently used entries go when KC_HIST_BYTES is exceeded. */
void cq_hist_store(struct kc_covq_cache *c, const char *key, struct cq_hist *h);
/* Give back a reference from cq_hist_new or cq_hist_get (NULL: none). */
void cq_hist_put(struct kc_covq_cache *c, struct cq_hist *h);

/* Blame of a file (patch.c): T lines [first, first + count) were last
 * changed by commit, an index into the first-parent walk S..T (its
 * length: none of the range). */
struct cq_blame {
	uint32_t first, count, commit;
};
/* The cached blame of key ("T_REV S_REV path") copied into *h (growing
 * it, *cap its capacity), *n hunks: 1 hit, 0 miss, -1 out of memory. */
int cq_blame_lookup(struct kc_covq_cache *c, const char *key, struct cq_blame **h, size_t *cap,
		    uint32_t *n);
/* Keep a copy of the n hunks h of key (dropped when out of memory; the
 * whole blame cache is emptied when it outgrows its budget). */
void cq_blame_store(struct kc_covq_cache *c, const char *key, const struct cq_blame *h,
		    uint32_t n);
/* The most files one request may blame (kc_covq_cache_set_blame_files). */
unsigned cq_blame_files_max(struct kc_covq_cache *c);

/* Line maps (linemap.c): the hunks of a diff of text S against text T, in
 * S order: S lines [first, end) are replaced, and every S line from end on
 * (until the next hunk) is line + shift in T. */
struct cq_hunk {
	uint32_t first, end;
	int32_t shift;
};

struct cq_linemap {
	struct cq_hunk *h; /* owned */
	uint32_t n;
	size_t cap;
	int identity; /* same content: every line maps onto itself */
	int valid;    /* 0: no text on one side, nothing maps */
};

/* Hunks of the diff of s against t (libgit2), *out owned by the caller. */
int cq_linemap_diff(const void *s, size_t slen, const void *t, size_t tlen, struct cq_hunk **out,
		    uint32_t *n, struct kc_err *err);
/* The line of T that S line `line` is unchanged on, 0 when none. */
uint32_t cq_linemap_apply(const struct cq_linemap *m, uint32_t line);
/* Append the text of source_texts row id to out (owned by the caller) and,
 * when hash is not NULL, write its content (git blob) id into hash (hsize
 * bytes). -1 with err when the row is missing or out of memory. */
int cq_load_text(struct kc_sql *db, int64_t id, struct kc_buf *out, char *hash, size_t hsize,
		 struct kc_err *err);
/* The map from content s_text to t_text (source_texts ids, 0: none) into
 * m (reused between calls; cq_linemap_release frees it), from the cache
 * or by a diff of the two texts read from q->db. */
int cq_linemap_get(struct kc_covq *q, int64_t s_text, int64_t t_text, struct cq_linemap *m,
		   struct kc_err *err);
void cq_linemap_release(struct cq_linemap *m);

/* ---- merge.c ---- */

#define KC_MERGE_MAX 63 /* merged builds besides the target (a 64-bit mask) */

/* One merged build and its scratch state for the file being walked. */
struct msub {
	struct kc_covq *q;     /* its query, same filter, no merge */
	struct fview v;        /* its view of the current file */
	uint32_t *lost;        /* its lost lines in the current file */
	uint32_t nlost;
	size_t lostcap;
	const char *reason;    /* why they are lost: "changed" or "no_source" */
	uint64_t lost_total;   /* over the walk */
	uint32_t next;         /* its file after the last one looked up */
};

struct cq_merge {
	struct msub *sub;
	uint32_t n;
	struct cq_linemap map; /* scratch */
	json_t *skipped;       /* [{build_id, reason}] of builds not merged */
};

void cq_merge_free(struct cq_merge *m);
/* Index of `line` among v's instrumented lines, or NONE, searching from
 * *at on (start at 0): for ascending lines a walk moves *at forward only. */
uint32_t cq_line_index(const struct fview *v, uint32_t line, uint32_t *at);
/* The merged state of v's file (after cq_fview_fill filled T's own
 * tallies): fills v->merged, mstate, mwho, fhit, fwho, lost and each
 * sub's lost lines. */
int cq_merge_fill(struct kc_covq *q, struct fview *v, struct kc_err *err);
/* JSON array of the build ids whose bit is set in mask. */
json_t *cq_merge_builds(const struct kc_covq *q, uint64_t mask);
/* {"builds": [...], "skipped": [...]}: what a merged answer merged. */
json_t *cq_merge_object(const struct kc_covq *q);
/* The summary's merge part into out: lost_lines (in T's files and in the
 * files T lacks), lost_by_build, lost_files (the files T lacks, per
 * build) and merge. */
int cq_merge_summary(struct kc_covq *q, json_t *out, struct kc_err *err);

/* ---- walk.c ---- */

/* Walks over more files than this turn the coverage into flat bitsets. */
#define KC_BITSET_MIN_FILES 32

typedef int (*file_fn)(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err);
/* Run fn(name, line_start, line_end, idx) over the functions of a file
 * that own points. */
typedef int (*func_fn)(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		       int64_t le, void *arg, struct kc_err *err);

/* 0 when q has a point index, else -1 with KC_E_NOT_IMPORTED: every query
 * of files, directories or functions calls it first. */
int cq_need_index(const struct kc_covq *q, struct kc_err *err) KC_MUST_CHECK;
int cq_ensure_bitsets(struct kc_covq *q, struct kc_err *err);
/* cq_ensure_bitsets of q and of each of its merged builds (for long walks). */
int cq_ensure_walk_bitsets(struct kc_covq *q, struct kc_err *err);
void cq_fview_release(struct fview *v);
int cq_fview_fill(struct kc_covq *q, struct fview *v, const struct pfile *pf,
		  struct kc_err *err);
void cq_fview_totals(const struct fview *v, struct totals *t);
void cq_totals_add(struct totals *a, const struct totals *b);
/* Call fn for every file whose path is exactly `exact`, or starts with
 * `prefix` (which ends with '/'), or every file when both are NULL, in
 * path order. Returns the number of files, or -1. Needs q->index. */
int64_t cq_walk(struct kc_covq *q, const char *exact, const char *prefix, file_fn fn,
		void *arg, struct kc_err *err);
/* The files [*lo, *hi) of x that cq_walk visits for exact or prefix (as
 * there; both NULL: all), before the subsystem filter; -1 when out of
 * memory. */
int cq_walk_range(const struct pindex *x, const char *exact, const char *prefix, uint32_t *lo,
		  uint32_t *hi, struct kc_err *err);
int cq_each_function(struct kc_covq *q, const struct fview *v, func_fn fn, void *arg,
		     struct kc_err *err);
void cq_put_totals(json_t *o, const struct totals *t);

/* ---- tree.c ---- */

/* Totals of every file of the index (owned by the caller; from the per-file
 * totals cache when it has them), NULL with err set. */
struct totals *cq_all_totals(struct kc_covq *q, struct kc_err *err);
/* {"build_id": ...}, a new reference. */
json_t *cq_base_object(struct kc_covq *q);

#endif
