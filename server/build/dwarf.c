/*
 * dwarf.c - DWARF resolution through libdw (opened via libdwfl, so ET_REL
 * debug sections are relocated): one pass per compilation unit; the
 * points in a CU's ranges are looked up in its line table (searching
 * outwards from the previous point's row, as the points ascend), and one walk of its subprogram/inlined_subroutine tree stamps
 * every point with the innermost function covering it.
 */
#include "sym.h"
#include "search.h"
#include "elfinfo.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int point_below(const void *ctx, size_t i)
{
	const struct sym_state *st = ctx;

	return st->t->points[i].offset < st->key;
}

/* First point index whose DWARF address is >= addr. A CU's DIEs come
 * roughly in address order, so the search starts at the previous answer. */
static uint64_t lower_point(struct sym_state *st, uint64_t addr)
{
	if (addr <= st->addr_base)
		return 0;
	st->key = addr - st->addr_base;
	st->hint = kc_lower_bound_near(st->t->npoints, st->hint, point_below, st);
	return st->hint;
}

/* A line-table row at or before an address (kc_lower_bound's "below" for
 * an upper bound). */
struct row_key {
	Dwarf_Lines *lines;
	Dwarf_Addr a;
};

static int row_at_or_before(const void *ctx, size_t i)
{
	const struct row_key *k = ctx;
	Dwarf_Line *row = dwarf_onesrcline(k->lines, i);
	Dwarf_Addr ra;

	return row && dwarf_lineaddr(row, &ra) == 0 && ra <= k->a;
}

static bool die_has_points(struct sym_state *st, Dwarf_Die *die)
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
					file = sym_normalize_file(st, comp_dir, decl);
					if (file == KC_SYM_NONE)
						return kc_err_set(err, KC_E_BAD_INPUT,
								  "normalizing %s failed", decl);
				}
				if (dwarf_decl_line(&child, &dline) != 0 || dline < 0)
					dline = 0;
				fid = sym_intern_func(st, name ? name : "??", file, (uint32_t)dline);
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
			if (KC_GROW(st->cu_pts, st->cu_pts_cap, st->ncu_pts + 1) < 0)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			st->cu_pts[st->ncu_pts++] = (uint32_t)i;
		}
	}
	if (st->ncu_pts == 0)
		return 0;
	for (uint64_t k = 1; k < st->ncu_pts; k++)
		if (st->cu_pts[k - 1] > st->cu_pts[k]) { /* ranges out of order */
			qsort(st->cu_pts, st->ncu_pts, sizeof(*st->cu_pts), cmp_u32);
			break;
		}

	cd = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	if (cd && sym_collapse_path(cd, comp_dir) < 0)
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

	for (uint64_t k = 0, lo = 0; k < st->ncu_pts && nlines; k++) {
		struct kc_sym_point *p = &t->points[st->cu_pts[k]];
		uint64_t a = p->offset + st->addr_base;
		struct row_key key = { lines, a };
		Dwarf_Line *row;
		bool endseq = false;
		int lineno = 0;
		Dwarf_Files *lf;
		size_t fidx;

		/* upper_bound(a) - 1: the last row starting at or before a;
		 * the points ascend, so each search starts at the last answer. */
		lo = kc_lower_bound_near(nlines, lo, row_at_or_before, &key);
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
			p->file = sym_normalize_file(st, comp_dir, src);
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

/* Open dir/rel for reading when it is a regular file; -1 otherwise. On
 * success *name receives a malloc'ed copy of the path (libdwfl frees it). */
static int open_debug(const char *dir, const char *rel, char **name)
{
	char p[PATH_CAP];
	struct stat sb;
	int fd;

	if (snprintf(p, sizeof(p), "%s/%s", dir, rel) >= (int)sizeof(p))
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || !(*name = strdup(p))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Does the debug file fd belong to the binary of build id want? A file or
 * binary without a build id cannot be checked and is taken. */
static bool same_build(int fd, const char *want)
{
	char have[2 * 64 + 1] = "";
	Elf *e;

	if (!*want)
		return true;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e)
		kc_elf_build_id(e, have, sizeof(have));
	if (e)
		elf_end(e);
	return !have[0] || strcmp(have, want) == 0;
}

/*
 * libdwfl's find_debuginfo, called only when the binary has no DWARF of its
 * own: the separate debug file below opts->debug_dir, by GNU build id
 * (.build-id/xx/yyyy.debug, the layout of /usr/lib/debug), else by the
 * .gnu_debuglink name (DIR/NAME, then DIR/.debug/NAME), refusing a file
 * whose own build id is another binary's. Without a debug
 * dir nothing is searched: the system's /usr/lib/debug is never used
 * behind the caller's back.
 */
static int find_debug(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		      const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		      char **debuginfo_file_name)
{
	const struct sym_state *st = *userdata;
	const char *dir = st && st->opts ? st->opts->debug_dir : NULL;
	const char *id = st ? st->t->build_id : "";
	char rel[PATH_CAP];
	int fd = -1;

	(void)mod, (void)modname, (void)base, (void)file_name, (void)debuglink_crc;
	if (!dir)
		return -1;
	if (strlen(id) > 2 &&
	    snprintf(rel, sizeof(rel), ".build-id/%.2s/%s.debug", id, id + 2) < (int)sizeof(rel))
		fd = open_debug(dir, rel, debuginfo_file_name);
	if (fd < 0 && debuglink_file && !strchr(debuglink_file, '/')) {
		fd = open_debug(dir, debuglink_file, debuginfo_file_name);
		if (fd < 0 && snprintf(rel, sizeof(rel), ".debug/%s", debuglink_file) <
				      (int)sizeof(rel))
			fd = open_debug(dir, rel, debuginfo_file_name);
	}
	if (fd >= 0 && !same_build(fd, id)) {
		/* Another build's debug file (a stale debuglink name): its
		 * lines would be wrong, so the points stay unresolved. */
		close(fd);
		free(*debuginfo_file_name);
		*debuginfo_file_name = NULL;
		fd = -1;
	}
	return fd;
}

int sym_resolve_dwarf(struct sym_state *st, const char *path, int fd, bool is_rel,
		      size_t text_idx, struct kc_err *err)
{
	static const Dwfl_Callbacks cbs = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = find_debug,
		.section_address = dwfl_offline_section_address,
	};
	struct kc_symtab *t = st->t;
	Dwfl *dwfl = NULL;
	Dwfl_Module *mod;
	void **ud = NULL;
	int dfd;
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
	/* libdwfl consumes the descriptor (and closes it on failure): give
	 * it its own. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		kc_err_set(err, KC_E_IO, "%s: dup: %s", path, strerror(errno));
		goto out;
	}
	mod = dwfl_report_offline(dwfl, t->modname[0] ? t->modname : "vmlinux", path, dfd);
	if (!mod || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, dwfl_errmsg(-1));
		goto out;
	}
	/* find_debug reads the options through the module's userdata. */
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (ud)
		*ud = st;
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
