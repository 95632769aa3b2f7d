/*
 * source.c - reading the source files of a build at import time, from a
 * directory or from a git tree at a revision (libgit2: revparse, tree
 * entry by path, blob; no checkout, so bare repositories work and the
 * work tree is never looked at). Each text gets its git blob id as its
 * content id (git_odb_hash for directory files), so identical content is
 * recognised across builds and source kinds. source.h is the API.
 */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "fileio.h"
#include "path.h"

struct kc_source {
	char *dir;            /* directory source, else NULL */
	git_repository *repo; /* git source, else NULL */
	git_tree *tree;
	char rev[GIT_OID_HEXSZ + 1];
};

static int git_fail(struct kc_err *err, enum kc_errc code, const char *what, const char *arg)
{
	const git_error *e = git_error_last();

	return kc_err_set(err, code, "%s %s: %s", what, arg, e && e->message ? e->message : "failed");
}

struct kc_source *kc_source_open_dir(const char *dir, struct kc_err *err)
{
	struct kc_source *s;
	struct stat sb;

	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		kc_err_set(err, KC_E_BAD_INPUT, "source directory %s is not a directory", dir);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	/* git_odb_hash computes the content ids; kc_source_free shuts down */
	if (git_libgit2_init() < 0) {
		free(s->dir);
		free(s);
		kc_err_set(err, KC_E_INTERNAL, "libgit2 failed to initialize");
		return NULL;
	}
	return s;
}

struct kc_source *kc_source_open_git(const char *repo, const char *rev, struct kc_err *err)
{
	struct kc_source *s = calloc(1, sizeof(*s));
	git_object *obj = NULL;
	struct kc_source *ret = NULL;

	if (!s) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	/* Reference counted by libgit2; kc_source_free shuts it down again. */
	if (git_libgit2_init() < 0) {
		free(s);
		kc_err_set(err, KC_E_INTERNAL, "libgit2 failed to initialize");
		return NULL;
	}
	if (!rev)
		rev = "HEAD";
	if (git_repository_open_ext(&s->repo, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		git_fail(err, KC_E_BAD_INPUT, "not a git repository:", repo);
		goto out;
	}
	if (git_revparse_single(&obj, s->repo, rev) < 0) {
		git_fail(err, KC_E_BAD_INPUT, "unknown revision", rev);
		goto out;
	}
	if (git_object_peel((git_object **)&s->tree, obj, GIT_OBJECT_TREE) < 0) {
		git_fail(err, KC_E_BAD_INPUT, "revision names no tree:", rev);
		goto out;
	}
	git_oid_tostr(s->rev, sizeof(s->rev), git_object_id(obj));
	ret = s;
	s = NULL;
out:
	git_object_free(obj);
	kc_source_free(s);
	return ret;
}

const char *kc_source_revision(const struct kc_source *s)
{
	return s->repo ? s->rev : NULL;
}

/* Append n bytes and a NUL (not counted); -1 when out of memory. */
static int add_text(struct kc_buf *out, const void *p, size_t n, struct kc_err *err)
{
	kc_buf_add(out, p, n);
	if (kc_buf_grow(out, 1) < 0 || out->oom)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	out->data[out->len] = '\0';
	return 0;
}

static int read_git(struct kc_source *s, const char *relpath, size_t max, struct kc_buf *out,
		    char id[KC_SOURCE_ID_LEN + 1], struct kc_err *err)
{
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc, ret = -1;

	rc = git_tree_entry_bypath(&e, s->tree, relpath);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return git_fail(err, KC_E_INTERNAL, "reading", relpath);
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    (git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB &&
	     git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB_EXECUTABLE)) {
		ret = 0;
		goto out;
	}
	if (git_blob_lookup(&blob, s->repo, git_tree_entry_id(e)) < 0) {
		git_fail(err, KC_E_INTERNAL, "reading", relpath);
		goto out;
	}
	if ((size_t)git_blob_rawsize(blob) > max) {
		ret = 0;
		goto out;
	}
	if (add_text(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), err) < 0)
		goto out;
	git_oid_tostr(id, KC_SOURCE_ID_LEN + 1, git_tree_entry_id(e));
	ret = 1;
out:
	git_blob_free(blob);
	git_tree_entry_free(e);
	return ret;
}

static int read_dir(struct kc_source *s, const char *relpath, size_t max, struct kc_buf *out,
		    char id[KC_SOURCE_ID_LEN + 1], struct kc_err *err)
{
	char path[4096];
	struct kc_buf text = KC_BUF_INIT;
	struct kc_err ignored;
	struct stat sb;
	git_oid oid;
	int ret = 0;

	if (snprintf(path, sizeof(path), "%s/%s", s->dir, relpath) >= (int)sizeof(path) ||
	    lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	if (kc_read_file(path, max, &text, &ignored) < 0)
		goto out; /* unreadable or too large: no text */
	if (text.oom) {
		ret = kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (git_odb_hash(&oid, text.data ? (const void *)text.data : "", text.len,
			 GIT_OBJECT_BLOB) < 0) {
		ret = git_fail(err, KC_E_INTERNAL, "hashing", relpath);
		goto out;
	}
	if (add_text(out, text.data, text.len, err) < 0) {
		ret = -1;
		goto out;
	}
	git_oid_tostr(id, KC_SOURCE_ID_LEN + 1, &oid);
	ret = 1;
out:
	kc_buf_release(&text);
	return ret;
}

int kc_source_read_file(struct kc_source *s, const char *relpath, size_t max,
			struct kc_buf *out, char id[KC_SOURCE_ID_LEN + 1], struct kc_err *err)
{
	if (!kc_path_safe(relpath, 0))
		return 0;
	return s->repo ? read_git(s, relpath, max, out, id, err)
		       : read_dir(s, relpath, max, out, id, err);
}

void kc_source_free(struct kc_source *s)
{
	if (!s)
		return;
	free(s->dir);
	git_tree_free(s->tree);
	git_repository_free(s->repo);
	git_libgit2_shutdown(); /* each open called git_libgit2_init once */
	free(s);
}
