/*
 * test_wire.c - wire format v1: round trips, and rejection of truncated,
 * oversized, bomb-like and inconsistent frames with precise messages.
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
	(void)state;

	make_report(&a);
	assert_int_equal(kc_wire_encode_report(&a, &buf, &err), 0);
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

/* Frame an arbitrary raw payload, optionally lying about its length. */
static void frame_raw(struct kc_buf *out, uint16_t kind, const struct kc_buf *raw,
		      uint32_t declared)
{
	uLongf zlen = compressBound(raw->len);

	out->len = 0;
	kc_buf_add(out, "KCOV", 4);
	kc_buf_add_u16(out, 1);
	kc_buf_add_u16(out, kind);
	kc_buf_add_u32(out, declared);
	kc_buf_add_u32(out, (uint32_t)crc32(0, raw->data, (uInt)raw->len));
	assert_int_equal(kc_buf_grow(out, zlen), 0);
	assert_int_equal(compress2(out->data + out->len, &zlen, raw->data, raw->len, 9), Z_OK);
	out->len += zlen;
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
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_oversized_and_bombs),
		cmocka_unit_test(test_or_andnot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
