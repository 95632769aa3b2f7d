/*
 * test_ratelimit.c - the token buckets of http/ratelimit.c with a clock the
 * test drives: burst, refill, the Retry-After rounding, independent keys,
 * and that a table full of other keys forgets the least recently seen
 * (bounded memory) but never the busy one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <sodium.h>

#include "ratelimit.h"

static void test_burst_and_refill(void **state)
{
	struct kc_ratelimit *rl = kc_ratelimit_new(2, 5, NULL);
	double t = 100.0;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 5; i++)
		assert_int_equal(kc_ratelimit_take(rl, "a", t), 0);
	/* Empty: one request refills in 0.5 s, rounded up to 1 s. */
	assert_int_equal(kc_ratelimit_take(rl, "a", t), 1);
	assert_int_equal(kc_ratelimit_take(rl, "a", t + 0.4), 1);
	assert_int_equal(kc_ratelimit_take(rl, "a", t + 0.5), 0);
	/* Another key has its own full bucket. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(kc_ratelimit_take(rl, "b", t + 0.5), 0);
	/* A long pause refills to the burst, not beyond. */
	t += 1000;
	for (int i = 0; i < 5; i++)
		assert_int_equal(kc_ratelimit_take(rl, "a", t), 0);
	assert_int_not_equal(kc_ratelimit_take(rl, "a", t), 0);
	/* A clock that goes back does not refill. */
	assert_int_not_equal(kc_ratelimit_take(rl, "a", t - 50), 0);
	kc_ratelimit_free(rl);
}

static void test_retry_after_rounding(void **state)
{
	struct kc_ratelimit *rl = kc_ratelimit_new(1, 1, NULL);

	(void)state;
	assert_int_equal(kc_ratelimit_take(rl, "k", 10.0), 0);
	assert_int_equal(kc_ratelimit_take(rl, "k", 10.0), 1);
	kc_ratelimit_free(rl);
	/* A slow rate: 1 request per second at most, so an empty bucket waits
	 * a whole second; with burst 3 at 1/s after three takes, also 1 s. */
	rl = kc_ratelimit_new(1, 3, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kc_ratelimit_take(rl, "k", 0.0), 0);
	assert_int_equal(kc_ratelimit_take(rl, "k", 0.25), 1);
	kc_ratelimit_free(rl);
}

static void test_bounded_table_keeps_the_busy_key(void **state)
{
	struct kc_ratelimit *rl = kc_ratelimit_new(1, 3, NULL);
	char key[32];
	double t = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(kc_ratelimit_take(rl, "flooder", t), 0);
	assert_int_not_equal(kc_ratelimit_take(rl, "flooder", t), 0);
	/* Ten times the table's size in other keys, the flooder asking again
	 * after each of them: it stays the most recently seen of its set, so
	 * it is never evicted and never gets a fresh bucket. */
	for (int i = 0; i < 10 * KC_RATE_SLOTS; i++) {
		t += 1e-6;
		snprintf(key, sizeof(key), "addr-%d", i);
		assert_int_equal(kc_ratelimit_take(rl, key, t), 0);
		if (i % 64 == 0)
			assert_int_not_equal(kc_ratelimit_take(rl, "flooder", t), 0);
	}
	/* The first of the other keys was forgotten: a full bucket again. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(kc_ratelimit_take(rl, "addr-0", t), 0);
	kc_ratelimit_free(rl);
}

static void test_bad_settings(void **state)
{
	struct kc_err err;

	(void)state;
	assert_null(kc_ratelimit_new(0, 5, &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	assert_null(kc_ratelimit_new(5, 0, &err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_and_refill),
		cmocka_unit_test(test_retry_after_rounding),
		cmocka_unit_test(test_bounded_table_keeps_the_busy_key),
		cmocka_unit_test(test_bad_settings),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
