-- 004: coverage unions stored as a base row plus delta rows. A commit that
-- adds bits to a union inserts only the new bits (seq = previous max + 1)
-- instead of rewriting the whole bitmap; the writer folds the rows of a key
-- back into one (seq 0) when they grow past a bound. Rows of one key are
-- disjoint, and a key's union is the OR of its rows.
CREATE TABLE coverage_new (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  day INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, label, day, seq)
) WITHOUT ROWID;
INSERT INTO coverage_new (binary, label, day, seq, bits)
  SELECT binary, label, day, 0, bits FROM coverage;
DROP TABLE coverage;
ALTER TABLE coverage_new RENAME TO coverage;

CREATE TABLE coverage_total_new (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  seq INTEGER NOT NULL DEFAULT 0,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, seq)
) WITHOUT ROWID;
INSERT INTO coverage_total_new (binary, seq, bits) SELECT binary, 0, bits FROM coverage_total;
DROP TABLE coverage_total;
ALTER TABLE coverage_total_new RENAME TO coverage_total;
