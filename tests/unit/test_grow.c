/*
 * test_grow.c - kc_grow / KC_GROW (common/grow.c): growth from nothing,
 * no change when there is room, at least doubling, and a refused size
 * overflow that leaves the array and its capacity alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "grow.h"

static void test_append(void **state)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0, reallocs = 0, last = 0;

	(void)state;
	for (uint32_t i = 0; i < 10000; i++) {
		assert_int_equal(KC_GROW(v, cap, n + 1), 0);
		assert_true(cap >= n + 1);
		if (cap != last) {
			reallocs++;
			last = cap;
		}
		v[n++] = i;
	}
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(v[i], i);
	assert_true(reallocs <= 12); /* 16, 32, ... 16384: doubling */
	free(v);
}

static void test_room_and_need(void **state)
{
	char *v = NULL;
	size_t cap = 0;
	char *before;

	(void)state;
	assert_int_equal(KC_GROW(v, cap, 1), 0);
	assert_int_equal(cap, 16);
	before = v;
	assert_int_equal(KC_GROW(v, cap, 16), 0); /* room: nothing moves */
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 16);
	assert_int_equal(KC_GROW(v, cap, 100), 0); /* more than double: need */
	assert_int_equal(cap, 100);
	free(v);
}

static void test_overflow(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(KC_GROW(v, cap, 4), 0);
	assert_int_equal(KC_GROW(v, cap, SIZE_MAX / 4), -1);
	assert_non_null(v);
	assert_int_equal(cap, 16);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_room_and_need),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
