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
 *
 * With git revisions on both builds (imported with --git/--rev), every
 * new line is attributed to the commit that introduced it: a blame of
 * T's file between S's commit (oldest: the boundary) and T's (newest),
 * along first parents, made from the range's own diffs (each commit's
 * tree against its first parent's once per request, then the file's
 * changes newest first; libgit2's git_blame_file walks the history once
 * per file, 40 times slower at 1,000 files). kc_covq_commits tallies the
 * new lines per commit of the first-parent range S..T; commit= keeps one
 * commit's lines in kc_covq_patch. Blame results are cached per (T revision, S
 * revision, path) in the query cache (cache.c), so a repeated request
 * blames nothing; S must come from T's repository, and the files blamed
 * per request are capped.
 *
 * Why one file (about 970 lines): the new-line computation, the commit
 * attribution that feeds on it and the two answers (patch, commits) share
 * one private state (the per-file new lines and their commits); split,
 * that state would become a header-wide API used by one caller.
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "db.h"
#include "grow.h"

/* A commit of the range S..T and its tallies. */
struct pcommit {
	git_oid id;
	char hex[GIT_OID_HEXSZ + 1];
	char *subject, *author, *email;
	int64_t time;
	uint64_t new_lines, instrumented, covered, partial, uncovered;
	json_t *files;        /* paths with new lines of it */
	const char *lastpath; /* the last one appended (borrowed) */
};

/* A file changed by commit k of the range (against its first parent):
 * the blob before (zero when the commit added it) and after. */
struct pchange {
	char *path;
	uint32_t k;
	git_oid old, new;
};

/* The commits of S..T along T's first parents, newest first, and c[n]:
 * the new lines blame puts on no commit of the range. */
struct attrib {
	git_repository *repo;
	git_oid base, tip;
	git_object *rev; /* base_rev=: its commit */
	char base_hex[GIT_OID_HEXSZ + 1], tip_hex[GIT_OID_HEXSZ + 1];
	struct pcommit *c;
	uint32_t n;
	size_t cap;
	int64_t only; /* commit=: the index of the one commit kept, else -1 */
	struct pchange *ch; /* every file change of the range, by path then k */
	size_t nch, capch;
	int ch_built;
};

struct patch_walk {
	struct kc_covq *s; /* the base build's query (index only) */
	struct cq_linemap map;
	uint32_t *newl; /* new lines of the current file, ascending */
	uint32_t nnew;
	size_t cap;
	struct attrib *at; /* the git side (commits, commit=, base_rev=), or NULL */
	git_tree *rev_tree; /* base_rev=: the base's tree (then s is NULL) */
	uint32_t *who;     /* per new line its commit index in at (at->n: none) */
	size_t whocap;
	struct cq_blame *bh; /* the current file's blame hunks, ascending */
	uint32_t nbh;
	size_t bhcap;
	unsigned blamed, blame_max; /* files attributed so far, and the cap */
	int blame;         /* attribute lines to commits (at is set) */
	int tally_only;    /* kc_covq_commits: no per-file answer */
	uint64_t listed;   /* new lines listed so far (bounded) */
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

static int git_fail(struct kc_err *err, enum kc_errc code, const char *what)
{
	const git_error *e = git_error_last();

	return kc_err_set(err, code, "%s: %s", what, e && e->message ? e->message : "failed");
}

/* Every line of v's file is new (a file the base lacks): all lines of its
 * text, or its instrumented lines when it has none. */
static int all_new(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
		   struct kc_err *err)
{
	struct kc_buf t = KC_BUF_INIT;
	char hash[64];
	uint32_t n = 0;
	int ret = -1;

	w->added = 1;
	if (v->pf->text_id && cq_load_text(q->db, v->pf->text_id, &t, hash, sizeof(hash), err) < 0)
		goto out;
	for (size_t i = 0; i < t.len; i++)
		n += t.data[i] == '\n';
	if (t.len && t.data[t.len - 1] != '\n')
		n++;
	for (uint32_t l = 1; l <= n; l++)
		if (push_new(w, l, err) < 0)
			goto out;
	for (uint32_t l = 0; !n && l < v->nlines; l++)
		if (v->lines[l] && push_new(w, v->lines[l], err) < 0)
			goto out;
	ret = 1;
out:
	kc_buf_release(&t);
	return ret;
}

/* The T lines of hunks h: hunk i replaces S lines [first, end) by T lines
 * from first plus the shift before it, as many as the S lines plus its
 * own shift. */
static int hunk_lines(struct patch_walk *w, const struct cq_hunk *h, uint32_t n,
		      struct kc_err *err)
{
	int32_t prev = 0;

	for (uint32_t i = 0; i < n; i++) {
		int64_t from = (int64_t)h[i].first + prev;
		int64_t cnt = (int64_t)(h[i].end - h[i].first) + (int64_t)h[i].shift - prev;

		for (int64_t l = from; l < from + cnt; l++)
			if (l > 0 && l <= UINT32_MAX && push_new(w, (uint32_t)l, err) < 0)
				return -1;
		prev = h[i].shift;
	}
	return 1;
}

/* new_lines against a revision (base_rev=): the file's blob there. */
static int rev_new_lines(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
			 struct kc_err *err)
{
	struct kc_buf t = KC_BUF_INIT;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	struct cq_hunk *h = NULL;
	char hash[64], hex[GIT_OID_HEXSZ + 1];
	uint32_t n = 0;
	int ret = -1;

	if (git_tree_entry_bypath(&e, w->rev_tree, v->path) < 0)
		return all_new(q, w, v, err);
	if (!v->pf->text_id) {
		ret = 0; /* T has no text: unknown */
		goto out;
	}
	if (cq_load_text(q->db, v->pf->text_id, &t, hash, sizeof(hash), err) < 0)
		goto out;
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
	if (strcmp(hex, hash) == 0) {
		ret = 1; /* same content */
		goto out;
	}
	if (git_blob_lookup(&blob, w->at->repo, git_tree_entry_id(e)) < 0) {
		git_fail(err, KC_E_INTERNAL, "blob");
		goto out;
	}
	if (cq_linemap_diff(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
			    t.data ? (const void *)t.data : "", t.len, &h, &n, err) < 0)
		goto out;
	ret = hunk_lines(w, h, n, err);
out:
	free(h);
	git_blob_free(blob);
	git_tree_entry_free(e);
	kc_buf_release(&t);
	return ret;
}

/* The new lines of T's file v into w->newl: 1 when known, 0 when a side
 * has no stored text (nothing can be said). */
static int new_lines(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
		     struct kc_err *err)
{
	const struct pindex *sx;
	uint32_t j;

	w->nnew = 0;
	w->added = 0;
	if (!w->s)
		return rev_new_lines(q, w, v, err);
	sx = w->s->index;
	j = cq_lower_bound(sx, v->path);
	if (j == sx->nfiles || strcmp(sx->files[j].path, v->path) != 0)
		return all_new(q, w, v, err);
	if (cq_linemap_get(q, sx->files[j].text_id, v->pf->text_id, &w->map, err) < 0)
		return -1;
	if (!w->map.valid)
		return 0;
	return w->map.identity ? 1 : hunk_lines(w, w->map.h, w->map.n, err);
}

/* ---- commits ------------------------------------------------------------------ */

static void attrib_free(struct attrib *at)
{
	if (!at)
		return;
	for (uint32_t i = 0; at->c && i <= at->n; i++) {
		free(at->c[i].subject);
		free(at->c[i].author);
		free(at->c[i].email);
		json_decref(at->c[i].files);
	}
	free(at->c);
	for (size_t i = 0; i < at->nch; i++)
		free(at->ch[i].path);
	free(at->ch);
	git_object_free(at->rev);
	git_repository_free(at->repo);
	free(at);
}

/* The git source (repository, commit) of an imported build into repo/rev
 * (owned by the caller); KC_E_BAD_INPUT when it has none. */
static int build_git(struct kc_sql *db, int64_t build, const char *id, char **repo, char **rev,
		     struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db, "SELECT source_git, source_rev FROM build_imports WHERE build = ?", err);
	int rc, ret = -1;

	*repo = *rev = NULL;
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, build);
	rc = kc_db_step(db, st, err);
	if (rc == KC_ROW && kc_stmt_column_text(st, 0) && kc_stmt_column_text(st, 1)) {
		*repo = strdup((const char *)kc_stmt_column_text(st, 0));
		*rev = strdup((const char *)kc_stmt_column_text(st, 1));
		ret = *repo && *rev ? 0 : kc_err_set(err, KC_E_INTERNAL, "out of memory");
	} else if (rc == KC_ROW || rc == KC_DONE) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "build %s was not imported from git (--git/--rev): no commits", id);
	}
	kc_stmt_finalize(st);
	return ret;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* Append commit id of the walk to at (beyond KC_PATCH_COMMITS_MAX: 400). */
static int add_commit(struct attrib *at, const git_oid *id, struct kc_err *err)
{
	git_commit *c = NULL;
	const git_signature *a;
	struct pcommit *p;
	int ret = -1;

	if (at->n >= KC_PATCH_COMMITS_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "more than %d commits between the base and the build",
				  KC_PATCH_COMMITS_MAX);
	if (git_commit_lookup(&c, at->repo, id) < 0)
		return git_fail(err, KC_E_INTERNAL, "commit");
	/* one more for the bucket of unattributed lines */
	if (KC_GROW(at->c, at->cap, (size_t)at->n + 2) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	p = &at->c[at->n];
	memset(p, 0, 2 * sizeof(*p));
	git_oid_cpy(&p->id, id);
	git_oid_tostr(p->hex, sizeof(p->hex), id);
	a = git_commit_author(c);
	p->subject = dup_or_empty(git_commit_summary(c));
	p->author = dup_or_empty(a ? a->name : NULL);
	p->email = dup_or_empty(a ? a->email : NULL);
	p->time = a ? (int64_t)a->when.time : (int64_t)git_commit_time(c);
	p->files = json_array();
	at->n++;
	if (!p->subject || !p->author || !p->email || !p->files) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = 0;
out:
	git_commit_free(c);
	return ret;
}

/* Base build id was imported from srepo, T from repo (open as r): the
 * same repository, spelled alike or not (a clone has the same commits,
 * but is another history: KC_E_OTHER_REPO). */
static int same_repo(git_repository *r, const char *repo, const char *srepo, const char *id,
		     struct kc_err *err)
{
	git_repository *o = NULL;
	int same;

	if (strcmp(repo, srepo) == 0)
		return 0;
	same = git_repository_open_ext(&o, srepo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0 &&
	       strcmp(git_repository_commondir(o), git_repository_commondir(r)) == 0;
	git_repository_free(o);
	if (same)
		return 0;
	return kc_err_set(err, KC_E_OTHER_REPO,
			  "the base build %s was imported from git repository %s, the build from %s",
			  id, srepo, repo);
}

/* The commits of base..T of q's build: its repository, both revisions,
 * the first-parent walk. commit (NULL: all) sets at->only. */
static struct attrib *attrib_open(struct kc_covq *q, struct kc_covq *s, const char *base_rev,
				  const char *commit, struct kc_err *err)
{
	struct attrib *at = calloc(1, sizeof(*at));
	char *repo = NULL, *trev = NULL, *srepo = NULL, *srev = NULL;
	git_revwalk *walk = NULL;
	git_oid id;
	int ok = 0, rc;

	if (!at) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	at->only = -1;
	if (build_git(q->db, q->build, q->build_id, &repo, &trev, err) < 0 ||
	    (s && build_git(q->db, s->build, s->build_id, &srepo, &srev, err) < 0))
		goto out;
	if (git_repository_open_ext(&at->repo, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		git_fail(err, KC_E_UNAVAILABLE, "the build's git repository");
		goto out;
	}
	if (s && same_repo(at->repo, repo, srepo, s->build_id, err) < 0)
		goto out;
	if (git_oid_fromstr(&at->tip, trev) < 0 || (s && git_oid_fromstr(&at->base, srev) < 0)) {
		kc_err_set(err, KC_E_INTERNAL, "stored revision is not a commit id");
		goto out;
	}
	if (!s) {
		git_object *o = NULL;

		if (git_revparse_single(&o, at->repo, base_rev) < 0 ||
		    git_object_peel(&at->rev, o, GIT_OBJECT_COMMIT) < 0) {
			git_object_free(o);
			kc_err_set(err, KC_E_BAD_INPUT, "base_rev=%s is not a revision of %s",
				   base_rev, repo);
			goto out;
		}
		git_object_free(o);
		git_oid_cpy(&at->base, git_object_id(at->rev));
	}
	git_oid_tostr(at->tip_hex, sizeof(at->tip_hex), &at->tip);
	git_oid_tostr(at->base_hex, sizeof(at->base_hex), &at->base);
	if (!git_oid_equal(&at->tip, &at->base) &&
	    git_graph_descendant_of(at->repo, &at->tip, &at->base) != 1) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "the base's commit %s is not an ancestor of the build's %s (in %s)",
			   at->base_hex, at->tip_hex, repo);
		goto out;
	}
	if (git_revwalk_new(&walk, at->repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL) < 0 ||
	    git_revwalk_simplify_first_parent(walk) < 0 || git_revwalk_push(walk, &at->tip) < 0 ||
	    git_revwalk_hide(walk, &at->base) < 0) {
		git_fail(err, KC_E_INTERNAL, "revwalk");
		goto out;
	}
	while ((rc = git_revwalk_next(&id, walk)) == 0)
		if (add_commit(at, &id, err) < 0)
			goto out;
	if (rc != GIT_ITEROVER) {
		git_fail(err, KC_E_INTERNAL, "revwalk");
		goto out;
	}
	if (!at->c && KC_GROW(at->c, at->cap, 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (at->n == 0)
		memset(&at->c[0], 0, sizeof(at->c[0]));
	if (!at->c[at->n].files && !(at->c[at->n].files = json_array())) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; commit && i < at->n; i++)
		if (strncmp(at->c[i].hex, commit, strlen(commit)) == 0) {
			if (at->only >= 0) {
				kc_err_set(err, KC_E_BAD_INPUT, "commit=%s is ambiguous", commit);
				goto out;
			}
			at->only = i;
		}
	if (commit && at->only < 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no commit %s between the base and the build",
			   commit);
		goto out;
	}
	ok = 1;
out:
	git_revwalk_free(walk);
	free(repo);
	free(trev);
	free(srepo);
	free(srev);
	if (!ok) {
		attrib_free(at);
		return NULL;
	}
	return at;
}

static int by_path_k(const void *a, const void *b)
{
	const struct pchange *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : x->k < y->k ? -1 : x->k > y->k;
}

/* Commit k's changed files (tree diff against its first parent, no
 * rename detection, as blame without copy tracking) into at->ch. */
static int commit_changes(struct attrib *at, uint32_t k, struct kc_err *err)
{
	git_commit *c = NULL, *p = NULL;
	git_tree *t = NULL, *pt = NULL;
	git_diff *d = NULL;
	int ret = -1;

	if (git_commit_lookup(&c, at->repo, &at->c[k].id) < 0 || git_commit_tree(&t, c) < 0 ||
	    (git_commit_parentcount(c) &&
	     (git_commit_parent(&p, c, 0) < 0 || git_commit_tree(&pt, p) < 0)) ||
	    git_diff_tree_to_tree(&d, at->repo, pt, t, NULL) < 0) {
		git_fail(err, KC_E_INTERNAL, "commit diff");
		goto out;
	}
	for (size_t i = 0; i < git_diff_num_deltas(d); i++) {
		const git_diff_delta *dl = git_diff_get_delta(d, i);
		struct pchange *e;

		if (dl->status == GIT_DELTA_DELETED)
			continue; /* a file T has comes back in a newer commit */
		if (KC_GROW(at->ch, at->capch, at->nch + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		e = &at->ch[at->nch];
		if (!(e->path = strdup(dl->new_file.path))) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		at->nch++;
		e->k = k;
		git_oid_cpy(&e->new, &dl->new_file.id);
		if (dl->status == GIT_DELTA_ADDED)
			memset(&e->old, 0, sizeof(e->old));
		else
			git_oid_cpy(&e->old, &dl->old_file.id);
	}
	ret = 0;
out:
	git_diff_free(d);
	git_tree_free(pt);
	git_tree_free(t);
	git_commit_free(p);
	git_commit_free(c);
	return ret;
}

/* Every file change of the range, once per request (n tree diffs). */
static int changes_build(struct attrib *at, struct kc_err *err)
{
	if (at->ch_built)
		return 0;
	for (uint32_t k = 0; k < at->n; k++)
		if (commit_changes(at, k, err) < 0)
			return -1;
	if (at->nch)
		qsort(at->ch, at->nch, sizeof(*at->ch), by_path_k);
	at->ch_built = 1;
	return 0;
}

static uint32_t count_lines(const char *s, size_t len)
{
	uint32_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n + (len && s[len - 1] != '\n');
}

/* Who changed each line of the newest version of path: its changes e[0..n)
 * newest first, each diffed against the one before (the blame of the
 * range along first parents): owner[T line - 1] the commit index, at->n
 * for lines older than the range (or behind a version that is no blob).
 * owner has *nlines entries (malloc; NULL and 0 when the newest version is
 * no blob). */
static int attribute_path(struct attrib *at, const struct pchange *e, size_t n,
			  uint32_t **owner, uint32_t *nlines, struct kc_err *err)
{
	git_blob *cur = NULL, *old = NULL;
	struct cq_hunk *h = NULL;
	uint32_t *tl = NULL, *tl2 = NULL, curn, nh = 0;
	int ret = -1;

	*owner = NULL;
	*nlines = 0;
	if (git_blob_lookup(&cur, at->repo, &e[0].new) < 0)
		return 0; /* not a file (a submodule): nothing to place */
	curn = *nlines = count_lines(git_blob_rawcontent(cur), (size_t)git_blob_rawsize(cur));
	*owner = malloc(((size_t)curn + 1) * sizeof(**owner));
	tl = malloc(((size_t)curn + 1) * sizeof(*tl)); /* current line -> T line, 0: placed */
	if (!*owner || !tl) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t l = 0; l < curn; l++) {
		(*owner)[l] = at->n;
		tl[l] = l + 1;
	}
	for (size_t c = 0; c < n && curn; c++) {
		uint32_t oldn, idx = 0;
		int32_t prev = 0;

		if (git_oid_is_zero(&e[c].old)) { /* added here: every line left */
			for (uint32_t l = 0; l < curn; l++)
				if (tl[l])
					(*owner)[tl[l] - 1] = e[c].k;
			break;
		}
		if (git_blob_lookup(&old, at->repo, &e[c].old) < 0)
			break; /* was not a file before: the rest stays unplaced */
		free(h);
		h = NULL;
		if (cq_linemap_diff(git_blob_rawcontent(old), (size_t)git_blob_rawsize(old),
				    git_blob_rawcontent(cur), (size_t)git_blob_rawsize(cur), &h, &nh,
				    err) < 0)
			goto out;
		oldn = count_lines(git_blob_rawcontent(old), (size_t)git_blob_rawsize(old));
		free(tl2);
		if (!(tl2 = calloc((size_t)oldn + 1, sizeof(*tl2)))) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		/* hunk i replaces old [first, end) by new [first + prev, end + shift) */
		for (uint32_t l = 1; l <= curn; l++) {
			int64_t o;

			while (idx < nh && (int64_t)l >= (int64_t)h[idx].end + h[idx].shift)
				prev = h[idx++].shift;
			if (!tl[l - 1])
				continue;
			if (idx < nh && (int64_t)l >= (int64_t)h[idx].first + prev) {
				(*owner)[tl[l - 1] - 1] = e[c].k; /* changed by this commit */
				continue;
			}
			o = (int64_t)l - prev;
			if (o >= 1 && o <= oldn)
				tl2[o - 1] = tl[l - 1];
		}
		free(tl);
		tl = tl2;
		tl2 = NULL;
		curn = oldn;
		git_blob_free(cur);
		cur = old;
		old = NULL;
	}
	ret = 0;
out:
	if (ret < 0) {
		free(*owner);
		*owner = NULL;
	}
	free(h);
	free(tl);
	free(tl2);
	git_blob_free(old);
	git_blob_free(cur);
	return ret;
}

/* The blame of T's file v between the two commits into w->bh/w->nbh,
 * from the cache or from the range's per-commit diffs (then cached): a
 * file no commit of the range changed has no hunks. */
static int blame_hunks(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
		       struct kc_err *err)
{
	struct attrib *at = w->at;
	struct pchange key_ch;
	uint32_t *owner = NULL, nlines = 0, nh = 0;
	char *key = NULL;
	size_t len = 2 * GIT_OID_HEXSZ + 3 + strlen(v->path), lo, hi;
	int r, ret = -1;

	w->nbh = 0;
	if (!at->n)
		return 0; /* no commit to put a line on */
	if (!(key = malloc(len)))
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	snprintf(key, len, "%s %s %s", at->tip_hex, at->base_hex, v->path);
	r = cq_blame_lookup(q->cache, key, &w->bh, &w->bhcap, &w->nbh);
	if (r != 0) {
		ret = r > 0 ? 0 : kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (changes_build(at, err) < 0)
		goto out;
	/* this path's changes: [lo, hi) */
	key_ch.path = (char *)v->path;
	key_ch.k = 0;
	for (lo = 0, hi = at->nch; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (by_path_k(&at->ch[mid], &key_ch) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < at->nch && strcmp(at->ch[hi].path, v->path) == 0; hi++)
		;
	if (hi > lo && attribute_path(at, &at->ch[lo], hi - lo, &owner, &nlines, err) < 0)
		goto out;
	if (KC_GROW(w->bh, w->bhcap, (size_t)nlines + 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t l = 0; l < nlines; l++) {
		if (nh && w->bh[nh - 1].commit == owner[l]) {
			w->bh[nh - 1].count++;
			continue;
		}
		w->bh[nh].first = l + 1;
		w->bh[nh].count = 1;
		w->bh[nh].commit = owner[l];
		nh++;
	}
	w->nbh = nh;
	cq_blame_store(q->cache, key, w->bh, nh);
	ret = 0;
out:
	free(owner);
	free(key);
	return ret;
}

/* The commit index of every new line of v (w->who), by blame of T's file
 * between the two commits; lines it cannot place get at->n. At most
 * cq_blame_files_max files per request (KC_E_BAD_INPUT beyond). */
static int attribute(struct kc_covq *q, struct patch_walk *w, const struct fview *v,
		     struct kc_err *err)
{
	uint32_t k = 0;

	if (++w->blamed > w->blame_max)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "new lines in more than %u files to attribute to commits: "
				  "a nearer base, or path= with commit=",
				  w->blame_max);
	if (KC_GROW(w->who, w->whocap, (size_t)w->nnew + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (blame_hunks(q, w, v, err) < 0)
		return -1;
	/* both ascending: one pass */
	for (uint32_t i = 0; i < w->nnew; i++) {
		uint32_t l = w->newl[i];

		while (k < w->nbh && w->bh[k].first + w->bh[k].count <= l)
			k++;
		w->who[i] = k < w->nbh && w->bh[k].first <= l && w->bh[k].commit < w->at->n
				    ? w->bh[k].commit
				    : w->at->n;
	}
	return 0;
}

/* ---- the walk ------------------------------------------------------------------ */

static int patch_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct patch_walk *w = arg;
	uint64_t ins = 0, cov = 0, part = 0, nnew = 0;
	json_t *lines, *o;
	int known = new_lines(q, w, v, err);

	if (known < 0)
		return -1;
	if (!known) {
		json_array_append_new(w->unknown, json_pack("{s:s, s:s}", "path", v->path,
							    "reason", "no_source"));
		return 0;
	}
	if (!w->nnew || (w->blame && attribute(q, w, v, err) < 0))
		return w->nnew ? -1 : 0;
	lines = w->tally_only ? NULL : json_array();
	for (uint32_t i = 0; i < w->nnew; i++) {
		uint32_t from = 0, li = cq_line_index(v, w->newl[i], &from);
		struct pcommit *pc = w->blame ? &w->at->c[w->who[i]] : NULL;
		unsigned st = 3; /* not instrumented */

		if (pc && w->at->only >= 0 && w->who[i] != (uint32_t)w->at->only)
			continue;
		nnew++;
		if (li != NONE && v->ltot[li])
			st = v->merged ? v->mstate[li]
			     : !v->lcov[li] ? 0
			     : v->lcov[li] == v->ltot[li] ? 2
							   : 1;
		if (pc) {
			pc->new_lines++;
			pc->instrumented += st < 3;
			pc->covered += st == 2;
			pc->partial += st == 1;
			pc->uncovered += st == 0;
			if (pc->lastpath != v->path)
				json_array_append_new(pc->files, json_string(v->path));
			pc->lastpath = v->path;
		}
		if (w->tally_only)
			continue; /* kc_covq_commits answers no line */
		if (st == 3) {
			o = json_pack("{s:I, s:s}", "line", (json_int_t)w->newl[i], "state",
				      "not_instrumented");
		} else {
			ins++;
			cov += st == 2;
			part += st == 1;
			o = json_pack("{s:I, s:s, s:I, s:I}", "line", (json_int_t)w->newl[i],
				      "state",
				      st == 2   ? "covered"
				      : st == 1 ? "partial"
						: "uncovered",
				      "covered", (json_int_t)v->lcov[li], "points",
				      (json_int_t)v->ltot[li]);
			if (o && v->merged)
				json_object_set_new(o, "builds", cq_merge_builds(q, v->mwho[li]));
		}
		if (o && pc)
			json_object_set_new(o, "commit", w->who[i] < w->at->n
								 ? json_string(pc->hex)
								 : json_null());
		json_array_append_new(lines, o);
	}
	if (!nnew || w->tally_only) {
		json_decref(lines);
		return 0;
	}
	json_array_append_new(
		w->files,
		json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "path", v->path, "status",
			  w->added ? "added" : "changed", "new_lines", (json_int_t)nnew,
			  "instrumented", (json_int_t)ins, "covered", (json_int_t)cov, "partial",
			  (json_int_t)part, "uncovered", (json_int_t)(ins - cov - part), "lines",
			  lines));
	w->nfiles++;
	w->lines += nnew;
	w->instrumented += ins;
	w->covered += cov;
	w->partial += part;
	w->uncovered += ins - cov - part;
	return 0;
}

/* The walk of q's files under dir against base (w->at already set when
 * attributing): w->s and the tallies filled, released by walk_release. */
static int patch_walk(struct kc_covq *q, struct patch_walk *w, const char *dir,
		      struct kc_err *err)
{
	char *prefix = NULL;
	int ret = -1;

	w->files = json_array();
	w->unknown = json_array();
	if (dir && *dir) {
		size_t len = strlen(dir);

		prefix = malloc(len + 2);
		if (!prefix)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		memcpy(prefix, dir, len + 1);
		if (dir[len - 1] != '/')
			memcpy(prefix + len, "/", 2);
	}
	if (cq_walk(q, NULL, prefix, patch_file, w, err) >= 0)
		ret = 0;
	free(prefix);
	return ret;
}

static void walk_release(struct patch_walk *w)
{
	json_decref(w->files);
	json_decref(w->unknown);
	cq_linemap_release(&w->map);
	free(w->newl);
	free(w->who);
	free(w->bh);
	git_tree_free(w->rev_tree);
	attrib_free(w->at);
	kc_covq_free(w->s);
}

/* Open the base: build base's query into w->s, or (base NULL) the tree
 * of base_rev in T's repository; the commits when attrib. */
static int walk_begin(struct kc_covq *q, struct patch_walk *w, const char *base,
		      const char *base_rev, int attrib, const char *commit, struct kc_err *err)
{
	memset(w, 0, sizeof(*w));
	if (cq_need_index(q, err) < 0)
		return -1;
	if (base) {
		w->s = kc_covq_open(q->cache, q->db, q->coverage_gen, base, &q->f,
				    KC_COVQ_NEED_IMPORT | KC_COVQ_NO_COVERAGE, err);
		if (!w->s)
			return -1;
	}
	if ((attrib || !base) && !(w->at = attrib_open(q, w->s, base_rev, commit, err)))
		return -1;
	w->blame = attrib;
	w->blame_max = cq_blame_files_max(q->cache);
	if (!base && git_commit_tree(&w->rev_tree, (git_commit *)w->at->rev) < 0)
		return git_fail(err, KC_E_INTERNAL, "tree");
	return 0;
}

/* "base" (the build id, or null) and "base_rev" (with git) into out. */
static void put_base(json_t *out, const struct patch_walk *w)
{
	json_object_set_new(out, "base", w->s ? json_string(w->s->build_id) : json_null());
	if (w->at)
		json_object_set_new(out, "base_rev", json_string(w->at->base_hex));
}

json_t *kc_covq_patch(struct kc_covq *q, const char *base, const char *base_rev,
		      const char *dir, const char *commit, struct kc_err *err)
{
	struct patch_walk w;
	json_t *out = NULL;

	if (walk_begin(q, &w, base, base_rev, commit != NULL, commit, err) < 0 ||
	    patch_walk(q, &w, dir, err) < 0)
		goto out;
	out = cq_base_object(q);
	put_base(out, &w);
	json_object_set_new(out, "path", json_string(dir ? dir : ""));
	if (w.at && w.at->only >= 0)
		json_object_set_new(out, "commit", json_string(w.at->c[w.at->only].hex));
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
	walk_release(&w);
	return out;
}

static json_t *commit_object(const struct pcommit *c, int real)
{
	char date[32] = "";
	struct tm tm;
	time_t t = (time_t)c->time;

	if (real && gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:O}", "id",
			 real ? c->hex : NULL, "subject", real ? c->subject : NULL, "author",
			 real ? c->author : NULL, "email", real ? c->email : NULL, "date",
			 real ? date : NULL, "time", (json_int_t)c->time, "new_lines",
			 (json_int_t)c->new_lines, "instrumented", (json_int_t)c->instrumented,
			 "covered", (json_int_t)c->covered, "partial", (json_int_t)c->partial,
			 "uncovered", (json_int_t)c->uncovered, "files", c->files);
}

/* What commits sort by (qsort takes no context: the keys are copied). */
struct commit_key {
	uint64_t uncovered;
	int64_t time;
	uint32_t i; /* walk order: newest first */
};

static int by_date(const void *a, const void *b)
{
	const struct commit_key *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int by_uncovered(const void *a, const void *b)
{
	const struct commit_key *x = a, *y = b;

	if (x->uncovered != y->uncovered)
		return x->uncovered > y->uncovered ? -1 : 1;
	return by_date(a, b);
}

json_t *kc_covq_commits(struct kc_covq *q, const char *base, const char *base_rev,
			enum kc_commit_sort sort, struct kc_err *err)
{
	struct patch_walk w;
	struct commit_key *order = NULL;
	json_t *out = NULL, *arr;

	if (walk_begin(q, &w, base, base_rev, 1, NULL, err) < 0)
		goto out;
	w.tally_only = 1;
	if (patch_walk(q, &w, NULL, err) < 0)
		goto out;
	order = malloc(((size_t)w.at->n + 1) * sizeof(*order));
	if (!order) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < w.at->n; i++) {
		order[i].uncovered = w.at->c[i].uncovered;
		order[i].time = w.at->c[i].time;
		order[i].i = i;
	}
	qsort(order, w.at->n, sizeof(*order),
	      sort == KC_COMMIT_SORT_UNCOVERED ? by_uncovered : by_date);
	arr = json_array();
	for (uint32_t i = 0; i < w.at->n; i++)
		json_array_append_new(arr, commit_object(&w.at->c[order[i].i], 1));
	out = cq_base_object(q);
	put_base(out, &w);
	json_object_set_new(out, "rev", json_string(w.at->tip_hex));
	json_object_set_new(out, "commits", arr);
	json_object_set_new(out, "unattributed", commit_object(&w.at->c[w.at->n], 0));
	json_object_set(out, "unknown", w.unknown);
	if (q->merge)
		json_object_set_new(out, "merge", cq_merge_object(q));
out:
	free(order);
	walk_release(&w);
	return out;
}
