/*
 * tls.h - the HTTP layer's use of GnuTLS beside libmicrohttpd's own TLS:
 * checking the configured certificate, key and client CA before the daemon
 * starts (so a bad file gets a clear message, not MHD's refusal to start),
 * and reading the verified client certificate of a connection.
 */
#ifndef KC_TLS_H
#define KC_TLS_H

#include <stddef.h>

#include <microhttpd.h>

#include "err.h"

/* Longest subject DN kept; longer ones are refused (KC_E_UNAUTHORIZED). */
#define KC_TLS_SUBJECT_MAX 512

/* Can this libmicrohttpd serve HTTPS, and do cert and key (PEM texts) form
 * a pair, and does client_ca (PEM, may be NULL) hold a CA certificate?
 * Returns 0, or -1 with err naming the flag at fault. */
int kc_tls_check(const char *cert, const char *key, const char *client_ca,
		 struct kc_err *err) KC_MUST_CHECK;

/* The subject DN of the client certificate of conn into subject (size
 * bytes, caller's buffer), after GnuTLS verified it against the daemon's
 * trust list (MHD_OPTION_HTTPS_MEM_TRUST). Fails with KC_E_UNAUTHORIZED
 * when the client sent no certificate or one that does not verify. */
int kc_tls_client_subject(struct MHD_Connection *conn, char *subject, size_t size,
			  struct kc_err *err) KC_MUST_CHECK;

#endif
