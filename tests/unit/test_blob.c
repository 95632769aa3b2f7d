/*
 * test_blob.c - the bitmap <-> stored bytes pair (common/blob.c): a round
 * trip keeps every value, the empty bitmap too, and bytes that are not a
 * portable bitmap (none, truncated, garbage) give NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"
#include "wire.h"

static void test_round_trip(void **state)
{
	roaring_bitmap_t *b = roaring_bitmap_create(), *back;
	size_t n = 0;
	void *bytes;

	(void)state;
	for (uint32_t v = 5; v < 200000; v += 37)
		roaring_bitmap_add(b, v);
	bytes = kc_bitmap_to_blob(b, &n);
	assert_non_null(bytes);
	assert_true(n > 0);
	back = kc_bitmap_from_blob(bytes, n);
	assert_non_null(back);
	assert_true(roaring_bitmap_equals(b, back));
	kc_bitmap_free(back);
	/* truncated bytes are refused, not read past their end */
	assert_null(kc_bitmap_from_blob(bytes, n / 2));
	free(bytes);
	kc_bitmap_free(b);
}

static void test_empty_and_garbage(void **state)
{
	roaring_bitmap_t *b = roaring_bitmap_create(), *back;
	const char junk[] = "not a bitmap at all";
	size_t n = 0;
	void *bytes;

	(void)state;
	bytes = kc_bitmap_to_blob(b, &n);
	assert_non_null(bytes);
	back = kc_bitmap_from_blob(bytes, n);
	assert_non_null(back);
	assert_int_equal(roaring_bitmap_get_cardinality(back), 0);
	kc_bitmap_free(back);
	free(bytes);
	kc_bitmap_free(b);
	assert_null(kc_bitmap_from_blob(NULL, 0));
	assert_null(kc_bitmap_from_blob(junk, sizeof(junk)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
