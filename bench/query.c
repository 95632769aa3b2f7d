/*
 * query.c - coverage query latency for bench/run: one client (libcurl,
 * keep-alive) asks kcovd for trees, files, the labels that covered a file
 * and LCOV exports of random imported builds (docs/api-coverage.md),
 * all-time and filtered to one label over 30 days, and reports p50/p99 per
 * query against GET /healthz (the HTTP floor) in the same run. Builds, files and directories are read
 * from the database the benchmark filled.
 *
 * usage: bench-query --url URL --db DB [--requests N] [--lcov-requests N] [--merge]
 * Prints markdown table rows (query, coverage, requests, p50, p99, p50 / the
 * healthz p50, mean answer KiB); exit 1 when a request failed or was not 200.
 * With --merge: merged queries instead (merge= every other imported build
 * onto the newest one: random files and the tree of the root), each next to
 * the same query without merge=.
 *
 * sqlconv: native SQLite (a SQLite-backend bench tool: sqlconv.sh leaves it alone)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "pcgen.h"

struct strs {
	char **v;
	size_t n, cap;
};

struct build {
	char *id;
	struct strs files, dirs, tops;
};

static size_t resp_bytes;

static size_t count_body(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	resp_bytes += size * nmemb;
	return size * nmemb;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int strs_add(struct strs *s, const char *v, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		char **t = realloc(s->v, cap * sizeof(*t));

		if (!t)
			return -1;
		s->v = t;
		s->cap = cap;
	}
	s->v[s->n] = strndup(v, len);
	return s->v[s->n++] ? 0 : -1;
}

static int strs_has(const struct strs *s, const char *v, size_t len)
{
	/* Directories arrive in path order: the newest entry is the likely match. */
	for (size_t i = s->n; i-- > 0 && s->n - i < 64;)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], v, len) == 0)
			return 1;
	return 0;
}

static int load(const char *path, struct build **out, size_t *nout)
{
	sqlite3 *db;
	sqlite3_stmt *b = NULL, *f = NULL;
	struct build *v = NULL;
	size_t n = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT b.id, b.build_id FROM builds b JOIN build_imports i "
				   "ON i.build = b.id ORDER BY b.id", -1, &b, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT path FROM files WHERE build = ? AND path NOT LIKE '/%' "
				   "ORDER BY path", -1, &f, NULL)) {
		fprintf(stderr, "bench-query: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	while (sqlite3_step(b) == SQLITE_ROW) {
		struct build *nb = realloc(v, (n + 1) * sizeof(*v));

		if (!nb)
			return -1;
		v = nb;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].id = strdup((const char *)sqlite3_column_text(b, 1));
		sqlite3_bind_int64(f, 1, sqlite3_column_int64(b, 0));
		strs_add(&v[n].dirs, "", 0);
		while (sqlite3_step(f) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(f, 0);
			const char *slash = strchr(p, '/');

			strs_add(&v[n].files, p, strlen(p));
			if (slash && !strs_has(&v[n].tops, p, (size_t)(slash - p)))
				strs_add(&v[n].tops, p, (size_t)(slash - p));
			for (const char *s = slash; s; s = strchr(s + 1, '/'))
				if (!strs_has(&v[n].dirs, p, (size_t)(s - p)))
					strs_add(&v[n].dirs, p, (size_t)(s - p));
		}
		sqlite3_reset(f);
		n++;
	}
	sqlite3_finalize(b);
	sqlite3_finalize(f);
	sqlite3_close(db);
	*out = v;
	*nout = n;
	return n ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum kind { Q_HEALTH, Q_TREE, Q_FILE, Q_LABELS, Q_LCOV_TOP, Q_LCOV_ALL, Q_ROOT };

static const char *const kind_name[] = {
	"GET /healthz (floor)", "tree (random directory)", "file (random file)",
	"labels that covered a random file", "LCOV export of a top-level directory", "LCOV export of the whole build",
	"tree of the root",
};

/* Index of the 99th percentile of n sorted latencies (nearest rank,
 * ceil(0.99 n) - 1): with n < 100 that is the slowest request. bench/run
 * sends 1,000 per kind in a full run, so p99 is the 10th slowest. */
static int p99_rank(int n)
{
	int r = (99 * n + 99) / 100 - 1;

	return r < 0 ? 0 : r >= n ? n - 1 : r;
}

/* Run n requests of one kind; prints a row; returns the failures. */
static int measure(CURL *curl, const char *base, struct build *b, size_t nb, enum kind k,
		   const char *filter, const char *filter_name, int n, uint64_t *rng,
		   double floor_p50, double *p50_out)
{
	double *lat = malloc((size_t)n * sizeof(*lat));
	size_t bytes = 0;
	int failed = 0;

	if (!lat)
		return n;
	for (int i = 0; i < n; i++) {
		struct build *x = &b[bench_rand(rng) % nb];
		char url[8192];
		long st = 0;
		double t0;

		switch (k) {
		case Q_HEALTH:
			snprintf(url, sizeof(url), "%s/healthz", base);
			break;
		case Q_TREE:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/tree?path=%s%s", base, x->id,
				 x->dirs.v[bench_rand(rng) % x->dirs.n], filter);
			break;
		case Q_FILE:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/files/%s%s%s", base, x->id,
				 x->files.v[bench_rand(rng) % x->files.n], filter[0] ? "?" : "",
				 filter[0] ? filter + 1 : "");
			break;
		case Q_LABELS:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/labels?file=%s%s", base, x->id,
				 x->files.v[bench_rand(rng) % x->files.n], filter);
			break;
		case Q_LCOV_TOP:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/lcov?prefix=%s%s", base, x->id,
				 x->tops.n ? x->tops.v[bench_rand(rng) % x->tops.n] : "", filter);
			break;
		case Q_ROOT:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/tree%s%s", base, x->id,
				 filter[0] ? "?" : "", filter[0] ? filter + 1 : "");
			break;
		case Q_LCOV_ALL:
			snprintf(url, sizeof(url), "%s/api/v1/builds/%s/lcov%s%s", base, x->id,
				 filter[0] ? "?" : "", filter[0] ? filter + 1 : "");
			break;
		}
		curl_easy_setopt(curl, CURLOPT_URL, url);
		resp_bytes = 0;
		t0 = now_s();
		if (curl_easy_perform(curl) == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &st);
		lat[i] = (now_s() - t0) * 1e3;
		bytes += resp_bytes;
		if (st != 200) {
			if (!failed)
				fprintf(stderr, "bench-query: %s: HTTP %ld\n", url, st);
			failed++;
		}
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	*p50_out = lat[n / 2];
	if (filter_name)
		printf("| %s | %s | %d | %.2f | %.2f | %.2f | %.1f |\n", kind_name[k], filter_name,
		       n, lat[n / 2], lat[p99_rank(n)],
		       floor_p50 > 0 ? lat[n / 2] / floor_p50 : 1.0, (double)bytes / n / 1024.0);
	free(lat);
	return failed;
}

/* merge= every other build onto the newest (the last imported): files and
 * the root tree, each also without merge= for comparison. */
static int measure_merged(CURL *curl, const char *base, struct build *b, size_t nb, int n,
			  int nroot, uint64_t *rng, double floor_p50)
{
	struct build *t = &b[nb - 1];
	size_t cap = 16 + nb * 130, len;
	char *f = malloc(cap), name[64], first[128];
	double p50;
	int failed = 0;

	if (!f)
		return 1;
	len = (size_t)snprintf(f, cap, "&merge=");
	for (size_t i = 0; i + 1 < nb; i++)
		len += (size_t)snprintf(f + len, cap - len, "%s%s", i ? "," : "", b[i].id);
	snprintf(name, sizeof(name), "all-time, merge= %zu builds", nb - 1);
	snprintf(first, sizeof(first), "%s, the first request (every index and line map loaded)",
		 name);
	/* The first: every index loaded, every line map computed once; the
	 * rows after it are answered from those (and, for the same tree, from
	 * the cached per-file totals until coverage changes). */
	failed += measure(curl, base, t, 1, Q_ROOT, f, first, 1, rng, floor_p50, &p50);
	failed += measure(curl, base, t, 1, Q_FILE, "", "all-time, one build", n, rng, floor_p50,
			  &p50);
	failed += measure(curl, base, t, 1, Q_FILE, f, name, n, rng, floor_p50, &p50);
	failed += measure(curl, base, t, 1, Q_ROOT, "", "all-time, one build", nroot, rng,
			  floor_p50, &p50);
	failed += measure(curl, base, t, 1, Q_ROOT, f, name, nroot, rng, floor_p50, &p50);
	free(f);
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "db", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "lcov-requests", required_argument, NULL, 'l' },
		{ "merge", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	int merge = 0;
	const char *url = NULL, *dbpath = NULL;
	int n = 200, nlcov = 20, c, failed = 0;
	struct build *b;
	size_t nb;
	uint64_t rng = 0xBE7C4;
	char filter[128];
	double floor_p50 = 0, p50;
	CURL *curl;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'd': dbpath = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'l': nlcov = atoi(optarg); break;
		case 'm': merge = 1; break;
		default: return 2;
		}
	}
	if (!url || !dbpath || n < 1 || nlcov < 1) {
		fprintf(stderr, "usage: bench-query --url URL --db DB [--requests N] [--lcov-requests N]\n");
		return 2;
	}
	if (load(dbpath, &b, &nb) < 0) {
		fprintf(stderr, "bench-query: no imported builds in %s\n", dbpath);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* Warm up: the server loads each build's point index on first use. */
	for (size_t i = 0; i < nb; i++)
		failed += measure(curl, url, &b[i], 1, Q_TREE, "", NULL, 1, &rng, 1, &p50);
	failed += measure(curl, url, b, nb, Q_HEALTH, "", "–", n, &rng, 0, &floor_p50);
	if (merge) {
		failed += measure_merged(curl, url, b, nb, n, nlcov, &rng, floor_p50);
		goto out;
	}
	for (int f = 0; f < 2; f++) {
		const char *fname = f ? "label-007, last 30 days" : "all-time";

		snprintf(filter, sizeof(filter), "%s",
			 f ? "&label=label-007&since=" : "");
		if (f) {
			size_t len = strlen(filter);

			snprintf(filter + len, sizeof(filter) - len, "%lld",
				 (long long)(time(NULL) / 86400 - 29));
		}
		failed += measure(curl, url, b, nb, Q_TREE, filter, fname, n, &rng, floor_p50, &p50);
		failed += measure(curl, url, b, nb, Q_FILE, filter, fname, n, &rng, floor_p50, &p50);
		/* As many as tree and file: its goal is a p99 (issue 18 item 3). */
		failed += measure(curl, url, b, nb, Q_LABELS, filter, fname, n, &rng, floor_p50, &p50);
		failed += measure(curl, url, b, nb, Q_LCOV_TOP, filter, fname, nlcov, &rng, floor_p50,
				  &p50);
		failed += measure(curl, url, b, nb, Q_LCOV_ALL, filter, fname, nlcov > 4 ? nlcov / 4 : 1,
				  &rng, floor_p50, &p50);
	}
out:
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
