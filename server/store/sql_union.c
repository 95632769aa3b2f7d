/*
 * sql_union.c - folds the coverage bitmaps of a statement's rows into one
 * union in the client (sql_union.h), the portable replacement of SQLite's
 * kc_roaring_or aggregate.
 */
#include "sql_union.h"

#include "blob.h"
#include "wire.h"

roaring_bitmap_t *kc_sql_union(struct kc_stmt *st, int col, struct kc_err *err)
{
	roaring_bitmap_t *u = roaring_bitmap_create();
	int rc;

	if (!u) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	while ((rc = kc_stmt_step(st, err)) == KC_ROW) {
		roaring_bitmap_t *b;

		if (kc_stmt_column_type(st, col) == KC_SQL_NULL)
			continue;
		b = kc_bitmap_from_blob(kc_stmt_column_blob(st, col),
					(size_t)kc_stmt_column_bytes(st, col));
		if (!b) {
			kc_err_set(err, KC_E_INTERNAL, "union: a stored value is not a portable bitmap");
			rc = -1;
			break;
		}
		roaring_bitmap_or_inplace(u, b);
		kc_bitmap_free(b);
	}
	if (rc != KC_DONE) {
		kc_bitmap_free(u);
		return NULL;
	}
	return u;
}
