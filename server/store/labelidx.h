/*
 * labelidx.h - the label index (schema/010_label_files.sql): per file,
 * label and image of an imported build, the points of the file the label
 * covered over all days and the first and last day it covered any. The
 * writer keeps it current per batch (kc_lidx_add), import and retention
 * recompute a build (kc_lidx_build), and "which labels covered this file"
 * over all days reads it instead of every label's coverage.
 *
 * Every function runs SQL on the caller's connection inside the caller's
 * transaction and returns 0, or -1 with err set.
 */
#ifndef KC_LABELIDX_H
#define KC_LABELIDX_H

#include <stdint.h>

#include <roaring/roaring.h>
#include "sql.h"

#include "err.h"

/* The writer's state: the point maps (point bit -> file) of the images it
 * indexed lately, within a fixed budget. Owned by one thread. */
struct kc_lidx;
struct kc_lidx *kc_lidx_new(void); /* NULL: out of memory */
void kc_lidx_free(struct kc_lidx *x); /* NULL is fine */
/* Forget the cached maps: after a job that may have imported, replaced or
 * deleted a build, or a rolled back batch. */
void kc_lidx_forget(struct kc_lidx *x);

/* bits became covered by label on day (>= 0) in binary: bits not yet in
 * that (binary, label, day)'s stored rows. Adds them to the index rows of
 * the files they belong to in every indexed image of the binary (none when
 * the binary's build is not imported or not indexed). */
int kc_lidx_add(struct kc_lidx *x, struct kc_sql *db, int64_t binary, int64_t label, int64_t day,
		const roaring_bitmap_t *bits, struct kc_err *err) KC_MUST_CHECK;

/* Recompute the index of build (builds.id) from its coverage rows and mark
 * it complete; an imported build is required (one without images gets an
 * empty, complete index). */
int kc_lidx_build(struct kc_sql *db, int64_t build, struct kc_err *err) KC_MUST_CHECK;

/* kc_lidx_build for every imported build not marked complete; *built (may
 * be NULL) gets how many. */
int kc_lidx_build_missing(struct kc_sql *db, int64_t *built, struct kc_err *err) KC_MUST_CHECK;

/* Drop the index of build and its mark (before its files go). */
int kc_lidx_clear(struct kc_sql *db, int64_t build, struct kc_err *err) KC_MUST_CHECK;

#endif
