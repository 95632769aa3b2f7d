/*
 * parse.c - strict decimal integer and size parsing (see parse.h): every
 * integer the programs read from outside goes through here, so "10X" or
 * "99999999999999999999" is refused with the name of what was being read
 * instead of becoming 10, 0 or a silently saturated value.
 */
#include "parse.h"

#include <ctype.h>
#include <string.h>

/* The value of digit c in base (10 or 16), or -1. */
static int digit(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The base-`base` digits at the start of s as a uint64_t (0 when there
 * are none); *end is set after them. Returns -1 when there are none or
 * they overflow. */
static int digits_base(const char *s, unsigned base, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	int over = 0, d;

	for (; (d = digit(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (unsigned)d) / base)
			over = 1;
		v = v * base + (unsigned)d;
	}
	*end = p;
	*out = over ? 0 : v;
	return p == s || over ? -1 : 0;
}

static int digits(const char *s, const char **end, uint64_t *out)
{
	return digits_base(s, 10, end, out);
}

int kc_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
		 struct kc_err *err)
{
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *start = s + 2 * hex, *end;
	uint64_t v;

	if (!*s)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: empty, expected a number", what);
	if (digits_base(start, hex ? 16 : 10, &end, &v) < 0 && end > start)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is too large", what, s);
	if (end == start || *end)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is not a whole decimal number",
				  what, s);
	if (v < min || v > max)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s is outside %llu..%llu", what, s,
				  (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int kc_parse_i64(const char *s, const char *what, int64_t min, int64_t max, int64_t *out,
		 struct kc_err *err)
{
	int neg = *s == '-';
	const char *end;
	uint64_t mag;
	int64_t v;

	if (!*s)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: empty, expected a number", what);
	if (digits(s + neg, &end, &mag) < 0 && end > s + neg)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is too %s", what, s,
				  neg ? "small" : "large");
	if (end == s + neg || *end)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is not a whole decimal number",
				  what, s);
	if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is too %s", what, s,
				  neg ? "small" : "large");
	v = !neg ? (int64_t)mag : mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	if (v < min || v > max)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s is outside %lld..%lld", what, s,
				  (long long)min, (long long)max);
	*out = v;
	return 0;
}

/* The multiplier of a unit suffix ("", "K", "MiB", "gb"...), 0 if none. */
static uint64_t suffix_scale(const char *s)
{
	static const char units[] = "KMGT";
	const char *u = *s ? strchr(units, toupper((unsigned char)*s)) : NULL;
	uint64_t scale = 1;

	if (!*s)
		return 1;
	if (!u)
		return 0;
	for (const char *p = units; p <= u; p++)
		scale <<= 10;
	s++;
	if (*s == 'i' || *s == 'I')
		s++;
	if (*s == 'b' || *s == 'B')
		s++;
	return *s ? 0 : scale;
}

int kc_parse_size(const char *s, const char *what, uint64_t unit, uint64_t min, uint64_t max,
		  uint64_t *out, struct kc_err *err)
{
	const char *end;
	uint64_t v, scale;

	if (!*s)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: empty, expected a size", what);
	if (digits(s, &end, &v) < 0) {
		if (end > s)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is too large", what, s);
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: '%s' is not a size (a number with an optional K, M, G "
				  "or T suffix)", what, s);
	}
	scale = suffix_scale(end);
	if (!scale)
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "%s: '%s' is not a size (a number with an optional K, M, G "
				  "or T suffix)", what, s);
	if (*end) { /* a suffix: v * scale bytes, in units of unit */
		if (v > UINT64_MAX / scale)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is too large", what, s);
		v *= scale;
		if (unit > 1 && v % unit)
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "%s: '%s' is not a whole number of %llu-byte units", what,
					  s, (unsigned long long)unit);
		v /= unit ? unit : 1;
	}
	if (v < min || v > max)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: '%s' is outside the allowed range", what,
				  s);
	*out = v;
	return 0;
}

int kc_build_id_valid(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}
