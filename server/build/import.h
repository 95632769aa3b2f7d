/*
 * import.h - importing a kernel build: symbolize its vmlinux and modules
 * and store their coverage points, files and functions (schema 002).
 *
 * Import is split in two so the server's single writer is never busy
 * symbolizing: kc_import_prepare() reads the ELF/DWARF files (and source
 * texts) into memory without touching the database, then
 * kc_import_write() stores the prepared build inside the caller's
 * transaction (its signature fits kc_store_call()). A re-import of the same
 * build replaces the stored points. Coverage is never touched: queries
 * combine it with the points at read time, so coverage that arrived before
 * the import is symbolized as soon as the import commits.
 *
 * Lifecycle: kc_import_prepare() hands out a struct kc_import that the
 * caller frees with kc_import_free() (NULL is harmless).
 */
#ifndef KC_IMPORT_H
#define KC_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "sql.h"

/* Largest source file kept in the database; larger ones are skipped. */
#define KC_IMPORT_SOURCE_MAX (4u << 20)
/* Most strip prefixes accepted. */
#define KC_IMPORT_MAX_STRIP 16

/* Where a running import is (kc_import_opts.progress). */
struct kc_import_progress {
	uint32_t binaries_done, binaries_total; /* vmlinux + modules */
	uint64_t points;                         /* points of the binaries done */
	uint32_t files; /* distinct source files: 0 until every binary is read */
};

struct kc_import_opts {
	const char *vmlinux;     /* required: the vmlinux ELF */
	const char *modules_dir; /* optional: every *.ko, *.ko.xz, *.ko.zst,
	                            *.ko.gz below it (recursive): a build
	                            tree or a modules_install lib/modules/REL */
	const char *source_dir;  /* optional: source tree; texts are stored */
	const char *const *strip_prefixes; /* see struct kc_sym_opts */
	size_t nstrip;
	/* optional, instead of source_dir: texts are read from this git
	 * repository at git_rev (NULL: HEAD) with libgit2 (source.h) */
	const char *git_repo, *git_rev;
	const char *debug_dir; /* optional: separate debug files by build id
	                          (struct kc_sym_opts.debug_dir) */
	/* optional: called on the preparing thread after each binary and once
	 * more when the files are known (progress->files set). */
	void (*progress)(void *ctx, const struct kc_import_progress *p);
	void *progress_ctx;
};

struct kc_import;

/* Symbolize everything o names. Fills *out (owned by the caller) and
 * returns 0, or returns -1 with a message (naming the failing file). */
int kc_import_prepare(const struct kc_import_opts *o, struct kc_import **out,
		      struct kc_err *err) KC_MUST_CHECK;

/* Store a prepared import (arg: struct kc_import *) on the connection db
 * (struct kc_sql *). Runs no BEGIN/COMMIT itself: the caller owns the
 * transaction. Creates the builds row and missing binaries rows, and sets
 * builds.link_text to the vmlinux _text. */
int kc_import_write(void *arg, void *db, struct kc_err *err);

/* What was imported, as a new JSON object: build_id, link_text, images,
 * files, functions, points, sources, source_root, and with a git source
 * git and rev (the resolved commit). NULL when out of memory. */
json_t *kc_import_summary(const struct kc_import *imp);

void kc_import_free(struct kc_import *imp);

/* The write of an import by an admin: kc_import_write and the audit row
 * (build.import, target the build id, actor e.g. "cli" or "token NAME
 * (kc_ID)"), on db inside the caller's transaction. */
struct kc_import_audited {
	struct kc_import *imp; /* borrowed */
	const char *actor;
};
int kc_import_write_audited(void *arg, void *db, struct kc_err *err);

/* The command line's import: prepare, then write and audit (actor) in one
 * transaction on db. On success *summary (may be NULL) receives
 * kc_import_summary(). */
int kc_import_run(struct kc_sql *db, const struct kc_import_opts *o, const char *actor,
		  json_t **summary, struct kc_err *err) KC_MUST_CHECK;

#endif
