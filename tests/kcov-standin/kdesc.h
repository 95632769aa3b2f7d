/*
 * kdesc.h - the synthetic kernel of the KCOV stand-in.
 *
 * A kernel description file (see README.md) names the vmlinux and its
 * modules and lists, per "syscall", the coverage call sites it executes.
 * A boot file (standin-boot.conf in a sysroot) places that kernel in memory:
 * KASLR offset, module bases, boot id. Together they give the PC the
 * emulated kernel reports for each call site, exactly as KCOV would:
 * (runtime call site + 5) - kaslr_offset.
 *
 * Ownership: sd_kernel_load/sd_boot_load fill caller-owned structs whose
 * arrays are released with sd_kernel_release/sd_boot_release.
 */
#ifndef KC_STANDIN_KDESC_H
#define KC_STANDIN_KDESC_H

#include <stdint.h>

#include "err.h"

#define SD_NAME_MAX 63
#define SD_BUILD_ID_MAX 128 /* hex digits */
#define SD_RELEASE_MAX 255
#define SD_REPEAT_MAX 1000000u

struct sd_module {
	char name[SD_NAME_MAX + 1];
	char build_id[SD_BUILD_ID_MAX + 1]; /* lowercase hex */
	uint64_t core_size;                 /* bytes, as in /proc/modules */
	uint64_t text_offset;               /* .text relative to the core base */
};

/* One call site of the coverage callback; sites are shared by syscalls. */
struct sd_site {
	uint32_t image; /* 0 = vmlinux, i + 1 = mods[i] */
	uint64_t off;   /* offset of the call instruction from _text / .text */
};

/* One executed step of a syscall: site `site` run `count` times in a row. */
struct sd_step {
	uint32_t site;
	uint32_t count;
};

struct sd_syscall {
	char name[SD_NAME_MAX + 1];
	int remote;     /* 0: "syscall" line, 1: "remote" line */
	uint32_t first; /* index of the first step in steps[] */
	uint32_t nsteps;
};

struct sd_kernel {
	char build_id[SD_BUILD_ID_MAX + 1];
	char release[SD_RELEASE_MAX + 1];
	uint64_t link_text; /* link-time _text */
	uint64_t text_size; /* _etext - _text */
	struct sd_module *mods;
	uint32_t nmods;
	struct sd_site *sites;
	uint32_t nsites;
	size_t sites_cap;
	uint32_t *site_slots; /* the sites by (image, off): kdesc.c site_index */
	uint32_t site_cap;
	struct sd_step *steps;
	uint32_t nsteps;
	struct sd_syscall *calls;
	uint32_t ncalls;
};

struct sd_boot {
	uint64_t kaslr;
	uint64_t *mod_base; /* nmods entries, indexed like sd_kernel.mods */
	uint32_t nmods;
	char boot_id[64];
};

void sd_kernel_init(struct sd_kernel *k);
void sd_kernel_release(struct sd_kernel *k);

/* Parse a kernel description file. Errors name file:line. */
int sd_kernel_load(const char *path, struct sd_kernel *k, struct kc_err *err) KC_MUST_CHECK;

/* Find a syscall (remote = 0) or remote (remote = 1) entry; NULL if absent. */
const struct sd_syscall *sd_kernel_find(const struct sd_kernel *k, const char *name, int remote);

/* Index of module `name`, or -1. */
int sd_kernel_module(const struct sd_kernel *k, const char *name);

void sd_boot_init(struct sd_boot *b);
void sd_boot_release(struct sd_boot *b);

/* Parse a boot file for kernel k: every module of k needs a base. */
int sd_boot_load(const char *path, const struct sd_kernel *k, struct sd_boot *b,
		 struct kc_err *err) KC_MUST_CHECK;

/* Runtime .text of module i. */
uint64_t sd_module_text(const struct sd_kernel *k, const struct sd_boot *b, uint32_t i);

/* The PC KCOV reports for site s under boot b. */
uint64_t sd_site_pc(const struct sd_kernel *k, const struct sd_boot *b, uint32_t s);

/* Parse a number: 0x-prefixed hex or decimal, the whole string. */
int sd_parse_u64(const char *s, uint64_t *v);

#endif
