-- 006 (PostgreSQL): per label, the union of its completed days, as
-- schema/006_label_unions.sql. SQLite's migration also folds the days
-- already stored with its kc_roaring_or aggregate; PostgreSQL has no such
-- aggregate (no server extension), and none is needed: a key without a
-- label_unions row has upto 0, so its coverage is all its day rows, which
-- is exact; the writer folds the completed days (client side) at the
-- label's first report of the next day.
CREATE TABLE label_unions (
  "binary" BIGINT NOT NULL REFERENCES binaries(id),
  label BIGINT NOT NULL REFERENCES labels(id),
  upto BIGINT NOT NULL,
  PRIMARY KEY ("binary", label)
);
