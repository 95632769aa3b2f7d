/*
 * pcgen.c - synthetic coverage points and clustered coverage for the
 * benchmarks (see pcgen.h). The layout model: a kernel compiled with
 * -fsanitize-coverage=trace-pc has a coverage call every basic block, so
 * points sit a handful of instructions apart; an executed function covers
 * most of its blocks, so covered points come in runs of neighbours.
 */
#include "pcgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform double in [0, 1). */
static double unit(uint64_t *rng)
{
	return (double)(bench_rand(rng) >> 11) / 9007199254740992.0;
}

/* Geometric variate >= 0 with the given mean. */
static uint64_t geometric(uint64_t *rng, double mean)
{
	double p, u;

	if (mean <= 0)
		return 0;
	p = 1.0 / (mean + 1.0);
	u = unit(rng);
	return (uint64_t)floor(log1p(-u) / log1p(-p));
}

uint64_t *bench_points_synth(uint64_t base, size_t n, double mean_gap, uint64_t *rng)
{
	uint64_t *p = malloc((n ? n : 1) * sizeof(*p));
	uint64_t at = base;

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		p[i] = at;
		at += 5 + geometric(rng, mean_gap - 5);
	}
	return p;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort idx[0..n) and drop duplicates; returns the new count. */
static size_t sort_unique(size_t *idx, size_t n)
{
	size_t j = 0;

	qsort(idx, n, sizeof(*idx), cmp_size);
	for (size_t i = 0; i < n; i++)
		if (!j || idx[j - 1] != idx[i])
			idx[j++] = idx[i];
	return j;
}

size_t bench_pick_clustered(const uint64_t *pts, size_t n, size_t k, uint64_t *rng,
			    uint64_t *out)
{
	size_t *idx, cap = k + k / 8 + 64, got = 0, next_sort = k;

	if (k >= n) {
		memcpy(out, pts, n * sizeof(*pts));
		return n;
	}
	idx = malloc(cap * sizeof(*idx));
	if (!idx)
		return (size_t)-1;
	/* Add runs until k distinct indices are in hand; the array is sorted
	 * and de-duplicated only when it fills up, then grown if needed. */
	for (;;) {
		size_t start = (size_t)(bench_rand(rng) % n);
		size_t len = 1 + (size_t)geometric(rng, 11);

		for (size_t i = start; i < n && i < start + len; i++) {
			if (unit(rng) >= 0.85)
				continue;
			if (got == cap) {
				size_t *t;

				got = sort_unique(idx, got);
				if (got >= k)
					break;
				t = realloc(idx, 2 * cap * sizeof(*idx));
				if (!t) {
					free(idx);
					return (size_t)-1;
				}
				idx = t;
				cap *= 2;
			}
			idx[got++] = i;
		}
		if (got >= next_sort) {
			got = sort_unique(idx, got);
			if (got >= k)
				break;
			/* Sort again only once the deficit is covered twice over. */
			next_sort = got + 2 * (k - got) + 16;
		}
	}
	/* Drop the overshoot at random, keeping order. */
	if (got > k) {
		unsigned char *drop = calloc(got, 1);
		size_t ndrop = got - k, j = 0;

		if (!drop) {
			free(idx);
			return (size_t)-1;
		}
		while (ndrop) {
			size_t v = (size_t)(bench_rand(rng) % got);

			if (!drop[v]) {
				drop[v] = 1;
				ndrop--;
			}
		}
		for (size_t i = 0; i < got; i++)
			if (!drop[i])
				idx[j++] = idx[i];
		free(drop);
		got = j;
	}
	for (size_t i = 0; i < got; i++)
		out[i] = pts[idx[i]];
	free(idx);
	return got;
}

double bench_log2_binom(uint64_t n, uint64_t k)
{
	if (k > n)
		return 0;
	return (lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1)) /
	       log(2.0);
}
