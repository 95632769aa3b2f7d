/*
 * test_import_query.c - the build-import and query layers through their C
 * APIs (server/build/import.h, server/query/covquery.h), on a database
 * made here from the symbolize fixtures (vmlinux_pc and minimod_pc.ko):
 * the import stores every point once under its file, the tree's totals
 * add up to the import's, a stored coverage bit shows up as one covered
 * point in the tree and as a covered line of its file, and file, tree and
 * function queries of a build that was never imported answer
 * KC_E_NOT_IMPORTED instead of crashing; a day window without a label
 * filter reads the days' unions of every label where they are valid and
 * the per-label rows where they are stale (server/store/dayunion.h), and
 * the start-up rebuild makes stale ones valid; and line maps between two texts
 * (query/linemap.c, the query layer's inside) on the edge cases of a diff.
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
#include <jansson.h>

#include "covquery.h"
#include "cq.h" /* cq_linemap_*: internal to the query layer */
#include "dayunion.h"
#include "db.h"
#include "import.h"
#include "wire.h"
#include "testdb.h"

struct fixture {
	char dir[64], path[96], mods[96], ko[128];
	struct kc_sql *db;
	struct kc_covq_cache *cache;
	json_t *summary; /* of the import */
	const char *build_id;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kc_import_opts o;
	struct kc_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kc_test_import.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kcovd.db", f->dir);
	snprintf(f->mods, sizeof(f->mods), "%s/modules", f->dir);
	snprintf(f->ko, sizeof(f->ko), "%s/minimod.ko", f->mods);
	assert_int_equal(mkdir(f->mods, 0700), 0);
	assert_int_equal(symlink(FIXOUT "/minimod_pc.ko", f->ko), 0);
	f->db = kc_db_open(f->path, 0, &err);
	assert_non_null(f->db);
	assert_int_equal(kc_db_migrate(f->db, &err), 0);
	memset(&o, 0, sizeof(o));
	o.vmlinux = FIXOUT "/vmlinux_pc";
	o.modules_dir = f->mods;
	if (kc_import_run(f->db, &o, "test", &f->summary, &err) < 0)
		fail_msg("import: %s", err.msg);
	f->build_id = json_string_value(json_object_get(f->summary, "build_id"));
	assert_non_null(f->build_id);
	f->cache = kc_covq_cache_new(16, &err);
	assert_non_null(f->cache);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kc_covq_cache_free(f->cache);
	json_decref(f->summary);
	kc_db_close(f->db);
	kc_test_rm_db(f->path);
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

static json_int_t num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* The root of the tree of the imported build under coverage generation gen. */
static json_t *root(struct fixture *f, uint64_t gen)
{
	struct kc_cov_filter none;
	struct kc_covq *q;
	struct kc_err err;
	json_t *t;

	memset(&none, 0, sizeof(none));
	q = kc_covq_open(f->cache, f->db, gen, f->build_id, &none, KC_COVQ_NEED_IMPORT, &err);
	assert_non_null(q);
	t = kc_covq_tree(q, "", &err);
	assert_non_null(t);
	kc_covq_free(q);
	return t;
}

static void test_import_stores_points_by_file(void **state)
{
	struct fixture *f = *state;
	json_int_t points = num(f->summary, "points");

	assert_true(points > 0);
	assert_int_equal(json_array_size(json_object_get(f->summary, "images")), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM images"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM files"), num(f->summary, "files"));
	/* every point is stored once, under one file */
	assert_int_equal(count(f, "SELECT sum(points) FROM files"), points);
	assert_int_equal(count(f, "SELECT sum(points) FROM images"), points);
	assert_int_equal(count(f, "SELECT count(*) FROM files WHERE path LIKE '%..%'"), 0);
}

static void test_tree_totals_and_coverage(void **state)
{
	struct fixture *f = *state;
	struct kc_cov_filter none;
	struct kc_covq *q;
	struct kc_err err;
	struct kc_stmt *st;
	roaring_bitmap_t *pts, *cov;
	uint32_t bit;
	json_t *t, *file, *lines;
	char path[512];
	int covered_lines = 0;

	t = root(f, 0);
	assert_int_equal(num(t, "points_total"), num(f->summary, "points"));
	assert_int_equal(num(t, "points_covered"), 0);
	assert_int_equal(num(t, "files"), num(f->summary, "files"));
	json_decref(t);

	/* Cover the first point of the first file of vmlinux, as the writer
	 * would store it: a coverage_total row of its binary. */
	st = kc_db_prepare(f->db,
			   "SELECT f.path, fp.bits, b.id FROM files f "
			   "JOIN file_points fp ON fp.file = f.id JOIN images i ON i.id = fp.image "
			   "JOIN binaries b ON b.build = i.build AND b.name = i.name "
			   "WHERE i.kind = 'vmlinux' ORDER BY f.path LIMIT 1",
			   &err);
	assert_non_null(st);
	assert_int_equal(kc_db_step(f->db, st, &err), KC_ROW);
	snprintf(path, sizeof(path), "%s", (const char *)kc_stmt_column_text(st, 0));
	pts = kc_db_column_bitmap(st, 1);
	assert_non_null(pts);
	assert_true(roaring_bitmap_select(pts, 0, &bit));
	cov = roaring_bitmap_of(1, bit);
	{
		struct kc_stmt *ins = kc_db_prepare(
			f->db, "INSERT INTO coverage_total (binary, seq, bits) VALUES (?, 0, ?)", &err);

		assert_non_null(ins);
		kc_stmt_bind_int64(ins, 1, kc_stmt_column_int64(st, 2));
		assert_int_equal(kc_db_bind_bitmap(ins, 2, cov, &err), 0);
		assert_int_equal(kc_db_step(f->db, ins, &err), KC_DONE);
		kc_stmt_finalize(ins);
	}
	kc_stmt_finalize(st);
	kc_bitmap_free(pts);
	kc_bitmap_free(cov);

	/* A new generation: the cached (empty) coverage is not reused. */
	t = root(f, 1);
	assert_int_equal(num(t, "points_covered"), 1);
	json_decref(t);

	memset(&none, 0, sizeof(none));
	q = kc_covq_open(f->cache, f->db, 1, f->build_id, &none, KC_COVQ_NEED_IMPORT, &err);
	assert_non_null(q);
	file = kc_covq_file(q, path, &err);
	assert_non_null(file);
	assert_int_equal(num(file, "points_covered"), 1);
	lines = json_object_get(file, "lines");
	for (size_t i = 0; i < json_array_size(lines); i++)
		covered_lines += num(json_array_get(lines, i), "covered") > 0;
	assert_int_equal(covered_lines, 1);
	json_decref(file);
	assert_null(kc_covq_file(q, "no/such/file.c", &err));
	assert_int_equal(err.code, KC_E_NOT_FOUND);
	kc_covq_free(q);
}

/* Run sql with ?1 = a, ?2 = b (bits bound as ?3 when not NULL). */
static void exec3(struct fixture *f, const char *sql, int64_t a, int64_t b,
		  const roaring_bitmap_t *bits)
{
	struct kc_err err;
	struct kc_stmt *st = kc_db_prepare(f->db, sql, &err);

	assert_non_null(st);
	kc_stmt_bind_int64(st, 1, a);
	kc_stmt_bind_int64(st, 2, b);
	if (bits)
		assert_int_equal(kc_db_bind_bitmap(st, 3, bits, &err), 0);
	assert_int_equal(kc_db_step(f->db, st, &err), KC_DONE);
	kc_stmt_finalize(st);
}

/* Points covered at the root on day `day` (labels_json NULL: all labels)
 * under coverage generation gen. */
static json_int_t day_points(struct fixture *f, uint64_t gen, int64_t day, const char *labels)
{
	struct kc_cov_filter w = { .labels_json = labels, .days = 1, .since = day, .until = day };
	struct kc_covq *q;
	struct kc_err err;
	json_t *t;
	json_int_t n;

	q = kc_covq_open(f->cache, f->db, gen, f->build_id, &w, KC_COVQ_NEED_IMPORT, &err);
	assert_non_null(q);
	t = kc_covq_tree(q, "", &err);
	assert_non_null(t);
	n = num(t, "points_covered");
	json_decref(t);
	kc_covq_free(q);
	return n;
}

static void test_day_window_reads_day_unions(void **state)
{
	struct fixture *f = *state;
	const int64_t day = 20000;
	struct kc_stmt *st;
	struct kc_err err;
	roaring_bitmap_t *pts, *a, *b;
	uint32_t x, y;
	int64_t bin, rebuilt = -1;

	/* Two points of vmlinux and its binaries row. */
	st = kc_db_prepare(f->db,
			   "SELECT fp.bits, b.id FROM file_points fp JOIN files fl ON fl.id = fp.file "
			   "JOIN images i ON i.id = fp.image "
			   "JOIN binaries b ON b.build = i.build AND b.name = i.name "
			   "WHERE i.kind = 'vmlinux' AND fl.points >= 2 LIMIT 1", &err);
	assert_non_null(st);
	assert_int_equal(kc_db_step(f->db, st, &err), KC_ROW);
	pts = kc_db_column_bitmap(st, 0);
	bin = kc_stmt_column_int64(st, 1);
	kc_stmt_finalize(st);
	assert_non_null(pts);
	assert_true(roaring_bitmap_select(pts, 0, &x) && roaring_bitmap_select(pts, 1, &y));
	a = roaring_bitmap_of(1, x);
	b = roaring_bitmap_of(1, y);
	assert_int_equal(kc_db_exec(f->db, "INSERT INTO labels (name) VALUES ('l1'), ('l2')", &err),
			 0);

	/* Rows written by other means than the writer: the union is stale
	 * and the window reads the per-label rows. */
	exec3(f, "INSERT INTO coverage (binary, label, day, seq, bits) VALUES "
		 "(?1, (SELECT id FROM labels WHERE name = 'l1'), ?2, 0, ?3)", bin, day, a);
	exec3(f, "INSERT INTO coverage (binary, label, day, seq, bits) VALUES "
		 "(?1, (SELECT id FROM labels WHERE name = 'l2'), ?2, 0, ?3)", bin, day, b);
	assert_int_equal(count(f, "SELECT count(*) FROM coverage_days WHERE union_stamp = stamp"), 0);
	assert_int_equal(day_points(f, 10, day, NULL), 2);
	assert_int_equal(day_points(f, 10, day - 1, NULL), 0);

	/* The start-up rebuild: one union row, valid. */
	assert_int_equal(kc_db_exec(f->db, "BEGIN", &err), 0);
	assert_int_equal(kc_dayunion_rebuild_stale(f->db, &rebuilt, &err), 0);
	assert_int_equal(kc_db_exec(f->db, "COMMIT", &err), 0);
	assert_int_equal(rebuilt, 1);
	assert_int_equal(count(f, "SELECT count(*) FROM coverage_day_unions"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM coverage_days WHERE union_stamp = stamp"), 1);
	assert_int_equal(day_points(f, 11, day, NULL), 2);

	/* A valid union is what the window reads: made smaller by hand (its
	 * stamp untouched), the answer follows it; label filters do not. */
	exec3(f, "UPDATE coverage_day_unions SET bits = ?3 WHERE binary = ?1 AND day = ?2", bin,
	      day, a);
	assert_int_equal(day_points(f, 12, day, NULL), 1);
	assert_int_equal(day_points(f, 12, day, "[\"l1\",\"l2\"]"), 2);

	/* Another row of the day moves its stamp: stale again, and the rows
	 * are read instead of the (wrong) union. */
	exec3(f, "INSERT INTO coverage (binary, label, day, seq, bits) VALUES "
		 "(?1, (SELECT id FROM labels WHERE name = 'l1'), ?2, 1, ?3)", bin, day, b);
	assert_int_equal(day_points(f, 13, day, NULL), 2);
	assert_int_equal(kc_dayunion_rebuild(f->db, bin, day, &err), 0);
	assert_int_equal(day_points(f, 14, day, NULL), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM coverage_days WHERE union_stamp = stamp"), 1);
	kc_bitmap_free(pts);
	kc_bitmap_free(a);
	kc_bitmap_free(b);
}

static void test_not_imported_build(void **state)
{
	struct fixture *f = *state;
	struct kc_cov_filter none;
	struct kc_covq *q;
	struct kc_err err;
	struct kc_buf out = KC_BUF_INIT;

	assert_int_equal(kc_db_exec(f->db, "INSERT INTO builds (build_id, first_seen, last_seen) "
					   "VALUES ('feed', 0, 0)", &err), 0);
	memset(&none, 0, sizeof(none));
	assert_null(kc_covq_open(f->cache, f->db, 0, "feed", &none, KC_COVQ_NEED_IMPORT, &err));
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_null(kc_covq_open(f->cache, f->db, 0, "beef", &none, 0, &err));
	assert_int_equal(err.code, KC_E_NOT_FOUND);
	q = kc_covq_open(f->cache, f->db, 0, "feed", &none, 0, &err);
	assert_non_null(q);
	assert_null(kc_covq_tree(q, "", &err));
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_null(kc_covq_file(q, "a.c", &err));
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_null(kc_covq_functions(q, NULL, NULL, KC_SORT_NAME, 10, 0, &err));
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_null(kc_covq_labels(q, "a.c", 0, 10, &err));
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_int_equal(kc_covq_lcov(q, "", &out, &err), -1);
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	assert_int_equal(kc_covq_files_csv(q, "", &out, &err), -1);
	assert_int_equal(kc_covq_functions_csv(q, "", &out, &err), -1);
	assert_int_equal(err.code, KC_E_NOT_IMPORTED);
	kc_buf_release(&out);
	kc_covq_free(q);
}

/* Map every line 1..n of s onto t: want[i] is the T line of S line i + 1
 * (0: changed or removed). */
static void check_map(const char *s, const char *t, const uint32_t *want, uint32_t n)
{
	struct cq_linemap m;
	struct kc_err err;

	memset(&m, 0, sizeof(m));
	assert_int_equal(cq_linemap_diff(s, strlen(s), t, strlen(t), &m.h, &m.n, &err), 0);
	m.cap = m.n;
	m.valid = 1;
	for (uint32_t i = 0; i < n; i++) {
		if (cq_linemap_apply(&m, i + 1) != want[i])
			fail_msg("S line %u of \"%s\" -> \"%s\": got %u, want %u", i + 1, s, t,
				 cq_linemap_apply(&m, i + 1), want[i]);
	}
	cq_linemap_release(&m);
}

static void test_linemap_edges(void **state)
{
	(void)state;
	/* identical: no hunk, every line maps onto itself */
	check_map("a\nb\nc\n", "a\nb\nc\n", (const uint32_t[]){ 1, 2, 3 }, 3);
	/* insertions at the top, in the middle, at the end */
	check_map("a\nb\nc\n", "x\na\nb\nc\n", (const uint32_t[]){ 2, 3, 4 }, 3);
	check_map("a\nb\nc\n", "a\nx\ny\nb\nc\n", (const uint32_t[]){ 1, 4, 5 }, 3);
	check_map("a\nb\nc\n", "a\nb\nc\nx\n", (const uint32_t[]){ 1, 2, 3 }, 3);
	/* deletion at the top and at the end, a change in the middle */
	check_map("a\nb\nc\n", "b\nc\n", (const uint32_t[]){ 0, 1, 2 }, 3);
	check_map("a\nb\nc\n", "a\nb\n", (const uint32_t[]){ 1, 2, 0 }, 3);
	check_map("a\nb\nc\nd\n", "a\nB\nc\nd\n", (const uint32_t[]){ 1, 0, 3, 4 }, 4);
	/* two hunks: the shifts add up */
	check_map("a\nb\nc\nd\ne\n", "x\na\nb\nd\ne\ny\nz\n", (const uint32_t[]){ 2, 3, 0, 4, 5 }, 5);
	/* the last line without its newline changes only in that */
	check_map("a\nb", "a\nb\n", (const uint32_t[]){ 1, 0 }, 2);
	/* from and to nothing */
	check_map("", "a\n", NULL, 0);
	check_map("a\nb\n", "", (const uint32_t[]){ 0, 0 }, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_stores_points_by_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_totals_and_coverage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_imported_build, setup, teardown),
		cmocka_unit_test_setup_teardown(test_day_window_reads_day_unions, setup, teardown),
		cmocka_unit_test(test_linemap_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
