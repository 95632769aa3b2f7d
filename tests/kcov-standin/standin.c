/*
 * standin.c - libkcov_standin.so, an LD_PRELOAD emulation of the Linux KCOV
 * device (trace mode, unique mode and remote coverage) over the synthetic
 * kernel of kdesc.c, so the collector can be tested without a kernel.
 *
 * Opening the device path ($KCOV_STANDIN_DEVICE, default
 * $KCOV_STANDIN_STATE/kcov) creates an "area file" $KCOV_STANDIN_STATE/area.*
 * and returns a real fd on it. The file's first page holds the kcov object's
 * state (struct meta: size, mode, owning task); the coverage buffer follows
 * it, so every process that maps the device shares one buffer, as with the
 * real device. Calls on other fds pass straight through (dlsym RTLD_NEXT).
 * An fd is the device when /proc/self/fd/N names an area file, so dup()ed
 * and inherited fds work too.
 *
 * Enabling records the area path in KCOV_STANDIN_ACTIVE (KCOV_STANDIN_REMOTE
 * for remote coverage); after execve the constructor re-attaches when the
 * area's owner is still this pid, so a task keeps its kcov across exec. A
 * task's kcov ends at exit: the next ioctl on the device sees the owner gone
 * and returns the device to the "initialized" state, as kcov_task_exit does.
 *
 * Guard indices for unique mode are kernel-global: $KCOV_STANDIN_STATE/guards
 * maps one u32 per call site (index + 1, 0 = unassigned) and a counter,
 * assigned with atomic compare-exchange on a shared mapping.
 *
 * One process is one task: threads are not told apart.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kdesc.h"

#define KCOV_INIT_TRACE _IOR('c', 1, unsigned long)
#define KCOV_ENABLE _IO('c', 100)
#define KCOV_DISABLE _IO('c', 101)
#define KCOV_REMOTE_ENABLE _IOW('c', 102, struct kcov_remote_arg)
#define KCOV_UNIQUE_ENABLE _IOW('c', 103, unsigned long)
#define KCOV_RESET_TRACE _IO('c', 104)
#define KCOV_TRACE_PC 0
#define ENOTSUPP_ 524
#define REMOTE_MAX_HANDLES 0x10000u
#define SUBSYS_MASK 0xff00000000000000ull
#define INSTANCE_MASK 0x00000000ffffffffull
#define SUBSYS_USB 0x0100000000000000ull

/* Layout of the uapi struct: common_handle is 8-byte aligned (offset 16). */
struct kcov_remote_arg {
	uint32_t trace_mode;
	uint32_t area_size;
	uint32_t num_handles;
	uint64_t common_handle;
	uint64_t handles[];
};

#define META_MAGIC 0x4e49444e4154534bull /* "KSTANDIN" */
#define GUARD_MAGIC 0x44524155474b5343ull

enum dev_state { ST_DISABLED = 0, ST_INIT = 1 };
enum dev_mode { MODE_NONE = 0, MODE_TRACE = 1, MODE_UNIQUE = 2, MODE_REMOTE = 3 };

/* The kcov object, stored in the first page of its area file. */
struct meta {
	uint64_t magic;
	uint64_t words;        /* KCOV_INIT_TRACE size, 0 before */
	uint32_t state;        /* enum dev_state */
	uint32_t mapped;       /* mmap succeeded once */
	uint32_t mode;         /* enum dev_mode while a task owns it */
	uint32_t pad;
	uint64_t bitmap_words; /* of the last unique enable (for RESET_TRACE) */
	int64_t owner;         /* pid of the enabled task, 0 = none */
	uint64_t remote_size;  /* KCOV_REMOTE_ENABLE area_size */
	uint64_t remote_live;  /* a handle was given: remote sites run */
	uint64_t common;       /* KCOV_REMOTE_ENABLE common_handle */
};

/* An area attached in this process because this process enabled it. */
struct area {
	volatile uint64_t *p; /* mapping of the buffer, NULL = none */
	uint64_t words;
	uint64_t bitmap_words;
	int mode;
	pid_t pid; /* the owning task; a fork child does not inherit the kcov */
	uint64_t remote_size;
	int remote_live;
	uint64_t common; /* common handle: inherited by children (kcov_task_init) */
};

/* Guard table header in $KCOV_STANDIN_STATE/guards, then u32 guards[]. */
struct guard_hdr {
	uint64_t magic;
	uint32_t nsites;
	uint32_t counter;
};

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_close)(int);

static struct area local_area, remote_area;
static struct sd_kernel kernel;
static struct sd_boot boot;
static char kernel_key[2 * PATH_MAX + 2]; /* "KERNEL\nSYSROOT" loaded, "" = none */
static struct guard_hdr *guards;
static size_t guards_size;
static char guards_state[PATH_MAX]; /* state directory guards belongs to */

static void resolve(void)
{
	if (real_open)
		return;
	*(void **)&real_openat = dlsym(RTLD_NEXT, "openat");
	*(void **)&real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	*(void **)&real_mmap = dlsym(RTLD_NEXT, "mmap");
	*(void **)&real_close = dlsym(RTLD_NEXT, "close");
	*(void **)&real_open = dlsym(RTLD_NEXT, "open");
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static void warn(const char *msg)
{
	fprintf(stderr, "kcov-standin: %s\n", msg);
}

/* ---- device identification ---- */

static int is_device_path(int dirfd, const char *path)
{
	const char *dev = getenv("KCOV_STANDIN_DEVICE"), *state = getenv("KCOV_STANDIN_STATE");
	char def[PATH_MAX];

	if (!path || !state || (dirfd != AT_FDCWD && path[0] != '/'))
		return 0;
	if (!dev) {
		if (snprintf(def, sizeof(def), "%s/kcov", state) >= (int)sizeof(def))
			return 0;
		dev = def;
	}
	return strcmp(path, dev) == 0;
}

/* Write the area path of fd into path when fd is an emulated device. */
static int device_fd_path(int fd, char *path, size_t size)
{
	const char *state = getenv("KCOV_STANDIN_STATE");
	char link[64], real_state[PATH_MAX];
	size_t n;
	ssize_t len;

	if (fd < 0 || !state || !realpath(state, real_state))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, size - 1);
	if (len <= 0)
		return 0;
	path[len] = '\0';
	n = strlen(real_state);
	return strncmp(path, real_state, n) == 0 && strncmp(path + n, "/area.", 6) == 0;
}

static int meta_read(int fd, struct meta *m)
{
	if (pread(fd, m, sizeof(*m), 0) != (ssize_t)sizeof(*m) || m->magic != META_MAGIC)
		return -1;
	return 0;
}

static int meta_write(int fd, const struct meta *m)
{
	return pwrite(fd, m, sizeof(*m), 0) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* kcov_task_exit: the owner is gone, so the device is free again. */
static void reap_owner(struct meta *m)
{
	if (m->owner && kill((pid_t)m->owner, 0) < 0 && errno == ESRCH) {
		m->owner = 0;
		m->mode = MODE_NONE;
		m->remote_live = 0;
		m->common = 0;
	}
}

/* ---- the synthetic kernel ---- */

static int ensure_kernel(void)
{
	const char *kpath = getenv("KCOV_STANDIN_KERNEL"), *sysroot = getenv("KCOV_STANDIN_SYSROOT");
	char bpath[PATH_MAX], key[sizeof(kernel_key)];
	struct kc_err err;

	if (!kpath || !sysroot) {
		warn("KCOV_STANDIN_KERNEL and KCOV_STANDIN_SYSROOT must be set");
		return -1;
	}
	/* The environment names the kernel and the boot; a change is a reboot. */
	snprintf(key, sizeof(key), "%s\n%s", kpath, sysroot);
	if (kernel_key[0] && strcmp(key, kernel_key) == 0)
		return 0;
	if (kernel_key[0]) {
		sd_boot_release(&boot);
		sd_kernel_release(&kernel);
		kernel_key[0] = '\0';
	}
	snprintf(bpath, sizeof(bpath), "%s/standin-boot.conf", sysroot);
	if (sd_kernel_load(kpath, &kernel, &err) < 0) {
		warn(err.msg);
		return -1;
	}
	if (sd_boot_load(bpath, &kernel, &boot, &err) < 0) {
		warn(err.msg);
		sd_kernel_release(&kernel);
		return -1;
	}
	memcpy(kernel_key, key, sizeof(key));
	return 0;
}

/* Map $KCOV_STANDIN_STATE/guards, creating it for this kernel if new. */
static int ensure_guards(void)
{
	const char *state = getenv("KCOV_STANDIN_STATE");
	size_t size = sizeof(struct guard_hdr) + (size_t)kernel.nsites * 4;
	struct guard_hdr hdr;
	char path[PATH_MAX];
	struct stat st;
	void *p;
	int fd, ret = -1;

	if (!state)
		return -1;
	if (guards && strcmp(state, guards_state) == 0 && guards->nsites == kernel.nsites)
		return 0;
	if (guards) {
		munmap(guards, guards_size);
		guards = NULL;
	}
	snprintf(path, sizeof(path), "%s/guards", state);
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		goto out;
	if (st.st_size == 0) {
		memset(&hdr, 0, sizeof(hdr));
		hdr.magic = GUARD_MAGIC;
		hdr.nsites = kernel.nsites;
		if (ftruncate(fd, (off_t)size) < 0 || pwrite(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
			goto out;
	} else if ((size_t)st.st_size != size || pread(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr) ||
		   hdr.magic != GUARD_MAGIC || hdr.nsites != kernel.nsites) {
		warn("guards file belongs to a different kernel description");
		goto out;
	}
	p = real_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out;
	guards = p;
	guards_size = size;
	snprintf(guards_state, sizeof(guards_state), "%s", state);
	ret = 0;
out:
	real_close(fd);
	return ret;
}

/* The kernel-global guard index of site s, assigned on first use. */
static uint32_t guard_index(uint32_t s)
{
	uint32_t *g = (uint32_t *)(guards + 1) + s;
	uint32_t v = __atomic_load_n(g, __ATOMIC_ACQUIRE), nv, zero = 0;

	if (v == 0) {
		nv = __atomic_add_fetch(&guards->counter, 1, __ATOMIC_ACQ_REL);
		if (__atomic_compare_exchange_n(g, &zero, nv, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			v = nv;
		else
			v = zero; /* another task won; its index stands */
	}
	return v - 1;
}

/* Append pc to a trace of `cap_words` words (count word included). */
static void trace_append(volatile uint64_t *t, uint64_t cap_words, uint64_t pc)
{
	uint64_t n = t[0];

	if (n + 1 < cap_words) {
		t[n + 1] = pc;
		t[0] = n + 1;
	}
}

/* One callback of site s in task area a (the body of the kernel's
 * __sanitizer_cov_trace_pc[_guard]). */
static void callback(struct area *a, uint32_t s)
{
	uint64_t pc = sd_site_pc(&kernel, &boot, s);

	if (a->mode == MODE_TRACE) {
		trace_append(a->p, a->words, pc);
	} else if (a->mode == MODE_UNIQUE && guards) {
		uint64_t idx = guard_index(s), bw = a->bitmap_words;

		if (idx < bw * 64) {
			uint64_t bit = 1ull << (idx % 64);

			if (a->p[idx / 64] & bit)
				return;
			a->p[idx / 64] |= bit;
		}
		trace_append(a->p + bw, a->words - bw, pc);
	}
}

/* Append the entries of a remote trace to the kcov area (kcov_move_area). */
static void move_area(struct area *dst, const uint64_t *src)
{
	uint64_t dst_len = dst->p[0], room, n;

	if (dst_len > dst->words - 1)
		return;
	room = dst->words - 1 - dst_len;
	n = src[0] < room ? src[0] : room;
	for (uint64_t i = 0; i < n; i++)
		dst->p[1 + dst_len + i] = src[1 + i];
	dst->p[0] = dst_len + n;
}

static int area_live(const struct area *a)
{
	return a->p && a->pid == getpid();
}

static void run_remote(const struct sd_syscall *c)
{
	uint64_t total = 1, words;
	uint64_t *tmp;
	struct area ra;

	for (uint32_t i = 0; i < c->nsteps; i++)
		total += kernel.steps[c->first + i].count;
	words = remote_area.remote_size < total ? remote_area.remote_size : total;
	if (words < 1)
		return;
	tmp = calloc(words, sizeof(*tmp));
	if (!tmp)
		return;
	ra.p = tmp;
	ra.words = words;
	ra.mode = MODE_TRACE;
	for (uint32_t i = 0; i < c->nsteps; i++)
		for (uint32_t r = 0; r < kernel.steps[c->first + i].count; r++)
			callback(&ra, kernel.steps[c->first + i].site);
	move_area(&remote_area, tmp);
	free(tmp);
}

int kcov_standin_syscall(const char *name);

int kcov_standin_syscall(const char *name)
{
	const struct sd_syscall *local, *remote;

	if (ensure_kernel() < 0)
		return -1;
	local = sd_kernel_find(&kernel, name, 0);
	remote = sd_kernel_find(&kernel, name, 1);
	if (!local && !remote)
		return -1;
	if (local && area_live(&local_area)) {
		if (local_area.mode == MODE_UNIQUE && ensure_guards() < 0) {
			warn("cannot map the guards file");
			return -1;
		}
		for (uint32_t i = 0; i < local->nsteps; i++)
			for (uint32_t r = 0; r < kernel.steps[local->first + i].count; r++)
				callback(&local_area, kernel.steps[local->first + i].site);
	}
	/* Kernel threads started for a task report to the kcov of its common
	 * handle, which children inherit; the owner also gets its handles'. */
	if (remote && remote_area.p &&
	    (remote_area.pid == getpid() ? remote_area.remote_live : remote_area.common != 0))
		run_remote(remote);
	return 0;
}

/* ---- attaching a task to an area ---- */

static void area_detach(struct area *a)
{
	if (a->p && a->pid == getpid())
		munmap((void *)a->p, a->words * 8);
	memset(a, 0, sizeof(*a));
}

/* Map the buffer of the area file at path for this task. */
static int area_attach(struct area *a, const char *path, const struct meta *m)
{
	void *p;
	int fd;

	fd = real_open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	p = real_mmap(NULL, m->words * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page_size());
	real_close(fd);
	if (p == MAP_FAILED)
		return -1;
	a->p = p;
	a->words = m->words;
	a->bitmap_words = m->mode == MODE_UNIQUE ? m->bitmap_words : 0;
	a->mode = (int)m->mode;
	a->pid = (pid_t)m->owner;
	a->remote_size = m->remote_size;
	a->remote_live = m->remote_live != 0;
	a->common = m->common;
	return 0;
}

/* After execve: re-attach the area this task enabled before the exec. */
static void attach_from_env(const char *var, struct area *a, int remote)
{
	const char *path = getenv(var);
	struct meta m;
	int fd;

	if (!path)
		return;
	fd = real_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (meta_read(fd, &m) < 0)
		goto out;
	reap_owner(&m);
	if (remote ? (m.mode == MODE_REMOTE && (m.owner == getpid() || m.common)) :
		     (m.owner == getpid() && (m.mode == MODE_TRACE || m.mode == MODE_UNIQUE)))
		(void)area_attach(a, path, &m);
out:
	real_close(fd);
}

__attribute__((constructor)) static void standin_init(void)
{
	resolve();
	attach_from_env("KCOV_STANDIN_ACTIVE", &local_area, 0);
	attach_from_env("KCOV_STANDIN_REMOTE", &remote_area, 1);
}

/* ---- the ioctls ---- */

static int task_busy(void)
{
	return area_live(&local_area) || area_live(&remote_area);
}

static int check_handle(uint64_t h, int common_valid, int uncommon_valid)
{
	if (h & ~(SUBSYS_MASK | INSTANCE_MASK))
		return 0;
	if ((h & SUBSYS_MASK) == 0)
		return (h & INSTANCE_MASK) ? common_valid : 0;
	if ((h & SUBSYS_MASK) == SUBSYS_USB)
		return uncommon_valid;
	return 0;
}

/* Validate a struct kcov_remote_arg at user address arg. */
static int remote_arg_check(unsigned long arg, struct meta *m)
{
	const unsigned char *u = (const unsigned char *)arg;
	uint32_t trace_mode, area_size, nh;
	uint64_t common, h;

	if (!u)
		return EFAULT;
	memcpy(&trace_mode, u, 4);
	memcpy(&area_size, u + 4, 4);
	memcpy(&nh, u + 8, 4);
	memcpy(&common, u + offsetof(struct kcov_remote_arg, common_handle), 8);
	if (nh > REMOTE_MAX_HANDLES || trace_mode != KCOV_TRACE_PC)
		return EINVAL;
	for (uint32_t i = 0; i < nh; i++) {
		memcpy(&h, u + offsetof(struct kcov_remote_arg, handles) + 8 * (size_t)i, 8);
		if (!check_handle(h, 0, 1))
			return EINVAL;
	}
	if (common && !check_handle(common, 1, 0))
		return EINVAL;
	m->remote_size = area_size;
	m->remote_live = nh > 0 || common != 0;
	m->common = common;
	return 0;
}

/* Zero the bitmap (of the last unique enable) and the trace count. */
static int reset_trace(int fd, const struct meta *m)
{
	size_t len = (size_t)(m->bitmap_words + 1) * 8;
	void *p;

	p = real_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page_size());
	if (p == MAP_FAILED)
		return ENOMEM;
	memset(p, 0, len);
	munmap(p, len);
	return 0;
}

/* Make this task the owner of the kcov object in `mode`. */
static int enable_common(const char *path, struct meta *m, enum dev_mode mode)
{
	struct area *a = mode == MODE_REMOTE ? &remote_area : &local_area;

	if (ensure_kernel() < 0)
		return EIO;
	m->mode = mode;
	m->owner = getpid();
	if (area_attach(a, path, m) < 0) {
		m->mode = MODE_NONE;
		m->owner = 0;
		return ENOMEM;
	}
	setenv(mode == MODE_REMOTE ? "KCOV_STANDIN_REMOTE" : "KCOV_STANDIN_ACTIVE", path, 1);
	return 0;
}

/* Returns 0 or a positive errno; updates *m. */
static int dev_ioctl(int fd, const char *path, unsigned long req, unsigned long arg,
		     struct meta *m)
{
	const char *uniq = getenv("KCOV_STANDIN_UNIQUE");
	int ready = m->state == ST_INIT && m->mapped && m->mode == MODE_NONE;

	switch (req) {
	case KCOV_INIT_TRACE:
		if (m->state != ST_DISABLED)
			return EBUSY;
		if (arg < 2 || arg > INT_MAX / 8)
			return EINVAL;
		if (ftruncate(fd, (off_t)(page_size() + arg * 8)) < 0)
			return ENOMEM;
		m->words = arg;
		m->state = ST_INIT;
		return 0;
	case KCOV_ENABLE:
		if (!ready)
			return EINVAL;
		if (m->owner || task_busy())
			return EBUSY;
		if (arg != KCOV_TRACE_PC)
			return EINVAL; /* KCOV_TRACE_CMP is not emulated */
		m->bitmap_words = 0;
		return enable_common(path, m, MODE_TRACE);
	case KCOV_UNIQUE_ENABLE:
		if (uniq && strcmp(uniq, "enotty") == 0)
			return ENOTTY;
		if (uniq && strcmp(uniq, "enotsupp") == 0)
			return ENOTSUPP_;
		if (!ready)
			return EINVAL;
		if (m->owner || task_busy())
			return EBUSY;
		if (arg == 0 || arg >= m->words - 1)
			return EINVAL;
		m->bitmap_words = arg;
		return enable_common(path, m, MODE_UNIQUE);
	case KCOV_DISABLE:
		if (arg != 0 || m->owner != getpid() || m->mode == MODE_NONE)
			return EINVAL;
		area_detach(m->mode == MODE_REMOTE ? &remote_area : &local_area);
		unsetenv(m->mode == MODE_REMOTE ? "KCOV_STANDIN_REMOTE" : "KCOV_STANDIN_ACTIVE");
		m->owner = 0;
		m->mode = MODE_NONE;
		m->remote_live = 0;
		m->common = 0;
		return 0;
	case KCOV_REMOTE_ENABLE: {
		int e;

		if (!ready)
			return EINVAL;
		if (m->owner || task_busy())
			return EBUSY;
		e = remote_arg_check(arg, m);
		if (e)
			return e;
		return enable_common(path, m, MODE_REMOTE);
	}
	case KCOV_RESET_TRACE:
		if (m->state != ST_INIT || !m->mapped)
			return EINVAL;
		return reset_trace(fd, m);
	default:
		return ENOTTY;
	}
}

int ioctl(int fd, unsigned long req, ...);

int ioctl(int fd, unsigned long req, ...)
{
	char path[PATH_MAX];
	unsigned long arg;
	struct meta m;
	va_list ap;
	int e;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	resolve();
	if (!device_fd_path(fd, path, sizeof(path)))
		return real_ioctl(fd, req, arg);
	if (req == KCOV_REMOTE_ENABLE && arg) {
		uint32_t nh;

		memcpy(&nh, (const unsigned char *)arg + 8, 4);
		if (nh > REMOTE_MAX_HANDLES) {
			errno = EINVAL;
			return -1;
		}
	}
	if (meta_read(fd, &m) < 0) {
		errno = EIO;
		return -1;
	}
	reap_owner(&m);
	e = dev_ioctl(fd, path, req, arg, &m);
	if (meta_write(fd, &m) < 0 && !e)
		e = EIO;
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- open, mmap, close ---- */

/* Create a fresh kcov object: a new area file in the state directory. */
static int dev_open(int flags)
{
	const char *state = getenv("KCOV_STANDIN_STATE");
	char tmpl[PATH_MAX];
	struct meta m;
	int fd;

	if (snprintf(tmpl, sizeof(tmpl), "%s/area.XXXXXX", state) >= (int)sizeof(tmpl)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmpl, flags & O_CLOEXEC);
	if (fd < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.magic = META_MAGIC;
	if (ftruncate(fd, (off_t)page_size()) < 0 || meta_write(fd, &m) < 0) {
		int e = errno;

		real_close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	resolve();
	if (is_device_path(dirfd, path))
		return dev_open(flags);
	return real_openat(dirfd, path, flags, mode);
}

static mode_t open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE entry points. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0);
}

static void *mmap_common(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	char path[PATH_MAX];
	struct meta m;
	void *p;

	resolve();
	if (!device_fd_path(fd, path, sizeof(path)))
		return real_mmap(addr, len, prot, flags, fd, off);
	if (meta_read(fd, &m) < 0) {
		errno = EIO;
		return MAP_FAILED;
	}
	reap_owner(&m);
	if (m.state != ST_INIT || m.mode != MODE_NONE || off != 0 || len != m.words * 8) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	p = real_mmap(addr, len, prot, flags, fd, (off_t)page_size());
	if (p != MAP_FAILED && !m.mapped) {
		m.mapped = 1;
		if (meta_write(fd, &m) < 0) {
			munmap(p, len);
			errno = EIO;
			return MAP_FAILED;
		}
	}
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off);
}

/* Closing the device leaves the kcov object alive while a task uses it, as
 * in the kernel (the task holds a reference); nothing to do but pass on. */
int close(int fd)
{
	resolve();
	return real_close(fd);
}
