/*
 * kallsyms.c - parsers for the text and binary files that describe where a
 * running kernel and its modules sit in memory. They run on the collector
 * against live /proc and /sys (or recorded snapshots under a sysroot), so
 * they are strict: fixed field grammars, bounded lines, and errors that say
 * which file and line broke the rules.
 */
#include "kallsyms.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

/* Parse exactly the hex digits in [p, p+n) (optional 0x prefix). */
static int parse_hex(const char *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		n -= 2;
	}
	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 0;
}

static int parse_dec(const char *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	*v = x;
	return 0;
}

/* Line iterator: yields [line, line+n) without the newline. */
struct lines {
	const char *p, *end;
	unsigned long lineno;
};

static int next_line(struct lines *it, const char **line, size_t *n)
{
	const char *nl;

	if (it->p >= it->end)
		return 0;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	*line = it->p;
	*n = (size_t)((nl ? nl : it->end) - it->p);
	it->p = nl ? nl + 1 : it->end;
	it->lineno++;
	return 1;
}

/* Split a line into at most max space-separated fields (single spaces; a tab
 * ends the field list and is returned as the rest). */
struct field {
	const char *p;
	size_t n;
};

static int split(const char *line, size_t n, struct field *f, int max, char sep)
{
	int k = 0;
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != sep)
			continue;
		if (k == max)
			return -1;
		f[k].p = line + start;
		f[k].n = i - start;
		if (f[k].n == 0)
			return -1;
		k++;
		start = i + 1;
	}
	return k;
}

static int name_ok(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			return 0;
	return 1;
}

int kc_kallsyms_parse(const char *text, size_t len, const char *fname,
		      struct kc_kallsyms_info *out, struct kc_err *err)
{
	struct lines it = { text, text + len, 0 };
	const char *line;
	size_t n;
	int have_text = 0, have_etext = 0, nonzero = 0;

	memset(out, 0, sizeof(*out));
	while (next_line(&it, &line, &n)) {
		struct field f[3], mod[2];
		const char *tab = memchr(line, '\t', n);
		size_t main_len = tab ? (size_t)(tab - line) : n;
		uint64_t addr;
		int k;

		if (n > KC_KALLSYMS_LINE_MAX)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s:%lu: line longer than %d bytes", fname, it.lineno,
					  KC_KALLSYMS_LINE_MAX);
		k = split(line, main_len, f, 3, ' ');
		if (k != 3 || parse_hex(f[0].p, f[0].n, &addr) < 0 || f[1].n != 1 ||
		    !((f[1].p[0] | 0x20) >= 'a' && (f[1].p[0] | 0x20) <= 'z') ||
		    !name_ok(f[2].p, f[2].n, 511))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s:%lu: expected 'ADDRESS TYPE NAME [MODULE]'", fname,
					  it.lineno);
		if (tab) {
			size_t rest = n - main_len - 1;

			if (split(tab + 1, rest, mod, 2, ' ') != 1 || mod[0].n < 3 ||
			    mod[0].p[0] != '[' || mod[0].p[mod[0].n - 1] != ']' ||
			    !name_ok(mod[0].p + 1, mod[0].n - 2, KC_MODNAME_MAX))
				return kc_err_set(err, KC_E_BAD_INPUT,
						  "%s:%lu: malformed module tag", fname, it.lineno);
		}
		nonzero |= addr != 0;
		if (!tab && f[2].n == 5 && memcmp(f[2].p, "_text", 5) == 0) {
			out->text = addr;
			have_text = 1;
		} else if (!tab && f[2].n == 6 && memcmp(f[2].p, "_etext", 6) == 0) {
			out->etext = addr;
			have_etext = 1;
		}
		out->nsyms++;
	}
	if (out->nsyms && !nonzero)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: all addresses are 0: " KC_KPTR_HINT,
				  fname);
	if (!have_text || !have_etext)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: no %s symbol", fname, have_text ? "_etext" : "_text");
	if (out->text == 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: _text is at address 0: " KC_KPTR_HINT,
				  fname);
	if (out->etext <= out->text || out->etext - out->text > (1ull << 32))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: _etext %#llx does not follow _text %#llx sensibly", fname,
				  (unsigned long long)out->etext, (unsigned long long)out->text);
	return 0;
}

int kc_modules_parse(const char *text, size_t len, const char *fname, struct kc_module **mods,
		     uint32_t *n_out, struct kc_err *err)
{
	struct lines it = { text, text + len, 0 };
	struct kc_module *arr = NULL;
	uint32_t n = 0;
	size_t cap = 0;
	const char *line;
	size_t ln;

	while (next_line(&it, &line, &ln)) {
		struct field f[7];
		uint64_t size, base, refs;
		struct kc_module *m;
		int k;

		if (ln > KC_KALLSYMS_LINE_MAX) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s:%lu: line too long", fname, it.lineno);
			goto fail;
		}
		k = split(line, ln, f, 7, ' ');
		if (k < 6 || !name_ok(f[0].p, f[0].n, KC_MODNAME_MAX) ||
		    parse_dec(f[1].p, f[1].n, &size) < 0 ||
		    (parse_dec(f[2].p, f[2].n, &refs) < 0 && !(f[2].n == 1 && f[2].p[0] == '-')) ||
		    f[5].n < 3 || memcmp(f[5].p, "0x", 2) != 0 || parse_hex(f[5].p, f[5].n, &base) < 0 ||
		    (k == 7 && (f[6].p[0] != '(' || f[6].p[f[6].n - 1] != ')'))) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "%s:%lu: expected 'NAME SIZE REFS DEPS STATE 0xBASE [TAINT]'",
				   fname, it.lineno);
			goto fail;
		}
		if (!(f[4].n == 4 && memcmp(f[4].p, "Live", 4) == 0))
			continue;
		if (base == 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s:%lu: module address is 0: " KC_KPTR_HINT, fname,
				   it.lineno);
			goto fail;
		}
		if (size == 0 || base + size < base) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "%s:%lu: module extent is empty or wraps", fname, it.lineno);
			goto fail;
		}
		if (n >= KC_MAX_MODULES) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "%s: more than %u modules", fname, KC_MAX_MODULES);
			goto fail;
		}
		if (KC_GROW(arr, cap, (size_t)n + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto fail;
		}
		m = &arr[n++];
		memset(m, 0, sizeof(*m));
		memcpy(m->name, f[0].p, f[0].n);
		m->core_base = base;
		m->core_size = size;
	}
	*mods = arr;
	*n_out = n;
	return 0;
fail:
	free(arr);
	return -1;
}

int kc_parse_section_addr(const char *text, size_t len, const char *fname, uint64_t *addr,
			  struct kc_err *err)
{
	if (len && text[len - 1] == '\n')
		len--;
	if (len < 3 || memcmp(text, "0x", 2) != 0 || parse_hex(text, len, addr) < 0)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: expected a 0x-prefixed hex address", fname);
	return 0;
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int kc_notes_build_id(const unsigned char *p, size_t len, const char *fname, char *hex,
		      size_t hex_size, struct kc_err *err)
{
	static const char digits[] = "0123456789abcdef";
	size_t off = 0;

	while (len - off >= 12) {
		uint32_t namesz = rd32(p + off), descsz = rd32(p + off + 4), type = rd32(p + off + 8);
		size_t name_pad = ((size_t)namesz + 3) & ~(size_t)3;
		size_t desc_pad = ((size_t)descsz + 3) & ~(size_t)3;
		const unsigned char *name = p + off + 12;

		if (name_pad > len - off - 12 || desc_pad > len - off - 12 - name_pad)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: note at offset %zu overruns the file", fname, off);
		if (type == 3 && namesz == 4 && memcmp(name, "GNU", 4) == 0) {
			if (descsz == 0 || descsz * 2 + 1 > hex_size || descsz * 2 > KC_BUILD_ID_MAX)
				return kc_err_set(err, KC_E_BAD_INPUT,
						  "%s: build id of %u bytes is out of range",
						  fname, descsz);
			for (uint32_t i = 0; i < descsz; i++) {
				hex[2 * i] = digits[name[name_pad + i] >> 4];
				hex[2 * i + 1] = digits[name[name_pad + i] & 15];
			}
			hex[2 * descsz] = '\0';
			return 0;
		}
		off += 12 + name_pad + desc_pad;
	}
	return kc_err_set(err, KC_E_BAD_INPUT, "%s: no GNU build-id note", fname);
}
