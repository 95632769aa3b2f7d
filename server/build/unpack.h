/*
 * unpack.h - open a kernel binary that may be compressed, as distributions
 * install modules (.ko.xz, .ko.zst, .ko.gz): the content is recognized by
 * its magic bytes (not the file name) and decompressed in memory with
 * liblzma, libzstd or zlib into an anonymous memory file (memfd), so that
 * libelf and libdwfl read it like any other file. The output streams into
 * the memfd through a 1 MiB buffer: memory holds it once. Nothing shells
 * out.
 */
#ifndef KC_UNPACK_H
#define KC_UNPACK_H

#include <stddef.h>

#include "err.h"

/* Largest compressed file read, and largest decompressed size accepted
 * (a module or a vmlinux; a bigger result is refused as bad input). */
#define KC_UNPACK_IN_MAX (256u << 20)
#define KC_UNPACK_OUT_MAX (1024u << 20)

/* The file name suffixes of compressed modules that module discovery
 * accepts next to ".ko" (NULL-terminated). */
extern const char *const kc_unpack_suffixes[];

/* Length of the compression suffix path ends in (".xz", ".zst", ".gz"),
 * 0 when none. */
size_t kc_unpack_suffix_len(const char *path);

/* Open path for reading: a read-only descriptor of the file itself, or of
 * a memfd holding the decompressed content when the file is xz, zstd or
 * gzip data. Returns the descriptor (owned by the caller, close it) or -1
 * with a message naming path. */
int kc_unpack_open(const char *path, struct kc_err *err) KC_MUST_CHECK;

#endif
