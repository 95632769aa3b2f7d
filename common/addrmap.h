/*
 * addrmap.h - capture a boot's address map from /proc and /sys, or build
 * one from a vmlinux and a module list (kc_addrmap_from_vmlinux, for
 * kernels the collector does not run on, e.g. a syzkaller manager's).
 *
 * All paths are read under a sysroot ("/" on a live machine, a recorded
 * snapshot directory in tests):
 *   proc/sys/kernel/random/boot_id, proc/sys/kernel/osrelease,
 *   proc/kallsyms, proc/modules, sys/kernel/notes,
 *   sys/module/NAME/sections/.text, sys/module/NAME/notes/.note.gnu.build-id
 * and joined to it with kc_path_join (no "//" in messages). A kernel built
 * without module support (CONFIG_MODULES=n) has no proc/modules: its map
 * has no modules, and no sys/module file is read. Every other missing or
 * unreadable file is an error naming it; permission errors say to run as
 * root, addresses zeroed by kptr_restrict say how to lift it.
 */
#ifndef KC_ADDRMAP_H
#define KC_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "elfinfo.h"
#include "err.h"
#include "wire.h"

/* Default link-time address of _text on x86_64 (CONFIG_PHYSICAL_START
 * 0x1000000 above __START_KERNEL_map). */
#define KC_DEFAULT_LINK_TEXT 0xffffffff81000000ull

#define KC_KALLSYMS_MAX (256u << 20)

/* Read the boot id (trimmed) into out. */
int kc_read_boot_id(const char *sysroot, char out[KC_BOOT_ID_MAX + 1],
		    struct kc_err *err) KC_MUST_CHECK;

/* Capture the full map. machine and link_text are recorded as given. No
 * proc/modules, or an empty one, gives m->nmodules 0 (m->modules NULL); a
 * module without a build-id note gets build_id "". A module without
 * sys/module/NAME/sections/.text is placed at its proc/modules base with
 * KC_MODULE_TEXT_AT_BASE set (kc_addrmap_warnings lists them). On success
 * the caller owns *m (kc_addrmap_release); on failure *m holds nothing. */
int kc_addrmap_capture(const char *sysroot, const char *machine, uint64_t link_text,
		       struct kc_addrmap *m, struct kc_err *err) KC_MUST_CHECK;

/* Bring m's modules up to date with the sysroot's proc/modules, reading
 * only that file when nothing changed. When a module was loaded, or moved
 * or resized, since m was captured, m gets the current modules (with their
 * .text and build ids) plus the earlier ones that are gone and whose
 * name and address range no current module took. Returns 1 when m changed,
 * 0 when not (also when there is no proc/modules: no module is loaded),
 * -1 on error (m unchanged). */
int kc_addrmap_refresh(const char *sysroot, struct kc_addrmap *m, struct kc_err *err) KC_MUST_CHECK;

/* The map of a kernel without KASLR from its vmlinux (elfinfo.h): build
 * id, runtime _text = link-time _text = vm->text, _etext = vm->etext,
 * and a copy of the n modules (placed as given). machine and boot_id must
 * be valid names, release may be "". On success the caller owns *m
 * (kc_addrmap_release); on failure *m holds nothing. */
int kc_addrmap_from_vmlinux(const struct kc_vmlinux *vm, const char *machine,
			    const char *boot_id, const char *release, const struct kc_module *mods,
			    uint32_t n, struct kc_addrmap *m, struct kc_err *err) KC_MUST_CHECK;

/* One line per module of m placed without its .text (KC_MODULE_TEXT_AT_BASE),
 * written to out (NUL-terminated, truncated to size); returns how many. */
uint32_t kc_addrmap_warnings(const struct kc_addrmap *m, char *out, size_t size);

#endif
