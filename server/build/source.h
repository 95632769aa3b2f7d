/*
 * source.h - the source texts of a build, read at import time: from a
 * directory (--source DIR) or from a git repository at a revision (--git
 * REPO --rev REV), read with libgit2 from the object database (no checkout;
 * bare or not).
 *
 * Every text comes with its content id: the git blob id (SHA-1 hex of
 * "blob <len>\0" + text) for both kinds, computed by libgit2 for
 * directory files, so the same content has the same id however it was
 * read and the database stores it once (schema 008, source_texts).
 *
 * kc_source_read_file() is the one way import code reads a source file of
 * the build (the symbolized files, and e.g. MAINTAINERS): use it for any
 * file of the tree, never the file system directly.
 *
 * Lifecycle: kc_source_open_*() hand out a struct kc_source owned by the
 * caller, released with kc_source_free() (NULL is fine). One thread at a
 * time per kc_source.
 */
#ifndef KC_SOURCE_H
#define KC_SOURCE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define KC_SOURCE_ID_LEN 40 /* hex digits of a content (git blob) id */

struct kc_source;

/* The tree below dir (must be a directory). NULL with err (KC_E_BAD_INPUT)
 * otherwise. */
struct kc_source *kc_source_open_dir(const char *dir, struct kc_err *err);

/* The tree of commit rev ("HEAD" when NULL; anything git rev-parse
 * accepts that names a commit, tag or tree) of the repository at repo (a
 * work tree, its .git or a bare repository). NULL with err
 * (KC_E_BAD_INPUT: not a repository, unknown revision). */
struct kc_source *kc_source_open_git(const char *repo, const char *rev, struct kc_err *err);

/* The full hex id of the commit (or tree) a git source resolved rev to;
 * NULL for a directory source. Borrowed from s. */
const char *kc_source_revision(const struct kc_source *s);

/*
 * Read the text of relpath (relative, plain segments: kc_path_safe(p, 0))
 * in the build's source into out (appended, NUL-terminated) and its
 * content id into id. Returns 1 when read; 0 when the file is absent, not
 * a regular file (directory, symlink, submodule) or larger than max bytes
 * (out untouched); -1 on an error of the repository or out of memory (err).
 */
int kc_source_read_file(struct kc_source *s, const char *relpath, size_t max,
			struct kc_buf *out, char id[KC_SOURCE_ID_LEN + 1],
			struct kc_err *err) KC_MUST_CHECK;

void kc_source_free(struct kc_source *s);

#endif
