/*
 * test_label_index.c - the label index (schema/010_label_files.sql,
 * server/store/labelidx.c) answers "which labels covered this file or
 * line" exactly as the coverage rows do. On a database made here from the
 * symbolize fixtures (vmlinux_pc and minimod_pc.ko) and the real writer:
 * reports of three labels pushed before the import (the import indexes
 * them) and after it (the writer adds each batch), days passing in
 * between, then retention gc dropping the oldest day (the index of the
 * build is recomputed) and the build's deletion (its index goes). After
 * each step every file and every covered line is asked with several label
 * filters, with the index and then with the index marked incomplete (the
 * query reads the coverage rows, as before the index existed), and the
 * answers must be identical.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "canon.h"
#include "covquery.h"
#include "db.h"
#include "import.h"
#include "retention.h"
#include "store.h"
#include "wire.h"
#include "testdb.h"

#define KASLR 0x1e000000ull
#define MOD_TEXT 0xffffffffc0011000ull
#define MAXPTS 4096

/* The points of the fixture build, as report PCs (KASLR already removed,
 * as the collector sends them). */
struct points {
	uint64_t pc[MAXPTS];
	size_t n;
};

struct fixture {
	char dir[64], path[96], scratch[96], mods[96], ko[128];
	struct kc_store *store;
	struct kc_sql *db; /* read-write, for the queries */
	struct kc_covq_cache *cache;
	struct kc_import *imp;
	char build_id[KC_BUILD_ID_MAX + 1];
	uint64_t link_text;
	struct points pts;
	uint64_t gen;
	unsigned uid;
};

static void exec_ok(struct kc_sql *db, const char *sql)
{
	struct kc_err err;

	if (kc_db_exec(db, sql, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

/* Import the fixtures into a scratch database to learn their points. */
static void learn_points(struct fixture *f)
{
	struct kc_import_opts o = { .vmlinux = FIXOUT "/vmlinux_pc", .modules_dir = f->mods };
	json_t *summary = NULL;
	struct kc_err err;
	struct kc_sql *db = kc_db_open(f->scratch, 0, &err);
	struct kc_stmt *st;

	assert_non_null(db);
	assert_int_equal(kc_db_migrate(db, &err), 0);
	if (kc_import_run(db, &o, "test", &summary, &err) < 0)
		fail_msg("import: %s", err.msg);
	snprintf(f->build_id, sizeof(f->build_id), "%s",
		 json_string_value(json_object_get(summary, "build_id")));
	json_decref(summary);
	st = kc_db_prepare(db,
			   "SELECT i.kind, i.text_base, fp.bits FROM file_points fp "
			   "JOIN images i ON i.id = fp.image ORDER BY fp.file, fp.image",
			   &err);
	assert_non_null(st);
	while (kc_stmt_step(st, NULL) == KC_ROW) {
		int vmlinux = strcmp((const char *)kc_stmt_column_text(st, 0), "vmlinux") == 0;
		roaring_bitmap_t *b = kc_db_column_bitmap(st, 2);
		roaring_uint32_iterator_t it;

		assert_non_null(b);
		if (vmlinux)
			f->link_text = (uint64_t)kc_stmt_column_int64(st, 1);
		roaring_init_iterator(b, &it);
		for (; it.has_value && f->pts.n < MAXPTS; roaring_advance_uint32_iterator(&it))
			f->pts.pc[f->pts.n++] = vmlinux ? it.current_value /* + link_text below */
							: MOD_TEXT - KASLR + it.current_value;
		kc_bitmap_free(b);
	}
	kc_stmt_finalize(st);
	for (size_t i = 0; i < f->pts.n; i++)
		if (f->pts.pc[i] < MOD_TEXT - KASLR) /* a vmlinux offset */
			f->pts.pc[i] += f->link_text;
	kc_db_close(db);
	assert_true(f->pts.n > 20);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kc_import_opts o;
	struct kc_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kc_test_lidx.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kcovd.db", f->dir);
	snprintf(f->scratch, sizeof(f->scratch), "%s/scratch.db", f->dir);
	snprintf(f->mods, sizeof(f->mods), "%s/modules", f->dir);
	snprintf(f->ko, sizeof(f->ko), "%s/minimod.ko", f->mods);
	assert_int_equal(mkdir(f->mods, 0700), 0);
	assert_int_equal(symlink(FIXOUT "/minimod_pc.ko", f->ko), 0);
	learn_points(f);
	memset(&o, 0, sizeof(o));
	o.vmlinux = FIXOUT "/vmlinux_pc";
	o.modules_dir = f->mods;
	if (kc_import_prepare(&o, &f->imp, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	f->store = kc_store_open(f->path, &err);
	assert_non_null(f->store);
	f->db = kc_db_open(f->path, 0, &err);
	assert_non_null(f->db);
	f->cache = kc_covq_cache_new(16, &err);
	assert_non_null(f->cache);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kc_covq_cache_free(f->cache);
	kc_db_close(f->db);
	kc_store_close(f->store);
	kc_import_free(f->imp);
	kc_test_rm_db(f->path);
	kc_test_rm_db(f->scratch);
	unlink(f->ko);
	rmdir(f->mods);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t count(struct fixture *f, const char *sql)
{
	return kc_test_count(f->db, sql);
}

static void submit_map(struct fixture *f)
{
	struct kc_addrmap m;
	struct kc_job job;

	kc_addrmap_init(&m);
	snprintf(m.machine, sizeof(m.machine), "m1");
	snprintf(m.boot_id, sizeof(m.boot_id), "boot-1");
	snprintf(m.release, sizeof(m.release), "6.1.0");
	snprintf(m.build_id, sizeof(m.build_id), "%s", f->build_id);
	m.link_text = f->link_text;
	m.text_start = f->link_text + KASLR;
	m.text_end = m.text_start + 0x1000000;
	m.modules = calloc(1, sizeof(*m.modules));
	assert_non_null(m.modules);
	m.nmodules = 1;
	snprintf(m.modules[0].name, sizeof(m.modules[0].name), "minimod");
	m.modules[0].core_base = MOD_TEXT - 0x1000;
	m.modules[0].core_size = 0x10000;
	m.modules[0].text_addr = MOD_TEXT;
	memset(&job, 0, sizeof(job));
	job.kind = KC_JOB_ADDRMAP;
	job.map = &m;
	kc_store_submit(f->store, &job);
	assert_int_equal(job.status, KC_JOB_OK);
	kc_addrmap_release(&m);
}

/* Push a report of label with every point i where (i * mul + add) % mod == 0. */
static void push(struct fixture *f, const char *label, unsigned mul, unsigned add, unsigned mod)
{
	uint64_t pcs[MAXPTS];
	size_t n = 0;
	struct kc_report r;
	struct kc_canon_boot boot;
	struct kc_canon_result canon;
	struct kc_job job;
	struct kc_err err;

	for (size_t i = 0; i < f->pts.n; i++)
		if ((i * mul + add) % mod == 0)
			pcs[n++] = f->pts.pc[i];
	assert_true(n > 0);
	kc_report_init(&r);
	snprintf(r.machine, sizeof(r.machine), "m1");
	snprintf(r.boot_id, sizeof(r.boot_id), "boot-1");
	snprintf(r.label, sizeof(r.label), "%s", label);
	f->uid++;
	memcpy(r.upload_id, &f->uid, sizeof(f->uid));
	/* taken now: reports are filed under the day they were taken */
	r.created_unix = (uint64_t)time(NULL);
	assert_int_equal(kc_report_add_pcs(&r, pcs, n, &err), 0);
	assert_int_equal(kc_canon_load(f->db, "m1", "boot-1", &boot, &err), 1);
	assert_int_equal(kc_canon_report(&boot, &r, &canon, &err), 0);
	assert_int_equal(canon.unknown, 0);
	memset(&job, 0, sizeof(job));
	job.kind = KC_JOB_REPORT;
	job.report = &r;
	job.boot = &boot;
	job.canon = &canon;
	job.bytes = 100;
	kc_store_submit(f->store, &job);
	assert_int_equal(job.status, KC_JOB_OK);
	kc_canon_result_release(&canon);
	kc_canon_boot_release(&boot);
	kc_report_release(&r);
}

static int shift_days(void *arg, void *db, struct kc_err *err)
{
	static const char *const sql[] = {
		"UPDATE coverage SET day = day - ?1 WHERE day >= 0",
		"UPDATE label_unions SET upto = upto - ?1",
		"UPDATE label_files SET first_day = first_day - ?1, last_day = last_day - ?1",
		"UPDATE reports SET received = received - ?1 * 86400",
	};

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		struct kc_stmt *st = kc_db_prepare(db, sql[i], err);
		int rc;

		if (!st)
			return -1;
		kc_stmt_bind_int64(st, 1, *(int64_t *)arg);
		rc = kc_db_step(db, st, err);
		kc_stmt_finalize(st);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* As if days passed: every stored day moves back (the index's too). */
static void days_pass(struct fixture *f, int64_t days)
{
	struct kc_err err;

	assert_int_equal(kc_store_maintain(f->store, shift_days, &days, &err), 0);
}

static const struct {
	const char *labels, *minus;
} filters[] = {
	{ NULL, NULL },
	{ "[\"A\"]", NULL },
	{ NULL, "[\"B\"]" },
	{ "[\"A\",\"C\"]", "[\"B\"]" },
	{ "[\"nosuch\"]", NULL },
};
#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

/* Every answer (each file, then each line covered in it, per filter) as
 * one JSON array text; *days_seen counts labels with first < last day. */
static char *answers(struct fixture *f, int *days_seen)
{
	json_t *all = json_array();
	struct kc_stmt *st = kc_db_prepare(f->db,
					 "SELECT f.path FROM files f JOIN builds b ON b.id = f.build "
					 "WHERE b.build_id = ? ORDER BY f.path",
					 NULL);
	char *text;

	assert_non_null(st);
	kc_stmt_bind_text(st, 1, f->build_id, -1, KC_SQL_STATIC);
	f->gen++;
	while (kc_stmt_step(st, NULL) == KC_ROW) {
		const char *path = (const char *)kc_stmt_column_text(st, 0);

		for (size_t k = 0; k < NFILTERS; k++) {
			struct kc_cov_filter flt = { filters[k].labels, filters[k].minus, 0, 0, 0, NULL };
			struct kc_err err;
			struct kc_covq *q = kc_covq_open(f->cache, f->db, f->gen, f->build_id, &flt,
							 KC_COVQ_NEED_IMPORT, &err);
			json_t *j, *lines = json_array();
			size_t i, n;
			json_t *e;

			assert_non_null(q);
			j = kc_covq_labels(q, path, 0, 100, &err);
			if (!j)
				fail_msg("labels %s: %s", path, err.msg);
			json_array_foreach(json_object_get(j, "labels"), i, e) {
				const char *first = json_string_value(json_object_get(e, "first_day"));
				const char *last = json_string_value(json_object_get(e, "last_day"));
				json_t *l;
				size_t m;

				*days_seen += first && last && strcmp(first, last) < 0;
				json_array_foreach(json_object_get(e, "lines"), m, l)
					json_array_append(lines, json_object_get(l, "line"));
			}
			json_array_append_new(all, j);
			n = json_array_size(lines);
			for (i = 0; i < n; i++) {
				j = kc_covq_labels(q, path, json_integer_value(json_array_get(lines, i)),
						   100, &err);
				assert_non_null(j);
				json_array_append_new(all, j);
			}
			json_decref(lines);
			kc_covq_free(q);
		}
	}
	kc_stmt_finalize(st);
	text = json_dumps(all, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(all);
	assert_non_null(text);
	return text;
}

/* The answers with the index equal those without it. */
static void check_same(struct fixture *f, const char *what, int want_days)
{
	char *with, *without;
	int days = 0, ignored = 0;

	assert_int_equal(count(f, "SELECT count(*) FROM label_files_built"), 1);
	assert_true(count(f, "SELECT count(*) FROM label_files") > 0);
	with = answers(f, &days);
	exec_ok(f->db, "BEGIN IMMEDIATE");
	exec_ok(f->db, "DELETE FROM label_files_built");
	without = answers(f, &ignored);
	exec_ok(f->db, "ROLLBACK");
	if (strcmp(with, without) != 0)
		fail_msg("%s: indexed answers differ:\n with    %.2000s\n without %.2000s", what, with,
			 without);
	if (want_days && days == 0)
		fail_msg("%s: no label with a first day before its last", what);
	free(with);
	free(without);
}

static void test_index_equals_rows(void **state)
{
	struct fixture *f = *state;
	struct kc_import_audited aud = { f->imp, "test" };
	struct kc_build_delete_job del = { .actor = "test" };
	struct kc_gc_job gc = { .keep_days = 7, .actor = "test" };
	struct kc_err err;

	submit_map(f);
	/* Before the import: pushed coverage, indexed by the import. */
	push(f, "A", 1, 0, 3);
	push(f, "B", 1, 1, 4);
	days_pass(f, 10);
	push(f, "A", 1, 0, 5);
	push(f, "C", 7, 0, 2);
	assert_int_equal(kc_store_call(f->store, kc_import_write_audited, &aud, &err), 0);
	check_same(f, "after the import", 1);
	/* After it: the writer's batches, on later days. */
	days_pass(f, 4);
	push(f, "A", 1, 2, 7);
	push(f, "B", 3, 1, 5);
	push(f, "C", 1, 0, 11);
	check_same(f, "after ingest", 1);
	days_pass(f, 2);
	push(f, "B", 1, 0, 2);
	push(f, "D", 5, 3, 9);
	check_same(f, "after more ingest", 1);
	/* gc: the day 16 days ago goes (folded into the unions first). */
	assert_int_equal(kc_store_maintain(f->store, kc_gc_call, &gc, &err), 0);
	assert_true(gc.res.day_rows > 0);
	check_same(f, "after gc", 1);
	push(f, "A", 1, 1, 13);
	check_same(f, "after gc and ingest", 0);
	/* Deleting the build deletes its index. */
	del.build_id = f->build_id;
	assert_int_equal(kc_store_maintain(f->store, kc_build_delete_call, &del, &err), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM label_files"), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM label_files_built"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_equals_rows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
