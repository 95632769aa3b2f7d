-- 013: per (binary, day) the union of every label's coverage rows of the
-- day, as a base row plus delta rows like coverage's, so that a day window
-- without a label filter (history, since=/until= without label=) reads one
-- row set per binary and day instead of one per label. The writer keeps it
-- (server/store/store.c) and, after each commit's rows, sets
-- coverage_days.union_stamp to the day's stamp. Every other path that
-- writes or removes per-day rows (gc, build delete, a fixture writing rows
-- directly) moves the stamp through 012's triggers and leaves union_stamp
-- behind: readers then take that day's per-label rows, and the writer
-- rebuilds the union from them the next time it writes the day. Existing
-- days start stale (-1) and are read per label until then.
CREATE TABLE coverage_day_unions (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  day INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, day, seq)
) WITHOUT ROWID;

ALTER TABLE coverage_days ADD COLUMN union_stamp INTEGER NOT NULL DEFAULT -1;
