/*
 * fuzz_wire_v2.c - libFuzzer target for the REPORT payload of wire v2: the
 * input is an uncompressed payload that the harness frames as a valid v2
 * frame (CRC, zlib), so mutations reach the delta-list decoder (varint
 * length, overflow and shortest form, zero deltas, window end, declared
 * counts, leftover bytes). A payload that decodes must satisfy the report
 * invariants and survive v1 and v2 encode/decode round trips unchanged.
 * v2 payloads have one encoding only (canonical varints, no empty regions,
 * reserved bits zero), so encoding the decoded report as v2 must give back
 * the input: same payload length and CRC in the frame header.
 */
#include "fuzz.h"

#include <string.h>

#include <zlib.h>

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_buf frame, again;
	struct kc_err err;
	struct kc_report r;

	kc_buf_init(&frame);
	kc_buf_init(&again);
	kc_err_clear(&err);
	if (kc_fuzz_frame_v(2, KC_MSG_REPORT, data, size, &frame, &err) < 0)
		goto out;
	if (kc_wire_decode_report(frame.data, frame.len, &r, &err) < 0) {
		KC_FUZZ_ASSERT(err.msg[0]);
		goto out;
	}
	kc_fuzz_check_report(&r);
	KC_FUZZ_ASSERT(kc_wire_encode_report_v(&r, 2, &again, &err) == 0);
	KC_FUZZ_ASSERT(again.len > KC_WIRE_HDR_LEN && again.data[4] == 2);
	KC_FUZZ_ASSERT(le32(again.data + 8) == size);
	KC_FUZZ_ASSERT(le32(again.data + 12) == (uint32_t)crc32(0L, data, (uInt)size));
	kc_report_release(&r);
out:
	kc_buf_release(&again);
	kc_buf_release(&frame);
	return 0;
}
