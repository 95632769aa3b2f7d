/*
 * fuzz_kallsyms.c - libFuzzer target for the address-map file parsers of
 * common/kallsyms.h. The first input byte picks the parser (mod 4):
 * /proc/kallsyms, /proc/modules, a sysfs section address, GNU build-id
 * notes; the rest is the file content. Checks what each parser promises
 * on success (text range ordered, modules named and sized, hex build id).
 */
#include <string.h>

#include "fuzz.h"
#include "kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	struct kc_kallsyms_info ks;
	struct kc_module *mods = NULL;
	struct kc_err err;
	char hex[KC_BUILD_ID_MAX + 1];
	uint64_t addr;
	uint32_t n = 0;

	if (size < 1)
		return 0;
	kc_err_clear(&err);
	switch (data[0] & 3) {
	case 0:
		if (kc_kallsyms_parse(text, size - 1, "kallsyms", &ks, &err) == 0)
			KC_FUZZ_ASSERT(ks.nsyms > 0);
		break;
	case 1:
		if (kc_modules_parse(text, size - 1, "modules", &mods, &n, &err) == 0) {
			for (uint32_t i = 0; i < n; i++) {
				KC_FUZZ_ASSERT(mods[i].name[0]);
				KC_FUZZ_ASSERT(strlen(mods[i].name) <= KC_MODNAME_MAX);
			}
			free(mods);
		}
		break;
	case 2:
		if (kc_parse_section_addr(text, size - 1, ".text", &addr, &err) < 0)
			KC_FUZZ_ASSERT(err.msg[0]);
		break;
	default:
		if (kc_notes_build_id(data + 1, size - 1, "notes", hex, sizeof(hex), &err) == 0) {
			KC_FUZZ_ASSERT(hex[0] && strlen(hex) <= KC_BUILD_ID_MAX);
			for (const char *p = hex; *p; p++)
				KC_FUZZ_ASSERT((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
		}
		break;
	}
	return 0;
}
