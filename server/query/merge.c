/*
 * merge.c - merged queries (merge= on every coverage query): the coverage
 * of other builds S, mapped line by line onto the target build T of the
 * query (docs/api-coverage.md, "Merged queries", has the definitions).
 *
 * kc_covq_merge() resolves the builds (a list, or every build with
 * coverage on the filter's days) and opens a query of each with the same
 * filter. While any query walks T's files, cq_fview_fill() calls
 * cq_merge_fill() per file: each S's view of the same path is tallied,
 * each of its lines with a covered point is mapped onto T (identity for
 * the same content id, else the cached diff of the two texts, none when
 * a side has no text) and either raises the state of the T line it lands
 * on (best state wins) or counts as lost. Functions merge by name within
 * the file. Nothing is stored: a merged answer is computed from the
 * builds' point indexes, their coverage and the line maps.
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "day.h"
#include "db.h"
#include "grow.h"
#include "search.h"

void cq_merge_free(struct cq_merge *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->n; i++) {
		cq_fview_release(&m->sub[i].v);
		free(m->sub[i].lost);
		kc_covq_free(m->sub[i].q);
	}
	free(m->sub);
	cq_linemap_release(&m->map);
	json_decref(m->skipped);
	free(m);
}

/* Make v's merged arrays fit its file. */
static int merged_arrays(struct fview *v, struct kc_err *err)
{
	if (v->nlines + 1 > v->mcap) {
		free(v->mstate);
		free(v->mwho);
		v->mcap = v->nlines + 1;
		v->mstate = malloc(v->mcap);
		v->mwho = malloc(v->mcap * sizeof(*v->mwho));
	}
	if (v->nfuncs + 1 > v->mfcap) {
		free(v->fhit);
		free(v->fwho);
		v->mfcap = v->nfuncs + 1;
		v->fhit = malloc(v->mfcap);
		v->fwho = malloc(v->mfcap * sizeof(*v->fwho));
	}
	if (!v->mstate || !v->mwho || !v->fhit || !v->fwho) {
		v->mcap = v->mfcap = 0;
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	return 0;
}

struct line_key {
	const uint32_t *lines;
	uint32_t line;
};

static int line_below(const void *ctx, size_t i)
{
	const struct line_key *k = ctx;

	return k->lines[i] < k->line;
}

uint32_t cq_line_index(const struct fview *v, uint32_t line, uint32_t *at)
{
	struct line_key k = { v->lines + *at, line };
	size_t i = *at + kc_lower_bound(v->nlines - *at, line_below, &k);

	*at = (uint32_t)i;
	return i < v->nlines && v->lines[i] == line ? (uint32_t)i : NONE;
}

static int push_lost(struct msub *s, uint32_t line, struct kc_err *err)
{
	if (KC_GROW(s->lost, s->lostcap, (size_t)s->nlost + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	s->lost[s->nlost++] = line;
	return 0;
}

/* Merge sub k's view of the file (s->v) into v. */
static int merge_one(struct kc_covq *q, struct fview *v, uint32_t k, struct kc_err *err)
{
	struct msub *s = &q->merge->sub[k];
	const struct fview *sv = &s->v;
	struct cq_linemap *map = &q->merge->map;
	uint64_t bit = 1ull << (k + 1);
	uint32_t at = 0;

	if (cq_linemap_get(q, sv->pf->text_id, v->pf->text_id, map, err) < 0)
		return -1;
	s->reason = map->valid ? "changed" : "no_source";
	for (uint32_t l = 0; l < sv->nlines; l++) {
		uint32_t to, ti;
		uint8_t st;

		if (!sv->lcov[l])
			continue;
		to = cq_linemap_apply(map, sv->lines[l]);
		if (!to) {
			if (push_lost(s, sv->lines[l], err) < 0)
				return -1;
			continue;
		}
		ti = cq_line_index(v, to, &at);
		if (ti == NONE || !v->ltot[ti])
			continue; /* unchanged, but no point of T is on it */
		st = sv->lcov[l] == sv->ltot[l] ? 2 : 1;
		if (st > v->mstate[ti])
			v->mstate[ti] = st;
		v->mwho[ti] |= bit;
	}
	for (uint32_t f = 0; f < sv->nfuncs; f++) {
		const char *name = sv->pf->funcs[f].name;

		if (!sv->fcov[f] || !name)
			continue;
		for (uint32_t g = 0; g < v->nfuncs; g++)
			if (v->pf->funcs[g].name && strcmp(v->pf->funcs[g].name, name) == 0) {
				v->fhit[g] = 1;
				v->fwho[g] |= bit;
				break;
			}
	}
	v->lost += s->nlost;
	s->lost_total += s->nlost;
	return 0;
}

/* The index of path among sub s's files, or NONE. Walks visit files in
 * path order, so the next file of the sub is tried first (s->next), then
 * a binary search. */
static uint32_t sub_file(struct msub *s, const char *path)
{
	const struct pindex *sx = s->q->index;
	uint32_t j = s->next;
	int c;

	if (j < sx->nfiles && (c = strcmp(sx->files[j].path, path)) >= 0 &&
	    (j == 0 || strcmp(sx->files[j - 1].path, path) < 0)) {
		if (c > 0)
			return NONE; /* path lies between two files of s */
	} else {
		j = cq_lower_bound(sx, path);
		if (j == sx->nfiles || strcmp(sx->files[j].path, path) != 0) {
			s->next = j;
			return NONE;
		}
	}
	s->next = j + 1;
	return j;
}

int cq_merge_fill(struct kc_covq *q, struct fview *v, struct kc_err *err)
{
	struct cq_merge *m = q->merge;

	if (merged_arrays(v, err) < 0)
		return -1;
	v->merged = 1;
	v->lost = 0;
	for (uint32_t l = 0; l < v->nlines; l++) {
		v->mstate[l] = !v->ltot[l] || !v->lcov[l] ? 0 : v->lcov[l] == v->ltot[l] ? 2 : 1;
		v->mwho[l] = v->lcov[l] ? 1 : 0;
	}
	for (uint32_t f = 0; f < v->nfuncs; f++) {
		v->fhit[f] = v->fcov[f] != 0;
		v->fwho[f] = v->fcov[f] ? 1 : 0;
	}
	for (uint32_t k = 0; k < m->n; k++) {
		struct msub *s = &m->sub[k];
		const struct pindex *sx = s->q->index;
		uint32_t j = sub_file(s, v->path);

		s->nlost = 0;
		s->reason = NULL;
		if (j == NONE)
			continue;
		if (cq_fview_fill(s->q, &s->v, &sx->files[j], err) < 0)
			return -1;
		if (s->v.covered && merge_one(q, v, k, err) < 0)
			return -1;
	}
	return 0;
}

json_t *cq_merge_builds(const struct kc_covq *q, uint64_t mask)
{
	json_t *a = json_array();

	if (mask & 1)
		json_array_append_new(a, json_string(q->build_id));
	for (uint32_t k = 0; q->merge && k < q->merge->n; k++)
		if (mask & (1ull << (k + 1)))
			json_array_append_new(a, json_string(q->merge->sub[k].q->build_id));
	return a;
}

json_t *cq_merge_object(const struct kc_covq *q)
{
	json_t *b = json_array();

	for (uint32_t k = 0; k < q->merge->n; k++)
		json_array_append_new(b, json_string(q->merge->sub[k].q->build_id));
	return json_pack("{s:o, s:O}", "builds", b, "skipped", q->merge->skipped);
}

/* ---- the summary -------------------------------------------------------------- */

static int count_lost(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	(void)q;
	(void)v;
	(void)arg;
	(void)err;
	return 0; /* cq_merge_fill added each sub's lost lines to lost_total */
}

/* The files of sub s that T lacks, each with the lines s covered there (all
 * lost), appended to arr; their sum added to *lost. */
static int lacking_files(struct kc_covq *q, struct msub *s, json_t *arr, uint64_t *lost,
			 struct kc_err *err)
{
	const struct pindex *sx = s->q->index, *tx = q->index;

	for (uint32_t f = 0; f < sx->nfiles; f++) {
		const char *path = sx->files[f].path;
		uint32_t j = cq_lower_bound(tx, path);
		uint64_t n = 0;

		if (j < tx->nfiles && strcmp(tx->files[j].path, path) == 0)
			continue;
		if (cq_fview_fill(s->q, &s->v, &sx->files[f], err) < 0)
			return -1;
		for (uint32_t l = 0; l < s->v.nlines; l++)
			n += s->v.lcov[l] != 0;
		if (!n)
			continue;
		*lost += n;
		s->lost_total += n;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "path", path, "build_id",
						     s->q->build_id, "lost_lines", (json_int_t)n));
	}
	return 0;
}

int cq_merge_summary(struct kc_covq *q, json_t *out, struct kc_err *err)
{
	struct cq_merge *m = q->merge;
	json_t *files = json_array(), *builds = json_array();
	uint64_t lost = 0;
	int ret = -1;

	for (uint32_t k = 0; k < m->n; k++)
		m->sub[k].lost_total = 0;
	if (cq_walk(q, NULL, NULL, count_lost, NULL, err) < 0)
		goto out;
	for (uint32_t k = 0; k < m->n; k++)
		lost += m->sub[k].lost_total;
	for (uint32_t k = 0; k < m->n; k++)
		if (lacking_files(q, &m->sub[k], files, &lost, err) < 0)
			goto out;
	for (uint32_t k = 0; k < m->n; k++)
		json_array_append_new(builds, json_pack("{s:s, s:I}", "build_id",
							m->sub[k].q->build_id, "lost_lines",
							(json_int_t)m->sub[k].lost_total));
	json_object_set_new(out, "lost_lines", json_integer((json_int_t)lost));
	json_object_set(out, "lost_by_build", builds);
	json_object_set(out, "lost_files", files);
	json_object_set_new(out, "merge", cq_merge_object(q));
	ret = 0;
out:
	json_decref(files);
	json_decref(builds);
	return ret;
}

/* ---- choosing the builds ---------------------------------------------------- */

/* Open build_id as merged build number m->n; a build never imported is
 * listed in m->skipped instead. */
static int add_build(struct kc_covq *q, const char *build_id, struct kc_err *err)
{
	struct cq_merge *m = q->merge;
	struct kc_err e;
	struct kc_covq *s;

	if (strcmp(build_id, q->build_id) == 0)
		return 0; /* the target is always merged */
	for (uint32_t k = 0; k < m->n; k++)
		if (strcmp(m->sub[k].q->build_id, build_id) == 0)
			return 0;
	if (m->n >= KC_MERGE_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT, "merge= names more than %d other builds",
				  KC_MERGE_MAX);
	kc_err_clear(&e);
	/* labels reads coverage rows itself: its merged builds need none loaded */
	s = kc_covq_open(q->cache, q->db, q->coverage_gen, build_id, &q->f,
			 KC_COVQ_NEED_IMPORT | (q->flags & KC_COVQ_NO_COVERAGE), &e);
	if (!s && e.code == KC_E_NOT_IMPORTED) {
		json_array_append_new(m->skipped, json_pack("{s:s, s:s}", "build_id", build_id,
							    "reason", "not_imported"));
		return 0;
	}
	if (!s) {
		*err = e;
		return -1;
	}
	memset(&m->sub[m->n], 0, sizeof(m->sub[m->n]));
	m->sub[m->n++].q = s;
	return 0;
}

/* Every build (but the target) with coverage rows on the filter's days
 * (the days its reports were taken; any row, the union of completed days
 * too, without days), whose release starts with release (NULL: any), in
 * build order. */
static int add_window(struct kc_covq *q, const char *release, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		q->db,
		"SELECT b.build_id FROM builds b WHERE b.id != ?1 AND "
		"(?4 IS NULL OR substr(b.release, 1, length(?4)) = ?4) AND EXISTS "
		"(SELECT 1 FROM binaries bi JOIN coverage c ON c.binary = bi.id WHERE "
		"bi.build = b.id AND c.day BETWEEN ?2 AND ?3) ORDER BY b.id",
		err);
	int rc, ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, q->build);
	kc_stmt_bind_int64(st, 2, q->f.days ? q->f.since : KC_ALL_DAYS);
	kc_stmt_bind_int64(st, 3, q->f.days ? q->f.until : KC_DAY_MAX);
	if (release)
		kc_stmt_bind_text(st, 4, release, -1, KC_SQL_STATIC);
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW)
		if (add_build(q, (const char *)kc_stmt_column_text(st, 0), err) < 0)
			goto out;
	ret = rc == KC_DONE ? 0 : -1;
out:
	kc_stmt_finalize(st);
	return ret;
}

int kc_covq_merge(struct kc_covq *q, const struct kc_covq_merge *mo, struct kc_err *err)
{
	struct cq_merge *m;

	if (q->merge)
		return kc_err_set(err, KC_E_INTERNAL, "query is merged already");
	if (cq_need_index(q, err) < 0)
		return -1;
	free(q->tkey); /* a totals key without the merged builds (tree.c) */
	q->tkey = NULL;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->sub = calloc(KC_MERGE_MAX, sizeof(*m->sub))) ||
	    !(m->skipped = json_array())) {
		cq_merge_free(m);
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	q->merge = m;
	if (mo->window)
		return add_window(q, mo->release, err);
	for (size_t i = 0; i < mo->nbuilds; i++)
		if (add_build(q, mo->builds[i], err) < 0)
			return -1;
	return 0;
}
