-- 009: subsystems of an imported build, as the MAINTAINERS file of its
-- source directory draws them (server/build/maintainers.c, with the rules
-- of the kernel's scripts/get_maintainer.pl). Written by build import
-- beside files (a re-import replaces them); read by server/query/ for
-- GET .../subsystems and the subsystem= filter (docs/api-coverage.md).

-- One MAINTAINERS section name that holds at least one file of the build
-- (sections sharing a name are one subsystem).
CREATE TABLE subsystems (
  id INTEGER PRIMARY KEY,
  build INTEGER NOT NULL REFERENCES builds(id),
  name TEXT NOT NULL,
  files INTEGER NOT NULL,             -- files of the build in it
  UNIQUE (build, name)
);

-- Which subsystems a file is in (any number, also none).
CREATE TABLE file_subsystems (
  subsystem INTEGER NOT NULL REFERENCES subsystems(id),
  file INTEGER NOT NULL REFERENCES files(id),
  PRIMARY KEY (subsystem, file)
) WITHOUT ROWID;
CREATE INDEX file_subsystems_file ON file_subsystems (file);

-- NULL: the import read no MAINTAINERS (no --source, or none in it);
-- else the number of subsystems (distinct section names) the file has.
ALTER TABLE build_imports ADD COLUMN maintainers INTEGER;
