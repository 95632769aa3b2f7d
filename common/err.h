/*
 * err.h - error reporting for library code.
 *
 * Every fallible function in the project takes a `struct kc_err *` and, on
 * failure, fills it with a domain code (what kind of failure: bad input,
 * not found, conflict, ...) and a human-readable message, and returns -1
 * (or NULL). Only main() decides whether to exit. The message buffer lives
 * inside the struct, so nothing has to be freed.
 *
 * The code says what went wrong in the terms of the project, never in the
 * terms of a transport: kc_errc_status() is the one place that turns a code
 * into an HTTP status, and kc_errc_name() into the stable string the HTTP
 * API puts in an error's "code" field (docs/api.md lists them). Callers
 * decide on the code, never on the message text.
 */
#ifndef KC_ERR_H
#define KC_ERR_H

#include <stddef.h>

#define KC_ERR_MAX 512

/* Domain error codes. KC_E_NONE is "no error"; the values are not part of
 * any interface (the names from kc_errc_name() are). */
enum kc_errc {
	KC_E_NONE = 0,
	KC_E_BAD_INPUT,          /* malformed or invalid input (400 bad_input) */
	KC_E_OTHER_REPO,         /* builds from different git repositories (400 other_repository) */
	KC_E_UNAUTHORIZED,       /* no or insufficient credentials (401 unauthorized) */
	KC_E_FORBIDDEN,          /* credentials valid, action not allowed (403 forbidden) */
	KC_E_NOT_FOUND,          /* no such resource, file or row (404 not_found) */
	KC_E_NOT_IMPORTED,       /* a build known from coverage only (404 not_imported) */
	KC_E_METHOD_NOT_ALLOWED, /* known resource, other method (405 method_not_allowed) */
	KC_E_CONFLICT,           /* contradicts what is stored (409 conflict) */
	KC_E_TOO_LARGE,          /* body or value over a limit (413 too_large) */
	KC_E_URI_TOO_LONG,       /* request target over the limit (414 uri_too_long) */
	KC_E_UNSUPPORTED_MEDIA,  /* wrong Content-Type (415 unsupported_media_type) */
	KC_E_NEED_ADDRESS_MAP,   /* a report whose boot has no map (428 address_map_needed) */
	KC_E_RATE_LIMITED,       /* over the request rate (429 rate_limited, with Retry-After) */
	KC_E_HEADERS_TOO_LARGE,  /* request headers over the limit (431 headers_too_large) */
	KC_E_IO,                 /* a system call failed (500 io_error) */
	KC_E_INTERNAL,           /* a bug, corrupt data or out of memory (500 internal) */
	KC_E_UNAVAILABLE,        /* try again later: store full, commit failed (503 unavailable) */
	KC_E_DB_UNREACHABLE,     /* /healthz: the database does not answer (503 database_unreachable) */
	KC_E_COUNT_
};

struct kc_err {
	char msg[KC_ERR_MAX]; /* NUL-terminated message, "" when no error */
	enum kc_errc code;    /* KC_E_NONE when no error */
};

#if defined(__GNUC__)
#define KC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KC_MUST_CHECK __attribute__((warn_unused_result))
#else
#define KC_PRINTF(a, b)
#define KC_MUST_CHECK
#endif

/* Reset err to "no error". err may be NULL. */
void kc_err_clear(struct kc_err *err);

/* Record code and a formatted message into err (may be NULL) and return
 * -1, so callers can write `return kc_err_set(err, KC_E_BAD_INPUT, "...")`. */
int kc_err_set(struct kc_err *err, enum kc_errc code, const char *fmt, ...) KC_PRINTF(3, 4);

/* Like kc_err_set with the code for the errno value e: ENOENT and ENOTDIR
 * are KC_E_NOT_FOUND, EACCES and EPERM KC_E_FORBIDDEN (the process may not
 * do it: a collector says "run as root"), everything else KC_E_IO. */
int kc_err_errno(struct kc_err *err, int e, const char *fmt, ...) KC_PRINTF(3, 4);

/* Prefix the existing message with "prefix: "; the code is kept (set to
 * KC_E_INTERNAL when err had none). err may be NULL. Returns -1. */
int kc_err_prefix(struct kc_err *err, const char *fmt, ...) KC_PRINTF(2, 3);

/* The HTTP status of a code (500 for KC_E_NONE and unknown values). */
unsigned kc_errc_status(enum kc_errc code);

/* The stable name of a code ("not_found"); "internal" for unknown values.
 * Returns a static string. */
const char *kc_errc_name(enum kc_errc code);

#endif
