/*
 * fuzz_wire_payload.c - libFuzzer target for the payload grammar of wire
 * v1. The first input byte picks the kind (even: REPORT, odd: ADDRMAP);
 * the rest is an uncompressed payload that the harness frames correctly
 * (CRC, zlib), so mutations reach the field decoders and the CRoaring
 * bitmap validation instead of dying at the CRC check.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_buf frame;
	struct kc_err err;
	struct kc_report r;
	struct kc_addrmap m;

	if (size < 1)
		return 0;
	kc_buf_init(&frame);
	kc_err_clear(&err);
	if (kc_fuzz_frame(data[0] & 1 ? KC_MSG_ADDRMAP : KC_MSG_REPORT, data + 1, size - 1,
			  &frame, &err) < 0)
		goto out;
	if (data[0] & 1) {
		if (kc_wire_decode_addrmap(frame.data, frame.len, &m, &err) == 0) {
			kc_fuzz_check_addrmap(&m);
			kc_addrmap_release(&m);
		}
	} else if (kc_wire_decode_report(frame.data, frame.len, &r, &err) == 0) {
		kc_fuzz_check_report(&r);
		kc_report_release(&r);
	}
out:
	kc_buf_release(&frame);
	return 0;
}
