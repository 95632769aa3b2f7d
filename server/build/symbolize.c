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
 * out to binutils/LLVM tools.
 */
#include "symbolize.h"

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

#define PATH_CAP 4096 /* longest normalized source path we accept */

static const char *const cov_callbacks[] = {
	"__sanitizer_cov_trace_pc",
	"__sanitizer_cov_trace_pc_guard",
};
#define NCALLBACKS (sizeof(cov_callbacks) / sizeof(cov_callbacks[0]))

/* ---- small helpers ---------------------------------------------------- */

static int grow(void **arr, uint64_t *cap, uint64_t need, size_t elem)
{
	uint64_t ncap = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static uint64_t hash_bytes(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

/* Open-addressing index over the table's files[] or funcs[] (ids + 1). */
struct intern {
	uint32_t *slots;
	uint32_t cap; /* power of two */
};

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

/* ---- state of one run ---------------------------------------------------- */

struct sym_state {
	const struct kc_sym_opts *opts;
	struct kc_symtab *t;
	uint64_t pcap, fcap, ucap;
	struct intern files_ix, funcs_ix;
	uint64_t addr_base; /* DWARF address of offset 0 */
	uint32_t *cu_pts;   /* indices of the points of the current CU */
	uint64_t ncu_pts, cu_pts_cap;
};

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
static uint32_t intern_file(struct sym_state *st, const char *path)
{
	struct kc_symtab *t = st->t;
	uint32_t i, id;
	uint64_t cap = st->fcap;

	if (2 * (t->nfiles + 1) > st->files_ix.cap &&
	    intern_rehash(&st->files_ix, t->nfiles, file_key, t) < 0)
		return KC_SYM_NONE;
	i = (uint32_t)hash_bytes(HASH_SEED, path) & (st->files_ix.cap - 1);
	while ((id = st->files_ix.slots[i]) != 0) {
		if (strcmp(t->files[id - 1], path) == 0)
			return id - 1;
		i = (i + 1) & (st->files_ix.cap - 1);
	}
	if (grow((void **)&t->files, &cap, t->nfiles + 1ULL, sizeof(*t->files)) < 0)
		return KC_SYM_NONE;
	st->fcap = cap;
	t->files[t->nfiles] = strdup(path);
	if (!t->files[t->nfiles])
		return KC_SYM_NONE;
	st->files_ix.slots[i] = t->nfiles + 1;
	return t->nfiles++;
}

static uint32_t intern_func(struct sym_state *st, const char *name, uint32_t file,
			    uint32_t decl_line)
{
	struct kc_symtab *t = st->t;
	uint32_t i, id;
	uint64_t cap = st->ucap;

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
	if (grow((void **)&t->funcs, &cap, t->nfuncs + 1ULL, sizeof(*t->funcs)) < 0)
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

/* ---- path normalization ------------------------------------------------ */

/*
 * Collapse "//", "." and ".." in `in` into out (capacity PATH_CAP). ".."
 * never climbs above "/" for absolute paths; leading ".." of relative paths
 * are kept. Returns -1 if the result does not fit.
 */
static int collapse_path(const char *in, char *out)
{
	size_t n = 0;
	bool abs = in[0] == '/';
	const char *p = in;

	if (abs)
		out[n++] = '/';
	while (*p) {
		const char *s;
		size_t len;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			size_t base = abs ? 1 : 0;
			size_t k = n;
			bool parent_is_dotdot;

			/* find start of last component */
			while (k > base && out[k - 1] != '/')
				k--;
			parent_is_dotdot = (n - k == 2 && out[k] == '.' && out[k + 1] == '.');
			if (n > base && !parent_is_dotdot) {
				n = k > base ? k - 1 : base; /* drop component and its '/' */
				continue;
			}
			if (abs)
				continue; /* "/.." is "/" */
		}
		if (n > (abs ? 1u : 0u)) {
			if (n + 1 >= PATH_CAP)
				return -1;
			out[n++] = '/';
		}
		if (n + len >= PATH_CAP)
			return -1;
		memcpy(out + n, s, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

/* If `path` starts with directory `dir` (at a component boundary), return
 * the rest without leading '/', else NULL. A path equal to dir is not
 * stripped (that would leave nothing). */
static const char *strip_dir(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 0 || strncmp(path, dir, len) != 0)
		return NULL;
	if (dir[len - 1] != '/' && path[len] != '/')
		return NULL;
	path += len;
	while (*path == '/')
		path++;
	return *path ? path : NULL;
}

/* Normalize a DWARF file name against the CU's (already collapsed)
 * comp_dir and intern it. */
static uint32_t normalize_file(struct sym_state *st, const char *comp_dir, const char *name)
{
	char joined[PATH_CAP], clean[PATH_CAP];
	const char *rel, *r;
	int n;

	if (name[0] != '/' && comp_dir && comp_dir[0]) {
		n = snprintf(joined, sizeof(joined), "%s/%s", comp_dir, name);
		if (n < 0 || (size_t)n >= sizeof(joined))
			return KC_SYM_NONE;
		name = joined;
	}
	if (collapse_path(name, clean) < 0)
		return KC_SYM_NONE;
	rel = clean;
	if (comp_dir && comp_dir[0] && (r = strip_dir(rel, comp_dir)) != NULL)
		rel = r;
	if (st->opts) {
		for (size_t i = 0; i < st->opts->nstrip; i++) {
			const char *pfx = st->opts->strip_prefixes[i];

			if (pfx && (r = strip_dir(rel, pfx)) != NULL) {
				rel = r;
				break;
			}
		}
	}
	return intern_file(st, rel);
}

/* ---- ELF: build id, module name, coverage points ------------------------ */

static void read_build_id(Elf *elf, struct kc_symtab *t)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t off = 0, next, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		while ((next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;

			off = next;
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4) != 0 ||
			    nh.n_descsz == 0 || nh.n_descsz > 64)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(t->build_id + 2 * i, 3, "%02x", desc[i]);
			return;
		}
	}
}

static void read_modname(Elf *elf, size_t shstrndx, const char *path, struct kc_symtab *t)
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
	len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".ko") == 0)
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

	if (grow((void **)&t->points, &st->pcap, t->npoints + 1, sizeof(*t->points)) < 0)
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
static int scan_exec(struct sym_state *st, Elf *elf, struct kc_err *err)
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
static int scan_rel(struct sym_state *st, Elf *elf, size_t shstrndx, size_t *text_idx,
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

static void sort_unique_points(struct kc_symtab *t)
{
	uint64_t n = 0;

	if (t->npoints == 0)
		return;
	qsort(t->points, t->npoints, sizeof(*t->points), cmp_point);
	for (uint64_t i = 0; i < t->npoints; i++)
		if (n == 0 || t->points[n - 1].offset != t->points[i].offset)
			t->points[n++] = t->points[i];
	t->npoints = n;
}

/* ---- DWARF resolution --------------------------------------------------- */

/* First point index whose DWARF address is >= addr. */
static uint64_t lower_point(const struct sym_state *st, uint64_t addr)
{
	uint64_t lo = 0, hi = st->t->npoints;

	if (addr <= st->addr_base)
		return 0;
	addr -= st->addr_base;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (st->t->points[mid].offset < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool die_has_points(const struct sym_state *st, Dwarf_Die *die)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		uint64_t i = lower_point(st, start);

		if (i < st->t->npoints && st->t->points[i].offset + st->addr_base < end &&
		    st->t->points[i].offset + st->addr_base >= start)
			return true;
	}
	return false;
}

/* Stamp every point inside die's ranges with function `fid`. */
static void stamp_func(struct sym_state *st, Dwarf_Die *die, uint32_t fid)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		for (uint64_t i = lower_point(st, start); i < st->t->npoints; i++) {
			uint64_t a = st->t->points[i].offset + st->addr_base;

			if (a >= end)
				break;
			if (a >= start)
				st->t->points[i].func = fid;
		}
	}
}

/*
 * The declaring file of a function DIE (following DW_AT_abstract_origin /
 * DW_AT_specification). libdw's dwarf_decl_file() rejects file index 0,
 * which DWARF 5 uses for the primary source file, so look the index up in
 * the file table of the CU that holds the attribute ourselves.
 */
static const char *decl_file(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx;
	Dwarf_Die cudie;
	Dwarf_Files *files;
	size_t nfiles;

	if (!dwarf_attr_integrate(die, DW_AT_decl_file, &attr) ||
	    dwarf_formudata(&attr, &idx) != 0 || !attr.cu ||
	    !dwarf_cu_die(attr.cu, &cudie, NULL, NULL, NULL, NULL, NULL, NULL) ||
	    dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

static int walk_dies(struct sym_state *st, Dwarf_Die *parent, const char *comp_dir, int depth,
		     struct kc_err *err)
{
	Dwarf_Die child;
	int rc;

	if (depth > 256)
		return kc_err_set(err, KC_E_BAD_INPUT, "DWARF DIE tree nested too deeply");
	rc = dwarf_child(parent, &child);
	if (rc < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "DWARF: %s", dwarf_errmsg(-1));
	if (rc > 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);
		bool recurse = false;

		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
			if (!die_has_points(st, &child))
				break;
			{
				const char *name = dwarf_diename(&child);
				const char *decl = decl_file(&child);
				int dline = 0;
				uint32_t file = KC_SYM_NONE, fid;

				if (decl) {
					file = normalize_file(st, comp_dir, decl);
					if (file == KC_SYM_NONE)
						return kc_err_set(err, KC_E_BAD_INPUT,
								  "normalizing %s failed", decl);
				}
				if (dwarf_decl_line(&child, &dline) != 0 || dline < 0)
					dline = 0;
				fid = intern_func(st, name ? name : "??", file, (uint32_t)dline);
				if (fid == KC_SYM_NONE)
					return kc_err_set(err, KC_E_INTERNAL, "out of memory");
				stamp_func(st, &child, fid);
			}
			recurse = true;
			break;
		case DW_TAG_lexical_block:
			recurse = !dwarf_hasattr(&child, DW_AT_low_pc) &&
						  !dwarf_hasattr(&child, DW_AT_ranges)
					  ? true
					  : die_has_points(st, &child);
			break;
		case DW_TAG_namespace:
		case DW_TAG_module:
			recurse = true;
			break;
		default:
			break;
		}
		if (recurse && dwarf_haschildren(&child) &&
		    walk_dies(st, &child, comp_dir, depth + 1, err) < 0)
			return -1;
	} while ((rc = dwarf_siblingof(&child, &child)) == 0);
	if (rc < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "DWARF: %s", dwarf_errmsg(-1));
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Resolve the points of one CU: line rows, then functions. */
static int resolve_cu(struct sym_state *st, Dwarf_Die *cudie, struct kc_err *err)
{
	struct kc_symtab *t = st->t;
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;
	Dwarf_Lines *lines;
	size_t nlines, nfiles = 0;
	Dwarf_Files *files = NULL;
	uint32_t *fmap = NULL;
	Dwarf_Attribute attr;
	const char *cd;
	char comp_dir[PATH_CAP] = "";
	int ret = -1;

	st->ncu_pts = 0;
	while ((off = dwarf_ranges(cudie, off, &base, &start, &end)) > 0) {
		for (uint64_t i = lower_point(st, start); i < t->npoints; i++) {
			uint64_t a = t->points[i].offset + st->addr_base;

			if (a >= end)
				break;
			if (a < start || t->points[i].file != KC_SYM_NONE)
				continue;
			if (grow((void **)&st->cu_pts, &st->cu_pts_cap, st->ncu_pts + 1,
				 sizeof(*st->cu_pts)) < 0)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			st->cu_pts[st->ncu_pts++] = (uint32_t)i;
		}
	}
	if (st->ncu_pts == 0)
		return 0;
	qsort(st->cu_pts, st->ncu_pts, sizeof(*st->cu_pts), cmp_u32);

	cd = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	if (cd && collapse_path(cd, comp_dir) < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "comp_dir too long");

	if (dwarf_getsrclines(cudie, &lines, &nlines) != 0) {
		/* No line table: the points stay unresolved, functions still work. */
		nlines = 0;
	} else if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0) {
		nfiles = 0;
	}
	fmap = malloc((nfiles ? nfiles : 1) * sizeof(*fmap));
	if (!fmap)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < nfiles; i++)
		fmap[i] = KC_SYM_NONE;

	for (uint64_t k = 0; k < st->ncu_pts && nlines; k++) {
		struct kc_sym_point *p = &t->points[st->cu_pts[k]];
		uint64_t a = p->offset + st->addr_base;
		size_t lo = 0, hi = nlines;
		Dwarf_Line *row;
		Dwarf_Addr ra;
		bool endseq = false;
		int lineno = 0;
		Dwarf_Files *lf;
		size_t fidx;

		/* upper_bound(a) - 1: the last row starting at or before a. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			row = dwarf_onesrcline(lines, mid);
			if (row && dwarf_lineaddr(row, &ra) == 0 && ra <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0)
			continue;
		row = dwarf_onesrcline(lines, lo - 1);
		if (!row || dwarf_lineendsequence(row, &endseq) != 0 || endseq)
			continue;
		if (dwarf_lineno(row, &lineno) != 0 || lineno < 0)
			lineno = 0;
		if (dwarf_line_file(row, &lf, &fidx) != 0)
			continue;
		if (lf == files && fidx < nfiles && fmap[fidx] != KC_SYM_NONE) {
			p->file = fmap[fidx];
		} else {
			const char *src = dwarf_filesrc(lf, fidx, NULL, NULL);

			if (!src)
				continue;
			p->file = normalize_file(st, comp_dir, src);
			if (p->file == KC_SYM_NONE) {
				kc_err_set(err, KC_E_BAD_INPUT,
					   "cannot normalize source path %s", src);
				goto out;
			}
			if (lf == files && fidx < nfiles)
				fmap[fidx] = p->file;
		}
		p->line = (uint32_t)lineno;
	}

	if (walk_dies(st, cudie, comp_dir, 0, err) < 0)
		goto out;
	ret = 0;
out:
	free(fmap);
	return ret;
}

static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			char **debuginfo_file_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	(void)debuglink_file, (void)debuglink_crc, (void)debuginfo_file_name;
	return -1; /* only the file's own DWARF is used */
}

static int resolve_dwarf(struct sym_state *st, const char *path, bool is_rel, size_t text_idx,
			 struct kc_err *err)
{
	static const Dwfl_Callbacks cbs = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = no_debuginfo,
		.section_address = dwfl_offline_section_address,
	};
	struct kc_symtab *t = st->t;
	Dwfl *dwfl = NULL;
	Dwfl_Module *mod;
	Dwarf *dw;
	Dwarf_Addr bias = 0;
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie, subdie;
	uint8_t unit_type;
	Dwarf_Half version;
	int rc, ret = -1;

	dwfl = dwfl_begin(&cbs);
	if (!dwfl)
		return kc_err_set(err, KC_E_BAD_INPUT, "dwfl_begin: %s", dwfl_errmsg(-1));
	dwfl_report_begin(dwfl);
	mod = dwfl_report_offline(dwfl, t->modname[0] ? t->modname : "vmlinux", path, -1);
	if (!mod || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, dwfl_errmsg(-1));
		goto out;
	}
	dw = dwfl_module_getdwarf(mod, &bias);
	if (!dw) {
		/* No debug info: the points are kept, all unresolved. */
		ret = 0;
		goto out;
	}
	if (is_rel) {
		Dwarf_Addr ebias;
		Elf *relf = dwfl_module_getelf(mod, &ebias);
		Elf_Scn *scn = relf && text_idx ? elf_getscn(relf, text_idx) : NULL;
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh)) {
			if (t->npoints == 0) {
				ret = 0;
				goto out;
			}
			kc_err_set(err, KC_E_BAD_INPUT, "%s: cannot find relocated .text", path);
			goto out;
		}
		/* libdwfl placed the sections at sh_addr; its DWARF is relocated
		 * to match, in the same (unbiased) address space. */
		st->addr_base = sh.sh_addr + ebias - bias;
	}

	while ((rc = dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie, &subdie)) == 0) {
		cu = next;
		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
			continue;
		if (resolve_cu(st, &cudie, err) < 0) {
			kc_err_prefix(err, "%s", path);
			goto out;
		}
	}
	if (rc < 0) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%s: reading DWARF units: %s", path, dwarf_errmsg(-1));
		goto out;
	}
	ret = 0;
out:
	dwfl_end(dwfl);
	return ret;
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

/* Reject files whose section headers or section contents lie beyond the
 * end of the file: libelf reads such files "successfully" as empty. */
static int check_bounds(Elf *elf, const GElf_Ehdr *eh, const char *path, struct kc_err *err)
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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, strerror(errno));
		goto out;
	}
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
	if (check_bounds(elf, &eh, path, err) < 0)
		goto out;
	read_build_id(elf, out);
	if (eh.e_type == ET_REL) {
		out->is_module = 1;
		read_modname(elf, shstrndx, path, out);
		if (scan_rel(&st, elf, shstrndx, &text_idx, err) < 0)
			goto out;
	} else if (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) {
		if (scan_exec(&st, elf, err) < 0)
			goto out;
	} else {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: unsupported ELF type %u", path, eh.e_type);
		goto out;
	}
	sort_unique_points(out);
	if (out->npoints > UINT32_MAX) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: too many coverage points", path);
		goto out;
	}
	if (out->npoints && resolve_dwarf(&st, path, eh.e_type == ET_REL, text_idx, err) < 0)
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

int64_t kc_symtab_find(const struct kc_symtab *t, uint64_t off)
{
	uint64_t lo = 0, hi = t->npoints;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (t->points[mid].offset < off)
			lo = mid + 1;
		else if (t->points[mid].offset > off)
			hi = mid;
		else
			return (int64_t)mid;
	}
	return -1;
}
