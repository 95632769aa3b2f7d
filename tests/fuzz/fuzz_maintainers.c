/*
 * fuzz_maintainers.c - libFuzzer target for the MAINTAINERS parser
 * (server/build/maintainers.h): the input is the file's text; is_dir says
 * yes for paths of an odd length, so both F: directory forms are reached.
 * Every parse that succeeds is then asked for the subsystems of a few fixed
 * paths and of the input's first line taken as a path. Checks what the
 * parser promises: names are non-empty, bounded, NUL-free; answers are
 * ascending distinct name indexes.
 */
#include <string.h>

#include "fuzz.h"
#include "maintainers.h"

static int odd_is_dir(void *ctx, const char *path)
{
	(void)ctx;
	return strlen(path) & 1;
}

static void check_match(struct kc_maint *m, const char *path)
{
	struct kc_err err;
	const size_t *idx;
	size_t n;

	kc_err_clear(&err);
	if (kc_maint_match(m, path, &idx, &n, &err) < 0)
		return; /* out of memory only */
	for (size_t i = 0; i < n; i++) {
		KC_FUZZ_ASSERT(idx[i] < kc_maint_count(m));
		KC_FUZZ_ASSERT(i == 0 || idx[i - 1] < idx[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"kernel/fork.c", "drivers/net/tun.c",
					    "include/linux/sched.h", "Makefile", "a/b/c/d/e.c", ""};
	const char *text = (const char *)data;
	struct kc_maint *m;
	struct kc_err err;
	char first[256];
	size_t fl = 0;

	kc_err_clear(&err);
	m = kc_maint_parse(text, size, odd_is_dir, NULL, &err);
	if (!m) {
		KC_FUZZ_ASSERT(err.code != KC_E_NONE && err.msg[0]);
		return 0;
	}
	for (size_t i = 0; i < kc_maint_count(m); i++) {
		const char *name = kc_maint_name(m, i);

		KC_FUZZ_ASSERT(name && name[0] && strlen(name) <= KC_MAINT_MAX_NAME);
	}
	KC_FUZZ_ASSERT(kc_maint_name(m, kc_maint_count(m)) == NULL);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		check_match(m, paths[i]);
	while (fl < size && fl + 1 < sizeof(first) && text[fl] != '\n') {
		first[fl] = text[fl];
		fl++;
	}
	first[fl] = '\0';
	check_match(m, first);
	kc_maint_free(m);
	return 0;
}
