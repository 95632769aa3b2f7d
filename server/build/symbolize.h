/*
 * symbolize.h - coverage points of a kernel binary and their source lines.
 *
 * kc_symbolize_file() opens a vmlinux (ET_EXEC/ET_DYN) or a module .ko
 * (ET_REL) for x86_64, finds every call site of __sanitizer_cov_trace_pc /
 * __sanitizer_cov_trace_pc_guard (the "coverage points"), and resolves each
 * one to the innermost DWARF inline frame: source file, line and function.
 * The result is a self-contained table (struct kc_symtab) that the store
 * keys by build id. See docs/symbolization.md for the rules.
 *
 * Lifecycle: a zeroed or freshly filled struct kc_symtab is released with
 * kc_symtab_release(); every pointer inside it (files, names, arrays) is
 * owned by the table and freed there. On error kc_symbolize_file() leaves
 * `out` zeroed (nothing to release, releasing is still harmless).
 */
#ifndef KC_SYMBOLIZE_H
#define KC_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Index value meaning "unknown" in kc_sym_point.file/.func/.line. */
#define KC_SYM_NONE UINT32_MAX

struct kc_sym_opts {
	/* Path prefixes removed from source paths after the build directory
	 * (comp_dir) has been stripped; the first matching one wins. A prefix
	 * matches only at a path-component boundary. May be NULL/0. */
	const char *const *strip_prefixes;
	size_t nstrip;
	/* Directory of separate debug files (Debian -dbg, Fedora debuginfo):
	 * a binary without DWARF of its own takes it from
	 * DIR/.build-id/xx/yyyy.debug (its GNU build id), else from
	 * DIR/NAME, NAME its .gnu_debuglink. May be NULL. */
	const char *debug_dir;
	/* Threads resolving the DWARF, each with its own libdw handle: 0
	 * chooses (one per CPU, at most 8, for binaries of 32 K points
	 * per thread), n uses n. The table is the same for any value. */
	unsigned threads;
	/* CUs a thread resolves on one libdw handle of a linked binary
	 * before it ends the handle (libdw frees a CU's line table and DIE
	 * data only then) and opens another: 0 is 8. Fewer: less memory,
	 * more reopening. The table is the same for any value. */
	unsigned cus_per_handle;
};

struct kc_sym_func {
	char *name;          /* function name (owned by the table) */
	uint32_t file;       /* index into kc_symtab.files (decl file) */
	uint32_t line_start; /* DW_AT_decl_line, else the smallest point line */
	uint32_t line_end;   /* the largest point line (>= line_start) */
};

struct kc_sym_point {
	uint64_t offset; /* call instruction address - text_base (vmlinux) or
	                    offset of the call inside the module's .text */
	uint32_t file;   /* index into files, KC_SYM_NONE when no line row */
	uint32_t line;   /* line of the innermost frame (0 = compiler said 0) */
	uint32_t func;   /* index into funcs, KC_SYM_NONE when no DIE covers it */
};

struct kc_symtab {
	char build_id[129]; /* GNU build id, lowercase hex ("" if none) */
	int is_module;      /* 1 for an ET_REL .ko */
	char modname[64];   /* .modinfo "name=", else file name without .ko */
	uint64_t text_base; /* vmlinux: link-time _text (or lowest executable
	                       section address); module: 0 */
	char **files;       /* normalized source paths, each once */
	uint32_t nfiles;
	struct kc_sym_func *funcs; /* unique per (name, file) */
	uint32_t nfuncs;
	struct kc_sym_point *points; /* sorted by offset, unique */
	uint64_t npoints;
	uint64_t skipped_points; /* module call sites outside .text
	                            (.init.text, .exit.text, ...): not kept */
	uint64_t unresolved;     /* points with no line-table row */
};

/*
 * Find and symbolize the coverage points of the ELF file at `path`.
 * `opts` may be NULL. Fills `out` (which need not be initialized) and
 * returns 0, or returns -1 with a message in `err` and `out` zeroed.
 * A binary without any coverage callback yields 0 points, not an error.
 */
int kc_symbolize_file(const char *path, const struct kc_sym_opts *opts,
		      struct kc_symtab *out, struct kc_err *err) KC_MUST_CHECK;

/* Free everything the table owns and zero it. `t` may be NULL. */
void kc_symtab_release(struct kc_symtab *t);

/* Index of the point whose offset == off, or -1 (binary search). */
int64_t kc_symtab_find(const struct kc_symtab *t, uint64_t off);

/* Index of the first point whose offset is >= off (npoints: none). */
uint64_t kc_symtab_lower(const struct kc_symtab *t, uint64_t off);

#endif
