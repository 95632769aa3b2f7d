/*
 * dayunion.h - every label's coverage of one day, per binary (schema 013,
 * table coverage_day_unions): what a day window without a label filter
 * reads instead of one row set per label.
 *
 * A (binary, day)'s union is valid when coverage_days.union_stamp equals
 * its stamp (012's triggers move the stamp on every write or removal of a
 * per-day row; only code that keeps the union equal to the day's rows sets
 * union_stamp). Readers take the union rows of valid days and the per-label
 * rows of the others (server/query/select.c); the writer adds each batch's
 * bits to the unions it touches and rebuilds those found stale first
 * (server/store/store.c).
 */
#ifndef KC_DAYUNION_H
#define KC_DAYUNION_H

#include <stdint.h>

#include "err.h"
#include "sql.h"

/* Inside a transaction on db: replace the union rows of (binary, day) by
 * one row holding the union of the day's per-label rows (none when they
 * are empty) and mark it valid. The caller holds the key's lock
 * (kc_dayunion_lock_key) on PostgreSQL. Returns 0, or -1 with err filled. */
int kc_dayunion_rebuild(struct kc_sql *db, int64_t binary, int64_t day, struct kc_err *err)
	KC_MUST_CHECK;

/* Inside a transaction on db: rebuild every (binary, day) whose union is
 * stale and that has per-day rows or union rows (those of a day emptied by
 * other means go), each under its key's lock; *rebuilt (may be
 * NULL) gets how many. Run at start-up (a database from before schema 013,
 * or rows written by other means), and cheap when nothing is stale (one
 * scan of coverage_days). Returns 0, or -1 with err filled. */
int kc_dayunion_rebuild_stale(struct kc_sql *db, int64_t *rebuilt, struct kc_err *err)
	KC_MUST_CHECK;

/* The advisory lock key of (binary, day)'s union (kc_nodes_lock_keys). */
int64_t kc_dayunion_key(int64_t binary, int64_t day);

#endif
