/*
 * flatbits.h - a flat bitset of 32-bit offsets, allocated in chunks of
 * 64 Ki offsets (8 KiB) as bits are set: the writer's decoded stored unions
 * (store.c), on which "is this PC new?" is one load and a mask instead of
 * a CRoaring container search, and setting a bit never moves other bits
 * (OR-ing into a CRoaring array container rewrites it). The rows in the
 * database stay CRoaring portable bitmaps: a union written whole is made
 * from its stored rows (store.c fold_rows), not from this set.
 *
 * Not thread-safe; the writer thread owns each set. Memory: 8 KiB per
 * chunk holding at least one set bit, plus one pointer per chunk index up
 * to the highest; kc_flat_bytes() says how much.
 */
#ifndef KC_FLATBITS_H
#define KC_FLATBITS_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

struct kc_flat {
	uint64_t **chunk; /* chunk[v >> 16]: bits of v & 0xffff, or NULL (none set) */
	size_t nchunk, capchunk;
	size_t bytes; /* chunk memory and the chunk table */
};

/* An empty set needs no call: zero the struct. */

static inline int kc_flat_test(const struct kc_flat *f, uint32_t v)
{
	uint32_t hi = v >> 16, lo = v & 0xffff;

	return hi < f->nchunk && f->chunk[hi] && ((f->chunk[hi][lo >> 6] >> (lo & 63)) & 1);
}

/* Set v. Returns 0, or -1 when out of memory (the set is unchanged). */
int kc_flat_set(struct kc_flat *f, uint32_t v);

/* Set every value of bits; *added (when not NULL) grows by the values that
 * were not set before. Returns 0, or -1 when out of memory (the set then
 * holds some of them). */
int kc_flat_or_roaring(struct kc_flat *f, const roaring_bitmap_t *bits, uint64_t *added);

static inline size_t kc_flat_bytes(const struct kc_flat *f)
{
	return f->bytes;
}

/* Free the memory; the set is empty again. */
void kc_flat_clear(struct kc_flat *f);

#endif
