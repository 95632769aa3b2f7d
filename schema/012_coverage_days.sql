-- 012: per (day, binary) how many coverage rows the day holds and a stamp
-- that moves whenever one of them is inserted or deleted (the history
-- cache's key, server/query/history.c). Kept by triggers, so every path
-- that writes or removes per-day rows maintains it: the writer (late
-- reports under the day-taken rule too), folding, gc, build delete and
-- import. Rows are never deleted (a stamp must never come back to a value
-- a cache has seen); a day emptied by gc keeps nrows = 0. Day -1 (the
-- label unions) is not a day and is not counted.
CREATE TABLE coverage_days (
  day INTEGER NOT NULL,
  binary INTEGER NOT NULL,
  nrows INTEGER NOT NULL,
  stamp INTEGER NOT NULL,
  PRIMARY KEY (day, binary)
) WITHOUT ROWID;

INSERT INTO coverage_days (day, binary, nrows, stamp)
  SELECT day, binary, count(*), 1 FROM coverage WHERE day >= 0 GROUP BY day, binary;

CREATE TRIGGER coverage_days_insert AFTER INSERT ON coverage WHEN NEW.day >= 0
BEGIN
  INSERT INTO coverage_days (day, binary, nrows, stamp) VALUES (NEW.day, NEW.binary, 1, 1)
    ON CONFLICT (day, binary) DO UPDATE SET nrows = nrows + 1, stamp = stamp + 1;
END;

CREATE TRIGGER coverage_days_delete AFTER DELETE ON coverage WHEN OLD.day >= 0
BEGIN
  UPDATE coverage_days SET nrows = nrows - 1, stamp = stamp + 1
    WHERE day = OLD.day AND binary = OLD.binary;
END;

CREATE TRIGGER coverage_days_update AFTER UPDATE ON coverage WHEN OLD.day >= 0 OR NEW.day >= 0
BEGIN
  UPDATE coverage_days SET nrows = nrows - 1, stamp = stamp + 1
    WHERE OLD.day >= 0 AND day = OLD.day AND binary = OLD.binary;
  INSERT INTO coverage_days (day, binary, nrows, stamp)
    SELECT NEW.day, NEW.binary, 1, 1 WHERE NEW.day >= 0
    ON CONFLICT (day, binary) DO UPDATE SET nrows = nrows + 1, stamp = stamp + 1;
END;
