/*
 * cache.c - what the query layer keeps between queries, in one object the
 * server creates and destroys (struct kc_covq_cache, covquery.h):
 *
 * - decoded coverage per image of recent filters, keyed by build, import
 *   generation, filter and the caller's coverage generation, so a
 *   repeated query shares the decoded bitmaps (reference counted, never
 *   changed once stored) instead of reading and decoding blobs;
 * - the point indexes of the most recently used builds, up to
 *   KC_INDEX_SLOTS of them and the byte budget (the newest is kept even
 *   when it alone is larger), keyed by (build, build_imports.imported),
 *   which import.c makes strictly increasing;
 * - per-file totals of repeated large trees, keyed by index and a key
 *   that changes with any new coverage (tree.c);
 * - line maps between two source contents (linemap.c), keyed by the pair
 *   of source_texts ids: 32 bytes per pair plus 12 per diff hunk, in an
 *   open-addressing table emptied whenever it outgrows KC_LINEMAP_BYTES
 *   (contents never change, so an entry never goes stale);
 * - blame results (patch.c), keyed by the string "T revision S revision
 *   path": per file its hunks as (first line, lines, commit index in the
 *   first-parent walk S..T, which the two revisions fix), 12 bytes per
 *   hunk plus the key and 32 bytes per slot, in an open-addressing table
 *   emptied whenever it outgrows KC_BLAME_BYTES (commits never change, so
 *   neither does an entry). The table also holds the cap on files blamed
 *   per request (kc_covq_cache_set_blame_files);
 * - history periods (history.c): per period its merged per-file figures
 *   and covered lines of T (struct cq_hist), keyed by a string that names
 *   the filter, the period's days, its builds with their import
 *   generations and the coverage_days stamps of its days (schema 012),
 *   so an entry is never stale: any change of its inputs is another key.
 *   Up to KC_HIST_ENTRIES entries and KC_HIST_BYTES, least recently used
 *   out first.
 *
 * Loading an index holds the lock, so a build is loaded once even when
 * many queries arrive together.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "grow.h"

#define KC_COVSET_CACHE 32
#define KC_INDEX_SLOTS 64
#define KC_TOTALS_CACHE 8
#define KC_LINEMAP_BYTES (32u << 20)
#define KC_LINEMAP_MIN_SLOTS 1024u
#define KC_BLAME_BYTES (16u << 20)
#define KC_BLAME_MIN_SLOTS 256u
#define KC_HIST_ENTRIES 4096
#define KC_HIST_BYTES (64u << 20)

/* A decoded coverage set shared by the cache and the queries using it. */
struct covshared {
	struct covset set;
	unsigned refs;
	uint64_t **bitset; /* flat bitsets per index slot (walk.c), once made */
	uint32_t nbitset;
};

struct covcache {
	char *key; /* NULL: free slot */
	struct covshared *s;
	uint64_t used;
};

struct tentry {
	struct pindex *index; /* counted reference */
	char *key;
	struct totals *t; /* per index file */
	uint64_t used;
};

struct mapentry {
	int64_t s, t; /* s == 0: free slot */
	struct cq_hunk *h;
	uint32_t n;
};

struct blameentry {
	char *key; /* NULL: free slot */
	uint64_t hash;
	struct cq_blame *h;
	uint32_t n;
};

struct histentry {
	char *key; /* NULL: free slot */
	uint64_t hash, used;
	size_t bytes;
	struct cq_hist *h; /* the cache's reference */
};

struct kc_covq_cache {
	pthread_mutex_t hist_lock; /* history periods */
	struct histentry *hist; /* KC_HIST_ENTRIES slots, made at first store */
	size_t histbytes;
	uint64_t hist_tick;

	pthread_mutex_t map_lock; /* line maps */
	struct mapentry *maps;
	size_t nmaps, capmaps, mapbytes;

	pthread_mutex_t blame_lock; /* blame results */
	struct blameentry *blames;
	size_t nblames, capblames, blamebytes;
	unsigned blame_files_max;

	pthread_mutex_t cov_lock; /* covsets */
	struct covcache cov[KC_COVSET_CACHE];
	uint64_t cov_tick;

	pthread_mutex_t lock; /* indexes and totals */
	struct pindex *index[KC_INDEX_SLOTS];
	size_t budget;        /* bytes of indexes kept */
	size_t bytes;         /* sum of the cached indexes' bytes */
	struct tentry totals[KC_TOTALS_CACHE];
	uint64_t tick;
};

struct kc_covq_cache *kc_covq_cache_new(unsigned index_mb, struct kc_err *err)
{
	struct kc_covq_cache *c = calloc(1, sizeof(*c));

	if (!c) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	/* line maps diff with libgit2 (reference counted, thread-safe) */
	if (git_libgit2_init() < 0) {
		free(c);
		kc_err_set(err, KC_E_INTERNAL, "libgit2 failed to initialize");
		return NULL;
	}
	pthread_mutex_init(&c->cov_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->map_lock, NULL);
	pthread_mutex_init(&c->blame_lock, NULL);
	pthread_mutex_init(&c->hist_lock, NULL);
	c->budget = (size_t)index_mb << 20;
	c->blame_files_max = KC_PATCH_BLAME_FILES_DEFAULT;
	return c;
}

static void index_put_locked(struct pindex *x)
{
	if (x && --x->refs == 0)
		cq_index_free(x);
}

static void totals_drop_locked(struct tentry *e)
{
	free(e->key);
	free(e->t);
	index_put_locked(e->index);
	memset(e, 0, sizeof(*e));
}

/* Drop index slot i and the totals computed from it. */
static void index_evict_locked(struct kc_covq_cache *c, int i)
{
	if (!c->index[i])
		return;
	c->bytes -= c->index[i]->bytes;
	for (int t = 0; t < KC_TOTALS_CACHE; t++)
		if (c->totals[t].index == c->index[i])
			totals_drop_locked(&c->totals[t]);
	index_put_locked(c->index[i]);
	c->index[i] = NULL;
}

static void covshared_put_locked(struct covshared *s)
{
	if (s && --s->refs == 0) {
		cq_covset_release(&s->set);
		for (uint32_t i = 0; s->bitset && i < s->nbitset; i++)
			free(s->bitset[i]);
		free(s->bitset);
		free(s);
	}
}

static void maps_clear_locked(struct kc_covq_cache *c)
{
	for (size_t i = 0; i < c->capmaps; i++)
		free(c->maps[i].h);
	free(c->maps);
	c->maps = NULL;
	c->nmaps = c->capmaps = c->mapbytes = 0;
}

static void blames_clear_locked(struct kc_covq_cache *c)
{
	for (size_t i = 0; i < c->capblames; i++) {
		free(c->blames[i].key);
		free(c->blames[i].h);
	}
	free(c->blames);
	c->blames = NULL;
	c->nblames = c->capblames = c->blamebytes = 0;
}

static void hist_free(struct cq_hist *h)
{
	if (h && --h->refs == 0) {
		free(h->rec);
		free(h->keys);
		free(h);
	}
}

static void hist_drop_locked(struct kc_covq_cache *c, struct histentry *e)
{
	c->histbytes -= e->bytes;
	free(e->key);
	hist_free(e->h);
	memset(e, 0, sizeof(*e));
}

void kc_covq_cache_clear(struct kc_covq_cache *c)
{
	pthread_mutex_lock(&c->hist_lock);
	for (size_t i = 0; c->hist && i < KC_HIST_ENTRIES; i++)
		if (c->hist[i].key)
			hist_drop_locked(c, &c->hist[i]);
	pthread_mutex_unlock(&c->hist_lock);
	pthread_mutex_lock(&c->map_lock);
	maps_clear_locked(c);
	pthread_mutex_unlock(&c->map_lock);
	pthread_mutex_lock(&c->blame_lock);
	blames_clear_locked(c);
	pthread_mutex_unlock(&c->blame_lock);
	pthread_mutex_lock(&c->cov_lock);
	for (int i = 0; i < KC_COVSET_CACHE; i++) {
		free(c->cov[i].key);
		covshared_put_locked(c->cov[i].s);
		memset(&c->cov[i], 0, sizeof(c->cov[i]));
	}
	pthread_mutex_unlock(&c->cov_lock);
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < KC_TOTALS_CACHE; i++)
		totals_drop_locked(&c->totals[i]);
	for (int i = 0; i < KC_INDEX_SLOTS; i++)
		index_evict_locked(c, i);
	pthread_mutex_unlock(&c->lock);
}

void kc_covq_cache_free(struct kc_covq_cache *c)
{
	if (!c)
		return;
	kc_covq_cache_clear(c);
	pthread_mutex_destroy(&c->cov_lock);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->map_lock);
	pthread_mutex_destroy(&c->blame_lock);
	pthread_mutex_destroy(&c->hist_lock);
	free(c->hist);
	free(c);
	git_libgit2_shutdown();
}

uint64_t **cq_covshared_bitsets(struct kc_covq_cache *c, struct covshared *ref)
{
	uint64_t **b;

	pthread_mutex_lock(&c->cov_lock);
	b = ref->bitset;
	pthread_mutex_unlock(&c->cov_lock);
	return b;
}

int cq_covshared_keep_bitsets(struct kc_covq_cache *c, struct covshared *ref, uint64_t **b,
			      uint32_t n)
{
	int kept = 0;

	pthread_mutex_lock(&c->cov_lock);
	if (!ref->bitset) {
		ref->bitset = b;
		ref->nbitset = n;
		kept = 1;
	}
	pthread_mutex_unlock(&c->cov_lock);
	return kept;
}

void cq_covshared_put(struct kc_covq_cache *c, struct covshared *ref)
{
	pthread_mutex_lock(&c->cov_lock);
	covshared_put_locked(ref);
	pthread_mutex_unlock(&c->cov_lock);
}

int cq_covcache_get(struct kc_covq_cache *c, const char *key, struct covset *out,
		    struct covshared **ref)
{
	int r = 0;

	*ref = NULL;
	pthread_mutex_lock(&c->cov_lock);
	for (int i = 0; i < KC_COVSET_CACHE; i++)
		if (c->cov[i].key && strcmp(c->cov[i].key, key) == 0) {
			c->cov[i].used = ++c->cov_tick;
			c->cov[i].s->refs++;
			*ref = c->cov[i].s;
			*out = c->cov[i].s->set;
			r = 1;
			break;
		}
	pthread_mutex_unlock(&c->cov_lock);
	return r;
}

void cq_covcache_put(struct kc_covq_cache *c, const char *key, struct covset *set,
		     struct covshared **ref)
{
	struct covshared *s = calloc(1, sizeof(*s));
	char *k = strdup(key);
	struct covcache *slot = &c->cov[0];

	*ref = NULL;
	if (!s || !k) {
		free(s);
		free(k);
		return;
	}
	s->set = *set;
	s->refs = 2; /* the cache and the caller */
	*ref = s;
	pthread_mutex_lock(&c->cov_lock);
	for (int i = 0; i < KC_COVSET_CACHE; i++) {
		if (!c->cov[i].key) {
			slot = &c->cov[i]; /* a free slot */
			break;
		}
		if (c->cov[i].used < slot->used)
			slot = &c->cov[i]; /* else the least recently used */
	}
	free(slot->key);
	covshared_put_locked(slot->s);
	slot->key = k;
	slot->s = s;
	slot->used = ++c->cov_tick;
	pthread_mutex_unlock(&c->cov_lock);
}

void cq_index_put(struct kc_covq_cache *c, struct pindex *x)
{
	pthread_mutex_lock(&c->lock);
	index_put_locked(x);
	pthread_mutex_unlock(&c->lock);
}

/* Keep x (refs already counted for the cache): replace an older import of
 * the build, else take a free slot, else the least recently used; then
 * drop the least recently used others while over the budget. */
static void index_keep_locked(struct kc_covq_cache *c, struct pindex *x)
{
	int victim = 0;

	for (int i = 0; i < KC_INDEX_SLOTS; i++) {
		if (c->index[i] && c->index[i]->build == x->build) {
			victim = i;
			break;
		}
		if (!c->index[i] || (c->index[victim] && c->index[i]->used < c->index[victim]->used))
			victim = i;
	}
	index_evict_locked(c, victim);
	c->index[victim] = x;
	c->bytes += x->bytes;
	while (c->bytes > c->budget) {
		int lru = -1;

		for (int i = 0; i < KC_INDEX_SLOTS; i++)
			if (c->index[i] && c->index[i] != x &&
			    (lru < 0 || c->index[i]->used < c->index[lru]->used))
				lru = i;
		if (lru < 0)
			break;
		index_evict_locked(c, lru);
	}
}

struct pindex *cq_index_get(struct kc_covq_cache *c, struct kc_sql *db, int64_t build,
			    int64_t generation, struct kc_err *err)
{
	struct pindex *x = NULL;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < KC_INDEX_SLOTS; i++) {
		if (c->index[i] && c->index[i]->build == build &&
		    c->index[i]->generation == generation) {
			x = c->index[i];
			x->refs++;
			x->used = ++c->tick;
			goto out;
		}
	}
	x = cq_index_load(db, build, generation, err);
	if (!x)
		goto out;
	x->refs = 2; /* the cache and the caller */
	x->used = ++c->tick;
	index_keep_locked(c, x);
out:
	pthread_mutex_unlock(&c->lock);
	return x;
}

struct totals *cq_totals_lookup(struct kc_covq_cache *c, struct pindex *x, const char *key)
{
	struct totals *t = NULL;
	size_t n = ((size_t)x->nfiles + 1) * sizeof(*t);

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < KC_TOTALS_CACHE; i++) {
		if (c->totals[i].index == x && strcmp(c->totals[i].key, key) == 0) {
			t = malloc(n);
			if (t)
				memcpy(t, c->totals[i].t, n);
			c->totals[i].used = ++c->tick;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return t;
}

void cq_totals_store(struct kc_covq_cache *c, struct pindex *x, const char *key,
		     const struct totals *t)
{
	size_t n = ((size_t)x->nfiles + 1) * sizeof(*t);
	struct totals *copy = malloc(n);
	char *k = strdup(key);
	struct tentry *e = &c->totals[0];

	if (!copy || !k) {
		free(copy);
		free(k);
		return;
	}
	memcpy(copy, t, n);
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < KC_TOTALS_CACHE; i++) {
		if (!c->totals[i].index) {
			e = &c->totals[i];
			break;
		}
		if (c->totals[i].used < e->used)
			e = &c->totals[i];
	}
	totals_drop_locked(e);
	x->refs++;
	e->index = x;
	e->key = k;
	e->t = copy;
	e->used = ++c->tick;
	pthread_mutex_unlock(&c->lock);
}

static size_t map_slot(const struct kc_covq_cache *c, int64_t s, int64_t t)
{
	uint64_t h = (uint64_t)s * 0x9e3779b97f4a7c15ull ^ (uint64_t)t * 0xc2b2ae3d27d4eb4full;
	size_t i = (size_t)(h ^ (h >> 29)) & (c->capmaps - 1);

	while (c->maps[i].s && (c->maps[i].s != s || c->maps[i].t != t))
		i = (i + 1) & (c->capmaps - 1);
	return i;
}

int cq_linemap_lookup(struct kc_covq_cache *c, int64_t s_text, int64_t t_text,
		      struct cq_linemap *m)
{
	int r = 0;

	pthread_mutex_lock(&c->map_lock);
	if (c->capmaps) {
		const struct mapentry *e = &c->maps[map_slot(c, s_text, t_text)];

		if (e->s) {
			r = 1;
			if (KC_GROW(m->h, m->cap, (size_t)e->n + 1) < 0)
				r = -1;
			else if (e->n)
				memcpy(m->h, e->h, e->n * sizeof(*e->h));
			m->n = r > 0 ? e->n : 0;
		}
	}
	pthread_mutex_unlock(&c->map_lock);
	return r;
}

/* Double the table (rehashing every entry); -1 when out of memory. */
static int maps_grow_locked(struct kc_covq_cache *c)
{
	size_t cap = c->capmaps ? 2 * c->capmaps : KC_LINEMAP_MIN_SLOTS;
	struct mapentry *old = c->maps;
	size_t oldcap = c->capmaps;

	c->maps = calloc(cap, sizeof(*c->maps));
	if (!c->maps) {
		c->maps = old;
		return -1;
	}
	c->capmaps = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].s)
			c->maps[map_slot(c, old[i].s, old[i].t)] = old[i];
	free(old);
	c->mapbytes += (cap - oldcap) * sizeof(*c->maps);
	return 0;
}

void cq_linemap_store(struct kc_covq_cache *c, int64_t s_text, int64_t t_text,
		      const struct cq_hunk *h, uint32_t n)
{
	size_t bytes = (size_t)n * sizeof(*h);
	struct cq_hunk *copy = malloc(bytes ? bytes : 1);
	struct mapentry *e;

	if (!copy)
		return;
	if (n)
		memcpy(copy, h, bytes);
	pthread_mutex_lock(&c->map_lock);
	if (c->mapbytes + bytes > KC_LINEMAP_BYTES)
		maps_clear_locked(c);
	if (2 * (c->nmaps + 1) > c->capmaps && maps_grow_locked(c) < 0) {
		free(copy);
		goto out;
	}
	e = &c->maps[map_slot(c, s_text, t_text)];
	if (e->s) {
		free(copy); /* another query stored it meanwhile */
		goto out;
	}
	e->s = s_text;
	e->t = t_text;
	e->h = copy;
	e->n = n;
	c->nmaps++;
	c->mapbytes += bytes;
out:
	pthread_mutex_unlock(&c->map_lock);
}

void kc_covq_cache_set_blame_files(struct kc_covq_cache *c, unsigned max)
{
	pthread_mutex_lock(&c->blame_lock);
	c->blame_files_max = max;
	pthread_mutex_unlock(&c->blame_lock);
}

unsigned cq_blame_files_max(struct kc_covq_cache *c)
{
	unsigned max;

	pthread_mutex_lock(&c->blame_lock);
	max = c->blame_files_max;
	pthread_mutex_unlock(&c->blame_lock);
	return max;
}

static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

static size_t blame_slot(const struct kc_covq_cache *c, const char *key, uint64_t hash)
{
	size_t i = (size_t)(hash ^ (hash >> 31)) & (c->capblames - 1);

	while (c->blames[i].key && (c->blames[i].hash != hash || strcmp(c->blames[i].key, key)))
		i = (i + 1) & (c->capblames - 1);
	return i;
}

int cq_blame_lookup(struct kc_covq_cache *c, const char *key, struct cq_blame **h, size_t *cap,
		    uint32_t *n)
{
	uint64_t hash = key_hash(key);
	int r = 0;

	pthread_mutex_lock(&c->blame_lock);
	if (c->capblames) {
		const struct blameentry *e = &c->blames[blame_slot(c, key, hash)];

		if (e->key) {
			r = KC_GROW(*h, *cap, (size_t)e->n + 1) < 0 ? -1 : 1;
			if (r > 0 && e->n)
				memcpy(*h, e->h, e->n * sizeof(*e->h));
			*n = r > 0 ? e->n : 0;
		}
	}
	pthread_mutex_unlock(&c->blame_lock);
	return r;
}

/* Double the blame table (rehashing every entry); -1 when out of memory. */
static int blames_grow_locked(struct kc_covq_cache *c)
{
	size_t cap = c->capblames ? 2 * c->capblames : KC_BLAME_MIN_SLOTS;
	struct blameentry *old = c->blames;
	size_t oldcap = c->capblames;

	c->blames = calloc(cap, sizeof(*c->blames));
	if (!c->blames) {
		c->blames = old;
		return -1;
	}
	c->capblames = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			c->blames[blame_slot(c, old[i].key, old[i].hash)] = old[i];
	free(old);
	c->blamebytes += (cap - oldcap) * sizeof(*c->blames);
	return 0;
}

void cq_blame_store(struct kc_covq_cache *c, const char *key, const struct cq_blame *h,
		    uint32_t n)
{
	size_t bytes = (size_t)n * sizeof(*h) + strlen(key) + 1;
	uint64_t hash = key_hash(key);
	struct cq_blame *copy = malloc(n ? (size_t)n * sizeof(*h) : 1);
	char *k = strdup(key);
	struct blameentry *e;

	if (!copy || !k)
		goto drop;
	if (n)
		memcpy(copy, h, (size_t)n * sizeof(*h));
	pthread_mutex_lock(&c->blame_lock);
	if (c->blamebytes + bytes > KC_BLAME_BYTES)
		blames_clear_locked(c);
	if (2 * (c->nblames + 1) > c->capblames && blames_grow_locked(c) < 0) {
		pthread_mutex_unlock(&c->blame_lock);
		goto drop;
	}
	e = &c->blames[blame_slot(c, key, hash)];
	if (e->key) {
		pthread_mutex_unlock(&c->blame_lock);
		goto drop; /* another query stored it meanwhile */
	}
	e->key = k;
	e->hash = hash;
	e->h = copy;
	e->n = n;
	c->nblames++;
	c->blamebytes += bytes;
	pthread_mutex_unlock(&c->blame_lock);
	return;
drop:
	free(copy);
	free(k);
}

/* ---- history periods ---- */

struct cq_hist *cq_hist_new(void)
{
	struct cq_hist *h = calloc(1, sizeof(*h));

	if (h)
		h->refs = 1;
	return h;
}

struct cq_hist *cq_hist_get(struct kc_covq_cache *c, const char *key)
{
	uint64_t hash = key_hash(key);
	struct cq_hist *h = NULL;

	pthread_mutex_lock(&c->hist_lock);
	for (size_t i = 0; c->hist && i < KC_HIST_ENTRIES; i++) {
		struct histentry *e = &c->hist[i];

		if (e->key && e->hash == hash && strcmp(e->key, key) == 0) {
			e->used = ++c->hist_tick;
			h = e->h;
			h->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&c->hist_lock);
	return h;
}

void cq_hist_store(struct kc_covq_cache *c, const char *key, struct cq_hist *h)
{
	size_t bytes = sizeof(*h) + strlen(key) + 1 + h->nrec * sizeof(*h->rec) +
		       h->nkeys * sizeof(*h->keys);
	uint64_t hash = key_hash(key);
	struct histentry *e;
	char *k;

	if (bytes > KC_HIST_BYTES / 4)
		return; /* one period may not push out most of the others */
	pthread_mutex_lock(&c->hist_lock);
	if (!c->hist && !(c->hist = calloc(KC_HIST_ENTRIES, sizeof(*c->hist))))
		goto out;
	for (size_t i = 0; i < KC_HIST_ENTRIES; i++)
		if (c->hist[i].key && c->hist[i].hash == hash && strcmp(c->hist[i].key, key) == 0)
			goto out; /* a concurrent request stored the same period first */
	for (;;) {
		/* a free slot within the budget, else the least recently used out */
		struct histentry *old = NULL;

		e = NULL;
		for (size_t i = 0; i < KC_HIST_ENTRIES; i++) {
			struct histentry *x = &c->hist[i];

			if (!x->key)
				e = e ? e : x;
			else if (!old || x->used < old->used)
				old = x;
		}
		if (e && c->histbytes + bytes <= KC_HIST_BYTES)
			break;
		if (!old)
			goto out;
		hist_drop_locked(c, old);
	}
	if (!(k = strdup(key)))
		goto out;
	e->key = k;
	e->hash = hash;
	e->used = ++c->hist_tick;
	e->bytes = bytes;
	e->h = h;
	h->refs++;
	c->histbytes += bytes;
out:
	pthread_mutex_unlock(&c->hist_lock);
}

void cq_hist_put(struct kc_covq_cache *c, struct cq_hist *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&c->hist_lock);
	hist_free(h);
	pthread_mutex_unlock(&c->hist_lock);
}
