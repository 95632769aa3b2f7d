/*
 * test_wire.c - wire formats v1 and v2: round trips (v2 over random,
 * clustered, empty, single-PC, window-edge and multi-window PC sets), and
 * rejection of truncated, oversized, bomb-like and inconsistent frames with
 * precise messages, including every way a v2 delta list can be corrupt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "wire.h"

static void make_report(struct kc_report *r)
{
	struct kc_err err;
	struct kc_run run;
	uint64_t pcs[] = { 0xffffffff81000105ull, 0xffffffff81000205ull, 0xffffffff81000105ull,
			   0xffffffffa0001005ull, 0x00007f0000001000ull };

	kc_report_init(r);
	snprintf(r->machine, sizeof(r->machine), "vm-17");
	snprintf(r->boot_id, sizeof(r->boot_id), "0f4c1b3e-1111-2222-3333-444455556666");
	snprintf(r->label, sizeof(r->label), "syzkaller");
	snprintf(r->release, sizeof(r->release), "6.1.0-kcov");
	for (int i = 0; i < KC_UPLOAD_ID_LEN; i++)
		r->upload_id[i] = (unsigned char)(i * 7);
	r->created_unix = 1790000000;
	assert_int_equal(kc_report_add_pcs(r, pcs, 5, &err), 0);
	memset(&run, 0, sizeof(run));
	snprintf(run.workload, sizeof(run.workload), "prog-1");
	run.mode = KC_MODE_UNIQUE;
	run.capacity_words = 1000;
	run.used_words = 4;
	run.bitmap_words = 4096;
	run.duration_us = 1234;
	run.npcs = 4;
	assert_int_equal(kc_report_add_run(r, &run, &err), 0);
	run.mode = KC_MODE_TRACE;
	run.bitmap_words = 0;
	run.used_words = run.capacity_words;
	run.overflowed = 1;
	run.exit_status = -1;
	assert_int_equal(kc_report_add_run(r, &run, &err), 0);
}

static void test_report_round_trip(void **state)
{
	struct kc_report a, b;
	struct kc_buf buf = KC_BUF_INIT;
	struct kc_err err;
	enum kc_msg_kind kind;
	(void)state;

	make_report(&a);
	assert_int_equal(kc_report_npcs(&a), 4);
	assert_int_equal(kc_wire_encode_report(&a, &buf, &err), 0);
	assert_int_equal(kc_wire_peek_kind(buf.data, buf.len, &kind, &err), 0);
	assert_int_equal(kind, KC_MSG_REPORT);
	assert_int_equal(kc_wire_decode_report(buf.data, buf.len, &b, &err), 0);
	assert_string_equal(b.machine, "vm-17");
	assert_string_equal(b.boot_id, a.boot_id);
	assert_string_equal(b.label, "syzkaller");
	assert_memory_equal(b.upload_id, a.upload_id, KC_UPLOAD_ID_LEN);
	assert_int_equal(b.created_unix, 1790000000);
	assert_int_equal(b.nruns, 2);
	assert_string_equal(b.runs[0].workload, "prog-1");
	assert_int_equal(b.runs[1].overflowed, 1);
	assert_int_equal(b.runs[1].exit_status, -1);
	assert_int_equal(b.nregions, 2);
	assert_int_equal(kc_report_npcs(&b), 4);
	assert_true(kc_report_has_pc(&b, 0xffffffffa0001005ull));
	assert_true(kc_report_has_pc(&b, 0x00007f0000001000ull));
	assert_false(kc_report_has_pc(&b, 0xffffffff81000106ull));
	kc_report_release(&a);
	kc_report_release(&b);
	kc_buf_release(&buf);
}

/* Many runs with empty workloads and no PCs (the smallest runs, 68 bytes
 * each) decode: the truncation bound must not assume longer runs. */
static void test_report_small_runs(void **state)
{
	struct kc_report a, b;
	struct kc_buf buf = KC_BUF_INIT;
	struct kc_err err;
	struct kc_run run;
	(void)state;

	kc_report_init(&a);
	snprintf(a.machine, sizeof(a.machine), "syz-1");
	snprintf(a.boot_id, sizeof(a.boot_id), "syz-0123456789abcdef");
	memset(&run, 0, sizeof(run));
	run.mode = KC_MODE_TRACE;
	run.capacity_words = 524287;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kc_report_add_run(&a, &run, &err), 0);
	assert_int_equal(kc_wire_encode_report(&a, &buf, &err), 0);
	assert_int_equal(kc_wire_decode_report(buf.data, buf.len, &b, &err), 0);
	assert_int_equal(b.nruns, 1000);
	assert_int_equal(b.nregions, 0);
	kc_report_release(&a);
	kc_report_release(&b);
	kc_buf_release(&buf);
}

static void test_addrmap_round_trip(void **state)
{
	struct kc_addrmap a, b;
	struct kc_buf buf = KC_BUF_INIT;
	struct kc_err err;
	(void)state;

	kc_addrmap_init(&a);
	snprintf(a.machine, sizeof(a.machine), "vm-1");
	snprintf(a.boot_id, sizeof(a.boot_id), "b00t");
	snprintf(a.build_id, sizeof(a.build_id), "abcdef0123");
	a.text_start = 0xffffffff9a000000ull;
	a.text_end = a.text_start + 0x1000000;
	a.link_text = 0xffffffff81000000ull;
	a.modules = calloc(1, sizeof(*a.modules));
	a.nmodules = 1;
	snprintf(a.modules[0].name, sizeof(a.modules[0].name), "kcov_test");
	a.modules[0].core_base = 0xffffffffc0000000ull;
	a.modules[0].core_size = 16384;
	a.modules[0].text_addr = 0xffffffffc0001000ull;
	assert_int_equal(kc_wire_encode_addrmap(&a, &buf, &err), 0);
	assert_int_equal(kc_wire_decode_addrmap(buf.data, buf.len, &b, &err), 0);
	assert_int_equal(b.nmodules, 1);
	assert_string_equal(b.modules[0].name, "kcov_test");
	assert_int_equal(b.modules[0].text_addr, 0xffffffffc0001000ull);
	assert_int_equal(b.text_start, a.text_start);
	/* A report decoder refuses an address map. */
	{
		struct kc_report r;

		assert_int_equal(kc_wire_decode_report(buf.data, buf.len, &r, &err), -1);
		assert_non_null(strstr(err.msg, "expected message kind"));
	}
	kc_addrmap_release(&a);
	kc_addrmap_release(&b);
	kc_buf_release(&buf);
}

static void test_truncated(void **state)
{
	struct kc_report a, b;
	struct kc_buf buf = KC_BUF_INIT;
	struct kc_err err;
	unsigned version = (unsigned)(uintptr_t)*state;

	make_report(&a);
	assert_int_equal(kc_wire_encode_report_v(&a, version, &buf, &err), 0);
	assert_int_equal(buf.data[4], version);
	assert_int_equal(kc_wire_decode_report(buf.data, buf.len, &b, &err), 0);
	kc_report_release(&b);
	for (size_t len = 0; len < buf.len; len++) {
		assert_int_equal(kc_wire_decode_report(buf.data, len, &b, &err), -1);
		assert_true(err.msg[0] != '\0');
	}
	/* Flipping any byte of the compressed part is caught (zlib or CRC). */
	for (size_t i = KC_WIRE_HDR_LEN; i < buf.len; i++) {
		buf.data[i] ^= 0x55;
		assert_int_equal(kc_wire_decode_report(buf.data, buf.len, &b, &err), -1);
		buf.data[i] ^= 0x55;
	}
	kc_report_release(&a);
	kc_buf_release(&buf);
}

/* Frame an arbitrary raw payload as the given wire version, optionally
 * lying about its length. */
static void frame_raw_v(struct kc_buf *out, uint16_t version, uint16_t kind,
			const struct kc_buf *raw, uint32_t declared)
{
	uLongf zlen = compressBound(raw->len);

	out->len = 0;
	kc_buf_add(out, "KCOV", 4);
	kc_buf_add_u16(out, version);
	kc_buf_add_u16(out, kind);
	kc_buf_add_u32(out, declared);
	kc_buf_add_u32(out, (uint32_t)crc32(0, raw->data, (uInt)raw->len));
	assert_int_equal(kc_buf_grow(out, zlen), 0);
	assert_int_equal(compress2(out->data + out->len, &zlen, raw->data, raw->len, 9), Z_OK);
	out->len += zlen;
}

static void frame_raw(struct kc_buf *out, uint16_t kind, const struct kc_buf *raw,
		      uint32_t declared)
{
	frame_raw_v(out, 1, kind, raw, declared);
}

static void expect_reject(const struct kc_buf *frame, const char *needle)
{
	struct kc_report r;
	struct kc_err err;

	kc_err_clear(&err);
	assert_int_equal(kc_wire_decode_report(frame->data, frame->len, &r, &err), -1);
	if (!strstr(err.msg, needle))
		fail_msg("expected '%s' in '%s'", needle, err.msg);
}

static void header_fields(struct kc_buf *raw, uint32_t nruns)
{
	raw->len = 0;
	kc_buf_add_str(raw, "vm");
	kc_buf_add_str(raw, "boot");
	kc_buf_add(raw, "0123456789abcdef", 16);
	kc_buf_add_str(raw, "");
	kc_buf_add_str(raw, "6.1");
	kc_buf_add_u64(raw, 1);
	kc_buf_add_u32(raw, nruns);
}

static void add_run(struct kc_buf *raw, uint8_t mode, uint8_t flags, uint64_t cap, uint64_t used,
		    uint64_t bitmap)
{
	kc_buf_add_str(raw, "w");
	kc_buf_add_u8(raw, mode);
	kc_buf_add_u8(raw, flags);
	kc_buf_add_u16(raw, 0);
	kc_buf_add_u64(raw, cap);
	kc_buf_add_u64(raw, used);
	kc_buf_add_u64(raw, bitmap);
	kc_buf_add_u64(raw, 0);
	kc_buf_add_u64(raw, 0);
	kc_buf_add_u64(raw, 10);
	kc_buf_add_u32(raw, 0);
	kc_buf_add_u64(raw, 0);
}

static void add_region(struct kc_buf *raw, uint64_t base, const uint32_t *vals, size_t n)
{
	roaring_bitmap_t *b = roaring_bitmap_of_ptr(n, vals);
	size_t len = roaring_bitmap_portable_size_in_bytes(b);

	kc_buf_add_u64(raw, base);
	kc_buf_add_u32(raw, (uint32_t)len);
	assert_int_equal(kc_buf_grow(raw, len), 0);
	raw->len += roaring_bitmap_portable_serialize(b, (char *)raw->data + raw->len);
	roaring_bitmap_free(b);
}

static void test_inconsistent(void **state)
{
	struct kc_buf raw = KC_BUF_INIT, fr = KC_BUF_INIT;
	uint32_t vals[] = { 5, 9, 100 };
	(void)state;

	/* used > capacity */
	header_fields(&raw, 1);
	add_run(&raw, KC_MODE_TRACE, 0, 10, 11, 0);
	kc_buf_add_u32(&raw, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "exceed capacity");
	/* overflowed but not full */
	header_fields(&raw, 1);
	add_run(&raw, KC_MODE_TRACE, 1, 10, 3, 0);
	kc_buf_add_u32(&raw, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "not full");
	/* unique mode without a bitmap */
	header_fields(&raw, 1);
	add_run(&raw, KC_MODE_UNIQUE, 0, 10, 3, 0);
	kc_buf_add_u32(&raw, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "inconsistent with mode");
	/* unknown mode */
	header_fields(&raw, 1);
	add_run(&raw, 7, 0, 10, 3, 0);
	kc_buf_add_u32(&raw, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "unknown mode");
	/* run count larger than the payload can hold */
	header_fields(&raw, 900000);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "cannot fit");
	/* unaligned region base */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region(&raw, 0xffffffff00001000ull, vals, 3);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "not 4 GiB aligned");
	/* bases out of order */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 2);
	add_region(&raw, 0xffffffff00000000ull, vals, 3);
	add_region(&raw, 0x0000000100000000ull, vals, 3);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "strictly increasing");
	/* empty bitmap */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region(&raw, 0, vals, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "empty bitmap");
	/* garbage bitmap bytes */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	kc_buf_add_u64(&raw, 0);
	kc_buf_add_u32(&raw, 8);
	kc_buf_add(&raw, "\x3b\x30\x00\x00\xff\xff\xff\xff", 8);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "bitmap");
	/* trailing bytes after the regions */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 0);
	kc_buf_add_u8(&raw, 0);
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "unexpected bytes");
	/* control character in the machine name */
	raw.len = 0;
	kc_buf_add_str(&raw, "v\nm");
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "control characters");
	kc_buf_release(&raw);
	kc_buf_release(&fr);
}

static void test_oversized_and_bombs(void **state)
{
	struct kc_buf raw = KC_BUF_INIT, fr = KC_BUF_INIT;
	struct kc_report r;
	struct kc_err err;
	(void)state;

	/* A payload of 8 MiB of zeros compresses ~1000:1: over the ratio cap. */
	assert_int_equal(kc_buf_grow(&raw, 8u << 20), 0);
	memset(raw.data, 0, 8u << 20);
	raw.len = 8u << 20;
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "decompression bomb");
	/* Declaring less than the stream inflates to is caught while inflating. */
	raw.len = 64 << 10;
	frame_raw(&fr, 1, &raw, 1000);
	expect_reject(&fr, "more than the declared");
	/* Declaring more than the limit. */
	frame_raw(&fr, 1, &raw, KC_WIRE_MAX_RAW + 1);
	expect_reject(&fr, "exceeds the");
	/* A body over the frame limit is refused before anything else. */
	assert_int_equal(kc_wire_decode_report(fr.data, KC_WIRE_MAX_BODY + 1, &r, &err), -1);
	assert_non_null(strstr(err.msg, "exceeds"));
	/* Bad magic, version and kind. */
	frame_raw(&fr, 1, &raw, (uint32_t)raw.len);
	fr.data[0] = 'X';
	expect_reject(&fr, "magic");
	fr.data[0] = 'K';
	fr.data[4] = 9;
	expect_reject(&fr, "unsupported wire version");
	fr.data[4] = 1;
	fr.data[6] = 9;
	expect_reject(&fr, "unknown message kind");
	kc_buf_release(&raw);
	kc_buf_release(&fr);
}

/* Encode pcs as v1 and v2; both must decode to exactly the same PC set, and
 * for a thousand PCs or more the v2 frame must be the smaller one. */
static void round_trip_v2(const uint64_t *pcs, size_t n, uint32_t want_regions)
{
	struct kc_report a, b1, b2;
	struct kc_buf f1 = KC_BUF_INIT, f2 = KC_BUF_INIT;
	struct kc_err err;
	enum kc_msg_kind kind;
	unsigned version;

	make_report(&a);
	kc_report_clear_pcs(&a);
	assert_int_equal(kc_report_add_pcs(&a, pcs, n, &err), 0);
	assert_int_equal(kc_wire_encode_report_v(&a, 2, &f2, &err), 0);
	assert_int_equal(kc_wire_encode_report_v(&a, 1, &f1, &err), 0);
	assert_int_equal(kc_wire_peek(f2.data, f2.len, &kind, &version, &err), 0);
	assert_int_equal(kind, KC_MSG_REPORT);
	assert_int_equal(version, 2);
	assert_int_equal(kc_wire_peek(f1.data, f1.len, &kind, &version, &err), 0);
	assert_int_equal(version, 1);
	if (kc_wire_decode_report(f2.data, f2.len, &b2, &err) < 0)
		fail_msg("v2 decode: %s", err.msg);
	assert_int_equal(kc_wire_decode_report(f1.data, f1.len, &b1, &err), 0);
	assert_int_equal(b2.nregions, want_regions);
	assert_int_equal(b1.nregions, want_regions);
	assert_int_equal(kc_report_npcs(&b2), kc_report_npcs(&a));
	for (uint32_t i = 0; i < b2.nregions; i++) {
		assert_int_equal(b2.regions[i].base, b1.regions[i].base);
		assert_true(roaring_bitmap_equals(b2.regions[i].bits, b1.regions[i].bits));
	}
	for (size_t i = 0; i < n; i++)
		assert_true(kc_report_has_pc(&b2, pcs[i]));
	if (n >= 1000 && f2.len >= f1.len)
		fail_msg("v2 frame of %zu bytes is not smaller than v1's %zu", f2.len, f1.len);
	assert_int_equal(b2.nruns, 2);
	assert_string_equal(b2.runs[0].workload, "prog-1");
	assert_memory_equal(b2.upload_id, a.upload_id, KC_UPLOAD_ID_LEN);
	kc_report_release(&a);
	kc_report_release(&b1);
	kc_report_release(&b2);
	kc_buf_release(&f1);
	kc_buf_release(&f2);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_v2_round_trips(void **state)
{
	enum { N = 20000 };
	uint64_t *pcs = malloc(N * sizeof(*pcs)), s = 42, pc = 0xffffffff81000000ull;
	size_t n = 0;
	uint64_t edge[] = { 0xffffffff00000000ull, 0xffffffffffffffffull };
	uint64_t one[] = { 0xffffffff81234567ull };
	uint64_t multi[] = { 0x0ull, 0x1ull, 0xffffffffull, 0x100000000ull, 0x7f00001000ull,
			     0xffffffffa0001005ull, 0xffffffff81000105ull, 0xfffffffe00000007ull };
	(void)state;

	assert_non_null(pcs);
	/* random: uniform over 256 MiB of one window (duplicates collapse) */
	for (n = 0; n < N; n++)
		pcs[n] = 0xffffffff80000000ull + (rnd(&s) & 0x0fffffff);
	round_trip_v2(pcs, N, 1);
	/* clustered: runs of neighbours a few bytes apart, large gaps between */
	for (n = 0; n < N; n++) {
		pc += (rnd(&s) % 16 == 0) ? 4096 + rnd(&s) % 65536 : 5 + rnd(&s) % 20;
		pcs[n] = pc;
	}
	round_trip_v2(pcs, N, 1);
	round_trip_v2(pcs, 0, 0);      /* empty: no region at all */
	round_trip_v2(one, 1, 1);      /* single PC */
	round_trip_v2(edge, 2, 1);     /* both ends of a window: delta 2^32 - 1 */
	round_trip_v2(multi, 8, 5);    /* five windows, given out of order */
	free(pcs);
}

/* A v2 region: base, declared PC count, then the raw delta bytes. */
static void add_region_v2(struct kc_buf *raw, uint64_t base, uint32_t npcs, const char *bytes,
			  uint32_t nbytes)
{
	kc_buf_add_u64(raw, base);
	kc_buf_add_u32(raw, npcs);
	kc_buf_add_u32(raw, nbytes);
	kc_buf_add(raw, bytes, nbytes);
}

/* A v2 report with no runs and one region, which must be refused with a
 * message containing needle. */
static void expect_reject_v2(uint64_t base, uint32_t npcs, const char *bytes, uint32_t nbytes,
			     const char *needle)
{
	struct kc_buf raw = KC_BUF_INIT, fr = KC_BUF_INIT;

	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region_v2(&raw, base, npcs, bytes, nbytes);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, needle);
	kc_buf_release(&raw);
	kc_buf_release(&fr);
}

static void test_v2_corrupt(void **state)
{
	struct kc_buf raw = KC_BUF_INIT, fr = KC_BUF_INIT;
	struct kc_report r;
	struct kc_err err;
	(void)state;

	/* The hand-made framing is right: a well-formed region decodes. */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region_v2(&raw, 0xffffffff00000000ull, 3, "\x05\x04\x80\x01", 4);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	assert_int_equal(kc_wire_decode_report(fr.data, fr.len, &r, &err), 0);
	assert_int_equal(kc_report_npcs(&r), 3);
	assert_true(kc_report_has_pc(&r, 0xffffffff00000089ull)); /* 5 + 4 + 128 */
	kc_report_release(&r);
	/* non-increasing: a zero delta after the first PC */
	expect_reject_v2(0, 2, "\x05\x00", 2, "not above the previous one");
	/* varint longer than 5 bytes */
	expect_reject_v2(0, 1, "\x80\x80\x80\x80\x80\x01", 6, "longer than 5 bytes");
	expect_reject_v2(0, 1, "\x80\x80\x80\x80\x80", 5, "longer than 5 bytes");
	/* varint above 32 bits */
	expect_reject_v2(0, 1, "\xff\xff\xff\xff\x1f", 5, "overflows 32 bits");
	/* overlong (non-canonical) varint */
	expect_reject_v2(0, 1, "\x85\x00", 2, "shortest form");
	/* varint cut short by the region's length */
	expect_reject_v2(0, 1, "\x85", 1, "cut short");
	/* declared count larger than the varints present */
	expect_reject_v2(0, 3, "\x05\x81\x01", 3, "cut short");
	/* declared count larger than the bytes could ever hold */
	expect_reject_v2(0, 3, "\x05\x06", 2, "cannot fit");
	/* declared count smaller than the varints present */
	expect_reject_v2(0, 1, "\x05\x06", 2, "bytes left after");
	/* no PCs */
	expect_reject_v2(0, 0, "\x05", 1, "no PCs");
	/* a PC past the end of its 4 GiB window */
	expect_reject_v2(0xffffffff00000000ull, 2, "\xff\xff\xff\xff\x0f\x01", 6,
			 "outside the region's 4 GiB window");
	/* unaligned base */
	expect_reject_v2(0xffffffff00001000ull, 1, "\x05", 1, "not 4 GiB aligned");
	/* region length beyond the payload */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	kc_buf_add_u64(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	kc_buf_add_u32(&raw, 100);
	kc_buf_add_u8(&raw, 5);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "region deltas needs 100 bytes");
	/* bases out of order */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 2);
	add_region_v2(&raw, 0x100000000ull, 1, "\x05", 1);
	add_region_v2(&raw, 0, 1, "\x05", 1);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "strictly increasing");
	/* region count larger than the payload can hold (16 bytes a region) */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 2);
	add_region_v2(&raw, 0, 1, "\x05", 1);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "cannot fit");
	/* trailing bytes after the regions */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region_v2(&raw, 0, 1, "\x05", 1);
	kc_buf_add_u8(&raw, 0);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "unexpected bytes");
	/* a v1 bitmap in a v2 frame is not a delta list */
	header_fields(&raw, 0);
	kc_buf_add_u32(&raw, 1);
	add_region(&raw, 0, (const uint32_t[]){ 5, 9, 100 }, 3);
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "region 0");
	/* bombs, unknown versions and v2 address maps are refused */
	assert_int_equal(kc_buf_grow(&raw, 8u << 20), 0);
	memset(raw.data, 0, 8u << 20);
	raw.len = 8u << 20;
	frame_raw_v(&fr, 2, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "decompression bomb");
	raw.len = 64;
	frame_raw_v(&fr, 3, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "unsupported wire version 3");
	frame_raw_v(&fr, 0, 1, &raw, (uint32_t)raw.len);
	expect_reject(&fr, "unsupported wire version 0");
	frame_raw_v(&fr, 2, 2, &raw, (uint32_t)raw.len);
	{
		struct kc_addrmap m;

		assert_int_equal(kc_wire_decode_addrmap(fr.data, fr.len, &m, &err), -1);
		assert_non_null(strstr(err.msg, "address maps are wire version 1"));
	}
	assert_int_equal(kc_wire_encode_report_v(&r, 3, &fr, &err), -1);
	assert_non_null(strstr(err.msg, "cannot encode wire version 3"));
	/* More PCs than a v2 payload has bytes (cheap as v1 run containers):
	 * refused up front, while v1 still encodes them. */
	{
		uint64_t pc = 0xffffffff00000000ull;

		kc_report_init(&r);
		assert_int_equal(kc_report_add_pcs(&r, &pc, 1, &err), 0);
		roaring_bitmap_add_range_closed(r.regions[0].bits, 0, KC_WIRE_MAX_RAW);
		fr.len = 0;
		assert_int_equal(kc_wire_encode_report_v(&r, 2, &fr, &err), -1);
		assert_non_null(strstr(err.msg, "cannot fit in a v2 payload"));
		assert_int_equal(kc_wire_encode_report_v(&r, 1, &fr, &err), 0);
		kc_report_release(&r);
	}
	kc_buf_release(&raw);
	kc_buf_release(&fr);
}

static void test_or_andnot(void **state)
{
	struct kc_report a, b;
	struct kc_err err;
	uint64_t x[] = { 0xffffffff81000010ull, 0xffffffff81000020ull };
	uint64_t y[] = { 0xffffffff81000020ull, 0x10ull };
	(void)state;

	kc_report_init(&a);
	kc_report_init(&b);
	assert_int_equal(kc_report_add_pcs(&a, x, 2, &err), 0);
	assert_int_equal(kc_report_add_pcs(&b, y, 2, &err), 0);
	kc_report_andnot(&a, &b);
	assert_int_equal(kc_report_npcs(&a), 1);
	assert_int_equal(kc_report_or(&a, &b, &err), 0);
	assert_int_equal(kc_report_npcs(&a), 3);
	kc_report_clear_pcs(&a);
	assert_int_equal(kc_report_npcs(&a), 0);
	kc_report_release(&a);
	kc_report_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_round_trip),
		cmocka_unit_test(test_report_small_runs),
		cmocka_unit_test(test_addrmap_round_trip),
		cmocka_unit_test_prestate(test_truncated, (void *)1),
		cmocka_unit_test_prestate(test_truncated, (void *)2),
		cmocka_unit_test(test_v2_round_trips),
		cmocka_unit_test(test_v2_corrupt),
		cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_oversized_and_bombs),
		cmocka_unit_test(test_or_andnot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
