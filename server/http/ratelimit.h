/*
 * ratelimit.h - token buckets keyed by a short string (a token id, a
 * client address), in a table of fixed size owned by whoever creates it
 * (struct kc_server holds one per kind of key). Memory is bounded: the
 * table never grows; a new key takes the least recently used slot of its
 * set, so a key unseen for a while starts again with a full bucket. Any
 * thread (one mutex).
 */
#ifndef KC_RATELIMIT_H
#define KC_RATELIMIT_H

#include "err.h"

/* Slots of a table (8-way sets): about 100 bytes each. */
#define KC_RATE_SLOTS 4096
/* Longest key kept; longer keys are cut (and so share a bucket). */
#define KC_RATE_KEY_MAX 64

struct kc_ratelimit;

/* A table whose buckets hold at most burst requests and refill at rate
 * requests per second (both >= 1). NULL with err set when out of memory. */
struct kc_ratelimit *kc_ratelimit_new(unsigned rate, unsigned burst, struct kc_err *err);
void kc_ratelimit_free(struct kc_ratelimit *rl);

/* Take one request from key's bucket at monotonic time now (seconds).
 * Returns 0 when allowed, else the whole seconds (>= 1) until the bucket
 * holds a request again: the Retry-After of the refusal. */
unsigned kc_ratelimit_take(struct kc_ratelimit *rl, const char *key, double now);

#endif
