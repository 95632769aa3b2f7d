/*
 * store.c - the writer thread: group commit of reports and address maps
 * into SQLite. Each job runs inside a savepoint, so a bad job fails alone;
 * coverage bitmaps touched by the batch are merged in memory and written
 * once before the commit. Waiters are woken only after COMMIT returned.
 *
 * Why one file (about 1,200 lines): the batch loop, the per-batch merge of
 * coverage by key (each label's day, the all-time union, every label's
 * day: dayunion.h), the folding of completed days and the union cache are
 * one transaction's state (struct kc_store) that every step reads and
 * writes; split, that state would have to be exported to each piece, and
 * the one invariant (nothing acknowledged before COMMIT) would span files.
 * The SQL that is not the writer's (canonicalization, overflow rollups,
 * retention) already lives in canon.c, overflow.c and retention.c.
 */
#include "grow.h"
#include "store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dayunion.h"
#include "db.h"
#include "flatbits.h"
#include "labelidx.h"
#include "nodes.h"
#include "overflow.h"
#include "sql_union.h"

/* The keys of struct merge and struct stored: label >= 0 a label's day in
 * coverage (day KC_ALL_DAYS: its union of completed days); KEY_TOTAL the
 * all-time union (coverage_total); KEY_DAY_UNION every label's union of
 * one day (coverage_day_unions, dayunion.h). */
#define KEY_TOTAL (-1)
#define KEY_DAY_UNION (-2)

struct merge {
	int64_t binary, label, day; /* label: see KEY_TOTAL */
	int64_t build;		    /* the binary's build */
	roaring_bitmap_t *bits;
	int folded; /* fold_closed_days ran for (binary, label) in this batch */
	int wrote;  /* flush_one stored new bits of it */
};

/* A machine or build the batch's reports touched: its counters are
 * updated once per batch, not once per report. */
struct touch {
	int64_t id, reports, pcs, unknown, now;
};

#define KC_UNION_CACHE 1024
/* The decoded unions' memory (flatbits.h), least recently used out first;
 * one union larger than this alone is kept all the same. */
#define KC_UNION_BYTES (256u << 20)
/* The most rows a key keeps (schema/004_coverage_deltas.sql): it folds
 * them at max_rows, between half this and this, by key (fold_rows). */
#define KC_MAX_DELTA_ROWS 32

struct kc_store {
	struct kc_sql *db;
	int lock_fd; /* kc_db_lock of the file, held until kc_store_close */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* writer: jobs queued or stopping */
	pthread_cond_t done;  /* submitters: a batch finished */
	struct kc_job *head, *tail;
	int stopping;
	struct kc_store_stats stats;
	uint64_t batch_clamped_past, batch_clamped_future; /* added to stats on commit */
	struct merge *merges; /* this batch's pending bitmap merges */
	size_t nmerges, capmerges;
	struct touch *machines, *builds; /* this batch's, see struct touch */
	size_t nmachines, capmachines, nbuilds, capbuilds;
	/* Label name -> id of the labels seen lately (ids never change; a
	 * label is never deleted). Cleared when a job fails, since its rolled
	 * back savepoint may have taken a new label with it. */
	struct label_id {
		char *name;
		int64_t id;
	} *labels;
	size_t nlabels, caplabels;
	int wrote_coverage; /* this batch inserted or replaced coverage rows */
	/* PostgreSQL: the database's generation as this node's last commit
	 * left it (when known): if the next batch reads the same under its
	 * key locks, no other node wrote since and the union cache is valid.
	 * batch_gen is this batch's read, made the new mark at its COMMIT. */
	struct kc_generation seen_gen, batch_gen;
	int seen_gen_valid, batch_gen_read;
	char node[128];	    /* this node's row of node_generations: host:pid:start */
	/* Commits of maintenance jobs (gc, build deletion): they change the
	 * coverage of any build, where ingest moves its builds' coverage_gen
	 * (flush_merges). */
	atomic_ullong maintenance_generation;
	int batch_maintenance; /* this batch is a maintenance job that succeeded */
	/* The database's generation as last polled (PostgreSQL: other nodes'
	 * changes), and when the poll that read it began (ms, monotonic). */
	pthread_mutex_t gen_lock;
	uint64_t db_generation;
	double db_polled_ms;
	uint64_t db_polls; /* reads of it (kc_store_stats generation_polls) */
	/* The stored unions the writer touched lately, decoded: a merge that
	 * adds nothing new (the common case once a fleet is warm) costs no
	 * read and no write, and one that does costs no read. On SQLite only
	 * the writer changes these tables, so the cache equals the database
	 * after every commit; on PostgreSQL it does while no other node has
	 * committed (seen_gen). It is dropped when a batch fails. Flat
	 * bitsets: finding a batch's new bits costs one load per bit and
	 * adding them one store, where CRoaring's array containers cost a
	 * binary search and a rewrite of the container (bench/analysis.md,
	 * "Flat unions"). */
	struct stored {
		struct merge m;       /* the key (m.bits unused: NULL) */
		struct kc_flat flat;  /* the union of its rows */
		uint64_t card;        /* values in flat */
		int64_t rows, maxseq; /* rows stored for the key, highest seq */
		uint64_t used;        /* LRU clock */
	} unions[KC_UNION_CACHE];
	size_t nunions;
	uint64_t union_clock;
	size_t union_bytes; /* sum of kc_flat_bytes over unions */
	struct kc_lidx *lidx; /* the label index's point maps (labelidx.h) */
	/* Prepared statements of the writer, keyed by their (constant) SQL
	 * text pointer: ingest runs the same dozen statements per report. */
	struct {
		const char *sql;
		struct kc_stmt *st;
	} cache[48];
};

const char *kc_store_node(struct kc_store *s)
{
	return s->node;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

uint64_t kc_store_read_generation(struct kc_store *s, struct kc_sql *db)
{
	uint64_t local = atomic_load(&s->maintenance_generation), gen;
	struct kc_generation g;
	struct kc_err err;
	double t0 = now_ms();
	int ok;

	if (kc_sql_backend(db) != KC_SQL_PG)
		return local; /* one node per SQLite file: its writer is the only one */
	pthread_mutex_lock(&s->gen_lock);
	gen = s->db_generation;
	ok = t0 - s->db_polled_ms < KC_GENERATION_POLL_MS && s->db_polled_ms > 0;
	pthread_mutex_unlock(&s->gen_lock);
	if (ok)
		return local + gen;
	/* Polled outside the lock (concurrent requests may each poll once);
	 * the sums only grow, so the largest value read is the newest. A
	 * failed poll keeps the last value: the query on db then fails too. */
	ok = kc_nodes_generation(db, &g, &err) == 0;
	pthread_mutex_lock(&s->gen_lock);
	s->db_polls++;
	if (ok) {
		uint64_t v = (uint64_t)g.coverage + (uint64_t)g.builds;

		if (v > s->db_generation)
			s->db_generation = v;
		if (t0 > s->db_polled_ms)
			s->db_polled_ms = t0;
	}
	gen = s->db_generation;
	pthread_mutex_unlock(&s->gen_lock);
	return local + gen;
}

static int step_done(struct kc_sql *db, struct kc_stmt *st, struct kc_err *err)
{
	int rc = kc_db_step(db, st, err);

	kc_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

static struct kc_stmt *cached(struct kc_store *s, const char *sql, struct kc_err *err)
{
	size_t i;

	for (i = 0; i < sizeof(s->cache) / sizeof(s->cache[0]) && s->cache[i].sql; i++)
		if (s->cache[i].sql == sql)
			return s->cache[i].st;
	if (i == sizeof(s->cache) / sizeof(s->cache[0])) {
		kc_err_set(err, KC_E_INTERNAL, "statement cache full");
		return NULL;
	}
	s->cache[i].st = kc_db_prepare(s->db, sql, err);
	if (!s->cache[i].st)
		return NULL;
	s->cache[i].sql = sql;
	return s->cache[i].st;
}

/* Run one statement (constant SQL text) with integer/text parameters given
 * as a format: 'i' int64, 't' text. Returns the first column of the first
 * row in *out when out is not NULL (-1 when there is no row). */
static int run(struct kc_store *s, const char *sql, const char *fmt, int64_t *out,
	       struct kc_err *err, ...)
{
	struct kc_stmt *st = cached(s, sql, err);
	va_list ap;
	int rc, ret = -1;

	if (!st)
		return -1;
	va_start(ap, err);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 'i')
			kc_stmt_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			kc_stmt_bind_text(st, i + 1, va_arg(ap, const char *), -1, KC_SQL_TRANSIENT);
	}
	va_end(ap);
	rc = kc_db_step(s->db, st, err);
	if (rc < 0)
		goto out;
	if (rc == KC_ROW && out)
		*out = kc_stmt_column_int64(st, 0);
	if (rc == KC_DONE && out)
		*out = -1;
	ret = 0;
out:
	kc_stmt_reset(st);
	kc_stmt_clear_bindings(st);
	return ret;
}

static int upsert_machine(struct kc_store *db, const char *name, int64_t now, int64_t *id,
			  struct kc_err *err)
{
	if (run(db, "INSERT INTO machines (name, first_seen) VALUES (?, ?) "
		    "ON CONFLICT(name) DO NOTHING", "ti", NULL, err, name, now) < 0)
		return -1;
	return run(db, "SELECT id FROM machines WHERE name = ?", "t", id, err, name);
}

static int apply_addrmap(struct kc_store *db, const struct kc_addrmap *m, int64_t *boot_out,
			 struct kc_err *err)
{
	int64_t now = (int64_t)time(NULL), machine, build, boot, bin;

	if (upsert_machine(db, m->machine, now, &machine, err) < 0 ||
	    run(db, "INSERT INTO builds (build_id, release, first_seen, last_seen) VALUES (?,?,?,?) "
		    "ON CONFLICT(build_id) DO UPDATE SET last_seen = excluded.last_seen, "
		    "release = CASE WHEN builds.release = '' THEN excluded.release ELSE builds.release END",
		"ttii", NULL, err, m->build_id, m->release, now, now) < 0 ||
	    run(db, "SELECT id FROM builds WHERE build_id = ?", "t", &build, err, m->build_id) < 0 ||
	    run(db, "INSERT INTO binaries (build, kind, name, build_id) "
		    "VALUES (?, 'vmlinux', 'vmlinux', ?) ON CONFLICT DO NOTHING", "it", NULL, err, build, m->build_id) < 0 ||
	    run(db, "INSERT INTO boots (machine, boot_id, build, release, text_start, text_end, "
		    "link_text, first_seen) VALUES (?,?,?,?,?,?,?,?) "
		    "ON CONFLICT(machine, boot_id) DO NOTHING", "ititiiii", NULL, err, machine,
		m->boot_id, build, m->release, (int64_t)m->text_start, (int64_t)m->text_end,
		(int64_t)m->link_text, now) < 0 ||
	    run(db, "SELECT id FROM boots WHERE machine = ? AND boot_id = ? AND build = ?", "iti",
		&boot, err, machine, m->boot_id, build) < 0)
		return -1;
	if (boot < 0)
		return kc_err_set(err, KC_E_CONFLICT,
				  "boot %s of %s is already known with another kernel build",
				  m->boot_id, m->machine);
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct kc_module *mod = &m->modules[i];

		if (run(db, "INSERT INTO binaries (build, kind, name, build_id) "
			    "VALUES (?, 'module', ?, ?) ON CONFLICT DO NOTHING", "itt", NULL, err, build, mod->name,
			mod->build_id) < 0 ||
		    run(db, "SELECT id FROM binaries WHERE build = ? AND name = ? AND build_id = ?",
			"itt", &bin, err, build, mod->name, mod->build_id) < 0 ||
		    /* A later map of the boot (a module loaded or moved since) wins;
		     * a module whose range another one took is gone. */
		    run(db, "DELETE FROM boot_modules WHERE boot = ? AND name <> ? AND "
			    "core_base < ? AND core_base + core_size > ?", "itii", NULL, err, boot,
			mod->name, (int64_t)(mod->core_base + mod->core_size),
			(int64_t)mod->core_base) < 0 ||
		    run(db, "INSERT INTO boot_modules (boot, name, binary, core_base, core_size, "
			    "text_addr) VALUES (?,?,?,?,?,?) ON CONFLICT(boot, name) DO UPDATE SET "
			    "binary = excluded.binary, core_base = excluded.core_base, "
			    "core_size = excluded.core_size, text_addr = excluded.text_addr",
			"itiiii", NULL, err, boot, mod->name, bin, (int64_t)mod->core_base,
			(int64_t)mod->core_size, (int64_t)mod->text_addr) < 0)
			return -1;
	}
	*boot_out = boot;
	return 0;
}

/* The batch's merge of the key, or -1. */
static long find_merge(const struct kc_store *s, int64_t binary, int64_t label, int64_t day)
{
	for (size_t i = 0; i < s->nmerges; i++) {
		const struct merge *m = &s->merges[i];

		if (m->binary == binary && m->label == label && m->day == day)
			return (long)i;
	}
	return -1;
}

/* OR bits (NULL: none, only the key) into the batch's merge of the key;
 * returns its index, -1 on error. */
static long queue_merge(struct kc_store *s, int64_t build, int64_t binary, int64_t label,
			int64_t day, const roaring_bitmap_t *bits, struct kc_err *err)
{
	long i = find_merge(s, binary, label, day);
	struct merge *m;

	if (i >= 0) {
		if (bits)
			roaring_bitmap_or_inplace(s->merges[i].bits, bits);
		return i;
	}
	if (KC_GROW(s->merges, s->capmerges, s->nmerges + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	m = &s->merges[s->nmerges];
	m->binary = binary;
	m->build = build;
	m->label = label;
	m->day = day;
	m->folded = 0;
	m->wrote = 0;
	m->bits = bits ? roaring_bitmap_copy(bits) : roaring_bitmap_create();
	if (!m->bits)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	return (long)s->nmerges++;
}

/* Add one more of the batch's reports to the counters of id in *v. */
static int touch(struct touch **v, size_t *n, size_t *cap, int64_t id, int64_t pcs,
		 int64_t unknown, int64_t now)
{
	size_t i;

	for (i = 0; i < *n && (*v)[i].id != id; i++)
		;
	if (i == *n) {
		if (KC_GROW(*v, *cap, *n + 1) < 0)
			return -1;
		(*v)[i] = (struct touch){ .id = id };
		(*n)++;
	}
	(*v)[i].reports++;
	(*v)[i].pcs += pcs;
	(*v)[i].unknown += unknown;
	(*v)[i].now = now;
	return 0;
}

/* The batch's machine and build counters, one statement each. */
static int flush_touched(struct kc_store *s, struct kc_err *err)
{
	for (size_t i = 0; i < s->nmachines; i++) {
		const struct touch *t = &s->machines[i];

		if (run(s, "UPDATE machines SET last_push = ?, reports = reports + ?, "
			   "pcs = pcs + ?, unknown_pcs = unknown_pcs + ? WHERE id = ?",
			"iiiii", NULL, err, t->now, t->reports, t->pcs, t->unknown, t->id) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nbuilds; i++)
		if (run(s, "UPDATE builds SET last_seen = ? WHERE id = ?", "ii", NULL, err,
			s->builds[i].now, s->builds[i].id) < 0)
			return -1;
	return 0;
}

/* The id of label name, inserted when new. */
static int label_id(struct kc_store *s, const char *name, int64_t *id, struct kc_err *err)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].name, name) == 0) {
			*id = s->labels[i].id;
			return 0;
		}
	if (run(s, "INSERT INTO labels (name) VALUES (?) ON CONFLICT(name) DO NOTHING", "t",
		NULL, err, name) < 0 ||
	    run(s, "SELECT id FROM labels WHERE name = ?", "t", id, err, name) < 0)
		return -1;
	if (KC_GROW(s->labels, s->caplabels, s->nlabels + 1) < 0)
		return 0; /* not cached: looked up again next time */
	s->labels[s->nlabels].name = strdup(name);
	s->labels[s->nlabels].id = *id;
	if (s->labels[s->nlabels].name)
		s->nlabels++;
	return 0;
}

static void drop_labels(struct kc_store *s)
{
	for (size_t i = 0; i < s->nlabels; i++)
		free(s->labels[i].name);
	s->nlabels = 0;
}

/* Fold the label's completed days (label_unions.upto up to day - 1) into
 * its union of completed days (coverage day KC_ALL_DAYS). Past days never
 * change, so this reads rows once per (binary, label) and day; on other
 * reports it is one primary-key lookup. */
static int fold_closed_days(struct kc_store *s, int64_t build, int64_t binary, int64_t label,
			    int64_t day, struct kc_err *err)
{
	struct kc_stmt *st;
	roaring_bitmap_t *u = NULL;
	int64_t upto;
	int rc, ret = -1;

	if (run(s, "SELECT upto FROM label_unions WHERE binary = ? AND label = ?", "ii", &upto,
		err, binary, label) < 0)
		return -1;
	if (upto >= day) /* -1: no row yet, every earlier day is open */
		return 0;
	/* Folded here, not with SQLite's kc_roaring_or: the same on both
	 * backends (sql_union.h). */
	st = cached(s, "SELECT bits FROM coverage WHERE binary = ? AND label = ? "
		       "AND day BETWEEN ? AND ?",
		    err);
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, binary);
	kc_stmt_bind_int64(st, 2, label);
	kc_stmt_bind_int64(st, 3, upto < 0 ? 0 : upto);
	kc_stmt_bind_int64(st, 4, day - 1);
	u = kc_sql_union(st, 0, err);
	rc = u ? 0 : -1;
	kc_stmt_reset(st);
	if (rc < 0) {
		kc_err_prefix(err, "folding completed days");
		goto out;
	}
	/* This batch's merges of those days are not in the database yet (a
	 * batch that spans midnight). */
	for (size_t i = 0; i < s->nmerges; i++) {
		const struct merge *m = &s->merges[i];

		if (m->binary == binary && m->label == label && m->day >= 0 && m->day < day)
			roaring_bitmap_or_inplace(u, m->bits);
	}
	if ((!roaring_bitmap_is_empty(u) &&
	     queue_merge(s, build, binary, label, KC_ALL_DAYS, u, err) < 0) ||
	    run(s, "INSERT INTO label_unions (binary, label, upto) VALUES (?,?,?) "
		   "ON CONFLICT(binary, label) DO UPDATE SET upto = excluded.upto",
		"iii", NULL, err, binary, label, day) < 0)
		goto out;
	ret = 0;
out:
	kc_bitmap_free(u);
	return ret;
}

int64_t kc_store_taken_time(uint64_t created, int64_t received, int *clamped)
{
	*clamped = 0;
	if (created > (uint64_t)received) {
		*clamped = created - (uint64_t)received > KC_TAKEN_SKEW;
		return received;
	}
	if ((int64_t)created < received - KC_TAKEN_MAX_AGE) {
		*clamped = -1;
		return received - KC_TAKEN_MAX_AGE;
	}
	return (int64_t)created;
}

static int apply_report(struct kc_store *s, struct kc_job *job, struct kc_err *err)
{
	const struct kc_report *r = job->report;
	int64_t now = (int64_t)time(NULL), today = now / 86400, label, overflowed = 0;
	int clamped;
	int64_t day = kc_store_taken_time(r->created_unix, now, &clamped) / 86400;
	char uid[2 * KC_UPLOAD_ID_LEN + 1];

	for (uint32_t i = 0; i < r->nruns; i++)
		overflowed += r->runs[i].overflowed;
	kc_upload_id_hex(r->upload_id, uid);
	if (label_id(s, r->label, &label, err) < 0 ||
	    run(s, "INSERT INTO reports (upload_id, machine, boot, label, received, created, "
		       "pcs, unknown_pcs, runs, overflowed_runs, bytes) "
		       "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(upload_id) DO NOTHING RETURNING id",
		"tiiiiiiiiii", &job->id, err, uid, job->boot->machine, job->boot->boot, label, now,
		(int64_t)r->created_unix, (int64_t)(job->canon->known + job->canon->unknown),
		(int64_t)job->canon->unknown, (int64_t)r->nruns, overflowed, (int64_t)job->bytes) < 0)
		return -1;
	if (job->id < 0) { /* no row returned: the upload id is stored already */
		job->outcome = KC_JOB_DUPLICATE;
		return run(s, "SELECT id FROM reports WHERE upload_id = ?", "t", &job->id, err,
			   uid);
	}
	/* Overflow statistics stay by day of receipt (docs/overflow-stats.md). */
	if (kc_overflow_record(s->db, today, job->boot->machine, job->boot->build, label, r, err) < 0)
		return -1;
	for (uint32_t i = 0; i < job->canon->nparts; i++) {
		const struct kc_canon_part *p = &job->canon->parts[i];
		int64_t build = job->boot->build; /* every binary of the boot's is its build's */
		long k;

		/* The day union's bits are the label days' new ones and the
		 * all-time union's the OR of the label days', both at the
		 * flush (flush_merges): here only their keys. */
		if (queue_merge(s, build, p->binary, KEY_TOTAL, 0, NULL, err) < 0 ||
		    queue_merge(s, build, p->binary, KEY_DAY_UNION, day, NULL, err) < 0 ||
		    (k = queue_merge(s, build, p->binary, label, day, p->bits, err)) < 0)
			return -1;
		/* Completed days are those before the day of receipt; once per
		 * (binary, label, day) and batch. */
		if (!s->merges[k].folded) {
			if (fold_closed_days(s, build, p->binary, label, today, err) < 0)
				return -1;
			s->merges[k].folded = 1;
		}
		/* A report taken on an earlier day (spooled, or received after
		 * midnight) lands on a day already folded (upto >= today after
		 * the fold): its union of completed days gets the bits too. */
		if (day < today &&
		    queue_merge(s, build, p->binary, label, KC_ALL_DAYS, p->bits, err) < 0)
			return -1;
	}
	/* Last, so that a job that fails adds nothing to the batch's counters. */
	if (touch(&s->machines, &s->nmachines, &s->capmachines, job->boot->machine,
		  (int64_t)(job->canon->known + job->canon->unknown), (int64_t)job->canon->unknown,
		  now) < 0 ||
	    touch(&s->builds, &s->nbuilds, &s->capbuilds, job->boot->build, 0, 0, now) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	s->batch_clamped_past += clamped < 0;
	s->batch_clamped_future += clamped > 0;
	job->outcome = KC_JOB_OK;
	return 0;
}

static void drop_unions(struct kc_store *s)
{
	for (size_t i = 0; i < s->nunions; i++)
		kc_flat_clear(&s->unions[i].flat);
	s->nunions = 0;
	s->union_bytes = 0;
}

/* Remove unions[i] from the cache (the last entry takes its place). */
static void evict_union(struct kc_store *s, size_t i)
{
	struct stored *e = &s->unions[i];

	s->union_bytes -= kc_flat_bytes(&e->flat);
	kc_flat_clear(&e->flat);
	*e = s->unions[--s->nunions];
}

/* Which table holds a key's rows: 0 coverage, 1 coverage_total, 2
 * coverage_day_unions (the index of the SQL arrays below). */
static int key_table(const struct merge *m)
{
	return m->label == KEY_TOTAL ? 1 : m->label == KEY_DAY_UNION ? 2 : 0;
}

/* Bind a key's columns (binary[, label][, day]) from parameter 1 on;
 * returns the next parameter. */
static int bind_key(struct kc_stmt *st, const struct merge *m)
{
	int k = 2;

	kc_stmt_bind_int64(st, 1, m->binary);
	if (m->label >= 0)
		kc_stmt_bind_int64(st, k++, m->label);
	if (m->label != KEY_TOTAL)
		kc_stmt_bind_int64(st, k++, m->day);
	return k;
}

static const char *const del_rows[3] = {
	"DELETE FROM coverage WHERE binary = ? AND label = ? AND day = ?",
	"DELETE FROM coverage_total WHERE binary = ?",
	"DELETE FROM coverage_day_unions WHERE binary = ? AND day = ?",
};

/* The stored rows of m's key, from the cache or read from the database
 * (an empty union when there is no row yet). Loading one first evicts the
 * least recently used entries while the cache is full or past
 * KC_UNION_BYTES. */
static struct stored *stored_union(struct kc_store *s, const struct merge *m, struct kc_err *err)
{
	static const char *const sel[3] = {
		"SELECT seq, bits FROM coverage WHERE binary = ? AND label = ? AND day = ?",
		"SELECT seq, bits FROM coverage_total WHERE binary = ?",
		"SELECT seq, bits FROM coverage_day_unions WHERE binary = ? AND day = ?",
	};
	struct stored *e, fresh;
	struct kc_stmt *q;
	int rc;

	for (size_t i = 0; i < s->nunions; i++) {
		e = &s->unions[i];
		if (e->m.binary == m->binary && e->m.label == m->label && e->m.day == m->day) {
			e->used = ++s->union_clock;
			return e;
		}
	}
	q = cached(s, sel[key_table(m)], err);
	if (!q)
		return NULL;
	bind_key(q, m);
	memset(&fresh, 0, sizeof(fresh));
	fresh.m = *m;
	fresh.m.bits = NULL;
	fresh.maxseq = -1;
	while ((rc = kc_db_step(s->db, q, err)) == KC_ROW) {
		roaring_bitmap_t *row = kc_db_column_bitmap(q, 1);

		if (!row) {
			rc = kc_err_set(err, KC_E_INTERNAL, "corrupt");
			break;
		}
		rc = kc_flat_or_roaring(&fresh.flat, row, &fresh.card);
		kc_bitmap_free(row);
		if (rc < 0) {
			rc = kc_err_set(err, KC_E_INTERNAL, "out of memory");
			break;
		}
		fresh.rows++;
		if (kc_stmt_column_int64(q, 0) > fresh.maxseq)
			fresh.maxseq = kc_stmt_column_int64(q, 0);
	}
	kc_stmt_reset(q);
	if (rc < 0) {
		kc_flat_clear(&fresh.flat);
		kc_err_prefix(err, "reading the stored bitmaps of binary %lld", (long long)m->binary);
		return NULL;
	}
	while (s->nunions && (s->nunions == KC_UNION_CACHE ||
			      s->union_bytes + kc_flat_bytes(&fresh.flat) > KC_UNION_BYTES)) {
		size_t lru = 0;

		for (size_t i = 1; i < s->nunions; i++)
			if (s->unions[i].used < s->unions[lru].used)
				lru = i;
		evict_union(s, lru);
	}
	e = &s->unions[s->nunions++];
	*e = fresh;
	e->used = ++s->union_clock;
	s->union_bytes += kc_flat_bytes(&e->flat);
	return e;
}

/* Insert bits as row seq of e's key. */
static int put_row(struct kc_store *s, const struct stored *e, int64_t seq,
		   const roaring_bitmap_t *bits, struct kc_err *err)
{
	static const char *const put[3] = {
		"INSERT INTO coverage (binary, label, day, seq, bits) VALUES (?,?,?,?,?)",
		"INSERT INTO coverage_total (binary, seq, bits) VALUES (?,?,?)",
		"INSERT INTO coverage_day_unions (binary, day, seq, bits) VALUES (?,?,?,?)",
	};
	struct kc_stmt *w = cached(s, put[key_table(&e->m)], err);
	size_t n = roaring_bitmap_portable_size_in_bytes(bits);
	char *buf = malloc(n ? n : 1);
	int k, ret;

	if (!w || !buf) {
		free(buf);
		return w ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : -1;
	}
	roaring_bitmap_portable_serialize(bits, buf);
	k = bind_key(w, &e->m);
	kc_stmt_bind_int64(w, k, seq);
	kc_stmt_bind_blob(w, k + 1, buf, (int)n, KC_SQL_STATIC);
	ret = step_done(s->db, w, err);
	free(buf);
	return ret;
}

/* Take m's bits that e's union lacks: they are set in the union and
 * returned as a new bitmap (empty when there are none), or NULL when out of
 * memory (the union may then hold some of them: the caller fails the
 * batch, which drops the cache). */
static roaring_bitmap_t *take_new_bits(struct kc_store *s, struct stored *e,
				       const roaring_bitmap_t *m)
{
	uint64_t n = roaring_bitmap_get_cardinality(m);
	size_t before = kc_flat_bytes(&e->flat), k = 0;
	roaring_bitmap_t *d = NULL;
	uint32_t *v = malloc(n ? n * sizeof(*v) : 1);

	if (!v)
		return NULL;
	roaring_bitmap_to_uint32_array(m, v);
	for (uint64_t i = 0; i < n; i++) {
		if (kc_flat_test(&e->flat, v[i]))
			continue;
		if (kc_flat_set(&e->flat, v[i]) < 0)
			goto out;
		v[k++] = v[i];
	}
	e->card += k;
	d = roaring_bitmap_of_ptr(k, v);
out:
	s->union_bytes += kc_flat_bytes(&e->flat) - before;
	free(v);
	return d;
}

/* Evict key m's entry from the union cache, if it has one. */
static void forget_union(struct kc_store *s, const struct merge *m)
{
	for (size_t i = 0; i < s->nunions; i++) {
		struct stored *e = &s->unions[i];

		if (e->m.binary == m->binary && e->m.label == m->label && e->m.day == m->day) {
			evict_union(s, i);
			return;
		}
	}
}

/* A day union must hold the day's rows before the batch adds to it
 * (dayunion.h): checked before the batch's own rows of the day move its
 * stamp, and rebuilt from the day's rows when stale. */
static int day_union_check(struct kc_store *s, const struct merge *m, struct kc_err *err)
{
	int64_t valid;

	if (run(s, "SELECT CASE WHEN union_stamp = stamp THEN 1 ELSE 0 END FROM coverage_days "
		   "WHERE day = ? AND binary = ?", "ii", &valid, err, m->day, m->binary) < 0)
		return -1;
	if (valid == 1)
		return 0;
	forget_union(s, m);
	/* The rows change: other nodes' caches of the key must learn of it. */
	s->wrote_coverage = 1;
	return kc_dayunion_rebuild(s->db, m->binary, m->day, err);
}

/* How many rows key m may have before flush_one folds them: between
 * KC_MAX_DELTA_ROWS / 2 and KC_MAX_DELTA_ROWS, by key. The keys of one
 * binary gain a row in the same commits; with one bound they would all
 * fold in the same commit, and that commit would rewrite every union of
 * the batch at once (the p99 of ingest at 8 pushers, bench/analysis.md
 * "Rowid tables and tiered folds"). */
static int64_t max_rows(const struct merge *m)
{
	uint64_t h = (uint64_t)m->binary * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)(m->label + 3) * 0xc2b2ae3d27d4eb4full ^ (uint64_t)m->day;

	h ^= h >> 29;
	return KC_MAX_DELTA_ROWS / 2 + (int64_t)(h % (KC_MAX_DELTA_ROWS / 2 + 1));
}

/* The union of the rows of e's key that sql (one of fold_rows') selects. */
static roaring_bitmap_t *read_rows(struct kc_store *s, const char *sql, const struct stored *e,
				   struct kc_err *err)
{
	struct kc_stmt *q = cached(s, sql, err);
	roaring_bitmap_t *u;

	if (!q)
		return NULL;
	bind_key(q, &e->m);
	u = kc_sql_union(q, 0, err);
	kc_stmt_reset(q);
	return u;
}

/* Fold the rows of e's key, which reached max_rows, with this commit's new
 * bits delta. The delta rows (seq >= 1) and delta become one row at seq 1;
 * only when that row would hold more than a quarter of the union is the
 * whole union written again as seq 0, alone. A growing union so costs a
 * commit the size of its recent growth, and whole rewrites are geometric
 * in the union's size instead of one every max_rows commits. The whole
 * union is the seq 0 row OR-ed with that tier, container by container:
 * building it from the cached flat bitset, value by value, took 10 ms per
 * million values, the slowest batches at 8 pushers (bench/analysis.md). */
static int fold_rows(struct kc_store *s, struct stored *e, const roaring_bitmap_t *delta,
		     struct kc_err *err)
{
	static const char *const sel_base[3] = {
		"SELECT bits FROM coverage WHERE binary = ? AND label = ? AND day = ? AND seq = 0",
		"SELECT bits FROM coverage_total WHERE binary = ? AND seq = 0",
		"SELECT bits FROM coverage_day_unions WHERE binary = ? AND day = ? AND seq = 0",
	};
	static const char *const sel_tier[3] = {
		"SELECT bits FROM coverage WHERE binary = ? AND label = ? AND day = ? AND seq >= 1",
		"SELECT bits FROM coverage_total WHERE binary = ? AND seq >= 1",
		"SELECT bits FROM coverage_day_unions WHERE binary = ? AND day = ? AND seq >= 1",
	};
	static const char *const del_tier[3] = {
		"DELETE FROM coverage WHERE binary = ? AND label = ? AND day = ? AND seq >= 1",
		"DELETE FROM coverage_total WHERE binary = ? AND seq >= 1",
		"DELETE FROM coverage_day_unions WHERE binary = ? AND day = ? AND seq >= 1",
	};
	int t = key_table(&e->m), whole, ret = -1;
	roaring_bitmap_t *tier, *row = NULL;
	struct kc_stmt *d;

	tier = read_rows(s, sel_tier[t], e, err);
	if (!tier)
		return -1;
	roaring_bitmap_or_inplace(tier, delta);
	whole = roaring_bitmap_get_cardinality(tier) * 4 > e->card;
	if (whole) {
		row = read_rows(s, sel_base[t], e, err);
		if (!row)
			goto out;
		roaring_bitmap_or_inplace(row, tier);
		if (roaring_bitmap_get_cardinality(row) != e->card) {
			ret = kc_err_set(err, KC_E_INTERNAL,
					 "the stored rows of a union hold %llu values, its cached copy %llu",
					 (unsigned long long)roaring_bitmap_get_cardinality(row),
					 (unsigned long long)e->card);
			goto out;
		}
	}
	d = cached(s, whole ? del_rows[t] : del_tier[t], err);
	if (!d)
		goto out;
	bind_key(d, &e->m);
	if (step_done(s->db, d, err) < 0)
		goto out;
	roaring_bitmap_run_optimize(whole ? row : tier);
	ret = put_row(s, e, whole ? 0 : 1, whole ? row : tier, err);
	/* After a tier fold the union's other bits, three quarters or more,
	 * are in seq 0 (rows have seq >= 0): two rows are left. */
	e->rows = whole ? 1 : 2;
	e->maxseq = whole ? 0 : 1;
out:
	kc_bitmap_free(row);
	kc_bitmap_free(tier);
	return ret;
}

/* Merge one of the batch's bitmaps into its stored union: a union that
 * gains nothing is not touched; otherwise only the new bits are inserted as
 * a delta row (and OR-ed into *into when not NULL), or, at max_rows rows,
 * the key's rows are folded (fold_rows). */
static int flush_one(struct kc_store *s, struct merge *m, roaring_bitmap_t *into,
		     struct kc_err *err)
{
	struct stored *e = stored_union(s, m, err);
	roaring_bitmap_t *delta;
	int r;

	if (!e)
		return -1;
	delta = take_new_bits(s, e, m->bits);
	if (!delta)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (roaring_bitmap_is_empty(delta)) {
		kc_bitmap_free(delta);
		return 0; /* nothing new: the stored rows stay as they are */
	}
	if (into)
		roaring_bitmap_or_inplace(into, delta);
	/* A day's new bits are what the label index lacks (labelidx.h). */
	if (m->label >= 0 && m->day >= 0 &&
	    kc_lidx_add(s->lidx, s->db, m->binary, m->label, m->day, delta, err) < 0) {
		kc_bitmap_free(delta);
		return -1;
	}
	roaring_bitmap_run_optimize(delta);
	s->wrote_coverage = 1;
	m->wrote = 1;
	if (e->rows + 1 < max_rows(m)) {
		r = put_row(s, e, ++e->maxseq, delta, err);
		e->rows++;
	} else {
		r = fold_rows(s, e, delta, err);
	}
	kc_bitmap_free(delta);
	return r;
}

/* The bits of the batch for the all-time union of t's binary: the OR of
 * its label days' (every report of the batch is in one), computed once
 * here instead of OR-ing each report into a second merge. */
static void total_bits(struct kc_store *s, struct merge *t)
{
	for (size_t i = 0; i < s->nmerges; i++) {
		const struct merge *m = &s->merges[i];

		if (m->binary == t->binary && m->label >= 0 && m->day >= 0)
			roaring_bitmap_or_inplace(t->bits, m->bits);
	}
}

/* Move the coverage_gen (schema 015) of each build whose binaries gained
 * bits in this batch, in its transaction: query caches key a build's
 * coverage on it, so other builds' stay valid. */
static int bump_builds(struct kc_store *s, struct kc_err *err)
{
	for (size_t i = 0; i < s->nmerges; i++) {
		const struct merge *m = &s->merges[i];
		int done = 0;

		for (size_t j = 0; j < i && !done; j++)
			done = s->merges[j].wrote && s->merges[j].build == m->build;
		if (m->wrote && !done &&
		    run(s, "UPDATE builds SET coverage_gen = coverage_gen + 1 WHERE id = ?", "i", NULL,
			err, m->build) < 0)
			return -1;
	}
	return 0;
}

/* Merge every bitmap of the batch into its stored union (flush_one). The
 * day unions are checked first, before the batch's rows of their days move
 * the stamps; then the other keys; then each day union takes the new bits
 * of its label days (a bit new to the day is new to its label's day, so
 * that is every bit it lacks: a warm fleet's reports that add nothing to
 * their label's day cost the day union nothing) and is marked valid. */
static int flush_merges(struct kc_store *s, struct kc_err *err)
{
	/* Other nodes write the same unions on PostgreSQL: take every key's
	 * lock (sorted: batches cannot deadlock), then read the rows afresh
	 * under it unless the database's generation, read under the locks,
	 * is the one this node's last commit left: then no other node has
	 * written since and the cache is what the database holds
	 * (docs/scale-out.md). */
	if (kc_sql_backend(s->db) == KC_SQL_PG && s->nmerges) {
		int64_t *keys = malloc(s->nmerges * sizeof(*keys));
		int r;

		if (!keys)
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
		for (size_t i = 0; i < s->nmerges; i++) {
			const struct merge *m = &s->merges[i];

			keys[i] = m->label == KEY_TOTAL ? kc_nodes_union_key(m->binary, KEY_TOTAL, 0)
				: m->label == KEY_DAY_UNION ? kc_dayunion_key(m->binary, m->day)
							    : kc_nodes_union_key(m->binary, m->label, m->day);
		}
		r = kc_nodes_lock_keys(s->db, keys, s->nmerges, err);
		free(keys);
		if (r < 0 || kc_nodes_generation(s->db, &s->batch_gen, err) < 0)
			return -1;
		s->batch_gen_read = 1;
		if (!s->seen_gen_valid || !kc_nodes_generation_same(&s->batch_gen, &s->seen_gen))
			drop_unions(s);
	}
	for (size_t i = 0; i < s->nmerges; i++)
		if (s->merges[i].label == KEY_DAY_UNION && day_union_check(s, &s->merges[i], err) < 0)
			return -1;
	for (size_t i = 0; i < s->nmerges; i++) {
		struct merge *m = &s->merges[i];
		long u = m->label >= 0 && m->day >= 0 ? find_merge(s, m->binary, KEY_DAY_UNION, m->day)
						      : -1;

		if (m->label == KEY_TOTAL)
			total_bits(s, &s->merges[i]);
		if (m->label != KEY_DAY_UNION &&
		    flush_one(s, m, u >= 0 ? s->merges[u].bits : NULL, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < s->nmerges; i++) {
		struct merge *m = &s->merges[i];

		if (m->label == KEY_DAY_UNION &&
		    (flush_one(s, m, NULL, err) < 0 ||
		     run(s, "UPDATE coverage_days SET union_stamp = stamp WHERE day = ? AND binary = ?",
			 "ii", NULL, err, m->day, m->binary) < 0))
			return -1;
	}
	return bump_builds(s, err);
}

static void drop_merges(struct kc_store *s)
{
	for (size_t i = 0; i < s->nmerges; i++)
		kc_bitmap_free(s->merges[i].bits);
	s->nmerges = 0;
	s->nmachines = 0;
	s->nbuilds = 0;
}

/* Run one parameterless statement through the writer's cache. */
static int exec_cached(struct kc_store *s, const char *sql, struct kc_err *err)
{
	struct kc_stmt *st = cached(s, sql, err);

	return st ? step_done(s->db, st, err) : -1;
}

static void apply_job(struct kc_store *s, struct kc_job *job)
{
	int r;

	kc_err_clear(&job->err);
	job->outcome = KC_JOB_OK;
	if (exec_cached(s, "SAVEPOINT job", &job->err) < 0) {
		job->outcome = KC_JOB_FAILED;
		return;
	}
	if (job->kind == KC_JOB_REPORT)
		r = apply_report(s, job, &job->err);
	else if (job->kind == KC_JOB_ADDRMAP)
		r = apply_addrmap(s, job->map, &job->id, &job->err);
	else
		r = job->fn(job->arg, s->db, &job->err);
	if (job->kind == KC_JOB_CALL) /* an import or deletion changes the images */
		kc_lidx_forget(s->lidx);
	if (job->maintenance) {
		/* The unions may have changed under the cache (alone in its batch:
		 * no merge of this batch is pending). */
		drop_unions(s);
		drop_labels(s);
		s->wrote_coverage = r == 0;
		s->batch_maintenance = r == 0;
	}
	if (r < 0) {
		job->outcome = KC_JOB_FAILED;
		(void)exec_cached(s, "ROLLBACK TO job", NULL);
		/* What the rollback took back may be cached: a new label, a fold. */
		drop_labels(s);
		for (size_t i = 0; i < s->nmerges; i++)
			s->merges[i].folded = 0;
	}
	(void)exec_cached(s, "RELEASE job", NULL);
}

static void run_batch(struct kc_store *s, struct kc_job *batch)
{
	struct kc_job *callbacks = NULL;
	struct kc_err err;
	double t0 = now_ms();
	size_t n = 0;
	int ok;

	kc_err_clear(&err);
	s->wrote_coverage = 0;
	s->batch_maintenance = 0;
	s->batch_gen_read = 0;
	s->batch_clamped_past = s->batch_clamped_future = 0;
	ok = kc_db_begin(s->db, &err) == 0;
	for (struct kc_job *j = batch; j; j = j->next, n++) {
		if (!ok)
			continue;
		apply_job(s, j);
		/* On SQLITE_FULL, IOERR or NOMEM SQLite may roll back the whole
		 * transaction itself: the batch's earlier jobs are gone and later
		 * savepoints would commit on their own. Fail the whole batch. */
		if (!kc_sql_in_transaction(s->db)) {
			ok = 0;
			err = j->err;
		}
	}
	if (ok && (flush_touched(s, &err) < 0 || flush_merges(s, &err) < 0 ||
		   /* Tell the other nodes, in the same transaction. */
		   (s->wrote_coverage && kc_sql_backend(s->db) == KC_SQL_PG &&
		    kc_nodes_bump(s->db, s->node, 1, 0, (int64_t)time(NULL), &err) < 0) ||
		   kc_db_exec(s->db, "COMMIT", &err) < 0))
		ok = 0;
	if (ok && s->batch_maintenance)
		atomic_fetch_add(&s->maintenance_generation, 1);
	/* The generation this commit leaves, if no other node committed after
	 * flush_merges read it: that read plus this node's bump (the first
	 * bump also adds a row: the next batch then drops the cache once). */
	s->seen_gen_valid = ok && s->batch_gen_read;
	if (s->seen_gen_valid) {
		s->seen_gen = s->batch_gen;
		s->seen_gen.coverage += s->wrote_coverage ? 1 : 0;
	}
	if (!ok) {
		(void)kc_db_exec(s->db, "ROLLBACK", NULL);
		drop_unions(s); /* they may hold bits the rollback took back */
		drop_labels(s);
		kc_lidx_forget(s->lidx);
		for (struct kc_job *j = batch; j; j = j->next) {
			j->outcome = KC_JOB_FAILED;
			j->err = err;
			j->err.code = KC_E_UNAVAILABLE;
		}
	}
	drop_merges(s);
	pthread_mutex_lock(&s->lock);
	/* Publish outcomes only now, after COMMIT: a waiter that sees a
	 * final status may acknowledge. Read next before the waiter can
	 * return and free its job; asynchronous jobs (which stay valid until
	 * their callback) are collected and called back after the unlock. */
	for (struct kc_job *j = batch, *next; j; j = next) {
		next = j->next;
		j->status = j->outcome;
		if (j->done) {
			j->next = callbacks;
			callbacks = j;
		}
	}
	s->stats.batches++;
	s->stats.jobs += n;
	s->stats.commit_failures += !ok;
	if (ok) {
		s->stats.clamped_past += s->batch_clamped_past;
		s->stats.clamped_future += s->batch_clamped_future;
	}
	s->stats.last_commit_ms = now_ms() - t0;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
	for (struct kc_job *j = callbacks, *next; j; j = next) {
		next = j->next; /* the callback may end the job's lifetime */
		j->done(j, j->done_arg);
	}
	/* The batch is answered: the reports queued meanwhile wait for this,
	 * not the ones it would have delayed inside COMMIT. */
	kc_sql_checkpoint_due(s->db);
}

static void *writer(void *arg)
{
	struct kc_store *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct kc_job *batch, *last;
		size_t n = 1;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!s->head)
			break;
		batch = last = s->head;
		/* A maintenance job runs alone: the batch ends before the next. */
		while (!last->maintenance && last->next && !last->next->maintenance &&
		       n < KC_STORE_BATCH) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		s->stats.queue_depth -= n;
		pthread_mutex_unlock(&s->lock);
		run_batch(s, batch);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct kc_store *kc_store_open(const char *path, struct kc_err *err)
{
	struct kc_store *s = calloc(1, sizeof(*s));

	if (!s) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	s->lock_fd = kc_db_lock(path, err);
	if (s->lock_fd < 0)
		goto fail;
	s->db = kc_db_open(path, 0, err);
	s->lidx = kc_lidx_new();
	if (!s->db || kc_db_migrate(s->db, err) < 0 ||
	    /* A batch's COMMIT then waits for the WAL's sync only. */
	    kc_sql_defer_checkpoints(s->db, err) < 0)
		goto fail;
	/* Builds imported before the label index existed, or whose index was
	 * dropped to be recomputed (labelidx.h); days whose union of every
	 * label is stale (dayunion.h: a database from before schema 013, or
	 * rows written by other means). */
	if (!s->lidx || kc_db_exec(s->db, "BEGIN IMMEDIATE", err) < 0 ||
	    kc_lidx_build_missing(s->db, NULL, err) < 0 ||
	    kc_dayunion_rebuild_stale(s->db, NULL, err) < 0 ||
	    kc_db_exec(s->db, "COMMIT", err) < 0) {
		if (!s->lidx)
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
		(void)kc_db_exec(s->db, "ROLLBACK", NULL);
		goto fail;
	}
	kc_sql_checkpoint_due(s->db); /* what the start-up wrote */
	{
		char host[64] = "";

		(void)gethostname(host, sizeof(host) - 1);
		snprintf(s->node, sizeof(s->node), "%s:%ld:%lld", host, (long)getpid(),
			 (long long)time(NULL));
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->gen_lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->done, NULL);
	if (pthread_create(&s->thread, NULL, writer, s) != 0) {
		kc_err_set(err, KC_E_INTERNAL, "cannot start the writer thread");
		goto fail;
	}
	return s;
fail:
	kc_lidx_free(s->lidx);
	kc_db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
	return NULL;
}

void kc_store_close(struct kc_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	drop_merges(s);
	drop_unions(s);
	drop_labels(s);
	free(s->merges);
	free(s->machines);
	free(s->builds);
	free(s->labels);
	kc_lidx_free(s->lidx);
	for (size_t i = 0; i < sizeof(s->cache) / sizeof(s->cache[0]); i++)
		kc_stmt_finalize(s->cache[i].st);
	kc_db_close(s->db);
	close(s->lock_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->gen_lock);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	free(s);
}

/* Append job to the queue; s->lock held. */
static void enqueue(struct kc_store *s, struct kc_job *job)
{
	job->status = KC_JOB_PENDING;
	job->next = NULL;
	if (s->tail)
		s->tail->next = job;
	else
		s->head = job;
	s->tail = job;
	s->stats.queue_depth++;
	pthread_cond_signal(&s->wake);
}

void kc_store_submit(struct kc_store *s, struct kc_job *job)
{
	job->done = NULL;
	pthread_mutex_lock(&s->lock);
	enqueue(s, job);
	while (job->status == KC_JOB_PENDING)
		pthread_cond_wait(&s->done, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void kc_store_submit_async(struct kc_store *s, struct kc_job *job)
{
	pthread_mutex_lock(&s->lock);
	enqueue(s, job);
	pthread_mutex_unlock(&s->lock);
}

static int call(struct kc_store *s, int (*fn)(void *arg, void *db, struct kc_err *err), void *arg,
		int maintenance, struct kc_err *err)
{
	struct kc_job job;

	memset(&job, 0, sizeof(job));
	job.kind = KC_JOB_CALL;
	job.fn = fn;
	job.arg = arg;
	job.maintenance = maintenance;
	kc_store_submit(s, &job);
	if (job.status == KC_JOB_FAILED) {
		if (err)
			*err = job.err;
		return -1;
	}
	return 0;
}

int kc_store_call(struct kc_store *s, int (*fn)(void *arg, void *db, struct kc_err *err), void *arg,
		  struct kc_err *err)
{
	return call(s, fn, arg, 0, err);
}

int kc_store_maintain(struct kc_store *s, int (*fn)(void *arg, void *db, struct kc_err *err),
		      void *arg, struct kc_err *err)
{
	return call(s, fn, arg, 1, err);
}

void kc_store_stats(struct kc_store *s, struct kc_store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->gen_lock);
	out->generation_polls = s->db_polls;
	pthread_mutex_unlock(&s->gen_lock);
}
