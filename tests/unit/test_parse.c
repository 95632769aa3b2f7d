/*
 * test_parse.c - the strict integer and size parser (common/parse.c) and
 * the one mapping of domain error codes to HTTP statuses and names
 * (common/err.c): what is accepted, what is refused (empty, trailing
 * garbage, overflow, out of range, bad suffix) and that every refusal is
 * KC_E_BAD_INPUT with a message naming what was parsed; and the one
 * build-id rule (kc_build_id_valid).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "parse.h"

/* s must be refused, naming "--flag", and leave *out alone. */
static void refused_u64(const char *s, uint64_t min, uint64_t max)
{
	struct kc_err err;
	uint64_t v = 77;

	kc_err_clear(&err);
	assert_int_equal(kc_parse_u64(s, "--flag", min, max, &v, &err), -1);
	assert_int_equal(v, 77);
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	assert_non_null(strstr(err.msg, "--flag"));
}

static void test_u64(void **state)
{
	struct kc_err err;
	uint64_t v = 0;

	(void)state;
	assert_int_equal(kc_parse_u64("0", "n", 0, 10, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(kc_parse_u64("10", "n", 0, 10, &v, &err), 0);
	assert_int_equal(v, 10);
	assert_int_equal(kc_parse_u64("010", "n", 0, 10, &v, &err), 0);
	assert_int_equal(v, 10); /* decimal, never octal */
	assert_int_equal(kc_parse_u64("18446744073709551615", "n", 0, UINT64_MAX, &v, &err), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(kc_parse_u64("0xffffffff81000000", "n", 0, UINT64_MAX, &v, &err), 0);
	assert_true(v == 0xffffffff81000000ull);
	assert_int_equal(kc_parse_u64("0x42", "n", 0, UINT64_MAX, &v, &err), 0);
	assert_int_equal(v, 0x42);
	/* Empty, signs, space, trailing garbage. */
	refused_u64("", 0, 100);
	refused_u64("-1", 0, 100);
	refused_u64("+1", 0, 100);
	refused_u64(" 1", 0, 100);
	refused_u64("1 ", 0, 100);
	refused_u64("10X", 0, 100);
	refused_u64("10G5", 0, UINT64_MAX);
	refused_u64("1.5", 0, 100);
	refused_u64("0x", 0, 100);
	refused_u64("0xg", 0, 100);
	/* Overflow and range. */
	refused_u64("18446744073709551616", 0, UINT64_MAX);
	refused_u64("99999999999999999999", 0, UINT64_MAX);
	refused_u64("0x10000000000000000", 0, UINT64_MAX);
	refused_u64("0", 1, 100);
	refused_u64("101", 1, 100);
}

static void test_i64(void **state)
{
	struct kc_err err;
	int64_t v = 0;

	(void)state;
	assert_int_equal(kc_parse_i64("-5", "n", -10, 10, &v, &err), 0);
	assert_int_equal(v, -5);
	assert_int_equal(kc_parse_i64("-9223372036854775808", "n", INT64_MIN, INT64_MAX, &v, &err),
			 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(kc_parse_i64("9223372036854775807", "n", INT64_MIN, INT64_MAX, &v, &err),
			 0);
	assert_true(v == INT64_MAX);
	v = 3;
	assert_int_equal(kc_parse_i64("9223372036854775808", "lim", INT64_MIN, INT64_MAX, &v, &err),
			 -1);
	assert_non_null(strstr(err.msg, "lim"));
	assert_int_equal(kc_parse_i64("-9223372036854775809", "n", INT64_MIN, INT64_MAX, &v, &err),
			 -1);
	assert_int_equal(kc_parse_i64("-", "n", -10, 10, &v, &err), -1);
	assert_int_equal(kc_parse_i64("--1", "n", -10, 10, &v, &err), -1);
	assert_int_equal(kc_parse_i64("", "n", -10, 10, &v, &err), -1);
	assert_int_equal(kc_parse_i64("5x", "n", -10, 10, &v, &err), -1);
	assert_int_equal(kc_parse_i64("-11", "n", -10, 10, &v, &err), -1);
	assert_int_equal(kc_parse_i64("11", "n", -10, 10, &v, &err), -1);
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	assert_int_equal(v, 3);
}

static void test_size(void **state)
{
	const uint64_t mib = 1u << 20;
	static const char *const bad[] = { "", "10X", "10G5", "1.5G", "G", "10GG", "10 G",
					   "-1G", "10Gx", "16E" };
	struct kc_err err;
	uint64_t v = 0;

	(void)state;
	assert_int_equal(kc_parse_size("512", "--max-db-size", mib, 1, UINT32_MAX, &v, &err), 0);
	assert_int_equal(v, 512); /* no suffix: already in units */
	assert_int_equal(kc_parse_size("10G", "--max-db-size", mib, 1, UINT32_MAX, &v, &err), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(kc_parse_size("10GiB", "s", mib, 1, UINT32_MAX, &v, &err), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(kc_parse_size("2t", "s", mib, 1, UINT32_MAX, &v, &err), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(kc_parse_size("3M", "s", mib, 1, UINT32_MAX, &v, &err), 0);
	assert_int_equal(v, 3);
	assert_int_equal(kc_parse_size("4K", "s", 1, 0, UINT64_MAX, &v, &err), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(kc_parse_size("1kb", "s", 1, 0, UINT64_MAX, &v, &err), 0);
	assert_int_equal(v, 1024);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 9;
		kc_err_clear(&err);
		assert_int_equal(kc_parse_size(bad[i], "--max-db-size", mib, 1, UINT32_MAX, &v, &err),
				 -1);
		assert_int_equal(v, 9);
		assert_int_equal(err.code, KC_E_BAD_INPUT);
		assert_non_null(strstr(err.msg, "--max-db-size"));
	}
	/* Not whole units, overflow, range. */
	assert_int_equal(kc_parse_size("512K", "s", mib, 1, UINT32_MAX, &v, &err), -1);
	assert_int_equal(kc_parse_size("99999999999999T", "s", 1, 0, UINT64_MAX, &v, &err), -1);
	assert_int_equal(kc_parse_size("0", "s", mib, 1, UINT32_MAX, &v, &err), -1);
	assert_int_equal(kc_parse_size("5000T", "s", mib, 1, UINT32_MAX, &v, &err), -1);
}

static void test_error_codes(void **state)
{
	static const struct {
		enum kc_errc code;
		unsigned status;
		const char *name;
	} want[] = {
		{ KC_E_BAD_INPUT, 400, "bad_input" },
		{ KC_E_OTHER_REPO, 400, "other_repository" },
		{ KC_E_UNAUTHORIZED, 401, "unauthorized" },
		{ KC_E_FORBIDDEN, 403, "forbidden" },
		{ KC_E_NOT_FOUND, 404, "not_found" },
		{ KC_E_NOT_IMPORTED, 404, "not_imported" },
		{ KC_E_METHOD_NOT_ALLOWED, 405, "method_not_allowed" },
		{ KC_E_CONFLICT, 409, "conflict" },
		{ KC_E_TOO_LARGE, 413, "too_large" },
		{ KC_E_URI_TOO_LONG, 414, "uri_too_long" },
		{ KC_E_UNSUPPORTED_MEDIA, 415, "unsupported_media_type" },
		{ KC_E_NEED_ADDRESS_MAP, 428, "address_map_needed" },
		{ KC_E_RATE_LIMITED, 429, "rate_limited" },
		{ KC_E_HEADERS_TOO_LARGE, 431, "headers_too_large" },
		{ KC_E_IO, 500, "io_error" },
		{ KC_E_INTERNAL, 500, "internal" },
		{ KC_E_UNAVAILABLE, 503, "unavailable" },
		{ KC_E_DB_UNREACHABLE, 503, "database_unreachable" },
	};
	struct kc_err err;

	(void)state;
	/* Every code but KC_E_NONE is in the list, each with its own name. */
	assert_int_equal(sizeof(want) / sizeof(want[0]), KC_E_COUNT_ - 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(kc_errc_status(want[i].code), want[i].status);
		assert_string_equal(kc_errc_name(want[i].code), want[i].name);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(want[i].name, want[j].name);
	}
	assert_int_equal(kc_errc_status(KC_E_NONE), 500);
	assert_int_equal(kc_errc_status((enum kc_errc)1000), 500);
	assert_string_equal(kc_errc_name((enum kc_errc)1000), "internal");
	/* Setting, prefixing (keeps the code) and errno classification. */
	assert_int_equal(kc_err_set(&err, KC_E_CONFLICT, "boot %d", 7), -1);
	assert_int_equal(err.code, KC_E_CONFLICT);
	kc_err_prefix(&err, "map");
	assert_string_equal(err.msg, "map: boot 7");
	assert_int_equal(err.code, KC_E_CONFLICT);
	kc_err_errno(&err, ENOENT, "x");
	assert_int_equal(err.code, KC_E_NOT_FOUND);
	kc_err_errno(&err, EIO, "x");
	assert_int_equal(err.code, KC_E_IO);
	kc_err_errno(&err, EACCES, "x");
	assert_int_equal(err.code, KC_E_FORBIDDEN);
	kc_err_clear(&err);
	assert_int_equal(err.code, KC_E_NONE);
	assert_string_equal(err.msg, "");
}

static void test_build_id(void **state)
{
	(void)state;
	assert_true(kc_build_id_valid("0123456789abcdef", 16, 128));
	assert_true(kc_build_id_valid("a", 1, 128));
	assert_false(kc_build_id_valid("", 0, 128));
	assert_false(kc_build_id_valid("ZZ", 2, 128));
	assert_false(kc_build_id_valid("ABCD", 4, 128)); /* lowercase only */
	assert_false(kc_build_id_valid("12 4", 4, 128));
	assert_false(kc_build_id_valid("abcd", 4, 3));  /* longer than max */
	assert_true(kc_build_id_valid("abcdZZ", 4, 4)); /* only n bytes count */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_i64),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_build_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
