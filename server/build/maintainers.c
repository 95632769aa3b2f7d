/*
 * maintainers.c - parsing the kernel's MAINTAINERS file and answering which
 * subsystems a source path belongs to, by the rules of scripts/
 * get_maintainer.pl (maintainers.h lists them). Build import uses it to
 * store each file's subsystems.
 *
 * Matching a path against ~7,000 F: patterns one by one would cost
 * seconds per build, so every F: pattern is filed under the directory part
 * of its literal prefix (the text before its first regex character, cut
 * after its last '/'): a path can only match patterns filed under one of
 * its own directory prefixes ("", "a/", "a/b/", ...), found by binary
 * search, and among those (include/linux/ has 450) only the ones whose
 * whole literal prefix it starts with, a memcmp before any regex. The regexes themselves are PCRE2, as Perl-compatible as the
 * script's Perl.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "maintainers.h"

#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "grow.h"
#include "path.h"

/* Bounds on the regex engine's effort per match (none of the 6.1 file's
 * patterns comes near them); a match over them counts as no match. */
#define MATCH_LIMIT 100000u
#define DEPTH_LIMIT 1000u

enum { PAT_F, PAT_X, PAT_N };

struct pat {
	pcre2_code *re;
	size_t section;
	unsigned slashes; /* '/' in the converted F:/X: value */
	unsigned char type;
	bool dir;         /* converted value ends in '/' */
};

struct section {
	size_t name;      /* index into names */
	size_t first, n;  /* its entries: pats[first .. first + n) */
	unsigned seen;    /* == m->gen: already a candidate for this path */
};

struct fkey {
	char *lit;        /* the literal prefix, decoded */
	size_t litlen;
	size_t len;       /* its directory part: lit[0..len) is "" or ends in '/' */
	size_t pat;
};

struct kc_maint {
	char **names;
	size_t nnames, names_cap;
	struct section *secs;
	size_t nsecs, secs_cap;
	struct pat *pats;
	size_t npats, pats_cap;
	struct fkey *keys;  /* F: patterns, sorted by key */
	size_t nkeys, keys_cap;
	size_t *npat;       /* N: patterns (indexes into pats) */
	size_t nnpat, npat_cap;
	size_t ignored;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	unsigned gen;
	size_t *cand;       /* candidate sections of the current path */
	size_t ncand, cand_cap;
	size_t *out;        /* name indexes answered */
	size_t nout, out_cap;
};

static bool perl_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* F:/X: value -> the script's regex text: '.' literal, '*' -> ".*",
 * '?' -> ".". */
static void convert_glob(const char *v, size_t n, struct kc_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '.')
			kc_buf_add(out, "\\.", 2);
		else if (v[i] == '*')
			kc_buf_add(out, ".*", 2);
		else if (v[i] == '?')
			kc_buf_add(out, ".", 1);
		else
			kc_buf_add(out, &v[i], 1);
	}
}

/* The literal prefix (decoded) of a converted F: pattern, into out; returns
 * the length of its directory part (up to and including its last '/'), the
 * key it is filed under. Conservative: any regex construct ends the
 * prefix, a quantifier also takes the character before it, and an
 * alternation anywhere empties it. */
static size_t literal_key(const char *re, size_t n, struct kc_buf *out)
{
	size_t lit = 0, cut = 0;

	if (memchr(re, '|', n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = re[i];

		if (c == '\\' && i + 1 < n && re[i + 1] == '.') {
			kc_buf_add(out, ".", 1);
			lit++;
			i++;
			continue;
		}
		if (strchr(".[](){}+*?^$\\", c)) {
			if (strchr("+*?{", c) && lit > 0)
				lit--;
			break;
		}
		kc_buf_add(out, &c, 1);
		lit++;
	}
	if (out->oom)
		return 0;
	out->len = lit;
	for (size_t i = 0; i < lit; i++)
		if (out->data[i] == '/')
			cut = i + 1;
	return cut;
}

static int add_name(struct kc_maint *m, const char *s, size_t n, struct kc_err *err)
{
	char *copy;

	if (KC_GROW(m->names, m->names_cap, m->nnames + 1) < 0 || !(copy = malloc(n + 1)))
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	memcpy(copy, s, n);
	copy[n] = '\0';
	m->names[m->nnames++] = copy;
	return 0;
}

static bool good_name(const char *s, size_t n)
{
	json_t *j;

	if (n == 0 || n > KC_MAINT_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return false;
	j = json_stringn(s, n); /* NULL for invalid UTF-8 */
	json_decref(j);
	return j != NULL;
}

/* Compile one F:/X:/N: entry of the current (last) section. */
static int add_entry(struct kc_maint *m, char type, const char *v, size_t n,
		     kc_maint_is_dir_fn is_dir, void *ctx, struct kc_err *err)
{
	struct kc_buf re, key;
	struct pat *p;
	int errcode, ret = -1;
	PCRE2_SIZE erroff;
	size_t start = 1;

	kc_buf_init(&re);
	kc_buf_init(&key);
	if (n > KC_MAINT_MAX_PATTERN) {
		m->ignored++;
		ret = 0;
		goto out;
	}
	if (m->npats >= KC_MAINT_MAX_ENTRIES) {
		ret = kc_err_set(err, KC_E_BAD_INPUT, "MAINTAINERS: more than %u F:/X:/N: entries",
				 KC_MAINT_MAX_ENTRIES);
		goto out;
	}
	if (KC_GROW(m->pats, m->pats_cap, m->npats + 1) < 0)
		goto oom;
	p = &m->pats[m->npats];
	memset(p, 0, sizeof(*p));
	p->section = m->nsecs - 1;
	p->type = type == 'F' ? PAT_F : type == 'X' ? PAT_X : PAT_N;
	if (p->type == PAT_N) {
		kc_buf_add(&re, v, n);
		start = 0;
	} else {
		kc_buf_add(&re, "^", 1);
		convert_glob(v, n, &re);
		kc_buf_add(&re, "", 1); /* NUL for is_dir */
		re.len--;
		if (!re.oom && re.len > 1 && re.data[re.len - 1] != '/' && is_dir &&
		    is_dir(ctx, (const char *)re.data + 1) == 1)
			kc_buf_add(&re, "/", 1);
		p->dir = re.len > 1 && re.data[re.len - 1] == '/';
		for (size_t i = 1; i < re.len; i++)
			p->slashes += re.data[i] == '/';
	}
	if (re.oom)
		goto oom;
	p->re = pcre2_compile((PCRE2_SPTR)re.data, re.len,
			      p->type == PAT_N ? PCRE2_EXTENDED : 0, &errcode, &erroff, NULL);
	if (!p->re) {
		m->ignored++;
		ret = 0;
		goto out;
	}
	if (p->type == PAT_F) {
		size_t dirlen = literal_key((const char *)re.data + start, re.len - start, &key);
		char *k;

		if (key.oom || KC_GROW(m->keys, m->keys_cap, m->nkeys + 1) < 0 ||
		    !(k = malloc(key.len + 1))) {
			pcre2_code_free(p->re);
			goto oom;
		}
		if (key.len)
			memcpy(k, key.data, key.len);
		k[key.len] = '\0';
		/* every path tries the patterns without a literal prefix (THE
		 * REST's, "vexpress" in any directory two levels down), and their
		 * ".*" backtrack: compile those to machine code */
		if (key.len == 0)
			(void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
		m->keys[m->nkeys++] = (struct fkey){k, key.len, dirlen, m->npats};
	} else if (p->type == PAT_N) {
		/* every path tries every N: regex: compile them to machine code
		 * (when PCRE2 cannot, they are interpreted) */
		(void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
		if (KC_GROW(m->npat, m->npat_cap, m->nnpat + 1) < 0) {
			pcre2_code_free(p->re);
			goto oom;
		}
		m->npat[m->nnpat++] = m->npats;
	}
	m->npats++;
	m->secs[m->nsecs - 1].n++;
	ret = 0;
	goto out;
oom:
	ret = kc_err_set(err, KC_E_INTERNAL, "out of memory");
out:
	kc_buf_release(&re);
	kc_buf_release(&key);
	return ret;
}

/* Keys in order of their directory part (bytes, then length), then of
 * their pattern: each directory's patterns are one run. */
static int cmp_dir(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : (an > bn) - (an < bn);
}

static int cmp_key(const void *a, const void *b)
{
	const struct fkey *x = a, *y = b;
	int c = cmp_dir(x->lit, x->len, y->lit, y->len);

	return c ? c : (x->pat > y->pat) - (x->pat < y->pat);
}

struct name_ref {
	const char *s;
	size_t sec;
};

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	return c ? c : (x->sec > y->sec) - (x->sec < y->sec);
}

/* Sections that share a name become one subsystem: names[] keeps the
 * first of each, in order of first appearance. */
static int merge_names(struct kc_maint *m, struct kc_err *err)
{
	struct name_ref *refs = NULL;
	size_t *newidx = NULL, nn = 0;
	char **names = NULL;
	int ret = -1;

	if (m->nsecs == 0)
		return 0;
	refs = calloc(m->nsecs, sizeof(*refs));
	newidx = calloc(m->nsecs, sizeof(*newidx));
	names = calloc(m->nsecs, sizeof(*names));
	if (!refs || !newidx || !names) {
		ret = kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->nsecs; i++)
		refs[i] = (struct name_ref){m->names[m->secs[i].name], i};
	qsort(refs, m->nsecs, sizeof(*refs), cmp_name_ref);
	/* canon[sec] = first section of its name */
	for (size_t i = 0, first = 0; i < m->nsecs; i++) {
		if (i == 0 || strcmp(refs[i].s, refs[i - 1].s) != 0)
			first = refs[i].sec;
		newidx[refs[i].sec] = first;
	}
	for (size_t i = 0; i < m->nsecs; i++) {
		size_t canon = newidx[i];

		if (canon == i) {
			names[nn] = m->names[m->secs[i].name];
			m->names[m->secs[i].name] = NULL;
			newidx[i] = nn++;
		} else {
			newidx[i] = newidx[canon]; /* canon < i: already renumbered */
		}
	}
	for (size_t i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	for (size_t i = 0; i < m->nsecs; i++)
		m->secs[i].name = newidx[i];
	m->names = names;
	m->nnames = nn;
	m->names_cap = m->nsecs;
	names = NULL;
	ret = 0;
out:
	free(refs);
	free(newidx);
	free(names);
	return ret;
}

struct kc_maint *kc_maint_parse(const char *text, size_t len, kc_maint_is_dir_fn is_dir,
				void *ctx, struct kc_err *err)
{
	struct kc_maint *m = NULL;
	const char *p = text, *end = text + len;
	const char *name = NULL; /* the last name line not yet followed by an entry */
	size_t name_len = 0;
	bool in_section = false, skip_section = false;

	if (len > KC_MAINT_MAX_TEXT) {
		kc_err_set(err, KC_E_BAD_INPUT, "MAINTAINERS: larger than %u bytes", KC_MAINT_MAX_TEXT);
		return NULL;
	}
	if (len && memchr(text, '\0', len)) {
		kc_err_set(err, KC_E_BAD_INPUT, "MAINTAINERS: holds a NUL byte");
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m))))
		goto oom;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *q;
		size_t ll = (size_t)(le - p);

		if (ll > KC_MAINT_MAX_LINE) {
			kc_err_set(err, KC_E_BAD_INPUT, "MAINTAINERS: a line longer than %u bytes",
				   KC_MAINT_MAX_LINE);
			goto fail;
		}
		for (q = p; q < le && perl_space(*q); q++)
			;
		if (q == le || *q == '#') {
			/* blank or comment: not part of the script's list */
		} else if (ll >= 2 && p[0] >= 'A' && p[0] <= 'Z' && p[1] == ':') {
			char type = p[0];

			if (!in_section && name) {
				if (m->nsecs >= KC_MAINT_MAX_SECTIONS) {
					kc_err_set(err, KC_E_BAD_INPUT,
						   "MAINTAINERS: more than %u sections",
						   KC_MAINT_MAX_SECTIONS);
					goto fail;
				}
				skip_section = !good_name(name, name_len);
				if (skip_section) {
					m->ignored++;
				} else {
					if (KC_GROW(m->secs, m->secs_cap, m->nsecs + 1) < 0 ||
					    add_name(m, name, name_len, err) < 0)
						goto oom;
					m->secs[m->nsecs++] = (struct section){m->nnames - 1,
									       m->npats, 0, 0};
				}
				in_section = true;
				name = NULL;
			}
			if (in_section && !skip_section &&
			    (type == 'F' || type == 'X' || type == 'N')) {
				for (q = p + 2; q < le && perl_space(*q); q++)
					;
				if (add_entry(m, type, q, (size_t)(le - q), is_dir, ctx, err) < 0)
					goto fail;
			}
		} else {
			/* a name line; trailing white space is not part of it */
			for (q = le; q > p && perl_space(q[-1]); q--)
				;
			name = p;
			name_len = (size_t)(q - p);
			in_section = false;
		}
		p = nl ? nl + 1 : end;
	}
	if (merge_names(m, err) < 0)
		goto fail;
	if (m->nkeys)
		qsort(m->keys, m->nkeys, sizeof(*m->keys), cmp_key);
	m->md = pcre2_match_data_create(1, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (!m->md || !m->mctx)
		goto oom;
	pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, DEPTH_LIMIT);
	return m;
oom:
	kc_err_set(err, KC_E_INTERNAL, "out of memory");
fail:
	kc_maint_free(m);
	return NULL;
}

void kc_maint_free(struct kc_maint *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	for (size_t i = 0; i < m->npats; i++)
		pcre2_code_free(m->pats[i].re);
	free(m->pats);
	for (size_t i = 0; i < m->nkeys; i++)
		free(m->keys[i].lit);
	free(m->keys);
	free(m->npat);
	free(m->secs);
	free(m->cand);
	free(m->out);
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	free(m);
}

size_t kc_maint_count(const struct kc_maint *m)
{
	return m->nnames;
}

const char *kc_maint_name(const struct kc_maint *m, size_t i)
{
	return i < m->nnames ? m->names[i] : NULL;
}

size_t kc_maint_ignored(const struct kc_maint *m)
{
	return m->ignored;
}

static bool pat_matches(struct kc_maint *m, const struct pat *p, const char *path, size_t len,
			unsigned slashes)
{
	int rc = pcre2_match(p->re, (PCRE2_SPTR)path, len, 0, 0, m->md, m->mctx);

	if (rc < 0)
		return false; /* no match, or over the match limits */
	return p->type == PAT_N || p->dir || p->slashes == slashes;
}

static int add_candidate(struct kc_maint *m, size_t sec)
{
	if (m->secs[sec].seen == m->gen)
		return 0;
	if (KC_GROW(m->cand, m->cand_cap, m->ncand + 1) < 0)
		return -1;
	m->secs[sec].seen = m->gen;
	m->cand[m->ncand++] = sec;
	return 0;
}

/* First key >= (path, n) in the sorted keys. */
static size_t lower_key(const struct kc_maint *m, const char *path, size_t n)
{
	size_t lo = 0, hi = m->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fkey *k = &m->keys[mid];

		if (cmp_dir(k->lit, k->len, path, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

int kc_maint_match(struct kc_maint *m, const char *path, const size_t **out, size_t *n,
		   struct kc_err *err)
{
	size_t len = strlen(path);
	unsigned slashes = 0;

	m->ncand = 0;
	m->nout = 0;
	if (++m->gen == 0) { /* wrapped: forget every mark */
		for (size_t i = 0; i < m->nsecs; i++)
			m->secs[i].seen = 0;
		m->gen = 1;
	}
	for (size_t i = 0; i < len; i++)
		slashes += path[i] == '/';
	/* F: patterns filed under each directory prefix of path, "" first */
	for (size_t plen = 0; plen <= len; plen++) {
		if (plen > 0 && path[plen - 1] != '/')
			continue;
		for (size_t k = lower_key(m, path, plen);
		     k < m->nkeys && cmp_dir(m->keys[k].lit, m->keys[k].len, path, plen) == 0; k++) {
			const struct fkey *fk = &m->keys[k];
			const struct pat *p = &m->pats[fk->pat];

			if (fk->litlen > len || memcmp(fk->lit, path, fk->litlen) != 0 ||
			    m->secs[p->section].seen == m->gen)
				continue;
			if (pat_matches(m, p, path, len, slashes) && add_candidate(m, p->section) < 0)
				goto oom;
		}
	}
	for (size_t i = 0; i < m->nnpat; i++) {
		const struct pat *p = &m->pats[m->npat[i]];

		if (m->secs[p->section].seen != m->gen &&
		    pat_matches(m, p, path, len, slashes) && add_candidate(m, p->section) < 0)
			goto oom;
	}
	for (size_t c = 0; c < m->ncand; c++) {
		const struct section *s = &m->secs[m->cand[c]];
		bool excluded = false;

		for (size_t i = s->first; i < s->first + s->n && !excluded; i++)
			excluded = m->pats[i].type == PAT_X &&
				   pat_matches(m, &m->pats[i], path, len, slashes);
		if (excluded)
			continue;
		if (KC_GROW(m->out, m->out_cap, m->nout + 1) < 0)
			goto oom;
		m->out[m->nout++] = s->name;
	}
	if (m->nout > 1)
		qsort(m->out, m->nout, sizeof(*m->out), cmp_size);
	{
		size_t w = 0;

		for (size_t i = 0; i < m->nout; i++)
			if (w == 0 || m->out[w - 1] != m->out[i])
				m->out[w++] = m->out[i];
		m->nout = w;
	}
	*out = m->out;
	*n = m->nout;
	return 0;
oom:
	return kc_err_set(err, KC_E_INTERNAL, "out of memory");
}

