/*
 * search.c - kc_lower_bound, the binary search every sorted table of the
 * project (points, files, images, line tables) is looked up with.
 */
#include "search.h"

static size_t bisect(size_t lo, size_t hi, int (*below)(const void *ctx, size_t i),
		     const void *ctx)
{

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (below(ctx, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t kc_lower_bound(size_t n, int (*below)(const void *ctx, size_t i), const void *ctx)
{
	return bisect(0, n, below, ctx);
}

/* Exponential search: probe hint + 1, + 3, + 7, ... (or back from hint)
 * until the answer is bracketed, then bisect the bracket; a lookup
 * close to hint costs about 2 log2(distance) probes. */
size_t kc_lower_bound_near(size_t n, size_t hint, int (*below)(const void *ctx, size_t i),
			   const void *ctx)
{
	size_t lo, hi, step = 1;

	if (hint >= n)
		hint = n ? n - 1 : 0;
	if (n == 0)
		return 0;
	if (below(ctx, hint)) {
		lo = hint + 1; /* the answer is in [lo, n] */
		while (lo + step - 1 < n && below(ctx, lo + step - 1)) {
			lo += step;
			step *= 2;
		}
		hi = lo + step - 1 < n ? lo + step - 1 : n;
	} else {
		hi = hint; /* the answer is in [0, hi] */
		while (hi >= step && !below(ctx, hi - step)) {
			hi -= step;
			step *= 2;
		}
		lo = hi >= step ? hi - step + 1 : 0;
	}
	return bisect(lo, hi, below, ctx);
}
