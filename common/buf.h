/*
 * buf.h - a growable byte buffer for writing and a bounds-checked reader.
 *
 * struct kc_buf owns its memory: kc_buf_release() frees it. All integers are
 * written little-endian. The reader never reads past its end: every get
 * returns -1 with a message naming the field when the input is short or a
 * length exceeds its cap.
 */
#ifndef KC_BUF_H
#define KC_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct kc_buf {
	unsigned char *data; /* owned; NULL when empty */
	size_t len;          /* bytes used */
	size_t cap;          /* bytes allocated */
	int oom;             /* set once an allocation failed; writes then no-op */
};

#define KC_BUF_INIT { NULL, 0, 0, 0 }

void kc_buf_init(struct kc_buf *b);
void kc_buf_release(struct kc_buf *b);
/* Make room for n more bytes; returns -1 (and sets b->oom) on failure. */
int kc_buf_grow(struct kc_buf *b, size_t n);
void kc_buf_add(struct kc_buf *b, const void *p, size_t n);
void kc_buf_add_u8(struct kc_buf *b, uint8_t v);
void kc_buf_add_u16(struct kc_buf *b, uint16_t v);
void kc_buf_add_u32(struct kc_buf *b, uint32_t v);
void kc_buf_add_u64(struct kc_buf *b, uint64_t v);
/* u32 length followed by the bytes (no terminator). s may be NULL (= ""). */
void kc_buf_add_str(struct kc_buf *b, const char *s);
/* LEB128 varint: 7 bits per byte, low bits first, high bit = more. */
void kc_buf_add_varint(struct kc_buf *b, uint32_t v);
/* printf into the buffer, keeping a NUL after len (not counted). */
void kc_buf_addf(struct kc_buf *b, const char *fmt, ...) KC_PRINTF(2, 3);

/* Reader over memory it does not own. */
struct kc_rd {
	const unsigned char *p;
	size_t len;
	size_t off;
};

void kc_rd_init(struct kc_rd *r, const void *p, size_t len);
size_t kc_rd_left(const struct kc_rd *r);
int kc_rd_u8(struct kc_rd *r, uint8_t *v, const char *what, struct kc_err *err) KC_MUST_CHECK;
int kc_rd_u16(struct kc_rd *r, uint16_t *v, const char *what, struct kc_err *err) KC_MUST_CHECK;
int kc_rd_u32(struct kc_rd *r, uint32_t *v, const char *what, struct kc_err *err) KC_MUST_CHECK;
int kc_rd_u64(struct kc_rd *r, uint64_t *v, const char *what, struct kc_err *err) KC_MUST_CHECK;
/* Point *p at the next n bytes (no copy). */
int kc_rd_bytes(struct kc_rd *r, const unsigned char **p, size_t n, const char *what,
		struct kc_err *err) KC_MUST_CHECK;
/* Read a canonical LEB128 varint of at most 32 bits: refuses a truncated
 * one, more than 5 bytes, a value above 2^32 - 1 and an overlong form (a
 * last byte of 0 after the first). */
int kc_rd_varint(struct kc_rd *r, uint32_t *v, const char *what, struct kc_err *err) KC_MUST_CHECK;
/* Read a u32-length-prefixed string of at most max bytes into dst
 * (dst_size >= max + 1). Rejects embedded NUL bytes. */
int kc_rd_str(struct kc_rd *r, char *dst, size_t dst_size, size_t max, const char *what,
	      struct kc_err *err) KC_MUST_CHECK;

#endif
