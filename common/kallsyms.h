/*
 * kallsyms.h - strict parsers for the kernel's address-map files:
 * /proc/kallsyms, /proc/modules, /sys/module/NAME/sections/.text and
 * GNU build-id notes (/sys/kernel/notes, .note.gnu.build-id).
 *
 * Every parser is bounded and names the file and line of the first
 * malformed input in err; none of them allocates memory the caller must
 * free, except kc_modules_parse (free(*mods)).
 */
#ifndef KC_KALLSYMS_H
#define KC_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

#define KC_KALLSYMS_LINE_MAX 1024

/* What to do when kptr_restrict hides kernel addresses (shows them as 0):
 * the end of every message about zeroed addresses. */
#define KC_KPTR_HINT "run as root or set kernel.kptr_restrict=0 (sysctl)"

struct kc_kallsyms_info {
	uint64_t text;  /* runtime address of _text */
	uint64_t etext; /* runtime address of _etext */
	uint64_t nsyms; /* lines parsed */
};

/* Parse kallsyms text (len bytes); fname is used in messages. Fails on any
 * malformed line, when _text or _etext is missing, or when every address or
 * _text's is 0 (kptr_restrict hides them from non-root readers; the message
 * ends with KC_KPTR_HINT). */
int kc_kallsyms_parse(const char *text, size_t len, const char *fname,
		      struct kc_kallsyms_info *out, struct kc_err *err) KC_MUST_CHECK;

/* Parse /proc/modules text into a new array of *n modules (name, core base
 * and size; build id and text address left empty). Modules that are not
 * "Live" are skipped. Empty text is no modules (*mods NULL, *n 0). A Live
 * module at base 0 fails with KC_KPTR_HINT: kptr_restrict zeroes the bases
 * for non-root readers. The caller frees *mods. */
int kc_modules_parse(const char *text, size_t len, const char *fname, struct kc_module **mods,
		     uint32_t *n, struct kc_err *err) KC_MUST_CHECK;

/* Parse a sysfs section address file ("0xffffffffc0002000\n"). */
int kc_parse_section_addr(const char *text, size_t len, const char *fname, uint64_t *addr,
			  struct kc_err *err) KC_MUST_CHECK;

/* Find the GNU build id in a buffer of ELF notes and write it as lowercase
 * hex into hex (size >= KC_BUILD_ID_MAX + 1). */
int kc_notes_build_id(const unsigned char *p, size_t len, const char *fname, char *hex,
		      size_t hex_size, struct kc_err *err) KC_MUST_CHECK;

#endif
