/*
 * labels.c - which labels covered the points of one file or one of its
 * lines: the selected points as a bitmap per image, one pass over the
 * coverage rows of those images that marks, per label, the points it
 * covered, then the days each label covered any of them. Over all days,
 * for a build with a label index (schema/010_label_files.sql), the pass
 * reads the index's rows of the file instead of every label's coverage.
 *
 * Why one file (about 880 lines): the point selection, the pass over the
 * coverage rows, the index read that replaces it and the merged variant
 * all fill the same private per-label tallies; the merged variant is the
 * same pass run per build and mapped.
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

/* Select the points of pf on line index li (NONE: all of them), or, when
 * keep is not NULL, those on the line indexes i with keep[i] set. */
static int lsel_init(struct lsel *s, const struct kc_covq *q, const struct pfile *pf, uint32_t li,
		     const uint8_t *keep, struct kc_err *err)
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
			if (keep ? p->li[i] != NONE && keep[p->li[i]]
				 : li == NONE || p->li[i] == li) {
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

/* One row of st (columns: label id, name, image, first day, last day,
 * bits, listed, minus): its selected points go into the label's hit set
 * and, for a minus label, into r->minus; its days (NULL: none) widen the
 * label's days when it covered any. */
static int lread_row(struct kc_covq *q, const struct lsel *s, struct lread *r,
		     struct kc_stmt *st, struct kc_err *err)
{
	roaring_bitmap_t *cov = kc_db_column_bitmap(st, 5);
	struct llabel *l = NULL;
	int any;

	if (!cov)
		return kc_err_set(err, KC_E_INTERNAL, "a stored coverage bitmap is corrupt");
	memset(r->row, 0, s->words * 8);
	any = lsel_mark(q, s, kc_stmt_column_int64(st, 2), cov, r->row, err);
	kc_bitmap_free(cov);
	if (any < 0)
		return -1;
	if (kc_stmt_column_int(st, 6)) {
		l = lread_label(r, s, kc_stmt_column_int64(st, 0),
				(const char *)kc_stmt_column_text(st, 1));
		if (!l)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	for (size_t w = 0; any && w < s->words; w++) {
		if (l)
			l->hit[w] |= r->row[w];
		if (kc_stmt_column_int(st, 7))
			r->minus[w] |= r->row[w];
	}
	if (l && any && kc_stmt_column_type(st, 3) != KC_SQL_NULL) {
		int64_t first = kc_stmt_column_int64(st, 3), last = kc_stmt_column_int64(st, 4);

		l->first = first < l->first ? first : l->first;
		l->last = last > l->last ? last : l->last;
	}
	return 0;
}

/* The labels' (id, name, listed, minus) of a filter: ?2 the listed names
 * (NULL: all), ?3 the minus ones. */
#define LSEL_(B)                                                                          \
	"WITH sel(id, name, listed, minus) AS (SELECT id, name, "                          \
	"?2 IS NULL OR name IN " KC_SQL_JSON_TEXTS_##B("?2") ", "                           \
	"?3 IS NOT NULL AND name IN " KC_SQL_JSON_TEXTS_##B("?3") " FROM labels) "
/* The per-backend pair of a statement S(B) (B: SQLITE or PG), and the one
 * of conn. */
#define BOTH(S) { S(SQLITE), S(PG) }
#define PICK(conn, pair) ((pair)[kc_sql_backend(conn) == KC_SQL_PG])

/* Bind the filter's label lists to ?2 and ?3. */
static void lread_bind(struct kc_stmt *st, const struct kc_cov_filter *f)
{
	if (f->labels_json)
		kc_stmt_bind_text(st, 2, f->labels_json, -1, KC_SQL_STATIC);
	if (f->minus_json)
		kc_stmt_bind_text(st, 3, f->minus_json, -1, KC_SQL_STATIC);
}

static int lread_alloc(const struct lsel *s, struct lread *r, struct kc_err *err)
{
	r->minus = calloc(s->words, 8);
	r->row = calloc(s->words, 8);
	if (!r->minus || !r->row)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	return 0;
}

/* Whether the label index (schema/010_label_files.sql) of the query's
 * build is complete: 1, 0, or -1 on error. */
static int lindex_built(struct kc_covq *q, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_cached(q->db, "SELECT 1 FROM label_files_built WHERE build = ?",
					err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, q->build);
	rc = kc_db_step(q->db, st, err);
	kc_stmt_reset(st);
	return rc < 0 ? -1 : rc == KC_ROW;
}

/* Over all days, from the label index: per label one small row per image
 * of the file, holding the file's points it covered and its first and
 * last day (those of the whole file). */
static int lread_index(struct kc_covq *q, const struct lsel *s, struct lread *r,
		       struct kc_err *err)
{
#define INDEX(B)                                                                          \
	LSEL_(B) "SELECT s.id, s.name, x.image, x.first_day, x.last_day, "                 \
		 "x.bits, s.listed, s.minus FROM label_files x "                            \
		 "JOIN sel s ON s.id = x.label WHERE x.file = ?1 "                          \
		 "AND (s.listed OR s.minus) ORDER BY x.label"
	static const char *const sql[2] = BOTH(INDEX);
#undef INDEX
	struct kc_stmt *st = kc_db_cached(q->db, PICK(q->db, sql), err);
	int rc, ret = -1;

	if (!st || lread_alloc(s, r, err) < 0)
		goto out;
	kc_stmt_bind_int64(st, 1, s->pf->id);
	lread_bind(st, &q->f);
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW)
		if (lread_row(q, s, r, st, err) < 0)
			goto out;
	if (rc < 0) {
		kc_err_prefix(err, "reading the label index");
		goto out;
	}
	ret = 0;
out:
	if (st)
		kc_stmt_reset(st);
	return ret;
}

/* Read the coverage rows of the filter's days for the selected points'
 * images: per listed label its hit set, and the minus labels' union. */
static int lread_rows(struct kc_covq *q, const struct lsel *s, struct lread *r,
		      struct kc_err *err)
{
	const struct kc_cov_filter *f = &q->f;
	/* Labels outermost (in id order, so no sort of the blobs), then the
	 * primary key (binary, label, day) of each label's rows. */
	/* X: the join SQLite must not reorder (KC_SQL_XJOIN_*); sel x images
	 * is a plain cross join on both. */
#define ROWS(B, X)                                                                        \
	LSEL_(B) "SELECT s.id, s.name, i.id, c.day, c.day, c.bits, s.listed, s.minus FROM sel s " \
	"CROSS JOIN images i JOIN binaries b ON " IMG_BINARY                               \
	X "coverage c ON c.binary = b.id AND c.label = s.id "                              \
	"WHERE (s.listed OR s.minus) AND i.id IN " KC_SQL_JSON_IDS_##B("?1") " AND "
#define ALL(B) ROWS(B, KC_SQL_XJOIN_##B) KC_ALL_DAYS_ROWS "ORDER BY s.id"
#define WINDOW(B) ROWS(B, KC_SQL_XJOIN_##B) "c.day BETWEEN ?4 AND ?5 ORDER BY s.id"
	static const char *const sql[2][2] = { BOTH(ALL), BOTH(WINDOW) };
#undef ROWS
#undef ALL
#undef WINDOW
	struct kc_stmt *st = kc_db_prepare(q->db, PICK(q->db, sql[f->days ? 1 : 0]), err);
	int rc, ret = -1;

	if (!st || lread_alloc(s, r, err) < 0)
		goto out;
	kc_stmt_bind_text(st, 1, s->images, -1, KC_SQL_STATIC);
	lread_bind(st, f);
	if (f->days) {
		kc_stmt_bind_int64(st, 4, f->since);
		kc_stmt_bind_int64(st, 5, f->until);
	}
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW)
		if (lread_row(q, s, r, st, err) < 0)
			goto out;
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
#define DAYS(B)                                                                           \
	"SELECT DISTINCT c.day " IMG_JOIN "JOIN coverage c ON c.binary = b.id "            \
	"WHERE c.label = ?1 AND c.day >= 0 AND i.id IN " KC_SQL_JSON_IDS_##B("?2")         \
	"ORDER BY c.day "
#define ASC(B) DAYS(B) "ASC"
#define DESC(B) DAYS(B) "DESC"
#define HIT(B)                                                                            \
	"SELECT i.id, c.bits " IMG_JOIN "JOIN coverage c ON "                              \
	"c.binary = b.id WHERE c.label = ?1 AND c.day = ?2 AND "                           \
	"i.id IN " KC_SQL_JSON_IDS_##B("?3")
	static const char *const sql[2][2] = { BOTH(ASC), BOTH(DESC) };
	static const char *const hit_sql[2] = BOTH(HIT);
#undef DAYS
#undef ASC
#undef DESC
#undef HIT
	/* Run for each listed label (up to limit): kept prepared on the
	 * connection rather than parsed three times per label. */
	struct kc_stmt *hit_st = kc_db_cached(q->db, PICK(q->db, hit_sql), err);
	int64_t *ends[2] = { &l->first, &l->last };
	int ret = -1;

	if (!hit_st)
		return -1;
	for (int e = 0; e < 2; e++) {
		struct kc_stmt *st = kc_db_cached(q->db, PICK(q->db, sql[e]), err);
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

/* ---- merged labels (merge=) ---------------------------------------------------
 *
 * Each build (T, then every merged build S) reads its own labels' rows
 * over its own selection: in T the points asked for; in S the points of
 * the S lines that map onto a selected line of T (merge.c's line maps) and,
 * for a whole file, of the S lines that map nowhere (lost). Labels are the
 * same rows of the labels table in every build, so they merge by id.
 */

/* One build's side: its selection, its labels' rows and, for S, where
 * each of its file's line indexes goes. */
struct lside {
	struct kc_covq *q; /* borrowed */
	struct lsel s;
	struct lread r;
	uint32_t *to;   /* S: per line index, the T line index it maps onto, or NONE */
	uint8_t *lost;  /* S: per line index, 1 when it maps nowhere (counted lost) */
	uint8_t *seen;  /* S: scratch per line index */
};

/* A label over all sides. */
struct mlabel {
	int64_t id;
	const char *name;        /* borrowed from a side's llabel */
	const struct llabel *tl; /* T's entry, or NULL */
	uint64_t covered;        /* T's selected points it covered */
	uint64_t *who;           /* per T line index: the builds (merge.c's bits) */
	uint32_t lines;          /* T line indexes with any build */
	uint64_t lost;           /* lost S lines it covered */
	int64_t first, last;
};

struct lmerged {
	struct lside *side; /* [0] is T */
	uint32_t nside;
	struct mlabel *v;
	size_t n, cap;
};

static void lmerged_release(struct lmerged *m)
{
	for (uint32_t k = 0; k < m->nside; k++) {
		lsel_release(&m->side[k].s);
		lread_release(&m->side[k].r);
		free(m->side[k].to);
		free(m->side[k].lost);
		free(m->side[k].seen);
	}
	free(m->side);
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].who);
	free(m->v);
}

/* The line index of `line` in pf, or NONE. */
static uint32_t pf_line_index(const struct pfile *pf, uint32_t line)
{
	const uint32_t *hit = bsearch(&line, pf->lines, pf->nlines, sizeof(line), cmp_u32);

	return hit ? (uint32_t)(hit - pf->lines) : NONE;
}

/* Side k (k >= 1) of the file tpf of T: merged build k - 1's view of the
 * same path, selecting the lines mapping onto T line index li (NONE: any)
 * and, when li is NONE, the lost ones. */
static int lside_sub(struct kc_covq *q, struct lmerged *m, uint32_t k, const struct pfile *tpf,
		     uint32_t li, struct kc_err *err)
{
	struct lside *d = &m->side[k];
	struct kc_covq *sq = q->merge->sub[k - 1].q;
	const struct pindex *sx = sq->index;
	uint32_t at = cq_lower_bound(sx, tpf->path);
	const struct pfile *spf;
	uint8_t *keep = NULL;
	int ret = -1;

	d->q = sq;
	if (at >= sx->nfiles || strcmp(sx->files[at].path, tpf->path) != 0)
		return 0; /* S lacks the file: its other files are the summary's lost_files */
	spf = &sx->files[at];
	if (cq_linemap_get(q, spf->text_id, tpf->text_id, &q->merge->map, err) < 0)
		return -1;
	d->to = malloc(((size_t)spf->nlines + 1) * sizeof(*d->to));
	d->lost = calloc((size_t)spf->nlines + 1, 1);
	d->seen = calloc((size_t)spf->nlines + 1, 1);
	keep = calloc((size_t)spf->nlines + 1, 1);
	if (!d->to || !d->lost || !d->seen || !keep) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < spf->nlines; i++) {
		uint32_t to = cq_linemap_apply(&q->merge->map, spf->lines[i]);
		uint32_t ti = to ? pf_line_index(tpf, to) : NONE;

		d->to[i] = ti != NONE && (li == NONE || ti == li) ? ti : NONE;
		d->lost[i] = !to && li == NONE;
		keep[i] = d->to[i] != NONE || d->lost[i];
	}
	if (lsel_init(&d->s, sq, spf, NONE, keep, err) < 0 ||
	    (d->s.n && lread_rows(sq, &d->s, &d->r, err) < 0))
		goto out;
	ret = 0;
out:
	free(keep);
	return ret;
}

/* The merged entry of label id (created with an empty who of nlines). */
static struct mlabel *mlabel_get(struct lmerged *m, const struct llabel *l, uint32_t nlines)
{
	struct mlabel *x;

	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id == l->id)
			return &m->v[i];
	if (KC_GROW(m->v, m->cap, m->n + 1) < 0)
		return NULL;
	x = &m->v[m->n];
	memset(x, 0, sizeof(*x));
	x->id = l->id;
	x->name = l->name;
	x->first = INT64_MAX;
	x->last = INT64_MIN;
	x->who = calloc((size_t)nlines + 1, sizeof(*x->who));
	if (!x->who)
		return NULL;
	m->n++;
	return x;
}

/* Fold side k's labels into the merged ones. */
static int lside_fold(struct lmerged *m, uint32_t k, uint32_t tlines, struct kc_err *err)
{
	struct lside *d = &m->side[k];
	uint64_t bit = 1ull << k; /* merge.c's bits: T is 0, merged build k - 1 is k */

	for (size_t i = 0; i < d->r.n; i++) {
		const struct llabel *l = &d->r.v[i];
		struct mlabel *x = mlabel_get(m, l, tlines);

		if (!x)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		if (!k)
			x->tl = l;
		for (uint32_t j = 0; j < d->s.n; j++) {
			uint32_t sli = d->s.li[j];

			if (!((l->hit[j >> 6] & ~d->r.minus[j >> 6]) >> (j & 63) & 1))
				continue;
			if (!k) {
				x->covered++;
				if (sli < tlines)
					x->who[sli] |= bit;
			} else if (d->to[sli] != NONE) {
				x->who[d->to[sli]] |= bit;
			} else if (d->lost[sli] && !d->seen[sli]) {
				d->seen[sli] = 1;
				x->lost++;
			}
		}
		for (uint32_t j = 0; k && j < d->s.n; j++)
			d->seen[d->s.li[j]] = 0;
		if (l->first <= l->last) {
			x->first = l->first < x->first ? l->first : x->first;
			x->last = l->last > x->last ? l->last : x->last;
		}
	}
	return 0;
}

static int cmp_mlabel(const void *x, const void *y)
{
	const struct mlabel *a = x, *b = y;

	if (a->lines != b->lines)
		return a->lines < b->lines ? 1 : -1;
	if (a->covered != b->covered)
		return a->covered < b->covered ? 1 : -1;
	return strcmp(a->name, b->name);
}

/* Without a day window: x's first and last day over every side whose
 * rows counted for it (each side's days as in the unmerged answer). */
static int mlabel_days(struct lmerged *m, struct mlabel *x, struct kc_err *err)
{
	x->first = INT64_MAX;
	x->last = INT64_MIN;
	for (uint32_t k = 0; k < m->nside; k++) {
		struct lside *d = &m->side[k];

		for (size_t i = 0; i < d->r.n; i++) {
			struct llabel *l = &d->r.v[i];

			if (l->id != x->id)
				continue;
			l->first = INT64_MAX;
			l->last = INT64_MIN;
			if (llabel_days(d->q, &d->s, l, d->r.row, err) < 0)
				return -1;
			if (l->first <= l->last) {
				x->first = l->first < x->first ? l->first : x->first;
				x->last = l->last > x->last ? l->last : x->last;
			}
		}
	}
	return 0;
}

/* A merged label's entry; lcov has a slot per line index of T's file. */
static json_t *mlabel_json(struct kc_covq *q, const struct lmerged *m, const struct mlabel *x,
			   const uint32_t *ltot, uint32_t *lcov, int whole_file)
{
	const struct lside *t = &m->side[0];
	const struct pfile *pf = t->s.pf;
	json_t *lines = json_array(), *o;
	char first[11], last[11];
	int known = x->first >= 0 && x->last <= KC_DAY_MAX && x->first <= x->last;

	memset(lcov, 0, ((size_t)pf->nlines + 1) * 4);
	for (uint32_t j = 0; x->tl && j < t->s.n; j++)
		if (t->s.li[j] < pf->nlines &&
		    ((x->tl->hit[j >> 6] & ~t->r.minus[j >> 6]) >> (j & 63) & 1))
			lcov[t->s.li[j]]++;
	for (uint32_t i = 0; i < pf->nlines; i++)
		if (x->who[i])
			json_array_append_new(lines, json_pack("{s:I, s:I, s:I, s:o}", "line",
							       (json_int_t)pf->lines[i], "covered",
							       (json_int_t)lcov[i], "points",
							       (json_int_t)ltot[i], "builds",
							       cq_merge_builds(q, x->who[i])));
	if (known) {
		kc_day_format(x->first, first);
		kc_day_format(x->last, last);
	}
	o = json_pack("{s:s, s:I, s:s?, s:s?, s:o}", "label", x->name, "covered",
		      (json_int_t)x->covered, "first_day", known ? first : NULL, "last_day",
		      known ? last : NULL, "lines", lines);
	if (o && whole_file)
		json_object_set_new(o, "lost_lines", json_integer((json_int_t)x->lost));
	return o;
}

/* kc_covq_labels with q->merge: file pf of T, its line index li (NONE:
 * the whole file; NONE - 1: a line without points). */
static json_t *merged_labels(struct kc_covq *q, const struct pfile *pf, int64_t line, uint32_t li,
			     size_t limit, struct kc_err *err)
{
	struct lmerged m = { 0 };
	uint32_t *lcov = NULL, *ltot = NULL;
	json_t *out = NULL, *arr = NULL;
	size_t shown = 0;

	m.nside = q->merge->n + 1;
	m.side = calloc(m.nside, sizeof(*m.side));
	lcov = malloc(((size_t)pf->nlines + 1) * 4);
	ltot = calloc((size_t)pf->nlines + 1, 4);
	arr = json_array();
	if (!m.side || !lcov || !ltot || !arr) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	m.side[0].q = q;
	if (lsel_init(&m.side[0].s, q, pf, li, NULL, err) < 0 ||
	    (m.side[0].s.n && lread_rows(q, &m.side[0].s, &m.side[0].r, err) < 0))
		goto out;
	/* a line without points selects nothing in any build */
	for (uint32_t k = 1; li != NONE - 1 && k < m.nside; k++)
		if (lside_sub(q, &m, k, pf, li, err) < 0)
			goto out;
	for (uint32_t k = 0; k < m.nside; k++)
		if (lside_fold(&m, k, pf->nlines, err) < 0)
			goto out;
	for (size_t i = 0; i < m.n; i++) {
		struct mlabel *x = &m.v[i];

		for (uint32_t l = 0; l < pf->nlines; l++)
			x->lines += x->who[l] != 0;
		if (x->lines || x->covered || x->lost)
			m.v[shown++] = *x;
		else
			free(x->who);
	}
	m.n = shown;
	if (m.n)
		qsort(m.v, m.n, sizeof(*m.v), cmp_mlabel);
	for (uint32_t j = 0; j < m.side[0].s.n; j++)
		if (m.side[0].s.li[j] < pf->nlines)
			ltot[m.side[0].s.li[j]]++;
	for (size_t i = 0; i < m.n && i < limit; i++) {
		if (!q->f.days && mlabel_days(&m, &m.v[i], err) < 0)
			goto out;
		json_array_append_new(arr, mlabel_json(q, &m, &m.v[i], ltot, lcov, li == NONE));
	}
	out = cq_base_object(q);
	json_object_set_new(out, "path", json_string(pf->path));
	if (line > 0)
		json_object_set_new(out, "line", json_integer((json_int_t)line));
	json_object_set_new(out, "points", json_integer((json_int_t)m.side[0].s.n));
	json_object_set_new(out, "labels_total", json_integer((json_int_t)m.n));
	json_object_set(out, "labels", arr);
	json_object_set_new(out, "merge", cq_merge_object(q));
out:
	json_decref(arr);
	free(lcov);
	free(ltot);
	lmerged_release(&m);
	return out;
}

json_t *kc_covq_labels(struct kc_covq *q, const char *path, int64_t line, size_t limit,
		       struct kc_err *err)
{
	const struct pindex *x = q->index;
	struct lsel s = { 0 };
	struct lread r = { 0 };
	uint32_t *lcov = NULL, *ltot = NULL, at, li = NONE;
	size_t shown = 0;
	int indexed = 0;
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
	if (q->merge)
		return merged_labels(q, pf, line, li, limit, err);
	/* No point selected (a line without points): no row can cover one.
	 * Over all days the label index answers when the build has one. */
	if (lsel_init(&s, q, pf, li, NULL, err) < 0 ||
	    (s.n && !q->f.days && (indexed = lindex_built(q, err)) < 0) ||
	    (s.n && (indexed ? lread_index(q, &s, &r, err) : lread_rows(q, &s, &r, err)) < 0))
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
		/* The index's days are the whole file's: a line's come from the
		 * per-day rows, as without the index. */
		if (indexed && line > 0) {
			r.v[i].first = INT64_MAX;
			r.v[i].last = INT64_MIN;
		}
		if (!q->f.days && !(indexed && line <= 0) &&
		    llabel_days(q, &s, &r.v[i], r.row, err) < 0)
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
