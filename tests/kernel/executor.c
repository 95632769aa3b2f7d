/*
 * executor.c - kcov-fuzz-executor, the fuzzer-like load of the overflow
 * experiment (tests/kernel/overflow-experiment.sh, docs/overflow-stats.md).
 * It runs "programs" of random system calls with random but plausible
 * arguments, like syzkaller's executor: each program in a forked child that
 * wraps it in kc_session_begin()/kc_session_end() of the collector's C API
 * and spools it as one report (kc_session_flush()), so that a crash or hang
 * loses one program only. Program i of seed S is a pure function of (S, i):
 * two executors with the same seed run the same programs, which is what
 * lets the experiment compare trace and unique mode on identical loads.
 *
 * The calls cover files on tmpfs, pipes, UNIX/INET/INET6 sockets over
 * loopback, socketpairs, mmap/mprotect/mremap/munmap, memfd, epoll, eventfd,
 * timerfd, signalfd, ptys, fcntl locks, ioctls of the devices present,
 * directory walks and reads of /proc, /sys and debugfs. Nothing is written
 * outside the program's own directory under --workdir and the devices of a
 * fixed list, and nothing touches the serial ports (the experiment's data
 * channel) or other processes. A program that runs past --timeout-ms gets
 * SIGUSR1 from the parent (the test kernel has no POSIX timers, so no
 * alarm() or setitimer() in the child; the parent polls a pidfd), which
 * interrupts a blocking call and skips the rest; it is still reported. One
 * that does not end within another max(--timeout-ms, 10 s) is killed and
 * counted as failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "session.h"

#define MAX_FDS 24
#define MAX_MAPS 8
#define BIG (1u << 20) /* largest read/write/mapping of one call */

static const char usage[] =
	"usage: kcov-fuzz-executor --spool DIR --machine NAME --seed S --programs N\n"
	"           [--mode unique|trace] [--words N] [--bitmap-words N] [--label L]\n"
	"           [--calls N] [--timeout-ms T] [--workdir DIR] [--link-text ADDR]\n"
	"           [--device PATH] [--sysroot DIR]\n"
	"Runs N seeded programs of random system calls, each in a child with\n"
	"kc_session_begin/kc_session_end around it, one spooled report each.\n";

/* One program's state: everything lives in the child, on its stack. */
struct prog {
	uint64_t rng;
	int fds[MAX_FDS];
	int nfds;
	struct { void *p; size_t len; } maps[MAX_MAPS];
	int nmaps;
	char dir[256];
	char *buf; /* BIG bytes */
};

/* Set by SIGUSR1: the program ran out of time, stop issuing calls. */
static volatile sig_atomic_t expired;

static void on_timeout(int sig)
{
	(void)sig;
	expired = 1;
}

/* splitmix64: seeds and the per-program stream. */
static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(struct prog *p, uint32_t n)
{
	return n ? (uint32_t)(mix(&p->rng) % n) : 0;
}

/* A size: mostly small, sometimes a page or more, rarely up to BIG, the
 * shape of syzkaller's length arguments. */
static size_t rsize(struct prog *p)
{
	static const size_t sizes[] = { 0, 1, 8, 64, 200, 512, 4096, 4096, 8192, 65536,
					262144, BIG };
	uint32_t r = rnd(p, 100);

	if (r < 55)
		return sizes[rnd(p, 6)];
	if (r < 90)
		return sizes[6 + rnd(p, 3)];
	return sizes[9 + rnd(p, 3)];
}

static void add_fd(struct prog *p, int fd)
{
	if (fd < 0)
		return;
	if (p->nfds == MAX_FDS) {
		close(fd);
		return;
	}
	p->fds[p->nfds++] = fd;
}

/* A descriptor of the program, or a bad one now and then (EBADF paths). */
static int pick_fd(struct prog *p)
{
	if (p->nfds == 0 || rnd(p, 20) == 0)
		return rnd(p, 2) ? -1 : 1000;
	return p->fds[rnd(p, (uint32_t)p->nfds)];
}

static void drop_fd(struct prog *p)
{
	uint32_t i;

	if (p->nfds == 0)
		return;
	i = rnd(p, (uint32_t)p->nfds);
	close(p->fds[i]);
	p->fds[i] = p->fds[--p->nfds];
}

/* Paths a program may open. The writable ones are its own files and
 * devices whose writes go nowhere or to a new pty; /proc, /sys and debugfs
 * are opened read-only. No serial port or console (the experiment's data
 * channel and log), no /dev/kmsg (its writes would fill the kernel log). */
static const char *const dev_paths[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/ptmx",
};
static const char *const ro_paths[] = {
	"/proc/self/status", "/proc/self/maps", "/proc/self/smaps", "/proc/self/stat",
	"/proc/self/cmdline", "/proc/self/environ", "/proc/self/fdinfo/0", "/proc/self/mountinfo",
	"/proc/self/limits", "/proc/self/wchan", "/proc/self/stack", "/proc/meminfo",
	"/proc/stat", "/proc/cpuinfo", "/proc/interrupts", "/proc/slabinfo", "/proc/vmstat",
	"/proc/zoneinfo", "/proc/buddyinfo", "/proc/kallsyms", "/proc/modules", "/proc/mounts",
	"/proc/filesystems", "/proc/version", "/proc/uptime", "/proc/loadavg", "/proc/locks",
	"/proc/net/unix", "/proc/net/tcp", "/proc/net/udp", "/proc/net/tcp6", "/proc/net/dev",
	"/proc/net/route", "/proc/net/snmp", "/proc/net/netstat", "/proc/net/sockstat",
	"/proc/sys/kernel/ostype", "/proc/sys/kernel/random/uuid", "/proc/sys/vm/overcommit_memory",
	"/proc/sys/net/core/somaxconn", "/proc/timer_list", "/proc/iomem", "/proc/ioports",
	"/sys/kernel/debug/test_kcov_unique/guard_next", "/sys/kernel/uevent_seqnum",
	"/sys/devices/system/cpu/online", "/sys/class/tty/console/active",
};
static const char *const dirs[] = {
	"/proc", "/proc/self", "/proc/self/fd", "/proc/self/task", "/proc/sys/kernel",
	"/proc/sys/vm", "/proc/sys/net/ipv4", "/proc/net", "/sys/kernel", "/sys/class/tty",
	"/sys/devices/system/cpu", "/sys/bus", "/sys/module", "/sys/kernel/debug", "/dev",
};

static void own_path(struct prog *p, char *out, size_t n)
{
	static const char *const names[] = { "f0", "f1", "f2", "d0", "d0/f3", "l0" };

	snprintf(out, n, "%s/%s", p->dir, names[rnd(p, 6)]);
}

static void open_something(struct prog *p)
{
	static const int wflags[] = { O_RDONLY, O_WRONLY, O_RDWR };
	char path[320];
	int flags = O_NONBLOCK | O_CLOEXEC;
	uint32_t r = rnd(p, 10);

	if (r < 4) {
		own_path(p, path, sizeof(path));
		flags |= wflags[rnd(p, 3)] | (rnd(p, 2) ? O_CREAT : 0) | (rnd(p, 4) ? 0 : O_TRUNC) |
			 (rnd(p, 4) ? 0 : O_APPEND) | (rnd(p, 8) ? 0 : O_DIRECTORY);
		add_fd(p, open(path, flags, 0644));
	} else if (r < 6) {
		const char *d = dev_paths[rnd(p, sizeof(dev_paths) / sizeof(dev_paths[0]))];

		add_fd(p, open(d, flags | wflags[rnd(p, 3)] | (rnd(p, 4) ? 0 : O_NOCTTY)));
	} else {
		add_fd(p, open(ro_paths[rnd(p, sizeof(ro_paths) / sizeof(ro_paths[0]))], flags));
	}
}

/* Walk a directory and read one of its regular files (read-only). */
static void walk_dir(struct prog *p)
{
	const char *d = dirs[rnd(p, sizeof(dirs) / sizeof(dirs[0]))];
	char names[64][256];
	int n = 0, fd;
	DIR *dh = opendir(d);
	struct dirent *e;

	if (!dh)
		return;
	while (n < 64 && !expired && (e = readdir(dh)))
		if (e->d_name[0] != '.' && strncmp(e->d_name, "tty", 3) != 0 &&
		    strcmp(e->d_name, "kmsg") != 0 && strcmp(e->d_name, "console") != 0)
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(dh);
	if (n == 0 || strcmp(d, "/dev") == 0)
		return;
	{
		char path[320];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", d, names[rnd(p, (uint32_t)n)]);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) >= 0) {
			(void)!read(fd, p->buf, rsize(p));
			close(fd);
		}
	}
}

static void do_socket(struct prog *p)
{
	static const int fams[] = { AF_UNIX, AF_INET, AF_INET6 };
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW };
	int fam = fams[rnd(p, 3)], type = types[rnd(p, 4)];

	add_fd(p, socket(fam, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 type == SOCK_RAW ? (rnd(p, 2) ? IPPROTO_ICMP : IPPROTO_UDP) : 0));
}

/* A loopback address of fd's family: a UNIX abstract name or 127.0.0.1 /
 * ::1 with one of 32 ports, so that programs meet their own listeners. */
static socklen_t rand_addr(struct prog *p, int fd, struct sockaddr_storage *ss)
{
	int fam = AF_UNIX;
	socklen_t len = sizeof(fam);

	memset(ss, 0, sizeof(*ss));
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &len) < 0)
		fam = AF_INET;
	if (fam == AF_UNIX) {
		struct sockaddr_un *u = (struct sockaddr_un *)ss;

		u->sun_family = AF_UNIX;
		len = (socklen_t)snprintf(u->sun_path + 1, sizeof(u->sun_path) - 1, "kcfz%u",
					  rnd(p, 8));
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
	}
	if (fam == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)(20000 + rnd(p, 32)));
		a->sin6_addr = in6addr_loopback;
		return sizeof(*a);
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)(20000 + rnd(p, 32)));
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
}

static void do_sockop(struct prog *p)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = pick_fd(p), v = (int)rnd(p, 65536);

	switch (rnd(p, 9)) {
	case 0:
		len = rand_addr(p, fd, &ss);
		(void)!bind(fd, (struct sockaddr *)&ss, len);
		break;
	case 1:
		(void)!listen(fd, (int)rnd(p, 16));
		break;
	case 2:
		len = rand_addr(p, fd, &ss);
		(void)!connect(fd, (struct sockaddr *)&ss, len);
		break;
	case 3:
		add_fd(p, accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
		break;
	case 4:
		len = rand_addr(p, fd, &ss);
		(void)!sendto(fd, p->buf, rsize(p) % 65536, MSG_DONTWAIT | MSG_NOSIGNAL,
			      rnd(p, 2) ? (struct sockaddr *)&ss : NULL, rnd(p, 2) ? len : 0);
		break;
	case 5:
		(void)!recv(fd, p->buf, rsize(p), MSG_DONTWAIT | (rnd(p, 4) ? 0 : MSG_PEEK));
		break;
	case 6: {
		static const int opts[][2] = {
			{ SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF }, { SOL_SOCKET, SO_REUSEADDR },
			{ SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_LINGER }, { IPPROTO_TCP, TCP_NODELAY },
			{ IPPROTO_TCP, TCP_MAXSEG }, { IPPROTO_IP, IP_TTL }, { IPPROTO_IPV6, IPV6_V6ONLY },
		};
		uint32_t o = rnd(p, 9);

		if (rnd(p, 2)) {
			(void)!setsockopt(fd, opts[o][0], opts[o][1], &v, sizeof(v));
		} else {
			len = 64;
			(void)!getsockopt(fd, opts[o][0], opts[o][1], p->buf, &len);
		}
		break;
	}
	case 7:
		len = sizeof(ss);
		(void)!(rnd(p, 2) ? getsockname(fd, (struct sockaddr *)&ss, &len)
				  : getpeername(fd, (struct sockaddr *)&ss, &len));
		break;
	default:
		(void)!shutdown(fd, (int)rnd(p, 3));
		break;
	}
}

static void do_mem(struct prog *p)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE, PROT_WRITE };
	uint32_t r = rnd(p, 6);

	if (r < 2 || p->nmaps == 0) {
		size_t len = 4096 * (1 + rnd(p, 64));
		int fd = rnd(p, 3) ? -1 : pick_fd(p);
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : (rnd(p, 2) ? MAP_SHARED : MAP_PRIVATE),
			       fd, 0);

		if (m == MAP_FAILED || p->nmaps == MAX_MAPS) {
			if (m != MAP_FAILED)
				munmap(m, len);
			return;
		}
		p->maps[p->nmaps].p = m;
		p->maps[p->nmaps++].len = len;
		if (fd < 0) /* fault pages in: anonymous memory only (no SIGBUS) */
			for (size_t o = 0; o < len; o += 4096 * (1 + rnd(p, 4)))
				((volatile char *)m)[o] = 1;
		return;
	}
	{
		uint32_t i = rnd(p, (uint32_t)p->nmaps);
		void *m = p->maps[i].p;
		size_t len = p->maps[i].len;

		switch (r) {
		case 2:
			(void)!mprotect(m, len, prots[rnd(p, 4)]);
			break;
		case 3:
			(void)!msync(m, len, rnd(p, 2) ? MS_ASYNC : MS_SYNC);
			break;
		case 4: {
			void *n = mremap(m, len, len * 2, MREMAP_MAYMOVE);

			if (n != MAP_FAILED) {
				p->maps[i].p = n;
				p->maps[i].len = len * 2;
			}
			break;
		}
		default:
			munmap(m, len);
			p->maps[i] = p->maps[--p->nmaps];
			break;
		}
	}
}

static void do_ioctl(struct prog *p)
{
	static const unsigned long reqs[] = {
		FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, TIOCGPTN, TIOCSPTLCK,
		TIOCGPGRP, TIOCOUTQ, TIOCINQ, SIOCGIFCONF, SIOCGIFINDEX, SIOCGIFFLAGS, FIOASYNC,
		TIOCGSID, 0x80086601 /* FS_IOC_GETFLAGS */,
	};
	unsigned long req = reqs[rnd(p, sizeof(reqs) / sizeof(reqs[0]))];
	int fd = pick_fd(p);

	memset(p->buf, 0, 256);
	if (req == SIOCGIFCONF) {
		struct ifconf ic = { .ifc_len = 256, .ifc_buf = p->buf + 512 };

		(void)!ioctl(fd, req, &ic);
		return;
	}
	if (req == SIOCGIFINDEX || req == SIOCGIFFLAGS)
		snprintf(p->buf, 16, "%s", rnd(p, 2) ? "lo" : "eth0");
	if (req == FIONBIO || req == TIOCSPTLCK || req == FIOASYNC)
		*(int *)p->buf = (int)rnd(p, 2);
	(void)!ioctl(fd, req, p->buf);
}

static void do_event(struct prog *p)
{
	switch (rnd(p, 7)) {
	case 0:
		add_fd(p, epoll_create1(EPOLL_CLOEXEC));
		break;
	case 1: {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | (rnd(p, 2) ? EPOLLET : 0) };

		(void)!epoll_ctl(pick_fd(p), (int)(1 + rnd(p, 3)), pick_fd(p), &ev);
		break;
	}
	case 2: {
		struct epoll_event evs[8];

		(void)!epoll_wait(pick_fd(p), evs, 8, 0);
		break;
	}
	case 3:
		add_fd(p, eventfd(rnd(p, 4), EFD_NONBLOCK | EFD_CLOEXEC | (rnd(p, 2) ? EFD_SEMAPHORE : 0)));
		break;
	case 4: {
		int fd = timerfd_create(rnd(p, 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME,
					TFD_NONBLOCK | TFD_CLOEXEC);
		struct itimerspec its = { .it_value = { 0, 1000 + rnd(p, 100000) } };

		(void)!timerfd_settime(fd, 0, &its, NULL);
		add_fd(p, fd);
		break;
	}
	case 5: {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		add_fd(p, signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
		break;
	}
	default: {
		struct pollfd pf[4];

		for (int i = 0; i < 4; i++)
			pf[i] = (struct pollfd){ .fd = pick_fd(p), .events = POLLIN | POLLOUT };
		(void)!poll(pf, 4, 0);
		break;
	}
	}
}

static void do_fsop(struct prog *p)
{
	char a[320], b[320];
	struct stat st;

	own_path(p, a, sizeof(a));
	own_path(p, b, sizeof(b));
	switch (rnd(p, 12)) {
	case 0:
		(void)!mkdir(a, 0755);
		break;
	case 1:
		(void)!rmdir(a);
		break;
	case 2:
		(void)!unlink(a);
		break;
	case 3:
		(void)!rename(a, b);
		break;
	case 4:
		(void)!link(a, b);
		break;
	case 5:
		(void)!symlink(a, b);
		break;
	case 6:
		(void)!(rnd(p, 2) ? stat(a, &st) : lstat(a, &st));
		break;
	case 7:
		(void)!readlink(a, p->buf, 256);
		break;
	case 8:
		(void)!truncate(a, (off_t)rsize(p));
		break;
	case 9:
		(void)!chmod(a, (mode_t)(rnd(p, 2) ? 0600 : 0755));
		break;
	case 10:
		(void)!access(a, (int)rnd(p, 8));
		break;
	default:
		(void)!utimes(a, NULL);
		break;
	}
}

static void do_fdop(struct prog *p)
{
	int fd = pick_fd(p);

	switch (rnd(p, 12)) {
	case 0:
		(void)!lseek(fd, (off_t)rsize(p), (int)rnd(p, 3));
		break;
	case 1: {
		struct stat st;

		(void)!fstat(fd, &st);
		break;
	}
	case 2:
		(void)!fcntl(fd, rnd(p, 2) ? F_GETFL : F_SETFL, O_NONBLOCK | (rnd(p, 2) ? O_APPEND : 0));
		break;
	case 3: {
		struct flock fl = { .l_type = (short)(rnd(p, 2) ? F_WRLCK : F_RDLCK),
				    .l_whence = SEEK_SET, .l_len = (off_t)rsize(p) };

		(void)!fcntl(fd, rnd(p, 2) ? F_SETLK : F_GETLK, &fl);
		break;
	}
	case 4:
		(void)!flock(fd, (rnd(p, 2) ? LOCK_EX : LOCK_SH) | LOCK_NB);
		break;
	case 5:
		add_fd(p, fcntl(fd, F_DUPFD_CLOEXEC, 0));
		break;
	case 6:
		(void)!ftruncate(fd, (off_t)rsize(p));
		break;
	case 7:
		(void)!(rnd(p, 2) ? fsync(fd) : fdatasync(fd));
		break;
	case 8:
		(void)!fallocate(fd, rnd(p, 2) ? FALLOC_FL_KEEP_SIZE : 0, 0, (off_t)rsize(p));
		break;
	case 9:
		(void)!sendfile(pick_fd(p), fd, NULL, rsize(p));
		break;
	case 10:
		(void)!splice(fd, NULL, pick_fd(p), NULL, rsize(p), SPLICE_F_NONBLOCK);
		break;
	default:
		drop_fd(p);
		break;
	}
}

static void do_io(struct prog *p)
{
	int fd = pick_fd(p);
	size_t n = rsize(p);
	struct iovec iov[2] = { { p->buf, n / 2 }, { p->buf + n / 2, n - n / 2 } };

	switch (rnd(p, 6)) {
	case 0:
	case 1:
		(void)!read(fd, p->buf, n);
		break;
	case 2:
	case 3:
		(void)!write(fd, p->buf, n);
		break;
	case 4:
		(void)!(rnd(p, 2) ? preadv(fd, iov, 2, (off_t)rnd(p, 8192))
				  : pwritev(fd, iov, 2, (off_t)rnd(p, 8192)));
		break;
	default:
		(void)!(rnd(p, 2) ? pread(fd, p->buf, n, (off_t)rnd(p, 8192))
				  : pwrite(fd, p->buf, n, (off_t)rnd(p, 8192)));
		break;
	}
}

static void do_misc(struct prog *p)
{
	switch (rnd(p, 10)) {
	case 0: {
		struct utsname u;

		(void)!uname(&u);
		break;
	}
	case 1: {
		struct sysinfo si;

		(void)!sysinfo(&si);
		break;
	}
	case 2: {
		struct rusage ru;

		(void)!getrusage(rnd(p, 2) ? RUSAGE_SELF : RUSAGE_CHILDREN, &ru);
		break;
	}
	case 3: {
		int fds[2];

		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
			add_fd(p, fds[0]);
			add_fd(p, fds[1]);
		}
		break;
	}
	case 4: {
		int sv[2];
		static const int t[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

		if (socketpair(AF_UNIX, t[rnd(p, 3)] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) {
			add_fd(p, sv[0]);
			add_fd(p, sv[1]);
		}
		break;
	}
	case 5: {
		int fd = memfd_create("kcfz", MFD_CLOEXEC | (rnd(p, 2) ? MFD_ALLOW_SEALING : 0));

		(void)!ftruncate(fd, (off_t)rsize(p));
		add_fd(p, fd);
		break;
	}
	case 6: {
		struct timespec ts = { 0, 0 };

		(void)!clock_gettime(rnd(p, 2) ? CLOCK_MONOTONIC : CLOCK_BOOTTIME, &ts);
		(void)!nanosleep(&(struct timespec){ 0, 1000 * rnd(p, 100) }, NULL);
		break;
	}
	case 7:
		(void)!getdents64(pick_fd(p), p->buf, 4096);
		break;
	case 8: {
		struct iovec iov = { p->buf, rsize(p) % 65536 };

		(void)!vmsplice(pick_fd(p), &iov, 1, SPLICE_F_NONBLOCK);
		break;
	}
	default:
		sched_yield();
		break;
	}
}

/* The heavy calls of a fuzzer's programs, whose kernel paths run long:
 * big reads of generated /proc files (kallsyms formats every symbol, and a
 * seek into it walks all before), big writes and reads on tmpfs, faulting in
 * many pages. They are what fills a trace buffer. */
static void do_heavy(struct prog *p)
{
	static const char *const gen[] = { "/proc/kallsyms", "/proc/self/smaps", "/proc/kallsyms",
					   "/proc/slabinfo", "/proc/timer_list", "/proc/kallsyms",
					   "/proc/zoneinfo", "/proc/vmstat" };
	size_t n = (size_t)65536 << rnd(p, 5); /* 64 KiB .. 1 MiB */
	int fd;

	if (n > BIG)
		n = BIG;
	switch (rnd(p, 4)) {
	case 0:
	case 1:
		fd = open(gen[rnd(p, 8)], O_RDONLY | O_CLOEXEC);
		if (rnd(p, 2))
			(void)!lseek(fd, (off_t)rnd(p, 1u << 20), SEEK_SET);
		(void)!read(fd, p->buf, n);
		if (fd >= 0)
			close(fd);
		break;
	case 2: {
		char path[320];

		own_path(p, path, sizeof(path));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		(void)!write(fd, p->buf, n);
		(void)!pread(fd, p->buf, n, 0);
		if (fd >= 0)
			close(fd);
		break;
	}
	default: {
		void *m = mmap(NULL, n, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

		if (m != MAP_FAILED)
			munmap(m, n);
		break;
	}
	}
}

/* One call of the program. */
static void one_call(struct prog *p)
{
	uint32_t r = rnd(p, 100);

	if (r < 4)
		do_heavy(p);
	else if (r < 14)
		open_something(p);
	else if (r < 34)
		do_io(p);
	else if (r < 44)
		do_fdop(p);
	else if (r < 50)
		do_socket(p);
	else if (r < 60)
		do_sockop(p);
	else if (r < 68)
		do_mem(p);
	else if (r < 74)
		do_ioctl(p);
	else if (r < 80)
		do_event(p);
	else if (r < 86)
		do_fsop(p);
	else if (r < 92)
		walk_dir(p);
	else
		do_misc(p);
}

/* Remove what a program left in its directory (outside coverage). */
static void cleanup_dir(const char *dir)
{
	static const char *const names[] = { "d0/f3", "f0", "f1", "f2", "l0" };
	char path[320];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
		rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/d0", dir);
	unlink(path);
	rmdir(path);
	rmdir(dir);
}

struct cfg {
	struct kc_session_opts s;
	uint64_t seed, programs, calls, timeout_ms;
	const char *workdir;
};

/* The child: program `index`. Exits 0 when its report was spooled. */
static void run_child(struct kc_session *s, const struct cfg *c, uint64_t index, char *buf)
{
	struct kc_err err;
	struct prog p;
	struct sigaction sa;
	uint64_t x = c->seed * 0x100000001b3ull ^ index, ncalls;
	char workload[64];

	memset(&p, 0, sizeof(p));
	p.rng = mix(&x);
	p.buf = buf;
	ncalls = c->calls / 2 + rnd(&p, (uint32_t)c->calls + 1);
	snprintf(p.dir, sizeof(p.dir), "%s/kcfz-%d", c->workdir, (int)getpid());
	if (mkdir(p.dir, 0755) < 0 && errno != EEXIST)
		_exit(3);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sa.sa_handler = on_timeout; /* no SA_RESTART: a blocking call returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL); /* blocked by main() until here */
	signal(SIGPIPE, SIG_IGN);
	/* The workload name says which program it was: seed and index. */
	snprintf(workload, sizeof(workload), "prog-%" PRIu64 "-%" PRIu64, c->seed, index);
	if (kc_session_begin(s, &err) < 0) {
		fprintf(stderr, "kcov-fuzz-executor: %s\n", err.msg);
		_exit(2);
	}
	for (uint64_t i = 0; i < ncalls && !expired; i++)
		one_call(&p);
	if (kc_session_end(s, workload, expired ? 124 : 0, &err) < 0 ||
	    kc_session_flush(s, &err) < 0) {
		fprintf(stderr, "kcov-fuzz-executor: %s\n", err.msg);
		_exit(2);
	}
	for (int i = 0; i < p.nfds; i++)
		close(p.fds[i]);
	cleanup_dir(p.dir);
	_exit(expired ? 1 : 0);
}

/* Wait for program pid: SIGUSR1 after timeout_ms, SIGKILL when it has not
 * ended max(timeout_ms, 10 s) later (it still has to collect and spool).
 * A pidfd becomes readable when the child exits. */
static int wait_program(pid_t pid, uint64_t timeout_ms, int *st)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0), sent = 0, r;

	while (fd >= 0 && sent < 2) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		r = poll(&pf, 1, (int)(sent ? (timeout_ms > 10000 ? timeout_ms : 10000) : timeout_ms));
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0)
			break;
		if (r == 0)
			kill(pid, sent++ ? SIGKILL : SIGUSR1);
	}
	if (fd >= 0)
		close(fd);
	while (waitpid(pid, st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int parse_num(const char *arg, const char *what, uint64_t min, uint64_t max, uint64_t *v)
{
	struct kc_err err;

	if (kc_parse_u64(arg, what, min, max, v, &err) < 0) {
		fprintf(stderr, "kcov-fuzz-executor: %s\n", err.msg);
		return -1;
	}
	return 0;
}

enum { O_SPOOL = 256, O_MACHINE, O_SEED, O_PROGRAMS, O_MODE, O_WORDS, O_BITMAP, O_LABEL,
       O_CALLS, O_TIMEOUT, O_WORKDIR, O_LINK, O_DEVICE, O_SYSROOT };

static const struct option options[] = {
	{ "spool", required_argument, NULL, O_SPOOL },
	{ "machine", required_argument, NULL, O_MACHINE },
	{ "seed", required_argument, NULL, O_SEED },
	{ "programs", required_argument, NULL, O_PROGRAMS },
	{ "mode", required_argument, NULL, O_MODE },
	{ "words", required_argument, NULL, O_WORDS },
	{ "bitmap-words", required_argument, NULL, O_BITMAP },
	{ "label", required_argument, NULL, O_LABEL },
	{ "calls", required_argument, NULL, O_CALLS },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "workdir", required_argument, NULL, O_WORKDIR },
	{ "link-text", required_argument, NULL, O_LINK },
	{ "device", required_argument, NULL, O_DEVICE },
	{ "sysroot", required_argument, NULL, O_SYSROOT },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(int argc, char **argv, struct cfg *c)
{
	int o, bad = 0;

	memset(c, 0, sizeof(*c));
	c->s.mode = KC_PREFER_UNIQUE;
	c->calls = 16;
	c->timeout_ms = 20000;
	c->workdir = "/tmp";
	c->programs = UINT64_MAX;
	while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (o) {
		case O_SPOOL: c->s.spool_dir = optarg; break;
		case O_MACHINE: c->s.machine = optarg; break;
		case O_LABEL: c->s.label = optarg; break;
		case O_WORKDIR: c->workdir = optarg; break;
		case O_DEVICE: c->s.device = optarg; break;
		case O_SYSROOT: c->s.sysroot = optarg; break;
		case O_SEED: bad |= parse_num(optarg, "--seed", 0, UINT64_MAX, &c->seed); break;
		case O_PROGRAMS: bad |= parse_num(optarg, "--programs", 1, 1000000, &c->programs); break;
		case O_CALLS: bad |= parse_num(optarg, "--calls", 1, 1000, &c->calls); break;
		case O_TIMEOUT: bad |= parse_num(optarg, "--timeout-ms", 1, 600000, &c->timeout_ms); break;
		case O_WORDS: bad |= parse_num(optarg, "--words", 2, 1u << 26, &c->s.words); break;
		case O_BITMAP:
			bad |= parse_num(optarg, "--bitmap-words", 1, 1u << 18, &c->s.bitmap_words);
			break;
		case O_LINK: bad |= parse_num(optarg, "--link-text", 1, UINT64_MAX, &c->s.link_text); break;
		case O_MODE:
			if (strcmp(optarg, "unique") == 0)
				c->s.mode = KC_PREFER_UNIQUE;
			else if (strcmp(optarg, "trace") == 0)
				c->s.mode = KC_PREFER_TRACE;
			else
				bad = -1;
			break;
		default: bad = -1; break;
		}
	}
	if (bad || optind != argc || !c->s.spool_dir || !c->s.machine ||
	    c->programs == UINT64_MAX) {
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct kc_err err;
	struct kc_session *s;
	struct cfg c;
	uint64_t done = 0, timed_out = 0, failed = 0;
	sigset_t block;
	char *buf;
	int rc = 1;

	if (parse_args(argc, argv, &c) < 0)
		return 2;
	buf = malloc(BIG);
	s = kc_session_open(&c.s, &err);
	if (!buf || !s) {
		fprintf(stderr, "kcov-fuzz-executor: %s\n", s ? "out of memory" : err.msg);
		goto out;
	}
	memset(buf, 'k', BIG);
	/* A timeout signal that comes before the child's handler waits. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	for (uint64_t i = 0; i < c.programs; i++) {
		int st;
		pid_t pid = fork();

		if (pid < 0) {
			perror("kcov-fuzz-executor: fork");
			goto out;
		}
		if (pid == 0)
			run_child(s, &c, i, buf);
		if (wait_program(pid, c.timeout_ms, &st) < 0) {
			perror("kcov-fuzz-executor: waiting for a program");
			goto out;
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) <= 1) {
			done++;
			timed_out += WEXITSTATUS(st) == 1;
		} else {
			failed++;
			fprintf(stderr, "kcov-fuzz-executor: %s: program %" PRIu64 " ended with status %#x\n",
				c.s.machine, i, st);
		}
	}
	rc = failed ? 1 : 0;
out:
	printf("executor %s mode=%s seed=%" PRIu64 " programs=%" PRIu64 " reported=%" PRIu64
	       " timed_out=%" PRIu64 " failed=%" PRIu64 "\n",
	       c.s.machine, s ? kc_mode_name(kc_session_mode(s)) : "none", c.seed, c.programs, done,
	       timed_out, failed);
	kc_session_close(s);
	free(buf);
	return rc;
}
