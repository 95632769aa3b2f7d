-- 014: the tables whose rows carry large blobs become rowid tables with
-- their primary key as a separate index. In a WITHOUT ROWID table the whole
-- row is the key of its B-tree, and SQLite compares a search key against a
-- cell whose record overflows its page by first copying the whole record
-- (sqlite3BtreeIndexMoveto: "the whole cell needs to be parsed, a buffer
-- allocated and accessPayload() used to retrieve the record"): every seek
-- into coverage, whose rows are up to a few MiB, copied several such rows.
-- perf put a quarter of the writer's time there (bench/analysis.md,
-- "Rowid tables"). With a rowid table the index holds only the key columns
-- and the rowid, and a blob is read only when it is selected.
-- Same columns, keys and contents; 012's triggers are created again on the
-- new coverage table. Rows are copied, not re-inserted through the
-- triggers, so coverage_days' counts and stamps stay as they are.
CREATE TABLE coverage_new (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  day INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, label, day, seq)
);
INSERT INTO coverage_new (binary, label, day, seq, bits)
  SELECT binary, label, day, seq, bits FROM coverage ORDER BY binary, label, day, seq;
DROP TABLE coverage;
ALTER TABLE coverage_new RENAME TO coverage;

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

CREATE TABLE coverage_total_new (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  seq INTEGER NOT NULL DEFAULT 0,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, seq)
);
INSERT INTO coverage_total_new (binary, seq, bits)
  SELECT binary, seq, bits FROM coverage_total ORDER BY binary, seq;
DROP TABLE coverage_total;
ALTER TABLE coverage_total_new RENAME TO coverage_total;

CREATE TABLE coverage_day_unions_new (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  day INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, day, seq)
);
INSERT INTO coverage_day_unions_new (binary, day, seq, bits)
  SELECT binary, day, seq, bits FROM coverage_day_unions ORDER BY binary, day, seq;
DROP TABLE coverage_day_unions;
ALTER TABLE coverage_day_unions_new RENAME TO coverage_day_unions;

CREATE TABLE file_points_new (
  file INTEGER NOT NULL REFERENCES files(id),
  image INTEGER NOT NULL REFERENCES images(id),
  bits BLOB NOT NULL,                 -- point bits
  line_idx BLOB NOT NULL,             -- u32 per point: index into files.lines,
                                      -- 0xffffffff for line 0
  func_idx BLOB NOT NULL,             -- u32 per point: functions.idx, or
                                      -- 0xffffffff when no function of this file
  PRIMARY KEY (file, image)
);
INSERT INTO file_points_new (file, image, bits, line_idx, func_idx)
  SELECT file, image, bits, line_idx, func_idx FROM file_points ORDER BY file, image;
DROP TABLE file_points;
ALTER TABLE file_points_new RENAME TO file_points;

CREATE TABLE label_files_new (
  file INTEGER NOT NULL REFERENCES files(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  image INTEGER NOT NULL REFERENCES images(id),
  first_day INTEGER,
  last_day INTEGER,
  bits BLOB NOT NULL,
  PRIMARY KEY (file, label, image)
);
INSERT INTO label_files_new (file, label, image, first_day, last_day, bits)
  SELECT file, label, image, first_day, last_day, bits FROM label_files
  ORDER BY file, label, image;
DROP TABLE label_files;
ALTER TABLE label_files_new RENAME TO label_files;
