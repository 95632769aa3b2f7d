/*
 * search.h - the one binary search of the project: the first index of a
 * sorted sequence whose element is not "below" the key (C++'s
 * lower_bound; an upper bound is a lower bound with "<=" as below).
 */
#ifndef KC_SEARCH_H
#define KC_SEARCH_H

#include <stddef.h>

/* below(ctx, i): is element i ordered before the key? It must be true for
 * a prefix of [0, n) and false after it. Returns the length of that
 * prefix (n when every element is below). ctx is passed through. */
size_t kc_lower_bound(size_t n, int (*below)(const void *ctx, size_t i), const void *ctx);

/* The same answer as kc_lower_bound, found by searching outwards from
 * index hint (any value; clamped to [0, n)): cheaper when the answer is
 * known to be near hint, as for keys looked up in ascending order. */
size_t kc_lower_bound_near(size_t n, size_t hint, int (*below)(const void *ctx, size_t i),
			   const void *ctx);

#endif
