/*
 * fuzz.h - shared helpers of the libFuzzer targets in tests/fuzz/.
 *
 * Every target defines LLVMFuzzerTestOneInput(). It is linked either with
 * libFuzzer (tests/fuzz/run.sh, clang -fsanitize=fuzzer,address,undefined)
 * or with replay.c (ctest), which feeds it the committed seed corpus and
 * every crash input under tests/fuzz/regressions/.
 *
 * A target reports a broken invariant with KC_FUZZ_ASSERT, which prints the
 * condition and aborts: libFuzzer then saves the input as a crash.
 */
#ifndef KC_FUZZ_H
#define KC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "err.h"
#include "wire.h"

#define KC_FUZZ_ASSERT(c)                                                              \
	do {                                                                           \
		if (!(c)) {                                                            \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,      \
				__LINE__, #c);                                         \
			abort();                                                       \
		}                                                                      \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Wrap a raw payload into a valid frame of the given kind (header, CRC,
 * zlib stream) appended to out, so a target can fuzz the payload grammar
 * instead of the compressed bytes. */
int kc_fuzz_frame(enum kc_msg_kind kind, const uint8_t *payload, size_t n, struct kc_buf *out,
		  struct kc_err *err) KC_MUST_CHECK;
/* The same with the given frame version (kc_fuzz_frame writes v1). */
int kc_fuzz_frame_v(unsigned version, enum kc_msg_kind kind, const uint8_t *payload, size_t n,
		    struct kc_buf *out, struct kc_err *err) KC_MUST_CHECK;

/* Decoded-report invariants, and re-encode/decode round trips (as wire v1
 * and as v2) that must give the same report. Aborts on a violation. */
void kc_fuzz_check_report(const struct kc_report *r);
void kc_fuzz_check_addrmap(const struct kc_addrmap *m);

#endif
