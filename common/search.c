/*
 * search.c - kc_lower_bound, the binary search every sorted table of the
 * project (points, files, images, line tables) is looked up with.
 */
#include "search.h"

size_t kc_lower_bound(size_t n, int (*below)(const void *ctx, size_t i), const void *ctx)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (below(ctx, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
