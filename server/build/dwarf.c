/*
 * dwarf.c - DWARF resolution through libdw (opened via libdwfl, so ET_REL
 * debug sections are relocated), one compilation unit at a time: the
 * points in a CU's ranges are looked up in its line table (searching
 * outwards from the previous point's row, as the points ascend), and one
 * walk of its subprogram/inlined_subroutine tree stamps every point with
 * the innermost function covering it.
 *
 * The CUs are shared out among worker threads (one per CPU for a large
 * binary, kc_sym_opts.threads to choose), each with its own libdwfl
 * handle, since libdw handles are not thread-safe, and its own file and
 * function tables. A worker only reads the point table; it records each
 * CU's results (a file and line per point, a function per range of
 * points). The calling thread then applies them in CU order, as one
 * thread resolving the CUs in order would: a point's line comes from the
 * first CU that resolves it, its function from the last DIE that covers
 * it, and files and functions are interned into the table in that order,
 * so the table is the same whatever the number of workers.
 */
#include "sym.h"
#include "search.h"
#include "elfinfo.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORKERS 8
#define POINTS_PER_WORKER 32768 /* below this a second handle costs more than it saves */
#define CUS_PER_HANDLE 8 /* kc_sym_opts.cus_per_handle's default */

/* One CU: where its DIE is, and its results in its worker's arrays. */
struct cu_slot {
	Dwarf_Off off;
	uint32_t worker;
	size_t line0, nlines, stamp0, nstamps;
};

struct line_res {
	uint32_t point, file, line; /* file: the worker's id */
};

struct stamp {
	uint32_t lo, hi, func; /* points [lo, hi) are in func (the worker's id) */
};

struct pool;

struct worker {
	struct sym_state st; /* st.t = &t: the worker's files and funcs; the
	                        points are the caller's, read only */
	struct kc_symtab t;
	struct pool *pool;
	Dwfl *dwfl;
	Dwarf *dw;
	struct line_res *lines;
	size_t nlines, lines_cap;
	struct stamp *stamps;
	size_t nstamps, stamps_cap;
	uint32_t *fmap, *umap; /* worker file/func id -> the caller's (merge) */
	size_t failed_cu;      /* SIZE_MAX while no CU failed */
	struct kc_err err;
	uint32_t id;
	pthread_t tid;
	bool started;
};

struct pool {
	struct sym_state *main;
	const char *path;
	int fd;
	bool is_rel;
	size_t text_idx;
	struct cu_slot *cus;
	size_t ncus;
	atomic_size_t next;
	atomic_bool stop;
};

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

/* The points [*lo, *hi) of one address range. */
static void range_points(struct sym_state *st, Dwarf_Addr start, Dwarf_Addr end, uint64_t *lo,
			 uint64_t *hi)
{
	uint64_t i = lower_point(st, start);

	*lo = i;
	while (i < st->t->npoints && st->t->points[i].offset + st->addr_base < end)
		i++;
	*hi = i;
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

/* Record that the points inside die's ranges are in function `fid`. */
static int stamp_func(struct worker *w, Dwarf_Die *die, uint32_t fid)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		uint64_t lo, hi;

		range_points(&w->st, start, end, &lo, &hi);
		if (lo == hi)
			continue;
		if (KC_GROW(w->stamps, w->stamps_cap, w->nstamps + 1) < 0)
			return -1;
		w->stamps[w->nstamps++] = (struct stamp){ (uint32_t)lo, (uint32_t)hi, fid };
	}
	return 0;
}

/* A CU's file table, and the table ids of the entries looked up so far
 * (KC_SYM_NONE: not yet). */
struct cu_files {
	const char *comp_dir;
	Dwarf_Files *files;
	size_t nfiles;
	uint32_t *ids;
};

/* The table id of entry idx of file table lf (the CU's own, or another
 * CU's for an abstract origin elsewhere): 1 and *id; 0 when the entry has
 * no name; -1 when the name cannot be normalized. */
static int file_id(struct sym_state *st, struct cu_files *cf, Dwarf_Files *lf, size_t idx,
		   uint32_t *id, struct kc_err *err)
{
	bool own = lf == cf->files && idx < cf->nfiles;
	const char *src;

	if (own && cf->ids[idx] != KC_SYM_NONE) {
		*id = cf->ids[idx];
		return 1;
	}
	src = dwarf_filesrc(lf, idx, NULL, NULL);
	if (!src)
		return 0;
	*id = sym_normalize_file(st, cf->comp_dir, src);
	if (*id == KC_SYM_NONE)
		return kc_err_set(err, KC_E_BAD_INPUT, "cannot normalize source path %s", src);
	if (own)
		cf->ids[idx] = *id;
	return 1;
}

/*
 * The declaring file of a function DIE (following DW_AT_abstract_origin /
 * DW_AT_specification): 1 and *id, 0 when it has none. libdw's
 * dwarf_decl_file() rejects file index 0, which DWARF 5 uses for the
 * primary source file, so look the index up in the file table of the CU
 * that holds the attribute ourselves.
 */
static int decl_file(struct sym_state *st, struct cu_files *cf, Dwarf_Die *die, uint32_t *id,
		     struct kc_err *err)
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
		return 0;
	return file_id(st, cf, files, idx, id, err);
}

static int walk_dies(struct worker *w, Dwarf_Die *parent, struct cu_files *cf, int depth,
		     struct kc_err *err)
{
	struct sym_state *st = &w->st;
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
				int dline = 0, has;
				uint32_t file = KC_SYM_NONE, fid;

				if ((has = decl_file(st, cf, &child, &file, err)) < 0)
					return -1;
				if (!has)
					file = KC_SYM_NONE;
				if (dwarf_decl_line(&child, &dline) != 0 || dline < 0)
					dline = 0;
				fid = sym_intern_func(st, name ? name : "??", file, (uint32_t)dline);
				if (fid == KC_SYM_NONE || stamp_func(w, &child, fid) < 0)
					return kc_err_set(err, KC_E_INTERNAL, "out of memory");
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
		    walk_dies(w, &child, cf, depth + 1, err) < 0)
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

/* n ids, all KC_SYM_NONE (malloc'ed; NULL when out of memory). */
static uint32_t *none_ids(size_t n)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof(*v));

	for (size_t i = 0; v && i < n; i++)
		v[i] = KC_SYM_NONE;
	return v;
}

/* Resolve the points of one CU: line rows, then functions, into w's
 * arrays. */
static int resolve_cu(struct worker *w, Dwarf_Die *cudie, struct kc_err *err)
{
	struct sym_state *st = &w->st;
	struct kc_symtab *t = st->t;
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;
	Dwarf_Lines *lines;
	size_t nlines;
	struct cu_files cf = { .comp_dir = "" };
	Dwarf_Attribute attr;
	const char *cd;
	char comp_dir[PATH_CAP] = "";
	int ret = -1;

	st->ncu_pts = 0;
	while ((off = dwarf_ranges(cudie, off, &base, &start, &end)) > 0) {
		uint64_t lo, hi;

		range_points(st, start, end, &lo, &hi);
		if (KC_GROW(st->cu_pts, st->cu_pts_cap, st->ncu_pts + (hi - lo)) < 0)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		for (uint64_t i = lo; i < hi; i++)
			st->cu_pts[st->ncu_pts++] = (uint32_t)i;
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
	cf.comp_dir = comp_dir;

	if (dwarf_getsrclines(cudie, &lines, &nlines) != 0) {
		/* No line table: the points stay unresolved, functions still work. */
		nlines = 0;
	} else if (dwarf_getsrcfiles(cudie, &cf.files, &cf.nfiles) != 0) {
		cf.files = NULL;
		cf.nfiles = 0;
	}
	cf.ids = none_ids(cf.nfiles);
	if (!cf.ids)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");

	for (uint64_t k = 0, lo = 0; k < st->ncu_pts && nlines; k++) {
		uint32_t pi = st->cu_pts[k];
		struct row_key key = { lines, t->points[pi].offset + st->addr_base };
		Dwarf_Line *row;
		bool endseq = false;
		int lineno = 0, has;
		Dwarf_Files *lf;
		size_t fidx;
		uint32_t file;

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
		if ((has = file_id(st, &cf, lf, fidx, &file, err)) < 0)
			goto out;
		if (!has)
			continue;
		if (KC_GROW(w->lines, w->lines_cap, w->nlines + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		w->lines[w->nlines++] = (struct line_res){ pi, file, (uint32_t)lineno };
	}

	if (walk_dies(w, cudie, &cf, 0, err) < 0)
		goto out;
	ret = 0;
out:
	free(cf.ids);
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

/*
 * Open path (fd: the open, possibly decompressed binary) with libdwfl. 1
 * and *dwp = its DWARF; 0 when it has none (the points stay unresolved);
 * -1 on an error. find_debug reads p->main (options, build id);
 * *addr_base receives the DWARF address of offset 0.
 */
static int open_dwarf(struct pool *p, Dwfl **dwflp, Dwarf **dwp, uint64_t *addr_base,
		      struct kc_err *err)
{
	static const Dwfl_Callbacks cbs = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = find_debug,
		.section_address = dwfl_offline_section_address,
	};
	const struct kc_symtab *t = p->main->t;
	Dwfl_Module *mod;
	void **ud = NULL;
	Dwarf_Addr bias = 0;
	int dfd;

	*dwflp = dwfl_begin(&cbs);
	if (!*dwflp)
		return kc_err_set(err, KC_E_BAD_INPUT, "dwfl_begin: %s", dwfl_errmsg(-1));
	dwfl_report_begin(*dwflp);
	/* libdwfl consumes the descriptor (and closes it on failure): give
	 * it its own. */
	dfd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return kc_err_set(err, KC_E_IO, "%s: dup: %s", p->path, strerror(errno));
	mod = dwfl_report_offline(*dwflp, t->modname[0] ? t->modname : "vmlinux", p->path, dfd);
	if (!mod || dwfl_report_end(*dwflp, NULL, NULL) != 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", p->path, dwfl_errmsg(-1));
	/* find_debug reads the options through the module's userdata. */
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (ud)
		*ud = p->main;
	*dwp = dwfl_module_getdwarf(mod, &bias);
	if (!*dwp)
		return 0;
	*addr_base = p->main->addr_base; /* the scan's, unless relocated */
	if (p->is_rel) {
		Dwarf_Addr ebias;
		Elf *relf = dwfl_module_getelf(mod, &ebias);
		Elf_Scn *scn = relf && p->text_idx ? elf_getscn(relf, p->text_idx) : NULL;
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh)) {
			if (t->npoints == 0)
				return 0;
			return kc_err_set(err, KC_E_BAD_INPUT, "%s: cannot find relocated .text",
					  p->path);
		}
		/* libdwfl placed the sections at sh_addr; its DWARF is relocated
		 * to match, in the same (unbiased) address space. */
		*addr_base = sh.sh_addr + ebias - bias;
	}
	return 1;
}

/* A worker's loop: take the next CU until none is left or one failed.
 * libdw keeps every CU's line table and DIE data until its handle ends,
 * about 2.4 MiB per CU of 15,700 points, so a worker on a linked binary
 * ends its handle every cus_per_handle CUs and opens a new one; a
 * module's handle (relocated at each open) is kept. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	const struct kc_sym_opts *o = p->main->opts;
	unsigned per = o && o->cus_per_handle ? o->cus_per_handle : CUS_PER_HANDLE, done = 0;
	size_t i;

	while (!atomic_load(&p->stop) && (i = atomic_fetch_add(&p->next, 1)) < p->ncus) {
		struct cu_slot *c = &p->cus[i];
		Dwarf_Die cudie;

		if (w->dw && !p->is_rel && done == per) {
			dwfl_end(w->dwfl);
			w->dwfl = NULL;
			w->dw = NULL;
			done = 0;
		}
		done++;
		if (!w->dw) {
			int rc = open_dwarf(p, &w->dwfl, &w->dw, &w->st.addr_base, &w->err);

			if (rc == 0)
				kc_err_set(&w->err, KC_E_INTERNAL, "%s: DWARF vanished", p->path);
			if (rc <= 0) {
				w->failed_cu = i;
				atomic_store(&p->stop, true);
				break;
			}
		}

		c->worker = w->id;
		c->line0 = w->nlines;
		c->stamp0 = w->nstamps;
		if (!dwarf_offdie(w->dw, c->off, &cudie)) {
			kc_err_set(&w->err, KC_E_BAD_INPUT, "DWARF: %s", dwarf_errmsg(-1));
		} else if (resolve_cu(w, &cudie, &w->err) == 0) {
			c->nlines = w->nlines - c->line0;
			c->nstamps = w->nstamps - c->stamp0;
			continue;
		}
		w->failed_cu = i;
		atomic_store(&p->stop, true);
		break;
	}
	return NULL;
}

static uint32_t map_file(struct sym_state *main, struct worker *w, uint32_t f)
{
	if (f == KC_SYM_NONE || f >= w->t.nfiles)
		return KC_SYM_NONE;
	if (w->fmap[f] == KC_SYM_NONE)
		w->fmap[f] = sym_intern_file(main, w->t.files[f]);
	return w->fmap[f];
}

static uint32_t map_func(struct sym_state *main, struct worker *w, uint32_t u)
{
	const struct kc_sym_func *f = &w->t.funcs[u];
	uint32_t file = KC_SYM_NONE;

	if (w->umap[u] != KC_SYM_NONE)
		return w->umap[u];
	if (f->file != KC_SYM_NONE && (file = map_file(main, w, f->file)) == KC_SYM_NONE)
		return KC_SYM_NONE;
	w->umap[u] = sym_intern_func(main, f->name, file, f->line_start);
	return w->umap[u];
}

/* Apply every CU's results in CU order (see the top of the file). */
static int merge(struct pool *p, struct worker *ws, uint32_t nw, struct kc_err *err)
{
	struct sym_state *main = p->main;
	struct kc_sym_point *pts = main->t->points;

	for (uint32_t k = 0; k < nw; k++) {
		struct worker *w = &ws[k];

		w->fmap = none_ids(w->t.nfiles);
		w->umap = none_ids(w->t.nfuncs);
		if (!w->fmap || !w->umap)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < p->ncus; i++) {
		const struct cu_slot *c = &p->cus[i];
		struct worker *w = &ws[c->worker];

		for (size_t k = c->line0; k < c->line0 + c->nlines; k++) {
			const struct line_res *r = &w->lines[k];
			struct kc_sym_point *pt = &pts[r->point];

			if (pt->file != KC_SYM_NONE)
				continue; /* an earlier CU resolved it */
			pt->file = map_file(main, w, r->file);
			if (pt->file == KC_SYM_NONE)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			pt->line = r->line;
		}
		for (size_t k = c->stamp0; k < c->stamp0 + c->nstamps; k++) {
			const struct stamp *s = &w->stamps[k];
			uint32_t fid = map_func(main, w, s->func);

			if (fid == KC_SYM_NONE)
				return kc_err_set(err, KC_E_INTERNAL, "out of memory");
			for (uint32_t j = s->lo; j < s->hi; j++)
				pts[j].func = fid;
		}
	}
	return 0;
}

/* Workers for this binary: opts->threads, else one per CPU (at most
 * MAX_WORKERS) when there are enough points to share; never more than
 * the CUs. */
static uint32_t worker_count(const struct sym_state *st, size_t ncus)
{
	long n = st->opts && st->opts->threads ? (long)st->opts->threads
					       : sysconf(_SC_NPROCESSORS_ONLN);

	if (!(st->opts && st->opts->threads) && (uint64_t)n * POINTS_PER_WORKER > st->t->npoints)
		n = (long)(st->t->npoints / POINTS_PER_WORKER);
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	if ((size_t)n > ncus)
		n = (long)ncus;
	return n < 1 ? 1 : (uint32_t)n;
}

static void worker_release(struct worker *w)
{
	if (w->dwfl)
		dwfl_end(w->dwfl);
	free(w->st.files_ix.slots);
	free(w->st.funcs_ix.slots);
	free(w->st.cu_pts);
	free(w->lines);
	free(w->stamps);
	free(w->fmap);
	free(w->umap);
	w->t.points = NULL; /* the caller's */
	kc_symtab_release(&w->t);
}

int sym_resolve_dwarf(struct sym_state *st, const char *path, int fd, bool is_rel,
		      size_t text_idx, struct kc_err *err)
{
	struct pool p = { .main = st, .path = path, .fd = fd, .is_rel = is_rel,
			  .text_idx = text_idx };
	struct worker *ws = NULL;
	Dwfl *dwfl = NULL;
	Dwarf *dw = NULL;
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie, subdie;
	uint8_t unit_type;
	Dwarf_Half version;
	uint64_t addr_base = 0;
	size_t cap = 0, failed = SIZE_MAX;
	uint32_t nw = 0;
	int rc, ret = -1;

	atomic_init(&p.next, 0);
	atomic_init(&p.stop, false);
	rc = open_dwarf(&p, &dwfl, &dw, &addr_base, err);
	if (rc <= 0) {
		ret = rc; /* no DWARF: the points are kept, all unresolved */
		goto out;
	}
	while ((rc = dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie, &subdie)) == 0) {
		cu = next;
		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
			continue;
		if (KC_GROW(p.cus, cap, p.ncus + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		p.cus[p.ncus++] = (struct cu_slot){ .off = dwarf_dieoffset(&cudie) };
	}
	if (rc < 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: reading DWARF units: %s", path,
			   dwarf_errmsg(-1));
		goto out;
	}
	nw = worker_count(st, p.ncus);
	ws = calloc(nw, sizeof(*ws));
	if (!ws) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t k = 0; k < nw; k++) {
		ws[k].id = k;
		ws[k].pool = &p;
		ws[k].failed_cu = SIZE_MAX;
		ws[k].st.opts = st->opts;
		ws[k].st.t = &ws[k].t;
		ws[k].st.addr_base = addr_base;
		ws[k].t.points = st->t->points;
		ws[k].t.npoints = st->t->npoints;
	}
	ws[0].dwfl = dwfl; /* worker 0 is this thread, on this handle */
	ws[0].dw = dw;
	dwfl = NULL;
	/* A worker that cannot be started leaves its share to the others. */
	for (uint32_t k = 1; k < nw; k++)
		ws[k].started = pthread_create(&ws[k].tid, NULL, work, &ws[k]) == 0;
	work(&ws[0]);
	for (uint32_t k = 1; k < nw; k++)
		if (ws[k].started)
			pthread_join(ws[k].tid, NULL);
	for (uint32_t k = 0; k < nw; k++)
		if (ws[k].failed_cu < failed) {
			failed = ws[k].failed_cu;
			*err = ws[k].err;
		}
	if (failed != SIZE_MAX) {
		kc_err_prefix(err, "%s", path);
		goto out;
	}
	if (merge(&p, ws, nw, err) < 0)
		goto out;
	ret = 0;
out:
	for (uint32_t k = 0; ws && k < nw; k++)
		worker_release(&ws[k]);
	free(ws);
	free(p.cus);
	if (dwfl)
		dwfl_end(dwfl);
	return ret;
}
