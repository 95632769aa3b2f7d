/*
 * test_standin.c - checks that libkcov_standin.so behaves like the KCOV
 * device of docs/collector.md ("The KCOV ABI"): trace and unique mode, the bitmap kept or
 * reset between runs, overflow, error codes, coverage of an exec'd child,
 * remote coverage, the PC formula under two boot placements, and that
 * kcov-standin-mksysroot writes a snapshot kc_addrmap_capture accepts.
 *
 * ctest runs this program with the stand-in in LD_PRELOAD; each test gets
 * a fresh state directory (a fresh "kernel lifetime" of guard indices).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrmap.h"
#include "kdesc.h"

#define KCOV_INIT_TRACE _IOR('c', 1, unsigned long)
#define KCOV_ENABLE _IO('c', 100)
#define KCOV_DISABLE _IO('c', 101)
#define KCOV_UNIQUE_ENABLE _IOW('c', 103, unsigned long)
#define KCOV_RESET_TRACE _IO('c', 104)

struct kcov_remote_arg {
	uint32_t trace_mode;
	uint32_t area_size;
	uint32_t num_handles;
	uint64_t common_handle;
	uint64_t handles[];
};

#define KCOV_REMOTE_ENABLE _IOW('c', 102, struct kcov_remote_arg)

#define KASLR_A 0x2a00000ull
#define NET_A 0xffffffffc0200000ull
#define FS_A 0xffffffffc0400000ull
#define KASLR_B 0x13c00000ull
#define NET_B 0xffffffffc1a00000ull
#define FS_B 0xffffffffc0010000ull

static char tmpdir[1024], sysroot_a[PATH_MAX], sysroot_b[PATH_MAX];
static char state[2048], device[PATH_MAX];
static int state_seq;
static struct sd_kernel kernel;
static int (*sys_fn)(const char *name);

static int run(char *const argv[], const char *sysroot)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (sysroot)
			setenv("KCOV_STANDIN_SYSROOT", sysroot, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int mksysroot(const char *out, uint64_t kaslr, uint64_t net, uint64_t fs, const char *id)
{
	char k[32], n[64], f[64];
	char *argv[] = { STANDIN_MKSYSROOT, STANDIN_KERNEL_DESC, (char *)out, "--kaslr", k,
			 "--module", n, "--module", f, "--boot-id", (char *)id, NULL };

	snprintf(k, sizeof(k), "0x%llx", (unsigned long long)kaslr);
	snprintf(n, sizeof(n), "standin_net=0x%llx", (unsigned long long)net);
	snprintf(f, sizeof(f), "standin_fs=0x%llx", (unsigned long long)fs);
	return run(argv, NULL);
}

static int group_setup(void **st)
{
	struct kc_err err;

	(void)st;
	snprintf(tmpdir, sizeof(tmpdir), "%s/kcov-standin-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(sysroot_a, sizeof(sysroot_a), "%s/sysroot-a", tmpdir);
	snprintf(sysroot_b, sizeof(sysroot_b), "%s/sysroot-b", tmpdir);
	if (mksysroot(sysroot_a, KASLR_A, NET_A, FS_A, "0b7c5e1a-1111-4a2b-9c3d-aaaaaaaaaaaa") ||
	    mksysroot(sysroot_b, KASLR_B, NET_B, FS_B, "0b7c5e1a-2222-4a2b-9c3d-bbbbbbbbbbbb"))
		return -1;
	if (sd_kernel_load(STANDIN_KERNEL_DESC, &kernel, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*(void **)&sys_fn = dlsym(RTLD_DEFAULT, "kcov_standin_syscall");
	if (!sys_fn) {
		fprintf(stderr, "libkcov_standin.so is not preloaded\n");
		return -1;
	}
	setenv("KCOV_STANDIN_KERNEL", STANDIN_KERNEL_DESC, 1);
	setenv("KCOV_STANDIN_SYSROOT", sysroot_a, 1);
	return 0;
}

static int group_teardown(void **st)
{
	char *argv[] = { "/bin/rm", "-rf", tmpdir, NULL };

	(void)st;
	sd_kernel_release(&kernel);
	return run(argv, NULL);
}

/* A fresh state directory: a new kernel lifetime. */
static int test_setup(void **st)
{
	(void)st;
	snprintf(state, sizeof(state), "%s/state-%d", tmpdir, state_seq++);
	snprintf(device, sizeof(device), "%s/kcov", state);
	if (mkdir(state, 0700) < 0)
		return -1;
	setenv("KCOV_STANDIN_STATE", state, 1);
	setenv("KCOV_STANDIN_SYSROOT", sysroot_a, 1);
	unsetenv("KCOV_STANDIN_UNIQUE");
	unsetenv("KCOV_STANDIN_DEVICE");
	return 0;
}

struct dev {
	int fd;
	uint64_t *buf;
	unsigned long words;
};

static void dev_open(struct dev *d, unsigned long words, int flags)
{
	d->words = words;
	d->fd = open(device, O_RDWR | flags);
	assert_true(d->fd >= 0);
	assert_int_equal(ioctl(d->fd, KCOV_INIT_TRACE, words), 0);
	d->buf = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	assert_true(d->buf != MAP_FAILED);
}

static void dev_close(struct dev *d)
{
	munmap(d->buf, d->words * 8);
	close(d->fd);
}

static int ioctl_errno(int fd, unsigned long req, unsigned long arg)
{
	errno = 0;
	return ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and de-duplicate n PCs in place; returns the new count. */
static size_t uniq(uint64_t *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* The PC formula of docs/collector.md ("The KCOV ABI"), written
 * independently of kdesc.c. */
static uint64_t expect_pc(uint32_t site, uint64_t kaslr, uint64_t net, uint64_t fs)
{
	const struct sd_site *s = &kernel.sites[site];
	uint64_t runtime;

	if (s->image == 0)
		return kernel.link_text + s->off + 5;
	runtime = (strcmp(kernel.mods[s->image - 1].name, "standin_net") == 0 ? net : fs) +
		  kernel.mods[s->image - 1].text_offset + s->off;
	return runtime + 5 - kaslr;
}

/* Expected trace of one syscall (with repetition) into out; returns count. */
static size_t expect_trace(const char *name, int remote, uint64_t kaslr, uint64_t net,
			   uint64_t fs, uint64_t *out, size_t max)
{
	const struct sd_syscall *c = sd_kernel_find(&kernel, name, remote);
	size_t n = 0;

	assert_non_null(c);
	for (uint32_t i = 0; i < c->nsteps; i++)
		for (uint32_t r = 0; r < kernel.steps[c->first + i].count && n < max; r++)
			out[n++] = expect_pc(kernel.steps[c->first + i].site, kaslr, net, fs);
	return n;
}

static void test_trace_mode_formula(void **st)
{
	uint64_t want[4096];
	struct dev d;
	size_t n;

	(void)st;
	dev_open(&d, 8192, 0);
	assert_int_equal(ioctl(d.fd, KCOV_ENABLE, 0), 0);
	d.buf[0] = 0;
	assert_int_equal(sys_fn("open"), 0);
	assert_int_equal(sys_fn("no_such_syscall"), -1);
	n = expect_trace("open", 0, KASLR_A, NET_A, FS_A, want, 4096);
	assert_int_equal(d.buf[0], n);
	assert_memory_equal(d.buf + 1, want, n * 8);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);
	d.buf[0] = 0;
	assert_int_equal(sys_fn("open"), 0);
	assert_int_equal(d.buf[0], 0); /* disabled: no coverage */
	dev_close(&d);
}

static void test_unique_equals_trace_set(void **st)
{
	uint64_t trace[4096], uniqv[4096];
	size_t nt, nu;
	struct dev d;

	(void)st;
	dev_open(&d, 8192, 0);
	assert_int_equal(ioctl(d.fd, KCOV_ENABLE, 0), 0);
	d.buf[0] = 0;
	assert_int_equal(sys_fn("poll_loop"), 0);
	nt = d.buf[0];
	memcpy(trace, d.buf + 1, nt * 8);
	nt = uniq(trace, nt);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);

	memset(d.buf, 0, 8192 * 8);
	assert_int_equal(ioctl(d.fd, KCOV_UNIQUE_ENABLE, 64), 0);
	assert_int_equal(sys_fn("poll_loop"), 0);
	nu = d.buf[64];
	assert_int_equal(nu, nt); /* each PC exactly once */
	memcpy(uniqv, d.buf + 65, nu * 8);
	assert_int_equal(uniq(uniqv, nu), nu);
	assert_memory_equal(uniqv, trace, nt * 8);

	/* Bitmap kept: nothing new. */
	d.buf[64] = 0;
	assert_int_equal(sys_fn("poll_loop"), 0);
	assert_int_equal(d.buf[64], 0);
	/* Reset: the same PCs come back. */
	assert_int_equal(ioctl(d.fd, KCOV_RESET_TRACE, 0), 0);
	assert_int_equal(d.buf[0], 0);
	assert_int_equal(sys_fn("poll_loop"), 0);
	assert_int_equal(d.buf[64], nt);
	memcpy(uniqv, d.buf + 65, nt * 8);
	uniq(uniqv, nt);
	assert_memory_equal(uniqv, trace, nt * 8);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d);
}

static void test_overflow(void **st)
{
	uint64_t want[64], all[1024], distinct[64];
	size_t nall, ndistinct = 0;
	struct dev d;

	(void)st;
	/* Trace mode: the loop fills 64 words and the rest is dropped. */
	dev_open(&d, 64, 0);
	assert_int_equal(ioctl(d.fd, KCOV_ENABLE, 0), 0);
	d.buf[0] = 0;
	assert_int_equal(sys_fn("poll_loop"), 0);
	assert_int_equal(d.buf[0], 63);
	assert_int_equal(expect_trace("poll_loop", 0, KASLR_A, NET_A, FS_A, want, 63), 63);
	assert_memory_equal(d.buf + 1, want, 63 * 8);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d);

	/* Unique mode: the 26 distinct sites of the loop (in first-hit order)
	 * fit in 16 + 40 words. */
	dev_open(&d, 56, 0);
	memset(d.buf, 0, 56 * 8);
	assert_int_equal(ioctl(d.fd, KCOV_UNIQUE_ENABLE, 16), 0);
	assert_int_equal(sys_fn("poll_loop"), 0);
	nall = expect_trace("poll_loop", 0, KASLR_A, NET_A, FS_A, all, 1024);
	for (size_t i = 0; i < nall; i++) {
		size_t j;

		for (j = 0; j < ndistinct && distinct[j] != all[i]; j++)
			;
		if (j == ndistinct && ndistinct < 64)
			distinct[ndistinct++] = all[i];
	}
	assert_int_equal(ndistinct, 26);
	assert_int_equal(d.buf[16], 26);
	assert_memory_equal(d.buf + 17, distinct, 26 * 8);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d);
}

/* Indices beyond the bitmap are appended on every hit. */
static void test_index_beyond_bitmap(void **st)
{
	uint64_t seen[1024];
	size_t nseen = 0, beyond = 0, first;
	const struct sd_syscall *c;
	struct dev d;

	(void)st;
	dev_open(&d, 4096, 0);
	memset(d.buf, 0, 4096 * 8);
	assert_int_equal(ioctl(d.fd, KCOV_UNIQUE_ENABLE, 1), 0);
	assert_int_equal(sys_fn("write"), 0);
	assert_int_equal(sys_fn("mmap"), 0);
	/* Replay the index assignment: first-hit order over write then mmap. */
	for (int pass = 0; pass < 2; pass++) {
		c = sd_kernel_find(&kernel, pass ? "mmap" : "write", 0);
		for (uint32_t i = 0; i < c->nsteps; i++) {
			uint32_t s = kernel.steps[c->first + i].site;
			size_t j;

			for (j = 0; j < nseen && seen[j] != s; j++)
				;
			if (j == nseen)
				seen[nseen++] = s;
			if (pass == 1 && j >= 64)
				beyond++;
		}
	}
	first = d.buf[1];
	assert_int_equal(first, nseen);
	assert_int_equal(sys_fn("mmap"), 0);
	assert_true(beyond > 0);
	assert_int_equal(d.buf[1], first + beyond);
	assert_int_equal(ioctl(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d);
}

static void test_errors(void **st)
{
	struct dev d, d2;
	int fd;
	void *p;

	(void)st;
	fd = open(device, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ioctl_errno(fd, KCOV_ENABLE, 0), EINVAL);         /* before INIT */
	assert_int_equal(ioctl_errno(fd, KCOV_UNIQUE_ENABLE, 4), EINVAL);  /* before INIT */
	assert_int_equal(ioctl_errno(fd, KCOV_INIT_TRACE, 1), EINVAL);     /* too small */
	assert_int_equal(ioctl_errno(fd, KCOV_INIT_TRACE, 64), 0);
	assert_int_equal(ioctl_errno(fd, KCOV_INIT_TRACE, 64), EBUSY);     /* twice */
	assert_int_equal(ioctl_errno(fd, KCOV_ENABLE, 0), EINVAL);         /* not mapped */
	p = mmap(NULL, 32 * 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p == MAP_FAILED && errno == EINVAL);                   /* wrong size */
	close(fd);

	dev_open(&d, 64, O_CLOEXEC);
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 0), EINVAL);
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 63), EINVAL);
	assert_int_equal(ioctl_errno(d.fd, KCOV_ENABLE, 7), EINVAL);       /* bad mode */
	assert_int_equal(ioctl_errno(d.fd, 0x4008637f, 0), ENOTTY);        /* unknown */
	assert_int_equal(ioctl_errno(d.fd, KCOV_DISABLE, 0), EINVAL);      /* not enabled */
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 62), 0);
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 4), EINVAL); /* same kcov */
	dev_open(&d2, 64, 0);
	assert_int_equal(ioctl_errno(d2.fd, KCOV_ENABLE, 0), EBUSY);       /* task busy */
	assert_int_equal(ioctl_errno(d2.fd, KCOV_UNIQUE_ENABLE, 4), EBUSY);
	assert_int_equal(ioctl_errno(d.fd, KCOV_DISABLE, 0), 0);
	assert_int_equal(ioctl_errno(d2.fd, KCOV_ENABLE, 0), 0);
	assert_int_equal(ioctl_errno(d2.fd, KCOV_DISABLE, 0), 0);

	setenv("KCOV_STANDIN_UNIQUE", "enotty", 1);
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 4), ENOTTY);
	setenv("KCOV_STANDIN_UNIQUE", "enotsupp", 1);
	assert_int_equal(ioctl_errno(d.fd, KCOV_UNIQUE_ENABLE, 4), 524);
	unsetenv("KCOV_STANDIN_UNIQUE");
	assert_int_equal(ioctl_errno(d.fd, KCOV_ENABLE, 0), 0);            /* fallback works */
	assert_int_equal(ioctl_errno(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d2);
	dev_close(&d);
}

/* Fork, enable in the child, exec the workload; the parent reads. */
static pid_t spawn_workload(struct dev *d, unsigned long req, unsigned long arg,
			    const char *sysroot, char *const args[])
{
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[8] = { STANDIN_WORKLOAD };

		for (int i = 0; args[i] && i < 6; i++)
			argv[i + 1] = args[i];
		if (sysroot)
			setenv("KCOV_STANDIN_SYSROOT", sysroot, 1);
		if (ioctl(d->fd, req, arg) < 0)
			_exit(100 + errno % 100);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_exec_child(void **st)
{
	uint64_t want[4096], got[4096];
	char *args[] = { "open", "stat", NULL };
	size_t nw;
	struct dev d;

	(void)st;
	for (int cloexec = 0; cloexec < 2; cloexec++) {
		dev_open(&d, 4096, cloexec ? O_CLOEXEC : 0);
		memset(d.buf, 0, 4096 * 8);
		assert_int_equal(wait_exit(spawn_workload(&d, KCOV_UNIQUE_ENABLE, 128, NULL, args)),
				 0);
		nw = expect_trace("open", 0, KASLR_A, NET_A, FS_A, want, 4096);
		nw += expect_trace("stat", 0, KASLR_A, NET_A, FS_A, want + nw, 4096 - nw);
		nw = uniq(want, nw);
		assert_int_equal(d.buf[128], nw);
		memcpy(got, d.buf + 129, nw * 8);
		uniq(got, nw);
		assert_memory_equal(got, want, nw * 8);
		/* The child is gone, so its kcov is free again (task exit). */
		assert_int_equal(ioctl_errno(d.fd, KCOV_ENABLE, 0), 0);
		assert_int_equal(ioctl_errno(d.fd, KCOV_DISABLE, 0), 0);
		dev_close(&d);
	}
}

/* Two boots with different KASLR and module bases. */
static void test_two_placements(void **st)
{
	uint64_t want[4096];
	char *args[] = { "open", "sendmsg", NULL };
	const char *roots[2] = { sysroot_a, sysroot_b };
	const uint64_t place[2][3] = { { KASLR_A, NET_A, FS_A }, { KASLR_B, NET_B, FS_B } };
	uint64_t first_vm[2] = { 0, 0 };
	struct dev d;

	(void)st;
	for (int b = 0; b < 2; b++) {
		size_t n;

		dev_open(&d, 4096, 0);
		memset(d.buf, 0, 4096 * 8);
		assert_int_equal(wait_exit(spawn_workload(&d, KCOV_ENABLE, 0, roots[b], args)), 0);
		n = expect_trace("open", 0, place[b][0], place[b][1], place[b][2], want, 4096);
		n += expect_trace("sendmsg", 0, place[b][0], place[b][1], place[b][2], want + n,
				  4096 - n);
		assert_int_equal(d.buf[0], n);
		assert_memory_equal(d.buf + 1, want, n * 8);
		first_vm[b] = d.buf[1];
		dev_close(&d);
	}
	/* vmlinux PCs are link-time addresses whatever the KASLR. */
	assert_int_equal(first_vm[0], first_vm[1]);
}

static pid_t spawn_via_intermediate(struct dev *local, struct dev *remote,
				    struct kcov_remote_arg *ra, char *const args[])
{
	pid_t pid = fork();

	if (pid == 0) {
		pid_t child;

		if (ioctl(remote->fd, KCOV_REMOTE_ENABLE, ra) < 0)
			_exit(126);
		child = spawn_workload(local, KCOV_ENABLE, 0, NULL, args);
		_exit(child < 0 ? 126 : wait_exit(child));
	}
	return pid;
}

static void test_remote(void **st)
{
	uint64_t want[256];
	unsigned char argbuf[sizeof(struct kcov_remote_arg) + 8];
	struct kcov_remote_arg *ra = (struct kcov_remote_arg *)argbuf;
	char *args[] = { "usb_submit", NULL };
	struct dev d, d2;
	size_t n;

	(void)st;
	dev_open(&d2, 1024, 0);
	memset(argbuf, 0, sizeof(argbuf));
	ra->trace_mode = 1; /* only KCOV_TRACE_PC is emulated */
	ra->area_size = 512;
	ra->num_handles = 1;
	ra->handles[0] = 0x0100000000000001ull;
	assert_int_equal(ioctl_errno(d2.fd, KCOV_REMOTE_ENABLE, (unsigned long)ra), EINVAL);
	ra->trace_mode = 0;
	ra->num_handles = 0x10001;
	assert_int_equal(ioctl_errno(d2.fd, KCOV_REMOTE_ENABLE, (unsigned long)ra), EINVAL);
	ra->num_handles = 1;
	ra->handles[0] = 0x0200000000000001ull; /* unknown subsystem */
	assert_int_equal(ioctl_errno(d2.fd, KCOV_REMOTE_ENABLE, (unsigned long)ra), EINVAL);
	ra->handles[0] = 0x0100000000000001ull;
	ra->common_handle = 0x0000000000000042ull;

	/* A task holding a local kcov cannot take a remote one (EBUSY). */
	dev_open(&d, 1024, 0);
	assert_int_equal(ioctl_errno(d.fd, KCOV_ENABLE, 0), 0);
	assert_int_equal(ioctl_errno(d2.fd, KCOV_REMOTE_ENABLE, (unsigned long)ra), EBUSY);
	assert_int_equal(ioctl_errno(d.fd, KCOV_DISABLE, 0), 0);
	dev_close(&d);

	memset(d2.buf, 0, 1024 * 8);
	assert_int_equal(wait_exit(spawn_workload(&d2, KCOV_REMOTE_ENABLE, (unsigned long)ra,
						  NULL, args)), 0);
	n = expect_trace("usb_submit", 1, KASLR_A, NET_A, FS_A, want, 256);
	assert_int_equal(d2.buf[0], n);
	assert_memory_equal(d2.buf + 1, want, n * 8);

	/* The common handle is inherited: an intermediate task holds the
	 * remote kcov, its child enables local coverage and execs. */
	dev_open(&d, 1024, O_CLOEXEC);
	memset(d.buf, 0, 1024 * 8);
	memset(d2.buf, 0, 1024 * 8);
	assert_int_equal(wait_exit(spawn_via_intermediate(&d, &d2, ra, args)), 0);
	assert_int_equal(d2.buf[0], n);
	assert_memory_equal(d2.buf + 1, want, n * 8);
	n = expect_trace("usb_submit", 0, KASLR_A, NET_A, FS_A, want, 256);
	assert_int_equal(d.buf[0], n);
	assert_memory_equal(d.buf + 1, want, n * 8);
	dev_close(&d);
	dev_close(&d2);
}

static void test_sysroot_parses(void **st)
{
	struct kc_addrmap m;
	struct kc_err err;

	(void)st;
	if (kc_addrmap_capture(sysroot_b, "m1", kernel.link_text, &m, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(m.boot_id, "0b7c5e1a-2222-4a2b-9c3d-bbbbbbbbbbbb");
	assert_string_equal(m.release, kernel.release);
	assert_string_equal(m.build_id, kernel.build_id);
	assert_int_equal(m.text_start, kernel.link_text + KASLR_B);
	assert_int_equal(m.text_end, kernel.link_text + KASLR_B + kernel.text_size);
	assert_int_equal(m.nmodules, 2);
	for (uint32_t i = 0; i < m.nmodules; i++) {
		int k = sd_kernel_module(&kernel, m.modules[i].name);
		uint64_t base = strcmp(m.modules[i].name, "standin_net") == 0 ? NET_B : FS_B;

		assert_true(k >= 0);
		assert_int_equal(m.modules[i].core_base, base);
		assert_int_equal(m.modules[i].core_size, kernel.mods[k].core_size);
		assert_int_equal(m.modules[i].text_addr, base + kernel.mods[k].text_offset);
		assert_string_equal(m.modules[i].build_id, kernel.mods[k].build_id);
	}
	kc_addrmap_release(&m);
}

static void test_desc_errors(void **st)
{
	static const char *bad[] = {
		"module name=x build_id=aa core_size=10 text_offset=0\n",
		"kernel build_id=aa release=r link_text=0x1 text_size=0x100\nfoo\n",
		"kernel build_id=aa release=r link_text=0x1 text_size=0x100\n"
		"syscall a vmlinux+0x200\n",
		"kernel build_id=aa release=r link_text=0x1 text_size=0x100\n"
		"syscall a nomod+0x10\n",
		"kernel build_id=aa release=r link_text=0x1 text_size=0x100\n"
		"syscall a vmlinux+0x10*0\n",
		"kernel build_id=aa release=r link_text=0x1 text_size=0x100 extra=1\n",
	};
	char path[PATH_MAX];
	struct sd_kernel k;
	struct kc_err err;

	(void)st;
	snprintf(path, sizeof(path), "%s/bad.desc", state);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(sd_kernel_load(path, &k, &err), -1);
		assert_non_null(strstr(err.msg, path));
		assert_non_null(strchr(err.msg + strlen(path), ':'));
	}
}

/* A site named by several syscalls is one site; 5,000 distinct ones (the
 * index rehashes several times on the way) are 5,000, each where its step
 * says. */
static void test_site_index(void **st)
{
	char path[PATH_MAX];
	struct sd_kernel k;
	struct kc_err err;
	FILE *f;

	(void)st;
	snprintf(path, sizeof(path), "%s/many.desc", state);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("kernel build_id=aa release=r link_text=0x1000 text_size=0x1000000\n"
	      "module name=m build_id=bb core_size=0x100000 text_offset=0x0\n", f);
	for (int c = 0; c < 50; c++) {
		fprintf(f, "syscall s%d", c);
		for (int i = 0; i < 100; i++)
			fprintf(f, " vmlinux+0x%x", (c * 100 + i) * 16);
		/* the same module site in every syscall */
		fputs(" m+0x40\n", f);
	}
	fclose(f);
	assert_int_equal(sd_kernel_load(path, &k, &err), 0);
	assert_int_equal(k.nsites, 5001);
	assert_int_equal(k.ncalls, 50);
	for (uint32_t c = 0; c < k.ncalls; c++) {
		const struct sd_syscall *sc = &k.calls[c];
		const struct sd_step *last = &k.steps[sc->first + sc->nsteps - 1];

		assert_int_equal(sc->nsteps, 101);
		for (uint32_t i = 0; i + 1 < sc->nsteps; i++) {
			const struct sd_site *site = &k.sites[k.steps[sc->first + i].site];

			assert_int_equal(site->image, 0);
			assert_int_equal(site->off, (c * 100 + i) * 16);
		}
		assert_int_equal(last->site, k.steps[k.calls[0].first + 100].site);
		assert_int_equal(k.sites[last->site].image, 1);
		assert_int_equal(k.sites[last->site].off, 0x40);
	}
	sd_kernel_release(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_trace_mode_formula, test_setup),
		cmocka_unit_test_setup(test_unique_equals_trace_set, test_setup),
		cmocka_unit_test_setup(test_overflow, test_setup),
		cmocka_unit_test_setup(test_index_beyond_bitmap, test_setup),
		cmocka_unit_test_setup(test_errors, test_setup),
		cmocka_unit_test_setup(test_exec_child, test_setup),
		cmocka_unit_test_setup(test_two_placements, test_setup),
		cmocka_unit_test_setup(test_remote, test_setup),
		cmocka_unit_test_setup(test_sysroot_parses, test_setup),
		cmocka_unit_test_setup(test_desc_errors, test_setup),
		cmocka_unit_test_setup(test_site_index, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
