/*
 * nodes.h - what several kcovd nodes on one database need from each other
 * (docs/scale-out.md): locks on coverage keys, so that two writers never
 * lose each other's bits in a union, and a generation in the database, so
 * that a node drops its read caches when another node changed coverage or
 * imported a build.
 */
#ifndef KC_NODES_H
#define KC_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sql.h"

/* The lock key of a coverage union: (binary, label, day) of the coverage
 * table, or (binary, -1, 0) for coverage_total. Different keys may share
 * a lock key (a hash): that only serializes more, never less. */
int64_t kc_nodes_union_key(int64_t binary, int64_t label, int64_t day);

/* Inside a transaction on conn: take the locks of keys (n of them; the
 * array is sorted in place, so that every node takes its locks in the same
 * order and two batches cannot deadlock), each held until the transaction
 * ends. PostgreSQL: pg_advisory_xact_lock, waiting for another node's
 * transaction holding the key; SQLite (one writer per database file):
 * nothing to do. Returns 0, or -1 with err filled. */
int kc_nodes_lock_keys(struct kc_sql *conn, int64_t *keys, size_t n, struct kc_err *err);

/* The database's generation: sums over every node's row of
 * node_generations (schema 010), and how many rows there are. It changes
 * whenever any node bumps its row. */
struct kc_generation {
	int64_t coverage, builds, nodes;
};

/* Read the generation (one small query; nodes poll it). */
int kc_nodes_generation(struct kc_sql *conn, struct kc_generation *gen, struct kc_err *err);

/* Whether two generations are the same (no node changed anything). */
int kc_nodes_generation_same(const struct kc_generation *a, const struct kc_generation *b);

/* Add coverage and builds to node's row (made on first use), in the
 * caller's transaction when there is one, so the bump commits with the
 * change it announces. now: unix seconds. Returns 0, or -1 with err. */
int kc_nodes_bump(struct kc_sql *conn, const char *node, int64_t coverage, int64_t builds,
		  int64_t now, struct kc_err *err);

#endif
