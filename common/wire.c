/*
 * wire.c - encoder and strict decoder of wire formats v1 and v2 (see wire.h
 * and docs/wire-format.md). The decoder treats every byte as hostile: the
 * frame header is checked before anything is inflated, inflation is bounded
 * by the declared length, every count and string has a cap, v1 bitmaps are
 * checked to be well-formed CRoaring portable serializations, v2 delta lists
 * to be canonical varints of strictly increasing PCs inside their window with
 * exactly the declared count, and trailing bytes are an error. The two
 * versions share everything but the per-region PC encoding.
 *
 * Why one file (about 900 lines): the encoder and the decoder of one format
 * must change together, and they share the frame, run and region code and
 * the limits; split, each half would have to export what is now static, and
 * a format change would touch both files anyway.
 */
#include "grow.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

static const unsigned char magic[4] = { 'K', 'C', 'O', 'V' };

void kc_bitmap_free(roaring_bitmap_t *b)
{
	if (b)
		roaring_bitmap_free(b);
}

void kc_report_init(struct kc_report *r)
{
	memset(r, 0, sizeof(*r));
}

void kc_report_release(struct kc_report *r)
{
	for (uint32_t i = 0; i < r->nregions; i++)
		kc_bitmap_free(r->regions[i].bits);
	free(r->regions);
	free(r->runs);
	kc_report_init(r);
}

void kc_addrmap_init(struct kc_addrmap *m)
{
	memset(m, 0, sizeof(*m));
}

void kc_addrmap_release(struct kc_addrmap *m)
{
	free(m->modules);
	kc_addrmap_init(m);
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. Names end up in
 * JSON, which can only carry UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

int kc_valid_name(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0, k; i < n; i += k) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		k = utf8_len(p + i, n - i);
		if (!k)
			return 0;
	}
	return 1;
}

void kc_upload_id_hex(const unsigned char id[KC_UPLOAD_ID_LEN], char out[2 * KC_UPLOAD_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < KC_UPLOAD_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[2 * KC_UPLOAD_ID_LEN] = '\0';
}

/* Find the region with this base, or create it keeping regions sorted. */
static struct kc_region *region_for(struct kc_report *r, uint64_t base, struct kc_err *err)
{
	uint32_t i;
	struct kc_region *regs;

	for (i = 0; i < r->nregions && r->regions[i].base <= base; i++)
		if (r->regions[i].base == base)
			return &r->regions[i];
	if (r->nregions >= KC_MAX_REGIONS) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "too many 4 GiB PC windows (limit %u)", KC_MAX_REGIONS);
		return NULL;
	}
	if (KC_GROW(r->regions, r->cap_regions, (size_t)r->nregions + 1) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	regs = r->regions;
	memmove(&regs[i + 1], &regs[i], (r->nregions - i) * sizeof(*regs));
	regs[i].base = base;
	regs[i].bits = roaring_bitmap_create();
	r->nregions++;
	return &regs[i];
}

int kc_report_add_pcs(struct kc_report *r, const uint64_t *pcs, size_t n, struct kc_err *err)
{
	struct kc_region *reg = NULL;

	for (size_t i = 0; i < n; i++) {
		uint64_t base = pcs[i] & ~(uint64_t)0xffffffff;

		if (!reg || reg->base != base) {
			reg = region_for(r, base, err);
			if (!reg)
				return -1;
		}
		roaring_bitmap_add(reg->bits, (uint32_t)pcs[i]);
	}
	return 0;
}

int kc_report_add_run(struct kc_report *r, const struct kc_run *run, struct kc_err *err)
{
	if (r->nruns >= KC_MAX_RUNS)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "too many runs in one report (limit %u)", KC_MAX_RUNS);
	if (KC_GROW(r->runs, r->cap_runs, (size_t)r->nruns + 1) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	r->runs[r->nruns++] = *run;
	return 0;
}

int kc_report_or(struct kc_report *dst, const struct kc_report *src, struct kc_err *err)
{
	for (uint32_t i = 0; i < src->nregions; i++) {
		struct kc_region *reg = region_for(dst, src->regions[i].base, err);

		if (!reg)
			return -1;
		roaring_bitmap_or_inplace(reg->bits, src->regions[i].bits);
	}
	return 0;
}

void kc_report_andnot(struct kc_report *r, const struct kc_report *other)
{
	for (uint32_t i = 0; i < r->nregions; i++)
		for (uint32_t j = 0; j < other->nregions; j++)
			if (other->regions[j].base == r->regions[i].base)
				roaring_bitmap_andnot_inplace(r->regions[i].bits,
							      other->regions[j].bits);
}

void kc_report_clear_pcs(struct kc_report *r)
{
	for (uint32_t i = 0; i < r->nregions; i++)
		kc_bitmap_free(r->regions[i].bits);
	free(r->regions);
	r->regions = NULL;
	r->nregions = 0;
	r->cap_regions = 0;
}

uint64_t kc_report_npcs(const struct kc_report *r)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->nregions; i++)
		n += roaring_bitmap_get_cardinality(r->regions[i].bits);
	return n;
}

int kc_report_has_pc(const struct kc_report *r, uint64_t pc)
{
	for (uint32_t i = 0; i < r->nregions; i++)
		if (r->regions[i].base == (pc & ~(uint64_t)0xffffffff))
			return roaring_bitmap_contains(r->regions[i].bits, (uint32_t)pc);
	return 0;
}

/* zlib-compress src into dst (room for compressBound). v1 frames keep
 * compress2's default strategy; v2 delta lists are mostly short literals
 * with few long matches, which Z_FILTERED at level 9 codes 1-5% smaller
 * (bench/wire.c). Returns a zlib status. */
static int zcompress(unsigned char *dst, uLongf *dlen, const struct kc_buf *src,
		     unsigned version)
{
	z_stream zs;
	int zr;

	if (version == 1)
		return compress2(dst, dlen, src->data, src->len, 6);
	memset(&zs, 0, sizeof(zs));
	zr = deflateInit2(&zs, 9, Z_DEFLATED, 15, 9, Z_FILTERED);
	if (zr != Z_OK)
		return zr;
	zs.next_in = src->data;
	zs.avail_in = (uInt)src->len;
	zs.next_out = dst;
	zs.avail_out = (uInt)*dlen;
	zr = deflate(&zs, Z_FINISH);
	*dlen = zs.total_out;
	deflateEnd(&zs);
	return zr == Z_STREAM_END ? Z_OK : Z_BUF_ERROR;
}

/* Wrap a raw payload into a frame: header + zlib stream. */
static int frame(const struct kc_buf *raw, enum kc_msg_kind kind, unsigned version,
		 struct kc_buf *out, struct kc_err *err)
{
	uLongf zlen;
	size_t start;

	if (raw->oom)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory while encoding");
	if (raw->len > KC_WIRE_MAX_RAW)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "payload of %zu bytes exceeds the %u-byte limit", raw->len,
				  KC_WIRE_MAX_RAW);
	zlen = compressBound(raw->len);
	start = out->len;
	kc_buf_add(out, magic, sizeof(magic));
	kc_buf_add_u16(out, (uint16_t)version);
	kc_buf_add_u16(out, (uint16_t)kind);
	kc_buf_add_u32(out, (uint32_t)raw->len);
	kc_buf_add_u32(out, (uint32_t)crc32(0L, raw->data, (uInt)raw->len));
	if (kc_buf_grow(out, zlen) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory while compressing");
	if (zcompress(out->data + out->len, &zlen, raw, version) != Z_OK) {
		out->len = start;
		return kc_err_set(err, KC_E_BAD_INPUT, "zlib compression failed");
	}
	out->len += zlen;
	return 0;
}

static void put_run(struct kc_buf *b, const struct kc_run *run)
{
	kc_buf_add_str(b, run->workload);
	kc_buf_add_u8(b, run->mode);
	kc_buf_add_u8(b, (uint8_t)((run->overflowed ? 1 : 0) | (run->remote_overflowed ? 2 : 0)));
	kc_buf_add_u16(b, 0);
	kc_buf_add_u64(b, run->capacity_words);
	kc_buf_add_u64(b, run->used_words);
	kc_buf_add_u64(b, run->bitmap_words);
	kc_buf_add_u64(b, run->remote_capacity_words);
	kc_buf_add_u64(b, run->remote_used_words);
	kc_buf_add_u64(b, run->duration_us);
	kc_buf_add_u32(b, (uint32_t)run->exit_status);
	kc_buf_add_u64(b, run->npcs);
}

/* v1 region body: u32 length + CRoaring portable serialization. */
static void put_bitmap(struct kc_buf *raw, roaring_bitmap_t *bits)
{
	size_t n;

	roaring_bitmap_run_optimize(bits);
	n = roaring_bitmap_portable_size_in_bytes(bits);
	kc_buf_add_u32(raw, (uint32_t)n);
	if (kc_buf_grow(raw, n) < 0)
		return;
	raw->len += roaring_bitmap_portable_serialize(bits, (char *)raw->data + raw->len);
}

struct delta_writer {
	struct kc_buf *b;
	uint32_t prev;
	int first;
};

static bool put_delta(uint32_t v, void *arg)
{
	struct delta_writer *w = arg;

	kc_buf_add_varint(w->b, w->first ? v : v - w->prev);
	w->prev = v;
	w->first = 0;
	return !w->b->oom;
}

/* v2 region body: u32 PC count, u32 length, varints of the first offset and
 * of each following delta. The length is patched in once known. */
static void put_deltas(struct kc_buf *raw, const roaring_bitmap_t *bits)
{
	struct delta_writer w = { raw, 0, 1 };
	size_t at;
	uint32_t n;

	kc_buf_add_u32(raw, (uint32_t)roaring_bitmap_get_cardinality(bits));
	at = raw->len;
	kc_buf_add_u32(raw, 0);
	roaring_iterate(bits, put_delta, &w);
	if (raw->oom)
		return;
	n = (uint32_t)(raw->len - at - 4);
	for (int i = 0; i < 4; i++)
		raw->data[at + i] = (unsigned char)(n >> (8 * i));
}

int kc_wire_encode_report(const struct kc_report *r, struct kc_buf *out, struct kc_err *err)
{
	return kc_wire_encode_report_v(r, 1, out, err);
}

int kc_wire_encode_report_v(const struct kc_report *r, unsigned version, struct kc_buf *out,
			    struct kc_err *err)
{
	struct kc_buf raw = KC_BUF_INIT;
	uint32_t nonempty = 0;
	int ret = -1;

	if (version < 1 || version > KC_WIRE_VERSION_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT, "cannot encode wire version %u (this side speaks 1..%u)",
				  version, KC_WIRE_VERSION_MAX);
	/* A v2 PC takes at least one byte: refuse before writing gigabytes
	 * (a v1 run container can hold 65536 PCs in a few bytes). */
	if (version == 2 && kc_report_npcs(r) > KC_WIRE_MAX_RAW)
		return kc_err_set(err, KC_E_BAD_INPUT, "%llu PCs cannot fit in a v2 payload of at most %u bytes",
				  (unsigned long long)kc_report_npcs(r), KC_WIRE_MAX_RAW);

	kc_buf_add_str(&raw, r->machine);
	kc_buf_add_str(&raw, r->boot_id);
	kc_buf_add(&raw, r->upload_id, KC_UPLOAD_ID_LEN);
	kc_buf_add_str(&raw, r->label);
	kc_buf_add_str(&raw, r->release);
	kc_buf_add_u64(&raw, r->created_unix);
	kc_buf_add_u32(&raw, r->nruns);
	for (uint32_t i = 0; i < r->nruns; i++)
		put_run(&raw, &r->runs[i]);
	for (uint32_t i = 0; i < r->nregions; i++)
		nonempty += !roaring_bitmap_is_empty(r->regions[i].bits);
	kc_buf_add_u32(&raw, nonempty);
	for (uint32_t i = 0; i < r->nregions && !raw.oom; i++) {
		roaring_bitmap_t *bits = r->regions[i].bits;

		if (roaring_bitmap_is_empty(bits))
			continue;
		kc_buf_add_u64(&raw, r->regions[i].base);
		if (version == 1)
			put_bitmap(&raw, bits);
		else
			put_deltas(&raw, bits);
	}
	ret = frame(&raw, KC_MSG_REPORT, version, out, err);
	kc_buf_release(&raw);
	return ret;
}

int kc_wire_encode_addrmap(const struct kc_addrmap *m, struct kc_buf *out, struct kc_err *err)
{
	struct kc_buf raw = KC_BUF_INIT;
	int ret;

	kc_buf_add_str(&raw, m->machine);
	kc_buf_add_str(&raw, m->boot_id);
	kc_buf_add_str(&raw, m->release);
	kc_buf_add_str(&raw, m->build_id);
	kc_buf_add_u64(&raw, m->text_start);
	kc_buf_add_u64(&raw, m->text_end);
	kc_buf_add_u64(&raw, m->link_text);
	kc_buf_add_u32(&raw, m->nmodules);
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct kc_module *mod = &m->modules[i];

		kc_buf_add_str(&raw, mod->name);
		kc_buf_add_str(&raw, mod->build_id);
		kc_buf_add_u64(&raw, mod->core_base);
		kc_buf_add_u64(&raw, mod->core_size);
		kc_buf_add_u64(&raw, mod->text_addr);
	}
	ret = frame(&raw, KC_MSG_ADDRMAP, KC_WIRE_VERSION, out, err);
	kc_buf_release(&raw);
	return ret;
}

static int check_header(const unsigned char *p, size_t len, uint16_t *kind, uint16_t *version,
			uint32_t *raw_len, uint32_t *crc, struct kc_err *err)
{
	struct kc_rd rd;
	const unsigned char *m;

	if (len > KC_WIRE_MAX_BODY)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "frame of %zu bytes exceeds the %u-byte limit", len,
				  KC_WIRE_MAX_BODY);
	kc_rd_init(&rd, p, len);
	if (kc_rd_bytes(&rd, &m, 4, "frame magic", err) < 0)
		return -1;
	if (memcmp(m, magic, 4) != 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "bad frame magic (not a kcov wire frame)");
	if (kc_rd_u16(&rd, version, "frame version", err) < 0 ||
	    kc_rd_u16(&rd, kind, "frame kind", err) < 0 ||
	    kc_rd_u32(&rd, raw_len, "payload length", err) < 0 ||
	    kc_rd_u32(&rd, crc, "payload crc", err) < 0)
		return -1;
	if (*version < 1 || *version > KC_WIRE_VERSION_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT, "unsupported wire version %u (this side speaks 1..%u)",
				  *version, KC_WIRE_VERSION_MAX);
	if (*kind != KC_MSG_REPORT && *kind != KC_MSG_ADDRMAP)
		return kc_err_set(err, KC_E_BAD_INPUT, "unknown message kind %u", *kind);
	if (*kind == KC_MSG_ADDRMAP && *version != KC_WIRE_VERSION)
		return kc_err_set(err, KC_E_BAD_INPUT, "address maps are wire version %u, not %u", KC_WIRE_VERSION,
				  *version);
	if (*raw_len > KC_WIRE_MAX_RAW)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "declared payload of %u bytes exceeds the %u-byte limit",
				  *raw_len, KC_WIRE_MAX_RAW);
	if (len == KC_WIRE_HDR_LEN)
		return kc_err_set(err, KC_E_BAD_INPUT, "truncated frame: no compressed payload");
	if ((uint64_t)*raw_len > (uint64_t)(len - KC_WIRE_HDR_LEN) * KC_WIRE_MAX_RATIO + 4096)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "declared payload of %u bytes is more than %ux the %zu compressed "
				  "bytes (decompression bomb?)",
				  *raw_len, KC_WIRE_MAX_RATIO, len - KC_WIRE_HDR_LEN);
	return 0;
}

int kc_wire_peek(const void *buf, size_t len, enum kc_msg_kind *kind, unsigned *version,
		 struct kc_err *err)
{
	uint16_t k, v;
	uint32_t raw_len, crc;

	if (check_header(buf, len, &k, &v, &raw_len, &crc, err) < 0)
		return -1;
	*kind = (enum kc_msg_kind)k;
	*version = v;
	return 0;
}

int kc_wire_peek_kind(const void *buf, size_t len, enum kc_msg_kind *kind, struct kc_err *err)
{
	unsigned version;

	return kc_wire_peek(buf, len, kind, &version, err);
}

/* Check the header and inflate the payload into a new buffer (caller frees). */
static int unframe(const void *buf, size_t len, enum kc_msg_kind want, unsigned char **out,
		   size_t *out_len, uint16_t *version, struct kc_err *err)
{
	const unsigned char *p = buf;
	uint16_t kind;
	uint32_t raw_len, crc;
	unsigned char *raw;
	uLongf dlen;
	uLong slen;
	int zr;

	if (check_header(p, len, &kind, version, &raw_len, &crc, err) < 0)
		return -1;
	if (kind != want)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "expected message kind %u, got %u", want, kind);
	raw = malloc(raw_len ? raw_len : 1);
	if (!raw)
		return kc_err_set(err, KC_E_INTERNAL,
				  "out of memory for a %u-byte payload", raw_len);
	dlen = raw_len;
	slen = len - KC_WIRE_HDR_LEN;
	zr = uncompress2(raw, &dlen, p + KC_WIRE_HDR_LEN, &slen);
	if (zr == Z_BUF_ERROR && dlen == raw_len) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "payload inflates to more than the declared %u bytes", raw_len);
		goto fail;
	}
	if (zr != Z_OK) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "corrupt zlib stream (%s)", zr == Z_DATA_ERROR ? "data error" :
				zr == Z_BUF_ERROR ? "truncated" : "zlib error");
		goto fail;
	}
	if (dlen != raw_len) {
		kc_err_set(err, KC_E_BAD_INPUT, "payload inflates to %lu bytes, header declares %u",
			   (unsigned long)dlen, raw_len);
		goto fail;
	}
	if (slen != len - KC_WIRE_HDR_LEN) {
		kc_err_set(err, KC_E_BAD_INPUT, "%lu trailing bytes after the zlib stream",
			   (unsigned long)(len - KC_WIRE_HDR_LEN - slen));
		goto fail;
	}
	if (crc32(0L, raw, raw_len) != crc) {
		kc_err_set(err, KC_E_BAD_INPUT, "payload CRC mismatch");
		goto fail;
	}
	*out = raw;
	*out_len = raw_len;
	return 0;
fail:
	free(raw);
	return -1;
}

static int get_name(struct kc_rd *rd, char *dst, size_t size, size_t max, int required,
		    const char *what, struct kc_err *err)
{
	if (kc_rd_str(rd, dst, size, max, what, err) < 0)
		return -1;
	if (!dst[0] && !required)
		return 0;
	if (!kc_valid_name(dst, max))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: empty, not UTF-8 or contains control characters", what);
	return 0;
}

static int get_run(struct kc_rd *rd, struct kc_run *run, uint32_t idx, struct kc_err *err)
{
	uint8_t flags;
	uint16_t reserved;
	uint32_t status;

	if (get_name(rd, run->workload, sizeof(run->workload), KC_NAME_MAX, 0, "run workload",
		     err) < 0 ||
	    kc_rd_u8(rd, &run->mode, "run mode", err) < 0 ||
	    kc_rd_u8(rd, &flags, "run flags", err) < 0 ||
	    kc_rd_u16(rd, &reserved, "run reserved", err) < 0 ||
	    kc_rd_u64(rd, &run->capacity_words, "run capacity", err) < 0 ||
	    kc_rd_u64(rd, &run->used_words, "run used words", err) < 0 ||
	    kc_rd_u64(rd, &run->bitmap_words, "run bitmap words", err) < 0 ||
	    kc_rd_u64(rd, &run->remote_capacity_words, "run remote capacity", err) < 0 ||
	    kc_rd_u64(rd, &run->remote_used_words, "run remote used words", err) < 0 ||
	    kc_rd_u64(rd, &run->duration_us, "run duration", err) < 0 ||
	    kc_rd_u32(rd, &status, "run exit status", err) < 0 ||
	    kc_rd_u64(rd, &run->npcs, "run pcs", err) < 0)
		return kc_err_prefix(err, "run %u", idx);
	run->exit_status = (int32_t)status;
	run->overflowed = flags & 1;
	run->remote_overflowed = (flags >> 1) & 1;
	if (flags & ~3u || reserved)
		return kc_err_set(err, KC_E_BAD_INPUT, "run %u: reserved flag bits set", idx);
	if (run->mode != KC_MODE_UNIQUE && run->mode != KC_MODE_TRACE)
		return kc_err_set(err, KC_E_BAD_INPUT, "run %u: unknown mode %u", idx, run->mode);
	if ((run->mode == KC_MODE_UNIQUE) != (run->bitmap_words != 0))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "run %u: bitmap words %llu inconsistent with mode %u", idx,
				  (unsigned long long)run->bitmap_words, run->mode);
	if (run->used_words > run->capacity_words)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "run %u: used words %llu exceed capacity %llu", idx,
				  (unsigned long long)run->used_words,
				  (unsigned long long)run->capacity_words);
	if (run->overflowed && run->used_words != run->capacity_words)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "run %u: marked overflowed but the trace is not full", idx);
	if (run->remote_used_words > run->remote_capacity_words ||
	    (run->remote_overflowed && run->remote_used_words != run->remote_capacity_words))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "run %u: remote buffer figures are inconsistent", idx);
	if (run->npcs > run->used_words + run->remote_used_words)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "run %u: %llu unique PCs but only %llu trace entries", idx,
				  (unsigned long long)run->npcs,
				  (unsigned long long)(run->used_words + run->remote_used_words));
	return 0;
}

struct check_iter {
	uint64_t count;
	uint32_t last;
	int bad;
};

static bool check_value(uint32_t v, void *arg)
{
	struct check_iter *it = arg;

	if (it->count && v <= it->last) {
		it->bad = 1;
		return false;
	}
	it->last = v;
	it->count++;
	return true;
}

/* Deserialize one region bitmap and prove it is well-formed: CRoaring's safe
 * deserializer only checks bounds, so also check that the values are strictly
 * increasing and that their number equals the stored cardinality. */
static roaring_bitmap_t *get_bitmap(const unsigned char *p, size_t n, uint32_t idx,
				    struct kc_err *err)
{
	roaring_bitmap_t *bits;
	struct check_iter it = { 0, 0, 0 };

	bits = roaring_bitmap_portable_deserialize_safe((const char *)p, n);
	if (!bits) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: malformed bitmap", idx);
		return NULL;
	}
	if (roaring_bitmap_portable_size_in_bytes(bits) != n) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "region %u: bitmap length %zu does not match its content", idx, n);
		goto fail;
	}
	roaring_iterate(bits, check_value, &it);
	if (it.bad || it.count != roaring_bitmap_get_cardinality(bits)) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: inconsistent bitmap containers", idx);
		goto fail;
	}
	if (it.count == 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: empty bitmap", idx);
		goto fail;
	}
	return bits;
fail:
	kc_bitmap_free(bits);
	return NULL;
}

/* Add the buffered values to bits and empty the buffer. */
static void flush_values(roaring_bitmap_t *bits, uint32_t *vals, size_t *n)
{
	roaring_bitmap_add_many(bits, *n, vals);
	*n = 0;
}

/* Decode one v2 delta list of npcs PCs filling exactly n bytes. Values are
 * added in chunks, so memory stays bounded by the bitmap itself. */
static roaring_bitmap_t *get_deltas(const unsigned char *p, size_t n, uint32_t npcs,
				    uint32_t idx, struct kc_err *err)
{
	roaring_bitmap_t *bits = NULL;
	uint32_t vals[1024], d;
	size_t nvals = 0;
	uint64_t pc = 0;
	struct kc_rd rd;

	if (npcs == 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: no PCs", idx);
		goto fail;
	}
	if (npcs > n) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: %u PCs cannot fit in %zu bytes", idx, npcs, n);
		goto fail;
	}
	bits = roaring_bitmap_create();
	if (!bits) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	kc_rd_init(&rd, p, n);
	for (uint32_t i = 0; i < npcs; i++) {
		if (kc_rd_varint(&rd, &d, "PC delta", err) < 0) {
			kc_err_prefix(err, "region %u: PC %u of %u", idx, i, npcs);
			goto fail;
		}
		if (i && d == 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "region %u: PC %u is not above the previous one (delta 0)",
				   idx, i);
			goto fail;
		}
		pc += d;
		if (pc > 0xffffffffu) {
			kc_err_set(err, KC_E_BAD_INPUT, "region %u: PC %u lies outside the region's 4 GiB window",
				   idx, i);
			goto fail;
		}
		vals[nvals++] = (uint32_t)pc;
		if (nvals == sizeof(vals) / sizeof(vals[0]))
			flush_values(bits, vals, &nvals);
	}
	flush_values(bits, vals, &nvals);
	if (kc_rd_left(&rd)) {
		kc_err_set(err, KC_E_BAD_INPUT, "region %u: %zu bytes left after its %u PCs", idx, kc_rd_left(&rd),
			   npcs);
		goto fail;
	}
	return bits;
fail:
	kc_bitmap_free(bits);
	return NULL;
}

/* One region's PCs: a v1 bitmap or a v2 delta list. */
static int get_region_pcs(struct kc_rd *rd, struct kc_region *reg, uint32_t idx, uint16_t version,
			  struct kc_err *err)
{
	const unsigned char *p = NULL;
	uint32_t npcs = 0, len;

	if ((version == 2 && kc_rd_u32(rd, &npcs, "region PC count", err) < 0) ||
	    kc_rd_u32(rd, &len, version == 2 ? "region delta length" : "region bitmap length",
		      err) < 0 ||
	    kc_rd_bytes(rd, &p, len, version == 2 ? "region deltas" : "region bitmap", err) < 0)
		return kc_err_prefix(err, "region %u", idx);
	reg->bits = version == 2 ? get_deltas(p, len, npcs, idx, err) : get_bitmap(p, len, idx, err);
	return reg->bits ? 0 : -1;
}

static int get_regions(struct kc_rd *rd, struct kc_report *r, uint16_t version, struct kc_err *err)
{
	uint32_t n;
	size_t min = version == 2 ? 16 : 12; /* base + counts of an empty region */

	if (kc_rd_u32(rd, &n, "region count", err) < 0)
		return -1;
	if (n > KC_MAX_REGIONS)
		return kc_err_set(err, KC_E_BAD_INPUT, "%u regions exceed the limit of %u", n, KC_MAX_REGIONS);
	if ((uint64_t)n * min > kc_rd_left(rd))
		return kc_err_set(err, KC_E_BAD_INPUT, "truncated: %u regions cannot fit in %zu bytes", n,
				  kc_rd_left(rd));
	r->regions = calloc(n ? n : 1, sizeof(*r->regions));
	if (!r->regions)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	r->cap_regions = n ? n : 1;
	for (uint32_t i = 0; i < n; i++) {
		struct kc_region *reg = &r->regions[i];

		if (kc_rd_u64(rd, &reg->base, "region base", err) < 0)
			return kc_err_prefix(err, "region %u", i);
		if (reg->base & 0xffffffffu)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "region %u: base %#llx is not 4 GiB aligned", i,
					  (unsigned long long)reg->base);
		if (i && reg->base <= r->regions[i - 1].base)
			return kc_err_set(err, KC_E_BAD_INPUT, "region %u: bases not strictly increasing", i);
		if (get_region_pcs(rd, reg, i, version, err) < 0)
			return -1;
		r->nregions = i + 1;
	}
	return 0;
}

int kc_wire_decode_report(const void *buf, size_t len, struct kc_report *r, struct kc_err *err)
{
	unsigned char *raw = NULL;
	const unsigned char *id;
	size_t raw_len;
	struct kc_rd rd;
	uint32_t nruns;
	uint16_t version;

	kc_report_init(r);
	if (unframe(buf, len, KC_MSG_REPORT, &raw, &raw_len, &version, err) < 0)
		return -1;
	kc_rd_init(&rd, raw, raw_len);
	if (get_name(&rd, r->machine, sizeof(r->machine), KC_NAME_MAX, 1, "machine", err) < 0 ||
	    get_name(&rd, r->boot_id, sizeof(r->boot_id), KC_BOOT_ID_MAX, 1, "boot id", err) < 0 ||
	    kc_rd_bytes(&rd, &id, KC_UPLOAD_ID_LEN, "upload id", err) < 0 ||
	    get_name(&rd, r->label, sizeof(r->label), KC_NAME_MAX, 0, "label", err) < 0 ||
	    get_name(&rd, r->release, sizeof(r->release), KC_NAME_MAX, 0, "release", err) < 0 ||
	    kc_rd_u64(&rd, &r->created_unix, "created time", err) < 0 ||
	    kc_rd_u32(&rd, &nruns, "run count", err) < 0)
		goto fail;
	memcpy(r->upload_id, id, KC_UPLOAD_ID_LEN);
	if (nruns > KC_MAX_RUNS) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%u runs exceed the limit of %u", nruns, KC_MAX_RUNS);
		goto fail;
	}
	/* The smallest run is 68 bytes (empty workload) and the region count
	 * follows the runs. */
	if ((uint64_t)nruns * 68 + 4 > kc_rd_left(&rd)) {
		kc_err_set(err, KC_E_BAD_INPUT, "truncated: %u runs cannot fit in %zu bytes", nruns,
			   kc_rd_left(&rd));
		goto fail;
	}
	r->runs = calloc(nruns ? nruns : 1, sizeof(*r->runs));
	if (!r->runs) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	r->cap_runs = nruns ? nruns : 1;
	for (uint32_t i = 0; i < nruns; i++) {
		if (get_run(&rd, &r->runs[i], i, err) < 0)
			goto fail;
		r->nruns = i + 1;
	}
	if (get_regions(&rd, r, version, err) < 0)
		goto fail;
	if (kc_rd_left(&rd)) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%zu unexpected bytes after the last region", kc_rd_left(&rd));
		goto fail;
	}
	free(raw);
	return 0;
fail:
	free(raw);
	kc_report_release(r);
	return -1;
}

static int is_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static int get_module(struct kc_rd *rd, struct kc_module *mod, uint32_t idx, struct kc_err *err)
{
	if (get_name(rd, mod->name, sizeof(mod->name), KC_MODNAME_MAX, 1, "module name", err) < 0 ||
	    kc_rd_str(rd, mod->build_id, sizeof(mod->build_id), KC_BUILD_ID_MAX, "module build id",
		      err) < 0 ||
	    kc_rd_u64(rd, &mod->core_base, "module base", err) < 0 ||
	    kc_rd_u64(rd, &mod->core_size, "module size", err) < 0 ||
	    kc_rd_u64(rd, &mod->text_addr, "module text address", err) < 0)
		return kc_err_prefix(err, "module %u", idx);
	if (!is_hex(mod->build_id))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "module %u (%s): build id is not lowercase hex", idx, mod->name);
	if (mod->core_size == 0 || mod->core_base + mod->core_size < mod->core_base)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "module %u (%s): bad extent", idx, mod->name);
	if (mod->text_addr < mod->core_base || mod->text_addr >= mod->core_base + mod->core_size)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "module %u (%s): .text address outside the module", idx,
				  mod->name);
	return 0;
}

int kc_wire_decode_addrmap(const void *buf, size_t len, struct kc_addrmap *m, struct kc_err *err)
{
	unsigned char *raw = NULL;
	size_t raw_len;
	struct kc_rd rd;
	uint32_t n;
	uint16_t version;

	kc_addrmap_init(m);
	if (unframe(buf, len, KC_MSG_ADDRMAP, &raw, &raw_len, &version, err) < 0)
		return -1;
	kc_rd_init(&rd, raw, raw_len);
	if (get_name(&rd, m->machine, sizeof(m->machine), KC_NAME_MAX, 1, "machine", err) < 0 ||
	    get_name(&rd, m->boot_id, sizeof(m->boot_id), KC_BOOT_ID_MAX, 1, "boot id", err) < 0 ||
	    get_name(&rd, m->release, sizeof(m->release), KC_NAME_MAX, 0, "release", err) < 0 ||
	    kc_rd_str(&rd, m->build_id, sizeof(m->build_id), KC_BUILD_ID_MAX, "build id", err) < 0 ||
	    kc_rd_u64(&rd, &m->text_start, "text start", err) < 0 ||
	    kc_rd_u64(&rd, &m->text_end, "text end", err) < 0 ||
	    kc_rd_u64(&rd, &m->link_text, "link-time text", err) < 0 ||
	    kc_rd_u32(&rd, &n, "module count", err) < 0)
		goto fail;
	if (!m->build_id[0] || !is_hex(m->build_id)) {
		kc_err_set(err, KC_E_BAD_INPUT, "kernel build id missing or not lowercase hex");
		goto fail;
	}
	if (m->text_end <= m->text_start || m->text_end - m->text_start > (1ull << 32)) {
		kc_err_set(err, KC_E_BAD_INPUT, "kernel text range is empty or larger than 4 GiB");
		goto fail;
	}
	if (n > KC_MAX_MODULES || (uint64_t)n * 40 > kc_rd_left(&rd)) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "module count %u exceeds the limit or the payload", n);
		goto fail;
	}
	m->modules = calloc(n ? n : 1, sizeof(*m->modules));
	if (!m->modules) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (get_module(&rd, &m->modules[i], i, err) < 0)
			goto fail;
		m->nmodules = i + 1;
	}
	if (kc_rd_left(&rd)) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%zu unexpected bytes after the last module", kc_rd_left(&rd));
		goto fail;
	}
	free(raw);
	return 0;
fail:
	free(raw);
	kc_addrmap_release(m);
	return -1;
}
