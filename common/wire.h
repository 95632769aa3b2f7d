/*
 * wire.h - wire formats v1 and v2: what a collector sends and the server
 * decodes.
 *
 * Two message kinds share one frame (docs/wire-format.md is the reference):
 *  - a REPORT carries the unique PCs of one or more runs on one boot, as
 *    CRoaring bitmaps over 4 GiB windows of PC space, plus per-run statistics;
 *  - an ADDRMAP carries a boot's address map (kernel and module placement),
 *    sent once per boot.
 *
 * Frame: 16-byte header ("KCOV", u16 version, u16 kind, u32 payload length,
 * u32 CRC-32 of the payload) followed by the zlib-compressed payload.
 * Version 2 exists only for REPORT frames and differs from v1 only in how a
 * region's PCs are written: LEB128 varints of their deltas instead of a
 * CRoaring serialization (about 2.5x smaller). Decoders accept both.
 *
 * Ownership: kc_report_release()/kc_addrmap_release() free everything a
 * decoder or the kc_report_* helpers allocated inside the struct.
 */
#ifndef KC_WIRE_H
#define KC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "buf.h"
#include "err.h"

#define KC_WIRE_VERSION 1                /* ADDRMAP frames, and reports for v1 peers */
#define KC_WIRE_VERSION_MAX 2            /* newest version this code speaks */
#define KC_WIRE_HDR_LEN 16
#define KC_WIRE_MAX_RAW (64u << 20)      /* largest decompressed payload */
#define KC_WIRE_MAX_BODY (32u << 20)     /* largest compressed frame */
#define KC_WIRE_MAX_RATIO 256u           /* payload may be at most 256x the body */
#define KC_NAME_MAX 255                  /* machine, label, workload, release */
#define KC_BOOT_ID_MAX 63
#define KC_BUILD_ID_MAX 128              /* hex digits */
#define KC_MODNAME_MAX 63
#define KC_MAX_RUNS 1000000
#define KC_MAX_REGIONS 4096
#define KC_MAX_MODULES 8192
#define KC_UPLOAD_ID_LEN 16

enum kc_msg_kind {
	KC_MSG_REPORT = 1,
	KC_MSG_ADDRMAP = 2,
};

enum kc_mode {
	KC_MODE_UNIQUE = 1, /* KCOV_UNIQUE_ENABLE: bitmap + trace of new PCs */
	KC_MODE_TRACE = 2,  /* KCOV_ENABLE(KCOV_TRACE_PC), de-duplicated in user space */
};

/* Statistics of one run (one workload executed under coverage). */
struct kc_run {
	char workload[KC_NAME_MAX + 1]; /* syscall, test or program id; may be "" */
	uint8_t mode;                   /* enum kc_mode */
	uint8_t overflowed;             /* trace count reached capacity */
	uint8_t remote_overflowed;      /* same for the remote buffer */
	uint64_t capacity_words;        /* trace entries available (words - 1 - bitmap) */
	uint64_t used_words;            /* trace entries written (trace[0]) */
	uint64_t bitmap_words;          /* unique-mode bitmap size, 0 in trace mode */
	uint64_t remote_capacity_words; /* 0 when remote coverage was not used */
	uint64_t remote_used_words;
	uint64_t duration_us;
	int32_t exit_status; /* wait status as returned by waitpid(), or -1 */
	uint64_t npcs;       /* unique PCs this run contributed */
};

/* PCs in [base, base + 2^32): bit v set means PC base + v was covered. */
struct kc_region {
	uint64_t base;          /* multiple of 2^32 */
	roaring_bitmap_t *bits; /* owned */
};

struct kc_report {
	char machine[KC_NAME_MAX + 1];
	char boot_id[KC_BOOT_ID_MAX + 1];
	unsigned char upload_id[KC_UPLOAD_ID_LEN]; /* random; re-sends reuse it */
	char label[KC_NAME_MAX + 1];               /* suite or fuzzer name */
	char release[KC_NAME_MAX + 1];             /* uname -r */
	uint64_t created_unix;
	uint32_t nruns;
	struct kc_run *runs; /* owned array of capacity cap_runs */
	uint32_t nregions;
	struct kc_region *regions; /* owned array of capacity cap_regions, sorted by base */
	size_t cap_runs, cap_regions;
};

struct kc_module {
	char name[KC_MODNAME_MAX + 1];
	char build_id[KC_BUILD_ID_MAX + 1]; /* lowercase hex, "" if unknown */
	uint64_t core_base;                 /* /proc/modules base */
	uint64_t core_size;                 /* /proc/modules size */
	uint64_t text_addr;                 /* /sys/module/NAME/sections/.text */
	uint32_t flags;                     /* KC_MODULE_*, collector side only */
};

/* kc_module.flags (not sent: the ADDRMAP payload has no field for them).
 * TEXT_AT_BASE: the module had no /sys/module/NAME/sections/.text, so
 * text_addr is its /proc/modules base (kc_addrmap_capture warns). */
#define KC_MODULE_TEXT_AT_BASE 1u

struct kc_addrmap {
	char machine[KC_NAME_MAX + 1];
	char boot_id[KC_BOOT_ID_MAX + 1];
	char release[KC_NAME_MAX + 1];
	char build_id[KC_BUILD_ID_MAX + 1]; /* vmlinux GNU build id, lowercase hex */
	uint64_t text_start;                /* runtime _text */
	uint64_t text_end;                  /* runtime _etext */
	uint64_t link_text;                 /* link-time _text as the collector assumes it */
	uint32_t nmodules;
	struct kc_module *modules; /* owned array */
};

/* roaring_bitmap_free() that accepts NULL (Debian's CRoaring 0.2 crashes
 * on NULL). Use it for every bitmap the project frees. */
void kc_bitmap_free(roaring_bitmap_t *b);

void kc_report_init(struct kc_report *r);
void kc_report_release(struct kc_report *r);
/* Add PCs to the report's regions (creating regions as needed). */
int kc_report_add_pcs(struct kc_report *r, const uint64_t *pcs, size_t n,
		      struct kc_err *err) KC_MUST_CHECK;
/* Append a copy of *run. */
int kc_report_add_run(struct kc_report *r, const struct kc_run *run,
		      struct kc_err *err) KC_MUST_CHECK;
/* dst |= src. */
int kc_report_or(struct kc_report *dst, const struct kc_report *src,
		 struct kc_err *err) KC_MUST_CHECK;
/* r -= other (PCs of other removed from r). */
void kc_report_andnot(struct kc_report *r, const struct kc_report *other);
/* Drop all PCs (keeps identity fields and runs). */
void kc_report_clear_pcs(struct kc_report *r);
/* Total number of distinct PCs over all regions. */
uint64_t kc_report_npcs(const struct kc_report *r);
/* Does the report contain pc? */
int kc_report_has_pc(const struct kc_report *r, uint64_t pc);

void kc_addrmap_init(struct kc_addrmap *m);
void kc_addrmap_release(struct kc_addrmap *m);

/* Encode into a complete frame appended to out: kc_wire_encode_report
 * writes v1, kc_wire_encode_report_v the given version (1 or 2). v2 refuses
 * a report of more than KC_WIRE_MAX_RAW PCs (each takes at least a byte);
 * v1 may still carry it in run containers. */
int kc_wire_encode_report(const struct kc_report *r, struct kc_buf *out,
			  struct kc_err *err) KC_MUST_CHECK;
int kc_wire_encode_report_v(const struct kc_report *r, unsigned version, struct kc_buf *out,
			    struct kc_err *err) KC_MUST_CHECK;
int kc_wire_encode_addrmap(const struct kc_addrmap *m, struct kc_buf *out,
			   struct kc_err *err) KC_MUST_CHECK;

/* Read the frame header of buf: stores the kind. Validates magic, version,
 * kind, the declared payload length and the compression ratio. */
int kc_wire_peek_kind(const void *buf, size_t len, enum kc_msg_kind *kind,
		      struct kc_err *err) KC_MUST_CHECK;
/* The same checks; also stores the frame version (1 or 2). */
int kc_wire_peek(const void *buf, size_t len, enum kc_msg_kind *kind, unsigned *version,
		 struct kc_err *err) KC_MUST_CHECK;

/* Decode a frame (reports: v1 or v2). On success *r (or *m) is filled and owned by the caller,
 * who calls the matching release; on failure nothing needs releasing and err
 * says precisely what is wrong. */
int kc_wire_decode_report(const void *buf, size_t len, struct kc_report *r,
			  struct kc_err *err) KC_MUST_CHECK;
int kc_wire_decode_addrmap(const void *buf, size_t len, struct kc_addrmap *m,
			   struct kc_err *err) KC_MUST_CHECK;

/* Render 16 upload-id bytes as 32 lowercase hex digits plus NUL. */
void kc_upload_id_hex(const unsigned char id[KC_UPLOAD_ID_LEN], char out[2 * KC_UPLOAD_ID_LEN + 1]);

/* Is s a valid name (1..max bytes of well-formed UTF-8, no control
 * characters)? */
int kc_valid_name(const char *s, size_t max);

#endif
