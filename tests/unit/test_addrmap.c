/*
 * test_addrmap.c - kc_addrmap_refresh against sysroot snapshots written in
 * a temporary directory: nothing changed (0, map untouched), a module
 * loaded later (added with its .text), a module whose range another one
 * took (dropped), a module that is gone but whose range is free (kept for
 * reports still spooled), and a malformed proc/modules (error, map
 * unchanged).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addrmap.h"
#include "fileio.h"

#define BASE 0xffffffffc0000000ull

struct fixture {
	char root[64];
	struct kc_addrmap m;
};

static void put(const char *root, const char *rel, const char *text)
{
	char path[256], dir[256];
	struct kc_err err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kc_mkdirs(dir, &err), 0);
	assert_int_equal(kc_write_file_atomic(path, text, strlen(text), &err), 0);
}

/* A loaded module: its proc/modules line (appended to mods) and its .text. */
static void module(const char *root, char *mods, size_t size, const char *name, uint64_t off,
		   unsigned len)
{
	char line[128], rel[128];
	size_t used = strlen(mods);

	snprintf(mods + used, size - used, "%s %u 0 - Live 0x%llx\n", name, len,
		 (unsigned long long)(BASE + off));
	snprintf(rel, sizeof(rel), "sys/module/%s/sections/.text", name);
	snprintf(line, sizeof(line), "0x%llx\n", (unsigned long long)(BASE + off + 0x40));
	put(root, rel, line);
}

static const struct kc_module *find(const struct kc_addrmap *m, const char *name)
{
	for (uint32_t i = 0; i < m->nmodules; i++)
		if (strcmp(m->modules[i].name, name) == 0)
			return &m->modules[i];
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/kc-addrmap-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* The map as first captured: a at +0x1000, b at +0x2000. */
	f->m.nmodules = 2;
	f->m.modules = calloc(2, sizeof(*f->m.modules));
	assert_non_null(f->m.modules);
	snprintf(f->m.modules[0].name, sizeof(f->m.modules[0].name), "a");
	f->m.modules[0].core_base = BASE + 0x1000;
	f->m.modules[0].core_size = 0x100;
	snprintf(f->m.modules[1].name, sizeof(f->m.modules[1].name), "b");
	f->m.modules[1].core_base = BASE + 0x2000;
	f->m.modules[1].core_size = 0x100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kc_addrmap_release(&f->m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_unchanged(void **state)
{
	struct fixture *f = *state;
	char mods[512] = "";
	struct kc_err err;

	module(f->root, mods, sizeof(mods), "b", 0x2000, 0x100);
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	put(f->root, "proc/modules", mods);
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 0);
	assert_int_equal(f->m.nmodules, 2);
	/* A module unloaded since (b) changes nothing either. */
	mods[0] = '\0';
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	put(f->root, "proc/modules", mods);
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 0);
	assert_int_equal(f->m.nmodules, 2);
}

static void test_loaded_taken_and_gone(void **state)
{
	struct fixture *f = *state;
	char mods[512] = "";
	struct kc_err err;

	/* c is loaded where b was; d is new in a free range; a stays. */
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	module(f->root, mods, sizeof(mods), "c", 0x2080, 0x200);
	module(f->root, mods, sizeof(mods), "d", 0x5000, 0x100);
	put(f->root, "proc/modules", mods);
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 1);
	assert_int_equal(f->m.nmodules, 3);
	assert_null(find(&f->m, "b"));
	assert_non_null(find(&f->m, "c"));
	assert_int_equal(find(&f->m, "c")->text_addr, BASE + 0x2080 + 0x40);
	assert_int_equal(find(&f->m, "d")->core_base, BASE + 0x5000);
	/* d is unloaded and a moves: a's new range, d kept (its range is free). */
	mods[0] = '\0';
	module(f->root, mods, sizeof(mods), "a", 0x9000, 0x100);
	module(f->root, mods, sizeof(mods), "c", 0x2080, 0x200);
	put(f->root, "proc/modules", mods);
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 1);
	assert_int_equal(f->m.nmodules, 3);
	assert_int_equal(find(&f->m, "a")->core_base, BASE + 0x9000);
	assert_int_equal(find(&f->m, "a")->text_addr, BASE + 0x9040);
	assert_int_equal(find(&f->m, "d")->core_base, BASE + 0x5000);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	struct kc_err err;

	put(f->root, "proc/modules", "a 256 0 - Live nothex\n");
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), -1);
	assert_non_null(strstr(err.msg, "proc/modules"));
	assert_int_equal(f->m.nmodules, 2);
	assert_string_equal(f->m.modules[1].name, "b");
	/* A new module without its sysfs .text: error, map unchanged. */
	put(f->root, "proc/modules", "e 256 0 - Live 0xffffffffc0007000\n");
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), -1);
	assert_int_equal(f->m.nmodules, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_taken_and_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
