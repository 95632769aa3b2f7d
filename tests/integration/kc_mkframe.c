/*
 * kc_mkframe.c - test helper: write a wire v1 frame (common/wire.h) made
 * from command-line values, so integration tests can push an address map
 * and reports whose PCs they chose exactly (test_coverage.py).
 *
 *   kc-mkframe addrmap OUT MACHINE BOOT_ID BUILD_ID TEXT_START TEXT_END LINK_TEXT
 *                      [MODULE NAME BUILD_ID CORE_BASE CORE_SIZE TEXT_ADDR]...
 *   kc-mkframe report OUT MACHINE BOOT_ID LABEL UPLOAD_SEED PC...
 *
 * Numbers take any strtoull base prefix (0x...). UPLOAD_SEED fills the
 * 16-byte upload id, so distinct seeds make distinct reports. The address
 * map's release is $KC_RELEASE, else 6.1.0-test. A report is taken now,
 * or at $KC_CREATED (unix seconds), which decides its day on the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fileio.h"
#include "wire.h"

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static int addrmap(int argc, char **argv, struct kc_buf *out, struct kc_err *err)
{
	struct kc_addrmap m;
	int ret = -1;

	kc_addrmap_init(&m);
	if (argc < 9 || (argc - 9) % 6 != 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "addrmap: wrong number of arguments");
		goto out;
	}
	snprintf(m.machine, sizeof(m.machine), "%s", argv[3]);
	snprintf(m.boot_id, sizeof(m.boot_id), "%s", argv[4]);
	snprintf(m.build_id, sizeof(m.build_id), "%s", argv[5]);
	snprintf(m.release, sizeof(m.release), "%s",
		 getenv("KC_RELEASE") ? getenv("KC_RELEASE") : "6.1.0-test");
	m.text_start = num(argv[6]);
	m.text_end = num(argv[7]);
	m.link_text = num(argv[8]);
	m.nmodules = (uint32_t)((argc - 9) / 6);
	m.modules = calloc(m.nmodules + 1, sizeof(*m.modules));
	if (!m.modules) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < m.nmodules; i++) {
		char **a = argv + 9 + i * 6;
		struct kc_module *mod = &m.modules[i];

		snprintf(mod->name, sizeof(mod->name), "%s", a[1]);
		snprintf(mod->build_id, sizeof(mod->build_id), "%s", strcmp(a[2], "-") ? a[2] : "");
		mod->core_base = num(a[3]);
		mod->core_size = num(a[4]);
		mod->text_addr = num(a[5]);
	}
	ret = kc_wire_encode_addrmap(&m, out, err);
out:
	kc_addrmap_release(&m);
	return ret;
}

static int report(int argc, char **argv, struct kc_buf *out, struct kc_err *err)
{
	struct kc_report r;
	struct kc_run run;
	uint64_t *pcs = NULL, seed;
	size_t n;
	int ret = -1;

	kc_report_init(&r);
	if (argc < 8) {
		kc_err_set(err, KC_E_BAD_INPUT, "report: wrong number of arguments");
		goto out;
	}
	snprintf(r.machine, sizeof(r.machine), "%s", argv[3]);
	snprintf(r.boot_id, sizeof(r.boot_id), "%s", argv[4]);
	snprintf(r.label, sizeof(r.label), "%s", argv[5]);
	snprintf(r.release, sizeof(r.release), "6.1.0-test");
	seed = num(argv[6]);
	for (int i = 0; i < KC_UPLOAD_ID_LEN; i++)
		r.upload_id[i] = (unsigned char)(seed >> (8 * (i % 8)));
	/* taken now, or at KC_CREATED (unix seconds) */
	r.created_unix = getenv("KC_CREATED") ? num(getenv("KC_CREATED")) : (uint64_t)time(NULL);
	n = (size_t)(argc - 7);
	pcs = calloc(n, sizeof(*pcs));
	if (!pcs) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		pcs[i] = num(argv[7 + i]);
	memset(&run, 0, sizeof(run));
	snprintf(run.workload, sizeof(run.workload), "test");
	run.mode = KC_MODE_TRACE;
	run.capacity_words = 65536;
	run.used_words = n;
	run.exit_status = 0;
	run.npcs = n;
	if (kc_report_add_pcs(&r, pcs, n, err) < 0 || kc_report_add_run(&r, &run, err) < 0)
		goto out;
	ret = kc_wire_encode_report(&r, out, err);
out:
	free(pcs);
	kc_report_release(&r);
	return ret;
}

int main(int argc, char **argv)
{
	struct kc_buf out = KC_BUF_INIT;
	struct kc_err err;
	int ret = 1;

	kc_err_clear(&err);
	if (argc < 3) {
		fprintf(stderr, "usage: kc-mkframe addrmap|report OUT ...\n");
		return 2;
	}
	if ((strcmp(argv[1], "addrmap") == 0 ? addrmap(argc, argv, &out, &err)
	     : strcmp(argv[1], "report") == 0 ? report(argc, argv, &out, &err)
					      : kc_err_set(&err, KC_E_BAD_INPUT,
							   "unknown kind %s", argv[1])) < 0 ||
	    kc_write_file_atomic(argv[2], out.data, out.len, &err) < 0) {
		fprintf(stderr, "kc-mkframe: %s\n", err.msg);
		goto out;
	}
	ret = 0;
out:
	kc_buf_release(&out);
	return ret;
}
