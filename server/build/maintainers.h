/*
 * maintainers.h - the kernel's MAINTAINERS file: which subsystems (sections)
 * a source path belongs to, with the matching rules of the kernel's own
 * scripts/get_maintainer.pl (6.1), which is the reference:
 *
 * - A line "T:<spaces>VALUE" with T one capital letter at column 0 is an
 *   entry; other lines that are neither blank nor '#' comments are section
 *   names; a section is a name followed by its entries (a name directly
 *   followed by another name is dropped: the last one names the section).
 *   Entries before the first name belong to no section.
 * - F: (files) and X: (exclusions) are converted as the script does: '.' is
 *   literal, '*' becomes ".*", '?' becomes "."; other regex characters keep
 *   their Perl meaning (e.g. "[ch]"). A value that names an existing
 *   directory (is_dir below, asked with the converted text, as the script's
 *   `-d` is) gets a trailing '/'.
 * - A pattern ending in '/' matches every path it is a prefix of (so a
 *   directory matches recursively, and its '*' may cross '/'); any other
 *   pattern matches a path it is a prefix of only when both have the same
 *   number of '/' (so '*' and '?' never cross a '/', and "include/linux/foo"
 *   also matches "include/linux/foo.h", as in the script).
 * - N: is a Perl extended (/x) regex searched anywhere in the path.
 * - A section contains a path when one of its F: or N: entries matches it
 *   and none of its X: entries does (X: wins, within its own section).
 * Regexes are PCRE2 (Perl compatible), with bounded match effort. Sections
 * that share a name are one subsystem. K: (keywords in file contents) and
 * every other entry type are ignored.
 *
 * The text comes from a buffer (a source directory's file today, a git blob
 * later). It is untrusted: sizes are bounded (KC_MAINT_MAX_*); an entry
 * whose pattern does not compile, or is longer than KC_MAINT_MAX_PATTERN,
 * is ignored and counted (kc_maint_ignored); a section whose name is not
 * valid UTF-8 or is longer than KC_MAINT_MAX_NAME is ignored with its
 * entries, and counted likewise.
 *
 * A struct kc_maint is not thread-safe (matching uses scratch space in it).
 */
#ifndef KC_MAINTAINERS_H
#define KC_MAINTAINERS_H

#include <stddef.h>

#include "err.h"

#define KC_MAINT_MAX_TEXT (16u << 20)  /* bytes of MAINTAINERS (6.1: 0.7 MB) */
#define KC_MAINT_MAX_LINE 4096u        /* bytes per line */
#define KC_MAINT_MAX_ENTRIES 200000u   /* F:/X:/N: entries (6.1: ~7,100) */
#define KC_MAINT_MAX_SECTIONS 50000u   /* sections (6.1: ~2,900) */
#define KC_MAINT_MAX_PATTERN 1024u     /* bytes of one F:/X:/N: value */
#define KC_MAINT_MAX_NAME 512u         /* bytes of a section name */

struct kc_maint;

/* Asked whether the converted F:/X: value `path` (relative to the source
 * root, NUL-terminated) is an existing directory: 1 yes, 0 no. NULL: none
 * is (no F: value gets a trailing '/' it does not have). */
typedef int (*kc_maint_is_dir_fn)(void *ctx, const char *path);

struct kc_source;

/* Read MAINTAINERS at the root of a build's source (a directory or a git
 * revision, server/build/source.h) and parse it, directories asked of the
 * same source (kc_source_is_dir). KC_E_NOT_FOUND when there is no such
 * file or it is larger than KC_MAINT_MAX_TEXT bytes (the build then has
 * no subsystems); other errors as kc_source_read_file and kc_maint_parse. */
struct kc_maint *kc_maint_load(struct kc_source *src, struct kc_err *err); /* maint_source.c */

/* Parse len bytes of text (need not be NUL-terminated). Fails with
 * KC_E_BAD_INPUT for a text over the size limits or holding a NUL byte,
 * KC_E_INTERNAL when out of memory. Free with kc_maint_free. */
struct kc_maint *kc_maint_parse(const char *text, size_t len, kc_maint_is_dir_fn is_dir,
				void *ctx, struct kc_err *err);
void kc_maint_free(struct kc_maint *m); /* NULL is fine */

/* Distinct subsystem names, in order of first appearance: index i in
 * 0..kc_maint_count()-1; names are NUL-terminated, valid UTF-8, owned by m. */
size_t kc_maint_count(const struct kc_maint *m);
const char *kc_maint_name(const struct kc_maint *m, size_t i);

/* Entries and sections ignored while parsing (see above). */
size_t kc_maint_ignored(const struct kc_maint *m);

/* The subsystems containing path (relative, no leading '/'), as ascending
 * distinct name indexes in *out (n of them; *out is m's scratch space,
 * valid until the next call on m). A regex that exceeds its bounded match
 * effort counts as not matching. Returns 0, or -1 with err set
 * (KC_E_INTERNAL) when out of memory. */
int kc_maint_match(struct kc_maint *m, const char *path, const size_t **out, size_t *n,
		   struct kc_err *err);

#endif
