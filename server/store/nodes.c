/*
 * nodes.c - coverage key locks and the database generation shared by the
 * kcovd nodes of one database (nodes.h, docs/scale-out.md "Several nodes
 * on one PostgreSQL"). Written once over the storage interface; only the
 * lock differs per backend.
 */
#include "nodes.h"

#include <stdlib.h>

int64_t kc_nodes_union_key(int64_t binary, int64_t label, int64_t day)
{
	/* splitmix64's finalizer over the three fields. */
	uint64_t x = (uint64_t)binary * 0x9e3779b97f4a7c15u ^ (uint64_t)label * 0xbf58476d1ce4e5b9u ^
		     (uint64_t)day * 0x94d049bb133111ebu;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebu;
	x ^= x >> 31;
	return (int64_t)x;
}

static int cmp_key(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int kc_nodes_lock_keys(struct kc_sql *conn, int64_t *keys, size_t n, struct kc_err *err)
{
	struct kc_stmt *st;
	int ret = -1;

	if (kc_sql_backend(conn) != KC_SQL_PG || n == 0)
		return 0;
	qsort(keys, n, sizeof(*keys), cmp_key);
	st = kc_sql_prepare(conn, "SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))", err);
	if (!st)
		return kc_err_prefix(err, "locking coverage keys");
	for (size_t i = 0; i < n; i++) {
		if (i && keys[i] == keys[i - 1])
			continue;
		kc_stmt_reset(st);
		kc_stmt_bind_int64(st, 1, keys[i]);
		if (kc_stmt_step(st, err) != KC_ROW || kc_stmt_step(st, err) != KC_DONE) {
			kc_err_prefix(err, "locking coverage keys");
			goto out;
		}
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

int kc_nodes_generation(struct kc_sql *conn, struct kc_generation *gen, struct kc_err *err)
{
	struct kc_stmt *st = kc_sql_prepare(
		conn,
		"SELECT CAST(coalesce(sum(coverage), 0) AS BIGINT), "
		"CAST(coalesce(sum(builds), 0) AS BIGINT), count(*) FROM node_generations",
		err);
	int ret = -1;

	if (!st)
		return -1;
	if (kc_stmt_step(st, err) == KC_ROW) {
		gen->coverage = kc_stmt_column_int64(st, 0);
		gen->builds = kc_stmt_column_int64(st, 1);
		gen->nodes = kc_stmt_column_int64(st, 2);
		ret = kc_stmt_step(st, err) == KC_DONE ? 0 : -1;
	}
	kc_stmt_finalize(st);
	return ret;
}

int kc_nodes_generation_same(const struct kc_generation *a, const struct kc_generation *b)
{
	return a->coverage == b->coverage && a->builds == b->builds && a->nodes == b->nodes;
}

int kc_nodes_bump(struct kc_sql *conn, const char *node, int64_t coverage, int64_t builds,
		  int64_t now, struct kc_err *err)
{
	struct kc_stmt *st = kc_sql_prepare(
		conn,
		"INSERT INTO node_generations (node, coverage, builds, updated) VALUES (?, ?, ?, ?) "
		"ON CONFLICT (node) DO UPDATE SET "
		"coverage = node_generations.coverage + excluded.coverage, "
		"builds = node_generations.builds + excluded.builds, updated = excluded.updated",
		err);
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_text(st, 1, node, -1, KC_SQL_STATIC);
	kc_stmt_bind_int64(st, 2, coverage);
	kc_stmt_bind_int64(st, 3, builds);
	kc_stmt_bind_int64(st, 4, now);
	rc = kc_stmt_step(st, err);
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}
