/*
 * fuzz_ingest.c - libFuzzer target for what POST /api/v1/reports does with
 * an untrusted body before the writer sees it: kc_wire_decode_report() then
 * kc_canon_report() against a fixed boot (the stand-in kernel: KASLR
 * 0x1e000000, vmlinux text 32 MiB, two modules). The input is the raw
 * REPORT payload, framed by the harness. Checks that every PC is placed
 * exactly once (known + unknown = PCs in the report) and that each
 * canonical offset lies inside its binary.
 */
#include "canon.h"
#include "fuzz.h"

#define LINK_TEXT 0xffffffff81000000ull
#define KASLR 0x1e000000ull
#define TEXT_SIZE 0x2000000ull

static struct kc_canon_module mods[2] = {
	{ 2, 0xffffffffc0010000ull, 65536, 0xffffffffc0011000ull },
	{ 3, 0xffffffffc0040000ull, 32768, 0xffffffffc0040800ull },
};

static const struct kc_canon_boot boot = {
	.boot = 1, .machine = 1, .build = 1, .vmlinux = 1,
	.link_text = LINK_TEXT,
	.text_start = LINK_TEXT + KASLR,
	.text_end = LINK_TEXT + KASLR + TEXT_SIZE,
	.nmodules = 2,
	.modules = mods,
};

static uint64_t limit_of(int64_t binary)
{
	for (int i = 0; i < 2; i++)
		if (mods[i].binary == binary)
			return mods[i].core_base + mods[i].core_size - mods[i].text_addr;
	KC_FUZZ_ASSERT(binary == boot.vmlinux);
	return TEXT_SIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_buf frame;
	struct kc_err err;
	struct kc_report r;
	struct kc_canon_result res;
	uint64_t placed = 0;

	kc_buf_init(&frame);
	kc_err_clear(&err);
	if (kc_fuzz_frame(KC_MSG_REPORT, data, size, &frame, &err) < 0 ||
	    kc_wire_decode_report(frame.data, frame.len, &r, &err) < 0)
		goto out;
	if (kc_canon_report(&boot, &r, &res, &err) == 0) {
		KC_FUZZ_ASSERT(res.known + res.unknown == kc_report_npcs(&r));
		for (uint32_t i = 0; i < res.nparts; i++) {
			uint64_t lim = limit_of(res.parts[i].binary);

			for (uint32_t j = 0; j < i; j++)
				KC_FUZZ_ASSERT(res.parts[j].binary != res.parts[i].binary);
			placed += roaring_bitmap_get_cardinality(res.parts[i].bits);
			KC_FUZZ_ASSERT(roaring_bitmap_is_empty(res.parts[i].bits) ||
				       roaring_bitmap_maximum(res.parts[i].bits) < lim);
		}
		/* Distinct PCs can only collapse onto one offset if they differ by
		 * a multiple of 2^32, which the region windows exclude. */
		KC_FUZZ_ASSERT(placed == res.known);
		kc_canon_result_release(&res);
	}
	kc_report_release(&r);
out:
	kc_buf_release(&frame);
	return 0;
}
