/*
 * wire.c - wire-format figures for bench/run: bytes per PC of REPORT frames
 * (common/wire.c, v1 and v2) against 8 raw bytes per PC and against the
 * information bound log2(C(N, k)) / k bits per PC (naming k covered points
 * out of the N points of the build), and encode/decode throughput.
 *
 *   bench-wire synth                synthetic reports over 1M points;
 *                                   prints markdown table rows
 *   bench-wire frames N FILE...     real report frames (a collector spool),
 *                                   N = coverage points of their build;
 *                                   prints one markdown table row
 *   bench-wire speed [SECONDS]      encode/decode MB/s and PCs/s of a 50k-PC
 *                                   report; prints markdown table rows
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "fileio.h"
#include "pcgen.h"
#include "wire.h"

#define LINK_TEXT 0xffffffff81000000ull
#define NPOINTS 1000000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A one-run report of the given PCs, as the collector would build it. */
static int make_report(struct kc_report *r, const uint64_t *pcs, size_t n, uint64_t *rng,
		       struct kc_err *err)
{
	struct kc_run run;

	kc_report_init(r);
	snprintf(r->machine, sizeof(r->machine), "ci-vm-01.example.org");
	snprintf(r->boot_id, sizeof(r->boot_id), "11111111-aaaa-4bbb-8ccc-000000000001");
	for (int i = 0; i < KC_UPLOAD_ID_LEN; i += 8) {
		uint64_t v = bench_rand(rng);

		memcpy(r->upload_id + i, &v, 8);
	}
	snprintf(r->label, sizeof(r->label), "syzkaller");
	snprintf(r->release, sizeof(r->release), "6.1.0-kcov");
	r->created_unix = 1795322304;
	memset(&run, 0, sizeof(run));
	snprintf(run.workload, sizeof(run.workload), "prog-000123");
	run.mode = KC_MODE_UNIQUE;
	run.capacity_words = 1u << 20;
	run.used_words = n;
	run.bitmap_words = 1u << 16;
	run.duration_us = 12345;
	run.npcs = n;
	if (kc_report_add_pcs(r, pcs, n, err) < 0 || kc_report_add_run(r, &run, err) < 0) {
		kc_report_release(r);
		return -1;
	}
	return 0;
}

/* The peer encoding, for comparison only (not wire v1): sorted PCs as
 * LEB128 varints of their deltas, zlib level 6. Returns compressed bytes. */
static size_t delta_varint_zlib(const uint64_t *pcs, size_t n)
{
	struct kc_buf raw = KC_BUF_INIT;
	uint64_t prev = 0;
	uLongf zlen;
	unsigned char *z;

	for (size_t i = 0; i < n; i++) {
		uint64_t d = pcs[i] - prev;

		prev = pcs[i];
		do {
			kc_buf_add_u8(&raw, (uint8_t)((d & 0x7f) | (d > 0x7f ? 0x80 : 0)));
			d >>= 7;
		} while (d);
	}
	zlen = compressBound(raw.len);
	z = malloc(zlen);
	if (!z || compress2(z, &zlen, raw.data, raw.len, 6) != Z_OK)
		zlen = 0;
	free(z);
	kc_buf_release(&raw);
	return zlen;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The order-0 empirical entropy of the deltas of the sorted pcs[0..n), in
 * bits per PC: what any coder spends that codes each delta alone, knowing
 * only how often each value occurs (v2's LEB128 + Huffman is such a coder;
 * the information bound also knows the build's points). 0 when n < 2. */
static double delta_entropy(const uint64_t *pcs, size_t n)
{
	uint64_t *d = n > 1 ? malloc((n - 1) * sizeof(*d)) : NULL;
	double h = 0;

	if (!d)
		return 0;
	for (size_t i = 1; i < n; i++)
		d[i - 1] = pcs[i] - pcs[i - 1];
	qsort(d, n - 1, sizeof(*d), cmp_u64);
	for (size_t i = 0, j; i < n - 1; i = j) {
		double p;

		for (j = i; j < n - 1 && d[j] == d[i]; j++)
			;
		p = (double)(j - i) / (double)(n - 1);
		h -= p * log2(p);
	}
	free(d);
	return h * (double)(n - 1) / (double)n;
}

/* Size of r as a v2 frame, or 0 when it cannot be encoded (err says why). */
static size_t v2_bytes(const struct kc_report *r, struct kc_err *err)
{
	struct kc_buf frame = KC_BUF_INIT;
	size_t n = 0;

	if (kc_wire_encode_report_v(r, 2, &frame, err) == 0)
		n = frame.len;
	kc_buf_release(&frame);
	return n;
}

/* One table row: v1 frame bytes, the bound, the peer, the v2 frame and
 * the deltas' order-0 entropy in bits per PC (not shown when 0). */
static void row(const char *what, uint64_t n, uint64_t k, size_t bytes, size_t peer, size_t v2,
		double h0)
{
	double bpp = (double)bytes / (double)k;
	double bound_bits = bench_log2_binom(n, k) / (double)k;

	printf("| %s | %llu | %llu | %zu | %.3f | %.3f | %.2f | %.2f |", what,
	       (unsigned long long)k, (unsigned long long)n, bytes, bpp, bound_bits / 8.0,
	       bpp / 8.0, bpp * 8.0 / bound_bits);
	if (peer)
		printf(" %.3f (%.2f x bound) |", (double)peer / (double)k,
		       (double)peer * 8.0 / (double)k / bound_bits);
	else
		printf(" – |");
	printf(" %zu | %.3f | %.2f |", v2, (double)v2 / (double)k,
	       (double)v2 * 8.0 / (double)k / bound_bits);
	if (h0 > 0)
		printf(" %.3f (%.2f x bound) | %.2f |\n", h0 / 8.0, h0 / bound_bits,
		       (double)v2 * 8.0 / (double)k / h0);
	else
		printf(" – | – |\n");
}

static int cmd_synth(void)
{
	static const size_t ks[] = { 100, 1000, 10000, 50000, 200000 };
	uint64_t rng = 0x5eed, *pts, *pick;
	struct kc_err err;

	pts = bench_points_synth(LINK_TEXT, NPOINTS, 14.0, &rng);
	pick = malloc(NPOINTS * sizeof(*pick));
	if (!pts || !pick)
		return 1;
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		for (int uniform = 0; uniform < 2; uniform++) {
			struct kc_report r;
			struct kc_buf frame = KC_BUF_INIT;
			char what[128];
			size_t k = ks[i], n = 0;

			if (uniform) {
				/* unclustered: every point equally likely */
				if (k != 10000)
					continue;
				for (size_t j = 0; j < NPOINTS && n < k; j++)
					if (bench_rand(&rng) % (NPOINTS - j) < k - n)
						pick[n++] = pts[j];
			} else {
				n = bench_pick_clustered(pts, NPOINTS, k, &rng, pick);
			}
			size_t v2;

			if (n == (size_t)-1 || make_report(&r, pick, n, &rng, &err) < 0 ||
			    kc_wire_encode_report(&r, &frame, &err) < 0 ||
			    (v2 = v2_bytes(&r, &err)) == 0) {
				fprintf(stderr, "bench-wire: %s\n", err.msg);
				return 1;
			}
			snprintf(what, sizeof(what), "synthetic, %s", uniform ? "uniform (no clustering)" : "clustered");
			row(what, NPOINTS, n, frame.len, delta_varint_zlib(pick, n), v2,
			    delta_entropy(pick, n));
			kc_report_release(&r);
			kc_buf_release(&frame);
		}
	}
	free(pts);
	free(pick);
	return 0;
}

static int cmd_frames(uint64_t npoints, int nfiles, char **files)
{
	uint64_t pcs = 0, reports = 0;
	size_t bytes = 0, peer = 0, v2 = 0;
	double hbits = 0;
	struct kc_err err;
	char what[128];

	for (int i = 0; i < nfiles; i++) {
		struct kc_buf b = KC_BUF_INIT;
		struct kc_report r;
		uint64_t n, *v;
		size_t n2 = 0;

		kc_report_init(&r);
		if (kc_read_file(files[i], KC_WIRE_MAX_BODY, &b, &err) < 0 ||
		    kc_wire_decode_report(b.data, b.len, &r, &err) < 0 ||
		    (n2 = v2_bytes(&r, &err)) == 0) {
			fprintf(stderr, "bench-wire: %s: %s\n", files[i], err.msg);
			kc_report_release(&r);
			kc_buf_release(&b);
			return 1;
		}
		v2 += n2;
		n = kc_report_npcs(&r);
		v = malloc((n ? n : 1) * sizeof(*v));
		if (!v)
			return 1;
		/* Regions are sorted by base, so the PCs come out sorted. */
		for (uint32_t g = 0, j = 0; g < r.nregions; g++) {
			roaring_uint32_iterator_t *it = roaring_create_iterator(r.regions[g].bits);

			for (; it->has_value; roaring_advance_uint32_iterator(it))
				v[j++] = r.regions[g].base + it->current_value;
			roaring_free_uint32_iterator(it);
		}
		peer += delta_varint_zlib(v, n);
		hbits += delta_entropy(v, n) * (double)n;
		free(v);
		pcs += n;
		bytes += b.len;
		reports++;
		kc_report_release(&r);
		kc_buf_release(&b);
	}
	if (!reports || !pcs) {
		fprintf(stderr, "bench-wire: no PCs in the frames\n");
		return 1;
	}
	snprintf(what, sizeof(what), "KCOV stand-in, %llu real reports (mean per report)",
		 (unsigned long long)reports);
	row(what, npoints, pcs / reports, bytes / reports, peer / reports, v2 / reports,
	    hbits / (double)pcs);
	return 0;
}

/* Encode and decode throughput of one report as the given wire version. */
static int speed_rows(unsigned version, const uint64_t *pick, size_t n, double seconds,
		      uint64_t *rng)
{
	size_t frames = 0, decodes = 0, raw_len = 0;
	struct kc_buf frame = KC_BUF_INIT;
	struct kc_err err;
	double t0, enc_s, dec_s;
	int ret = 1;

	/* Encode: PCs -> bitmap -> frame, as the collector does per report. */
	t0 = now_s();
	do {
		struct kc_report r;

		kc_buf_release(&frame);
		if (make_report(&r, pick, n, rng, &err) < 0 ||
		    kc_wire_encode_report_v(&r, version, &frame, &err) < 0) {
			fprintf(stderr, "bench-wire: %s\n", err.msg);
			goto out;
		}
		kc_report_release(&r);
		frames++;
	} while ((enc_s = now_s() - t0) < seconds);
	/* Decode: frame -> validated bitmaps, as kcovd does per request. */
	t0 = now_s();
	do {
		struct kc_report r;

		if (kc_wire_decode_report(frame.data, frame.len, &r, &err) < 0) {
			fprintf(stderr, "bench-wire: decode: %s\n", err.msg);
			goto out;
		}
		kc_report_release(&r);
		decodes++;
	} while ((dec_s = now_s() - t0) < seconds);
	memcpy(&raw_len, frame.data + 8, 4); /* declared payload length (LE host) */
	raw_len &= 0xffffffffu;
	printf("| v%u encode (PCs -> bitmap -> zlib frame) | %zu | %.1f | %.1f | %.2f M |\n",
	       version, n, (double)frames * (double)frame.len / enc_s / 1e6,
	       (double)frames * (double)raw_len / enc_s / 1e6,
	       (double)frames * (double)n / enc_s / 1e6);
	printf("| v%u decode (frame -> validated bitmaps) | %zu | %.1f | %.1f | %.2f M |\n",
	       version, n, (double)decodes * (double)frame.len / dec_s / 1e6,
	       (double)decodes * (double)raw_len / dec_s / 1e6,
	       (double)decodes * (double)n / dec_s / 1e6);
	ret = 0;
out:
	kc_buf_release(&frame);
	return ret;
}

static int cmd_speed(double seconds)
{
	uint64_t rng = 0x5eed, *pts, *pick;
	size_t k = 50000, n;
	int ret = 1;

	pts = bench_points_synth(LINK_TEXT, NPOINTS, 14.0, &rng);
	pick = malloc(k * sizeof(*pick));
	if (!pts || !pick)
		goto out;
	n = bench_pick_clustered(pts, NPOINTS, k, &rng, pick);
	if (n == (size_t)-1)
		goto out;
	ret = speed_rows(1, pick, n, seconds, &rng) || speed_rows(2, pick, n, seconds, &rng);
out:
	free(pts);
	free(pick);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "synth") == 0)
		return cmd_synth();
	if (argc >= 4 && strcmp(argv[1], "frames") == 0)
		return cmd_frames(strtoull(argv[2], NULL, 10), argc - 3, argv + 3);
	if (argc >= 2 && strcmp(argv[1], "speed") == 0)
		return cmd_speed(argc >= 3 ? strtod(argv[2], NULL) : 2.0);
	fprintf(stderr, "usage: bench-wire synth | frames N FILE... | speed [SECONDS]\n");
	return 2;
}
