/*
 * test_search.c - kc_lower_bound (common/search.c): empty and one-element
 * sequences, keys before, between, on and after the elements, runs of
 * equal elements (the first of them), and an upper bound through "<=";
 * kc_lower_bound_near against kc_lower_bound for every length up to 40,
 * every key and every hint, counting its probes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "search.h"

struct key {
	const int *v;
	int k;
};

static int below(const void *ctx, size_t i)
{
	const struct key *k = ctx;

	return k->v[i] < k->k;
}

static int at_or_before(const void *ctx, size_t i)
{
	const struct key *k = ctx;

	return k->v[i] <= k->k;
}

static size_t lb(const int *v, size_t n, int k)
{
	struct key key = { v, k };

	return kc_lower_bound(n, below, &key);
}

static void test_empty_and_one(void **state)
{
	const int one[] = { 5 };

	(void)state;
	assert_int_equal(lb(NULL, 0, 3), 0);
	assert_int_equal(lb(one, 1, 4), 0);
	assert_int_equal(lb(one, 1, 5), 0);
	assert_int_equal(lb(one, 1, 6), 1);
}

static void test_positions(void **state)
{
	const int v[] = { 1, 3, 3, 3, 7, 9 };
	const size_t n = sizeof(v) / sizeof(v[0]);

	(void)state;
	assert_int_equal(lb(v, n, 0), 0);
	assert_int_equal(lb(v, n, 1), 0);
	assert_int_equal(lb(v, n, 2), 1);
	assert_int_equal(lb(v, n, 3), 1); /* the first of equal elements */
	assert_int_equal(lb(v, n, 4), 4);
	assert_int_equal(lb(v, n, 9), 5);
	assert_int_equal(lb(v, n, 10), n);
}

static void test_upper_bound(void **state)
{
	const int v[] = { 1, 3, 3, 3, 7, 9 };
	struct key k = { v, 3 };

	(void)state;
	assert_int_equal(kc_lower_bound(6, at_or_before, &k), 4);
	k.k = 0;
	assert_int_equal(kc_lower_bound(6, at_or_before, &k), 0);
	k.k = 9;
	assert_int_equal(kc_lower_bound(6, at_or_before, &k), 6);
}

struct counted {
	struct key k;
	size_t probes;
};

static int below_counted(const void *ctx, size_t i)
{
	struct counted *c = (struct counted *)ctx;

	c->probes++;
	return below(&c->k, i);
}

static void test_near_matches_bisection(void **state)
{
	int v[40];

	(void)state;
	for (size_t n = 0; n <= 40; n++) {
		for (size_t i = 0; i < n; i++)
			v[i] = (int)(2 * (i / 3)); /* runs of three equal values */
		for (int k = -1; k <= (int)n; k++) {
			size_t want = lb(v, n, k);

			for (size_t hint = 0; hint <= n + 1; hint++) {
				struct counted c = { { v, k }, 0 };

				assert_int_equal(kc_lower_bound_near(n, hint, below_counted, &c),
						 want);
				assert_true(c.probes <= 14); /* 2 log2(40) + 2 */
			}
		}
	}
}

static void test_near_is_cheap_near_the_hint(void **state)
{
	static int v[1 << 16];
	struct counted c = { { v, 0 }, 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		v[i] = (int)i;
	c.k.k = 40001; /* answer 40001, one step from the hint */
	assert_int_equal(kc_lower_bound_near(1 << 16, 40000, below_counted, &c), 40001);
	assert_true(c.probes <= 3);
	c.probes = 0;
	c.k.k = 39990; /* ten steps back */
	assert_int_equal(kc_lower_bound_near(1 << 16, 40000, below_counted, &c), 39990);
	assert_true(c.probes <= 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_one),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_upper_bound),
		cmocka_unit_test(test_near_matches_bisection),
		cmocka_unit_test(test_near_is_cheap_near_the_hint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
