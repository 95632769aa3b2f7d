/*
 * patch.c - patch coverage: the lines of build T that are new or changed
 * relative to a base build S, and their coverage (docs/api-coverage.md,
 * "Patch coverage"). A T line is new when no S line maps onto it: the
 * complement of the line map of merge.c (linemap.c), read from the same
 * cached hunks, so every line of a file S lacks is new and a file whose
 * content id is S's has none. Their states are T's own, or the merged
 * ones under merge=: an older build cannot cover a line it did not have,
 * because its lines never map onto a changed one. Instrumented new lines
 * make the denominator; the others are listed as not instrumented.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "grow.h"

struct patch_walk {
	struct kc_covq *s; /* the base build's query (index only) */
	struct cq_linemap map;
	uint32_t *newl; /* new lines of the current file, ascending */
	uint32_t nnew;
	size_t cap;
	uint64_t listed; /* new lines listed so far (bounded) */
	int added;       /* the current file is one S lacks */
	json_t *files, *unknown;
	uint64_t nfiles, lines, instrumented, covered, partial, uncovered;
};

static int push_new(struct patch_walk *w, uint32_t line, struct kc_err *err)
{
	if (++w->listed > KC_PATCH_LINES_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "the patch has more than %d new lines: narrow it with path=",
				  KC_PATCH_LINES_MAX);
	if (KC_GROW(w->newl, w->cap, (size_t)w->nnew + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	w->newl[w->nnew++] = line;
	return 0;
}

/* The number of lines of source text id (a last line without '\n' counts). */
static int text_lines(sqlite3 *db, int64_t id, uint32_t *n, struct kc_err *err)
{
	sqlite3_stmt *st = kc_db_prepare(db, "SELECT text FROM source_texts WHERE id = ?", err);
	int rc, ret = -1;

	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = kc_db_step(db, st, err);
	if (rc == SQLITE_ROW) {
		const char *p = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		for (size_t i = 0; i < len; i++)
			*n += p[i] == '\n';
		if (len && p[len - 1] != '\n')
			(*n)++;
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		kc_err_set(err, KC_E_INTERNAL, "source text %lld is missing", (long long)id);
	}
	sqlite3_finalize(st);
	return ret;
}

/* The new lines of T's file v into w->newl: 1 when known, 0 when a side
 * has no stored text (nothing can be said). */
static int new_lines(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
		     struct kc_err *err)
{
	const struct pindex *sx = w->s->index;
	uint32_t j = cq_lower_bound(sx, v->path), n = 0;
	int32_t prev = 0;

	w->nnew = 0;
	w->added = j == sx->nfiles || strcmp(sx->files[j].path, v->path) != 0;
	if (w->added) {
		/* a file S lacks: all of it is new */
		if (v->pf->text_id && text_lines(q->db, v->pf->text_id, &n, err) < 0)
			return -1;
		for (uint32_t l = 1; l <= n; l++)
			if (push_new(w, l, err) < 0)
				return -1;
		for (uint32_t l = 0; !n && l < v->nlines; l++)
			if (v->lines[l] && push_new(w, v->lines[l], err) < 0)
				return -1;
		return 1;
	}
	if (cq_linemap_get(q, sx->files[j].text_id, v->pf->text_id, &w->map, err) < 0)
		return -1;
	if (!w->map.valid)
		return 0;
	/* hunk i replaces S lines [first, end) by T lines from first plus
	 * the shift before it, as many as the S lines plus its own shift */
	for (uint32_t i = 0; !w->map.identity && i < w->map.n; i++) {
		const struct cq_hunk *h = &w->map.h[i];
		int64_t from = (int64_t)h->first + prev;
		int64_t cnt = (int64_t)(h->end - h->first) + (int64_t)h->shift - prev;

		for (int64_t l = from; l < from + cnt; l++)
			if (l > 0 && l <= UINT32_MAX && push_new(w, (uint32_t)l, err) < 0)
				return -1;
		prev = h->shift;
	}
	return 1;
}

static int patch_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct patch_walk *w = arg;
	uint64_t ins = 0, cov = 0, part = 0;
	json_t *lines, *o;
	int known = new_lines(q, w, v, err);

	if (known < 0)
		return -1;
	if (!known) {
		json_array_append_new(w->unknown, json_pack("{s:s, s:s}", "path", v->path,
							    "reason", "no_source"));
		return 0;
	}
	if (!w->nnew)
		return 0;
	lines = json_array();
	for (uint32_t i = 0; i < w->nnew; i++) {
		uint32_t li = cq_line_index(v, w->newl[i]);
		unsigned st;

		if (li == NONE || !v->ltot[li]) {
			json_array_append_new(lines, json_pack("{s:I, s:s}", "line",
							       (json_int_t)w->newl[i], "state",
							       "not_instrumented"));
			continue;
		}
		st = v->merged ? v->mstate[li]
		     : !v->lcov[li] ? 0
		     : v->lcov[li] == v->ltot[li] ? 2
						   : 1;
		ins++;
		cov += st == 2;
		part += st == 1;
		o = json_pack("{s:I, s:s, s:I, s:I}", "line", (json_int_t)w->newl[i], "state",
			      st == 2 ? "covered" : st == 1 ? "partial" : "uncovered", "covered",
			      (json_int_t)v->lcov[li], "points", (json_int_t)v->ltot[li]);
		if (o && v->merged)
			json_object_set_new(o, "builds", cq_merge_builds(q, v->mwho[li]));
		json_array_append_new(lines, o);
	}
	json_array_append_new(
		w->files,
		json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "path", v->path, "status",
			  w->added ? "added" : "changed", "new_lines", (json_int_t)w->nnew,
			  "instrumented", (json_int_t)ins,
			  "covered", (json_int_t)cov, "partial", (json_int_t)part, "uncovered",
			  (json_int_t)(ins - cov - part), "lines", lines));
	w->nfiles++;
	w->lines += w->nnew;
	w->instrumented += ins;
	w->covered += cov;
	w->partial += part;
	w->uncovered += ins - cov - part;
	return 0;
}

json_t *kc_covq_patch(struct kc_covq *q, const char *base, const char *dir, struct kc_err *err)
{
	struct patch_walk w;
	char *prefix = NULL;
	json_t *out = NULL;

	memset(&w, 0, sizeof(w));
	if (cq_need_index(q, err) < 0)
		return NULL;
	w.s = kc_covq_open(q->cache, q->db, q->coverage_gen, base, &q->f,
			   KC_COVQ_NEED_IMPORT | KC_COVQ_NO_COVERAGE, err);
	if (!w.s)
		return NULL;
	if (dir && *dir) {
		size_t len = strlen(dir);

		prefix = malloc(len + 2);
		if (!prefix) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(prefix, dir, len + 1);
		if (dir[len - 1] != '/')
			memcpy(prefix + len, "/", 2);
	}
	w.files = json_array();
	w.unknown = json_array();
	if (cq_walk(q, NULL, prefix, patch_file, &w, err) < 0)
		goto out;
	out = cq_base_object(q);
	json_object_set_new(out, "base", json_string(w.s->build_id));
	json_object_set_new(out, "path", json_string(dir ? dir : ""));
	json_object_set_new(
		out, "totals",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "files", (json_int_t)w.nfiles,
			  "new_lines", (json_int_t)w.lines, "instrumented",
			  (json_int_t)w.instrumented, "covered", (json_int_t)w.covered, "partial",
			  (json_int_t)w.partial, "uncovered", (json_int_t)w.uncovered,
			  "not_instrumented", (json_int_t)(w.lines - w.instrumented)));
	json_object_set(out, "files", w.files);
	json_object_set(out, "unknown", w.unknown);
	if (q->merge)
		json_object_set_new(out, "merge", cq_merge_object(q));
out:
	json_decref(w.files);
	json_decref(w.unknown);
	cq_linemap_release(&w.map);
	free(w.newl);
	free(prefix);
	kc_covq_free(w.s);
	return out;
}
