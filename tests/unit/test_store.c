/*
 * test_store.c - the storage layer through its C API (server/store/) on a
 * real SQLite database made here: a boot's address map goes in through
 * the writer, canonicalization loads it back, a report for that boot is
 * stored as coverage rows of the right binaries at canonical offsets, a
 * re-sent report (same upload id) is a duplicate that changes nothing, and
 * the store's coverage generation counts the commits that wrote coverage,
 * and asynchronous jobs queued while the writer is busy share one commit
 * and are called back only once it is durable. Reports land on the day
 * they were taken, the collector's clock clamped to the window around
 * receipt, and an old day's coverage also reaches the label's union of
 * completed days. A union that keeps growing keeps at most 32 disjoint
 * rows: its delta rows fold into one row beside the base while they are
 * small, and into one whole row once they are not.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blob.h"
#include "canon.h"
#include "db.h"
#include "store.h"
#include "wire.h"
#include "testdb.h"

#define LINK 0xffffffff81000000ull
#define KASLR 0x1e000000ull
#define MOD_BASE 0xffffffffc0010000ull

struct fixture {
	char dir[64], path[96];
	struct kc_store *store;
	struct kc_sql *db; /* read-only */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kc_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kc_test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/kcovd.db", f->dir);
	f->store = kc_store_open(f->path, &err);
	assert_non_null(f->store);
	f->db = kc_db_open(f->path, 1, &err);
	assert_non_null(f->db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kc_db_close(f->db);
	kc_store_close(f->store);
	kc_test_rm_db(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void submit_map(struct fixture *f)
{
	struct kc_addrmap m;
	struct kc_job job;

	kc_addrmap_init(&m);
	snprintf(m.machine, sizeof(m.machine), "m1");
	snprintf(m.boot_id, sizeof(m.boot_id), "boot-1");
	snprintf(m.release, sizeof(m.release), "6.1.0");
	snprintf(m.build_id, sizeof(m.build_id), "abcd");
	m.text_start = LINK + KASLR;
	m.text_end = m.text_start + 0x1000000;
	m.link_text = LINK;
	m.modules = calloc(1, sizeof(*m.modules));
	assert_non_null(m.modules);
	m.nmodules = 1;
	snprintf(m.modules[0].name, sizeof(m.modules[0].name), "minimod");
	m.modules[0].core_base = MOD_BASE;
	m.modules[0].core_size = 0x4000;
	m.modules[0].text_addr = MOD_BASE + 0x1000;
	memset(&job, 0, sizeof(job));
	job.kind = KC_JOB_ADDRMAP;
	job.map = &m;
	kc_store_submit(f->store, &job);
	assert_int_equal(job.status, KC_JOB_OK);
	kc_addrmap_release(&m);
}

/* One report as api_ingest.c prepares it, ready to submit. */
struct prepared {
	struct kc_report r;
	struct kc_canon_boot boot;
	struct kc_canon_result canon;
	struct kc_job job;
};

/* p prepared for a report of the n given PCs with upload id bytes uid. */
static void prepare_pcs(struct fixture *f, unsigned char uid, const uint64_t *pcs, size_t n,
			struct prepared *p)
{
	struct kc_err err;

	memset(p, 0, sizeof(*p));
	kc_report_init(&p->r);
	snprintf(p->r.machine, sizeof(p->r.machine), "m1");
	snprintf(p->r.boot_id, sizeof(p->r.boot_id), "boot-1");
	snprintf(p->r.label, sizeof(p->r.label), "suite-a");
	memset(p->r.upload_id, uid, sizeof(p->r.upload_id));
	p->r.created_unix = (uint64_t)time(NULL);
	assert_int_equal(kc_report_add_pcs(&p->r, pcs, n, &err), 0);
	assert_int_equal(kc_canon_load(f->db, "m1", "boot-1", &p->boot, &err), 1);
	assert_int_equal(kc_canon_report(&p->boot, &p->r, &p->canon, &err), 0);
	p->job.kind = KC_JOB_REPORT;
	p->job.report = &p->r;
	p->job.boot = &p->boot;
	p->job.canon = &p->canon;
	p->job.bytes = 100;
}

static void prepare_report(struct fixture *f, unsigned char uid, struct prepared *p)
{
	const uint64_t pcs[] = {
		LINK + 0x105,                    /* vmlinux offset 0x105 */
		MOD_BASE + 0x1000 + 0x45 - KASLR, /* minimod .text + 0x45 */
		0x1000,                          /* user space: unknown */
	};

	prepare_pcs(f, uid, pcs, sizeof(pcs) / sizeof(pcs[0]), p);
	assert_int_equal(p->canon.known, 2);
	assert_int_equal(p->canon.unknown, 1);
}

static void release_report(struct prepared *p)
{
	kc_canon_result_release(&p->canon);
	kc_canon_boot_release(&p->boot);
	kc_report_release(&p->r);
}

/* Ingest one report as api_ingest.c does; returns the job's status. */
static enum kc_job_status submit_report(struct fixture *f, unsigned char uid)
{
	struct prepared p;

	prepare_report(f, uid, &p);
	kc_store_submit(f->store, &p.job);
	release_report(&p);
	return p.job.status;
}

/* The all-time union of the binary called name, or NULL. */
static roaring_bitmap_t *total_of(struct fixture *f, const char *name)
{
	struct kc_err err;
	struct kc_stmt *st = kc_db_prepare(f->db,
					 "SELECT kc_roaring_or(t.bits) FROM coverage_total t "
					 "JOIN binaries b ON b.id = t.binary WHERE b.name = ?",
					 &err);
	roaring_bitmap_t *b = NULL;

	assert_non_null(st);
	kc_stmt_bind_text(st, 1, name, -1, KC_SQL_STATIC);
	if (kc_db_step(f->db, st, &err) == KC_ROW && kc_stmt_column_type(st, 0) != KC_SQL_NULL)
		b = kc_db_column_bitmap(st, 0);
	kc_stmt_finalize(st);
	return b;
}

static int64_t count(struct fixture *f, const char *sql)
{
	return kc_test_count(f->db, sql);
}

static void test_boot_map_is_loaded(void **state)
{
	struct fixture *f = *state;
	struct kc_canon_boot boot;
	struct kc_err err;

	assert_int_equal(kc_canon_load(f->db, "m1", "boot-1", &boot, &err), 0);
	submit_map(f);
	assert_int_equal(kc_canon_load(f->db, "m1", "boot-1", &boot, &err), 1);
	assert_int_equal(boot.text_start, LINK + KASLR);
	assert_int_equal(boot.link_text, LINK);
	assert_int_equal(boot.nmodules, 1);
	assert_int_equal(boot.modules[0].text_addr, MOD_BASE + 0x1000);
	kc_canon_boot_release(&boot);
}

static void test_report_becomes_coverage(void **state)
{
	struct fixture *f = *state;
	roaring_bitmap_t *vm, *mod;

	submit_map(f);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds"), 0);
	assert_int_equal(submit_report(f, 0x11), KC_JOB_OK);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds"), 1);
	vm = total_of(f, "vmlinux");
	mod = total_of(f, "minimod");
	assert_non_null(vm);
	assert_non_null(mod);
	assert_int_equal(roaring_bitmap_get_cardinality(vm), 1);
	assert_true(roaring_bitmap_contains(vm, 0x105));
	assert_int_equal(roaring_bitmap_get_cardinality(mod), 1);
	assert_true(roaring_bitmap_contains(mod, 0x45));
	kc_bitmap_free(vm);
	kc_bitmap_free(mod);
	assert_int_equal(count(f, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM coverage c JOIN labels l ON "
				  "l.id = c.label WHERE l.name = 'suite-a'"), 2);
}

/* kc_store_call: a build with no boot or binary yet. */
static int add_other_build(void *arg, void *db, struct kc_err *err)
{
	(void)arg;
	return kc_db_exec(db, "INSERT INTO builds (build_id, first_seen, last_seen) "
			      "VALUES ('other', 0, 0)", err);
}

/* Ingest moves the coverage_gen of the report's build only, and only
 * when it stores new bits; the readers' generation stays for maintenance
 * (kc_store_read_generation). */
static void test_ingest_moves_its_build_generation(void **state)
{
	struct fixture *f = *state;
	const uint64_t more[] = { LINK + 0x205 };
	uint64_t readers;
	struct prepared p;
	struct kc_err err;

	submit_map(f);
	assert_int_equal(kc_store_call(f->store, add_other_build, NULL, &err), 0);
	readers = kc_store_read_generation(f->store, f->db);
	assert_int_equal(submit_report(f, 0x11), KC_JOB_OK);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds WHERE build_id != 'other'"), 1);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds WHERE build_id = 'other'"), 0);
	assert_int_equal(submit_report(f, 0x12), KC_JOB_OK); /* the same PCs: nothing new */
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds WHERE build_id != 'other'"), 1);
	prepare_pcs(f, 0x13, more, 1, &p);
	kc_store_submit(f->store, &p.job);
	release_report(&p);
	assert_int_equal(p.job.status, KC_JOB_OK);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds WHERE build_id != 'other'"), 2);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds WHERE build_id = 'other'"), 0);
	assert_int_equal(kc_store_read_generation(f->store, f->db), readers);
}

static void test_resent_report_is_duplicate(void **state)
{
	struct fixture *f = *state;

	submit_map(f);
	assert_int_equal(submit_report(f, 0x22), KC_JOB_OK);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds"), 1);
	assert_int_equal(submit_report(f, 0x22), KC_JOB_DUPLICATE);
	assert_int_equal(count(f, "SELECT coverage_gen FROM builds"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(submit_report(f, 0x23), KC_JOB_OK);
	assert_int_equal(count(f, "SELECT count(*) FROM reports"), 2);
}

/* A gate the writer waits at (inside a KC_JOB_CALL) until the test opens
 * it, and the count of asynchronous callbacks. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered, open, called, wrong;
	struct kc_sql *reader; /* used only on the writer thread, by the callbacks */
};

static int wait_at_gate(void *arg, void *db, struct kc_err *err)
{
	struct gate *g = arg;
	(void)db;
	(void)err;

	pthread_mutex_lock(&g->lock);
	g->entered = 1;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* Called back on the writer thread: the report must already be visible to
 * another connection (committed) and its status final. */
static void on_done(struct kc_job *job, void *arg)
{
	struct gate *g = arg;
	struct kc_err err;
	int64_t n = -1;

	if (job->kind == KC_JOB_REPORT) {
		char uid[2 * KC_UPLOAD_ID_LEN + 1], sql[160];

		kc_upload_id_hex(job->report->upload_id, uid);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM reports WHERE upload_id = '%s'",
			 uid);
		if (kc_db_get_int(g->reader, sql, -1, &n, &err) < 0 || n != 1 ||
		    (job->status != KC_JOB_OK && job->status != KC_JOB_DUPLICATE))
			g->wrong++;
	}
	pthread_mutex_lock(&g->lock);
	g->called++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

#define NASYNC 40 /* more than kcovd's HTTP worker threads (32) */

/* Submit a report (upload id byte uid) taken at created. */
static void submit_taken(struct fixture *f, unsigned char uid, uint64_t created)
{
	struct prepared p;

	prepare_report(f, uid, &p);
	p.r.created_unix = created;
	kc_store_submit(f->store, &p.job);
	release_report(&p);
	assert_int_equal(p.job.status, KC_JOB_OK);
}

static void test_taken_time_window(void **state)
{
	int c;
	(void)state;

	assert_int_equal(kc_store_taken_time(1000000, 1000000, &c), 1000000);
	assert_int_equal(c, 0);
	assert_int_equal(kc_store_taken_time(1000000 - 86400 * 3, 1000000, &c), 1000000 - 86400 * 3);
	assert_int_equal(c, 0);
	/* a clock a little fast: the receipt time, not counted */
	assert_int_equal(kc_store_taken_time(1000000 + KC_TAKEN_SKEW, 1000000, &c), 1000000);
	assert_int_equal(c, 0);
	assert_int_equal(kc_store_taken_time(1000000 + KC_TAKEN_SKEW + 1, 1000000, &c), 1000000);
	assert_int_equal(c, 1);
	assert_int_equal(kc_store_taken_time(UINT64_MAX, 1000000, &c), 1000000);
	assert_int_equal(c, 1);
	assert_int_equal(kc_store_taken_time(10000000 - KC_TAKEN_MAX_AGE, 10000000, &c),
			 10000000 - KC_TAKEN_MAX_AGE);
	assert_int_equal(c, 0);
	assert_int_equal(kc_store_taken_time(10000000 - KC_TAKEN_MAX_AGE - 1, 10000000, &c),
			 10000000 - KC_TAKEN_MAX_AGE);
	assert_int_equal(c, -1);
	assert_int_equal(kc_store_taken_time(0, 10000000, &c), 10000000 - KC_TAKEN_MAX_AGE);
	assert_int_equal(c, -1);
}

/* The days of suite-a's vmlinux coverage rows, as "d1,d2,..." ascending. */
static void row_days(struct fixture *f, char *out, size_t size)
{
	struct kc_err err;
	struct kc_stmt *st = kc_db_prepare(f->db,
					 "SELECT DISTINCT c.day FROM coverage c JOIN labels l ON "
					 "l.id = c.label JOIN binaries b ON b.id = c.binary WHERE "
					 "l.name = 'suite-a' AND b.name = 'vmlinux' ORDER BY c.day",
					 &err);
	size_t n = 0;

	assert_non_null(st);
	out[0] = '\0';
	while (kc_db_step(f->db, st, &err) == KC_ROW && n < size)
		n += (size_t)snprintf(out + n, size - n, "%s%lld", n ? "," : "",
				      (long long)kc_stmt_column_int64(st, 0));
	kc_stmt_finalize(st);
}

static void test_report_lands_on_its_taken_day(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)time(NULL), today = now / 86400;
	struct kc_store_stats s0, s1;
	char got[128], want[128];

	submit_map(f);
	kc_store_stats(f->store, &s0);
	submit_taken(f, 0x61, (uint64_t)now);                  /* today */
	submit_taken(f, 0x62, (uint64_t)(now - 3 * 86400));    /* spooled 3 days */
	submit_taken(f, 0x63, (uint64_t)(now + 3600));         /* fast clock: today */
	submit_taken(f, 0x64, (uint64_t)(now + 60));           /* skew: today */
	submit_taken(f, 0x65, 1);                              /* 1970: 30 days ago */
	kc_store_stats(f->store, &s1);
	if ((int64_t)time(NULL) / 86400 != today)
		skip(); /* midnight passed during the test */
	assert_int_equal(s1.clamped_future - s0.clamped_future, 1);
	assert_int_equal(s1.clamped_past - s0.clamped_past, 1);
	assert_int_equal(count(f, "SELECT count(*) FROM reports"), 5);
	/* day rows on the taken days; day -1 (KC_ALL_DAYS): the union of the
	 * completed days, which the two old reports reached directly */
	row_days(f, got, sizeof(got));
	snprintf(want, sizeof(want), "-1,%lld,%lld,%lld", (long long)((now - KC_TAKEN_MAX_AGE) / 86400),
		 (long long)(today - 3), (long long)today);
	assert_string_equal(got, want);
	assert_int_equal(count(f, "SELECT upto FROM label_unions u JOIN binaries b ON "
				  "b.id = u.binary WHERE b.name = 'vmlinux'"),
			 today);
	/* Today's report came first and folded nothing (no row before
	 * today): the union row exists only because the old days' reports
	 * were merged into it, and it holds their offset. */
	{
		struct kc_err err;
		struct kc_stmt *st = kc_db_prepare(
			f->db,
			"SELECT kc_roaring_or(c.bits) FROM coverage c JOIN binaries b ON "
			"b.id = c.binary WHERE b.name = 'vmlinux' AND c.day = -1",
			&err);
		roaring_bitmap_t *u = NULL;

		assert_non_null(st);
		assert_int_equal(kc_db_step(f->db, st, &err), KC_ROW);
		u = kc_db_column_bitmap(st, 0);
		kc_stmt_finalize(st);
		assert_non_null(u);
		assert_true(roaring_bitmap_contains(u, 0x105));
		kc_bitmap_free(u);
	}
}

static void test_async_jobs_share_one_commit(void **state)
{
	struct fixture *f = *state;
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct kc_store_stats s0, s1;
	struct prepared *p = calloc(NASYNC, sizeof(*p));
	struct kc_job call;
	struct kc_err err;

	assert_non_null(p);
	g.reader = kc_db_open(f->path, 1, &err);
	assert_non_null(g.reader);
	submit_map(f);
	kc_store_stats(f->store, &s0);
	memset(&call, 0, sizeof(call));
	call.kind = KC_JOB_CALL;
	call.fn = wait_at_gate;
	call.arg = &g;
	call.done = on_done;
	call.done_arg = &g;
	kc_store_submit_async(f->store, &call);
	pthread_mutex_lock(&g.lock);
	while (!g.entered)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	/* The writer is busy: every report queued now waits for the next
	 * batch. The last one repeats the first's upload id. */
	for (int i = 0; i < NASYNC; i++) {
		prepare_report(f, (unsigned char)(i < NASYNC - 1 ? 0x40 + i : 0x40), &p[i]);
		p[i].job.done = on_done;
		p[i].job.done_arg = &g;
		kc_store_submit_async(f->store, &p[i].job);
	}
	pthread_mutex_lock(&g.lock);
	assert_int_equal(g.called, 0);
	g.open = 1;
	pthread_cond_broadcast(&g.cond);
	while (g.called < NASYNC + 1)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	kc_store_stats(f->store, &s1);
	assert_int_equal(g.wrong, 0);
	assert_int_equal(call.status, KC_JOB_OK);
	/* One commit for the gate, one for all NASYNC reports. */
	assert_int_equal(s1.batches - s0.batches, 2);
	assert_int_equal(s1.jobs - s0.jobs, NASYNC + 1);
	for (int i = 0; i < NASYNC - 1; i++)
		assert_int_equal(p[i].job.status, KC_JOB_OK);
	assert_int_equal(p[NASYNC - 1].job.status, KC_JOB_DUPLICATE);
	assert_int_equal(p[NASYNC - 1].job.id, p[0].job.id);
	assert_int_equal(count(f, "SELECT count(*) FROM reports"), NASYNC - 1);
	assert_int_equal(count(f, "SELECT reports FROM machines WHERE name = 'm1'"), NASYNC - 1);
	for (int i = 0; i < NASYNC; i++)
		release_report(&p[i]);
	free(p);
	kc_db_close(g.reader);
}

/* Report n new vmlinux offsets from *next on (one commit). */
static void report_new(struct fixture *f, unsigned char uid, uint64_t *next, size_t n)
{
	uint64_t *pcs = malloc(n * sizeof(*pcs));
	struct prepared p;

	assert_non_null(pcs);
	for (size_t i = 0; i < n; i++)
		pcs[i] = LINK + (*next)++ * 3; /* 3 apart: arrays, not runs */
	prepare_pcs(f, uid, pcs, n, &p);
	kc_store_submit(f->store, &p.job);
	assert_int_equal(p.job.status, KC_JOB_OK);
	release_report(&p);
	free(pcs);
}

/* The rows of vmlinux's all-time union: how many, whether one has seq 1,
 * and whether they are disjoint with the expected union (first n offsets). */
static void check_total_rows(struct fixture *f, uint64_t n, int64_t *rows, int *tier)
{
	struct kc_err err;
	struct kc_stmt *st = kc_db_prepare(f->db,
					 "SELECT t.seq, t.bits FROM coverage_total t "
					 "JOIN binaries b ON b.id = t.binary WHERE b.name = 'vmlinux'",
					 &err);
	roaring_bitmap_t *u = roaring_bitmap_create();
	uint64_t sum = 0;

	assert_non_null(st);
	*rows = 0;
	*tier = 0;
	while (kc_db_step(f->db, st, &err) == KC_ROW) {
		roaring_bitmap_t *b = kc_db_column_bitmap(st, 1);

		assert_non_null(b);
		sum += roaring_bitmap_get_cardinality(b);
		roaring_bitmap_or_inplace(u, b);
		kc_bitmap_free(b);
		*tier |= kc_stmt_column_int64(st, 0) == 1;
		(*rows)++;
	}
	kc_stmt_finalize(st);
	assert_int_equal(roaring_bitmap_get_cardinality(u), n);
	assert_int_equal(sum, n); /* disjoint */
	assert_true(roaring_bitmap_contains(u, 0) && roaring_bitmap_contains(u, (n - 1) * 3));
	kc_bitmap_free(u);
}

static void test_growing_union_folds_in_tiers(void **state)
{
	struct fixture *f = *state;
	uint64_t next = 0;
	int64_t rows, prev = 1;
	int tier, tier_folds = 0, whole_folds = 0;

	submit_map(f);
	report_new(f, 1, &next, 8000);
	/* Small growth: its delta rows fold beside the base (seq 1); then
	 * growth as large as the union: whole rewrites (one row left). */
	for (int i = 0; i < 160; i++) {
		report_new(f, (unsigned char)(2 + i), &next, i < 80 ? 5 : 400);
		check_total_rows(f, next, &rows, &tier);
		assert_true(rows >= 1 && rows <= 32);
		if (rows < prev) {
			tier_folds += rows == 2 && tier;
			whole_folds += rows == 1;
		}
		prev = rows;
	}
	assert_true(tier_folds >= 2);
	assert_true(whole_folds >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_map_is_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_becomes_coverage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resent_report_is_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_moves_its_build_generation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_async_jobs_share_one_commit, setup, teardown),
		cmocka_unit_test(test_taken_time_window),
		cmocka_unit_test_setup_teardown(test_report_lands_on_its_taken_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growing_union_folds_in_tiers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
