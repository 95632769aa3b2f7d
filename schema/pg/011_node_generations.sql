-- 011 (PostgreSQL): per kcovd node, how often it changed coverage and
-- imported builds, as schema/011_node_generations.sql.
CREATE TABLE node_generations (
  node TEXT PRIMARY KEY,
  coverage BIGINT NOT NULL DEFAULT 0,
  builds BIGINT NOT NULL DEFAULT 0,
  updated BIGINT NOT NULL
);
