/*
 * fuzz_symbolize.c - libFuzzer target for the ELF/DWARF import
 * (server/symbolize.h). kc_symbolize_file() takes a path, so each input is
 * written to a private temporary file first ($TMPDIR or /tmp). Seeds are
 * the miniature vmlinux/.ko fixtures of tests/symbolize. On success the
 * table must be consistent: points sorted and unique, every index in range.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "symbolize.h"

static char path[4096];

static int write_input(const uint8_t *data, size_t size)
{
	int fd;
	size_t off = 0;

	if (!path[0]) {
		const char *tmp = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/kc-fuzz-elf-%ld", tmp && *tmp ? tmp : "/tmp",
			 (long)getpid());
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_symtab t;
	struct kc_err err;

	if (write_input(data, size) < 0)
		return 0;
	kc_err_clear(&err);
	if (kc_symbolize_file(path, NULL, &t, &err) == 0) {
		for (uint64_t i = 0; i < t.npoints; i++) {
			const struct kc_sym_point *p = &t.points[i];

			KC_FUZZ_ASSERT(i == 0 || p->offset > t.points[i - 1].offset);
			KC_FUZZ_ASSERT(p->file == KC_SYM_NONE || p->file < t.nfiles);
			KC_FUZZ_ASSERT(p->func == KC_SYM_NONE || p->func < t.nfuncs);
			KC_FUZZ_ASSERT(kc_symtab_find(&t, p->offset) == (int64_t)i);
		}
		for (uint32_t i = 0; i < t.nfuncs; i++) {
			KC_FUZZ_ASSERT(t.funcs[i].name != NULL);
			KC_FUZZ_ASSERT(t.funcs[i].file == KC_SYM_NONE || t.funcs[i].file < t.nfiles);
		}
		for (uint32_t i = 0; i < t.nfiles; i++)
			KC_FUZZ_ASSERT(t.files[i] != NULL);
	} else {
		KC_FUZZ_ASSERT(err.msg[0]);
	}
	kc_symtab_release(&t);
	unlink(path);
	return 0;
}
