/*
 * covquery.h - coverage of an imported build by file, directory and
 * function: the computations behind /api/v1/builds/{build}/... (tree,
 * files, functions, lcov, CSV, summary).
 *
 * A query context (struct kc_covq) loads, once, the coverage bitmap of
 * every image of the build for the requested filter (labels, day range,
 * minus labels). File and directory results are then a few bitmap ANDs
 * per file plus one pass over the points of the files asked for.
 *
 * Definitions (docs/api-coverage.md): a point is covered when its bit
 * (call-site offset + 5) is set; a line is "covered" when all its points
 * are, "partial" when some are, "uncovered" when none are; a function is
 * covered ("hit") when at least one of its points is.
 *
 * Errors set err->code: KC_E_NOT_FOUND for an unknown build, file or
 * directory, KC_E_NOT_IMPORTED for a build that was never imported,
 * KC_E_BAD_INPUT for bad arguments, KC_E_INTERNAL (or KC_E_UNAVAILABLE
 * for a busy or failing database) else.
 * Returned JSON objects and buffers belong to the caller.
 */
#ifndef KC_COVQUERY_H
#define KC_COVQUERY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"
#include "sql.h"

struct kc_cov_filter {
	const char *labels_json; /* JSON array text of label names; NULL = all */
	const char *minus_json;  /* JSON array text of label names to subtract */
	int days;                /* 1 when since/until restrict the days */
	int64_t since, until;    /* days since 1970-01-01 (UTC), inclusive */
	const char *subsystem;   /* only the files of this MAINTAINERS subsystem;
				  * NULL = all files (kc_covq_open: 404 when the
				  * build has no such subsystem) */
};

enum kc_func_sort { KC_SORT_NAME, KC_SORT_COVERAGE, KC_SORT_POINTS };

struct kc_covq;

/*
 * What queries keep between them (decoded coverage of recent filters, the
 * point indexes of recent builds, per-file totals of large trees), in one
 * object: the server creates it at start and frees it at stop, after the
 * last query. Thread-safe; queries share it. index_mb bounds the memory of
 * the point indexes (least recently used builds are dropped past it; the
 * newest is kept even when larger). kc_covq_cache_clear drops everything
 * (queries still open keep what they hold).
 */
#define KC_COVQ_CACHE_MB_DEFAULT 1024
struct kc_covq_cache;
struct kc_covq_cache *kc_covq_cache_new(unsigned index_mb, struct kc_err *err);
void kc_covq_cache_clear(struct kc_covq_cache *c);
void kc_covq_cache_free(struct kc_covq_cache *c); /* NULL is fine */
/* The most files with new lines one commits request (or patch with
 * commit=) attributes by blame; more is KC_E_BAD_INPUT (default
 * KC_PATCH_BLAME_FILES_DEFAULT, kcovd --patch-blame-files). */
#define KC_PATCH_BLAME_FILES_DEFAULT 2000
void kc_covq_cache_set_blame_files(struct kc_covq_cache *c, unsigned max);

/* Flags of kc_covq_open. */
#define KC_COVQ_NEED_IMPORT 1u /* fail with 404 when the build was never imported */
#define KC_COVQ_NO_COVERAGE 2u /* do not load the filter's coverage (kc_covq_labels
				* reads its own; other queries then see none) */

/* Open a query of build_id (hex) on the read connection db; cache and db
 * must not be NULL; they and the filter's strings are borrowed for the
 * context's lifetime.
 * coverage_gen is a number that changes whenever stored coverage changes
 * (kc_store_read_generation): cached coverage of another generation
 * is not used. Release with kc_covq_free (NULL is fine).
 *
 * Every query below takes a context from kc_covq_open. The ones about
 * files, directories and functions (tree, file, functions, lcov, CSV,
 * labels) need an imported build: on one that is not they fail with
 * KC_E_NOT_IMPORTED (open with KC_COVQ_NEED_IMPORT to fail earlier).
 * kc_covq_summary answers for any build. */
struct kc_covq *kc_covq_open(struct kc_covq_cache *cache, struct kc_sql *db, uint64_t coverage_gen,
			     const char *build_id, const struct kc_cov_filter *f, unsigned flags,
			     struct kc_err *err);
void kc_covq_free(struct kc_covq *q);

/*
 * Merged queries (docs/api-coverage.md, "Merged queries"): after
 * kc_covq_merge, every query below answers for the query's build T with
 * the coverage of the other builds mapped onto T's lines: line states are
 * the best over the builds, functions hit anywhere (by name and file) are
 * hit, and lines of other builds with covered points that land on no
 * unchanged line of T are counted as lost. Builds are given by id or, with
 * window set, are every build with coverage taken on the filter's days
 * (restricted to releases starting with release when not NULL). The
 * target itself and repeated ids are ignored; at most 63 other builds
 * (KC_E_BAD_INPUT beyond), an unknown one is KC_E_NOT_FOUND, one never
 * imported is listed as skipped. The strings are borrowed for the call.
 * Call at most once per query; needs an imported build.
 */
struct kc_covq_merge {
	const char *const *builds; /* build ids (hex) */
	size_t nbuilds;
	int window;          /* instead of builds: every build of the filter's days */
	const char *release; /* with window: a release prefix, or NULL */
};
int kc_covq_merge(struct kc_covq *q, const struct kc_covq_merge *m,
		  struct kc_err *err) KC_MUST_CHECK;

/* Children of directory dir ("" = the root) with their totals, and dir's
 * own totals. */
json_t *kc_covq_tree(struct kc_covq *q, const char *dir, struct kc_err *err);

/* Lines, functions and (when stored) source text of one file. */
json_t *kc_covq_file(struct kc_covq *q, const char *path, struct kc_err *err);

/* Functions of one file (file != NULL) or of the whole build, sorted
 * (name ascending; coverage or points descending) and paged. With match
 * != NULL, only functions whose name or file path contains it (ignoring
 * case). */
json_t *kc_covq_functions(struct kc_covq *q, const char *file, const char *match,
			  enum kc_func_sort sort, size_t limit, size_t offset, struct kc_err *err);

/* LCOV tracefile of every file under prefix ("" or NULL = all) appended
 * to out. */
int kc_covq_lcov(struct kc_covq *q, const char *prefix, struct kc_buf *out,
		 struct kc_err *err) KC_MUST_CHECK;

/* CSV like syzkaller's filecover / funccover, appended to out. */
int kc_covq_files_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
		      struct kc_err *err) KC_MUST_CHECK;
int kc_covq_functions_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
			  struct kc_err *err) KC_MUST_CHECK;

/* Which labels covered the points of one file, or of its line `line`
 * (line > 0): per label, the points it covered (minus what the minus labels
 * covered), the first and last day it covered any of them and its covered
 * lines. Only coverage of the filter's days counts; with labels in the
 * filter only those are listed. Labels are ordered by covered points
 * (descending), then name; at most limit of them. 404 for an unknown file.
 * Needs an imported build. */
json_t *kc_covq_labels(struct kc_covq *q, const char *path, int64_t line, size_t limit,
		       struct kc_err *err);

/*
 * Patch coverage (docs/api-coverage.md, "Patch coverage"): the lines of
 * the query's build T that no line of build base (hex id, imported) maps
 * onto, in the files under dir ("" or NULL: all), per file and in total,
 * each with its state (T's own, or merged after kc_covq_merge) or
 * "not_instrumented"; files whose new lines cannot be told (no stored
 * text on a side) are listed under "unknown". More than
 * KC_PATCH_LINES_MAX new lines is KC_E_BAD_INPUT.
 * base NULL: the base is base_rev instead, any revision of the
 * repository T was imported from (the files' blobs there; KC_E_BAD_INPUT
 * when T has no git source or the revision is unknown), for
 * kc_covq_commits too.
 */
#define KC_PATCH_LINES_MAX 200000
/* commit (NULL: all lines) keeps the lines attributed to that commit (a
 * hex prefix of one commit of the range, as kc_covq_commits; each line
 * then names its commit): both builds need a git revision (KC_E_BAD_INPUT
 * else, and for an ambiguous prefix; KC_E_NOT_FOUND for no such commit). */
json_t *kc_covq_patch(struct kc_covq *q, const char *base, const char *base_rev,
		      const char *dir, const char *commit, struct kc_err *err);
/*
 * The commits between base's git revision and the query's build's, along
 * the build's first parents (both imported with --git/--rev, base's commit
 * an ancestor: KC_E_BAD_INPUT else), each with its id, subject, author,
 * date and the tallies of the new lines of kc_covq_patch that libgit2's
 * blame attributes to it, plus the lines it attributes to none. Sorted
 * newest first, or by uncovered lines (then date). At most
 * KC_PATCH_COMMITS_MAX commits (KC_E_BAD_INPUT beyond).
 */
#define KC_PATCH_COMMITS_MAX 1000
enum kc_commit_sort { KC_COMMIT_SORT_DATE, KC_COMMIT_SORT_UNCOVERED };
json_t *kc_covq_commits(struct kc_covq *q, const char *base, const char *base_rev,
			enum kc_commit_sort sort, struct kc_err *err);
/* Per subsystem of the build's MAINTAINERS (schema 009; in name order) its
 * files and the same totals as the tree, and the files of no subsystem
 * ("none"); with a subsystem filter only that one (and "none" is null).
 * A build imported without MAINTAINERS answers "maintainers": false, no
 * subsystems and every file under "none". Needs an imported build. */
json_t *kc_covq_subsystems(struct kc_covq *q, struct kc_err *err);

/*
 * History (docs/api-coverage.md, "History"): per period between since
 * and until (whole UTC days, ISO weeks from Monday, or calendar months
 * containing them), the builds with coverage of the labels taken in it
 * (release: only builds whose release starts with it) and the merged
 * totals of path ("" the root, a directory or a file of T) projected onto
 * the period's newest imported build T (first seen last), as a merge=
 * query of T over the period's days: "build_id", "builds" (imported,
 * oldest first), "not_imported", "files", the totals, "lost_lines",
 * "lines_new" (lines of T covered now and not in the previous period
 * projected onto T) and "lines_dropped" (the reverse); figures are null
 * when no build of the period was imported or T lacks the subsystem.
 * With series, one list of periods per label (the filter's, else every
 * label with coverage in the days; at most KC_HISTORY_MAX_SERIES). More
 * than KC_HISTORY_MAX_PERIODS periods, or more than 64 builds in one
 * period, is KC_E_BAD_INPUT. The request's strings are borrowed.
 */
#define KC_HISTORY_MAX_PERIODS 400
#define KC_HISTORY_MAX_SERIES 16
enum kc_step { KC_STEP_DAY, KC_STEP_WEEK, KC_STEP_MONTH };
struct kc_history_req {
	const char *path;        /* "" = the root; no trailing '/' */
	enum kc_step step;
	int64_t since, until;    /* days, since <= until */
	const char *labels_json; /* as kc_cov_filter */
	const char *minus_json;
	const char *subsystem;
	const char *release;     /* NULL: any */
	int series;              /* 1: one series per label */
};
struct kc_history_ctx {
	struct kc_covq_cache *cache;
	struct kc_sql *db;
	uint64_t coverage_gen;
	const struct kc_history_req *h;
};
json_t *kc_covq_history(const struct kc_history_ctx *c, struct kc_err *err);
/* The first day of the period (of step) holding day, the first day of the
 * next period, and the period's name (YYYY-MM-DD, YYYY-Www, YYYY-MM). */
int64_t kc_period_start(enum kc_step step, int64_t day);
int64_t kc_period_next(enum kc_step step, int64_t start);
void kc_period_name(enum kc_step step, int64_t start, char out[16]);

/* Points, covered points and unmatched PCs per binary of the build. */
json_t *kc_covq_summary(struct kc_covq *q, struct kc_err *err);

#endif
