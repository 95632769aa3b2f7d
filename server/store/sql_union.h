/*
 * sql_union.h - the union of stored coverage bitmaps, folded in the client.
 *
 * SQLite folds them with its kc_roaring_or aggregate (db.c); PostgreSQL
 * has no such aggregate and kcovd installs no server extension, so code
 * that must run on both selects the rows and folds them here.
 */
#ifndef KC_SQL_UNION_H
#define KC_SQL_UNION_H

#include <roaring/roaring.h>

#include "err.h"
#include "sql.h"

/* Step st to its end and return the union of the CRoaring portable
 * bitmaps in column col of its rows (SQL NULLs skipped; no rows: an empty
 * bitmap). The caller binds st before and resets or finalizes it after,
 * and frees the result with kc_bitmap_free. NULL with err filled when a
 * step fails (its code), a value is not a portable bitmap (KC_E_INTERNAL)
 * or memory runs out. */
roaring_bitmap_t *kc_sql_union(struct kc_stmt *st, int col, struct kc_err *err);

#endif
