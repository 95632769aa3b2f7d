/*
 * elfscan.c - what the ELF file says: a module's name (the GNU build id is
 * read by common/elfinfo.c, shared with the collector's syzkaller bridge),
 * and the coverage points, i.e. calls to the kcov callback: `e8 rel32`
 * calls whose target is exactly the callback in a linked vmlinux, PLT32/
 * PC32 relocations against it in a module (ET_REL); plus the bounds check
 * that refuses truncated files libelf would read as empty.
 */
#include "sym.h"
#include "unpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cov_callbacks[] = {
	"__sanitizer_cov_trace_pc",
	"__sanitizer_cov_trace_pc_guard",
};
#define NCALLBACKS (sizeof(cov_callbacks) / sizeof(cov_callbacks[0]))

void sym_read_modname(Elf *elf, size_t shstrndx, const char *path, struct kc_symtab *t)
{
	Elf_Scn *scn = NULL;
	const char *base;
	size_t len;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".modinfo") != 0)
			continue;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf)
			break;
		for (size_t i = 0; i < d->d_size;) {
			const char *s = (const char *)d->d_buf + i;
			size_t n = strnlen(s, d->d_size - i);

			if (n > 5 && memcmp(s, "name=", 5) == 0 && n - 5 < sizeof(t->modname)) {
				memcpy(t->modname, s + 5, n - 5);
				t->modname[n - 5] = '\0';
				return;
			}
			i += n + 1;
		}
		break;
	}
	/* Fallback: the file name without ".ko", '-' folded to '_' as the
	 * kernel does for KBUILD_MODNAME. */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	len = strlen(base) - kc_unpack_suffix_len(base);
	if (len > 3 && memcmp(base + len - 3, ".ko", 3) == 0)
		len -= 3;
	if (len >= sizeof(t->modname))
		len = sizeof(t->modname) - 1;
	for (size_t i = 0; i < len; i++)
		t->modname[i] = base[i] == '-' ? '_' : base[i];
	t->modname[len] = '\0';
}

static int add_point(struct sym_state *st, uint64_t off)
{
	struct kc_symtab *t = st->t;

	if (KC_GROW(t->points, st->pcap, t->npoints + 1) < 0)
		return -1;
	t->points[t->npoints].offset = off;
	t->points[t->npoints].file = KC_SYM_NONE;
	t->points[t->npoints].line = 0;
	t->points[t->npoints].func = KC_SYM_NONE;
	t->npoints++;
	return 0;
}

static Elf_Scn *find_symtab(Elf *elf, GElf_Shdr *out)
{
	Elf_Scn *scn = NULL, *dyn = NULL;
	GElf_Shdr dsh;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			*out = sh;
			return scn;
		}
		if (sh.sh_type == SHT_DYNSYM && !dyn) {
			dyn = scn;
			dsh = sh;
		}
	}
	if (dyn)
		*out = dsh;
	return dyn;
}

static bool is_callback(const char *name)
{
	for (size_t i = 0; i < NCALLBACKS; i++)
		if (strcmp(name, cov_callbacks[i]) == 0)
			return true;
	return false;
}

/* vmlinux: e8 rel32 calls whose target is a callback address. */
int sym_scan_exec(struct sym_state *st, Elf *elf, struct kc_err *err)
{
	struct kc_symtab *t = st->t;
	uint64_t targets[8];
	size_t ntargets = 0;
	bool have_text = false;
	uint64_t lowest = UINT64_MAX;
	GElf_Shdr symsh;
	Elf_Scn *symscn = find_symtab(elf, &symsh);
	Elf_Scn *scn = NULL;

	if (symscn) {
		Elf_Data *d = elf_getdata(symscn, NULL);
		size_t n = (d && symsh.sh_entsize) ? symsh.sh_size / symsh.sh_entsize : 0;

		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym))
				continue;
			name = elf_strptr(elf, symsh.sh_link, sym.st_name);
			if (!name)
				continue;
			if (!have_text && strcmp(name, "_text") == 0 && sym.st_shndx != SHN_UNDEF) {
				t->text_base = sym.st_value;
				have_text = true;
			} else if (sym.st_shndx != SHN_UNDEF && is_callback(name) &&
				   ntargets < sizeof(targets) / sizeof(targets[0])) {
				targets[ntargets++] = sym.st_value;
			}
		}
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR) && (sh.sh_flags & SHF_ALLOC) && sh.sh_addr < lowest)
			lowest = sh.sh_addr;
	}
	if (!have_text)
		t->text_base = lowest == UINT64_MAX ? 0 : lowest;
	st->addr_base = t->text_base;
	if (ntargets == 0)
		return 0;

	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		const unsigned char *b;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR) || !(sh.sh_flags & SHF_ALLOC))
			continue;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size < 5)
			continue;
		b = d->d_buf;
		for (size_t i = 0; i + 5 <= d->d_size; i++) {
			int32_t rel;
			uint64_t site, target;

			if (b[i] != 0xe8)
				continue;
			memcpy(&rel, b + i + 1, 4); /* x86_64 is little-endian */
			site = sh.sh_addr + i;
			target = site + 5 + (uint64_t)(int64_t)rel;
			for (size_t k = 0; k < ntargets; k++) {
				if (target != targets[k])
					continue;
				if (site < t->text_base)
					t->skipped_points++;
				else if (add_point(st, site - t->text_base) < 0)
					return kc_err_set(err, KC_E_INTERNAL, "out of memory");
				break;
			}
		}
	}
	return 0;
}

/* .ko: PLT32/PC32 relocations against a callback, preceded by 0xe8. */
int sym_scan_rel(struct sym_state *st, Elf *elf, size_t shstrndx, size_t *text_idx,
		    struct kc_err *err)
{
	GElf_Shdr symsh;
	Elf_Scn *symscn = find_symtab(elf, &symsh);
	Elf_Data *symd;
	Elf_Scn *scn = NULL;
	bool *iscb = NULL;
	size_t nsyms;
	int ret = -1;

	*text_idx = 0;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    strcmp(name, ".text") == 0 && (sh.sh_flags & SHF_EXECINSTR)) {
			*text_idx = elf_ndxscn(scn);
			break;
		}
	}
	if (!symscn || symsh.sh_type != SHT_SYMTAB || !symsh.sh_entsize)
		return 0; /* no symbols, no relocations to read */
	symd = elf_getdata(symscn, NULL);
	if (!symd)
		return kc_err_set(err, KC_E_BAD_INPUT, "reading .symtab: %s", elf_errmsg(-1));
	nsyms = symsh.sh_size / symsh.sh_entsize;
	iscb = calloc(nsyms ? nsyms : 1, sizeof(*iscb));
	if (!iscb)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < nsyms; i++) {
		GElf_Sym sym;
		const char *name;

		if (gelf_getsym(symd, (int)i, &sym) &&
		    (name = elf_strptr(elf, symsh.sh_link, sym.st_name)) && is_callback(name))
			iscb[i] = true;
	}

	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh, tsh;
		Elf_Scn *tscn;
		Elf_Data *rd, *td;
		size_t nrel;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		tscn = elf_getscn(elf, sh.sh_info);
		if (!tscn || !gelf_getshdr(tscn, &tsh) || !(tsh.sh_flags & SHF_EXECINSTR) ||
		    tsh.sh_type != SHT_PROGBITS)
			continue;
		rd = elf_getdata(scn, NULL);
		td = elf_rawdata(tscn, NULL);
		if (!rd || !td || !td->d_buf) {
			kc_err_set(err, KC_E_BAD_INPUT,
				   "reading relocation section %zu: %s", elf_ndxscn(scn),
				   elf_errmsg(-1));
			goto out;
		}
		nrel = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < nrel; i++) {
			GElf_Rela r;
			uint64_t sym, type;

			if (!gelf_getrela(rd, (int)i, &r))
				continue;
			sym = GELF_R_SYM(r.r_info);
			type = GELF_R_TYPE(r.r_info);
			if (sym >= nsyms || !iscb[sym] ||
			    (type != R_X86_64_PLT32 && type != R_X86_64_PC32))
				continue;
			/* r_offset is untrusted: r_offset + 4 could wrap. */
			if (r.r_offset < 1 || r.r_offset > td->d_size || td->d_size - r.r_offset < 4 ||
			    ((const unsigned char *)td->d_buf)[r.r_offset - 1] != 0xe8)
				continue;
			if (sh.sh_info != *text_idx) {
				st->t->skipped_points++;
				continue;
			}
			if (add_point(st, r.r_offset - 1) < 0) {
				kc_err_set(err, KC_E_INTERNAL, "out of memory");
				goto out;
			}
		}
	}
	ret = 0;
out:
	free(iscb);
	return ret;
}

static int cmp_point(const void *a, const void *b)
{
	const struct kc_sym_point *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void sym_sort_unique_points(struct kc_symtab *t)
{
	uint64_t n = 0;

	if (t->npoints == 0)
		return;
	/* The scan finds them in address order unless sections are out of
	 * order: sorting 2 M sorted points would cost 0.2 s for nothing. */
	for (uint64_t i = 1; i < t->npoints; i++)
		if (t->points[i - 1].offset > t->points[i].offset) {
			qsort(t->points, t->npoints, sizeof(*t->points), cmp_point);
			break;
		}
	for (uint64_t i = 0; i < t->npoints; i++)
		if (n == 0 || t->points[n - 1].offset != t->points[i].offset)
			t->points[n++] = t->points[i];
	t->npoints = n;
}

/* Reject files whose section headers or section contents lie beyond the
 * end of the file: libelf reads such files "successfully" as empty. */
int sym_check_bounds(Elf *elf, const GElf_Ehdr *eh, const char *path, struct kc_err *err)
{
	size_t fsize = 0, shnum = 0;
	Elf_Scn *scn = NULL;

	if (!elf_rawfile(elf, &fsize))
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, elf_errmsg(-1));
	if (elf_getshdrnum(elf, &shnum) != 0 || shnum == 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: no section headers", path);
	if (eh->e_shoff > fsize || (fsize - eh->e_shoff) / sizeof(Elf64_Shdr) < shnum)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: truncated (section headers past end of file)", path);
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: bad section header: %s", path, elf_errmsg(-1));
		if (sh.sh_type != SHT_NOBITS &&
		    (sh.sh_offset > fsize || sh.sh_size > fsize - sh.sh_offset))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: truncated (section %zu past end of file)", path,
					  elf_ndxscn(scn));
	}
	return 0;
}
