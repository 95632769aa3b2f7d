/*
 * ingest.c - the ingest load generator of bench/run: N concurrent pushers
 * POST realistic REPORT frames (wire v1, encoded with common/wire.c) to a
 * server and measure acknowledged reports/s, PCs/s and the acknowledge
 * latency (p50/p99). The same program drives kcovd and the no-op ceiling
 * (bench/noop_server.c), so both see identical bodies.
 *
 * Reports model one boot of a kernel with vmlinux and 20 modules: first the
 * boot's ADDRMAP is POSTed to /api/v1/boots, then each report carries k PCs
 * (70% vmlinux, 30% spread over the modules, clustered as real coverage is)
 * and a distinct random upload id. All frames are encoded before the clock
 * starts, so the figure is the server's, not the encoder's.
 *
 * With --ceiling-url the same frames are then sent, over and over, to the
 * no-op server for as long as the first phase lasted (at least 1 s).
 *
 * --url may list several servers separated by commas (kcovd nodes on one
 * PostgreSQL database): pusher i sends to server i mod N, the address map
 * goes to every one of them, and the figures are the whole set's.
 *
 * Output: one line of key=value pairs per phase on stdout (read by bench/run).
 * Exit status 1 when any request failed or was not answered 2xx.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "pcgen.h"
#include "wire.h"

#define NMODULES 20
#define LINK_TEXT 0xffffffff81000000ull
#define KASLR 0x1e000000ull
#define MOD_BASE 0xffffffffc0000000ull
#define MOD_STRIDE 0x100000ull
#define VMLINUX_POINTS 1600000
#define MODULE_POINTS 8000
#define MEAN_GAP 14.0

#define MAX_URLS 16

struct opts {
	const char *url;         /* the --url argument */
	char *urls[MAX_URLS];    /* its comma-separated servers (owned) */
	unsigned nurls;
	const char *ceiling_url; /* the no-op server, measured after url */
	const char *token;
	const char *machine;
	unsigned pushers;
	size_t pcs;
	size_t reports;
	double seconds;
	uint64_t seed;
	uint64_t stream; /* varies the upload ids and PCs, not the machine's identity */
};

/* The point universe of the emulated build. */
struct universe {
	uint64_t *vmlinux; /* link-time PCs */
	uint64_t *mod[NMODULES]; /* PCs as kcov reports them: runtime - KASLR */
};

struct pusher {
	pthread_t tid;
	const struct opts *o;
	const struct universe *u;
	unsigned index;
	struct kc_buf *frames; /* this pusher's share, encoded in advance */
	size_t nframes;
	uint64_t rng;          /* this pusher's random stream (upload ids, PCs) */
	int encode_failed;
	const char *url;       /* the server of the current phase */
	int cycle;             /* reuse frames (ceiling: upload ids do not matter) */
	size_t done;           /* acknowledged in the current phase */
	size_t failed;         /* transport errors or non-2xx */
	double *lat_ms;        /* one per acknowledged report (ring when cycling) */
	size_t nlat;
	size_t bytes;
	char first_error[CURL_ERROR_SIZE + 32];
};

static pthread_barrier_t start_barrier, end_barrier;
static _Atomic double deadline_s; /* written by main, read by the pushers */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static int build_universe(struct universe *u, uint64_t seed)
{
	uint64_t rng = seed | 1;

	u->vmlinux = bench_points_synth(LINK_TEXT, VMLINUX_POINTS, MEAN_GAP, &rng);
	if (!u->vmlinux)
		return -1;
	for (int m = 0; m < NMODULES; m++) {
		u->mod[m] = bench_points_synth(MOD_BASE + (uint64_t)m * MOD_STRIDE - KASLR + 0x40,
					       MODULE_POINTS, MEAN_GAP, &rng);
		if (!u->mod[m])
			return -1;
	}
	return 0;
}

static void free_universe(struct universe *u)
{
	free(u->vmlinux);
	for (int m = 0; m < NMODULES; m++)
		free(u->mod[m]);
}

static void fill_identity(char *machine, size_t msize, char *boot, size_t bsize,
			  const struct opts *o)
{
	snprintf(machine, msize, "%s", o->machine);
	snprintf(boot, bsize, "bench0000-0000-4000-8000-%012llx",
		 (unsigned long long)(o->seed & 0xffffffffffffull));
}

static int encode_addrmap(const struct opts *o, struct kc_buf *out, struct kc_err *err)
{
	struct kc_addrmap m;
	int ret;

	kc_addrmap_init(&m);
	fill_identity(m.machine, sizeof(m.machine), m.boot_id, sizeof(m.boot_id), o);
	snprintf(m.release, sizeof(m.release), "6.1.0-bench");
	snprintf(m.build_id, sizeof(m.build_id), "be0c0000000000000000000000000000000000%02x",
		 (unsigned)(o->seed & 0xff));
	m.text_start = LINK_TEXT + KASLR;
	m.text_end = m.text_start + 0x2000000;
	m.link_text = LINK_TEXT;
	m.modules = calloc(NMODULES, sizeof(*m.modules));
	if (!m.modules)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	m.nmodules = NMODULES;
	for (int i = 0; i < NMODULES; i++) {
		struct kc_module *mod = &m.modules[i];

		snprintf(mod->name, sizeof(mod->name), "bench_mod%02d", i);
		mod->core_base = MOD_BASE + (uint64_t)i * MOD_STRIDE;
		mod->core_size = MOD_STRIDE / 2;
		mod->text_addr = mod->core_base;
	}
	ret = kc_wire_encode_addrmap(&m, out, err);
	kc_addrmap_release(&m);
	return ret;
}

/* Encode one report of o->pcs PCs with a fresh upload id. */
static int encode_report(const struct opts *o, const struct universe *u, uint64_t *rng,
			 uint64_t *scratch, struct kc_buf *out, struct kc_err *err)
{
	struct kc_report r;
	struct kc_run run;
	size_t km = o->pcs * 3 / 10 / NMODULES, kv = o->pcs - km * NMODULES, n;
	int ret = -1;

	kc_report_init(&r);
	fill_identity(r.machine, sizeof(r.machine), r.boot_id, sizeof(r.boot_id), o);
	for (int i = 0; i < KC_UPLOAD_ID_LEN; i += 8) {
		uint64_t v = bench_rand(rng);

		memcpy(r.upload_id + i, &v, 8);
	}
	snprintf(r.label, sizeof(r.label), "bench");
	snprintf(r.release, sizeof(r.release), "6.1.0-bench");
	r.created_unix = (uint64_t)time(NULL);
	n = bench_pick_clustered(u->vmlinux, VMLINUX_POINTS, kv, rng, scratch);
	if (n == (size_t)-1 || kc_report_add_pcs(&r, scratch, n, err) < 0)
		goto out;
	for (int m = 0; m < NMODULES && km; m++) {
		n = bench_pick_clustered(u->mod[m], MODULE_POINTS, km, rng, scratch);
		if (n == (size_t)-1 || kc_report_add_pcs(&r, scratch, n, err) < 0)
			goto out;
	}
	memset(&run, 0, sizeof(run));
	snprintf(run.workload, sizeof(run.workload), "bench-workload");
	run.mode = KC_MODE_UNIQUE;
	run.capacity_words = 1u << 20;
	run.used_words = kc_report_npcs(&r);
	run.bitmap_words = 1u << 16;
	run.duration_us = 1000;
	run.exit_status = 0;
	run.npcs = kc_report_npcs(&r);
	if (kc_report_add_run(&r, &run, err) < 0)
		goto out;
	ret = kc_wire_encode_report(&r, out, err);
out:
	kc_report_release(&r);
	return ret;
}

static long post(CURL *curl, const struct opts *o, const char *base, const char *path,
		 const struct kc_buf *body, char *errbuf)
{
	struct curl_slist *hdrs = NULL;
	char url[1024], auth[512];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", base, path);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-kcov");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (o->token && base != o->ceiling_url) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body->data);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = 0;
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	else if (!errbuf[0])
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	return status;
}

/* One measured phase: POST this pusher's frames to p->url until they are
 * used up (or, when cycling, again and again) or the deadline passes. */
static void run_phase(struct pusher *p, CURL *curl)
{
	char errbuf[CURL_ERROR_SIZE];

	p->done = p->failed = p->nlat = p->bytes = 0;
	for (size_t i = 0; curl; i++) {
		double t0 = now_s();
		long st;

		if (t0 > deadline_s)
			break;
		if (i == p->nframes) {
			if (!p->cycle)
				break;
			i = 0;
		}
		st = post(curl, p->o, p->url, "/api/v1/reports", &p->frames[i], errbuf);
		if (st >= 200 && st <= 299) {
			p->lat_ms[p->nlat++ % p->nframes] = (now_s() - t0) * 1e3;
			p->done++;
			p->bytes += p->frames[i].len;
		} else {
			if (!p->failed)
				snprintf(p->first_error, sizeof(p->first_error), "HTTP %ld %s", st,
					 errbuf);
			p->failed++;
		}
	}
	if (!curl)
		p->failed++;
}

static void *pusher_main(void *arg)
{
	struct pusher *p = arg;
	struct kc_err err;
	uint64_t *scratch = malloc(p->o->pcs * sizeof(*scratch));
	CURL *curl = curl_easy_init();

	/* Encode this pusher's share before the clock starts (in parallel). */
	for (size_t j = 0; j < p->nframes && !p->encode_failed; j++)
		if (!scratch || encode_report(p->o, p->u, &p->rng, scratch, &p->frames[j], &err) < 0) {
			fprintf(stderr, "bench-ingest: encode: %s\n", scratch ? err.msg : "no memory");
			p->encode_failed = 1;
		}
	free(scratch);
	pthread_barrier_wait(&start_barrier); /* phase 1: the server under test */
	if (!p->encode_failed)
		run_phase(p, curl);
	pthread_barrier_wait(&end_barrier);
	pthread_barrier_wait(&start_barrier); /* phase 2: the ceiling, if any */
	if (!p->encode_failed && p->url)
		run_phase(p, curl);
	curl_easy_cleanup(curl);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Print one result line for the phase that just ended; 1 when any request
 * failed or none was acknowledged. */
static int summarize(const char *target, struct pusher *ps, const struct opts *o, double elapsed,
		     double *lat)
{
	size_t done = 0, failed = 0, bytes = 0, nlat = 0;
	const char *first_error = "";

	for (unsigned i = 0; i < o->pushers; i++) {
		size_t n = ps[i].nlat < ps[i].nframes ? ps[i].nlat : ps[i].nframes;

		done += ps[i].done;
		failed += ps[i].failed;
		bytes += ps[i].bytes;
		if (ps[i].failed && !first_error[0])
			first_error = ps[i].first_error;
		memcpy(lat + nlat, ps[i].lat_ms, n * sizeof(*lat));
		nlat += n;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_double);
	printf("target=%s reports=%zu failed=%zu seconds=%.3f reports_per_s=%.1f pcs_per_s=%.0f "
	       "p50_ms=%.2f p99_ms=%.2f bytes_per_report=%.0f pushers=%u pcs=%zu\n",
	       target, done, failed, elapsed, (double)done / elapsed,
	       (double)done * (double)o->pcs / elapsed, nlat ? lat[nlat / 2] : 0.0,
	       nlat ? lat[(size_t)((double)nlat * 0.99)] : 0.0,
	       done ? (double)bytes / (double)done : 0.0, o->pushers, o->pcs);
	fflush(stdout);
	if (failed)
		fprintf(stderr, "bench-ingest: %s: %zu requests failed, first: %s\n", target, failed,
			first_error);
	return failed || !done;
}

/* o->url split at its commas into o->urls; -1 when a part is empty or
 * there are more than MAX_URLS. */
static int split_urls(struct opts *o)
{
	const char *p = o->url;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (!n || o->nurls == MAX_URLS)
			return -1;
		o->urls[o->nurls] = strndup(p, n);
		if (!o->urls[o->nurls])
			return -1;
		o->nurls++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },	{ "token", required_argument, NULL, 't' },
		{ "pushers", required_argument, NULL, 'n' },	{ "pcs", required_argument, NULL, 'k' },
		{ "reports", required_argument, NULL, 'r' },	{ "seconds", required_argument, NULL, 's' },
		{ "machine", required_argument, NULL, 'm' },	{ "seed", required_argument, NULL, 'S' },
		{ "ceiling-url", required_argument, NULL, 'c' }, { "stream", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->pushers = 1;
	o->pcs = 1000;
	o->reports = 1000;
	o->seconds = 10;
	o->machine = "bench-pusher";
	o->seed = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 't': o->token = optarg; break;
		case 'n': o->pushers = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'k': o->pcs = strtoull(optarg, NULL, 10); break;
		case 'r': o->reports = strtoull(optarg, NULL, 10); break;
		case 's': o->seconds = strtod(optarg, NULL); break;
		case 'm': o->machine = optarg; break;
		case 'S': o->seed = strtoull(optarg, NULL, 10); break;
		case 'c': o->ceiling_url = optarg; break;
		case 'X': o->stream = strtoull(optarg, NULL, 10); break;
		default: return -1;
		}
	}
	if (!o->url || !o->pushers || o->pushers > 1024 || !o->pcs || o->reports < o->pushers)
		return -1;
	return split_urls(o);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct universe u;
	struct pusher *ps;
	struct kc_buf map = KC_BUF_INIT;
	struct kc_err err;
	char errbuf[CURL_ERROR_SIZE];
	double *lat, elapsed, t0;
	int failed = 0;
	CURL *curl;
	long st;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: bench-ingest --url URL[,URL...] [--ceiling-url URL] [--token T] [--pushers N] [--pcs K]\n"
				"                    [--reports R] [--seconds S] [--machine M] [--seed N] [--stream N]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&u, 0, sizeof(u));
	if (build_universe(&u, 42) < 0) {
		fprintf(stderr, "bench-ingest: out of memory\n");
		return 1;
	}
	/* The boot's address map, once (idempotent on kcovd). */
	if (encode_addrmap(&o, &map, &err) < 0) {
		fprintf(stderr, "bench-ingest: %s\n", err.msg);
		return 1;
	}
	curl = curl_easy_init();
	for (unsigned t = 0; t <= o.nurls; t++) {
		const char *base = t == o.nurls ? o.ceiling_url : o.urls[t];

		if (!base)
			continue;
		st = post(curl, &o, base, "/api/v1/boots", &map, errbuf);
		if (st < 200 || st > 299) {
			fprintf(stderr, "bench-ingest: POST %s/api/v1/boots: HTTP %ld %s\n", base, st,
				errbuf);
			return 1;
		}
	}
	curl_easy_cleanup(curl);
	kc_buf_release(&map);

	ps = calloc(o.pushers, sizeof(*ps));
	if (!ps) {
		fprintf(stderr, "bench-ingest: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < o.pushers; i++) {
		struct pusher *p = &ps[i];

		p->o = &o;
		p->u = &u;
		p->index = i;
		p->rng = (o.seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull +
			  o.stream * 0x94D049BB133111EBull) | 1;
		p->url = o.urls[i % o.nurls];
		p->nframes = o.reports / o.pushers + (i < o.reports % o.pushers);
		p->frames = calloc(p->nframes, sizeof(*p->frames));
		p->lat_ms = calloc(p->nframes, sizeof(*p->lat_ms));
		if (!p->frames || !p->lat_ms) {
			fprintf(stderr, "bench-ingest: out of memory\n");
			return 1;
		}
	}
	pthread_barrier_init(&start_barrier, NULL, o.pushers + 1);
	pthread_barrier_init(&end_barrier, NULL, o.pushers + 1);
	for (unsigned i = 0; i < o.pushers; i++)
		if (pthread_create(&ps[i].tid, NULL, pusher_main, &ps[i]) != 0) {
			fprintf(stderr, "bench-ingest: cannot start pusher %u\n", i);
			return 1;
		}
	lat = malloc((o.reports + 1) * sizeof(*lat));

	/* Phase 1: the server under test, each frame once. */
	deadline_s = now_s() + 1e9;
	pthread_barrier_wait(&start_barrier);
	t0 = now_s();
	deadline_s = t0 + o.seconds;
	pthread_barrier_wait(&end_barrier);
	elapsed = now_s() - t0;
	failed |= summarize("server", ps, &o, elapsed, lat);

	/* Phase 2: the ceiling, cycling the same frames for as long. */
	for (unsigned i = 0; i < o.pushers; i++) {
		ps[i].url = o.ceiling_url;
		ps[i].cycle = 1;
	}
	deadline_s = now_s() + 1e9;
	pthread_barrier_wait(&start_barrier);
	t0 = now_s();
	deadline_s = t0 + (elapsed < 1.0 ? 1.0 : elapsed);
	for (unsigned i = 0; i < o.pushers; i++)
		pthread_join(ps[i].tid, NULL);
	elapsed = now_s() - t0;
	if (o.ceiling_url)
		failed |= summarize("ceiling", ps, &o, elapsed, lat);

	for (unsigned i = 0; i < o.pushers; i++) {
		failed |= ps[i].encode_failed;
		for (size_t j = 0; j < ps[i].nframes; j++)
			kc_buf_release(&ps[i].frames[j]);
		free(ps[i].frames);
		free(ps[i].lat_ms);
	}
	free(ps);
	free(lat);
	free_universe(&u);
	for (unsigned i = 0; i < o.nurls; i++)
		free(o.urls[i]);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
