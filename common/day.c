/*
 * day.c - conversion between UTC calendar dates and day numbers (days
 * since 1970-01-01), with Howard Hinnant's days_from_civil and
 * civil_from_days, so that every module parses and prints days alike.
 */
#include "day.h"

#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The n decimal digits at s (digits only: no sign, no space), or -1. */
static int fixed_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int kc_day_parse(const char *s, int64_t *day)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, leap;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = fixed_digits(s, 4);
	m = fixed_digits(s + 5, 2);
	d = fixed_digits(s + 8, 2);
	if (y < 0 || m < 0 || d < 0)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || (unsigned)d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return -1;
	*day = days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

void kc_day_format(int64_t day, char out[11])
{
	int64_t z = day + 719468, era, y;
	unsigned doe, yoe, doy, mp, d, m;
	char tmp[32]; /* wider than needed: the compiler cannot bound m and d */

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(tmp, sizeof(tmp), "%04d-%02u-%02u", (int)(y % 10000), m, d);
	memcpy(out, tmp, 10);
	out[10] = '\0';
}
