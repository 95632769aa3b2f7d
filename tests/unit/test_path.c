/*
 * test_path.c - kc_path_safe (common/path.c), the one segment rule of the
 * paths kcovd resolves below a directory: plain segments pass, empty,
 * "." and ".." segments never do, and the flags relax exactly the leading
 * '/', the trailing '/' (a directory) and hidden segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "path.h"

static void test_plain(void **state)
{
	(void)state;
	assert_true(kc_path_safe("a", 0));
	assert_true(kc_path_safe("kernel/sched/core.c", 0));
	assert_true(kc_path_safe("a..b/c.", 0)); /* dots inside names are names */
	assert_false(kc_path_safe("", 0));
	assert_false(kc_path_safe("..", 0));
	assert_false(kc_path_safe("../etc/passwd", 0));
	assert_false(kc_path_safe("a/../../b", 0));
	assert_false(kc_path_safe("a/..", 0));
	assert_false(kc_path_safe("./a", 0));
	assert_false(kc_path_safe("a//b", 0));
	assert_false(kc_path_safe("a/", 0));
	assert_false(kc_path_safe("/abs", 0));
}

static void test_absolute(void **state)
{
	(void)state;
	assert_true(kc_path_safe("/usr/include/x.h", KC_PATH_ABSOLUTE));
	assert_true(kc_path_safe("rel/x.h", KC_PATH_ABSOLUTE));
	assert_false(kc_path_safe("/", KC_PATH_ABSOLUTE));
	assert_false(kc_path_safe("//x", KC_PATH_ABSOLUTE));
	assert_false(kc_path_safe("/../x", KC_PATH_ABSOLUTE));
}

static void test_dir_and_hidden(void **state)
{
	const unsigned web = KC_PATH_DIR | KC_PATH_NO_HIDDEN; /* static files */

	(void)state;
	assert_true(kc_path_safe("", web)); /* the web root */
	assert_true(kc_path_safe("lib/", web));
	assert_true(kc_path_safe("lib/api.js", web));
	assert_false(kc_path_safe(".gitignore", web));
	assert_false(kc_path_safe("lib/.hidden", web));
	assert_false(kc_path_safe("lib//", web));
	assert_false(kc_path_safe("/x", web));
	assert_true(kc_path_safe(".gitignore", 0)); /* hidden names only refused on request */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_dir_and_hidden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
