-- 003: fleet overflow statistics. Runs are not kept one row each: every
-- run of a report is folded into the row of its (day, machine, build,
-- label, mode, workload) at ingest. Rows are kept forever (their number
-- grows with distinct workloads per day, not with runs).
CREATE TABLE overflow_daily (
  day INTEGER NOT NULL,                    -- UTC days since 1970-01-01 of receipt
  machine INTEGER NOT NULL REFERENCES machines(id),
  build INTEGER NOT NULL REFERENCES builds(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  mode INTEGER NOT NULL,                   -- 1 unique, 2 trace
  workload TEXT NOT NULL,
  runs INTEGER NOT NULL,
  overflowed INTEGER NOT NULL,
  remote_runs INTEGER NOT NULL,            -- runs that used remote coverage
  remote_overflowed INTEGER NOT NULL,
  fill BLOB NOT NULL,                      -- 101 u32 LE: runs per fill percent (used*100/capacity)
  PRIMARY KEY (day, machine, build, label, mode, workload)
) WITHOUT ROWID;
