/*
 * buf.c - growable write buffer and bounds-checked little-endian reader,
 * the two primitives the wire codec and the spool are built on.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kc_buf_init(struct kc_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = 0;
}

void kc_buf_release(struct kc_buf *b)
{
	free(b->data);
	kc_buf_init(b);
}

int kc_buf_grow(struct kc_buf *b, size_t n)
{
	size_t want, cap;
	unsigned char *p;

	if (b->oom)
		return -1;
	if (n > SIZE_MAX - b->len - 1)
		goto fail;
	want = b->len + n + 1; /* room for a trailing NUL */
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->oom = 1;
	return -1;
}

void kc_buf_add(struct kc_buf *b, const void *p, size_t n)
{
	if (kc_buf_grow(b, n) < 0)
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void kc_buf_add_u8(struct kc_buf *b, uint8_t v)
{
	kc_buf_add(b, &v, 1);
}

static void add_le(struct kc_buf *b, uint64_t v, int bytes)
{
	unsigned char tmp[8];

	for (int i = 0; i < bytes; i++)
		tmp[i] = (unsigned char)(v >> (8 * i));
	kc_buf_add(b, tmp, (size_t)bytes);
}

void kc_buf_add_u16(struct kc_buf *b, uint16_t v)
{
	add_le(b, v, 2);
}

void kc_buf_add_u32(struct kc_buf *b, uint32_t v)
{
	add_le(b, v, 4);
}

void kc_buf_add_u64(struct kc_buf *b, uint64_t v)
{
	add_le(b, v, 8);
}

void kc_buf_add_varint(struct kc_buf *b, uint32_t v)
{
	unsigned char tmp[5];
	size_t n = 0;

	do {
		tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	kc_buf_add(b, tmp, n);
}

void kc_buf_add_str(struct kc_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	kc_buf_add_u32(b, (uint32_t)n);
	kc_buf_add(b, s, n);
}

void kc_buf_addf(struct kc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || kc_buf_grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void kc_rd_init(struct kc_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t kc_rd_left(const struct kc_rd *r)
{
	return r->len - r->off;
}

int kc_rd_bytes(struct kc_rd *r, const unsigned char **p, size_t n, const char *what,
		struct kc_err *err)
{
	if (n > kc_rd_left(r))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "truncated at byte %zu: %s needs %zu bytes, %zu left",
				  r->off, what, n, kc_rd_left(r));
	*p = r->p + r->off;
	r->off += n;
	return 0;
}

static int rd_le(struct kc_rd *r, uint64_t *v, int bytes, const char *what, struct kc_err *err)
{
	const unsigned char *p = NULL;
	uint64_t x = 0;

	if (kc_rd_bytes(r, &p, (size_t)bytes, what, err) < 0)
		return -1;
	for (int i = 0; i < bytes; i++)
		x |= (uint64_t)p[i] << (8 * i);
	*v = x;
	return 0;
}

int kc_rd_u8(struct kc_rd *r, uint8_t *v, const char *what, struct kc_err *err)
{
	uint64_t x;

	if (rd_le(r, &x, 1, what, err) < 0)
		return -1;
	*v = (uint8_t)x;
	return 0;
}

int kc_rd_u16(struct kc_rd *r, uint16_t *v, const char *what, struct kc_err *err)
{
	uint64_t x;

	if (rd_le(r, &x, 2, what, err) < 0)
		return -1;
	*v = (uint16_t)x;
	return 0;
}

int kc_rd_u32(struct kc_rd *r, uint32_t *v, const char *what, struct kc_err *err)
{
	uint64_t x;

	if (rd_le(r, &x, 4, what, err) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int kc_rd_u64(struct kc_rd *r, uint64_t *v, const char *what, struct kc_err *err)
{
	return rd_le(r, v, 8, what, err);
}

int kc_rd_varint(struct kc_rd *r, uint32_t *v, const char *what, struct kc_err *err)
{
	uint64_t x = 0;
	size_t start = r->off;

	for (int i = 0;; i++) {
		unsigned char c;

		if (i == 5)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s varint at byte %zu is longer than 5 bytes", what,
					  start);
		if (!kc_rd_left(r))
			return kc_err_set(err, KC_E_BAD_INPUT, "truncated at byte %zu: %s varint is cut short", start,
					  what);
		c = r->p[r->off++];
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (c & 0x80)
			continue;
		if (i && !c)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s varint at byte %zu is not in its shortest form",
					  what, start);
		break;
	}
	if (x > UINT32_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s varint at byte %zu overflows 32 bits", what, start);
	*v = (uint32_t)x;
	return 0;
}

int kc_rd_str(struct kc_rd *r, char *dst, size_t dst_size, size_t max, const char *what,
	      struct kc_err *err)
{
	const unsigned char *p = NULL;
	uint32_t n;

	if (kc_rd_u32(r, &n, what, err) < 0)
		return -1;
	if (n > max || n >= dst_size)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: length %u exceeds the limit of %zu bytes", what, n, max);
	if (kc_rd_bytes(r, &p, n, what, err) < 0)
		return -1;
	if (memchr(p, '\0', n))
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: contains a NUL byte", what);
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}
