/*
 * path.h - the one rule for a path taken from outside (a URL, a query
 * argument, a path stored by an import) that is then looked up below a
 * directory: made of plain segments, so it cannot climb out or alias.
 */
#ifndef KC_PATH_H
#define KC_PATH_H

#define KC_PATH_ABSOLUTE 1u  /* a leading '/' is allowed */
#define KC_PATH_DIR 2u       /* may be empty or end in '/' (names a directory) */
#define KC_PATH_NO_HIDDEN 4u /* no segment may start with '.' (hidden files) */

/* Is p (NUL-terminated) a sequence of segments separated by single '/',
 * none of them empty, "." or ".." (and, with KC_PATH_NO_HIDDEN, none
 * starting with '.')? flags relax the ends as above. Bytes other than '/'
 * are not judged: callers that care (control characters, '\\') check
 * them. */
int kc_path_safe(const char *p, unsigned flags);

#endif
