/*
 * err.c - formatting of error messages into a caller-owned struct kc_err.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kc_err_clear(struct kc_err *err)
{
	if (!err)
		return;
	err->msg[0] = '\0';
	err->code = 0;
}

static void vset(struct kc_err *err, const char *fmt, va_list ap)
{
	if (!err)
		return;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int kc_err_set(struct kc_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, fmt, ap);
	va_end(ap);
	return -1;
}

int kc_err_setc(struct kc_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, fmt, ap);
	va_end(ap);
	if (err)
		err->code = code;
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
	return -1;
}
