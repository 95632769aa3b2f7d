/*
 * fuzz_common.c - helpers shared by the fuzz targets: framing a raw payload
 * the way the encoder does, and the invariants every successfully decoded
 * report or address map must satisfy (including that encoding it again, as
 * every wire version, and decoding the result gives back the same message).
 */
#include "fuzz.h"

#include <string.h>

#include <zlib.h>

int kc_fuzz_frame(enum kc_msg_kind kind, const uint8_t *payload, size_t n, struct kc_buf *out,
		  struct kc_err *err)
{
	return kc_fuzz_frame_v(KC_WIRE_VERSION, kind, payload, n, out, err);
}

int kc_fuzz_frame_v(unsigned version, enum kc_msg_kind kind, const uint8_t *payload, size_t n,
		    struct kc_buf *out, struct kc_err *err)
{
	uLongf zlen = compressBound((uLong)n);

	kc_buf_add(out, "KCOV", 4);
	kc_buf_add_u16(out, (uint16_t)version);
	kc_buf_add_u16(out, (uint16_t)kind);
	kc_buf_add_u32(out, (uint32_t)n);
	kc_buf_add_u32(out, (uint32_t)crc32(0L, payload, (uInt)n));
	if (kc_buf_grow(out, zlen) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	if (compress2(out->data + out->len, &zlen, payload, (uLong)n, 1) != Z_OK)
		return kc_err_set(err, KC_E_BAD_INPUT, "zlib compression failed");
	out->len += zlen;
	return out->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

static void same_report(const struct kc_report *a, const struct kc_report *b)
{
	KC_FUZZ_ASSERT(strcmp(a->machine, b->machine) == 0);
	KC_FUZZ_ASSERT(strcmp(a->boot_id, b->boot_id) == 0);
	KC_FUZZ_ASSERT(strcmp(a->label, b->label) == 0);
	KC_FUZZ_ASSERT(strcmp(a->release, b->release) == 0);
	KC_FUZZ_ASSERT(memcmp(a->upload_id, b->upload_id, KC_UPLOAD_ID_LEN) == 0);
	KC_FUZZ_ASSERT(a->created_unix == b->created_unix);
	KC_FUZZ_ASSERT(a->nruns == b->nruns && a->nregions == b->nregions);
	for (uint32_t i = 0; i < a->nruns; i++)
		KC_FUZZ_ASSERT(memcmp(&a->runs[i], &b->runs[i], sizeof(a->runs[i])) == 0);
	for (uint32_t i = 0; i < a->nregions; i++) {
		KC_FUZZ_ASSERT(a->regions[i].base == b->regions[i].base);
		KC_FUZZ_ASSERT(roaring_bitmap_equals(a->regions[i].bits, b->regions[i].bits));
	}
}

void kc_fuzz_check_report(const struct kc_report *r)
{
	struct kc_report again;
	struct kc_buf enc;
	struct kc_err err;

	KC_FUZZ_ASSERT(kc_valid_name(r->machine, KC_NAME_MAX));
	KC_FUZZ_ASSERT(kc_valid_name(r->boot_id, KC_BOOT_ID_MAX));
	KC_FUZZ_ASSERT(r->nruns <= KC_MAX_RUNS && r->nregions <= KC_MAX_REGIONS);
	for (uint32_t i = 0; i < r->nregions; i++) {
		KC_FUZZ_ASSERT((r->regions[i].base & 0xffffffffu) == 0);
		KC_FUZZ_ASSERT(i == 0 || r->regions[i].base > r->regions[i - 1].base);
		KC_FUZZ_ASSERT(!roaring_bitmap_is_empty(r->regions[i].bits));
	}
	for (uint32_t i = 0; i < r->nruns; i++) {
		const struct kc_run *run = &r->runs[i];

		KC_FUZZ_ASSERT(run->used_words <= run->capacity_words);
		KC_FUZZ_ASSERT(!run->overflowed || run->used_words == run->capacity_words);
	}
	for (unsigned v = 1; v <= KC_WIRE_VERSION_MAX; v++) {
		kc_buf_init(&enc);
		kc_err_clear(&err);
		if (v == 2 && kc_report_npcs(r) > KC_WIRE_MAX_RAW) {
			/* More PCs than bytes a payload may have: v1 only. */
			KC_FUZZ_ASSERT(kc_wire_encode_report_v(r, v, &enc, &err) < 0 && err.msg[0]);
			kc_buf_release(&enc);
			continue;
		}
		KC_FUZZ_ASSERT(kc_wire_encode_report_v(r, v, &enc, &err) == 0);
		KC_FUZZ_ASSERT(kc_wire_decode_report(enc.data, enc.len, &again, &err) == 0);
		same_report(r, &again);
		kc_report_release(&again);
		kc_buf_release(&enc);
	}
}

void kc_fuzz_check_addrmap(const struct kc_addrmap *m)
{
	struct kc_addrmap again;
	struct kc_buf enc;
	struct kc_err err;

	KC_FUZZ_ASSERT(m->text_end > m->text_start);
	KC_FUZZ_ASSERT(m->nmodules <= KC_MAX_MODULES);
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct kc_module *mod = &m->modules[i];

		KC_FUZZ_ASSERT(mod->core_size > 0);
		KC_FUZZ_ASSERT(mod->text_addr >= mod->core_base);
		KC_FUZZ_ASSERT(mod->text_addr - mod->core_base < mod->core_size);
	}
	kc_buf_init(&enc);
	kc_err_clear(&err);
	KC_FUZZ_ASSERT(kc_wire_encode_addrmap(m, &enc, &err) == 0);
	KC_FUZZ_ASSERT(kc_wire_decode_addrmap(enc.data, enc.len, &again, &err) == 0);
	KC_FUZZ_ASSERT(strcmp(m->machine, again.machine) == 0);
	KC_FUZZ_ASSERT(strcmp(m->boot_id, again.boot_id) == 0);
	KC_FUZZ_ASSERT(strcmp(m->build_id, again.build_id) == 0);
	KC_FUZZ_ASSERT(m->text_start == again.text_start && m->text_end == again.text_end);
	KC_FUZZ_ASSERT(m->link_text == again.link_text && m->nmodules == again.nmodules);
	for (uint32_t i = 0; i < m->nmodules; i++)
		KC_FUZZ_ASSERT(memcmp(&m->modules[i], &again.modules[i], sizeof(m->modules[i])) == 0);
	kc_addrmap_release(&again);
	kc_buf_release(&enc);
}
