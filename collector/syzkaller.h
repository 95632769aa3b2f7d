/*
 * syzkaller.h - the syzkaller bridge: turns what a running syz-manager
 * shows on its HTTP interface into ordinary spooled reports.
 *
 * One poll (kc_syz_poll) GETs, from the manager at opts.manager:
 *   /rawcover         corpus coverage, one "0x%x\n" PC per line, PCs moved
 *                     back to the call instruction (syzkaller
 *                     backend.PreviousInstructionPC): the bridge adds
 *                     opts.pc_adjust to get kcov's convention (call + 5)
 *   /modules?raw=1    the canonical module layout (vminfo.KernelModule
 *                     JSON: Name, Addr = .text, Size, Path)
 *   /metrics          Prometheus text: syz_exec_total (programs executed)
 *                     and process_start_time_seconds (manager restarts)
 *   /syscalls         HTML table with the per-syscall "Cover overflows"
 * Every answer is bounded in size and parsed strictly; when any of them is
 * unreachable or malformed the poll fails with a message naming the URL
 * (and line) and nothing is spooled or remembered.
 *
 * Otherwise it spools one report with the PCs not sent before, plus the
 * programs executed since the last poll as runs (one run per program, the
 * overflowed ones flagged with their syscall as workload; see
 * docs/collector.md "syzkaller bridge"), and the boot's address map built
 * from the vmlinux ELF and the module list. The PCs sent and the last
 * counters are kept in SPOOL/syzkaller.NAME.state (atomic rewrite), so a
 * restarted bridge does not send them again.
 *
 * Ownership: kc_syz_open returns a handle the caller frees with
 * kc_syz_close; the options' strings are borrowed and must outlive it.
 */
#ifndef KC_SYZKALLER_H
#define KC_SYZKALLER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

struct kc_syz_opts {
	const char *manager;     /* syz-manager base URL, http(s)://HOST:PORT */
	const char *name;        /* instance: machine NAME, label syzkaller/NAME */
	const char *vmlinux;     /* the kernel the manager fuzzes (build id, _text, _etext) */
	const char *modules_dir; /* NAME.ko files for module build ids; NULL: unknown */
	const char *spool_dir;
	unsigned pc_adjust;      /* bytes from call instruction to kcov PC (amd64: 5) */
	uint64_t cover_words;    /* executor coverage buffer in words (kCoverSize) */
	long timeout_s;          /* per HTTP request */
};

/* What one poll did. */
struct kc_syz_result {
	uint64_t manager_pcs; /* PCs on /rawcover now */
	uint64_t new_pcs;     /* of those, not sent before: in the spooled report */
	uint64_t runs;        /* programs executed since the last poll */
	uint64_t overflowed;  /* of those, flagged overflowed */
	unsigned reports;     /* reports spooled */
	int restarted;        /* the manager restarted since the last poll */
	int new_map;          /* a new address map (boot) was spooled */
};

struct kc_syz;

/* Validate opts, read the vmlinux and the state file. NULL on error. */
struct kc_syz *kc_syz_open(const struct kc_syz_opts *opts, struct kc_err *err);

/* One poll, as described above. */
int kc_syz_poll(struct kc_syz *z, struct kc_syz_result *res, struct kc_err *err) KC_MUST_CHECK;

void kc_syz_close(struct kc_syz *z);

/* ---- the parsers of the manager's answers (used by kc_syz_poll; exposed
 * for the unit tests). Each reads exactly len bytes of p (no terminator
 * needed), accepts only what syzkaller's code prints, and on error fills
 * err with a message naming the page and line or row, leaving its outputs
 * untouched. */

struct kc_syz_counter {
	char name[KC_NAME_MAX + 1]; /* syscall name as syzkaller spells it */
	uint64_t n;
};

/* What the manager's counters showed. */
struct kc_syz_counters {
	uint64_t execs;                /* syz_exec_total */
	double start_time;             /* process_start_time_seconds, 0 when not shown */
	struct kc_syz_counter *ovf;    /* per-syscall "Cover overflows", sorted by name; owned */
	size_t novf;
};

/* /rawcover: "0x%x\n" lines; each PC + adjust into a new array *pcs
 * (caller frees), in the order given. */
int kc_syz_parse_rawcover(const char *p, size_t len, unsigned adjust, uint64_t **pcs, size_t *n,
			  struct kc_err *err) KC_MUST_CHECK;

/* /modules?raw=1: the modules other than the core kernel ("") into a new
 * array *mods (caller frees; core_base = text_addr = Addr, core_size =
 * Size), build ids from modules_dir/NAME.ko when modules_dir is given. */
int kc_syz_parse_modules(const char *p, size_t len, const char *modules_dir,
			 struct kc_module **mods, uint32_t *n, struct kc_err *err) KC_MUST_CHECK;

/* /metrics: sets c->execs and c->start_time. */
int kc_syz_parse_metrics(const char *p, size_t len, struct kc_syz_counters *c,
			 struct kc_err *err) KC_MUST_CHECK;

/* /syscalls: sets c->ovf (owned by c, free(c->ovf)) and c->novf. */
int kc_syz_parse_syscalls(const char *p, size_t len, struct kc_syz_counters *c,
			  struct kc_err *err) KC_MUST_CHECK;

#endif
