/*
 * grow.h - the one way the project grows an array (like git's ALLOC_GROW):
 * the capacity at least doubles, so appending n elements costs O(n)
 * copies, not a realloc per element.
 */
#ifndef KC_GROW_H
#define KC_GROW_H

#include <stddef.h>

/* Make *arr (of *cap elements of elem bytes) hold at least need elements:
 * the new capacity is the larger of need, 2 * *cap and 16. Returns 0, or
 * -1 when out of memory or when the size overflows; *arr and *cap are then
 * unchanged (and still owned by the caller). */
int kc_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* KC_GROW(p, cap, need) for a T *p and a size_t cap. */
#define KC_GROW(arr, cap, need) kc_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

#endif
