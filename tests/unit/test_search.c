/*
 * test_search.c - kc_lower_bound (common/search.c): empty and one-element
 * sequences, keys before, between, on and after the elements, runs of
 * equal elements (the first of them), and an upper bound through "<=".
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_one),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_upper_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
