-- 011: per kcovd node, how often it changed coverage and imported builds
-- (server/store/nodes.c). A node's writer adds to its own row in the
-- transaction that commits the change; every node polls the sums and
-- drops its read caches when they moved (docs/scale-out.md). One row per
-- node, so nodes never wait for each other on this table. On SQLite (one
-- node per database file) it is written the same way and costs one row.
CREATE TABLE node_generations (
  node TEXT PRIMARY KEY,              -- host name, pid and start time of a node
  coverage INTEGER NOT NULL DEFAULT 0,
  builds INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL            -- unix seconds of the last change
);
