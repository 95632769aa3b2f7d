/*
 * imp.h - the inside of a build import, shared by import.c (reading and
 * regrouping the binaries) and import_write.c (storing them): a prepared
 * struct kc_import and its parts. import.h is the API.
 */
#ifndef KC_IMP_H
#define KC_IMP_H

#include <stdint.h>

#include <roaring/roaring.h>

#include "buf.h"
#include "import.h"
#include "source.h"
#include "symbolize.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the u32 arrays of schema 002 are stored in native (little-endian) order"
#endif

#define NONE UINT32_MAX

/* A u32 vector. */
struct u32v {
	uint32_t *v;
	uint32_t n;
	size_t cap;
};

/* One symbolized binary. */
struct image {
	struct kc_symtab t;
	char *path;
	uint32_t *file_map; /* t.files index -> global file index */
	uint32_t *func_idx; /* t.funcs index -> idx within its file's functions */
	uint32_t *func_file; /* t.funcs index -> global file index of its decl */
};

struct func {
	const char *name; /* borrowed from a symtab */
	uint32_t line_start, line_end;
	uint64_t points;
};

struct file {
	const char *path; /* borrowed from a symtab */
	struct u32v lines; /* sorted distinct non-zero lines */
	struct func *funcs;
	uint32_t nfuncs;
	uint64_t points;
	struct kc_buf source; /* empty when not read */
	int has_source;
	char text_id[KC_SOURCE_ID_LEN + 1]; /* content id when has_source */
};

/* The points of one (file, image). */
struct fpoints {
	uint32_t file, image;
	roaring_bitmap_t *bits;
	struct u32v line_idx, func_idx;
};

struct kc_import {
	char *vmlinux, *modules_dir, *source_dir;
	char *source_root; /* detected root stripped from absolute paths, or NULL */
	char *git_repo, *git_rev; /* git source: repository and resolved commit */
	struct image *images; /* [0] is vmlinux */
	uint32_t nimages;
	struct file *files;
	uint32_t nfiles;
	struct fpoints *fps;
	size_t nfps, cap_fps;
	uint64_t points, functions, sources;
};

/* srcroot.c: find the kernel source root among the absolute source paths
 * of every image (a directory with include/ and kernel/ below it) and
 * strip it from them; sets imp->source_root (NULL when none). Call before
 * the regrouping by file. -1 only when out of memory. */
int imp_detect_source_root(struct kc_import *imp, struct kc_err *err);

#endif
