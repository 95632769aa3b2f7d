/*
 * parse.h - the one strict parser of integers and sizes, for command-line
 * flags, environment variables, query arguments and headers.
 *
 * A value is decimal digits (a leading '-' for kc_parse_i64), or for
 * kc_parse_u64 hexadecimal digits after an explicit "0x" prefix (addresses,
 * handles); no '+', no leading or trailing space, no octal ("010" is ten),
 * nothing after the digits. Empty text, trailing garbage, overflow and
 * values outside [min, max] all fail with KC_E_BAD_INPUT and a message that
 * starts with `what` (the flag, variable or argument name, e.g.
 * "--max-db-size"), so callers print it as is.
 */
#ifndef KC_PARSE_H
#define KC_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parse s into *out (untouched on failure). s must not be NULL. */
int kc_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out,
		 struct kc_err *err) KC_MUST_CHECK;
int kc_parse_i64(const char *s, const char *what, int64_t min, int64_t max, int64_t *out,
		 struct kc_err *err) KC_MUST_CHECK;

/* A size: digits with an optional binary unit suffix K, M, G or T (1024,
 * 1024^2, ...; upper or lower case, an optional trailing "iB" or "B" is
 * accepted: "10G", "10GiB", "512m"). *out is in units of `unit` bytes
 * (1 for bytes, 1 << 20 for MiB); a value without suffix is already in
 * those units. The result must be a whole number of units within
 * [min, max]. "10X", "10G5" and "1.5G" are refused. */
int kc_parse_size(const char *s, const char *what, uint64_t unit, uint64_t min, uint64_t max,
		  uint64_t *out, struct kc_err *err) KC_MUST_CHECK;

/* Is the n bytes at s a build id: 1 to max lowercase hex digits (a GNU
 * build id as kcovd names builds; max is KC_BUILD_ID_MAX)? The one rule
 * for every {build} of every route. */
int kc_build_id_valid(const char *s, size_t n, size_t max);

#endif
