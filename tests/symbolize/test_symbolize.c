/*
 * test_symbolize.c - kc_symbolize_file() against independent oracles.
 *
 * The fixtures (built by CMake from fixture/) are miniature kernels: a
 * static x86_64 executable linked at 0xffffffff81000000 with a _text symbol
 * (vmlinux) and an `ld -r` relocatable with .modinfo and an .init.text
 * function (.ko), each in a trace-pc and a trace-pc-guard flavour. For each
 * we check the coverage points against llvm-objdump (call instructions to
 * the callback; for the .ko the PLT32/PC32 relocations under call
 * instructions), every point's file:line and function against the first
 * frame llvm-addr2line -i -f prints (for the .ko, addresses are .text
 * offsets, which llvm-addr2line resolves on ET_REL files by applying the
 * debug-section relocations), and the build id against readelf -n.
 * The table must not depend on how many threads resolved the DWARF or on
 * how many CUs each libdw handle served.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"

#define MAXP 4096

struct oracle {
	uint64_t addr[MAXP]; /* call-site addresses (vmlinux) or .text offsets */
	size_t n;
	uint64_t skipped; /* .ko calls outside .text */
};

static bool names_callback(const char *s)
{
	static const char *const cbs[] = { "__sanitizer_cov_trace_pc_guard",
					   "__sanitizer_cov_trace_pc" };

	for (size_t i = 0; i < 2; i++) {
		const char *p = strstr(s, cbs[i]);

		if (p) {
			char c = p[strlen(cbs[i])];

			return c == '>' || c == '-' || c == '+' || c == '\n' || c == '\0';
		}
	}
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Run llvm-objdump and collect the coverage call sites it shows. */
static void objdump_oracle(const char *bin, bool is_rel, struct oracle *o)
{
	char cmd[1024], line[1024], section[256] = "";
	uint64_t last_insn = UINT64_MAX;
	bool last_is_call = false;
	FILE *f;

	memset(o, 0, sizeof(*o));
	snprintf(cmd, sizeof(cmd), "%s -d %s '%s'", OBJDUMP, is_rel ? "-r" : "", bin);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *end;
		uint64_t a;
		const char *p = line;

		if (sscanf(line, "Disassembly of section %255[^:]:", section) == 1)
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		a = strtoull(p, &end, 16);
		if (end == p || *end != ':')
			continue;
		if (strstr(end, "R_X86_64_")) {
			/* relocation line (ET_REL only) */
			if (!is_rel || !names_callback(end) ||
			    !(strstr(end, "R_X86_64_PLT32") || strstr(end, "R_X86_64_PC32")))
				continue;
			assert_true(last_is_call);
			assert_int_equal(last_insn, a - 1);
			if (strcmp(section, ".text") == 0) {
				assert_true(o->n < MAXP);
				o->addr[o->n++] = a - 1;
			} else {
				o->skipped++;
			}
			continue;
		}
		/* instruction line */
		last_insn = a;
		last_is_call = strstr(end, "call") != NULL;
		if (!is_rel && last_is_call && names_callback(end)) {
			assert_true(o->n < MAXP);
			o->addr[o->n++] = a;
		}
	}
	assert_int_equal(pclose(f), 0);
	qsort(o->addr, o->n, sizeof(o->addr[0]), cmp_u64);
}

static void readelf_build_id(const char *bin, char *out, size_t cap)
{
	char cmd[1024], line[512];
	FILE *f;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "%s -n '%s'", READELF, bin);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "Build ID: ");

		if (p) {
			p += strlen("Build ID: ");
			p[strcspn(p, " \r\n")] = '\0';
			snprintf(out, cap, "%s", p);
		}
	}
	pclose(f);
}

/* Oracle path -> the path we expect: canonical, fixture dir stripped. */
static void expected_path(const char *oracle, char *out, size_t cap)
{
	char fix[PATH_MAX], real[PATH_MAX];
	size_t n;

	assert_non_null(realpath(FIXDIR, fix));
	if (!realpath(oracle, real)) {
		snprintf(out, cap, "%s", oracle);
		return;
	}
	n = strlen(fix);
	if (strncmp(real, fix, n) == 0 && real[n] == '/')
		snprintf(out, cap, "%s", real + n + 1);
	else
		snprintf(out, cap, "%s", real);
}

/* Compare every point's first inline frame with llvm-addr2line -a -i -f. */
static void check_lines(const char *bin, const struct kc_symtab *t)
{
	char tmpl[] = "/tmp/kc_sym_addrsXXXXXX", cmd[1024], line[2048], func[2048];
	FILE *f;
	int fd = mkstemp(tmpl);
	uint64_t idx = 0;
	int state = 0; /* 0: want address, 1: want func, 2: want file:line, 3: skip */
	bool header_inline = false;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (uint64_t i = 0; i < t->npoints; i++)
		fprintf(f, "0x%" PRIx64 "\n", t->text_base + t->points[i].offset);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s -a -i -f -e '%s' < %s", ADDR2LINE, bin, tmpl);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0x", 2) == 0) {
			uint64_t a = strtoull(line, NULL, 16);

			assert_true(idx < t->npoints);
			assert_int_equal(a, t->text_base + t->points[idx].offset);
			state = 1;
			continue;
		}
		if (state == 1) {
			snprintf(func, sizeof(func), "%s", line);
			state = 2;
		} else if (state == 2) {
			const struct kc_sym_point *p = &t->points[idx];
			char *colon = strrchr(line, ':');
			char want[PATH_MAX];
			unsigned long want_line;

			assert_non_null(colon);
			*colon = '\0';
			want_line = strtoul(colon + 1, NULL, 10);
			if (strcmp(line, "??") == 0) {
				assert_int_equal(p->file, KC_SYM_NONE);
			} else {
				expected_path(line, want, sizeof(want));
				assert_true(p->file < t->nfiles);
				if (strcmp(want, t->files[p->file]) != 0)
					fail_msg("point 0x%" PRIx64 ": %s:%lu expected, got %s:%u",
						 p->offset, want, want_line, t->files[p->file],
						 p->line);
				assert_int_equal(p->line, want_line);
			}
			if (strcmp(func, "??") == 0) {
				assert_int_equal(p->func, KC_SYM_NONE);
			} else {
				assert_true(p->func < t->nfuncs);
				assert_string_equal(t->funcs[p->func].name, func);
			}
			if (p->file != KC_SYM_NONE && strcmp(t->files[p->file], "helpers.h") == 0 &&
			    p->func != KC_SYM_NONE &&
			    t->funcs[p->func].file == p->file &&
			    (strcmp(func, "clamp_add") == 0 || strcmp(func, "pick_max") == 0 ||
			     strcmp(func, "count_bits") == 0))
				header_inline = true;
			idx++;
			state = 3;
		}
	}
	assert_int_equal(pclose(f), 0);
	unlink(tmpl);
	assert_int_equal(idx, t->npoints);
	assert_true(header_inline); /* inlined header code is attributed to the header */
}

static void check_common(const char *bin, const struct kc_symtab *t, const struct oracle *o)
{
	char bid[256];

	/* same points as llvm-objdump */
	assert_int_equal(t->npoints, o->n);
	assert_true(t->npoints > 10);
	for (uint64_t i = 0; i < t->npoints; i++) {
		assert_int_equal(t->text_base + t->points[i].offset, o->addr[i]);
		assert_int_equal(kc_symtab_find(t, t->points[i].offset), (int64_t)i);
		if (i > 0)
			assert_true(t->points[i - 1].offset < t->points[i].offset);
	}
	assert_int_equal(kc_symtab_find(t, t->points[0].offset + 1), -1);
	assert_int_equal(kc_symtab_find(t, UINT64_MAX), -1);

	readelf_build_id(bin, bid, sizeof(bid));
	assert_true(strlen(bid) == 40);
	assert_string_equal(t->build_id, bid);

	check_lines(bin, t);
	assert_int_equal(t->unresolved, 0);

	/* function table: unique (name, file), sane line spans */
	for (uint32_t i = 0; i < t->nfuncs; i++) {
		assert_true(t->funcs[i].line_start <= t->funcs[i].line_end);
		for (uint32_t j = i + 1; j < t->nfuncs; j++)
			assert_false(t->funcs[i].file == t->funcs[j].file &&
				     strcmp(t->funcs[i].name, t->funcs[j].name) == 0);
	}
	/* files interned once */
	for (uint32_t i = 0; i < t->nfiles; i++)
		for (uint32_t j = i + 1; j < t->nfiles; j++)
			assert_string_not_equal(t->files[i], t->files[j]);
}

static void run_vmlinux(const char *flavour, const struct kc_sym_opts *opts)
{
	char bin[1024];
	static struct oracle o;
	struct kc_symtab t;
	struct kc_err err = { 0 };

	snprintf(bin, sizeof(bin), "%s/vmlinux_%s", FIXOUT, flavour);
	assert_int_equal(kc_symbolize_file(bin, opts, &t, &err), 0);
	objdump_oracle(bin, false, &o);
	assert_int_equal(t.is_module, 0);
	assert_int_equal(t.text_base, 0xffffffff81000000ULL);
	assert_int_equal(t.skipped_points, 0);
	check_common(bin, &t, &o);
	kc_symtab_release(&t);
	assert_null(t.points);
}

static void run_module(const char *flavour, const struct kc_sym_opts *opts)
{
	char bin[1024];
	static struct oracle o;
	struct kc_symtab t;
	struct kc_err err = { 0 };

	snprintf(bin, sizeof(bin), "%s/minimod_%s.ko", FIXOUT, flavour);
	assert_int_equal(kc_symbolize_file(bin, opts, &t, &err), 0);
	objdump_oracle(bin, true, &o);
	assert_int_equal(t.is_module, 1);
	assert_string_equal(t.modname, "minimod");
	assert_int_equal(t.text_base, 0);
	assert_true(o.skipped > 0); /* minimod_init lives in .init.text */
	assert_int_equal(t.skipped_points, o.skipped);
	check_common(bin, &t, &o);
	kc_symtab_release(&t);
}

static const char *const strip_fix[] = { "/nonexistent/prefix", FIXDIR };
static const struct kc_sym_opts guard_opts = { .strip_prefixes = strip_fix, .nstrip = 2 };

static void test_vmlinux_pc(void **state)
{
	(void)state;
	run_vmlinux("pc", NULL); /* relative names: comp_dir stripping */
}

static void test_vmlinux_guard(void **state)
{
	(void)state;
	run_vmlinux("guard", &guard_opts); /* absolute names: strip_prefixes */
}

static void test_module_pc(void **state)
{
	(void)state;
	run_module("pc", NULL);
}

static void test_module_guard(void **state)
{
	(void)state;
	run_module("guard", &guard_opts);
}

/* "../fixture/start.c" relative to comp_dir folds to "start.c". */
static void test_dotdot_folded(void **state)
{
	struct kc_symtab t;
	struct kc_err err = { 0 };
	bool seen = false;

	(void)state;
	assert_int_equal(kc_symbolize_file(FIXOUT "/vmlinux_pc", NULL, &t, &err), 0);
	for (uint32_t i = 0; i < t.nfiles; i++) {
		assert_null(strstr(t.files[i], ".."));
		assert_true(t.files[i][0] != '/');
		if (strcmp(t.files[i], "start.c") == 0)
			seen = true;
	}
	assert_true(seen);
	kc_symtab_release(&t);
}

/* Inlined header functions: their own (name, header) entries with lines
 * inside the header. */
static void test_inline_funcs(void **state)
{
	struct kc_symtab t;
	struct kc_err err = { 0 };
	int found = 0;

	(void)state;
	assert_int_equal(kc_symbolize_file(FIXOUT "/minimod_guard.ko", &guard_opts, &t, &err), 0);
	for (uint32_t i = 0; i < t.nfuncs; i++) {
		const struct kc_sym_func *f = &t.funcs[i];

		if (strcmp(f->name, "count_bits") == 0 || strcmp(f->name, "clamp_add") == 0 ||
		    strcmp(f->name, "pick_max") == 0) {
			assert_string_equal(t.files[f->file], "helpers.h");
			assert_true(f->line_start >= 5 && f->line_end <= 35);
			found++;
		}
	}
	assert_true(found >= 2);
	kc_symtab_release(&t);
}

static void assert_same_table(const struct kc_symtab *a, const struct kc_symtab *b)
{
	assert_int_equal(a->npoints, b->npoints);
	assert_int_equal(a->nfiles, b->nfiles);
	assert_int_equal(a->nfuncs, b->nfuncs);
	assert_int_equal(a->unresolved, b->unresolved);
	for (uint32_t i = 0; i < a->nfiles; i++)
		assert_string_equal(a->files[i], b->files[i]);
	for (uint32_t i = 0; i < a->nfuncs; i++) {
		assert_string_equal(a->funcs[i].name, b->funcs[i].name);
		assert_int_equal(a->funcs[i].file, b->funcs[i].file);
		assert_int_equal(a->funcs[i].line_start, b->funcs[i].line_start);
		assert_int_equal(a->funcs[i].line_end, b->funcs[i].line_end);
	}
	for (uint64_t i = 0; i < a->npoints; i++) {
		assert_int_equal(a->points[i].offset, b->points[i].offset);
		assert_int_equal(a->points[i].file, b->points[i].file);
		assert_int_equal(a->points[i].line, b->points[i].line);
		assert_int_equal(a->points[i].func, b->points[i].func);
	}
}

/* One thread on one handle, against 2-5 threads, each ending its handle
 * after every CU or every second CU (the vmlinux fixtures have 4 CUs). */
static void test_threads_same_table(void **state)
{
	static const char *const bins[] = { "vmlinux_pc", "vmlinux_guard", "minimod_pc.ko",
					    "minimod_guard.ko" };

	(void)state;
	for (size_t b = 0; b < sizeof(bins) / sizeof(bins[0]); b++) {
		char bin[1024];
		struct kc_sym_opts one = { .threads = 1, .cus_per_handle = 1000 };
		struct kc_symtab t1, tn;
		struct kc_err err = { 0 };

		snprintf(bin, sizeof(bin), "%s/%s", FIXOUT, bins[b]);
		assert_int_equal(kc_symbolize_file(bin, &one, &t1, &err), 0);
		assert_true(t1.nfiles >= 3); /* the fixtures span several CUs */
		for (unsigned th = 2; th <= 5; th++) {
			struct kc_sym_opts many = { .threads = th, .cus_per_handle = th % 2 + 1 };

			assert_int_equal(kc_symbolize_file(bin, &many, &tn, &err), 0);
			assert_same_table(&t1, &tn);
			kc_symtab_release(&tn);
		}
		kc_symtab_release(&t1);
	}
}

/* An object with the callbacks but no instrumented calls: zero points. */
static void test_no_points(void **state)
{
	struct kc_symtab t;
	struct kc_err err = { 0 };

	(void)state;
	assert_int_equal(kc_symbolize_file(FIXOUT "/cov.o", NULL, &t, &err), 0);
	assert_int_equal(t.npoints, 0);
	assert_int_equal(kc_symtab_find(&t, 0), -1);
	kc_symtab_release(&t);
}

static void write_prefix(const char *src, const char *dst, long len)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	char buf[4096];
	long done = 0;

	assert_non_null(in);
	assert_non_null(out);
	while (done < len) {
		size_t want = (size_t)(len - done) < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);
		size_t got = fread(buf, 1, want, in);

		if (got == 0)
			break;
		fwrite(buf, 1, got, out);
		done += (long)got;
	}
	fclose(in);
	fclose(out);
}

static void expect_error(const char *path)
{
	struct kc_symtab t;
	struct kc_err err = { 0 };

	assert_int_equal(kc_symbolize_file(path, NULL, &t, &err), -1);
	assert_true(err.msg[0] != '\0');
	assert_null(t.points);
	assert_int_equal(t.npoints, 0);
	kc_symtab_release(&t);
}

static void test_bad_files(void **state)
{
	char tmp[] = "/tmp/kc_sym_badXXXXXX";
	int fd = mkstemp(tmp);
	FILE *f;
	long size;

	(void)state;
	assert_true(fd >= 0);
	close(fd);

	expect_error("/nonexistent/vmlinux");

	/* garbage */
	f = fopen(tmp, "wb");
	assert_non_null(f);
	for (int i = 0; i < 10000; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	expect_error(tmp);

	/* empty */
	f = fopen(tmp, "wb");
	fclose(f);
	expect_error(tmp);

	/* truncated ELF: header only, then half of it (section headers lost) */
	f = fopen(FIXOUT "/vmlinux_pc", "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	write_prefix(FIXOUT "/vmlinux_pc", tmp, 100);
	expect_error(tmp);
	write_prefix(FIXOUT "/vmlinux_pc", tmp, size / 2);
	expect_error(tmp);
	write_prefix(FIXOUT "/minimod_pc.ko", tmp, 64);
	expect_error(tmp);
	unlink(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmlinux_pc),    cmocka_unit_test(test_vmlinux_guard),
		cmocka_unit_test(test_module_pc),     cmocka_unit_test(test_module_guard),
		cmocka_unit_test(test_dotdot_folded), cmocka_unit_test(test_inline_funcs),
		cmocka_unit_test(test_no_points),     cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_threads_same_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
