/*
 * kdesc.c - parsers for the stand-in's kernel description and boot files,
 * and the PC formula of the emulated kernel. Shared by the LD_PRELOAD
 * library (which runs the sites of a "syscall") and kcov-standin-mksysroot
 * (which writes a /proc and /sys snapshot of the same boot). The grammar is
 * strict: unknown keywords, duplicate names, out-of-range offsets and
 * malformed numbers are errors naming file:line.
 */
#include "kdesc.h"
#include "grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 4096
#define LINE_MAX_LEN 65536

void sd_kernel_init(struct sd_kernel *k)
{
	memset(k, 0, sizeof(*k));
}

void sd_kernel_release(struct sd_kernel *k)
{
	free(k->mods);
	free(k->sites);
	free(k->site_slots);
	free(k->steps);
	free(k->calls);
	sd_kernel_init(k);
}

void sd_boot_init(struct sd_boot *b)
{
	memset(b, 0, sizeof(*b));
}

void sd_boot_release(struct sd_boot *b)
{
	free(b->mod_base);
	sd_boot_init(b);
}

int sd_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!s[2])
			return -1;
		*v = strtoull(s + 2, &end, 16);
	} else {
		*v = strtoull(s, &end, 10);
	}
	return (errno || *end) ? -1 : 0;
}

static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

static int hex_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n > SD_BUILD_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Split line in place on blanks; returns the field count or -1 if too many. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	for (;;) {
		line += strspn(line, " \t\r");
		if (!*line)
			return n;
		if (n == max)
			return -1;
		f[n++] = line;
		line += strcspn(line, " \t\r");
		if (*line)
			*line++ = '\0';
	}
}

/* Match "key=value"; returns value or NULL. */
static const char *kv(const char *field, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(field, key, n) == 0 && field[n] == '=')
		return field + n + 1;
	return NULL;
}

static int copy_name(char *dst, size_t max, const char *src)
{
	size_t n = strlen(src);

	if (n > max)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_kernel_line(struct sd_kernel *k, char **f, int nf, const char *where,
			     struct kc_err *err)
{
	int have = 0;

	if (k->link_text)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: second 'kernel' line", where);
	for (int i = 1; i < nf; i++) {
		const char *v;
		int bit;

		if ((v = kv(f[i], "build_id")) && hex_ok(v)) {
			bit = 1;
			copy_name(k->build_id, SD_BUILD_ID_MAX, v);
		} else if ((v = kv(f[i], "release")) && name_ok(v, SD_RELEASE_MAX)) {
			bit = 2;
			copy_name(k->release, SD_RELEASE_MAX, v);
		} else if ((v = kv(f[i], "link_text")) && sd_parse_u64(v, &k->link_text) == 0 &&
			   k->link_text) {
			bit = 4;
		} else if ((v = kv(f[i], "text_size")) && sd_parse_u64(v, &k->text_size) == 0 &&
			   k->text_size && k->text_size <= (1ull << 32)) {
			bit = 8;
		} else {
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: bad kernel field '%s'", where, f[i]);
		}
		if (have & bit)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: duplicate kernel field '%s'", where, f[i]);
		have |= bit;
	}
	if (have != 15)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: kernel needs build_id, release, link_text, text_size",
				  where);
	if (k->link_text + k->text_size < k->link_text)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: kernel text wraps", where);
	return 0;
}

static int parse_module_line(struct sd_kernel *k, char **f, int nf, const char *where,
			     struct kc_err *err)
{
	struct sd_module m, *arr;
	int have = 0;

	memset(&m, 0, sizeof(m));
	if (k->ncalls)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: modules must come before syscalls", where);
	for (int i = 1; i < nf; i++) {
		const char *v;
		int bit;

		if ((v = kv(f[i], "name")) && name_ok(v, SD_NAME_MAX) && !strchr(v, '+')) {
			bit = 1;
			copy_name(m.name, SD_NAME_MAX, v);
		} else if ((v = kv(f[i], "build_id")) && hex_ok(v)) {
			bit = 2;
			copy_name(m.build_id, SD_BUILD_ID_MAX, v);
		} else if ((v = kv(f[i], "core_size")) && sd_parse_u64(v, &m.core_size) == 0 &&
			   m.core_size && m.core_size < (1ull << 32)) {
			bit = 4;
		} else if ((v = kv(f[i], "text_offset")) && sd_parse_u64(v, &m.text_offset) == 0) {
			bit = 8;
		} else {
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: bad module field '%s'", where, f[i]);
		}
		if (have & bit)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: duplicate module field '%s'", where, f[i]);
		have |= bit;
	}
	if (have != 15)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: module needs name, build_id, core_size, text_offset",
				  where);
	if (strcmp(m.name, "vmlinux") == 0 || sd_kernel_module(k, m.name) >= 0)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: module name '%s' is reserved or repeated", where, m.name);
	if (m.text_offset >= m.core_size)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: text_offset lies outside the module", where);
	arr = realloc(k->mods, (k->nmods + 1) * sizeof(*arr));
	if (!arr)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	k->mods = arr;
	k->mods[k->nmods++] = m;
	return 0;
}

static uint32_t site_hash(uint32_t image, uint64_t off)
{
	uint64_t h = (off ^ ((uint64_t)image << 56)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

/* Double the site index (k->site_slots: open addressing, slot = index + 1,
 * 0 = empty) and put every site back. */
static int site_rehash(struct sd_kernel *k)
{
	uint32_t cap = k->site_cap ? k->site_cap * 2 : 1024, *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t i = 0; i < k->nsites; i++) {
		uint32_t h = site_hash(k->sites[i].image, k->sites[i].off) & (cap - 1);

		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = i + 1;
	}
	free(k->site_slots);
	k->site_slots = slots;
	k->site_cap = cap;
	return 0;
}

/* Return the index of (image, off), adding the site when new. A kernel-like
 * description names tens of thousands of sites and every process that
 * loads the stand-in parses it: a hash, not a scan of the sites so far. */
static int site_index(struct sd_kernel *k, uint32_t image, uint64_t off, uint32_t *idx,
		      struct kc_err *err)
{
	uint32_t h;

	if (2 * ((size_t)k->nsites + 1) > k->site_cap && site_rehash(k) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (h = site_hash(image, off) & (k->site_cap - 1); k->site_slots[h];
	     h = (h + 1) & (k->site_cap - 1)) {
		const struct sd_site *st = &k->sites[k->site_slots[h] - 1];

		if (st->image == image && st->off == off) {
			*idx = k->site_slots[h] - 1;
			return 0;
		}
	}
	if (KC_GROW(k->sites, k->sites_cap, (size_t)k->nsites + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	k->sites[k->nsites].image = image;
	k->sites[k->nsites].off = off;
	k->site_slots[h] = k->nsites + 1;
	*idx = k->nsites++;
	return 0;
}

/* Parse "IMAGE+0xOFF[*N]" into one step. */
static int parse_token(struct sd_kernel *k, char *tok, const char *where, struct sd_step *st,
		       struct kc_err *err)
{
	char *plus = strchr(tok, '+'), *star;
	uint64_t off, count = 1, limit;
	uint32_t image = 0;

	if (!plus)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: token '%s' is not IMAGE+0xOFF[*N]", where, tok);
	*plus = '\0';
	star = strchr(plus + 1, '*');
	if (star) {
		*star = '\0';
		if (sd_parse_u64(star + 1, &count) < 0 || count == 0 || count > SD_REPEAT_MAX)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: repeat count of '%s' must be 1..%u", where, tok,
					  SD_REPEAT_MAX);
	}
	if (strncmp(plus + 1, "0x", 2) != 0 || sd_parse_u64(plus + 1, &off) < 0)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: offset of '%s' must be 0x-prefixed hex", where, tok);
	if (strcmp(tok, "vmlinux") == 0) {
		limit = k->text_size;
	} else {
		int m = sd_kernel_module(k, tok);

		if (m < 0)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: unknown image '%s'", where, tok);
		image = (uint32_t)m + 1;
		limit = k->mods[m].core_size - k->mods[m].text_offset;
	}
	if (off + 5 > limit)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: offset %#llx lies outside %s's text", where,
				  (unsigned long long)off, tok);
	st->count = (uint32_t)count;
	return site_index(k, image, off, &st->site, err);
}

static int parse_call_line(struct sd_kernel *k, char **f, int nf, int remote, const char *where,
			   struct kc_err *err)
{
	struct sd_syscall *c;
	struct sd_step *steps;

	if (nf < 3 || !name_ok(f[1], SD_NAME_MAX))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: expected '%s NAME TOKEN...'", where, f[0]);
	if (sd_kernel_find(k, f[1], remote))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: %s '%s' defined twice", where, f[0], f[1]);
	c = realloc(k->calls, (k->ncalls + 1) * sizeof(*c));
	if (!c)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	k->calls = c;
	steps = realloc(k->steps, (k->nsteps + (size_t)nf - 2) * sizeof(*steps));
	if (!steps)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	k->steps = steps;
	c = &k->calls[k->ncalls];
	memset(c, 0, sizeof(*c));
	copy_name(c->name, SD_NAME_MAX, f[1]);
	c->remote = remote;
	c->first = k->nsteps;
	for (int i = 2; i < nf; i++) {
		if (parse_token(k, f[i], where, &k->steps[k->nsteps], err) < 0)
			return -1;
		k->nsteps++;
		c->nsteps++;
	}
	k->ncalls++;
	return 0;
}

/* Read path line by line, calling fn on the blank-split fields of each
 * non-comment line. */
static int for_each_line(const char *path, int (*fn)(void *ctx, char **f, int nf,
						       const char *where, struct kc_err *err),
			 void *ctx, struct kc_err *err)
{
	char *line = NULL, **f = NULL, where[4200];
	size_t cap = 0;
	unsigned long lineno = 0;
	ssize_t n;
	FILE *fp;
	int ret = -1;

	fp = fopen(path, "re");
	if (!fp)
		return kc_err_errno(err, errno, "%s: %s", path, strerror(errno));
	f = calloc(MAX_FIELDS, sizeof(*f));
	if (!f) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	while ((n = getline(&line, &cap, fp)) >= 0) {
		char *hash;
		int nf;

		lineno++;
		snprintf(where, sizeof(where), "%s:%lu", path, lineno);
		if (n > LINE_MAX_LEN || (size_t)n != strlen(line)) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: line too long or contains NUL", where);
			goto out;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		line[strcspn(line, "\n")] = '\0';
		nf = split(line, f, MAX_FIELDS);
		if (nf < 0) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "%s: more than %d fields", where, MAX_FIELDS);
			goto out;
		}
		if (nf > 0 && fn(ctx, f, nf, where, err) < 0)
			goto out;
	}
	if (ferror(fp)) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: read error", path);
		goto out;
	}
	ret = 0;
out:
	free(line);
	free(f);
	fclose(fp);
	return ret;
}

static int kernel_line(void *ctx, char **f, int nf, const char *where, struct kc_err *err)
{
	struct sd_kernel *k = ctx;

	if (strcmp(f[0], "kernel") == 0)
		return parse_kernel_line(k, f, nf, where, err);
	if (!k->link_text)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: the 'kernel' line must come first", where);
	if (strcmp(f[0], "module") == 0)
		return parse_module_line(k, f, nf, where, err);
	if (strcmp(f[0], "syscall") == 0)
		return parse_call_line(k, f, nf, 0, where, err);
	if (strcmp(f[0], "remote") == 0)
		return parse_call_line(k, f, nf, 1, where, err);
	return kc_err_set(err, KC_E_BAD_INPUT, "%s: unknown keyword '%s'", where, f[0]);
}

int sd_kernel_load(const char *path, struct sd_kernel *k, struct kc_err *err)
{
	sd_kernel_init(k);
	if (for_each_line(path, kernel_line, k, err) < 0)
		goto fail;
	if (!k->link_text) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: no 'kernel' line", path);
		goto fail;
	}
	return 0;
fail:
	sd_kernel_release(k);
	return -1;
}

const struct sd_syscall *sd_kernel_find(const struct sd_kernel *k, const char *name, int remote)
{
	for (uint32_t i = 0; i < k->ncalls; i++)
		if (k->calls[i].remote == remote && strcmp(k->calls[i].name, name) == 0)
			return &k->calls[i];
	return NULL;
}

int sd_kernel_module(const struct sd_kernel *k, const char *name)
{
	for (uint32_t i = 0; i < k->nmods; i++)
		if (strcmp(k->mods[i].name, name) == 0)
			return (int)i;
	return -1;
}

struct boot_ctx {
	const struct sd_kernel *k;
	struct sd_boot *b;
	unsigned char *seen; /* per module */
	int have_kaslr;
};

static int boot_line(void *ctx, char **f, int nf, const char *where, struct kc_err *err)
{
	struct boot_ctx *c = ctx;

	if (strcmp(f[0], "kaslr") == 0 && nf == 2) {
		if (c->have_kaslr || sd_parse_u64(f[1], &c->b->kaslr) < 0)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s: bad or repeated kaslr", where);
		c->have_kaslr = 1;
		return 0;
	}
	if (strcmp(f[0], "module") == 0 && nf == 3) {
		int m = sd_kernel_module(c->k, f[1]);

		if (m < 0)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: module '%s' is not in the kernel", where, f[1]);
		if (c->seen[m] || sd_parse_u64(f[2], &c->b->mod_base[m]) < 0 ||
		    c->b->mod_base[m] + c->k->mods[m].core_size < c->b->mod_base[m])
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: bad or repeated base for '%s'", where, f[1]);
		c->seen[m] = 1;
		return 0;
	}
	if (strcmp(f[0], "boot_id") == 0 && nf == 2) {
		if (c->b->boot_id[0] || !name_ok(f[1], sizeof(c->b->boot_id) - 1))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: bad or repeated boot_id", where);
		copy_name(c->b->boot_id, sizeof(c->b->boot_id) - 1, f[1]);
		return 0;
	}
	return kc_err_set(err, KC_E_BAD_INPUT,
			  "%s: expected 'kaslr 0xOFF', 'module NAME 0xBASE' or 'boot_id ID'",
			  where);
}

int sd_boot_load(const char *path, const struct sd_kernel *k, struct sd_boot *b,
		 struct kc_err *err)
{
	struct boot_ctx c = { k, b, NULL, 0 };
	int ret = -1;

	sd_boot_init(b);
	b->nmods = k->nmods;
	b->mod_base = calloc(k->nmods + 1, sizeof(*b->mod_base));
	c.seen = calloc(k->nmods + 1, 1);
	if (!b->mod_base || !c.seen) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (for_each_line(path, boot_line, &c, err) < 0)
		goto out;
	if (!c.have_kaslr || !b->boot_id[0]) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: needs 'kaslr' and 'boot_id' lines", path);
		goto out;
	}
	for (uint32_t i = 0; i < k->nmods; i++) {
		if (!c.seen[i]) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "%s: no base for module '%s'", path, k->mods[i].name);
			goto out;
		}
	}
	ret = 0;
out:
	free(c.seen);
	if (ret < 0)
		sd_boot_release(b);
	return ret;
}

uint64_t sd_module_text(const struct sd_kernel *k, const struct sd_boot *b, uint32_t i)
{
	return b->mod_base[i] + k->mods[i].text_offset;
}

uint64_t sd_site_pc(const struct sd_kernel *k, const struct sd_boot *b, uint32_t s)
{
	const struct sd_site *site = &k->sites[s];
	uint64_t runtime;

	if (site->image == 0)
		runtime = k->link_text + b->kaslr + site->off;
	else
		runtime = sd_module_text(k, b, site->image - 1) + site->off;
	return runtime + 5 - b->kaslr;
}
