/*
 * elfinfo.h - the few facts the project reads from kernel ELF files with
 * libelf: the GNU build-id note and, for a vmlinux, the link-time
 * addresses of _text and _etext.
 *
 * The server's symbolizer reads build ids through kc_elf_build_id(); the
 * collector's syzkaller bridge builds a boot's address map from a vmlinux
 * (kc_vmlinux_read) and module files (kc_elf_file_build_id) instead of
 * /proc and /sys. Nothing here allocates memory the caller must free.
 */
#ifndef KC_ELFINFO_H
#define KC_ELFINFO_H

#include <stddef.h>
#include <stdint.h>

#include <libelf.h>

#include "err.h"
#include "wire.h"

/* The first GNU build-id note of elf (any SHT_NOTE section) as lowercase
 * hex into hex (size >= 2 * 64 + 1). Returns 1 when found, 0 when the file
 * has none (hex ""). */
int kc_elf_build_id(Elf *elf, char *hex, size_t size);

/* What the address map needs from a vmlinux. */
struct kc_vmlinux {
	char build_id[KC_BUILD_ID_MAX + 1]; /* lowercase hex, never "" */
	uint64_t text;                      /* link-time _text (symbol table) */
	uint64_t etext;                     /* link-time _etext, > text */
};

/* Read path (an ET_EXEC or ET_DYN vmlinux with its symbol table). Fails,
 * naming the file, when it is not such an ELF file, has no build id, or
 * lacks _text or _etext. */
int kc_vmlinux_read(const char *path, struct kc_vmlinux *v, struct kc_err *err) KC_MUST_CHECK;

/* The build id of the ELF file at path (a module .ko) into hex ("" when
 * it has none). Fails when the file cannot be opened or is not ELF. */
int kc_elf_file_build_id(const char *path, char *hex, size_t size,
			 struct kc_err *err) KC_MUST_CHECK;

#endif
