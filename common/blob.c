/*
 * blob.c - CRoaring bitmaps to and from the portable bytes stored in
 * SQLite (blob.h).
 */
#include "blob.h"

#include <stdlib.h>

roaring_bitmap_t *kc_bitmap_from_blob(const void *p, size_t n)
{
	if (!p || n == 0)
		return NULL; /* even the empty bitmap has a header */
	return roaring_bitmap_portable_deserialize_safe(p, n);
}

void *kc_bitmap_to_blob(const roaring_bitmap_t *b, size_t *len)
{
	size_t n = roaring_bitmap_portable_size_in_bytes(b);
	char *buf = malloc(n ? n : 1);

	if (!buf)
		return NULL;
	*len = roaring_bitmap_portable_serialize(b, buf);
	return buf;
}
