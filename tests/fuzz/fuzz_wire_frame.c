/*
 * fuzz_wire_frame.c - libFuzzer target: the input is a complete wire frame
 * as it arrives in an HTTP body. Exercises the header checks (magic,
 * version, kind, declared length, decompression-bomb ratio), inflation and
 * CRC, then both payload decoders; a frame that decodes must satisfy the
 * report/address-map invariants and survive an encode/decode round trip.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_report r;
	struct kc_addrmap m;
	struct kc_err err;
	enum kc_msg_kind kind;

	kc_err_clear(&err);
	if (kc_wire_peek_kind(data, size, &kind, &err) < 0)
		KC_FUZZ_ASSERT(err.msg[0]);
	if (kc_wire_decode_report(data, size, &r, &err) == 0) {
		kc_fuzz_check_report(&r);
		kc_report_release(&r);
	} else {
		KC_FUZZ_ASSERT(err.msg[0]);
	}
	kc_err_clear(&err);
	if (kc_wire_decode_addrmap(data, size, &m, &err) == 0) {
		kc_fuzz_check_addrmap(&m);
		kc_addrmap_release(&m);
	} else {
		KC_FUZZ_ASSERT(err.msg[0]);
	}
	return 0;
}
