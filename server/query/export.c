/*
 * export.c - a build's coverage in other tools' formats (an LCOV
 * tracefile, syzkaller-style file and function CSV) and its summary per
 * binary (points, covered points, PCs that match no point).
 */
#include "cq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"

static int lcov_fn(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		   int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)v;
	(void)idx;
	(void)le;
	(void)err;

	kc_buf_addf(b, "FN:%lld,%s\n", (long long)ls, name);
	return 0;
}

static int lcov_fnda(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		     int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)ls;
	(void)le;
	(void)err;

	/* merged: a function only other builds hit counts as hit once */
	kc_buf_addf(b, "FNDA:%u,%s\n", v->fcov[idx] || !v->merged || !v->fhit[idx] ? v->fcov[idx] : 1,
		    name);
	return 0;
}

static int lcov_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	struct totals t;

	if (strchr(v->path, '\n'))
		return 0;
	cq_fview_totals(v, &t);
	kc_buf_addf(b, "TN:\nSF:%s\n", v->path);
	if (cq_each_function(q, v, lcov_fn, b, err) < 0 || cq_each_function(q, v, lcov_fnda, b, err) < 0)
		return -1;
	kc_buf_addf(b, "FNF:%llu\nFNH:%llu\n", (unsigned long long)t.funcs,
		    (unsigned long long)t.funcs_hit);
	for (uint32_t l = 0; l < v->nlines; l++)
		if (v->ltot[l])
			kc_buf_addf(b, "DA:%u,%u\n", v->lines[l],
				    v->lcov[l] || !v->merged || !v->mstate[l] ? v->lcov[l] : 1);
	kc_buf_addf(b, "LF:%llu\nLH:%llu\nend_of_record\n", (unsigned long long)t.lines,
		    (unsigned long long)(t.lines_full + t.lines_partial));
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

static int norm_prefix(const char *prefix, char **out, struct kc_err *err)
{
	size_t len = prefix ? strlen(prefix) : 0;

	*out = NULL;
	if (!len)
		return 0;
	*out = malloc(len + 2);
	if (!*out)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	snprintf(*out, len + 2, "%s%s", prefix, prefix[len - 1] == '/' ? "" : "/");
	return 0;
}

int kc_covq_lcov(struct kc_covq *q, const char *prefix, struct kc_buf *out, struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	n = cq_walk(q, NULL, p, lcov_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(struct kc_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		kc_buf_add(b, s, strlen(s));
		return;
	}
	kc_buf_add_u8(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			kc_buf_add_u8(b, '"');
		kc_buf_add_u8(b, (uint8_t)*s);
	}
	kc_buf_add_u8(b, '"');
}

static int csv_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	struct totals t;

	cq_fview_totals(v, &t);
	csv_field(b, v->path);
	kc_buf_addf(b, ",%llu,%llu,%llu,%llu,%llu,%llu",
		    (unsigned long long)(t.lines_full + t.lines_partial),
		    (unsigned long long)t.lines, (unsigned long long)t.covered,
		    (unsigned long long)t.points, (unsigned long long)t.funcs_hit,
		    (unsigned long long)t.funcs);
	if (q->merge)
		kc_buf_addf(b, ",%llu", (unsigned long long)t.lost);
	kc_buf_add_u8(b, '\n');
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

int kc_covq_files_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
		      struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	kc_buf_addf(out, "Filename,CoveredLines,TotalLines,CoveredPCs,TotalPCs,"
			 "CoveredFunctions,TotalFunctions%s\n", q->merge ? ",LostLines" : "");
	n = cq_walk(q, NULL, p, csv_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

static int csv_fn(const struct fview *v, uint32_t idx, const char *name, int64_t ls,
		  int64_t le, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;
	(void)ls;
	(void)le;
	(void)err;

	csv_field(b, v->path);
	kc_buf_add_u8(b, ',');
	csv_field(b, name);
	kc_buf_addf(b, ",%u,%u", v->fcov[idx], v->ftot[idx]);
	if (v->merged)
		kc_buf_addf(b, ",%d", v->fhit[idx] ? 1 : 0);
	kc_buf_add_u8(b, '\n');
	return 0;
}

static int csv_funcs_file(struct kc_covq *q, const struct fview *v, void *arg, struct kc_err *err)
{
	struct kc_buf *b = arg;

	if (cq_each_function(q, v, csv_fn, b, err) < 0)
		return -1;
	return b->oom ? kc_err_set(err, KC_E_INTERNAL, "out of memory") : 0;
}

int kc_covq_functions_csv(struct kc_covq *q, const char *prefix, struct kc_buf *out,
			  struct kc_err *err)
{
	char *p;
	int64_t n;

	if (norm_prefix(prefix, &p, err) < 0)
		return -1;
	kc_buf_addf(out, "Filename,Function,CoveredPCs,TotalPCs%s\n", q->merge ? ",Hit" : "");
	n = cq_walk(q, NULL, p, csv_funcs_file, out, err);
	free(p);
	return n < 0 ? -1 : 0;
}

json_t *kc_covq_summary(struct kc_covq *q, struct kc_err *err)
{
	struct covset bin;
	struct kc_stmt *st = NULL;
	json_t *out = NULL, *arr = json_array();
	uint64_t points = 0, covered = 0, unmatched = 0, unimported = 0, pcs = 0;
	int rc;

	if (cq_load_filtered(q, 1, &bin, err) < 0) {
		err->code = KC_E_INTERNAL;
		json_decref(arr);
		return NULL;
	}
	st = kc_db_prepare(q->db,
			   "SELECT b.id, b.name, b.kind, b.build_id, i.id, i.points, i.bits "
			   "FROM binaries b LEFT JOIN images i ON i.build = b.build AND "
			   "i.kind = b.kind AND i.name = b.name AND "
			   "(b.build_id = i.build_id OR b.build_id = '') "
			   "WHERE b.build = ? ORDER BY b.kind DESC, b.name, b.id",
			   err);
	if (!st) {
		err->code = KC_E_INTERNAL;
		goto out;
	}
	kc_stmt_bind_int64(st, 1, q->build);
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW) {
		const roaring_bitmap_t *cov = cq_covset_get(&bin, kc_stmt_column_int64(st, 0));
		uint64_t n = cov ? roaring_bitmap_get_cardinality(cov) : 0;
		json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "name", kc_stmt_column_text(st, 1),
				      "kind", kc_stmt_column_text(st, 2), "build_id",
				      kc_stmt_column_text(st, 3), "pcs", (json_int_t)n);

		pcs += n;
		if (o && kc_stmt_column_type(st, 4) != KC_SQL_NULL) {
			roaring_bitmap_t *pts = kc_db_column_bitmap(st, 6);
			uint64_t hit, miss;

			if (!pts) {
				json_decref(o);
				kc_err_set(err, KC_E_INTERNAL, "stored points are corrupt");
				goto out;
			}
			hit = cov ? roaring_bitmap_and_cardinality(cov, pts) : 0;
			miss = n - hit;
			unmatched += miss;
			kc_bitmap_free(pts);
			json_object_set_new(o, "imported", json_true());
			json_object_set_new(o, "points", json_integer(kc_stmt_column_int64(st, 5)));
			json_object_set_new(o, "covered_points", json_integer((json_int_t)hit));
			json_object_set_new(o, "unmatched_pcs", json_integer((json_int_t)miss));
		} else if (o) {
			unimported += n;
			json_object_set_new(o, "imported", json_false());
			json_object_set_new(o, "points", json_null());
			json_object_set_new(o, "covered_points", json_null());
			json_object_set_new(o, "unmatched_pcs", json_null());
		}
		json_array_append_new(arr, o);
	}
	if (rc < 0)
		goto out;
	kc_stmt_finalize(st);
	st = kc_db_prepare(q->db, "SELECT id, points, bits FROM images WHERE build = ?", err);
	if (!st) {
		err->code = KC_E_INTERNAL;
		goto out;
	}
	kc_stmt_bind_int64(st, 1, q->build);
	while ((rc = kc_db_step(q->db, st, err)) == KC_ROW) {
		const roaring_bitmap_t *cov = cq_covset_get(&q->img, kc_stmt_column_int64(st, 0));
		roaring_bitmap_t *pts = kc_db_column_bitmap(st, 2);

		if (!pts) {
			kc_err_set(err, KC_E_INTERNAL, "stored points are corrupt");
			goto out;
		}
		points += (uint64_t)kc_stmt_column_int64(st, 1);
		covered += cov ? roaring_bitmap_and_cardinality(cov, pts) : 0;
		kc_bitmap_free(pts);
	}
	if (rc < 0)
		goto out;
	out = cq_base_object(q);
	json_object_set_new(out, "imported", json_boolean(q->imported));
	json_object_set_new(out, "pcs", json_integer((json_int_t)pcs));
	json_object_set_new(out, "points", json_integer((json_int_t)points));
	json_object_set_new(out, "covered_points", json_integer((json_int_t)covered));
	json_object_set_new(out, "unmatched_pcs", json_integer((json_int_t)unmatched));
	json_object_set_new(out, "pcs_not_imported", json_integer((json_int_t)unimported));
	json_object_set(out, "binaries", arr);
	if (q->merge && cq_merge_summary(q, out, err) < 0) {
		json_decref(out);
		out = NULL;
	}
out:
	kc_stmt_finalize(st);
	cq_covset_release(&bin);
	json_decref(arr);
	return out;
}
