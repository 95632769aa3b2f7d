/*
 * day.h - UTC calendar days as the API and the database count them: days
 * since 1970-01-01, written YYYY-MM-DD.
 */
#ifndef KC_DAY_H
#define KC_DAY_H

#include <stdint.h>

#define KC_DAY_MAX 2932896 /* 9999-12-31 */

/* Parse exactly "YYYY-MM-DD" (1970-01-01 .. 9999-12-31, a real date) into
 * *day. Returns 0, or -1 for anything else. */
int kc_day_parse(const char *s, int64_t *day);

/* Write day (0 .. KC_DAY_MAX) as "YYYY-MM-DD" into out. */
void kc_day_format(int64_t day, char out[11]);

#endif
