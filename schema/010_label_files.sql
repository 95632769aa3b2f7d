-- 010: the label index: which labels covered each file of an imported
-- build, so that "which labels covered this file" over all days reads one
-- small row per label instead of each label's whole coverage.
-- Per (file, label, image): the point bits of the file in that image that
-- the label covered on any day (the OR of all its coverage rows, which is
-- what its union of completed days plus its later rows hold), and the first
-- and last day >= 0 whose per-day rows cover any of them (NULL when no kept
-- per-day row does: retention deleted those days). A row exists only when
-- the label covered a point of the file.
-- Derived data (server/store/labelidx.c): the writer adds each batch's new
-- bits of a (binary, label, day), import and retention recompute a build
-- from the coverage rows. label_files_built lists the builds whose index is
-- complete; kcovd computes a missing one at start, and queries of a build
-- without it read the coverage rows as before. The migration adds no row,
-- so existing databases are indexed at the first start.
CREATE TABLE label_files (
  file INTEGER NOT NULL REFERENCES files(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  image INTEGER NOT NULL REFERENCES images(id),
  first_day INTEGER,
  last_day INTEGER,
  bits BLOB NOT NULL,
  PRIMARY KEY (file, label, image)
) WITHOUT ROWID;

CREATE TABLE label_files_built (
  build INTEGER PRIMARY KEY REFERENCES builds(id)
);
