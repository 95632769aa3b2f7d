/*
 * kcov.h - driving the kernel's /sys/kernel/debug/kcov device.
 *
 * One struct kc_kcov is one kcov file descriptor with its shared mapping.
 * The ABI (docs/collector.md, "The KCOV ABI the collector relies on"): KCOV_INIT_TRACE(words), mmap(words * 8), then
 * in the task to trace KCOV_UNIQUE_ENABLE(bitmap_words) or, on a kernel
 * without the unique mode, KCOV_ENABLE(KCOV_TRACE_PC).
 */
#ifndef KC_KCOV_H
#define KC_KCOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "err.h"
#include "wire.h"

/* As in include/uapi/linux/kcov.h: common_handle is an aligned u64, so
 * the struct is 24 bytes and that size is part of the ioctl number. */
struct kcov_remote_arg {
	uint32_t trace_mode;
	uint32_t area_size;
	uint32_t num_handles;
	uint64_t common_handle __attribute__((aligned(8)));
	uint64_t handles[];
};

#define KCOV_INIT_TRACE _IOR('c', 1, unsigned long)
#define KCOV_ENABLE _IO('c', 100)
#define KCOV_DISABLE _IO('c', 101)
#define KCOV_REMOTE_ENABLE _IOW('c', 102, struct kcov_remote_arg)
#define KCOV_UNIQUE_ENABLE _IOW('c', 103, unsigned long)
#define KCOV_RESET_TRACE _IO('c', 104)
#define KCOV_TRACE_PC 0
#define KC_ENOTSUPP 524

/* 2^21 guards need 2^21 / 64 bitmap words. */
#define KC_DEFAULT_BITMAP_WORDS (1u << 15)
/* 512K-word (4 MB) buffers, as syzkaller uses per thread. */
#define KC_DEFAULT_WORDS (1u << 19)

enum kc_mode_pref {
	KC_PREFER_AUTO,   /* unique if the kernel supports it, else trace */
	KC_PREFER_UNIQUE, /* unique or fail */
	KC_PREFER_TRACE,  /* always trace */
};

struct kc_kcov {
	int fd;
	uint64_t *area;        /* shared mapping, words * 8 bytes */
	uint64_t words;        /* buffer size in 8-byte words */
	uint64_t bitmap_words; /* requested unique-mode bitmap size */
	uint8_t mode;          /* enum kc_mode actually used, 0 before the first enable */
	int remote;            /* this fd collects remote coverage */
};

/* Open the device, KCOV_INIT_TRACE and mmap. k is filled; release with
 * kc_kcov_close. When the device cannot be opened the message says what to
 * check: debugfs and CONFIG_KCOV, or (permission denied) running as root. */
int kc_kcov_open(struct kc_kcov *k, const char *device, uint64_t words, uint64_t bitmap_words,
		 struct kc_err *err) KC_MUST_CHECK;
void kc_kcov_close(struct kc_kcov *k);

/* Learn which mode the kernel gives us, without tracing anything useful:
 * probe KCOV_UNIQUE_ENABLE in a short-lived child. Sets k->mode. */
int kc_kcov_probe(struct kc_kcov *k, enum kc_mode_pref pref, struct kc_err *err) KC_MUST_CHECK;

/* Enable coverage for the calling thread in k->mode. Async-signal-safe
 * (usable between fork and exec): returns -errno instead of a message. */
int kc_kcov_enable(struct kc_kcov *k);
/* Enable remote coverage for the calling task with a common handle. The
 * caller marks k as remote (k->remote = 1, k->mode = KC_MODE_TRACE) when it
 * opens it, so that the parent collects it as remote coverage. */
int kc_kcov_remote_enable(struct kc_kcov *k, uint32_t common_handle);
int kc_kcov_disable(struct kc_kcov *k);

/* Zero the trace count and, unless keep_bitmap, the unique-mode bitmap. */
void kc_kcov_reset(struct kc_kcov *k, int keep_bitmap);

/* Read the PCs of the last run into report and fill the trace figures of
 * run (mode, capacity, used, overflowed, bitmap words; npcs = PCs new to the
 * report). For a remote fd only the remote_* figures are filled. */
int kc_kcov_collect(struct kc_kcov *k, struct kc_report *report, struct kc_run *run,
		    struct kc_err *err) KC_MUST_CHECK;

const char *kc_mode_name(uint8_t mode);

#endif
