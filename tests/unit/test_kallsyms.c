/*
 * test_kallsyms.c - the address-map parsers accept real-looking files and
 * reject malformed ones with the file and line in the message; capture from
 * a recorded sysroot produces the expected map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrmap.h"
#include "fileio.h"
#include "kallsyms.h"

static const char kallsyms_ok[] =
	"0000000000000000 A fixed_percpu_data\n"
	"0000000000001000 A cpu_debug_store\n"
	"ffffffff9a000000 T _text\n"
	"ffffffff9a000000 T _stext\n"
	"ffffffff9a001000 T do_one_initcall\n"
	"ffffffff9ae00000 T _etext\n"
	"ffffffffc0002000 t kcov_test_write\t[kcov_test]\n";

static void expect_err(int r, const struct kc_err *err, const char *needle)
{
	assert_int_equal(r, -1);
	if (!strstr(err->msg, needle))
		fail_msg("expected '%s' in '%s'", needle, err->msg);
}

static void test_kallsyms(void **state)
{
	struct kc_kallsyms_info ks;
	struct kc_err err;
	static const char zeros[] = "0000000000000000 T _text\n0000000000000000 T _etext\n";
	static const char text_zero[] = "0000000000000000 T _text\nffffffff9ae00000 T _etext\n";
	static const char no_text[] = "ffffffff9a000000 T _stext\nffffffff9ae00000 T _etext\n";
	static const char bad_line[] = "ffffffff9a000000 T _text\nffffffff9a00 T\n";
	static const char bad_hex[] = "ffffffff9a00zz00 T _text\n";
	static const char bad_mod[] = "ffffffff9a000000 T _text\nffffffffc0002000 t f\tkcov_test\n";
	(void)state;

	assert_int_equal(kc_kallsyms_parse(kallsyms_ok, strlen(kallsyms_ok), "k", &ks, &err), 0);
	assert_int_equal(ks.text, 0xffffffff9a000000ull);
	assert_int_equal(ks.etext, 0xffffffff9ae00000ull);
	assert_int_equal(ks.nsyms, 7);
	/* kptr_restrict shows every address as 0 to non-root readers: say what
	 * to do rather than produce a map that puts everything at offset 0. */
	expect_err(kc_kallsyms_parse(zeros, strlen(zeros), "/proc/kallsyms", &ks, &err), &err,
		   "/proc/kallsyms: all addresses are 0: run as root or set "
		   "kernel.kptr_restrict=0 (sysctl)");
	expect_err(kc_kallsyms_parse(text_zero, strlen(text_zero), "k", &ks, &err), &err,
		   "k: _text is at address 0: run as root or set kernel.kptr_restrict=0");
	expect_err(kc_kallsyms_parse(no_text, strlen(no_text), "k", &ks, &err), &err, "no _text");
	expect_err(kc_kallsyms_parse(bad_line, strlen(bad_line), "/proc/kallsyms", &ks, &err), &err,
		   "/proc/kallsyms:2:");
	expect_err(kc_kallsyms_parse(bad_hex, strlen(bad_hex), "k", &ks, &err), &err, "k:1:");
	expect_err(kc_kallsyms_parse(bad_mod, strlen(bad_mod), "k", &ks, &err), &err,
		   "k:2: malformed module tag");
}

static void test_modules(void **state)
{
	static const char ok[] = "kcov_test 16384 0 - Live 0xffffffffc0000000 (O)\n"
				 "dying 8192 0 - Unloading 0xffffffffc0010000\n"
				 "e1000 151552 0 kcov_test, Live 0xffffffffc0020000\n";
	static const char bad[] = "kcov_test 16384 0 - Live 0xffffffffc0000000 (O)\n"
				  "e1000 lots 0 - Live 0xffffffffc0020000\n";
	static const char nobase[] = "x 10 0 - Live ffffffffc0000000\n";
	static const char zeroed[] = "kcov_test 16384 0 - Live 0x0000000000000000 (O)\n"
				     "e1000 151552 0 kcov_test, Live 0x0000000000000000\n";
	static const char zeroed_dying[] = "dying 8192 0 - Unloading 0x0000000000000000\n";
	struct kc_module *mods = NULL;
	uint32_t n = 0;
	struct kc_err err;
	(void)state;

	assert_int_equal(kc_modules_parse(ok, strlen(ok), "m", &mods, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(mods[0].name, "kcov_test");
	assert_int_equal(mods[0].core_size, 16384);
	assert_string_equal(mods[1].name, "e1000");
	assert_int_equal(mods[1].core_base, 0xffffffffc0020000ull);
	free(mods);
	expect_err(kc_modules_parse(bad, strlen(bad), "/proc/modules", &mods, &n, &err), &err,
		   "/proc/modules:2:");
	expect_err(kc_modules_parse(nobase, strlen(nobase), "m", &mods, &n, &err), &err, "m:1:");
	/* kptr_restrict zeroes the bases: an error that says what to fix. */
	expect_err(kc_modules_parse(zeroed, strlen(zeroed), "/proc/modules", &mods, &n, &err), &err,
		   "/proc/modules:1: module address is 0: run as root or set "
		   "kernel.kptr_restrict=0 (sysctl)");
	/* A module that is not Live is skipped whatever its base. */
	assert_int_equal(kc_modules_parse(zeroed_dying, strlen(zeroed_dying), "m", &mods, &n, &err),
			 0);
	assert_int_equal(n, 0);
	free(mods);
	/* An empty file is no modules. */
	mods = (struct kc_module *)&n; /* must be overwritten */
	assert_int_equal(kc_modules_parse("", 0, "m", &mods, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(mods);
}

static void put_note(unsigned char *p, size_t *len, uint32_t type, const char *name,
		     const unsigned char *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;

	memcpy(p + *len, &namesz, 4);
	memcpy(p + *len + 4, &descsz, 4);
	memcpy(p + *len + 8, &type, 4);
	*len += 12;
	memset(p + *len, 0, (namesz + 3) & ~3u);
	memcpy(p + *len, name, namesz);
	*len += (namesz + 3) & ~3u;
	memset(p + *len, 0, (descsz + 3) & ~3u);
	memcpy(p + *len, desc, descsz);
	*len += (descsz + 3) & ~3u;
}

static void test_notes(void **state)
{
	unsigned char buf[256];
	unsigned char id[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
	char hex[KC_BUILD_ID_MAX + 1];
	struct kc_err err;
	size_t len = 0;
	(void)state;

	put_note(buf, &len, 6, "Xen", id, 3); /* an unrelated note first */
	put_note(buf, &len, 3, "GNU", id, sizeof(id));
	assert_int_equal(kc_notes_build_id(buf, len, "n", hex, sizeof(hex), &err), 0);
	assert_string_equal(hex, "deadbeef01");
	expect_err(kc_notes_build_id(buf, len - 4, "n", hex, sizeof(hex), &err), &err, "overruns");
	expect_err(kc_notes_build_id(buf, 20, "n", hex, sizeof(hex), &err), &err, "n:");
}

static void write_file(const char *root, const char *rel, const void *data, size_t len)
{
	char path[4096], dir[4096];
	struct kc_err err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kc_mkdirs(dir, &err), 0);
	assert_int_equal(kc_write_file_atomic(path, data, len, &err), 0);
}

static void test_capture(void **state)
{
	char root[] = "/tmp/kc-sysroot-XXXXXX";
	unsigned char notes[64];
	unsigned char id[] = { 0x12, 0x34 };
	size_t len = 0;
	struct kc_addrmap m;
	struct kc_err err;
	static const char modules[] = "kcov_test 16384 0 - Live 0xffffffffc0000000 (O)\n";
	(void)state;

	assert_non_null(mkdtemp(root));
	put_note(notes, &len, 3, "GNU", id, sizeof(id));
	write_file(root, "proc/sys/kernel/random/boot_id", "aaaa-bbbb\n", 10);
	write_file(root, "proc/sys/kernel/osrelease", "6.1.0-test\n", 11);
	write_file(root, "proc/kallsyms", kallsyms_ok, strlen(kallsyms_ok));
	write_file(root, "proc/modules", modules, strlen(modules));
	write_file(root, "sys/kernel/notes", notes, len);
	write_file(root, "sys/module/kcov_test/notes/.note.gnu.build-id", notes, len);
	write_file(root, "sys/module/kcov_test/sections/.text", "0xffffffffc0002000\n", 19);
	assert_int_equal(kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_string_equal(m.boot_id, "aaaa-bbbb");
	assert_string_equal(m.release, "6.1.0-test");
	assert_string_equal(m.build_id, "1234");
	assert_int_equal(m.text_start, 0xffffffff9a000000ull);
	assert_int_equal(m.nmodules, 1);
	assert_int_equal(m.modules[0].text_addr, 0xffffffffc0002000ull);
	assert_string_equal(m.modules[0].build_id, "1234");
	kc_addrmap_release(&m);

	/* A .text outside the module is an error naming the file. */
	write_file(root, "sys/module/kcov_test/sections/.text", "0xffffffffc9002000\n", 19);
	expect_err(kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "sections/.text");
	/* A missing module build id is recorded as unknown, not an error. */
	write_file(root, "sys/module/kcov_test/sections/.text", "0xffffffffc0002000\n", 19);
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/sys/module/kcov_test/notes/.note.gnu.build-id", root);
		unlink(p);
	}
	assert_int_equal(kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_string_equal(m.modules[0].build_id, "");
	kc_addrmap_release(&m);
	/* A malformed kallsyms fails the capture with its path and line. */
	write_file(root, "proc/kallsyms", "garbage\n", 8);
	expect_err(kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "proc/kallsyms:1:");
	/* A missing boot id names the file. */
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/proc/sys/kernel/random/boot_id", root);
		unlink(p);
	}
	expect_err(kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "boot_id");
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kallsyms),
		cmocka_unit_test(test_modules),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
