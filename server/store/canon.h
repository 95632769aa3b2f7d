/*
 * canon.h - turning a boot's raw PCs into canonical coverage.
 *
 * kcov reports vmlinux PCs at link-time addresses and module PCs at
 * (runtime address - kaslr offset). With the boot's address map:
 *   kaslr = runtime _text - link-time _text
 *   vmlinux: PC in [link _text, link _text + text size)  -> PC - link _text
 *   module:  PC + kaslr in [.text, module end)            -> PC + kaslr - .text
 * Anything else is unknown: counted, never silently dropped.
 */
#ifndef KC_CANON_H
#define KC_CANON_H

#include <stdint.h>

#include <roaring/roaring.h>

#include "err.h"
#include "sql.h"
#include "wire.h"

struct kc_canon_module {
	int64_t binary; /* binaries.id */
	uint64_t core_base, core_size, text_addr;
};

/* What ingest needs to know about a boot. */
struct kc_canon_boot {
	int64_t boot, machine, build, vmlinux; /* row ids */
	uint64_t link_text;  /* imported build's _text if known, else the collector's */
	uint64_t text_start; /* runtime _text */
	uint64_t text_end;   /* runtime _etext */
	uint32_t nmodules;
	size_t capmodules;
	struct kc_canon_module *modules; /* owned */
};

struct kc_canon_part {
	int64_t binary;
	roaring_bitmap_t *bits; /* offsets from the binary's text base; owned */
};

struct kc_canon_result {
	uint32_t nparts;
	size_t capparts;
	struct kc_canon_part *parts; /* owned */
	uint64_t known, unknown;     /* PCs placed / PCs in no region */
};

/* Load the boot of (machine, boot_id). Returns 1 when found, 0 when the
 * server has no address map for it, -1 on error. Release with
 * kc_canon_boot_release. */
int kc_canon_load(struct kc_sql *db, const char *machine, const char *boot_id,
		  struct kc_canon_boot *b, struct kc_err *err) KC_MUST_CHECK;
void kc_canon_boot_release(struct kc_canon_boot *b);

int kc_canon_report(const struct kc_canon_boot *b, const struct kc_report *r,
		    struct kc_canon_result *out, struct kc_err *err) KC_MUST_CHECK;
void kc_canon_result_release(struct kc_canon_result *res);

#endif
