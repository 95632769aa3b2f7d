/*
 * symbolize.c - find the coverage points of a kernel binary and map each to
 * a source file, line and function.
 *
 * A coverage point is a call to the kcov callback (__sanitizer_cov_trace_pc
 * or its _guard variant). In a linked vmlinux we scan executable sections
 * for `e8 rel32` calls whose target is exactly the callback's address (so
 * stray 0xe8 bytes inside other instructions never match); in a module .ko
 * (ET_REL) the call targets are still unresolved, so we read the PLT32/PC32
 * relocations against the callback symbol instead. Lines come from DWARF
 * through libdw, opened via libdwfl so that ET_REL debug sections are
 * relocated for us. Resolution is one pass per compilation unit: the points
 * that fall into a CU's ranges are looked up by binary search in its line
 * table, and a single walk of its subprogram/inlined_subroutine tree stamps
 * every point with the innermost function covering it. Nothing here shells
 * out to binutils/LLVM tools. This file runs one symbolization; sym.h
 * names the modules that do each step.
 */
#include "sym.h"
#include "elfinfo.h"
#include "search.h"
#include "unpack.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

static uint64_t hash_bytes(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

static int intern_rehash(struct intern *ix, uint32_t n, uint64_t (*key)(const void *, uint32_t),
			 const void *ctx)
{
	uint32_t ncap = ix->cap ? ix->cap * 2 : 256;
	uint32_t *ns;

	while (ncap < 2 * (n + 1))
		ncap *= 2;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (uint32_t id = 0; id < n; id++) {
		uint32_t i = (uint32_t)key(ctx, id) & (ncap - 1);

		while (ns[i])
			i = (i + 1) & (ncap - 1);
		ns[i] = id + 1;
	}
	free(ix->slots);
	ix->slots = ns;
	ix->cap = ncap;
	return 0;
}

static uint64_t file_key(const void *ctx, uint32_t id)
{
	const struct kc_symtab *t = ctx;

	return hash_bytes(HASH_SEED, t->files[id]);
}

static uint64_t func_key(const void *ctx, uint32_t id)
{
	const struct kc_symtab *t = ctx;

	return hash_bytes(HASH_SEED ^ t->funcs[id].file, t->funcs[id].name);
}

/* Intern a normalized path; returns its index or KC_SYM_NONE on OOM. */
uint32_t sym_intern_file(struct sym_state *st, const char *path)
{
	struct kc_symtab *t = st->t;
	uint32_t i, id;
	size_t cap = st->fcap;

	if (2 * (t->nfiles + 1) > st->files_ix.cap &&
	    intern_rehash(&st->files_ix, t->nfiles, file_key, t) < 0)
		return KC_SYM_NONE;
	i = (uint32_t)hash_bytes(HASH_SEED, path) & (st->files_ix.cap - 1);
	while ((id = st->files_ix.slots[i]) != 0) {
		if (strcmp(t->files[id - 1], path) == 0)
			return id - 1;
		i = (i + 1) & (st->files_ix.cap - 1);
	}
	if (KC_GROW(t->files, cap, (size_t)t->nfiles + 1) < 0)
		return KC_SYM_NONE;
	st->fcap = cap;
	t->files[t->nfiles] = strdup(path);
	if (!t->files[t->nfiles])
		return KC_SYM_NONE;
	st->files_ix.slots[i] = t->nfiles + 1;
	return t->nfiles++;
}

uint32_t sym_intern_func(struct sym_state *st, const char *name, uint32_t file,
			    uint32_t decl_line)
{
	struct kc_symtab *t = st->t;
	uint32_t i, id;
	size_t cap = st->ucap;

	if (2 * (t->nfuncs + 1) > st->funcs_ix.cap &&
	    intern_rehash(&st->funcs_ix, t->nfuncs, func_key, t) < 0)
		return KC_SYM_NONE;
	i = (uint32_t)hash_bytes(HASH_SEED ^ file, name) & (st->funcs_ix.cap - 1);
	while ((id = st->funcs_ix.slots[i]) != 0) {
		struct kc_sym_func *f = &t->funcs[id - 1];

		if (f->file == file && strcmp(f->name, name) == 0)
			return id - 1;
		i = (i + 1) & (st->funcs_ix.cap - 1);
	}
	if (KC_GROW(t->funcs, cap, (size_t)t->nfuncs + 1) < 0)
		return KC_SYM_NONE;
	st->ucap = cap;
	t->funcs[t->nfuncs].name = strdup(name);
	if (!t->funcs[t->nfuncs].name)
		return KC_SYM_NONE;
	t->funcs[t->nfuncs].file = file;
	t->funcs[t->nfuncs].line_start = decl_line;
	t->funcs[t->nfuncs].line_end = 0;
	st->funcs_ix.slots[i] = t->nfuncs + 1;
	return t->nfuncs++;
}

static void finish_funcs(struct kc_symtab *t)
{
	uint32_t *mn = calloc(t->nfuncs ? t->nfuncs : 1, sizeof(*mn));

	for (uint64_t i = 0; i < t->npoints; i++) {
		const struct kc_sym_point *p = &t->points[i];
		struct kc_sym_func *f;

		if (p->file == KC_SYM_NONE)
			t->unresolved++;
		if (p->func == KC_SYM_NONE || p->line == 0)
			continue;
		f = &t->funcs[p->func];
		if (f->file != KC_SYM_NONE && f->file != p->file)
			continue;
		if (mn && (mn[p->func] == 0 || p->line < mn[p->func]))
			mn[p->func] = p->line;
		if (p->line > f->line_end)
			f->line_end = p->line;
	}
	for (uint32_t i = 0; i < t->nfuncs; i++) {
		struct kc_sym_func *f = &t->funcs[i];

		if (f->line_start == 0 && mn)
			f->line_start = mn[i];
		if (f->line_end < f->line_start)
			f->line_end = f->line_start;
	}
	free(mn);
}

/* ---- public API ----------------------------------------------------------- */

int kc_symbolize_file(const char *path, const struct kc_sym_opts *opts, struct kc_symtab *out,
		      struct kc_err *err)
{
	struct sym_state st = { .opts = opts, .t = out };
	Elf *elf = NULL;
	GElf_Ehdr eh;
	size_t shstrndx, text_idx = 0;
	int fd = -1, ret = -1;

	memset(out, 0, sizeof(*out));
	elf_version(EV_CURRENT);
	fd = kc_unpack_open(path, err); /* .ko.xz, .ko.zst, .ko.gz: decompressed */
	if (fd < 0)
		goto out;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not an ELF file", path);
		goto out;
	}
	if (!gelf_getehdr(elf, &eh) || gelf_getclass(elf) != ELFCLASS64) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not a 64-bit ELF file", path);
		goto out;
	}
	if (eh.e_machine != EM_X86_64) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%s: unsupported machine %u (x86_64 only)", path, eh.e_machine);
		goto out;
	}
	if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: no section headers: %s", path, elf_errmsg(-1));
		goto out;
	}
	if (sym_check_bounds(elf, &eh, path, err) < 0)
		goto out;
	kc_elf_build_id(elf, out->build_id, sizeof(out->build_id));
	if (eh.e_type == ET_REL) {
		out->is_module = 1;
		sym_read_modname(elf, shstrndx, path, out);
		if (sym_scan_rel(&st, elf, shstrndx, &text_idx, err) < 0)
			goto out;
	} else if (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) {
		if (sym_scan_exec(&st, elf, err) < 0)
			goto out;
	} else {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: unsupported ELF type %u", path, eh.e_type);
		goto out;
	}
	sym_sort_unique_points(out);
	if (out->npoints > UINT32_MAX) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: too many coverage points", path);
		goto out;
	}
	if (out->npoints && sym_resolve_dwarf(&st, path, fd, eh.e_type == ET_REL, text_idx, err) < 0)
		goto out;
	finish_funcs(out);
	ret = 0;
out:
	free(st.files_ix.slots);
	free(st.funcs_ix.slots);
	free(st.cu_pts);
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		kc_symtab_release(out);
	return ret;
}

void kc_symtab_release(struct kc_symtab *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->files);
	for (uint32_t i = 0; i < t->nfuncs; i++)
		free(t->funcs[i].name);
	free(t->funcs);
	free(t->points);
	memset(t, 0, sizeof(*t));
}

struct offset_key {
	const struct kc_symtab *t;
	uint64_t off;
};

static int offset_below(const void *ctx, size_t i)
{
	const struct offset_key *k = ctx;

	return k->t->points[i].offset < k->off;
}

uint64_t kc_symtab_lower(const struct kc_symtab *t, uint64_t off)
{
	struct offset_key k = { t, off };

	return kc_lower_bound(t->npoints, offset_below, &k);
}

int64_t kc_symtab_find(const struct kc_symtab *t, uint64_t off)
{
	uint64_t i = kc_symtab_lower(t, off);

	return i < t->npoints && t->points[i].offset == off ? (int64_t)i : -1;
}

