/*
 * main.c - the kcov-collect command line: `run` (collect coverage of a
 * command into the spool, optionally pushing at once), `push` (deliver the
 * spool, once or as a daemon with --watch), `addrmap` (show the boot's
 * address map as the server will see it) and `syzkaller` (bridge a running
 * syz-manager's coverage and overflow counters, collector/syzkaller.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addrmap.h"
#include "fileio.h"
#include "parse.h"
#include "push.h"
#include "session.h"
#include "syzkaller.h"

#define EXIT_COLLECTOR 125

static const char usage[] =
	"usage: kcov-collect run [options] -- CMD [ARGS...]\n"
	"       kcov-collect push --spool DIR --server URL [--token T|--token-file F] [--watch]\n"
	"       kcov-collect addrmap [--sysroot DIR] [--machine NAME]\n"
	"       kcov-collect show FILE   (print a spooled report: runs and PCs)\n"
	"       kcov-collect syzkaller --manager URL --vmlinux PATH [options]  (see --help)\n"
	"\n"
	"run options:\n"
	"  --spool DIR          spool directory (default /var/spool/kcov-collect)\n"
	"  --label NAME         suite or fuzzer name recorded with the coverage\n"
	"  --workload NAME      workload name of the run (default: CMD)\n"
	"  --machine NAME       machine name (default: hostname)\n"
	"  --device PATH        kcov device (default /sys/kernel/debug/kcov)\n"
	"  --sysroot DIR        read /proc and /sys under DIR (default /)\n"
	"  --mode auto|unique|trace   (default auto: unique when the kernel has it)\n"
	"  --words N            kcov buffer size in 8-byte words (default 524288)\n"
	"  --bitmap-words N     unique-mode bitmap words (default 32768 = 2^21 guards)\n"
	"  --keep-bitmap        later runs report only PCs not seen earlier\n"
	"  --repeat N           run CMD N times, one report per run\n"
	"  --remote-handle H    also collect remote coverage with common handle H\n"
	"  --link-text ADDR     link-time _text (default 0xffffffff81000000)\n"
	"  --server URL         push right after the run (report stays spooled on failure)\n"
	"push options (also for run --server):\n"
	"  --cacert FILE        trust this PEM CA for an https:// server (default: the\n"
	"                       system's CAs; the certificate is always checked)\n"
	"  --cert FILE, --key FILE  PEM client certificate and key (kcovd --tls-client-ca)\n"
	"  --max-attempts N     tries per report before giving up (default 5; --watch: forever)\n"
	"  --backoff SEC        first retry delay ceiling (default 0.5)\n"
	"  --interval SEC       --watch: seconds between spool scans (default 5)\n";

struct cli {
	struct kc_session_opts s;
	struct kc_push_opts p;
	const char *workload;
	const char *token_file;
	unsigned repeat;
	int watch;
	double interval;
};

enum {
	OPT_SPOOL = 256, OPT_LABEL, OPT_WORKLOAD, OPT_MACHINE, OPT_DEVICE, OPT_SYSROOT, OPT_MODE,
	OPT_WORDS, OPT_BITMAP, OPT_KEEP, OPT_REPEAT, OPT_REMOTE, OPT_LINK, OPT_SERVER, OPT_TOKEN,
	OPT_TOKEN_FILE, OPT_WATCH, OPT_ATTEMPTS, OPT_BACKOFF, OPT_INTERVAL, OPT_CACERT, OPT_CERT,
	OPT_KEY, OPT_HELP,
};

static const struct option options[] = {
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "workload", required_argument, NULL, OPT_WORKLOAD },
	{ "machine", required_argument, NULL, OPT_MACHINE },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "sysroot", required_argument, NULL, OPT_SYSROOT },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "words", required_argument, NULL, OPT_WORDS },
	{ "bitmap-words", required_argument, NULL, OPT_BITMAP },
	{ "keep-bitmap", no_argument, NULL, OPT_KEEP },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "remote-handle", required_argument, NULL, OPT_REMOTE },
	{ "link-text", required_argument, NULL, OPT_LINK },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ "max-attempts", required_argument, NULL, OPT_ATTEMPTS },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* An integer flag in [min, max] (decimal, or hex with 0x). */
static int parse_u64(const char *s, uint64_t *v, const char *what, uint64_t min, uint64_t max)
{
	struct kc_err err;

	if (kc_parse_u64(s, what, min, max, v, &err) < 0) {
		fprintf(stderr, "kcov-collect: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int parse_seconds(const char *s, double *v, const char *what)
{
	char *end;

	*v = strtod(s, &end);
	if (end == s || *end || *v < 0 || *v > 86400) {
		fprintf(stderr, "kcov-collect: %s: '%s' is not a duration in seconds\n", what, s);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (opt) {
		case OPT_SPOOL: c->s.spool_dir = optarg; break;
		case OPT_LABEL: c->s.label = optarg; break;
		case OPT_WORKLOAD: c->workload = optarg; break;
		case OPT_MACHINE: c->s.machine = optarg; break;
		case OPT_DEVICE: c->s.device = optarg; break;
		case OPT_SYSROOT: c->s.sysroot = optarg; break;
		case OPT_KEEP: c->s.keep_bitmap = 1; break;
		case OPT_SERVER: c->p.server = optarg; break;
		case OPT_TOKEN: c->p.token = optarg; break;
		case OPT_TOKEN_FILE: c->token_file = optarg; break;
		case OPT_CACERT: c->p.cacert = optarg; break;
		case OPT_CERT: c->p.cert = optarg; break;
		case OPT_KEY: c->p.key = optarg; break;
		case OPT_WATCH: c->watch = 1; break;
		case OPT_MODE:
			if (strcmp(optarg, "auto") == 0)
				c->s.mode = KC_PREFER_AUTO;
			else if (strcmp(optarg, "unique") == 0)
				c->s.mode = KC_PREFER_UNIQUE;
			else if (strcmp(optarg, "trace") == 0)
				c->s.mode = KC_PREFER_TRACE;
			else {
				fprintf(stderr, "kcov-collect: --mode must be auto, unique or trace\n");
				return -1;
			}
			break;
		case OPT_WORDS:
			if (parse_u64(optarg, &c->s.words, "--words", 1, UINT32_MAX) < 0)
				return -1;
			break;
		case OPT_BITMAP:
			if (parse_u64(optarg, &c->s.bitmap_words, "--bitmap-words", 1, UINT32_MAX) < 0)
				return -1;
			break;
		case OPT_LINK:
			if (parse_u64(optarg, &c->s.link_text, "--link-text", 0, UINT64_MAX) < 0)
				return -1;
			break;
		case OPT_REPEAT:
			if (parse_u64(optarg, &v, "--repeat", 1, 1000000) < 0)
				return -1;
			c->repeat = (unsigned)v;
			break;
		case OPT_REMOTE:
			if (parse_u64(optarg, &v, "--remote-handle", 1, UINT32_MAX) < 0)
				return -1;
			c->s.remote_handle = (uint32_t)v;
			break;
		case OPT_ATTEMPTS:
			if (parse_u64(optarg, &v, "--max-attempts", 1, 1000000) < 0)
				return -1;
			c->p.max_attempts = (int)v;
			break;
		case OPT_BACKOFF:
			if (parse_seconds(optarg, &c->p.backoff_base, "--backoff") < 0)
				return -1;
			break;
		case OPT_INTERVAL:
			if (parse_seconds(optarg, &c->interval, "--interval") < 0)
				return -1;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	return 0;
}

/* Load the bearer token from --token, --token-file or $KCOV_TOKEN. */
static int load_token(struct cli *c, struct kc_buf *holder, struct kc_err *err)
{
	if (c->token_file) {
		if (kc_read_file(c->token_file, 4096, holder, err) < 0)
			return -1;
		while (holder->len && (holder->data[holder->len - 1] == '\n' ||
				       holder->data[holder->len - 1] == '\r'))
			holder->data[--holder->len] = '\0';
		c->p.token = (char *)holder->data;
	} else if (!c->p.token) {
		c->p.token = getenv("KCOV_TOKEN");
	}
	return 0;
}

/* What a push delivered, one line on stderr (docs/collector.md). */
static void print_push(const struct kc_push_opts *o, const struct kc_push_stats *st)
{
	fprintf(stderr,
		"kcov-collect: delivered %u report(s) (%u duplicate), %llu PCs, %llu bytes to %s; "
		"%u rejected, %u map(s) sent, %u retries (%u rate limited), %u sent as wire v2, "
		"%u still spooled\n",
		st->delivered, st->duplicates, st->pcs, st->bytes, o->server, st->rejected,
		st->maps_sent, st->retries, st->rate_limited, st->v2, st->pending);
}

static int cmd_push(struct cli *c, struct kc_err *err)
{
	struct kc_spool spool;
	struct kc_push_stats st = { 0 };

	if (!c->p.server)
		return kc_err_set(err, KC_E_BAD_INPUT, "push needs --server URL");
	if (kc_spool_open(&spool, c->s.spool_dir, err) < 0 || kc_push_global_init(err) < 0)
		return -1;
	if (!c->watch) {
		int r = kc_push_spool(&spool, &c->p, &st, err);

		print_push(&c->p, &st);
		/* Delivered is what a caller checks the exit status for: a report
		 * the server refused as malformed was not delivered. */
		if (r == 0 && st.rejected)
			r = kc_err_set(err, KC_E_BAD_INPUT, "%u report(s) refused by the server, kept in %s/rejected/",
				       st.rejected, c->s.spool_dir);
		return r;
	}
	c->p.max_attempts = 1; /* --watch retries forever, one attempt per scan */
	for (;;) {
		struct kc_push_stats round = { 0 };
		struct timespec ts;

		if (kc_push_spool(&spool, &c->p, &round, err) < 0)
			fprintf(stderr, "kcov-collect: %s (will retry)\n", err->msg);
		if (round.delivered || round.rejected)
			print_push(&c->p, &round);
		ts.tv_sec = (time_t)c->interval;
		ts.tv_nsec = (long)((c->interval - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static int cmd_run(struct cli *c, char **argv, int *exit_code, struct kc_err *err)
{
	struct kc_session *s;
	int wstatus = 0, ret = -1;

	s = kc_session_open(&c->s, err);
	if (!s)
		return -1;
	fprintf(stderr, "kcov-collect: coverage mode: %s\n", kc_mode_name(kc_session_mode(s)));
	for (unsigned i = 0; i < c->repeat; i++) {
		const struct kc_report *r = kc_session_pending(s);

		if (kc_session_run_cmd(s, argv, c->workload, &wstatus, err) < 0)
			goto out;
		fprintf(stderr, "kcov-collect: run %u: %" PRIu64 " unique PCs, %" PRIu64 "/%" PRIu64
			" trace words%s\n", i + 1, r->runs[0].npcs, r->runs[0].used_words,
			r->runs[0].capacity_words, r->runs[0].overflowed ? ", OVERFLOWED" : "");
		if (kc_session_flush(s, err) < 0)
			goto out;
	}
	*exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	ret = 0;
	if (c->p.server) {
		struct kc_err perr;

		if (cmd_push(c, &perr) < 0)
			fprintf(stderr, "kcov-collect: push failed, report stays spooled: %s\n",
				perr.msg);
	}
out:
	kc_session_close(s);
	return ret;
}

static int cmd_addrmap(struct cli *c, struct kc_err *err)
{
	struct kc_addrmap m;
	char host[KC_NAME_MAX + 1] = "unknown", warn[4096];

	if (!c->s.machine && gethostname(host, sizeof(host) - 1) == 0)
		c->s.machine = host;
	if (kc_addrmap_capture(c->s.sysroot ? c->s.sysroot : "/", c->s.machine ? c->s.machine : host,
			       c->s.link_text ? c->s.link_text : KC_DEFAULT_LINK_TEXT, &m, err) < 0)
		return -1;
	printf("machine %s\nboot_id %s\nrelease %s\nbuild_id %s\ntext 0x%016" PRIx64
	       "-0x%016" PRIx64 "\nlink_text 0x%016" PRIx64 "\n",
	       m.machine, m.boot_id, m.release, m.build_id, m.text_start, m.text_end, m.link_text);
	for (uint32_t i = 0; i < m.nmodules; i++)
		printf("module %s base 0x%016" PRIx64 " size %" PRIu64 " text 0x%016" PRIx64
		       " build_id %s\n",
		       m.modules[i].name, m.modules[i].core_base, m.modules[i].core_size,
		       m.modules[i].text_addr, m.modules[i].build_id[0] ? m.modules[i].build_id : "-");
	if (kc_addrmap_warnings(&m, warn, sizeof(warn)))
		fprintf(stderr, "kcov-collect: warning: %s", warn);
	kc_addrmap_release(&m);
	return 0;
}

struct show_ctx {
	uint64_t base;
};

static bool show_pc(uint32_t v, void *arg)
{
	printf("pc 0x%016" PRIx64 "\n", ((struct show_ctx *)arg)->base + v);
	return true;
}

static int cmd_show(const char *path, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	struct kc_report r;
	char uid[2 * KC_UPLOAD_ID_LEN + 1];
	int ret = -1;

	if (kc_read_file(path, KC_WIRE_MAX_BODY, &b, err) < 0 ||
	    kc_wire_decode_report(b.data, b.len, &r, err) < 0)
		goto out;
	kc_upload_id_hex(r.upload_id, uid);
	printf("machine %s\nboot_id %s\nlabel %s\nrelease %s\nupload_id %s\ncreated %" PRIu64
	       "\nnpcs %" PRIu64 "\n", r.machine, r.boot_id, r.label, r.release, uid,
	       r.created_unix, kc_report_npcs(&r));
	for (uint32_t i = 0; i < r.nruns; i++) {
		const struct kc_run *run = &r.runs[i];

		printf("run workload=%s mode=%s capacity=%" PRIu64 " used=%" PRIu64
		       " bitmap_words=%" PRIu64 " overflowed=%u remote_capacity=%" PRIu64
		       " remote_used=%" PRIu64 " remote_overflowed=%u duration_us=%" PRIu64
		       " exit_status=%d npcs=%" PRIu64 "\n",
		       run->workload[0] ? run->workload : "-", kc_mode_name(run->mode),
		       run->capacity_words, run->used_words, run->bitmap_words, run->overflowed,
		       run->remote_capacity_words, run->remote_used_words, run->remote_overflowed,
		       run->duration_us, run->exit_status, run->npcs);
	}
	for (uint32_t i = 0; i < r.nregions; i++) {
		struct show_ctx ctx = { r.regions[i].base };

		roaring_iterate(r.regions[i].bits, show_pc, &ctx);
	}
	kc_report_release(&r);
	ret = 0;
out:
	kc_buf_release(&b);
	return ret;
}

static const char syz_usage[] =
	"usage: kcov-collect syzkaller --manager URL --vmlinux PATH [options]\n"
	"\n"
	"Polls a running syz-manager's HTTP interface (/rawcover, /modules, /metrics,\n"
	"/syscalls) and spools what is new as ordinary reports (machine NAME, label\n"
	"syzkaller/NAME): corpus PCs not sent before, and one run per program executed\n"
	"since the last poll, flagged overflowed per 'Cover overflows' event (workload =\n"
	"syscall). Assumes a kernel without KASLR (PCs at link-time addresses, as on\n"
	"syzbot) and the vmlinux the manager fuzzes. See docs/collector.md.\n"
	"\n"
	"  --manager URL        syz-manager http address, e.g. http://127.0.0.1:56741 (required)\n"
	"  --vmlinux PATH       the fuzzed kernel's unstripped vmlinux: build id, _text,\n"
	"                       _etext (required)\n"
	"  --name NAME          instance name: machine NAME, label syzkaller/NAME (default syzkaller)\n"
	"  --modules DIR        NAME.ko files of the manager's modules, for their build ids\n"
	"                       (default: module build ids unknown)\n"
	"  --spool DIR          spool and state directory (default /var/spool/kcov-collect)\n"
	"  --server URL         kcovd to push to after every poll (default: only spool)\n"
	"  --token T            push token (default $KCOV_TOKEN)\n"
	"  --token-file F       read the push token from F\n"
	"  --once               poll once, push, exit: 0 when the poll and the push succeeded\n"
	"  --interval SEC       seconds between polls, at least 1 (default 60)\n"
	"  --arch ARCH          amd64 (default), 386, arm64, arm, ppc64le, mips64le, s390x,\n"
	"                       riscv64, loong64: /rawcover PCs + call length = kcov PCs\n"
	"  --cover-words N      executor coverage buffer in words (default 524288, kCoverSize)\n"
	"  --timeout SEC        per HTTP request to the manager (default 120)\n"
	"  --max-attempts N     push tries per report (default 5)\n"
	"  --backoff SEC        first push retry delay ceiling (default 0.5)\n"
	"  --cacert FILE, --cert FILE, --key FILE  HTTPS, as for push\n"
	"  --help               this text\n";

/* syzkaller pkg/cover/backend/pc.go instructionLen. */
static int arch_pc_adjust(const char *arch, unsigned *adj)
{
	static const struct { const char *name; unsigned len; } t[] = {
		{ "amd64", 5 }, { "386", 5 }, { "arm64", 4 }, { "arm", 4 }, { "ppc64le", 4 },
		{ "mips64le", 8 }, { "s390x", 6 }, { "riscv64", 4 }, { "loong64", 4 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(arch, t[i].name) == 0) {
			*adj = t[i].len;
			return 0;
		}
	return -1;
}

static void sleep_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Returns the exit status: 0, 2 (usage) or EXIT_COLLECTOR. */
static int cmd_syzkaller(int argc, char **argv)
{
	enum { S_MANAGER = 256, S_NAME, S_VMLINUX, S_MODULES, S_SPOOL, S_SERVER, S_TOKEN,
	       S_TOKEN_FILE, S_ONCE, S_INTERVAL, S_ARCH, S_WORDS, S_TIMEOUT, S_ATTEMPTS,
	       S_BACKOFF, S_CACERT, S_CERT, S_KEY, S_HELP };
	static const struct option so[] = {
		{ "manager", required_argument, NULL, S_MANAGER },
		{ "name", required_argument, NULL, S_NAME },
		{ "vmlinux", required_argument, NULL, S_VMLINUX },
		{ "modules", required_argument, NULL, S_MODULES },
		{ "spool", required_argument, NULL, S_SPOOL },
		{ "server", required_argument, NULL, S_SERVER },
		{ "token", required_argument, NULL, S_TOKEN },
		{ "token-file", required_argument, NULL, S_TOKEN_FILE },
		{ "once", no_argument, NULL, S_ONCE },
		{ "interval", required_argument, NULL, S_INTERVAL },
		{ "arch", required_argument, NULL, S_ARCH },
		{ "cover-words", required_argument, NULL, S_WORDS },
		{ "timeout", required_argument, NULL, S_TIMEOUT },
		{ "max-attempts", required_argument, NULL, S_ATTEMPTS },
		{ "backoff", required_argument, NULL, S_BACKOFF },
		{ "cacert", required_argument, NULL, S_CACERT },
		{ "cert", required_argument, NULL, S_CERT },
		{ "key", required_argument, NULL, S_KEY },
		{ "help", no_argument, NULL, S_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct kc_syz_opts o = { NULL, "syzkaller", NULL, NULL, "/var/spool/kcov-collect", 5,
				 524288, 120 };
	struct cli c;
	struct kc_buf token = KC_BUF_INIT;
	struct kc_syz *z = NULL;
	struct kc_err err;
	double interval = 60, secs;
	uint64_t v;
	int once = 0, opt, status = EXIT_COLLECTOR;

	memset(&c, 0, sizeof(c));
	kc_err_clear(&err);
	c.p.max_attempts = 5;
	c.p.backoff_base = 0.5;
	c.p.backoff_max = 60;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+", so, NULL)) != -1) {
		switch (opt) {
		case S_MANAGER: o.manager = optarg; break;
		case S_NAME: o.name = optarg; break;
		case S_VMLINUX: o.vmlinux = optarg; break;
		case S_MODULES: o.modules_dir = optarg; break;
		case S_SPOOL: o.spool_dir = optarg; break;
		case S_SERVER: c.p.server = optarg; break;
		case S_TOKEN: c.p.token = optarg; break;
		case S_TOKEN_FILE: c.token_file = optarg; break;
		case S_CACERT: c.p.cacert = optarg; break;
		case S_CERT: c.p.cert = optarg; break;
		case S_KEY: c.p.key = optarg; break;
		case S_ONCE: once = 1; break;
		case S_INTERVAL:
			if (parse_seconds(optarg, &interval, "--interval") < 0)
				return 2;
			break;
		case S_ARCH:
			if (arch_pc_adjust(optarg, &o.pc_adjust) < 0) {
				fprintf(stderr, "kcov-collect: --arch: unknown architecture '%s'\n", optarg);
				return 2;
			}
			break;
		case S_WORDS:
			if (parse_u64(optarg, &v, "--cover-words", 2, 1ull << 32) < 0)
				return 2;
			o.cover_words = v;
			break;
		case S_TIMEOUT:
			if (parse_seconds(optarg, &secs, "--timeout") < 0 || secs < 1)
				return 2;
			o.timeout_s = (long)secs;
			break;
		case S_ATTEMPTS:
			if (parse_u64(optarg, &v, "--max-attempts", 1, 1000000) < 0)
				return 2;
			c.p.max_attempts = (int)v;
			break;
		case S_BACKOFF:
			if (parse_seconds(optarg, &c.p.backoff_base, "--backoff") < 0)
				return 2;
			break;
		case S_HELP:
			fputs(syz_usage, stdout);
			return 0;
		default:
			fputs(syz_usage, stderr);
			return 2;
		}
	}
	if (optind < argc || !o.manager || !o.vmlinux) {
		fprintf(stderr, "kcov-collect: syzkaller needs --manager URL and --vmlinux PATH\n%s",
			syz_usage);
		return 2;
	}
	if (!once && interval < 1) {
		fprintf(stderr, "kcov-collect: --interval must be at least 1 second\n");
		return 2;
	}
	if (load_token(&c, &token, &err) < 0 || kc_push_global_init(&err) < 0 ||
	    !(z = kc_syz_open(&o, &err))) {
		fprintf(stderr, "kcov-collect: syzkaller: %s\n", err.msg);
		goto out;
	}
	for (;;) {
		struct kc_syz_result r;
		int ok = 1;

		if (kc_syz_poll(z, &r, &err) < 0) {
			fprintf(stderr, "kcov-collect: syzkaller: %s%s\n", err.msg,
				once ? "" : " (will retry)");
			ok = 0;
		} else {
			fprintf(stderr,
				"kcov-collect: syzkaller: %" PRIu64 " PCs on the manager, %" PRIu64
				" new; %" PRIu64 " programs, %" PRIu64 " overflowed; %u report(s)"
				" spooled%s%s\n", r.manager_pcs, r.new_pcs, r.runs, r.overflowed,
				r.reports, r.restarted ? "; manager restarted" : "",
				r.new_map ? "; new address map" : "");
		}
		if (c.p.server) {
			struct kc_spool spool;
			struct kc_push_stats st = { 0 };

			if (kc_spool_open(&spool, o.spool_dir, &err) < 0 ||
			    kc_push_spool(&spool, &c.p, &st, &err) < 0) {
				fprintf(stderr, "kcov-collect: push failed, reports stay spooled: %s\n",
					err.msg);
				ok = 0;
			} else if (st.rejected) {
				fprintf(stderr, "kcov-collect: %u report(s) refused by the server, kept "
					"in %s/rejected/\n", st.rejected, o.spool_dir);
				ok = 0;
			}
			if (st.delivered || st.rejected)
				print_push(&c.p, &st);
		}
		if (once) {
			status = ok ? 0 : EXIT_COLLECTOR;
			break;
		}
		sleep_seconds(interval);
	}
out:
	kc_syz_close(z);
	kc_buf_release(&token);
	return status;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct kc_err err;
	struct kc_buf token = KC_BUF_INIT;
	const char *cmd;
	int code = 0, ret;

	memset(&c, 0, sizeof(c));
	kc_err_clear(&err);
	c.s.spool_dir = "/var/spool/kcov-collect";
	c.p.max_attempts = 5;
	c.p.backoff_base = 0.5;
	c.p.backoff_max = 60;
	c.interval = 5;
	c.repeat = 1;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "syzkaller") == 0)
		return cmd_syzkaller(argc, argv);
	optind = 2;
	if (parse_args(argc, argv, &c) < 0)
		return 2;
	if (load_token(&c, &token, &err) < 0) {
		ret = -1;
	} else if (strcmp(cmd, "run") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "kcov-collect: run needs a command after --\n");
			return 2;
		}
		ret = cmd_run(&c, argv + optind, &code, &err);
	} else if (strcmp(cmd, "push") == 0) {
		ret = cmd_push(&c, &err);
	} else if (strcmp(cmd, "addrmap") == 0) {
		ret = cmd_addrmap(&c, &err);
	} else if (strcmp(cmd, "show") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "kcov-collect: show needs a report file\n");
			return 2;
		}
		ret = cmd_show(argv[optind], &err);
	} else {
		fprintf(stderr, "kcov-collect: unknown command '%s'\n%s", cmd, usage);
		return 2;
	}
	kc_buf_release(&token);
	if (ret < 0) {
		fprintf(stderr, "kcov-collect: %s\n", err.msg);
		return EXIT_COLLECTOR;
	}
	return code;
}
