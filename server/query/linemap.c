/*
 * linemap.c - mapping the lines of one source text onto another: which
 * line of build S is which unchanged line of build T. The diff is
 * libgit2's (git_diff_buffers, minimal, no context lines); what is kept
 * of it is its hunks in old-text order, each as the first old line it
 * touches, the first old line after it and the accumulated line shift
 * behind it (12 bytes a hunk), so mapping a line is a binary search.
 * Identical contents (same content id) map by identity without a diff.
 * Mappings depend only on the two contents, so cache.c keeps them per
 * (content S, content T) for every query (cq_linemap_get).
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "db.h"
#include "grow.h"
#include "search.h"

struct hunks {
	struct cq_hunk *v;
	uint32_t n;
	size_t cap;
	int64_t shift;
	int oom;
};

static int on_hunk(const git_diff_delta *delta, const git_diff_hunk *h, void *payload)
{
	struct hunks *hs = payload;
	struct cq_hunk *o;
	(void)delta;

	if (KC_GROW(hs->v, hs->cap, (size_t)hs->n + 1) < 0) {
		hs->oom = 1;
		return -1;
	}
	o = &hs->v[hs->n++];
	/* "@@ -a,0 +b,n @@" inserts after old line a; otherwise old lines
	 * [a, a + old_lines) are replaced. */
	o->first = h->old_lines ? (uint32_t)h->old_start : (uint32_t)h->old_start + 1;
	o->end = o->first + (uint32_t)h->old_lines;
	hs->shift += (int64_t)h->new_lines - (int64_t)h->old_lines;
	o->shift = (int32_t)hs->shift;
	return 0;
}

int cq_linemap_diff(const void *s, size_t slen, const void *t, size_t tlen, struct cq_hunk **out,
		    uint32_t *n, struct kc_err *err)
{
	git_diff_options o;
	struct hunks hs;
	int rc;

	memset(&hs, 0, sizeof(hs));
	*out = NULL;
	*n = 0;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.context_lines = 0;
	o.interhunk_lines = 0;
	o.flags = GIT_DIFF_FORCE_TEXT | GIT_DIFF_MINIMAL;
	rc = git_diff_buffers(s, slen, NULL, t, tlen, NULL, &o, NULL, NULL, on_hunk, NULL, &hs);
	if (rc < 0 || hs.oom) {
		const git_error *e = git_error_last();

		free(hs.v);
		return kc_err_set(err, KC_E_INTERNAL, "diff: %s",
				  hs.oom ? "out of memory" : e && e->message ? e->message : "failed");
	}
	*out = hs.v;
	*n = hs.n;
	return 0;
}

struct hunk_key {
	const struct cq_hunk *h;
	uint32_t line;
};

static int hunk_at_or_before(const void *ctx, size_t i)
{
	const struct hunk_key *k = ctx;

	return k->h[i].first <= k->line;
}

uint32_t cq_linemap_apply(const struct cq_linemap *m, uint32_t line)
{
	struct hunk_key k = { m->h, line };
	size_t i;
	int64_t to;

	if (m->identity)
		return line;
	if (!m->valid)
		return 0;
	/* the hunks before line form a prefix: the last of them decides */
	i = kc_lower_bound(m->n, hunk_at_or_before, &k);
	if (i == 0)
		return line;
	if (line < m->h[i - 1].end)
		return 0; /* replaced or removed */
	to = (int64_t)line + m->h[i - 1].shift;
	return to > 0 && to <= UINT32_MAX ? (uint32_t)to : 0;
}

int cq_load_text(struct kc_sql *db, int64_t id, struct kc_buf *out, char *hash, size_t hsize,
		 struct kc_err *err)
{
	struct kc_stmt *st =
		kc_db_prepare(db, "SELECT text, hash FROM source_texts WHERE id = ?", err);
	int rc, ret = -1;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, id);
	rc = kc_db_step(db, st, err);
	if (rc == KC_ROW) {
		if (hash)
			snprintf(hash, hsize, "%s", (const char *)kc_stmt_column_text(st, 1));
		kc_buf_add(out, kc_stmt_column_blob(st, 0), (size_t)kc_stmt_column_bytes(st, 0));
		ret = out->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
	} else if (rc == KC_DONE) {
		kc_err_set(err, KC_E_INTERNAL, "source text %lld is missing", (long long)id);
	}
	kc_stmt_finalize(st);
	return ret;
}

int cq_linemap_get(struct kc_covq *q, int64_t s_text, int64_t t_text, struct cq_linemap *m,
		   struct kc_err *err)
{
	struct kc_buf s = KC_BUF_INIT, t = KC_BUF_INIT;
	struct cq_hunk *h = NULL;
	uint32_t n = 0;
	int ret = -1, hit;

	m->identity = 0;
	m->valid = 0;
	m->n = 0;
	if (!s_text || !t_text)
		return 0; /* no text: nothing maps */
	if (s_text == t_text) {
		m->identity = m->valid = 1;
		return 0;
	}
	hit = cq_linemap_lookup(q->cache, s_text, t_text, m);
	if (hit < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (hit) {
		m->valid = 1;
		return 0;
	}
	if (cq_load_text(q->db, s_text, &s, NULL, 0, err) < 0 ||
	    cq_load_text(q->db, t_text, &t, NULL, 0, err) < 0 ||
	    cq_linemap_diff(s.data ? (const void *)s.data : "", s.len,
			    t.data ? (const void *)t.data : "", t.len, &h, &n, err) < 0)
		goto out;
	cq_linemap_store(q->cache, s_text, t_text, h, n);
	if (KC_GROW(m->h, m->cap, (size_t)n + 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (n)
		memcpy(m->h, h, n * sizeof(*h));
	m->n = n;
	m->valid = 1;
	ret = 0;
out:
	free(h);
	kc_buf_release(&s);
	kc_buf_release(&t);
	return ret;
}

void cq_linemap_release(struct cq_linemap *m)
{
	free(m->h);
	memset(m, 0, sizeof(*m));
}
