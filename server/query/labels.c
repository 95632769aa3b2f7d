/*
 * labels.c - which labels covered the points of one file or one of its
 * lines: the selected points as a bitmap per image, one pass over the
 * coverage rows of those images that marks, per label, the points it
 * covered, then the days each label covered any of them.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "day.h"
#include "db.h"
#include "grow.h"

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
	if (KC_GROW(r->v, r->cap, r->n + 1) < 0)
		return NULL;
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
	struct kc_stmt *st = kc_db_prepare(q->db, sql[f->days ? 1 : 0], err);
	int rc, ret = -1;

	r->minus = calloc(s->words, 8);
	r->row = calloc(s->words, 8);
	if (!st || !r->minus || !r->row) {
		if (st)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	kc_stmt_bind_text(st, 1, s->images, -1, KC_SQL_STATIC);
	if (f->labels_json)
		kc_stmt_bind_text(st, 2, f->labels_json, -1, KC_SQL_STATIC);
	if (f->minus_json)
		kc_stmt_bind_text(st, 3, f->minus_json, -1, KC_SQL_STATIC);
	if (f->days) {
		kc_stmt_bind_int64(st, 4, f->since);
		kc_stmt_bind_int64(st, 5, f->until);
	}
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW) {
		int64_t day = kc_stmt_column_int64(st, 3);
		roaring_bitmap_t *cov = kc_db_column_bitmap(st, 4);
		struct llabel *l = NULL;
		int any;

		if (!cov) {
			kc_err_set(err, KC_E_INTERNAL, "a stored coverage bitmap is corrupt");
			goto out;
		}
		memset(r->row, 0, s->words * 8);
		any = lsel_mark(q, s, kc_stmt_column_int64(st, 2), cov, r->row, err);
		kc_bitmap_free(cov);
		if (any < 0)
			goto out;
		if (kc_stmt_column_int(st, 5)) {
			l = lread_label(r, s, kc_stmt_column_int64(st, 0),
					(const char *)kc_stmt_column_text(st, 1));
			if (!l) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
		}
		for (size_t w = 0; any && w < s->words; w++) {
			if (l)
				l->hit[w] |= r->row[w];
			if (kc_stmt_column_int(st, 6))
				r->minus[w] |= r->row[w];
		}
		if (l && any) {
			l->first = day < l->first ? day : l->first;
			l->last = day > l->last ? day : l->last;
		}
	}
	if (rc < 0) {
		kc_err_prefix(err, "reading coverage");
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

/* Mark the selected points that label id covered on day (hit: the
 * prepared statement of llabel_days); 1 if any. */
static int llabel_day_hit(struct kc_covq *q, const struct lsel *s, struct kc_stmt *st, int64_t id,
			  int64_t day, uint64_t *row, struct kc_err *err)
{
	int rc, hit = 0;

	kc_stmt_reset(st);
	kc_stmt_bind_int64(st, 1, id);
	kc_stmt_bind_int64(st, 2, day);
	kc_stmt_bind_text(st, 3, s->images, -1, KC_SQL_STATIC);
	while (!hit && (rc = kc_db_step(q->db, st, err)) == KC_ROW) {
		roaring_bitmap_t *cov = kc_db_column_bitmap(st, 1);

		if (!cov)
			return kc_err_set(err, KC_E_INTERNAL,
					  "a stored coverage bitmap is corrupt");
		hit = lsel_mark(q, s, kc_stmt_column_int64(st, 0), cov, row, err);
		kc_bitmap_free(cov);
	}
	if (hit == 0 && rc < 0)
		return kc_err_prefix(err, "reading coverage");
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
	/* Run for each listed label (up to limit): kept prepared on the
	 * connection rather than parsed three times per label. */
	struct kc_stmt *hit_st = kc_db_cached(q->db,
					     "SELECT i.id, c.bits " IMG_JOIN "JOIN coverage c ON "
					     "c.binary = b.id WHERE c.label = ?1 AND c.day = ?2 AND "
					     "i.id IN (SELECT value FROM json_each(?3))",
					     err);
	int64_t *ends[2] = { &l->first, &l->last };
	int ret = -1;

	if (!hit_st)
		return -1;
	for (int e = 0; e < 2; e++) {
		struct kc_stmt *st = kc_db_cached(q->db, sql[e], err);
		int rc, hit = 0;

		if (!st)
			goto out;
		kc_stmt_bind_int64(st, 1, l->id);
		kc_stmt_bind_text(st, 2, s->images, -1, KC_SQL_STATIC);
		while (hit == 0 && (rc = kc_db_step(q->db, st, err)) == KC_ROW) {
			int64_t day = kc_stmt_column_int64(st, 0);

			hit = llabel_day_hit(q, s, hit_st, l->id, day, row, err);
			if (hit > 0)
				*ends[e] = day;
		}
		if (hit == 0 && rc < 0)
			hit = kc_err_prefix(err, "reading coverage days");
		kc_stmt_reset(st);
		if (hit < 0)
			goto out;
	}
	ret = 0;
out:
	kc_stmt_reset(hit_st);
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

	if (cq_need_index(q, err) < 0)
		return NULL;
	at = cq_lower_bound(x, path);
	if (at >= x->nfiles || strcmp(x->files[at].path, path) != 0 || !cq_file_in(q, at)) {
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
	out = cq_base_object(q);
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
