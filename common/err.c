/*
 * err.c - formatting of error messages into a caller-owned struct kc_err,
 * and the one table that gives each domain error code its HTTP status and
 * its stable name.
 */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	unsigned status;
	const char *name;
} codes[KC_E_COUNT_] = {
	[KC_E_NONE] = { 500, "internal" },
	[KC_E_BAD_INPUT] = { 400, "bad_input" },
	[KC_E_OTHER_REPO] = { 400, "other_repository" },
	[KC_E_UNAUTHORIZED] = { 401, "unauthorized" },
	[KC_E_FORBIDDEN] = { 403, "forbidden" },
	[KC_E_NOT_FOUND] = { 404, "not_found" },
	[KC_E_NOT_IMPORTED] = { 404, "not_imported" },
	[KC_E_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed" },
	[KC_E_CONFLICT] = { 409, "conflict" },
	[KC_E_TOO_LARGE] = { 413, "too_large" },
	[KC_E_URI_TOO_LONG] = { 414, "uri_too_long" },
	[KC_E_UNSUPPORTED_MEDIA] = { 415, "unsupported_media_type" },
	[KC_E_NEED_ADDRESS_MAP] = { 428, "address_map_needed" },
	[KC_E_RATE_LIMITED] = { 429, "rate_limited" },
	[KC_E_HEADERS_TOO_LARGE] = { 431, "headers_too_large" },
	[KC_E_IO] = { 500, "io_error" },
	[KC_E_INTERNAL] = { 500, "internal" },
	[KC_E_UNAVAILABLE] = { 503, "unavailable" },
	[KC_E_DB_UNREACHABLE] = { 503, "database_unreachable" },
};

unsigned kc_errc_status(enum kc_errc code)
{
	return (unsigned)code < KC_E_COUNT_ ? codes[code].status : 500;
}

const char *kc_errc_name(enum kc_errc code)
{
	return (unsigned)code < KC_E_COUNT_ ? codes[code].name : "internal";
}

void kc_err_clear(struct kc_err *err)
{
	if (!err)
		return;
	err->msg[0] = '\0';
	err->code = KC_E_NONE;
}

static void vset(struct kc_err *err, enum kc_errc code, const char *fmt, va_list ap)
{
	if (!err)
		return;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->code = code;
}

int kc_err_set(struct kc_err *err, enum kc_errc code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int kc_err_errno(struct kc_err *err, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, e == ENOENT || e == ENOTDIR ? KC_E_NOT_FOUND :
		  e == EACCES || e == EPERM   ? KC_E_FORBIDDEN :
						KC_E_IO, fmt, ap);
	va_end(ap);
	return -1;
}

int kc_err_prefix(struct kc_err *err, const char *fmt, ...)
{
	char old[KC_ERR_MAX];
	va_list ap;
	int n;

	if (!err)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %.*s",
			 (int)(sizeof(err->msg) - (size_t)n), old);
	if (err->code == KC_E_NONE)
		err->code = KC_E_INTERNAL;
	return -1;
}
