/*
 * mksysroot.c - kcov-standin-mksysroot writes the /proc and /sys snapshot
 * ("sysroot") of one boot of the stand-in's synthetic kernel: the boot file
 * standin-boot.conf that libkcov_standin.so reads to compute PCs, and the
 * files kc_addrmap_capture() reads (kallsyms, modules, boot id, release,
 * build-id notes, module .text addresses), all consistent with each other.
 *
 * usage: kcov-standin-mksysroot KERNEL_DESC OUTDIR --kaslr 0xOFF
 *            [--module NAME=0xBASE]... --boot-id UUID
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fileio.h"
#include "kdesc.h"

struct sym {
	uint64_t addr;
	char name[SD_NAME_MAX + 32];
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int write_rel(const char *outdir, const char *rel, const void *data, size_t len,
		     struct kc_err *err)
{
	char path[4096], dir[4096];
	const char *slash;

	if (kc_path_join(path, sizeof(path), outdir, rel, err) < 0)
		return -1;
	slash = strrchr(path, '/');
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (kc_mkdirs(dir, err) < 0)
		return -1;
	return kc_write_file_atomic(path, data, len, err);
}

static void add_u32(struct kc_buf *b, uint32_t v)
{
	kc_buf_add_u32(b, v);
}

/* One ELF note: Elf64_Nhdr, name and desc each padded to 4 bytes. */
static void add_note(struct kc_buf *b, const char *name, uint32_t type, const unsigned char *desc,
		     uint32_t descsz)
{
	static const unsigned char zero[4];
	uint32_t namesz = (uint32_t)strlen(name) + 1;

	add_u32(b, namesz);
	add_u32(b, descsz);
	add_u32(b, type);
	kc_buf_add(b, name, namesz);
	kc_buf_add(b, zero, (4 - namesz % 4) % 4);
	kc_buf_add(b, desc, descsz);
	kc_buf_add(b, zero, (4 - descsz % 4) % 4);
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* GNU build-id note for a lowercase hex id (validated by kdesc.c). */
static void build_id_note(struct kc_buf *b, const char *hex)
{
	unsigned char id[SD_BUILD_ID_MAX / 2];
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++)
		id[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	add_note(b, "GNU", 3, id, (uint32_t)n);
}

/* The lowest vmlinux offset a syscall runs, or UINT64_MAX. */
static uint64_t first_off(const struct sd_kernel *k, const struct sd_syscall *c, uint32_t image)
{
	uint64_t lo = UINT64_MAX;

	for (uint32_t i = 0; i < c->nsteps; i++) {
		const struct sd_site *s = &k->sites[k->steps[c->first + i].site];

		if (s->image == image && s->off < lo)
			lo = s->off;
	}
	return lo;
}

static int write_kallsyms(const char *outdir, const struct sd_kernel *k, const struct sd_boot *b,
			  struct kc_err *err)
{
	uint64_t text = k->link_text + b->kaslr;
	struct kc_buf out = KC_BUF_INIT;
	struct sym *syms = calloc(k->ncalls + 1, sizeof(*syms));
	uint32_t n = 0;
	int ret = -1;

	if (!syms)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	kc_buf_addf(&out, "0000000000000000 A fixed_percpu_data\n"
			  "0000000000000000 A __per_cpu_start\n"
			  "0000000000001000 A cpu_debug_store\n"
			  "0000000000002000 A irq_stack_backing_store\n"
			  "%016llx T _text\n%016llx T _stext\n%016llx T startup_64\n",
		    (unsigned long long)text, (unsigned long long)text, (unsigned long long)text);
	for (uint32_t i = 0; i < k->ncalls; i++) {
		uint64_t off = first_off(k, &k->calls[i], 0);

		if (off == UINT64_MAX)
			continue;
		syms[n].addr = text + (off & ~0xfull);
		snprintf(syms[n].name, sizeof(syms[n].name), "%s%s%s",
			 k->calls[i].remote ? "" : "__x64_sys_", k->calls[i].name,
			 k->calls[i].remote ? "_work" : "");
		n++;
	}
	qsort(syms, n, sizeof(*syms), sym_cmp);
	for (uint32_t i = 0; i < n; i++)
		kc_buf_addf(&out, "%016llx T %s\n", (unsigned long long)syms[i].addr, syms[i].name);
	kc_buf_addf(&out, "%016llx T _etext\n", (unsigned long long)(text + k->text_size));
	for (uint32_t m = 0; m < k->nmods; m++) {
		uint64_t mt = sd_module_text(k, b, m);

		kc_buf_addf(&out, "%016llx t %s_init\t[%s]\n", (unsigned long long)mt,
			    k->mods[m].name, k->mods[m].name);
		for (uint32_t i = 0; i < k->ncalls; i++) {
			uint64_t off = first_off(k, &k->calls[i], m + 1);

			if (off != UINT64_MAX)
				kc_buf_addf(&out, "%016llx t %s_%s\t[%s]\n",
					    (unsigned long long)(mt + (off & ~0xfull)),
					    k->mods[m].name, k->calls[i].name, k->mods[m].name);
		}
	}
	if (out.oom) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = write_rel(outdir, "proc/kallsyms", out.data, out.len, err);
out:
	free(syms);
	kc_buf_release(&out);
	return ret;
}

static int write_sysroot(const char *outdir, const struct sd_kernel *k, const struct sd_boot *b,
			 struct kc_err *err)
{
	static const unsigned char linux_desc[4];
	struct kc_buf out = KC_BUF_INIT;
	char rel[256];
	int ret = -1;

	if (write_kallsyms(outdir, k, b, err) < 0)
		goto out;
	for (uint32_t m = 0; m < k->nmods; m++)
		kc_buf_addf(&out, "%s %llu 0 - Live 0x%016llx (O)\n", k->mods[m].name,
			    (unsigned long long)k->mods[m].core_size,
			    (unsigned long long)b->mod_base[m]);
	if (write_rel(outdir, "proc/modules", out.data ? (char *)out.data : "", out.len, err) < 0)
		goto out;
	out.len = 0;
	kc_buf_addf(&out, "%s\n", b->boot_id);
	if (write_rel(outdir, "proc/sys/kernel/random/boot_id", out.data, out.len, err) < 0)
		goto out;
	out.len = 0;
	kc_buf_addf(&out, "%s\n", k->release);
	if (write_rel(outdir, "proc/sys/kernel/osrelease", out.data, out.len, err) < 0)
		goto out;
	out.len = 0;
	add_note(&out, "Linux", 0x101, linux_desc, sizeof(linux_desc));
	build_id_note(&out, k->build_id);
	if (write_rel(outdir, "sys/kernel/notes", out.data, out.len, err) < 0)
		goto out;
	for (uint32_t m = 0; m < k->nmods; m++) {
		out.len = 0;
		build_id_note(&out, k->mods[m].build_id);
		snprintf(rel, sizeof(rel), "sys/module/%s/notes/.note.gnu.build-id", k->mods[m].name);
		if (write_rel(outdir, rel, out.data, out.len, err) < 0)
			goto out;
		out.len = 0;
		kc_buf_addf(&out, "0x%016llx\n", (unsigned long long)sd_module_text(k, b, m));
		snprintf(rel, sizeof(rel), "sys/module/%s/sections/.text", k->mods[m].name);
		if (write_rel(outdir, rel, out.data, out.len, err) < 0)
			goto out;
	}
	if (out.oom) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = 0;
out:
	kc_buf_release(&out);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: kcov-standin-mksysroot KERNEL_DESC OUTDIR --kaslr 0xOFF "
			"[--module NAME=0xBASE]... --boot-id UUID\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct kc_buf conf = KC_BUF_INIT;
	struct sd_kernel k;
	struct sd_boot b;
	struct kc_err err;
	char path[4096];
	int ret = 1;

	sd_kernel_init(&k);
	sd_boot_init(&b);
	if (argc < 3)
		return usage();
	for (int i = 3; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--kaslr") == 0) {
			kc_buf_addf(&conf, "kaslr %s\n", argv[i + 1]);
		} else if (strcmp(argv[i], "--boot-id") == 0) {
			kc_buf_addf(&conf, "boot_id %s\n", argv[i + 1]);
		} else if (strcmp(argv[i], "--module") == 0 && strchr(argv[i + 1], '=')) {
			const char *eq = strchr(argv[i + 1], '=');

			kc_buf_addf(&conf, "module %.*s %s\n", (int)(eq - argv[i + 1]), argv[i + 1],
				    eq + 1);
		} else {
			return usage();
		}
	}
	snprintf(path, sizeof(path), "%s/standin-boot.conf", argv[2]);
	if (sd_kernel_load(argv[1], &k, &err) < 0 || kc_mkdirs(argv[2], &err) < 0 ||
	    kc_write_file_atomic(path, conf.data, conf.len, &err) < 0 ||
	    sd_boot_load(path, &k, &b, &err) < 0 || write_sysroot(argv[2], &k, &b, &err) < 0) {
		fprintf(stderr, "kcov-standin-mksysroot: %s\n", err.msg);
		goto out;
	}
	ret = 0;
out:
	sd_boot_release(&b);
	sd_kernel_release(&k);
	kc_buf_release(&conf);
	return ret;
}
