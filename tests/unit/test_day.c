/*
 * test_day.c - day numbers and YYYY-MM-DD dates: known anchors, a round
 * trip over every day of 1970..2400, and the malformed or impossible dates
 * the API must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "day.h"

static void test_anchors(void **state)
{
	char s[11];
	int64_t d = -1;

	(void)state;
	assert_int_equal(kc_day_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(kc_day_parse("2000-03-01", &d), 0);
	assert_int_equal(d, 11017);
	assert_int_equal(kc_day_parse("2026-11-30", &d), 0);
	assert_int_equal(d, 20787);
	assert_int_equal(kc_day_parse("9999-12-31", &d), 0);
	assert_int_equal(d, KC_DAY_MAX);
	kc_day_format(20787, s);
	assert_string_equal(s, "2026-11-30");
	kc_day_format(KC_DAY_MAX, s);
	assert_string_equal(s, "9999-12-31");
}

static void test_round_trip(void **state)
{
	char s[11];
	int64_t prev = -1;

	(void)state;
	for (int64_t day = 0; day < 157000; day++) {
		int64_t back = -1;

		kc_day_format(day, s);
		assert_int_equal(kc_day_parse(s, &back), 0);
		assert_int_equal(back, day);
		assert_true(back > prev);
		prev = back;
	}
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",           "2026-11-3",  "2026-11-300", "2026/11/30", "1969-12-31",
		"2026-02-29", "2024-02-30", "2026-13-01",  "2026-00-10", "2026-04-31",
		"+202-11-30", " 2026-1-30", "2026-11-30x", "20261130",   "2100-02-29",
		"2024-+1-01", "2024- 1-01", "2024-01-+1", "2024-01- 1", "2024-0x-01",
	};
	int64_t d = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kc_day_parse(bad[i], &d) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(d, 7);
	assert_int_equal(kc_day_parse("2024-02-29", &d), 0);
	assert_int_equal(kc_day_parse("2000-02-29", &d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
