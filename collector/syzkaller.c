/*
 * syzkaller.c - the syzkaller bridge (`kcov-collect syzkaller`). syzkaller's
 * executor drives KCOV itself, so the collector cannot wrap it; instead this
 * module polls the syz-manager HTTP interface, strictly parses what the
 * manager's code prints there (formats and their syzkaller sources are in
 * docs/collector.md, "syzkaller bridge"), and turns new coverage and
 * coverage-overflow counters into ordinary reports in the spool, with an
 * address map built from the vmlinux ELF and the manager's module list.
 * It remembers what it sent in a small state file so that neither a bridge
 * restart nor a manager restart sends anything twice.
 *
 * Why one file (about 1,050 lines): it is one poll cycle, fetch, parse the
 * four answers, diff against the state, spool, save the state, and the
 * parsers exist only for it (they are exported in syzkaller.h for their unit
 * tests and fuzz target). Splitting the parsers into syzkaller_parse.c is
 * the obvious cut when the next format arrives.
 */
#include "grow.h"
#include "syzkaller.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "addrmap.h"
#include "elfinfo.h"
#include "fileio.h"
#include "spool.h"
#include "wire.h"

#define RAWCOVER_MAX (512u << 20) /* ~27M PCs at 19 bytes a line */
#define MODULES_MAX (16u << 20)
#define METRICS_MAX (16u << 20)
#define SYSCALLS_MAX (64u << 20)
#define STATE_MAX (256u << 20)
#define MAX_SYSCALLS 100000
/* Runs of one report. The runs of a poll are nearly identical records that
 * zlib compresses ~290x, and the decoder refuses frames inflating more than
 * 256x (+ 4 KiB) as decompression bombs: 1024 runs (70 KB) stay below. */
#define RUNS_PER_REPORT 1024
#define MAX_COUNT (1ull << 53) /* counters arrive as Go float64 */

struct kc_syz {
	struct kc_syz_opts o;
	char manager[2048]; /* without trailing '/' */
	char label[KC_NAME_MAX + 1];
	char state_path[PATH_MAX];
	struct kc_vmlinux vm;
	struct kc_spool spool;
	CURL *curl;
	struct kc_report sent; /* PCs already spooled (kcov convention) */
	struct kc_syz_counters last;
	int have_last;         /* last holds a poll's counters */
};

struct fetched {
	uint64_t *pcs;
	size_t npcs;
	struct kc_module *mods;
	uint32_t nmods;
	struct kc_syz_counters now;
};

static void counters_release(struct kc_syz_counters *c)
{
	free(c->ovf);
	memset(c, 0, sizeof(*c));
}

/* ---- HTTP ---------------------------------------------------------------- */

struct sink {
	struct kc_buf *b;
	size_t max;
	int too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->b->len + n > s->max) {
		s->too_big = 1;
		return 0; /* abort the transfer */
	}
	kc_buf_add(s->b, p, n);
	return s->b->oom ? 0 : n;
}

/* Copy at most max bytes of p as printable ASCII (others '?') into out. */
static void printable(const char *p, size_t len, size_t max, char *out, size_t size)
{
	size_t n = len < max ? len : max, i;

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	out[i] = '\0';
}

/* GET manager+path into out (replaced), which must answer 200 within max
 * bytes. out is NUL-terminated (not counted in len). */
static int http_get(struct kc_syz *z, const char *path, size_t max, struct kc_buf *out,
		    struct kc_err *err)
{
	struct sink s = { out, max, 0 };
	char url[2300], first[201];
	long status = 0;
	CURLcode rc;
	size_t eol;

	out->len = 0;
	snprintf(url, sizeof(url), "%s%s", z->manager, path);
	curl_easy_reset(z->curl);
	curl_easy_setopt(z->curl, CURLOPT_URL, url);
	curl_easy_setopt(z->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(z->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(z->curl, CURLOPT_TIMEOUT, z->o.timeout_s > 0 ? z->o.timeout_s : 120L);
	curl_easy_setopt(z->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(z->curl, CURLOPT_NOSIGNAL, 1L);
	/* The manager wraps every handler in gorilla's CompressHandler, which
	 * picks the first of gzip/deflate the client lists: ask for gzip only
	 * (its "deflate" is raw DEFLATE). Size bounds apply to the inflated body. */
	curl_easy_setopt(z->curl, CURLOPT_ACCEPT_ENCODING, "gzip");
	rc = curl_easy_perform(z->curl);
	if (s.too_big)
		return kc_err_set(err, KC_E_BAD_INPUT, "GET %s: answer larger than %zu bytes", url, max);
	if (out->oom)
		return kc_err_set(err, KC_E_INTERNAL, "GET %s: out of memory", url);
	if (rc != CURLE_OK)
		return kc_err_set(err, KC_E_UNAVAILABLE, "GET %s: %s (is syz-manager running, is its http address right?)",
				  url, curl_easy_strerror(rc));
	curl_easy_getinfo(z->curl, CURLINFO_RESPONSE_CODE, &status);
	kc_buf_add_u8(out, 0);
	if (out->oom)
		return kc_err_set(err, KC_E_INTERNAL, "GET %s: out of memory", url);
	out->len--;
	if (status != 200) {
		for (eol = 0; eol < out->len && out->data[eol] != '\n'; eol++)
			;
		printable((const char *)out->data, eol, 200, first, sizeof(first));
		return kc_err_set(err, KC_E_BAD_INPUT, "GET %s: HTTP %ld: %s", url, status, first);
	}
	if (memchr(out->data, '\0', out->len))
		return kc_err_set(err, KC_E_BAD_INPUT, "GET %s: answer contains NUL bytes", url);
	return 0;
}

/* ---- parsers --------------------------------------------------------------- */

static int parse_hex_pc(const char *p, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len < 3 || len > 18 || p[0] != '0' || p[1] != 'x')
		return -1;
	for (size_t i = 2; i < len; i++) {
		int d;

		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return -1;
		x = x << 4 | (uint64_t)d;
	}
	if (len > 3 && p[2] == '0') /* Go's %x prints no leading zeros */
		return -1;
	*v = x;
	return 0;
}

/* /rawcover: pkg/cover/html.go DoRawCover, fmt.Fprintf(buf, "0x%x\n", pc)
 * for PCs already moved to the call instruction; adjust moves them back. */
int kc_syz_parse_rawcover(const char *p, size_t len, unsigned adjust, uint64_t **out, size_t *n,
			  struct kc_err *err)
{
	uint64_t *pcs = NULL;
	size_t cap = 0, cnt = 0, line = 0, off = 0;
	char shown[48];
	int ret = -1;

	while (off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (p + off)) : len - off;
		uint64_t pc;

		line++;
		printable(p + off, l, 40, shown, sizeof(shown));
		if (!nl) {
			kc_err_set(err, KC_E_BAD_INPUT, "/rawcover line %zu ('%s'): no newline at the end (truncated answer?)",
				   line, shown);
			goto out;
		}
		if (parse_hex_pc(p + off, l, &pc) < 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "/rawcover line %zu: '%s' is not a PC (0x and lowercase hex digits)",
				   line, shown);
			goto out;
		}
		if (pc > UINT64_MAX - adjust) {
			kc_err_set(err, KC_E_BAD_INPUT, "/rawcover line %zu: PC %s is too large", line, shown);
			goto out;
		}
		if (KC_GROW(pcs, cap, cnt + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		pcs[cnt++] = pc + adjust;
		off += l + 1;
	}
	*out = pcs;
	*n = cnt;
	pcs = NULL;
	ret = 0;
out:
	free(pcs);
	return ret;
}

/* Go's encoding/json prints uint64 fields as plain decimal numbers, which
 * jansson cannot hold above INT64_MAX (every kernel address). This lexical
 * pass copies the JSON, turning every integer token outside strings into
 * the string "#DIGITS"; jansson then parses the result strictly and
 * json_u64() reads those strings. Fractions and exponents stay numbers
 * (and are then rejected where an integer is expected). */
static int quote_integers(const char *p, size_t len, struct kc_buf *out, struct kc_err *err)
{
	size_t i = 0;

	while (i < len) {
		if (p[i] == '"') {
			size_t j = i + 1;

			while (j < len && p[j] != '"')
				j += p[j] == '\\' ? 2 : 1;
			if (j >= len)
				return kc_err_set(err, KC_E_BAD_INPUT, "unterminated string");
			kc_buf_add(out, p + i, j + 1 - i);
			i = j + 1;
		} else if (isdigit((unsigned char)p[i]) || p[i] == '-') {
			size_t j = i + 1;
			int integer = 1;

			while (j < len && (isdigit((unsigned char)p[j]) || p[j] == '.' || p[j] == 'e' ||
					   p[j] == 'E' || p[j] == '+' || p[j] == '-')) {
				if (!isdigit((unsigned char)p[j]))
					integer = 0;
				j++;
			}
			if (integer && p[i] != '-') {
				kc_buf_add(out, "\"#", 2);
				kc_buf_add(out, p + i, j - i);
				kc_buf_add(out, "\"", 1);
			} else {
				kc_buf_add(out, p + i, j - i);
			}
			i = j;
		} else {
			kc_buf_add(out, p + i, 1);
			i++;
		}
	}
	return out->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

/* An integer that quote_integers() turned into "#DIGITS". */
static int json_u64(const json_t *v, uint64_t *out)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	uint64_t x = 0;

	if (!s || s[0] != '#' || !s[1] || (s[1] == '0' && s[2]))
		return -1;
	for (s++; *s; s++) {
		if (!isdigit((unsigned char)*s) || x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*out = x;
	return 0;
}

/* /modules?raw=1: pkg/manager/http.go modulesInfo -> jsonPage:
 * json.MarshalIndent([]*vminfo.KernelModule, "", "\t"), fields Name, Addr
 * (.text, KASLR removed by backend.FixModules), Size, Path; the core kernel
 * is the entry with Name "". */
int kc_syz_parse_modules(const char *p, size_t len, const char *modules_dir,
			 struct kc_module **out, uint32_t *n, struct kc_err *err)
{
	struct kc_buf q = KC_BUF_INIT;
	struct kc_module *mods = NULL;
	json_error_t je;
	json_t *root = NULL;
	uint32_t cnt = 0;
	size_t i;
	int ret = -1;

	if (quote_integers(p, len, &q, err) < 0) {
		kc_err_prefix(err, "/modules");
		goto out;
	}
	root = json_loadb(q.data ? (const char *)q.data : "", q.len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!root) {
		kc_err_set(err, KC_E_BAD_INPUT, "/modules: not JSON: %s (line %d)", je.text, je.line);
		goto out;
	}
	if (json_is_null(root)) { /* Go marshals a nil slice as null */
		ret = 0;
		goto done;
	}
	if (!json_is_array(root) || json_array_size(root) > KC_MAX_MODULES + 1) {
		kc_err_set(err, KC_E_BAD_INPUT, "/modules: expected an array of at most %u modules", KC_MAX_MODULES);
		goto out;
	}
	mods = calloc(json_array_size(root) + 1, sizeof(*mods));
	if (!mods) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(root); i++) {
		json_t *e = json_array_get(root, i);
		json_t *name = json_object_get(e, "Name"), *path = json_object_get(e, "Path");
		struct kc_module *m = &mods[cnt];
		uint64_t addr, size;

		if (!json_is_object(e) || json_object_size(e) != 4 || !json_is_string(name) ||
		    !json_is_string(path) || json_u64(json_object_get(e, "Addr"), &addr) < 0 ||
		    json_u64(json_object_get(e, "Size"), &size) < 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "/modules: entry %zu is not {Name, Addr, Size, Path} with "
				   "string names and unsigned integer Addr and Size", i);
			goto out;
		}
		if (json_string_length(name) == 0)
			continue; /* the core kernel: placed by the vmlinux */
		if (!kc_valid_name(json_string_value(name), KC_MODNAME_MAX)) {
			kc_err_set(err, KC_E_BAD_INPUT, "/modules: entry %zu: module name is not 1..%d printable bytes",
				   i, KC_MODNAME_MAX);
			goto out;
		}
		if (size == 0 || addr == 0 || addr > UINT64_MAX - size) {
			kc_err_set(err, KC_E_BAD_INPUT, "/modules: module %s: bad range Addr %llu Size %llu",
				   json_string_value(name), (unsigned long long)addr,
				   (unsigned long long)size);
			goto out;
		}
		for (uint32_t k = 0; k < cnt; k++)
			if (strcmp(mods[k].name, json_string_value(name)) == 0) {
				kc_err_set(err, KC_E_BAD_INPUT, "/modules: module %s listed twice",
					   json_string_value(name));
				goto out;
			}
		memcpy(m->name, json_string_value(name), json_string_length(name) + 1);
		m->core_base = addr;
		m->core_size = size;
		m->text_addr = addr;
		if (modules_dir) {
			char ko[PATH_MAX];

			if (snprintf(ko, sizeof(ko), "%s/%s.ko", modules_dir, m->name) >=
			    (int)sizeof(ko)) {
				kc_err_set(err, KC_E_BAD_INPUT, "%s: path too long", modules_dir);
				goto out;
			}
			/* A module not in the directory keeps an unknown build id. */
			if (kc_elf_file_build_id(ko, m->build_id, sizeof(m->build_id), err) < 0) {
				if (err && err->code != KC_E_NOT_FOUND)
					goto out;
				m->build_id[0] = '\0';
			}
		}
		cnt++;
	}
	ret = 0;
done:
	*out = mods;
	*n = cnt;
	mods = NULL;
out:
	free(mods);
	json_decref(root);
	kc_buf_release(&q);
	return ret;
}

/* A Prometheus sample value as Go prints float64 ('g', shortest: 12345,
 * 1.2345678e+07); must be a non-negative integer below 2^53 unless frac. */
static int parse_sample(const char *p, size_t len, int frac, double *v)
{
	char tmp[64], *end;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)tmp[i]) && !strchr(".e+-", tmp[i]))
			return -1;
	errno = 0;
	*v = strtod(tmp, &end);
	if (errno || *end || !isfinite(*v) || *v < 0 || *v >= (double)MAX_COUNT ||
	    (!frac && floor(*v) != *v))
		return -1;
	return 0;
}

/* /metrics: promhttp text exposition of the default registry. syz_exec_total
 * is stat.New("exec total", ..., stat.Prometheus("syz_exec_total")) in
 * pkg/rpcserver/rpcserver.go (a GaugeFunc, no labels);
 * process_start_time_seconds comes from client_golang's process collector. */
int kc_syz_parse_metrics(const char *p, size_t len, struct kc_syz_counters *c, struct kc_err *err)
{
	static const char *const names[2] = { "syz_exec_total", "process_start_time_seconds" };
	int found[2] = { 0, 0 };
	double val_of[2] = { 0, 0 };
	size_t off = 0, line = 0;

	while (off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (p + off)) : len - off;
		const char *s = p + off;

		line++;
		for (int k = 0; k < 2; k++) {
			size_t nlen = strlen(names[k]);
			const char *val, *sp;
			double v;

			if (l <= nlen || memcmp(s, names[k], nlen) != 0 ||
			    (s[nlen] != ' ' && s[nlen] != '{'))
				continue;
			if (s[nlen] == '{' || found[k])
				return kc_err_set(err, KC_E_BAD_INPUT, "/metrics line %zu: %s %s", line, names[k],
						  found[k] ? "appears twice" : "has labels");
			val = s + nlen + 1;
			sp = memchr(val, ' ', l - nlen - 1); /* an optional timestamp follows */
			if (parse_sample(val, sp ? (size_t)(sp - val) : l - nlen - 1, k == 1, &v) < 0) {
				char shown[48];

				printable(s, l, 40, shown, sizeof(shown));
				return kc_err_set(err, KC_E_BAD_INPUT, "/metrics line %zu: '%s': value is not a count",
						  line, shown);
			}
			val_of[k] = v;
			found[k] = 1;
		}
		off += l + (nl ? 1 : 0);
	}
	if (!found[0])
		return kc_err_set(err, KC_E_BAD_INPUT, "/metrics: no syz_exec_total sample (not a syz-manager?)");
	c->execs = (uint64_t)val_of[0];
	c->start_time = val_of[1];
	return 0;
}

static int cmp_counter(const void *a, const void *b)
{
	return strcmp(((const struct kc_syz_counter *)a)->name, ((const struct kc_syz_counter *)b)->name);
}

/* Skip spaces, then expect the literal lit at *pos. */
static int expect(const char *p, size_t len, size_t *pos, const char *lit)
{
	size_t n = strlen(lit);

	while (*pos < len && isspace((unsigned char)p[*pos]))
		(*pos)++;
	if (len - *pos < n || memcmp(p + *pos, lit, n) != 0)
		return -1;
	*pos += n;
	return 0;
}

/* Cell text up to "</td>" (whitespace trimmed) into cell and clen. */
static int td(const char *p, size_t len, size_t *pos, const char **cell, size_t *clen)
{
	const char *end;

	if (expect(p, len, pos, "<td>") < 0)
		return -1;
	end = memmem(p + *pos, len - *pos, "</td>", 5);
	if (!end)
		return -1;
	*cell = p + *pos;
	*clen = (size_t)(end - *cell);
	*pos = (size_t)(end - p) + 5;
	while (*clen && isspace((unsigned char)(*cell)[0]))
		(*cell)++, (*clen)--;
	while (*clen && isspace((unsigned char)(*cell)[*clen - 1]))
		(*clen)--;
	return 0;
}

static int is_call_name(const char *s, size_t n)
{
	if (n == 0 || n > KC_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_$.", s[i]))
			return 0;
	return 1;
}

/* /syscalls: pkg/manager/http.go httpSyscalls rendering
 * pkg/manager/html/syscalls.html: after <caption>Per-syscall coverage:
 * </caption> and the header, one <tr> per call with 7 cells: "NAME" or
 * "NAME [ID]", inputs (link), total, coverage (link), cover overflows,
 * comps overflows, prio (link). */
int kc_syz_parse_syscalls(const char *p, size_t len, struct kc_syz_counters *c, struct kc_err *err)
{
	const char *cap = memmem(p, len, "<caption>Per-syscall coverage:</caption>", 40);
	struct kc_syz_counter *v = NULL;
	size_t pos, n = 0, vcap = 0, row = 0;
	int ret = -1;

	if (!cap || !(cap = memmem(cap, len - (size_t)(cap - p), "<tbody>", 7))) {
		kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: no per-syscall coverage table");
		goto out;
	}
	pos = (size_t)(cap - p) + 7;
	while (expect(p, len, &pos, "</tbody>") < 0) {
		const char *cell[7];
		size_t clen[7], nlen;
		uint64_t x = 0;

		row++;
		if (expect(p, len, &pos, "<tr>") < 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: expected <tr> or </tbody>", row);
			goto out;
		}
		for (int k = 0; k < 7; k++)
			if (td(p, len, &pos, &cell[k], &clen[k]) < 0) {
				kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: expected 7 <td> cells", row);
				goto out;
			}
		if (expect(p, len, &pos, "</tr>") < 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: expected </tr> after 7 cells", row);
			goto out;
		}
		for (nlen = 0; nlen < clen[0] && cell[0][nlen] != ' '; nlen++)
			;
		if (!is_call_name(cell[0], nlen) ||
		    (nlen < clen[0] && (clen[0] - nlen < 4 || cell[0][nlen + 1] != '[' ||
					cell[0][clen[0] - 1] != ']'))) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: bad syscall name cell", row);
			goto out;
		}
		if (clen[4] == 0 || clen[4] > 16) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: cover overflows is not a count", row);
			goto out;
		}
		for (size_t i = 0; i < clen[4]; i++) {
			if (!isdigit((unsigned char)cell[4][i])) {
				kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: row %zu: cover overflows is not a count", row);
				goto out;
			}
			x = x * 10 + (uint64_t)(cell[4][i] - '0');
		}
		if (n >= MAX_SYSCALLS) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: more than %d rows", MAX_SYSCALLS);
			goto out;
		}
		if (KC_GROW(v, vcap, n + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(v[n].name, cell[0], nlen);
		v[n].name[nlen] = '\0';
		v[n].n = x;
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_counter);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1].name, v[i].name) == 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "/syscalls: %s listed twice", v[i].name);
			goto out;
		}
	c->ovf = v;
	c->novf = n;
	v = NULL;
	ret = 0;
out:
	free(v);
	return ret;
}

static uint64_t counter_of(const struct kc_syz_counters *c, const char *name)
{
	struct kc_syz_counter key;
	const struct kc_syz_counter *f;

	if (!c->novf)
		return 0;
	snprintf(key.name, sizeof(key.name), "%s", name);
	f = bsearch(&key, c->ovf, c->novf, sizeof(*c->ovf), cmp_counter);
	return f ? f->n : 0;
}

/* ---- state file ------------------------------------------------------------ */

static void report_identity(struct kc_syz *z, struct kc_report *r, const char *boot_id)
{
	snprintf(r->machine, sizeof(r->machine), "%s", z->o.name);
	snprintf(r->boot_id, sizeof(r->boot_id), "%s", boot_id);
	snprintf(r->label, sizeof(r->label), "%s", z->label);
}

/* {"version":1,"manager":URL,"build_id":HEX,"execs":N,"start_time":S,
 *  "overflows":{"call":N,...},"sent":HEX of a REPORT frame of the sent PCs} */
static int state_save(struct kc_syz *z, struct kc_err *err)
{
	struct kc_buf frame = KC_BUF_INIT, hex = KC_BUF_INIT;
	json_t *root = NULL, *ovf = NULL;
	char *text = NULL;
	int ret = -1;

	if (kc_wire_encode_report(&z->sent, &frame, err) < 0)
		goto out;
	for (size_t i = 0; i < frame.len; i++)
		kc_buf_addf(&hex, "%02x", frame.data[i]);
	ovf = json_object();
	root = json_object();
	if (!ovf || !root || hex.oom)
		goto oom;
	for (size_t i = 0; i < z->last.novf; i++)
		if (json_object_set_new(ovf, z->last.ovf[i].name,
					json_integer((json_int_t)z->last.ovf[i].n)) < 0)
			goto oom;
	if (json_object_set_new(root, "version", json_integer(1)) < 0 ||
	    json_object_set_new(root, "manager", json_string(z->manager)) < 0 ||
	    json_object_set_new(root, "build_id", json_string(z->vm.build_id)) < 0 ||
	    json_object_set_new(root, "execs", json_integer((json_int_t)z->last.execs)) < 0 ||
	    json_object_set_new(root, "start_time", json_real(z->last.start_time)) < 0 ||
	    json_object_set(root, "overflows", ovf) < 0 ||
	    json_object_set_new(root, "sent", json_stringn(hex.data ? (char *)hex.data : "",
							    hex.len)) < 0)
		goto oom;
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		goto oom;
	ret = kc_write_file_atomic(z->state_path, text, strlen(text), err);
	goto out;
oom:
	kc_err_set(err, KC_E_INTERNAL, "out of memory");
out:
	free(text);
	json_decref(root);
	json_decref(ovf);
	kc_buf_release(&hex);
	kc_buf_release(&frame);
	return ret;
}

static int unhex(const char *s, size_t n, struct kc_buf *out)
{
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;

		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]) ||
		    sscanf(s + i, "%2x", &v) != 1)
			return -1;
		kc_buf_add_u8(out, (uint8_t)v);
	}
	return out->oom ? -1 : 0;
}

/* Load the state file if there is one. A state of another manager URL or
 * kernel build is ignored (the PCs and counters belong to that one). */
static int state_load(struct kc_syz *z, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT, frame = KC_BUF_INIT;
	struct kc_report sent;
	struct kc_err e;
	json_error_t je;
	json_t *root = NULL, *ovf, *v;
	const char *key;
	int ret = -1;

	kc_report_init(&sent);
	kc_err_clear(&e);
	if (kc_read_file(z->state_path, STATE_MAX, &b, &e) < 0) {
		if (e.code == KC_E_NOT_FOUND) {
			ret = 0;
			goto out;
		}
		if (err)
			*err = e;
		goto out;
	}
	root = json_loadb(b.data ? (const char *)b.data : "", b.len, JSON_REJECT_DUPLICATES, &je);
	ovf = json_object_get(root, "overflows");
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
	    !json_is_string(json_object_get(root, "manager")) ||
	    !json_is_string(json_object_get(root, "build_id")) ||
	    !json_is_integer(json_object_get(root, "execs")) ||
	    !json_is_number(json_object_get(root, "start_time")) || !json_is_object(ovf) ||
	    !json_is_string(json_object_get(root, "sent"))) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not a syzkaller bridge state file (remove it to start over)",
			   z->state_path);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(root, "manager")), z->manager) != 0 ||
	    strcmp(json_string_value(json_object_get(root, "build_id")), z->vm.build_id) != 0) {
		ret = 0; /* another manager or kernel: start over */
		goto out;
	}
	v = json_object_get(root, "sent");
	if (unhex(json_string_value(v), json_string_length(v), &frame) < 0 ||
	    kc_wire_decode_report(frame.data, frame.len, &sent, err) < 0) {
		kc_err_prefix(err, "%s: sent PCs", z->state_path);
		goto out;
	}
	z->last.execs = (uint64_t)json_integer_value(json_object_get(root, "execs"));
	z->last.start_time = json_number_value(json_object_get(root, "start_time"));
	z->last.ovf = calloc(json_object_size(ovf) + 1, sizeof(*z->last.ovf));
	if (!z->last.ovf) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	json_object_foreach(ovf, key, v) {
		struct kc_syz_counter *c = &z->last.ovf[z->last.novf];

		if (!json_is_integer(v) || json_integer_value(v) < 0 || !is_call_name(key, strlen(key))) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: bad overflow counter '%s'", z->state_path, key);
			goto out;
		}
		snprintf(c->name, sizeof(c->name), "%s", key);
		c->n = (uint64_t)json_integer_value(v);
		z->last.novf++;
	}
	if (z->last.novf > 1)
		qsort(z->last.ovf, z->last.novf, sizeof(*z->last.ovf), cmp_counter);
	kc_report_release(&z->sent);
	z->sent = sent;
	kc_report_init(&sent);
	z->have_last = 1;
	ret = 0;
out:
	if (ret < 0)
		counters_release(&z->last);
	kc_report_release(&sent);
	json_decref(root);
	kc_buf_release(&frame);
	kc_buf_release(&b);
	return ret;
}

/* ---- the bridge ------------------------------------------------------------ */

static int valid_instance(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return s[0] != '.';
}

struct kc_syz *kc_syz_open(const struct kc_syz_opts *o, struct kc_err *err)
{
	struct kc_syz *z = calloc(1, sizeof(*z));
	size_t n;

	if (!z) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	z->o = *o;
	kc_report_init(&z->sent);
	if (!o->manager || (strncmp(o->manager, "http://", 7) != 0 &&
			    strncmp(o->manager, "https://", 8) != 0)) {
		kc_err_set(err, KC_E_BAD_INPUT, "--manager must be an http:// or https:// URL");
		goto fail;
	}
	n = strlen(o->manager);
	while (n && o->manager[n - 1] == '/')
		n--;
	if (n >= sizeof(z->manager)) {
		kc_err_set(err, KC_E_BAD_INPUT, "--manager URL too long");
		goto fail;
	}
	memcpy(z->manager, o->manager, n);
	z->manager[n] = '\0';
	if (!o->name || !valid_instance(o->name)) {
		kc_err_set(err, KC_E_BAD_INPUT, "--name must be 1..64 characters of [A-Za-z0-9._-], not starting with '.'");
		goto fail;
	}
	snprintf(z->label, sizeof(z->label), "syzkaller/%s", o->name);
	if (!o->vmlinux) {
		kc_err_set(err, KC_E_BAD_INPUT, "syzkaller needs --vmlinux PATH (the kernel the manager fuzzes)");
		goto fail;
	}
	if (kc_vmlinux_read(o->vmlinux, &z->vm, err) < 0 ||
	    kc_spool_open(&z->spool, o->spool_dir, err) < 0)
		goto fail;
	if (snprintf(z->state_path, sizeof(z->state_path), "%s/syzkaller.%s.state", z->spool.dir,
		     o->name) >= (int)sizeof(z->state_path)) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: spool path too long", z->spool.dir);
		goto fail;
	}
	report_identity(z, &z->sent, "sent");
	if (state_load(z, err) < 0)
		goto fail;
	z->curl = curl_easy_init();
	if (!z->curl) {
		kc_err_set(err, KC_E_INTERNAL, "curl_easy_init failed");
		goto fail;
	}
	return z;
fail:
	kc_syz_close(z);
	return NULL;
}

void kc_syz_close(struct kc_syz *z)
{
	if (!z)
		return;
	if (z->curl)
		curl_easy_cleanup(z->curl);
	kc_report_release(&z->sent);
	counters_release(&z->last);
	free(z);
}

static void fetched_release(struct fetched *f)
{
	free(f->pcs);
	free(f->mods);
	counters_release(&f->now);
}

/* Fetch and parse everything before anything is spooled. */
static int fetch_all(struct kc_syz *z, struct fetched *f, struct kc_err *err)
{
	const char *modules_dir = z->o.modules_dir;
	struct kc_buf b = KC_BUF_INIT;
	int ret = -1;

	if (http_get(z, "/rawcover", RAWCOVER_MAX, &b, err) < 0 ||
	    kc_syz_parse_rawcover((const char *)b.data, b.len, z->o.pc_adjust, &f->pcs, &f->npcs,
				  err) < 0 ||
	    http_get(z, "/modules?raw=1", MODULES_MAX, &b, err) < 0 ||
	    kc_syz_parse_modules((const char *)b.data, b.len, modules_dir, &f->mods, &f->nmods,
				 err) < 0 ||
	    http_get(z, "/metrics", METRICS_MAX, &b, err) < 0 ||
	    kc_syz_parse_metrics((const char *)b.data, b.len, &f->now, err) < 0 ||
	    http_get(z, "/syscalls", SYSCALLS_MAX, &b, err) < 0 ||
	    kc_syz_parse_syscalls((const char *)b.data, b.len, &f->now, err) < 0)
		goto out;
	ret = 0;
out:
	kc_buf_release(&b);
	return ret;
}

/* The boot of this kernel build and module layout: "syz-" and 16 hex
 * digits of an FNV-1a hash, so the same layout is the same boot again. */
static void boot_id_of(const struct kc_syz *z, const struct fetched *f, char *out, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char tmp[KC_MODNAME_MAX + 64];

	for (const char *s = z->vm.build_id; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	for (uint32_t i = 0; i < f->nmods; i++) {
		snprintf(tmp, sizeof(tmp), "|%s@%llx+%llx", f->mods[i].name,
			 (unsigned long long)f->mods[i].core_base,
			 (unsigned long long)f->mods[i].core_size);
		for (const char *s = tmp; *s; s++)
			h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	}
	snprintf(out, size, "syz-%016llx", (unsigned long long)h);
}

static int spool_map(struct kc_syz *z, struct fetched *f, const char *boot_id, int *made,
		     struct kc_err *err)
{
	struct kc_addrmap m;
	int ret;

	*made = 0;
	if (kc_spool_has_map(&z->spool, boot_id))
		return 0;
	/* No KASLR: the runtime _text is the link-time one. */
	if (kc_addrmap_from_vmlinux(&z->vm, z->o.name, boot_id, "", f->mods, f->nmods, &m,
				    err) < 0)
		return -1;
	ret = kc_spool_put_map(&z->spool, &m, err);
	kc_addrmap_release(&m);
	*made = ret == 0;
	return ret;
}

/* A new report of this instance's boot with a fresh upload id. */
static int new_report(struct kc_syz *z, struct kc_report *r, const char *boot_id,
		      struct kc_err *err)
{
	kc_report_init(r);
	report_identity(z, r, boot_id);
	r->created_unix = (uint64_t)time(NULL);
	if (getrandom(r->upload_id, KC_UPLOAD_ID_LEN, 0) != KC_UPLOAD_ID_LEN)
		return kc_err_set(err, KC_E_IO, "getrandom: %s", strerror(errno));
	return 0;
}

/* Spool r after checking that its frame passes the decoder's header checks
 * (size, compression ratio): a report the server must refuse is an error
 * here, not a file in rejected/ later. */
static int spool_report(struct kc_syz *z, const struct kc_report *r, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	enum kc_msg_kind kind;
	int ret = -1;

	if (kc_wire_encode_report(r, &b, err) < 0 || kc_wire_peek_kind(b.data, b.len, &kind, err) < 0)
		kc_err_prefix(err, "report of %u runs", r->nruns);
	else
		ret = kc_spool_put_report(&z->spool, r, err);
	kc_buf_release(&b);
	return ret;
}

/* Append one run to r, spooling r and starting a new one when full. */
static int add_run(struct kc_syz *z, struct kc_report *r, const char *boot_id,
		   const struct kc_run *run, unsigned *reports, struct kc_err *err)
{
	if (r->nruns == RUNS_PER_REPORT) {
		if (spool_report(z, r, err) < 0)
			return -1;
		(*reports)++;
		kc_report_release(r);
		if (new_report(z, r, boot_id, err) < 0)
			return -1;
	}
	return kc_report_add_run(r, run, err);
}

int kc_syz_poll(struct kc_syz *z, struct kc_syz_result *res, struct kc_err *err)
{
	struct fetched f;
	struct kc_report r, cur;
	struct kc_run run;
	char boot_id[KC_BOOT_ID_MAX + 1];
	uint64_t base_execs, runs, left;
	int restarted = 0, ret = -1;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	kc_report_init(&r);
	kc_report_init(&cur);
	if (fetch_all(z, &f, err) < 0)
		goto out;

	/* A manager restart starts its counters at 0 (and its coverage from
	 * the corpus): the start time changes, or a counter goes down. */
	if (z->have_last) {
		restarted = f.now.execs < z->last.execs ||
			    (f.now.start_time != 0 && z->last.start_time != 0 &&
			     f.now.start_time != z->last.start_time);
		for (size_t i = 0; i < z->last.novf && !restarted; i++)
			restarted = counter_of(&f.now, z->last.ovf[i].name) < z->last.ovf[i].n;
	}
	base_execs = z->have_last && !restarted ? z->last.execs : 0;
	runs = f.now.execs - base_execs;

	/* Coverage: the PCs the manager shows that were never sent. A manager
	 * that restarted shows fewer; they are all known, nothing is sent. */
	report_identity(z, &cur, "sent");
	if (kc_report_add_pcs(&cur, f.pcs, f.npcs, err) < 0)
		goto out;
	res->manager_pcs = kc_report_npcs(&cur);
	kc_report_andnot(&cur, &z->sent);
	res->new_pcs = kc_report_npcs(&cur);

	boot_id_of(z, &f, boot_id, sizeof(boot_id));
	if ((res->new_pcs || runs) && spool_map(z, &f, boot_id, &res->new_map, err) < 0)
		goto out;
	if (new_report(z, &r, boot_id, err) < 0 || kc_report_or(&r, &cur, err) < 0)
		goto out;

	/* One run per program executed since the last poll; an overflow event
	 * (per call) makes one of them overflowed, with its syscall as
	 * workload, at most one per program. */
	memset(&run, 0, sizeof(run));
	run.mode = KC_MODE_TRACE;
	run.capacity_words = z->o.cover_words - 1;
	left = runs;
	for (size_t i = 0; i < f.now.novf && left; i++) {
		uint64_t d = f.now.ovf[i].n -
			     (z->have_last && !restarted ? counter_of(&z->last, f.now.ovf[i].name) : 0);

		snprintf(run.workload, sizeof(run.workload), "%s", f.now.ovf[i].name);
		run.overflowed = 1;
		run.used_words = run.capacity_words;
		for (; d && left; d--, left--, res->overflowed++)
			if (add_run(z, &r, boot_id, &run, &res->reports, err) < 0)
				goto out;
	}
	run.workload[0] = '\0';
	run.overflowed = 0;
	run.used_words = 0; /* not known: syzkaller shows no fill level */
	for (; left; left--)
		if (add_run(z, &r, boot_id, &run, &res->reports, err) < 0)
			goto out;
	if (r.nruns || kc_report_npcs(&r)) {
		if (spool_report(z, &r, err) < 0)
			goto out;
		res->reports++;
	}

	/* Only now remember: a failure above leaves the state as it was. */
	if (kc_report_or(&z->sent, &cur, err) < 0)
		goto out;
	counters_release(&z->last);
	z->last = f.now;
	memset(&f.now, 0, sizeof(f.now));
	z->have_last = 1;
	if (state_save(z, err) < 0)
		goto out;
	res->runs = runs;
	res->restarted = restarted;
	ret = 0;
out:
	kc_report_release(&r);
	kc_report_release(&cur);
	fetched_release(&f);
	return ret;
}
