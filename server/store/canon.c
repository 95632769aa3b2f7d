/*
 * canon.c - KASLR and module canonicalization of reported PCs, per boot,
 * from the address map the boot's collector sent (stored in boots and
 * boot_modules). The output is one bitmap of text offsets per binary.
 */
#include "canon.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "grow.h"

void kc_canon_boot_release(struct kc_canon_boot *b)
{
	free(b->modules);
	memset(b, 0, sizeof(*b));
}

int kc_canon_load(struct kc_sql *db, const char *machine, const char *boot_id, struct kc_canon_boot *b,
		  struct kc_err *err)
{
	struct kc_stmt *st;
	int ret = -1, rc;

	memset(b, 0, sizeof(*b));
	st = kc_db_cached(db,
			   "SELECT b.id, b.machine, b.build, "
			   " (SELECT id FROM binaries WHERE build = b.build AND kind = 'vmlinux'), "
			   " coalesce(bl.link_text, b.link_text), b.text_start, b.text_end "
			   "FROM boots b JOIN machines m ON m.id = b.machine "
			   "JOIN builds bl ON bl.id = b.build WHERE m.name = ? AND b.boot_id = ?",
			   err);
	if (!st)
		return -1;
	kc_stmt_bind_text(st, 1, machine, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 2, boot_id, -1, KC_SQL_STATIC);
	rc = kc_db_step(db, st, err);
	if (rc == KC_DONE) {
		ret = 0;
		goto out;
	}
	if (rc < 0) {
		kc_err_prefix(err, "loading boot");
		goto out;
	}
	b->boot = kc_stmt_column_int64(st, 0);
	b->machine = kc_stmt_column_int64(st, 1);
	b->build = kc_stmt_column_int64(st, 2);
	b->vmlinux = kc_stmt_column_int64(st, 3);
	b->link_text = (uint64_t)kc_stmt_column_int64(st, 4);
	b->text_start = (uint64_t)kc_stmt_column_int64(st, 5);
	b->text_end = (uint64_t)kc_stmt_column_int64(st, 6);
	kc_stmt_reset(st);
	st = kc_db_cached(db,
			   "SELECT binary, core_base, core_size, text_addr FROM boot_modules "
			   "WHERE boot = ? ORDER BY core_base",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_int64(st, 1, b->boot);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		struct kc_canon_module *m;

		if (KC_GROW(b->modules, b->capmodules, (size_t)b->nmodules + 1) < 0) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		m = &b->modules[b->nmodules++];
		m->binary = kc_stmt_column_int64(st, 0);
		m->core_base = (uint64_t)kc_stmt_column_int64(st, 1);
		m->core_size = (uint64_t)kc_stmt_column_int64(st, 2);
		m->text_addr = (uint64_t)kc_stmt_column_int64(st, 3);
	}
	if (rc < 0) {
		kc_err_prefix(err, "loading boot modules");
		goto out;
	}
	ret = 1;
out:
	kc_stmt_reset(st);
	if (ret < 0)
		kc_canon_boot_release(b);
	return ret;
}

void kc_canon_result_release(struct kc_canon_result *res)
{
	for (uint32_t i = 0; i < res->nparts; i++)
		kc_bitmap_free(res->parts[i].bits);
	free(res->parts);
	memset(res, 0, sizeof(*res));
}

static roaring_bitmap_t *part_for(struct kc_canon_result *res, int64_t binary)
{
	struct kc_canon_part *p;

	for (uint32_t i = 0; i < res->nparts; i++)
		if (res->parts[i].binary == binary)
			return res->parts[i].bits;
	if (KC_GROW(res->parts, res->capparts, (size_t)res->nparts + 1) < 0)
		return NULL;
	p = res->parts;
	p[res->nparts].binary = binary;
	p[res->nparts].bits = roaring_bitmap_create();
	return p[res->nparts++].bits;
}

struct walk {
	const struct kc_canon_boot *b;
	struct kc_canon_result *res;
	uint64_t base;
	int oom;
};

static bool place(uint32_t v, void *arg)
{
	struct walk *w = arg;
	const struct kc_canon_boot *b = w->b;
	uint64_t pc = w->base + v;
	uint64_t kaslr = b->text_start - b->link_text;
	roaring_bitmap_t *bits;

	if (pc - b->link_text < b->text_end - b->text_start) {
		bits = part_for(w->res, b->vmlinux);
		if (!bits)
			goto oom;
		roaring_bitmap_add(bits, (uint32_t)(pc - b->link_text));
		w->res->known++;
		return true;
	}
	for (uint32_t i = 0; i < b->nmodules; i++) {
		const struct kc_canon_module *m = &b->modules[i];
		uint64_t rt = pc + kaslr;

		if (rt >= m->text_addr && rt - m->core_base < m->core_size) {
			bits = part_for(w->res, m->binary);
			if (!bits)
				goto oom;
			roaring_bitmap_add(bits, (uint32_t)(rt - m->text_addr));
			w->res->known++;
			return true;
		}
	}
	w->res->unknown++;
	return true;
oom:
	w->oom = 1;
	return false;
}

int kc_canon_report(const struct kc_canon_boot *b, const struct kc_report *r,
		    struct kc_canon_result *out, struct kc_err *err)
{
	struct walk w = { b, out, 0, 0 };

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < r->nregions && !w.oom; i++) {
		w.base = r->regions[i].base;
		roaring_iterate(r->regions[i].bits, place, &w);
	}
	if (w.oom) {
		kc_canon_result_release(out);
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	for (uint32_t i = 0; i < out->nparts; i++)
		roaring_bitmap_run_optimize(out->parts[i].bits);
	return 0;
}
