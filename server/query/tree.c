/*
 * tree.c - the directory tree of a build (children of a directory with
 * their totals, from one ordered walk or from the cached per-file totals)
 * and one file (its lines, functions and source text).
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"

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
	cq_put_totals(o, &w->cur_t);
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
	cq_totals_add(&w->all, t);
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
	cq_totals_add(&w->cur_t, t);
	return 0;
}

static int tree_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct totals t;
	(void)q;

	cq_fview_totals(v, &t);
	return tree_add(arg, v->path, &t, err);
}

/* ",cardinality" of each image's selected coverage of q into b. */
static void key_cardinalities(struct kc_buf *b, const struct kc_covq *q)
{
	for (uint32_t i = 0; i < q->index->nimg; i++)
		kc_buf_addf(b, "%llu,",
			    (unsigned long long)(q->cov[i] ? roaring_bitmap_get_cardinality(q->cov[i])
							   : 0));
}

/*
 * Per-file totals of every file are cached for repeated large trees
 * (cache.c): the key is the index, the filter, the caller's and the
 * build's coverage generations and the cardinality of each image's
 * selected coverage, so any new coverage of the build misses the cache
 * (and coverage of other builds does not). Merged totals (merge=) are
 * cached too, under a key that adds each merged build's id, import and
 * coverage generations and coverage cardinalities: they depend on
 * nothing else (line maps depend only on
 * the texts, which an import generation fixes). The key is made on first
 * use, after kc_covq_merge has attached every merged build (it drops a
 * key made before).
 */
static int totals_key(struct kc_covq *q, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;

	if (q->tkey)
		return 0;
	kc_buf_addf(&b, "%s\n%s\n%d %lld %lld\n%llu %lld\n",
		    q->f.labels_json ? q->f.labels_json : "-", q->f.minus_json ? q->f.minus_json : "-",
		    q->f.days, (long long)q->f.since, (long long)q->f.until,
		    (unsigned long long)q->coverage_gen, (long long)q->build_gen);
	key_cardinalities(&b, q);
	for (uint32_t k = 0; q->merge && k < q->merge->n; k++) {
		const struct kc_covq *s = q->merge->sub[k].q;

		kc_buf_addf(&b, "\nmerge %s %lld %lld:", s->build_id, (long long)s->index->generation,
			    (long long)s->build_gen);
		key_cardinalities(&b, s);
	}
	if (b.oom) {
		kc_buf_release(&b);
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	q->tkey = (char *)b.data; /* kc_buf_addf keeps it NUL-terminated */
	return 0;
}

struct totals *cq_all_totals(struct kc_covq *q, struct kc_err *err)
{
	const struct pindex *x = q->index;
	struct totals *t;
	struct fview v;

	if (totals_key(q, err) < 0)
		return NULL;
	t = cq_totals_lookup(q->cache, q->index, q->tkey);
	if (t)
		return t;
	t = calloc((size_t)x->nfiles + 1, sizeof(*t));
	if (!t || cq_ensure_walk_bitsets(q, err) < 0) {
		free(t);
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	memset(&v, 0, sizeof(v));
	for (uint32_t f = 0; f < x->nfiles; f++) {
		if (cq_fview_fill(q, &v, &x->files[f], err) < 0) {
			cq_fview_release(&v);
			free(t);
			return NULL;
		}
		cq_fview_totals(&v, &t[f]);
	}
	cq_fview_release(&v);
	cq_totals_store(q->cache, q->index, q->tkey, t);
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
		t = cq_all_totals(q, err);
	} else {
		if (totals_key(q, err) < 0)
			return -1;
		t = cq_totals_lookup(q->cache, q->index, q->tkey);
		if (!t)
			return 0;
	}
	if (!t)
		return -1;
	for (uint32_t f = lo; f < hi; f++)
		if (cq_file_in(q, f) && tree_add(w, q->index->files[f].path, &t[f], err) < 0)
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
	uint32_t lo = 0, hi;
	int64_t n;
	int r = 0;

	memset(&w, 0, sizeof(w));
	if (cq_need_index(q, err) < 0)
		return NULL;
	hi = q->index->nfiles;
	if (*dir) {
		size_t len = strlen(dir);

		prefix = malloc(len + 2);
		if (!prefix) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			return NULL;
		}
		snprintf(prefix, len + 2, "%s%s", dir, dir[len - 1] == '/' ? "" : "/");
		lo = cq_lower_bound(q->index, prefix);
		prefix[strlen(prefix) - 1]++;
		hi = cq_lower_bound(q->index, prefix);
		prefix[strlen(prefix) - 1]--;
	}
	w.prefix = prefix ? prefix : "";
	w.plen = strlen(w.prefix);
	w.children = json_array();
	if (hi - lo > KC_BITSET_MIN_FILES)
		r = tree_cached(q, &w, lo, hi, err);
	if (r < 0)
		goto out;
	n = r ? (int64_t)w.all.files : cq_walk(q, NULL, prefix, tree_file, &w, err);
	if (n < 0 || tree_flush(&w, err) < 0)
		goto out;
	if (n == 0 && (*dir || q->fmask)) {
		kc_err_set(err, KC_E_NOT_FOUND, "no directory %s in build %s%s%s", dir, q->build_id,
			   q->fmask ? " with files of subsystem " : "",
			   q->fmask ? q->f.subsystem : "");
		goto out;
	}
	out = cq_base_object(q);
	json_object_set_new(out, "path", json_string(dir));
	json_object_set_new(out, "files", json_integer((json_int_t)w.all.files));
	cq_put_totals(out, &w.all);
	json_object_set(out, "children", w.children);
	if (q->merge)
		json_object_set_new(out, "merge", cq_merge_object(q));
out:
	json_decref(w.children);
	free(w.cur);
	free(prefix);
	return out;
}

struct file_walk {
	json_t *out;
};

struct file_funcs {
	struct kc_covq *q;
	json_t *arr;
};

static int file_func(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		     int64_t le, void *arg, struct kc_err *err)
{
	struct file_funcs *ff = arg;
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", name, "line_start",
			      (json_int_t)ls, "line_end", (json_int_t)le, "points",
			      (json_int_t)v->ftot[idx], "covered", (json_int_t)v->fcov[idx]);
	(void)err;

	if (o && v->merged) {
		json_object_set_new(o, "hit", json_boolean(v->fhit[idx]));
		json_object_set_new(o, "builds", cq_merge_builds(ff->q, v->fwho[idx]));
	}
	json_array_append_new(ff->arr, o);
	return 0;
}

/* Per merged build, the lines it lost in this file and why. */
static json_t *file_lost(struct kc_covq *q)
{
	json_t *arr = json_array();

	for (uint32_t k = 0; k < q->merge->n; k++) {
		const struct msub *s = &q->merge->sub[k];
		json_t *lines;

		if (!s->nlost)
			continue;
		lines = json_array();
		for (uint32_t i = 0; i < s->nlost; i++)
			json_array_append_new(lines, json_integer(s->lost[i]));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "build_id", s->q->build_id,
						     "reason", s->reason, "lines", lines));
	}
	return arr;
}

static const char *state_name(unsigned s)
{
	return s == 2 ? "covered" : s == 1 ? "partial" : "uncovered";
}

static int file_one(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct file_walk *w = arg;
	json_t *lines = json_array(), *funcs = json_array(), *o;
	struct file_funcs ff = { q, funcs };
	struct totals t;

	cq_fview_totals(v, &t);
	for (uint32_t l = 0; l < v->nlines; l++) {
		const char *state;

		if (!v->ltot[l])
			continue;
		state = v->lcov[l] == v->ltot[l] ? "covered" : v->lcov[l] ? "partial" : "uncovered";
		if (v->merged)
			state = state_name(v->mstate[l]);
		o = json_pack("{s:I, s:s, s:I, s:I}", "line", (json_int_t)v->lines[l], "state",
			      state, "covered", (json_int_t)v->lcov[l], "points",
			      (json_int_t)v->ltot[l]);
		if (o && v->merged)
			json_object_set_new(o, "builds", cq_merge_builds(q, v->mwho[l]));
		json_array_append_new(lines, o);
	}
	if (cq_each_function(q, v, file_func, &ff, err) < 0) {
		json_decref(lines);
		json_decref(funcs);
		return -1;
	}
	w->out = cq_base_object(q);
	json_object_set_new(w->out, "path", json_string(v->path));
	cq_put_totals(w->out, &t);
	json_object_set_new(w->out, "lines", lines);
	json_object_set_new(w->out, "functions", funcs);
	if (v->merged) {
		json_object_set_new(w->out, "lost", file_lost(q));
		json_object_set_new(w->out, "merge", cq_merge_object(q));
	}
	return 0;
}

/* The stored source text of the file, as a JSON string or null: the text
 * of its content id (schema 008), or the text stored in the row by imports
 * made before. */
static json_t *file_source(struct kc_covq *q, const char *path, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(q->db,
					 "SELECT COALESCE(t.text, f.source) FROM files f "
					 "LEFT JOIN source_texts t ON t.id = f.text_id "
					 "WHERE f.build = ? AND f.path = ?",
					 err);
	json_t *s = NULL;
	int rc;

	if (!st)
		return NULL;
	kc_stmt_bind_int64(st, 1, q->build);
	kc_stmt_bind_text(st, 2, path, -1, KC_SQL_STATIC);
	rc = kc_db_step(q->db, st, err);
	if (rc == KC_ROW && kc_stmt_column_type(st, 0) != KC_SQL_NULL) {
		const void *p = kc_stmt_column_blob(st, 0);

		s = json_stringn(p ? p : "", (size_t)kc_stmt_column_bytes(st, 0));
	}
	kc_stmt_finalize(st);
	if (rc < 0)
		return NULL;
	return s ? s : json_null();
}

json_t *kc_covq_file(struct kc_covq *q, const char *path, struct kc_err *err)
{
	struct file_walk w = { NULL };
	int64_t n = cq_walk(q, path, NULL, file_one, &w, err);
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
	if (!src) {
		json_decref(w.out);
		return NULL;
	}
	json_object_set_new(w.out, "source", src);
	return w.out;
}
