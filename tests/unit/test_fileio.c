/*
 * test_fileio.c - kc_path_join, the one helper that puts a path under a
 * sysroot: exactly one '/' between the parts whatever slashes they bring,
 * the root sysroot "/" giving "/proc/..." (not "//proc/..."), and a result
 * that does not fit refused with a message instead of being truncated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fileio.h"

static void expect_join(const char *dir, const char *rel, const char *want)
{
	char out[64];
	struct kc_err err;

	kc_err_clear(&err);
	assert_int_equal(kc_path_join(out, sizeof(out), dir, rel, &err), 0);
	assert_string_equal(out, want);
}

static void test_join(void **state)
{
	(void)state;
	expect_join("/", "proc/modules", "/proc/modules");
	expect_join("/", "/proc/modules", "/proc/modules");
	expect_join("///", "proc/modules", "/proc/modules");
	expect_join("/tmp/sys", "proc/kallsyms", "/tmp/sys/proc/kallsyms");
	expect_join("/tmp/sys/", "proc/kallsyms", "/tmp/sys/proc/kallsyms");
	expect_join("/tmp/sys//", "//proc/kallsyms", "/tmp/sys/proc/kallsyms");
	expect_join("sys", "proc/modules", "sys/proc/modules");
	expect_join("", "proc/modules", "proc/modules");
	expect_join("/tmp/sys/", "", "/tmp/sys");
	expect_join("/", "", "/");
}

static void test_join_too_long(void **state)
{
	char out[16];
	struct kc_err err;
	(void)state;

	kc_err_clear(&err);
	/* "/tmp/sys/proc/m" + NUL is 16 bytes: fits exactly. */
	assert_int_equal(kc_path_join(out, sizeof(out), "/tmp/sys/", "proc/m", &err), 0);
	assert_string_equal(out, "/tmp/sys/proc/m");
	assert_int_equal(kc_path_join(out, sizeof(out), "/tmp/sys/", "proc/mo", &err), -1);
	assert_non_null(strstr(err.msg, "/tmp/sys/proc/mo: path too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
