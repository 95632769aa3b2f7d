-- 013 (PostgreSQL): per ("binary", day) the union of every label's coverage
-- rows of the day, as schema/013_day_unions.sql. Nodes add its delta rows
-- under the key's advisory transaction lock, as coverage's.
CREATE TABLE coverage_day_unions (
  "binary" BIGINT NOT NULL REFERENCES binaries(id),
  day BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  bits BYTEA NOT NULL,
  PRIMARY KEY ("binary", day, seq)
);

ALTER TABLE coverage_days ADD COLUMN union_stamp BIGINT NOT NULL DEFAULT -1;
