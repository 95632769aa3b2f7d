-- 006: per label, the union of its completed days, stored in `coverage`
-- under day -1 (same base + delta rows as any other key). Past days never
-- change (a report counts on the UTC day it was received), so the store
-- folds a label's days before `upto` into that union once per day, when the
-- label's first report of a new day arrives. A label's coverage over all
-- days is its day -1 union plus its rows of days >= upto (no label_unions
-- row: upto 0). Queries without a day window then read one union and
-- today's rows per label instead of one row per day; "which labels covered
-- this line" reads one union per label.
CREATE TABLE label_unions (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  upto INTEGER NOT NULL,
  PRIMARY KEY (binary, label)
) WITHOUT ROWID;

INSERT INTO coverage (binary, label, day, seq, bits)
  SELECT binary, label, -1, 0, kc_roaring_or(bits) FROM coverage
  WHERE day >= 0 AND day < CAST(strftime('%s', 'now') AS INTEGER) / 86400
  GROUP BY binary, label;
INSERT INTO label_unions (binary, label, upto)
  SELECT binary, label, CAST(strftime('%s', 'now') AS INTEGER) / 86400 FROM coverage
  WHERE day = -1 GROUP BY binary, label;
