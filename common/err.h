/*
 * err.h - error reporting for library code.
 *
 * Every fallible function in the project takes a `struct kc_err *` and, on
 * failure, fills it with a human-readable message and returns -1 (or NULL).
 * Only main() decides whether to exit. The message buffer lives inside the
 * struct, so nothing has to be freed.
 */
#ifndef KC_ERR_H
#define KC_ERR_H

#include <stddef.h>

#define KC_ERR_MAX 512

struct kc_err {
	char msg[KC_ERR_MAX]; /* NUL-terminated message, "" when no error */
	int code;             /* optional machine-readable code (0 = none) */
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

/* Format a message into err (may be NULL) and return -1, so callers can write
 * `return kc_err_set(err, "...")`. */
int kc_err_set(struct kc_err *err, const char *fmt, ...) KC_PRINTF(2, 3);

/* Like kc_err_set, and also record a numeric code. */
int kc_err_setc(struct kc_err *err, int code, const char *fmt, ...) KC_PRINTF(3, 4);

/* Prefix the existing message with "prefix: ". Returns -1. */
int kc_err_prefix(struct kc_err *err, const char *fmt, ...) KC_PRINTF(2, 3);

#endif
