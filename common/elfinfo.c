/*
 * elfinfo.c - reads build ids and the vmlinux text range from ELF files
 * with libelf, for the server's symbolizer and for address maps built from
 * binaries (the syzkaller bridge) rather than from a live /proc.
 */
#include "elfinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <string.h>
#include <unistd.h>

int kc_elf_build_id(Elf *elf, char *hex, size_t size)
{
	Elf_Scn *scn = NULL;

	hex[0] = '\0';
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t off = 0, next, name_off, desc_off;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		while ((next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;

			off = next;
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + name_off, "GNU", 4) != 0 ||
			    nh.n_descsz == 0 || nh.n_descsz > 64 || 2 * nh.n_descsz + 1 > size)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", desc[i]);
			return 1;
		}
	}
	return 0;
}

/* Open path as ELF for reading. On success the caller ends with
 * elf_end(*elf) and close(*fd). */
static int open_elf(const char *path, int *fd, Elf **elf, struct kc_err *err)
{
	*elf = NULL;
	*fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return kc_err_set(err, KC_E_INTERNAL, "libelf: %s", elf_errmsg(-1));
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return kc_err_errno(err, errno, "%s: %s", path, strerror(errno));
	*elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!*elf || elf_kind(*elf) != ELF_K_ELF) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not an ELF file", path);
		if (*elf)
			elf_end(*elf);
		*elf = NULL;
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

int kc_elf_file_build_id(const char *path, char *hex, size_t size, struct kc_err *err)
{
	Elf *elf;
	int fd;

	if (open_elf(path, &fd, &elf, err) < 0)
		return -1;
	kc_elf_build_id(elf, hex, size);
	elf_end(elf);
	close(fd);
	return 0;
}

int kc_vmlinux_read(const char *path, struct kc_vmlinux *v, struct kc_err *err)
{
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	Elf *elf;
	int fd, have_text = 0, have_etext = 0, ret = -1;

	memset(v, 0, sizeof(*v));
	if (open_elf(path, &fd, &elf, err) < 0)
		return -1;
	if (!gelf_getehdr(elf, &eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not a vmlinux (ELF type is not EXEC or DYN)", path);
		goto out;
	}
	if (!kc_elf_build_id(elf, v->build_id, sizeof(v->build_id))) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: no GNU build-id note (link with --build-id)", path);
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL && !(have_text && have_etext)) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		n = d ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    !(name = elf_strptr(elf, sh.sh_link, sym.st_name)))
				continue;
			if (!have_text && strcmp(name, "_text") == 0) {
				v->text = sym.st_value;
				have_text = 1;
			} else if (!have_etext && strcmp(name, "_etext") == 0) {
				v->etext = sym.st_value;
				have_etext = 1;
			}
		}
	}
	if (!have_text || !have_etext) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: no %s symbol (a stripped vmlinux? use the unstripped one)", path,
			   have_text ? "_etext" : "_text");
		goto out;
	}
	if (v->etext <= v->text || v->etext - v->text > (1ull << 32)) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: _etext %#llx does not follow _text %#llx within 4 GiB", path,
			   (unsigned long long)v->etext, (unsigned long long)v->text);
		goto out;
	}
	ret = 0;
out:
	elf_end(elf);
	close(fd);
	return ret;
}
