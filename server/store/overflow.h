/*
 * overflow.h - fleet overflow statistics: folding each report's runs into
 * daily rollups at ingest, and answering grouped queries over them.
 * docs/overflow-stats.md defines every figure.
 */
#ifndef KC_OVERFLOW_H
#define KC_OVERFLOW_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "sql.h"
#include "wire.h"

#define KC_FILL_BUCKETS 101

/* Fold the runs of r into overflow_daily (writer thread, inside its
 * transaction). */
int kc_overflow_record(struct kc_sql *db, int64_t day, int64_t machine, int64_t build, int64_t label,
		       const struct kc_report *r, struct kc_err *err) KC_MUST_CHECK;

/* Retention: fold every overflow_daily row of a day before cutoff into the
 * row of the first day of its month (same machine, build, label, mode and
 * workload; counts and fill buckets add up), so all-time and per-month
 * figures do not change while the row count stops growing with days.
 * *rolled receives the number of day rows folded away. Inside the caller's
 * transaction. */
int kc_overflow_rollup(struct kc_sql *db, int64_t cutoff, int64_t *rolled,
		       struct kc_err *err) KC_MUST_CHECK;

struct kc_overflow_query {
	const char *group[2]; /* up to two of machine, build, label, mode, workload, day */
	int ngroup;
	int64_t since, until; /* days, inclusive; INT64_MIN/INT64_MAX = open */
	int64_t limit;        /* groups returned, worst rate first (day: by day) */
};

/* Run q and return the JSON answer (new reference) or NULL with err set;
 * err->code KC_E_BAD_INPUT marks a bad query. */
json_t *kc_overflow_query(struct kc_sql *db, const struct kc_overflow_query *q, struct kc_err *err);

#endif
