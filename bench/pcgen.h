/*
 * pcgen.h - synthetic kernel coverage for the benchmarks: coverage points
 * laid out like a kernel's (call sites a few instructions apart), and
 * "k covered of N" selections clustered the way real coverage is (runs of
 * neighbouring points inside functions that executed, a few skipped
 * branches in each run).
 *
 * Everything is deterministic for a given seed. Arrays returned are
 * malloc'ed and owned by the caller.
 */
#ifndef BENCH_PCGEN_H
#define BENCH_PCGEN_H

#include <stddef.h>
#include <stdint.h>

/* xorshift64* state; never 0. */
uint64_t bench_rand(uint64_t *state);

/* n coverage points starting at base, strictly increasing; the distance
 * between neighbours is 5 (the call itself) plus a geometric number of bytes
 * with mean `mean_gap` - 5. Returns NULL when out of memory. */
uint64_t *bench_points_synth(uint64_t base, size_t n, double mean_gap, uint64_t *rng);

/* Pick k of the n (sorted) points into out[] (room for k), sorted: runs of
 * consecutive points with geometric length (mean 12), each point of a run
 * taken with probability 0.85. Returns the number picked (k, or n if k > n),
 * or (size_t)-1 when out of memory. */
size_t bench_pick_clustered(const uint64_t *pts, size_t n, size_t k, uint64_t *rng,
			    uint64_t *out);

/* log2(C(n, k)) in bits (the information needed to name k of n points). */
double bench_log2_binom(uint64_t n, uint64_t k);

#endif
