/*
 * flatbits.c - the flat chunked bitset of flatbits.h: the writer keeps its
 * stored unions decoded in one so that finding a batch's new PCs costs one
 * load per PC and adding them one store (store.c).
 */
#include "flatbits.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

#define KC_FLAT_WORDS (65536 / 64)

int kc_flat_set(struct kc_flat *f, uint32_t v)
{
	uint32_t hi = v >> 16, lo = v & 0xffff;

	if (hi >= f->nchunk) {
		size_t cap = f->capchunk;

		if (KC_GROW(f->chunk, f->capchunk, (size_t)hi + 1) < 0)
			return -1;
		memset(f->chunk + f->nchunk, 0, ((size_t)hi + 1 - f->nchunk) * sizeof(*f->chunk));
		f->bytes += (f->capchunk - cap) * sizeof(*f->chunk);
		f->nchunk = (size_t)hi + 1;
	}
	if (!f->chunk[hi]) {
		f->chunk[hi] = calloc(KC_FLAT_WORDS, sizeof(uint64_t));
		if (!f->chunk[hi])
			return -1;
		f->bytes += KC_FLAT_WORDS * sizeof(uint64_t);
	}
	f->chunk[hi][lo >> 6] |= (uint64_t)1 << (lo & 63);
	return 0;
}

struct or_arg {
	struct kc_flat *f;
	uint64_t added;
};

static bool set_one(uint32_t v, void *arg)
{
	struct or_arg *a = arg;

	if (kc_flat_test(a->f, v))
		return true;
	a->added++;
	return kc_flat_set(a->f, v) == 0;
}

int kc_flat_or_roaring(struct kc_flat *f, const roaring_bitmap_t *bits, uint64_t *added)
{
	struct or_arg a = { f, 0 };
	int ok = roaring_iterate(bits, set_one, &a);

	if (added)
		*added += a.added;
	return ok ? 0 : -1;
}

void kc_flat_clear(struct kc_flat *f)
{
	for (size_t i = 0; i < f->nchunk; i++)
		free(f->chunk[i]);
	free(f->chunk);
	memset(f, 0, sizeof(*f));
}
