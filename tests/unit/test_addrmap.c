/*
 * test_addrmap.c - kc_addrmap_capture and kc_addrmap_refresh against sysroot
 * snapshots written in a temporary directory.
 *
 * Refresh: nothing changed (0, map untouched), a module loaded later (added
 * with its .text), a module whose range another one took (dropped), a
 * module that is gone but whose range is free (kept for reports still
 * spooled), and a malformed proc/modules (error, map unchanged).
 *
 * Capture: a kernel without module support (no proc/modules, no
 * sys/module: zero modules, and refresh sees no change), an empty
 * proc/modules, addresses zeroed by kptr_restrict in kallsyms, proc/modules
 * or a module's .text (errors that say how to lift it, with no "//" in the
 * path), an unreadable proc/modules (run as root) and a malformed build-id
 * note after a module without one (an error, not "no build id"), and a
 * module without sys/module/NAME/sections/ (a kernel whose sysfs refused
 * duplicate section names): placed at its proc/modules base with
 * KC_MODULE_TEXT_AT_BASE and a warning line, the other modules as usual,
 * on capture and on refresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrmap.h"
#include "fileio.h"

#define BASE 0xffffffffc0000000ull

struct fixture {
	char root[64];
	struct kc_addrmap m;
};

static void put_bin(const char *root, const char *rel, const void *data, size_t len)
{
	char path[256], dir[256];
	struct kc_err err;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kc_mkdirs(dir, &err), 0);
	assert_int_equal(kc_write_file_atomic(path, data, len, &err), 0);
}

static void put(const char *root, const char *rel, const char *text)
{
	put_bin(root, rel, text, strlen(text));
}

#define TEXT 0xffffffff9a000000ull

static const char kallsyms[] = "0000000000000000 A fixed_percpu_data\n"
			       "ffffffff9a000000 T _text\n"
			       "ffffffff9a001000 T do_one_initcall\n"
			       "ffffffff9ae00000 T _etext\n";
static const char kallsyms_zeroed[] = "0000000000000000 A fixed_percpu_data\n"
				      "0000000000000000 T _text\n"
				      "0000000000000000 T do_one_initcall\n"
				      "0000000000000000 T _etext\n";

/* GNU build-id note (id 1234), little-endian Elf64_Nhdr. */
static const unsigned char note[] = { 4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0,
				      0x12, 0x34, 0, 0 };

/* The files every capture reads, for a kernel without modules. */
static void base_sysroot(const char *root)
{
	put(root, "proc/sys/kernel/random/boot_id", "0b7c5e1a-1111-4a2b-9c3d-aaaaaaaaaaaa\n");
	put(root, "proc/sys/kernel/osrelease", "6.1.0-nomodules\n");
	put(root, "proc/kallsyms", kallsyms);
	put_bin(root, "sys/kernel/notes", note, sizeof(note));
}

static void expect_err(int r, const struct kc_err *err, const char *needle)
{
	assert_int_equal(r, -1);
	if (!strstr(err->msg, needle))
		fail_msg("expected '%s' in '%s'", needle, err->msg);
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

/* proc/modules with one module a (base BASE + 0x1000) and its .text. */
static void mods_one_a(const char *root)
{
	char mods[128] = "";

	module(root, mods, sizeof(mods), "a", 0x1000, 0x100);
	put(root, "proc/modules", mods);
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
	/* A new module with a malformed sysfs .text: error, map unchanged
	 * (one without sections/ at all is placed at its base instead, see
	 * test_capture_module_without_sections). */
	put(f->root, "proc/modules", "e 256 0 - Live 0xffffffffc0007000\n");
	put(f->root, "sys/module/e/sections/.text", "garbage\n");
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), -1);
	assert_int_equal(f->m.nmodules, 2);
}

static void test_capture_without_module_support(void **state)
{
	struct fixture *f = *state;
	struct kc_addrmap m;
	struct kc_err err;
	char slashed[80];

	base_sysroot(f->root);
	assert_int_equal(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_int_equal(m.nmodules, 0);
	assert_null(m.modules);
	assert_int_equal(m.text_start, TEXT);
	assert_int_equal(m.text_end, 0xffffffff9ae00000ull);
	assert_string_equal(m.release, "6.1.0-nomodules");
	assert_string_equal(m.build_id, "1234");
	/* Nothing to refresh: no module can have been loaded since. */
	assert_int_equal(kc_addrmap_refresh(f->root, &m, &err), 0);
	assert_int_equal(m.nmodules, 0);
	kc_addrmap_release(&m);
	/* A sysroot given with a trailing slash is the same sysroot. */
	snprintf(slashed, sizeof(slashed), "%s/", f->root);
	assert_int_equal(kc_addrmap_capture(slashed, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_int_equal(m.nmodules, 0);
	kc_addrmap_release(&m);
	/* A map captured earlier keeps its modules (reports may still be
	 * spooled) when proc/modules is gone. */
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 0);
	assert_int_equal(f->m.nmodules, 2);
}

static void test_capture_empty_modules(void **state)
{
	struct fixture *f = *state;
	struct kc_addrmap m;
	struct kc_err err;

	base_sysroot(f->root);
	put(f->root, "proc/modules", "");
	assert_int_equal(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_int_equal(m.nmodules, 0);
	assert_int_equal(m.text_start, TEXT);
	kc_addrmap_release(&m);
}

static void test_capture_kptr_restrict(void **state)
{
	struct fixture *f = *state;
	struct kc_addrmap m;
	struct kc_err err;
	char slashed[80], want[160];

	base_sysroot(f->root);
	put(f->root, "proc/kallsyms", kallsyms_zeroed);
	snprintf(slashed, sizeof(slashed), "%s/", f->root);
	snprintf(want, sizeof(want), "%s/proc/kallsyms: all addresses are 0: run as root or set "
		 "kernel.kptr_restrict=0 (sysctl)", f->root);
	expect_err(kc_addrmap_capture(slashed, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err, want);
	assert_null(strstr(err.msg, "//"));
	assert_int_equal(m.nmodules, 0);
	/* The same for the module bases of proc/modules... */
	put(f->root, "proc/kallsyms", kallsyms);
	put(f->root, "proc/modules", "a 256 0 - Live 0x0000000000000000 (O)\n");
	expect_err(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "proc/modules:1: module address is 0: run as root or set kernel.kptr_restrict=0");
	/* ... and for a module's .text in sysfs. */
	mods_one_a(f->root);
	put(f->root, "sys/module/a/sections/.text", "0x0000000000000000\n");
	expect_err(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "sys/module/a/sections/.text: address is 0: run as root or set "
		   "kernel.kptr_restrict=0");
}

/* Capture in a process that cannot read root-only files: this one if it is
 * not root, else a child that became nobody. Returns capture's result and
 * its message in msg. */
static int capture_unprivileged(const char *root, char *msg, size_t size)
{
	struct kc_addrmap m;
	struct kc_err err;
	int fds[2], status, r;
	ssize_t n;
	pid_t pid;

	kc_err_clear(&err);
	if (geteuid() != 0) {
		r = kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err);
		if (r == 0)
			kc_addrmap_release(&m);
		snprintf(msg, size, "%s", err.msg);
		return r;
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		r = kc_addrmap_capture(root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err);
		if (write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(2);
		_exit(r == 0 ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], msg, size - 1);
	close(fds[0]);
	msg[n > 0 ? n : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 2);
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void test_capture_modules_unreadable(void **state)
{
	struct fixture *f = *state;
	char cmd[256], msg[KC_ERR_MAX];

	base_sysroot(f->root);
	mods_one_a(f->root);
	snprintf(cmd, sizeof(cmd), "chmod -R a+rX '%s' && chmod 0 '%s/proc/modules'", f->root,
		 f->root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(capture_unprivileged(f->root, msg, sizeof(msg)), -1);
	if (!strstr(msg, "proc/modules: Permission denied: run as root"))
		fail_msg("unexpected message '%s'", msg);
	/* The same snapshot readable: the module is there (so the error above
	 * came from the permissions, not from the snapshot). */
	snprintf(cmd, sizeof(cmd), "chmod 0444 '%s/proc/modules'", f->root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(capture_unprivileged(f->root, msg, sizeof(msg)), 0);
}

static void test_capture_malformed_module_note(void **state)
{
	struct fixture *f = *state;
	struct kc_addrmap m;
	struct kc_err err;
	char mods[256] = "";

	base_sysroot(f->root);
	/* a has no build-id note (recorded as ""); b has a broken one. */
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	module(f->root, mods, sizeof(mods), "b", 0x2000, 0x100);
	put(f->root, "proc/modules", mods);
	put_bin(f->root, "sys/module/b/notes/.note.gnu.build-id", note, sizeof(note) - 4);
	expect_err(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), &err,
		   "sys/module/b/notes/.note.gnu.build-id: note at offset 0 overruns");
	put_bin(f->root, "sys/module/b/notes/.note.gnu.build-id", note, sizeof(note));
	assert_int_equal(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_int_equal(m.nmodules, 2);
	assert_string_equal(find(&m, "a")->build_id, "");
	assert_string_equal(find(&m, "b")->build_id, "1234");
	kc_addrmap_release(&m);
}

/* A map built from a vmlinux's facts and a module list (the syzkaller
 * bridge): no KASLR, so runtime and link-time _text agree; modules copied. */
static void test_from_vmlinux(void **state)
{
	struct kc_vmlinux vm;
	struct kc_module mod;
	struct kc_addrmap m;
	struct kc_err err;
	(void)state;

	memset(&vm, 0, sizeof(vm));
	snprintf(vm.build_id, sizeof(vm.build_id), "c33f3a4d");
	vm.text = 0xffffffff81000000ull;
	vm.etext = 0xffffffff81020000ull;
	memset(&mod, 0, sizeof(mod));
	snprintf(mod.name, sizeof(mod.name), "kvm");
	mod.core_base = mod.text_addr = 0xffffffffa0010000ull;
	mod.core_size = 4096;
	assert_int_equal(kc_addrmap_from_vmlinux(&vm, "syz-1", "syz-0123", "", &mod, 1, &m, &err), 0);
	assert_string_equal(m.machine, "syz-1");
	assert_string_equal(m.boot_id, "syz-0123");
	assert_string_equal(m.build_id, "c33f3a4d");
	assert_true(m.text_start == vm.text && m.link_text == vm.text && m.text_end == vm.etext);
	assert_int_equal(m.nmodules, 1);
	assert_string_equal(m.modules[0].name, "kvm");
	assert_true(m.modules[0].core_base == mod.core_base && m.modules[0].core_size == 4096);
	kc_addrmap_release(&m);
	assert_int_equal(kc_addrmap_from_vmlinux(&vm, "syz-1", "syz-0123", "", NULL, 0, &m, &err), 0);
	assert_int_equal(m.nmodules, 0);
	assert_null(m.modules);
	kc_addrmap_release(&m);
	assert_int_equal(kc_addrmap_from_vmlinux(&vm, "syz-1", "", "", NULL, 0, &m, &err), -1);
	assert_int_equal(m.nmodules, 0);
}

static void test_capture_module_without_sections(void **state)
{
	struct fixture *f = *state;
	struct kc_addrmap m;
	struct kc_err err;
	char mods[256] = "", warn[512], cmd[160];
	const struct kc_module *a, *b;

	base_sysroot(f->root);
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	module(f->root, mods, sizeof(mods), "b", 0x2000, 0x100);
	put(f->root, "proc/modules", mods);
	/* b lost its whole sections/ directory; its notes/ are still there. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/module/b/sections", f->root);
	assert_int_equal(system(cmd), 0);
	put_bin(f->root, "sys/module/b/notes/.note.gnu.build-id", note, sizeof(note));
	assert_int_equal(kc_addrmap_capture(f->root, "vm-1", KC_DEFAULT_LINK_TEXT, &m, &err), 0);
	assert_int_equal(m.nmodules, 2);
	a = find(&m, "a");
	b = find(&m, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->text_addr, BASE + 0x1040);
	assert_int_equal(a->flags & KC_MODULE_TEXT_AT_BASE, 0);
	assert_int_equal(b->text_addr, BASE + 0x2000);
	assert_int_equal(b->flags & KC_MODULE_TEXT_AT_BASE, KC_MODULE_TEXT_AT_BASE);
	assert_string_equal(b->build_id, "1234");
	assert_int_equal(kc_addrmap_warnings(&m, warn, sizeof(warn)), 1);
	assert_non_null(strstr(warn, "module b: no sys/module/b/sections/.text"));
	assert_non_null(strstr(warn, "0xffffffffc0002000"));
	/* A truncating buffer still counts every module and stays terminated. */
	assert_int_equal(kc_addrmap_warnings(&m, warn, 8), 1);
	assert_int_equal(strlen(warn), 7);
	kc_addrmap_release(&m);

	/* Refresh: c, loaded later without sections/, is placed the same way. */
	f->m.modules[0].core_base = BASE + 0x1000;
	mods[0] = '\0';
	module(f->root, mods, sizeof(mods), "a", 0x1000, 0x100);
	module(f->root, mods, sizeof(mods), "c", 0x3000, 0x80);
	put(f->root, "proc/modules", mods);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/sys/module/c/sections", f->root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kc_addrmap_refresh(f->root, &f->m, &err), 1);
	assert_int_equal(find(&f->m, "c")->text_addr, BASE + 0x3000);
	assert_int_equal(find(&f->m, "c")->flags, KC_MODULE_TEXT_AT_BASE);
	assert_int_equal(find(&f->m, "a")->flags, 0);
	assert_int_equal(kc_addrmap_warnings(&f->m, warn, sizeof(warn)), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_taken_and_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_without_module_support, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_empty_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_kptr_restrict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_modules_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_malformed_module_note, setup, teardown),
		cmocka_unit_test(test_from_vmlinux),
		cmocka_unit_test_setup_teardown(test_capture_module_without_sections, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
