/*
 * test_flatbits.c - the writer's flat chunked bitset (server/store/
 * flatbits.c) against CRoaring as the oracle: random clustered and
 * scattered values, the chunk boundaries and the ends of the 32-bit range,
 * kc_flat_or_roaring and the values it counts as new, exactly the oracle's
 * values set (each of them, and as many bits as it holds), and the memory
 * it says it holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "flatbits.h"

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The bits set in f, counted word by word. */
static uint64_t count_set(const struct kc_flat *f)
{
	uint64_t n = 0;

	for (size_t hi = 0; hi < f->nchunk; hi++)
		for (size_t w = 0; f->chunk[hi] && w < 1024; w++) /* 8 KiB chunks */
			n += (uint64_t)__builtin_popcountll(f->chunk[hi][w]);
	return n;
}

/* Every value the oracle holds is set and no other (as many bits as it
 * holds), and a sample of others tests unset. */
static void check_same(const struct kc_flat *f, const roaring_bitmap_t *oracle, uint64_t seed)
{
	roaring_uint32_iterator_t *it = roaring_create_iterator(oracle);
	uint64_t n = 0;

	for (; it->has_value; roaring_advance_uint32_iterator(it), n++)
		assert_true(kc_flat_test(f, it->current_value));
	roaring_free_uint32_iterator(it);
	assert_int_equal(n, roaring_bitmap_get_cardinality(oracle));
	assert_int_equal(count_set(f), n);
	for (int i = 0; i < 200000; i++) {
		uint32_t v = (uint32_t)next(&seed);

		if (i & 1) /* near the set values too, not only anywhere */
			v = (v & 0x3ffffff) | 0x1000000;
		assert_int_equal(kc_flat_test(f, v), roaring_bitmap_contains(oracle, v));
	}
}

static void test_random_against_roaring(void **state)
{
	struct kc_flat f = { 0 };
	roaring_bitmap_t *oracle = roaring_bitmap_create();
	uint64_t s = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int c = 0; c < 300; c++) { /* clusters in a 64 MiB "text" */
		uint32_t base = 0x1000000 + (uint32_t)(next(&s) % 0x4000000);

		for (int i = 0; i < 100; i++) {
			uint32_t v = base + (uint32_t)(next(&s) % 4096);

			assert_int_equal(kc_flat_set(&f, v), 0);
			roaring_bitmap_add(oracle, v);
		}
	}
	check_same(&f, oracle, 7);
	/* 8 KiB per chunk touched, plus the chunk table */
	{
		size_t chunks = 0;

		for (size_t i = 0; i < f.nchunk; i++)
			chunks += f.chunk[i] != NULL;
		assert_true(chunks > 0);
		assert_int_equal(kc_flat_bytes(&f), chunks * 8192 + f.capchunk * sizeof(*f.chunk));
	}
	kc_flat_clear(&f);
	assert_int_equal(kc_flat_bytes(&f), 0);
	assert_false(kc_flat_test(&f, 0x1000000));
	roaring_bitmap_free(oracle);
}

static void test_edges(void **state)
{
	static const uint32_t vals[] = { 0, 1, 63, 64, 0xffff, 0x10000, 0x1ffff, 0x20000,
					 0xfffffffe, 0xffffffff };
	struct kc_flat f = { 0 };
	roaring_bitmap_t *oracle = roaring_bitmap_create();

	(void)state;
	assert_false(kc_flat_test(&f, 0));
	assert_false(kc_flat_test(&f, 0xffffffff));
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_int_equal(kc_flat_set(&f, vals[i]), 0);
		assert_int_equal(kc_flat_set(&f, vals[i]), 0); /* idempotent */
		roaring_bitmap_add(oracle, vals[i]);
		check_same(&f, oracle, i + 1);
	}
	for (uint32_t v = 2; v < 63; v++)
		assert_false(kc_flat_test(&f, v));
	assert_false(kc_flat_test(&f, 0xfffffffd));
	kc_flat_clear(&f);
	roaring_bitmap_free(oracle);
}

static void test_or_roaring(void **state)
{
	struct kc_flat f = { 0 };
	roaring_bitmap_t *a = roaring_bitmap_from_range(100000, 300000, 3);
	roaring_bitmap_t *b = roaring_bitmap_from_range(5000000, 5100000, 1);
	uint64_t added = 0;

	(void)state;
	roaring_bitmap_run_optimize(b); /* run containers too */
	assert_int_equal(kc_flat_or_roaring(&f, a, &added), 0);
	assert_int_equal(added, roaring_bitmap_get_cardinality(a));
	assert_int_equal(kc_flat_or_roaring(&f, b, &added), 0);
	assert_int_equal(kc_flat_or_roaring(&f, a, &added), 0); /* nothing new */
	assert_int_equal(added, roaring_bitmap_get_cardinality(a) + 100000);
	roaring_bitmap_or_inplace(a, b);
	check_same(&f, a, 99);
	assert_false(kc_flat_test(&f, 100001));
	assert_true(kc_flat_test(&f, 100003)); /* from 100000 in steps of 3 */
	kc_flat_clear(&f);
	roaring_bitmap_free(a);
	roaring_bitmap_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_roaring),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_or_roaring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
