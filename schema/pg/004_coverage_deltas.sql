-- 004 (PostgreSQL): coverage unions as a base row plus delta rows, as
-- schema/004_coverage_deltas.sql (same column order: the table is made
-- again). Several nodes add delta rows of one key under that key's
-- advisory transaction lock (docs/scale-out.md), so rows of a key stay
-- disjoint and no node's bits are lost.
CREATE TABLE coverage_new (
  "binary" BIGINT NOT NULL REFERENCES binaries(id),
  label BIGINT NOT NULL REFERENCES labels(id),
  day BIGINT NOT NULL,
  seq BIGINT NOT NULL DEFAULT 0,
  bits BYTEA NOT NULL,
  PRIMARY KEY ("binary", label, day, seq)
);
INSERT INTO coverage_new ("binary", label, day, seq, bits)
  SELECT "binary", label, day, 0, bits FROM coverage;
DROP TABLE coverage;
ALTER TABLE coverage_new RENAME TO coverage;
ALTER TABLE coverage RENAME CONSTRAINT coverage_new_pkey TO coverage_pkey;

CREATE TABLE coverage_total_new (
  "binary" BIGINT NOT NULL REFERENCES binaries(id),
  seq BIGINT NOT NULL DEFAULT 0,
  bits BYTEA NOT NULL,
  PRIMARY KEY ("binary", seq)
);
INSERT INTO coverage_total_new ("binary", seq, bits) SELECT "binary", 0, bits FROM coverage_total;
DROP TABLE coverage_total;
ALTER TABLE coverage_total_new RENAME TO coverage_total;
ALTER TABLE coverage_total RENAME CONSTRAINT coverage_total_new_pkey TO coverage_total_pkey;
