/*
 * push.h - delivering the spool to kcovd over HTTP (libcurl).
 *
 * For each spooled report, oldest first: POST it to /api/v1/reports. On
 * 2xx the report is removed from the spool. On 428 ("address map needed")
 * the boot's map is POSTed to /api/v1/boots and the report sent again. On
 * 400/413/415/422 (the server will never accept these bytes) the report is
 * moved to rejected/. On a network error, 5xx or 429 the push backs off
 * exponentially with full jitter and retries the same report; after
 * max_attempts it gives up, leaving everything spooled. 401/403 stop the
 * push at once (the token is wrong; retrying cannot help). A TLS failure
 * (certificate not trusted, expired or for another host, no client
 * certificate) is named as such in the error and leaves the report spooled.
 *
 * Spooled reports are wire v1. The push sends them as v2 to a server whose
 * answers advertise v2 (X-Kcov-Wire: 1,2; learned with GET /healthz at the
 * start and from every answer), as v1 otherwise; see docs/wire-format.md.
 */
#ifndef KC_PUSH_H
#define KC_PUSH_H

#include "err.h"
#include "spool.h"

struct kc_push_opts {
	const char *server;   /* base URL, e.g. http://127.0.0.1:8080 */
	const char *token;    /* bearer token, may be NULL */
	int max_attempts;     /* per report before giving up (>= 1) */
	double backoff_base;  /* seconds, first retry delay ceiling */
	double backoff_max;   /* seconds, largest delay ceiling */
	long timeout_s;       /* per request */
	/* HTTPS (docs/operations.md). The server certificate and host name are
	 * always checked: against cacert (PEM file) when set, the system's CAs
	 * otherwise. cert/key: a PEM client certificate and its key, for a
	 * kcovd started with --tls-client-ca. All may be NULL. */
	const char *cacert, *cert, *key;
};

struct kc_push_stats {
	unsigned delivered;  /* acknowledged (new or duplicate) */
	unsigned duplicates; /* acknowledged as already known */
	unsigned rejected;   /* moved to rejected/ */
	unsigned maps_sent;
	unsigned retries;
	unsigned rate_limited; /* retries after a 429 (counted in retries too) */
	unsigned v2;         /* delivered re-encoded as wire v2 */
	unsigned pending;    /* left in the spool when the push stopped */
	unsigned long long pcs;   /* unique PCs in the delivered reports */
	unsigned long long bytes; /* request bytes of the delivered reports */
};

/* Call once per process before any push (curl_global_init). */
int kc_push_global_init(struct kc_err *err) KC_MUST_CHECK;

/* Deliver every report in the spool. Returns 0 when the spool holds no
 * pending report any more, -1 otherwise (err says why). */
int kc_push_spool(const struct kc_spool *s, const struct kc_push_opts *o,
		  struct kc_push_stats *st, struct kc_err *err) KC_MUST_CHECK;

#endif
