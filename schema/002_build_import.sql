-- 002: imported kernel builds: the coverage points of each binary image,
-- grouped by source file, and the functions of each file
-- (server/import.c writes them, server/covquery.c reads them).
--
-- Bitmaps are CRoaring portable bitmaps of "point bits": the call-site
-- offset of a coverage point + 5, i.e. the canonical PC kcov reports, so a
-- point is covered iff its bit is set in the coverage bitmaps of 001.
-- Per-point arrays are little-endian u32 arrays in the bitmap's ascending
-- order (element i describes the i-th set bit).

-- One symbolized binary of an imported build: 'vmlinux' or a module name.
-- Its coverage is the coverage of every binaries row of the same build,
-- kind and name whose build_id equals this one or is '' (unknown).
CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  build INTEGER NOT NULL REFERENCES builds(id),
  kind TEXT NOT NULL CHECK (kind IN ('vmlinux', 'module')),
  name TEXT NOT NULL,
  build_id TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL,                 -- the file it was imported from
  text_base INTEGER NOT NULL,         -- symtab text_base (vmlinux _text, module 0)
  points INTEGER NOT NULL,
  skipped_points INTEGER NOT NULL,    -- call sites outside .text (modules)
  unresolved_points INTEGER NOT NULL, -- points without a source line
  bits BLOB NOT NULL,                 -- every point bit of the image
  UNIQUE (build, kind, name)
);

-- When and how a build was imported.
CREATE TABLE build_imports (
  build INTEGER PRIMARY KEY REFERENCES builds(id),
  imported INTEGER NOT NULL,          -- unix time
  vmlinux TEXT NOT NULL,
  modules_dir TEXT,
  source_dir TEXT,
  files INTEGER NOT NULL,
  functions INTEGER NOT NULL,
  points INTEGER NOT NULL
);

-- Source files of a build that hold at least one point.
CREATE TABLE files (
  id INTEGER PRIMARY KEY,
  build INTEGER NOT NULL REFERENCES builds(id),
  path TEXT NOT NULL,                 -- normalized (docs/symbolization.md)
  points INTEGER NOT NULL,
  nlines INTEGER NOT NULL,            -- instrumented lines (lines with points)
  nfuncs INTEGER NOT NULL,
  lines BLOB NOT NULL,                -- u32 sorted distinct instrumented lines
  source BLOB,                        -- text, when imported with a source dir
  UNIQUE (build, path)
);

-- Functions declared in a file that own at least one point of that file.
-- idx is the function's index within its file (order of line_start, name).
CREATE TABLE functions (
  id INTEGER PRIMARY KEY,
  file INTEGER NOT NULL REFERENCES files(id),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  line_start INTEGER NOT NULL,
  line_end INTEGER NOT NULL,
  points INTEGER NOT NULL,
  UNIQUE (file, idx)
);

-- The points of one file in one image.
CREATE TABLE file_points (
  file INTEGER NOT NULL REFERENCES files(id),
  image INTEGER NOT NULL REFERENCES images(id),
  bits BLOB NOT NULL,                 -- point bits
  line_idx BLOB NOT NULL,             -- u32 per point: index into files.lines,
                                      -- 0xffffffff for line 0
  func_idx BLOB NOT NULL,             -- u32 per point: functions.idx, or
                                      -- 0xffffffff when no function of this file
  PRIMARY KEY (file, image)
) WITHOUT ROWID;
