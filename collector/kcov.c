/*
 * kcov.c - opens and maps the kcov device, enables unique-PC or plain trace
 * coverage, and turns a finished run's buffer into PCs and run figures.
 *
 * Unique mode: the first bitmap_words words are a bitmap over guard
 * indices, the trace starts after it (trace[0] = count) and only holds PCs
 * whose bit was clear. Trace mode: word 0 is the count and every callback
 * is appended; de-duplication happens here, in the report's bitmaps.
 * Either way a run overflowed when the count reached the trace capacity.
 */
#include "kcov.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

const char *kc_mode_name(uint8_t mode)
{
	switch (mode) {
	case KC_MODE_UNIQUE:
		return "unique";
	case KC_MODE_TRACE:
		return "trace";
	default:
		return "none";
	}
}

int kc_kcov_open(struct kc_kcov *k, const char *device, uint64_t words, uint64_t bitmap_words,
		 struct kc_err *err)
{
	void *p;

	memset(k, 0, sizeof(*k));
	k->fd = -1;
	if (words < 2 || words > (1ull << 28))
		return kc_err_set(err, KC_E_IO, "buffer of %llu words is out of range (2..2^28)",
				  (unsigned long long)words);
	if (bitmap_words >= words - 1)
		return kc_err_set(err, KC_E_IO,
				  "bitmap of %llu words leaves no trace in a %llu-word buffer",
				  (unsigned long long)bitmap_words, (unsigned long long)words);
	k->fd = open(device, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		int e = errno;

		/* debugfs is root-only: a permission error has another fix. */
		return kc_err_errno(err, e, "%s: %s (%s)", device, strerror(e),
				    e == EACCES || e == EPERM ? "run as root" :
								"is debugfs mounted and CONFIG_KCOV set?");
	}
	if (ioctl(k->fd, KCOV_INIT_TRACE, (unsigned long)words) < 0) {
		kc_err_errno(err, errno, "KCOV_INIT_TRACE(%llu): %s", (unsigned long long)words,
			   strerror(errno));
		goto fail;
	}
	p = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (p == MAP_FAILED) {
		kc_err_errno(err, errno, "mmap of the kcov buffer: %s", strerror(errno));
		goto fail;
	}
	k->area = p;
	k->words = words;
	k->bitmap_words = bitmap_words;
	return 0;
fail:
	close(k->fd);
	k->fd = -1;
	return -1;
}

void kc_kcov_close(struct kc_kcov *k)
{
	if (k->area)
		munmap(k->area, k->words * 8);
	if (k->fd >= 0)
		close(k->fd);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

int kc_kcov_enable(struct kc_kcov *k)
{
	int r;

	if (k->mode == KC_MODE_UNIQUE)
		r = ioctl(k->fd, KCOV_UNIQUE_ENABLE, (unsigned long)k->bitmap_words);
	else
		r = ioctl(k->fd, KCOV_ENABLE, KCOV_TRACE_PC);
	return r < 0 ? -errno : 0;
}

int kc_kcov_remote_enable(struct kc_kcov *k, uint32_t common_handle)
{
	struct kcov_remote_arg arg = {
		.trace_mode = KCOV_TRACE_PC,
		.area_size = (uint32_t)k->words,
		.num_handles = 0,
		.common_handle = common_handle,
	};

	return ioctl(k->fd, KCOV_REMOTE_ENABLE, &arg) < 0 ? -errno : 0;
}

int kc_kcov_disable(struct kc_kcov *k)
{
	return ioctl(k->fd, KCOV_DISABLE, 0) < 0 ? -errno : 0;
}

int kc_kcov_probe(struct kc_kcov *k, enum kc_mode_pref pref, struct kc_err *err)
{
	pid_t pid;
	int status, code;

	k->mode = KC_MODE_TRACE;
	if (pref == KC_PREFER_TRACE)
		return 0;
	/* Enabling binds the fd to a task until it exits, so probe in a child
	 * that exits at once; the parent can enable in later children. */
	pid = fork();
	if (pid < 0)
		return kc_err_errno(err, errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int r = ioctl(k->fd, KCOV_UNIQUE_ENABLE, (unsigned long)k->bitmap_words);

		_exit(r < 0 ? (errno == ENOTTY ? 1 : errno == KC_ENOTSUPP ? 2 : 3) : 0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return kc_err_set(err, KC_E_IO, "kcov probe child failed");
	code = WEXITSTATUS(status);
	if (code == 0) {
		k->mode = KC_MODE_UNIQUE;
		kc_kcov_reset(k, 0);
		return 0;
	}
	if (code == 3)
		return kc_err_set(err, KC_E_IO,
				  "KCOV_UNIQUE_ENABLE(%llu) was refused (EINVAL/EBUSY)",
				  (unsigned long long)k->bitmap_words);
	if (pref == KC_PREFER_UNIQUE)
		return kc_err_set(err, KC_E_IO, "the kernel has no KCOV unique mode (%s)",
				  code == 1 ? "ENOTTY: unpatched kernel" :
					      "ENOTSUPP: CONFIG_KCOV_UNIQUE not set");
	return 0;
}

void kc_kcov_reset(struct kc_kcov *k, int keep_bitmap)
{
	if (k->mode == KC_MODE_UNIQUE) {
		if (!keep_bitmap)
			memset(k->area, 0, k->bitmap_words * 8);
		__atomic_store_n(&k->area[k->bitmap_words], 0, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&k->area[0], 0, __ATOMIC_RELAXED);
	}
}

int kc_kcov_collect(struct kc_kcov *k, struct kc_report *report, struct kc_run *run,
		    struct kc_err *err)
{
	uint64_t base = k->mode == KC_MODE_UNIQUE ? k->bitmap_words : 0;
	const uint64_t *trace = k->area + base;
	uint64_t capacity = k->words - 1 - base;
	uint64_t count = __atomic_load_n(&trace[0], __ATOMIC_RELAXED);
	uint64_t used = count < capacity ? count : capacity;
	uint64_t before = kc_report_npcs(report);

	if (kc_report_add_pcs(report, trace + 1, used, err) < 0)
		return -1;
	if (k->remote) {
		run->remote_capacity_words = capacity;
		run->remote_used_words = used;
		run->remote_overflowed = count >= capacity;
	} else {
		run->mode = k->mode;
		run->capacity_words = capacity;
		run->used_words = used;
		run->overflowed = count >= capacity;
		run->bitmap_words = k->mode == KC_MODE_UNIQUE ? k->bitmap_words : 0;
	}
	run->npcs += kc_report_npcs(report) - before;
	return 0;
}
