/*
 * sym.h - the inside of kc_symbolize_file, shared by its modules and by
 * no one else (symbolize.h is the API):
 *
 *   symbolize.c  one run: open the ELF file, scan, resolve, finish
 *   elfscan.c    ELF: build id, module name, the kcov call sites
 *   dwarf.c      DWARF: line and innermost function of every point
 *   sympath.c    normalizing source paths (comp_dir, "..", prefixes)
 */
#ifndef KC_SYM_H
#define KC_SYM_H

#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "symbolize.h"
#include "grow.h"

#define PATH_CAP 4096 /* longest normalized source path we accept */

/* Open-addressing index over the table's files[] or funcs[] (ids + 1). */
struct intern {
	uint32_t *slots;
	uint32_t cap; /* power of two */
};

/* The state of one kc_symbolize_file run. */
struct sym_state {
	const struct kc_sym_opts *opts;
	struct kc_symtab *t;
	size_t pcap, fcap, ucap;
	struct intern files_ix, funcs_ix;
	uint64_t addr_base; /* DWARF address of offset 0 */
	uint64_t key, hint; /* dwarf.c's point search: its key, last answer */
	uint32_t *cu_pts;   /* indices of the points of the current CU */
	uint64_t ncu_pts;
	size_t cu_pts_cap;
};

/* The index of path in t->files / of (name, file) in t->funcs, added
 * when new; KC_SYM_NONE when out of memory. */
uint32_t sym_intern_file(struct sym_state *st, const char *path);
uint32_t sym_intern_func(struct sym_state *st, const char *name, uint32_t file, uint32_t line);

/* sympath.c: collapse "//", "." and ".." of in into out (PATH_CAP
 * bytes); -1 when the result does not fit. */
int sym_collapse_path(const char *in, char *out);
/* sympath.c: the file index of DWARF file name (relative to comp_dir). */
uint32_t sym_normalize_file(struct sym_state *st, const char *comp_dir, const char *name);

/* elfscan.c */
int sym_check_bounds(Elf *elf, const GElf_Ehdr *eh, const char *path, struct kc_err *err);
void sym_read_modname(Elf *elf, size_t shstrndx, const char *path, struct kc_symtab *t);
int sym_scan_exec(struct sym_state *st, Elf *elf, struct kc_err *err);
int sym_scan_rel(struct sym_state *st, Elf *elf, size_t shstrndx, size_t *text_idx,
		 struct kc_err *err);
void sym_sort_unique_points(struct kc_symtab *t);

/* dwarf.c: resolve every point of st->t to file, line and function. fd
 * is the open (possibly decompressed) binary, path its name; the DWARF is
 * the binary's own, else the separate debug file found below
 * st->opts->debug_dir by build id or .gnu_debuglink. */
int sym_resolve_dwarf(struct sym_state *st, const char *path, int fd, bool is_rel,
		      size_t text_idx, struct kc_err *err);

#endif
