/*
 * fileio.h - bounded whole-file reads and atomic durable writes.
 */
#ifndef KC_FILEIO_H
#define KC_FILEIO_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Join dir and rel into out (size bytes) with exactly one '/' between
 * them: trailing slashes of dir and leading slashes of rel are dropped, so
 * the sysroot "/" and "proc/modules" give "/proc/modules", not
 * "//proc/modules". A dir of only slashes is the root ("/"); an empty dir
 * leaves rel relative; an empty rel gives dir. Fails ("path too long") when
 * the result does not fit. out is the caller's buffer. */
int kc_path_join(char *out, size_t size, const char *dir, const char *rel,
		 struct kc_err *err) KC_MUST_CHECK;

/* Read all of path into out (appended, NUL-terminated). Fails with a message
 * naming the file when it cannot be read or is larger than max bytes.
 * Works for /proc and /sys files, whose stat size is 0. */
int kc_read_file(const char *path, size_t max, struct kc_buf *out, struct kc_err *err) KC_MUST_CHECK;

/* Write data to path atomically and durably: write a temporary file in the
 * same directory, fsync it, rename it over path, fsync the directory. */
int kc_write_file_atomic(const char *path, const void *data, size_t len,
			 struct kc_err *err) KC_MUST_CHECK;

/* fsync the directory dir. */
int kc_fsync_dir(const char *dir, struct kc_err *err) KC_MUST_CHECK;

/* mkdir -p. */
int kc_mkdirs(const char *path, struct kc_err *err) KC_MUST_CHECK;

#endif
