/*
 * ratelimit.c - the token buckets behind kcovd's 429 answers
 * (--rate-limit, --addr-rate-limit): a fixed table of 8-way sets indexed
 * by a keyed hash (SipHash via libsodium, with a random key per table, so
 * a client cannot choose keys that all fall into one set), LRU replacement
 * inside a set, and lazy refill from the time of the last request.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define WAYS 8
#define SETS (KC_RATE_SLOTS / WAYS)

struct slot {
	char key[KC_RATE_KEY_MAX + 1]; /* "" free */
	double tokens;                 /* requests left at time last */
	double last;                   /* monotonic seconds of the last take */
};

struct kc_ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	struct slot slots[KC_RATE_SLOTS];
};

struct kc_ratelimit *kc_ratelimit_new(unsigned rate, unsigned burst, struct kc_err *err)
{
	struct kc_ratelimit *rl;

	if (rate == 0 || burst == 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "a rate limit needs a rate and a burst of at least 1");
		return NULL;
	}
	rl = calloc(1, sizeof(*rl));
	if (!rl) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst;
	crypto_shorthash_keygen(rl->hash_key);
	return rl;
}

void kc_ratelimit_free(struct kc_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* key's slot in its set: its own, else a free one, else the least recently
 * used one (reset to a full bucket). */
static struct slot *find(struct kc_ratelimit *rl, const char *key, double now)
{
	unsigned char h[crypto_shorthash_BYTES];
	struct slot *set, *victim = NULL;
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->hash_key);
	memcpy(&v, h, sizeof(v));
	set = &rl->slots[(v % SETS) * WAYS];
	for (unsigned i = 0; i < WAYS; i++) {
		if (strcmp(set[i].key, key) == 0)
			return &set[i];
		if (!victim || (victim->key[0] && (!set[i].key[0] || set[i].last < victim->last)))
			victim = &set[i];
	}
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->tokens = rl->burst;
	victim->last = now;
	return victim;
}

unsigned kc_ratelimit_take(struct kc_ratelimit *rl, const char *key, double now)
{
	char k[KC_RATE_KEY_MAX + 1];
	struct slot *s;
	unsigned wait = 0;

	snprintf(k, sizeof(k), "%s", key[0] ? key : "-");
	pthread_mutex_lock(&rl->lock);
	s = find(rl, k, now);
	if (now > s->last) {
		s->tokens += (now - s->last) * rl->rate;
		if (s->tokens > rl->burst)
			s->tokens = rl->burst;
	}
	s->last = now;
	if (s->tokens >= 1) {
		s->tokens -= 1;
	} else {
		/* Whole seconds until one request has refilled, rounded up. */
		double need = (1 - s->tokens) / rl->rate;

		wait = (unsigned)need;
		if ((double)wait < need || wait == 0)
			wait++;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}
