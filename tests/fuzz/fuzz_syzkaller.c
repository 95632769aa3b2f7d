/*
 * fuzz_syzkaller.c - libFuzzer target for the syzkaller bridge's parsers of
 * syz-manager answers (collector/syzkaller.h), which read untrusted HTTP
 * bodies. The first input byte picks the parser (mod 4): /rawcover,
 * /modules JSON, /metrics, /syscalls; the rest is the body. Checks what
 * each parser promises: on success sane outputs, on failure a message.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "syzkaller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	struct kc_syz_counters c;
	struct kc_module *mods = NULL;
	uint64_t *pcs = NULL;
	struct kc_err err;
	size_t n = 0;
	uint32_t nm = 0;
	int r;

	if (size < 1)
		return 0;
	kc_err_clear(&err);
	memset(&c, 0, sizeof(c));
	switch (data[0] & 3) {
	case 0:
		r = kc_syz_parse_rawcover(text, size - 1, 5, &pcs, &n, &err);
		KC_FUZZ_ASSERT(r == 0 || (err.msg[0] && !pcs));
		for (size_t i = 0; r == 0 && i < n; i++)
			KC_FUZZ_ASSERT(pcs[i] >= 5);
		free(pcs);
		break;
	case 1:
		r = kc_syz_parse_modules(text, size - 1, NULL, &mods, &nm, &err);
		KC_FUZZ_ASSERT(r == 0 || (err.msg[0] && !mods));
		for (uint32_t i = 0; r == 0 && i < nm; i++) {
			KC_FUZZ_ASSERT(mods[i].name[0] && strlen(mods[i].name) <= KC_MODNAME_MAX);
			KC_FUZZ_ASSERT(mods[i].core_size > 0);
			KC_FUZZ_ASSERT(mods[i].core_base + mods[i].core_size > mods[i].core_base);
		}
		free(mods);
		break;
	case 2:
		r = kc_syz_parse_metrics(text, size - 1, &c, &err);
		KC_FUZZ_ASSERT(r == 0 || (err.msg[0] && c.execs == 0));
		KC_FUZZ_ASSERT(c.execs < (1ull << 53));
		break;
	default:
		r = kc_syz_parse_syscalls(text, size - 1, &c, &err);
		KC_FUZZ_ASSERT(r == 0 || (err.msg[0] && !c.ovf));
		for (size_t i = 1; r == 0 && i < c.novf; i++)
			KC_FUZZ_ASSERT(strcmp(c.ovf[i - 1].name, c.ovf[i].name) < 0);
		free(c.ovf);
		break;
	}
	return 0;
}
