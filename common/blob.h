/*
 * blob.h - the one pair that turns a CRoaring bitmap into the bytes the
 * database stores (the portable format, which any CRoaring reads) and
 * back.
 */
#ifndef KC_BLOB_H
#define KC_BLOB_H

#include <stddef.h>

#include <roaring/roaring.h>

/* The bitmap stored in the n bytes at p, or NULL when they are not a
 * portable bitmap (no bytes are not one either) or memory ran out. Free
 * with kc_bitmap_free. */
roaring_bitmap_t *kc_bitmap_from_blob(const void *p, size_t n);

/* b in the portable format, in a malloc'ed buffer of *len bytes (at least
 * one byte is allocated), or NULL when out of memory. */
void *kc_bitmap_to_blob(const roaring_bitmap_t *b, size_t *len);

#endif
