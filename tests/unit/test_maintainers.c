/*
 * test_maintainers.c - the MAINTAINERS parser (server/build/maintainers.c)
 * on a small hand-written file: F: directory patterns (with and without the
 * trailing '/', the latter decided by the is_dir callback as the script's
 * -d does), F: globs ('*' and '?' within one path component, "[ch]"
 * classes, prefix matching at equal depth), X: exclusions winning over F:
 * in their own section only, N: regexes anywhere in the path, sections that
 * share a name, and the bounds on untrusted text. Expected answers follow
 * scripts/get_maintainer.pl's rules (maintainers.h); the oracle test on the
 * real 6.1 file is tests/integration/test_maintainers_oracle.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "maintainers.h"

static const char TEXT[] =
	"List of maintainers (preamble, as in the real file)\n"
	"\tM: an indented example, not an entry\n"
	"\n"
	"# a comment line\n"
	"ALPHA DRIVER  \t\n"                /* trailing white space is not part of the name */
	"M:\tSomeone <someone@example.org>\n"
	"F:\tdrivers/alpha/\n"             /* directory: recursive */
	"F:\tinclude/linux/alpha\n"        /* no '/', not a directory: prefix at equal depth */
	"F:\tdrivers/beta\n"               /* no '/', a directory (is_dir): recursive */
	"\n"
	"GLOB\n"
	"F:\tdrivers/*/glob.c\n"
	"F:\tlib/da72??.[ch]\n"
	"F:\tarch/*/mm/\n"                 /* a directory pattern: its '*' crosses '/' */
	"\n"
	"EXCL\n"
	"F:\tnet/\n"
	"X:\tnet/ipv6/\n"
	"X:\tnet/core/skb*\n"
	"\n"
	"REGEX\n"
	"N:\ttegra\n"
	"N:\t[^a-z]ps3\n"
	"N:\tbroken(\n"                    /* does not compile: ignored */
	"\n"
	"DUP\n"
	"F:\tfs/a.c\n"
	"\n"
	"DUP\n"
	"F:\tfs/b.c\n"
	"\n"
	"\xff\xfe BAD NAME\n"              /* not UTF-8: ignored with its entries */
	"F:\tfs/\n"
	"\n"
	"THE REST\n"
	"F:\t*\n"
	"F:\t*/\n";

struct dirs {
	char calls[16][64];
	size_t ncalls;
};

static int is_dir(void *ctx, const char *path)
{
	struct dirs *d = ctx;

	if (d->ncalls < 16)
		snprintf(d->calls[d->ncalls++], sizeof(d->calls[0]), "%s", path);
	return strcmp(path, "drivers/beta") == 0;
}

static struct kc_maint *parse(struct dirs *d)
{
	struct kc_err err = {0};
	struct kc_maint *m = kc_maint_parse(TEXT, sizeof(TEXT) - 1, is_dir, d, &err);

	assert_non_null(m);
	return m;
}

/* The subsystems of path, as "A|B|C" in name-index order. */
static const char *subs(struct kc_maint *m, const char *path)
{
	static char out[512]; /* test-only scratch */
	struct kc_err err = {0};
	const size_t *idx;
	size_t n, len = 0;

	assert_int_equal(kc_maint_match(m, path, &idx, &n, &err), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? "|" : "",
					kc_maint_name(m, idx[i]));
	return out;
}

static void test_names(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_int_equal(kc_maint_count(m), 6);
	assert_string_equal(kc_maint_name(m, 0), "ALPHA DRIVER");
	assert_string_equal(kc_maint_name(m, 1), "GLOB");
	assert_string_equal(kc_maint_name(m, 2), "EXCL");
	assert_string_equal(kc_maint_name(m, 3), "REGEX");
	assert_string_equal(kc_maint_name(m, 4), "DUP");
	assert_string_equal(kc_maint_name(m, 5), "THE REST");
	assert_null(kc_maint_name(m, 6));
	assert_int_equal(kc_maint_ignored(m), 2); /* "broken(" and the bad name */
	kc_maint_free(m);
}

/* is_dir is asked with the converted text of values without a '/' at the
 * end, as the script's -d is: "include/linux/alpha" and "drivers/beta" as
 * they are, globs in their regex form (which names no directory). */
static void test_is_dir_calls(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);
	const char *want[] = {"include/linux/alpha", "drivers/beta", "drivers/.*/glob\\.c",
			      "lib/da72..\\.[ch]", "net/core/skb.*", "fs/a\\.c", "fs/b\\.c", ".*"};

	(void)state;
	/* "lib/da72??.[ch]": each '?' -> '.', the '.' -> "\." */
	assert_int_equal(d.ncalls, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < d.ncalls; i++)
		assert_string_equal(d.calls[i], want[i]);
	kc_maint_free(m);
}

static void test_directories(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_string_equal(subs(m, "drivers/alpha/core.c"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "drivers/alpha/x/y/z.c"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "drivers/alphabet.c"), "THE REST");
	/* not a directory: a prefix of a name at the same depth */
	assert_string_equal(subs(m, "include/linux/alpha.h"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "include/linux/alphabet.h"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "include/linux/alpha/x.h"), "THE REST");
	/* a directory by is_dir: recursive, and no longer a prefix of names */
	assert_string_equal(subs(m, "drivers/beta/q/r.c"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "drivers/beta/r.c"), "ALPHA DRIVER|THE REST");
	assert_string_equal(subs(m, "drivers/betamax.c"), "THE REST");
	/* THE REST: "F: *" takes top-level names, the other entry the rest */
	assert_string_equal(subs(m, "Makefile"), "THE REST");
	kc_maint_free(m);
}

static void test_globs(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_string_equal(subs(m, "drivers/foo/glob.c"), "GLOB|THE REST");
	assert_string_equal(subs(m, "drivers/foo/bar/glob.c"), "THE REST"); /* '*' stops at '/' */
	assert_string_equal(subs(m, "drivers/glob.c"), "THE REST");
	assert_string_equal(subs(m, "drivers/foo/glob.cpp"), "GLOB|THE REST"); /* a prefix */
	assert_string_equal(subs(m, "lib/da7213.c"), "GLOB|THE REST");
	assert_string_equal(subs(m, "lib/da7213.h"), "GLOB|THE REST");
	assert_string_equal(subs(m, "lib/da7213.o"), "THE REST");
	assert_string_equal(subs(m, "lib/da721.c"), "THE REST"); /* '?' is one character */
	assert_string_equal(subs(m, "lib/da72/1.c"), "THE REST"); /* ... never a '/' */
	assert_string_equal(subs(m, "lib/da7213xc"), "THE REST"); /* '.' is literal */
	assert_string_equal(subs(m, "arch/x86/mm/init.c"), "GLOB|THE REST");
	assert_string_equal(subs(m, "arch/x86/mm/a/b.c"), "GLOB|THE REST");
	assert_string_equal(subs(m, "arch/x86/kvm/mm/x.c"), "GLOB|THE REST");
	assert_string_equal(subs(m, "arch/mm/x.c"), "THE REST");
	kc_maint_free(m);
}

static void test_exclusions(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_string_equal(subs(m, "net/core/dev.c"), "EXCL|THE REST");
	assert_string_equal(subs(m, "net/ipv6/route.c"), "THE REST");
	assert_string_equal(subs(m, "net/ipv6/netfilter/x.c"), "THE REST");
	assert_string_equal(subs(m, "net/core/skbuff.c"), "THE REST");
	assert_string_equal(subs(m, "net/core/skb/x.c"), "EXCL|THE REST"); /* X: glob stops at '/' */
	assert_string_equal(subs(m, "net/ipv4/route.c"), "EXCL|THE REST");
	kc_maint_free(m);
}

static void test_regexes(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_string_equal(subs(m, "drivers/gpu/drm/tegra/dc.c"), "REGEX|THE REST");
	assert_string_equal(subs(m, "arch/arm/mach-tegra20.c"), "REGEX|THE REST");
	assert_string_equal(subs(m, "arch/powerpc/platforms/ps3/setup.c"), "REGEX|THE REST");
	assert_string_equal(subs(m, "drivers/ps3vram.c"), "REGEX|THE REST");
	assert_string_equal(subs(m, "lib/abcps3.c"), "THE REST");
	kc_maint_free(m);
}

static void test_shared_name(void **state)
{
	struct dirs d = {0};
	struct kc_maint *m = parse(&d);

	(void)state;
	assert_string_equal(subs(m, "fs/a.c"), "DUP|THE REST");
	assert_string_equal(subs(m, "fs/b.c"), "DUP|THE REST");
	assert_string_equal(subs(m, "fs/c.c"), "THE REST"); /* the ignored section's "F: fs/" */
	kc_maint_free(m);
}

static void test_bounds(void **state)
{
	struct kc_err err = {0};
	struct kc_maint *m;
	size_t big = KC_MAINT_MAX_TEXT + 1;
	char *text = malloc(big);
	const size_t *idx;
	size_t n;

	(void)state;
	assert_non_null(text);
	memset(text, 'a', big);
	assert_null(kc_maint_parse(text, big, NULL, NULL, &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	/* one line over the limit */
	memset(text, 'a', KC_MAINT_MAX_LINE + 1);
	err.code = KC_E_NONE;
	assert_null(kc_maint_parse(text, KC_MAINT_MAX_LINE + 1, NULL, NULL, &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	/* a line at the limit is fine */
	err.code = KC_E_NONE;
	m = kc_maint_parse(text, KC_MAINT_MAX_LINE, NULL, NULL, &err);
	assert_non_null(m);
	assert_int_equal(kc_maint_count(m), 0);
	kc_maint_free(m);
	free(text);
	err.code = KC_E_NONE;
	assert_null(kc_maint_parse("A\nF:\tx\0y\n", 9, NULL, NULL, &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	/* entries before the first name belong to no section; empty text */
	m = kc_maint_parse("F:\t*\nF:\t*/\n", 11, NULL, NULL, &err);
	assert_non_null(m);
	assert_int_equal(kc_maint_count(m), 0);
	assert_int_equal(kc_maint_match(m, "a/b.c", &idx, &n, &err), 0);
	assert_int_equal(n, 0);
	kc_maint_free(m);
	m = kc_maint_parse("", 0, NULL, NULL, &err);
	assert_non_null(m);
	kc_maint_free(m);
	/* a pattern over its size limit is ignored, not fatal */
	{
		char line[KC_MAINT_MAX_PATTERN + 32];
		int k = snprintf(line, sizeof(line), "S\nF:\t");

		memset(line + k, 'b', KC_MAINT_MAX_PATTERN + 1);
		memcpy(line + k + KC_MAINT_MAX_PATTERN + 1, "\nF:\tok\n", 8);
		m = kc_maint_parse(line, strlen(line), NULL, NULL, &err);
		assert_non_null(m);
		assert_int_equal(kc_maint_ignored(m), 1);
		assert_string_equal(subs(m, "ok"), "S");
		kc_maint_free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_is_dir_calls),
		cmocka_unit_test(test_directories),
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_exclusions),
		cmocka_unit_test(test_regexes),
		cmocka_unit_test(test_shared_name),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
