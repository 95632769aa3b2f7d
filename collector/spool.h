/*
 * spool.h - the collector's durable outbox.
 *
 * Layout of a spool directory:
 *   r.TIME.BOOTID.UPLOADID.kcov  a report frame waiting for delivery
 *   m.BOOTID.kcov            the address-map frame of a boot
 *   m.BOOTID.unsent          the map changed (a module was loaded) after
 *                            the server may have received it: send it
 *                            again before the next report of that boot
 *   rejected/                reports the server refused as malformed (kept,
 *                            never deleted by the collector)
 * Every file is written atomically (temp file, fsync, rename, fsync dir)
 * before any push, and a report is removed only after the server
 * acknowledged it.
 */
#ifndef KC_SPOOL_H
#define KC_SPOOL_H

#include <limits.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "wire.h"

struct kc_spool {
	char dir[PATH_MAX - 64];
};

int kc_spool_open(struct kc_spool *s, const char *dir, struct kc_err *err) KC_MUST_CHECK;

/* Does the spool hold the address map of boot_id? */
int kc_spool_has_map(const struct kc_spool *s, const char *boot_id);
int kc_spool_put_map(const struct kc_spool *s, const struct kc_addrmap *m,
		     struct kc_err *err) KC_MUST_CHECK;
/* Replace the map of m->boot_id with m and mark it unsent (the marker is
 * made first, so a crash in between sends the old map once more). */
int kc_spool_update_map(const struct kc_spool *s, const struct kc_addrmap *m,
			struct kc_err *err) KC_MUST_CHECK;
/* Is the map of boot_id marked unsent? */
int kc_spool_map_unsent(const struct kc_spool *s, const char *boot_id);
/* The server has the map of boot_id: drop the unsent mark. */
int kc_spool_map_sent(const struct kc_spool *s, const char *boot_id,
		      struct kc_err *err) KC_MUST_CHECK;
/* Read the map frame of boot_id into out. */
int kc_spool_read_map(const struct kc_spool *s, const char *boot_id, struct kc_buf *out,
		      struct kc_err *err) KC_MUST_CHECK;

int kc_spool_put_report(const struct kc_spool *s, const struct kc_report *r,
			struct kc_err *err) KC_MUST_CHECK;

/* List pending report file names, oldest first. The caller frees each name
 * and the array (kc_spool_list_free). */
int kc_spool_list(const struct kc_spool *s, char ***names, size_t *n,
		  struct kc_err *err) KC_MUST_CHECK;
void kc_spool_list_free(char **names, size_t n);

/* The boot id a report file name refers to (copied into boot_id). */
int kc_spool_boot_of(const char *name, char *boot_id, size_t size);

int kc_spool_read(const struct kc_spool *s, const char *name, struct kc_buf *out,
		  struct kc_err *err) KC_MUST_CHECK;
/* Delivered: remove durably. */
int kc_spool_remove(const struct kc_spool *s, const char *name, struct kc_err *err) KC_MUST_CHECK;
/* Refused as malformed: move into rejected/. */
int kc_spool_reject(const struct kc_spool *s, const char *name, struct kc_err *err) KC_MUST_CHECK;

#endif
