-- 003 (PostgreSQL): fleet overflow statistics, as schema/003_overflow.sql.
CREATE TABLE overflow_daily (
  day BIGINT NOT NULL,
  machine BIGINT NOT NULL REFERENCES machines(id),
  build BIGINT NOT NULL REFERENCES builds(id),
  label BIGINT NOT NULL REFERENCES labels(id),
  mode BIGINT NOT NULL,
  workload TEXT NOT NULL,
  runs BIGINT NOT NULL,
  overflowed BIGINT NOT NULL,
  remote_runs BIGINT NOT NULL,
  remote_overflowed BIGINT NOT NULL,
  fill BYTEA NOT NULL,
  PRIMARY KEY (day, machine, build, label, mode, workload)
);
