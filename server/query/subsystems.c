/*
 * subsystems.c - coverage per MAINTAINERS subsystem of a build
 * (kc_covq_subsystems): the per-file totals of the whole build (tree.c,
 * through the per-file totals cache) summed over each subsystem's files,
 * which the point index holds (pindex.c, schema 009), plus the files of
 * no subsystem. A file may be in several subsystems, so the subsystems'
 * totals add up to more than the build's. With merge= the per-file totals
 * are merged ones (cached under a key naming every merged build: tree.c)
 * and carry lost lines.
 */
#include "cq.h"

#include <stdlib.h>
#include <string.h>

static json_t *group(const char *name, const struct totals *t)
{
	json_t *o = name ? json_pack("{s:s}", "name", name) : json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "files", json_integer((json_int_t)t->files));
	cq_put_totals(o, t);
	return o;
}

json_t *kc_covq_subsystems(struct kc_covq *q, struct kc_err *err)
{
	const struct pindex *x = q->index;
	struct totals *t = NULL, none;
	uint8_t *in_any = NULL;
	json_t *arr = NULL, *out = NULL, *o;

	if (cq_need_index(q, err) < 0)
		return NULL;
	t = cq_all_totals(q, err);
	if (!t)
		goto out;
	in_any = calloc((size_t)x->nfiles + 1, 1);
	arr = json_array();
	if (!in_any || !arr)
		goto oom;
	for (uint32_t s = 0; s < x->nsubs; s++) {
		const struct psub *sub = &x->subs[s];
		struct totals sum;

		if (q->f.subsystem && strcmp(sub->name, q->f.subsystem) != 0)
			continue;
		memset(&sum, 0, sizeof(sum));
		for (uint32_t i = 0; i < sub->n; i++) {
			cq_totals_add(&sum, &t[sub->files[i]]);
			in_any[sub->files[i]] = 1;
		}
		o = group(sub->name, &sum);
		if (!o || json_array_append_new(arr, o) < 0)
			goto oom;
	}
	memset(&none, 0, sizeof(none));
	for (uint32_t f = 0; f < x->nfiles; f++)
		if (!in_any[f])
			cq_totals_add(&none, &t[f]);
	out = cq_base_object(q);
	if (!out)
		goto oom;
	json_object_set_new(out, "maintainers", json_boolean(x->maintainers));
	json_object_set_new(out, "files", json_integer((json_int_t)x->nfiles));
	json_object_set_new(out, "subsystems", arr);
	arr = NULL;
	json_object_set_new(out, "none", q->f.subsystem ? json_null() : group(NULL, &none));
	if (q->merge)
		json_object_set_new(out, "merge", cq_merge_object(q));
	goto out;
oom:
	kc_err_set(err, KC_E_INTERNAL, "out of memory");
out:
	json_decref(arr);
	free(in_any);
	free(t);
	return out;
}
