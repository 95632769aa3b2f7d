/*
 * addrmap.c - reads a boot's address map (kernel text placement, modules,
 * build ids, boot id, release) from a sysroot, using the strict parsers of
 * kallsyms.c, into the struct kc_addrmap that the wire format carries; or
 * builds that map from a vmlinux's facts and a given module list.
 */
#include "addrmap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "kallsyms.h"

/* Read SYSROOT/rel (at most max bytes) into b, replacing its contents, and
 * its path into path. Returns 0; 1 when absent_ok and the file does not
 * exist (b empty); -1 on any other failure, where a permission error says
 * to run as root. */
static int read_under(const char *sysroot, const char *rel, size_t max, int absent_ok,
		      struct kc_buf *b, char *path, size_t path_size, struct kc_err *err)
{
	struct kc_err e;

	b->len = 0;
	if (kc_path_join(path, path_size, sysroot, rel, err) < 0)
		return -1;
	kc_err_clear(&e);
	if (kc_read_file(path, max, b, &e) == 0)
		return 0;
	if (absent_ok && e.code == KC_E_NOT_FOUND)
		return 1;
	if (e.code == KC_E_FORBIDDEN)
		return kc_err_set(err, e.code, "%s: run as root", e.msg);
	if (err)
		*err = e;
	return -1;
}

/* Read a one-line text file into out, without its trailing newline. */
static int read_line_file(const char *sysroot, const char *rel, char *out, size_t max,
			  struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char path[PATH_MAX];
	int ret = -1;

	if (read_under(sysroot, rel, 4096, 0, &b, path, sizeof(path), err) < 0)
		goto out;
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (b.len == 0 || b.len > max || memchr(b.data, '\n', b.len) ||
	    !kc_valid_name((char *)b.data, max)) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%s: expected one line of at most %zu printable bytes", path, max);
		goto out;
	}
	memcpy(out, b.data, b.len + 1);
	ret = 0;
out:
	kc_buf_release(&b);
	return ret;
}

int kc_read_boot_id(const char *sysroot, char out[KC_BOOT_ID_MAX + 1], struct kc_err *err)
{
	return read_line_file(sysroot, "proc/sys/kernel/random/boot_id", out, KC_BOOT_ID_MAX, err);
}

/* The GNU build id in the notes file SYSROOT/rel. Returns 1 (hex "") when
 * absent_ok and there is no such file. */
static int read_build_id(const char *sysroot, const char *rel, int absent_ok, char *hex,
			 size_t size, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char path[PATH_MAX];
	int ret;

	hex[0] = '\0';
	ret = read_under(sysroot, rel, 65536, absent_ok, &b, path, sizeof(path), err);
	if (ret == 0)
		ret = kc_notes_build_id(b.data, b.len, path, hex, size, err);
	kc_buf_release(&b);
	return ret;
}

/* A module's .text and build id. A module without sections/.text (a kernel
 * that could not create its sections/ directory: sysfs refuses duplicate
 * section names, and then the module has no sections/ at all) is placed at
 * its /proc/modules base, flagged KC_MODULE_TEXT_AT_BASE: its PCs are then
 * checked on the server like any other (a wrong guess shows as unmatched
 * PCs) instead of the whole capture failing. */
static int capture_module(const char *sysroot, struct kc_module *mod, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char rel[PATH_MAX], path[PATH_MAX];
	int ret = -1, r;

	mod->flags &= ~KC_MODULE_TEXT_AT_BASE;
	snprintf(rel, sizeof(rel), "sys/module/%s/sections/.text", mod->name);
	r = read_under(sysroot, rel, 4096, 1, &b, path, sizeof(path), err);
	if (r < 0)
		goto out;
	if (r == 1) {
		mod->text_addr = mod->core_base;
		mod->flags |= KC_MODULE_TEXT_AT_BASE;
	} else if (kc_parse_section_addr((char *)b.data, b.len, path, &mod->text_addr, err) < 0) {
		goto out;
	}
	if (mod->text_addr == 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: address is 0: " KC_KPTR_HINT, path);
		goto out;
	}
	if (mod->text_addr < mod->core_base || mod->text_addr >= mod->core_base + mod->core_size) {
		kc_err_set(err, KC_E_BAD_INPUT,
			   "%s: .text %#llx lies outside the module (%#llx + %llu)", path,
			   (unsigned long long)mod->text_addr, (unsigned long long)mod->core_base,
			   (unsigned long long)mod->core_size);
		goto out;
	}
	/* A module built without a build id is still canonicalized by
	 * name-less offset; it is recorded as unknown ("") rather than fail. */
	snprintf(rel, sizeof(rel), "sys/module/%s/notes/.note.gnu.build-id", mod->name);
	if (read_build_id(sysroot, rel, 1, mod->build_id, sizeof(mod->build_id), err) < 0)
		goto out;
	ret = 0;
out:
	kc_buf_release(&b);
	return ret;
}

/* The current modules from SYSROOT/proc/modules into a new array (*mods,
 * the caller frees it). A kernel without module support
 * (CONFIG_MODULES=n) has no such file: that is no modules, not an error. */
static int read_modules(const char *sysroot, struct kc_module **mods, uint32_t *n,
			struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char path[PATH_MAX];
	int ret;

	*mods = NULL;
	*n = 0;
	ret = read_under(sysroot, "proc/modules", 16u << 20, 1, &b, path, sizeof(path), err);
	if (ret == 0)
		ret = kc_modules_parse((char *)b.data, b.len, path, mods, n, err);
	kc_buf_release(&b);
	return ret < 0 ? -1 : 0;
}

int kc_addrmap_capture(const char *sysroot, const char *machine, uint64_t link_text,
		       struct kc_addrmap *m, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	struct kc_kallsyms_info ks;
	char path[PATH_MAX];
	int ret = -1;

	kc_addrmap_init(m);
	if (!kc_valid_name(machine, KC_NAME_MAX)) {
		kc_err_set(err, KC_E_BAD_INPUT, "machine name is empty or not printable");
		goto out;
	}
	memcpy(m->machine, machine, strlen(machine) + 1);
	m->link_text = link_text;
	if (kc_read_boot_id(sysroot, m->boot_id, err) < 0 ||
	    read_line_file(sysroot, "proc/sys/kernel/osrelease", m->release, KC_NAME_MAX, err) < 0 ||
	    read_build_id(sysroot, "sys/kernel/notes", 0, m->build_id, sizeof(m->build_id), err) < 0)
		goto out;
	if (read_under(sysroot, "proc/kallsyms", KC_KALLSYMS_MAX, 0, &b, path, sizeof(path),
		       err) < 0 ||
	    kc_kallsyms_parse((char *)b.data, b.len, path, &ks, err) < 0)
		goto out;
	m->text_start = ks.text;
	m->text_end = ks.etext;
	if (read_modules(sysroot, &m->modules, &m->nmodules, err) < 0)
		goto out;
	for (uint32_t i = 0; i < m->nmodules; i++)
		if (capture_module(sysroot, &m->modules[i], err) < 0)
			goto out;
	ret = 0;
out:
	kc_buf_release(&b);
	if (ret < 0)
		kc_addrmap_release(m);
	return ret;
}

static const struct kc_module *find_module(const struct kc_module *v, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static int overlaps(const struct kc_module *a, const struct kc_module *b)
{
	return a->core_base < b->core_base + b->core_size && b->core_base < a->core_base + a->core_size;
}

int kc_addrmap_refresh(const char *sysroot, struct kc_addrmap *m, struct kc_err *err)
{
	struct kc_module *cur = NULL, *all = NULL;
	uint32_t n = 0, nall;
	int ret = -1, changed = 0;

	if (read_modules(sysroot, &cur, &n, err) < 0)
		goto out;
	for (uint32_t i = 0; i < n && !changed; i++) {
		const struct kc_module *old = find_module(m->modules, m->nmodules, cur[i].name);

		changed = !old || old->core_base != cur[i].core_base ||
			  old->core_size != cur[i].core_size;
	}
	if (!changed) {
		ret = 0;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		if (capture_module(sysroot, &cur[i], err) < 0)
			goto out;
	/* The current modules, then the earlier ones that are gone (reports
	 * taken while they were loaded may still be in the spool) unless their
	 * name or their range now belongs to a current module. */
	all = calloc((size_t)n + m->nmodules + 1, sizeof(*all));
	if (!all) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(all, cur, (size_t)n * sizeof(*all));
	nall = n;
	for (uint32_t i = 0; i < m->nmodules && nall < KC_MAX_MODULES; i++) {
		const struct kc_module *old = &m->modules[i];
		int keep = !find_module(cur, n, old->name);

		for (uint32_t j = 0; keep && j < n; j++)
			keep = !overlaps(old, &cur[j]);
		if (keep)
			all[nall++] = *old;
	}
	free(m->modules);
	m->modules = all;
	m->nmodules = nall;
	all = NULL;
	ret = 1;
out:
	free(all);
	free(cur);
	return ret;
}

int kc_addrmap_from_vmlinux(const struct kc_vmlinux *vm, const char *machine,
			    const char *boot_id, const char *release, const struct kc_module *mods,
			    uint32_t n, struct kc_addrmap *m, struct kc_err *err)
{
	int ret = -1;

	kc_addrmap_init(m);
	if (!kc_valid_name(machine, KC_NAME_MAX) || !kc_valid_name(boot_id, KC_BOOT_ID_MAX) ||
	    (release[0] && !kc_valid_name(release, KC_NAME_MAX))) {
		kc_err_set(err, KC_E_BAD_INPUT, "machine, boot id or release is empty, too long or not printable");
		goto out;
	}
	if (n > KC_MAX_MODULES) {
		kc_err_set(err, KC_E_BAD_INPUT, "%u modules exceed the limit of %u", n, KC_MAX_MODULES);
		goto out;
	}
	snprintf(m->machine, sizeof(m->machine), "%s", machine);
	snprintf(m->boot_id, sizeof(m->boot_id), "%s", boot_id);
	snprintf(m->release, sizeof(m->release), "%s", release);
	snprintf(m->build_id, sizeof(m->build_id), "%s", vm->build_id);
	m->text_start = vm->text;
	m->text_end = vm->etext;
	m->link_text = vm->text;
	if (n) {
		m->modules = calloc(n, sizeof(*m->modules));
		if (!m->modules) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(m->modules, mods, (size_t)n * sizeof(*mods));
		m->nmodules = n;
	}
	ret = 0;
out:
	if (ret < 0)
		kc_addrmap_release(m);
	return ret;
}

uint32_t kc_addrmap_warnings(const struct kc_addrmap *m, char *out, size_t size)
{
	size_t used = 0;
	uint32_t n = 0;

	if (size)
		out[0] = '\0';
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct kc_module *mod = &m->modules[i];
		int w;

		if (!(mod->flags & KC_MODULE_TEXT_AT_BASE))
			continue;
		n++;
		if (used >= size)
			continue;
		w = snprintf(out + used, size - used,
			     "module %s: no sys/module/%s/sections/.text, placed at its "
			     "/proc/modules base %#llx\n",
			     mod->name, mod->name, (unsigned long long)mod->core_base);
		if (w > 0)
			used += (size_t)w < size - used ? (size_t)w : size - used;
	}
	return n;
}
