/*
 * test_canon.c - KASLR and module canonicalization: the same kernel PCs
 * under two layouts map to the same canonical offsets; PCs outside every
 * region (and module PCs before .text) are counted as unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canon.h"

#define LINK 0xffffffff81000000ull

static void layout(struct kc_canon_boot *b, struct kc_canon_module *mods, uint64_t kaslr,
		   uint64_t mod_base)
{
	memset(b, 0, sizeof(*b));
	b->vmlinux = 1;
	b->link_text = LINK;
	b->text_start = LINK + kaslr;
	b->text_end = b->text_start + 0x1000000;
	mods[0].binary = 2;
	mods[0].core_base = mod_base;
	mods[0].core_size = 0x4000;
	mods[0].text_addr = mod_base + 0x1000;
	b->nmodules = 1;
	b->modules = mods;
}

static const roaring_bitmap_t *part(const struct kc_canon_result *res, int64_t binary)
{
	for (uint32_t i = 0; i < res->nparts; i++)
		if (res->parts[i].binary == binary)
			return res->parts[i].bits;
	return NULL;
}

static void canon_for(uint64_t kaslr, uint64_t mod_base, struct kc_canon_result *res)
{
	struct kc_canon_boot b;
	struct kc_canon_module mods[1];
	struct kc_report r;
	struct kc_err err;
	/* kcov reports vmlinux PCs link-time, module PCs as runtime - kaslr. */
	uint64_t pcs[] = {
		LINK + 0x105, LINK + 0xfffff0,                /* vmlinux */
		mod_base + 0x1000 + 0x45 - kaslr,             /* module .text + 0x45 */
		mod_base + 0x3ff0 - kaslr,                    /* module, last bytes */
		mod_base + 0x10 - kaslr,                      /* module, before .text */
		LINK + 0x1000000,                             /* just past _etext */
		0x1000,                                       /* user space */
	};

	layout(&b, mods, kaslr, mod_base);
	kc_report_init(&r);
	assert_int_equal(kc_report_add_pcs(&r, pcs, sizeof(pcs) / sizeof(pcs[0]), &err), 0);
	assert_int_equal(kc_canon_report(&b, &r, res, &err), 0);
	kc_report_release(&r);
}

static void test_two_layouts_agree(void **state)
{
	struct kc_canon_result a, b;
	(void)state;

	canon_for(0x1e000000, 0xffffffffc0010000ull, &a);
	canon_for(0x0a400000, 0xffffffffc0230000ull, &b);
	assert_int_equal(a.known, 4);
	assert_int_equal(a.unknown, 3);
	assert_int_equal(b.known, 4);
	assert_int_equal(b.unknown, 3);
	assert_true(roaring_bitmap_equals(part(&a, 1), part(&b, 1)));
	assert_true(roaring_bitmap_equals(part(&a, 2), part(&b, 2)));
	assert_true(roaring_bitmap_contains(part(&a, 1), 0x105));
	assert_true(roaring_bitmap_contains(part(&a, 1), 0xfffff0));
	assert_true(roaring_bitmap_contains(part(&a, 2), 0x45));
	assert_true(roaring_bitmap_contains(part(&a, 2), 0x2ff0));
	assert_int_equal(roaring_bitmap_get_cardinality(part(&a, 2)), 2);
	kc_canon_result_release(&a);
	kc_canon_result_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_layouts_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
