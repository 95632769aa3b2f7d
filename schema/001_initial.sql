-- 001: machines, builds, binaries, boots, reports and merged coverage.
-- Addresses are stored as SQLite INTEGERs holding the two's-complement
-- reinterpretation of the unsigned 64-bit value.

CREATE TABLE tokens (
  id TEXT PRIMARY KEY,              -- public part of the token (hex)
  name TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('push', 'read', 'admin')),
  salt BLOB NOT NULL,               -- 16 random bytes
  hash BLOB NOT NULL,               -- BLAKE2b-256(secret, key = salt)
  created INTEGER NOT NULL
);

CREATE TABLE machines (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_seen INTEGER NOT NULL,
  last_push INTEGER,
  reports INTEGER NOT NULL DEFAULT 0,
  pcs INTEGER NOT NULL DEFAULT 0,          -- PCs received (sum over reports)
  unknown_pcs INTEGER NOT NULL DEFAULT 0   -- PCs that fell in no known region
);

-- A kernel build, keyed by the vmlinux GNU build id.
CREATE TABLE builds (
  id INTEGER PRIMARY KEY,
  build_id TEXT NOT NULL UNIQUE,
  release TEXT NOT NULL DEFAULT '',
  link_text INTEGER,                       -- link-time _text; NULL until known
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);

-- Binaries of a build whose coverage is kept: its vmlinux and its modules.
CREATE TABLE binaries (
  id INTEGER PRIMARY KEY,
  build INTEGER NOT NULL REFERENCES builds(id),
  kind TEXT NOT NULL CHECK (kind IN ('vmlinux', 'module')),
  name TEXT NOT NULL,
  build_id TEXT NOT NULL DEFAULT '',
  UNIQUE (build, name, build_id)
);

CREATE TABLE boots (
  id INTEGER PRIMARY KEY,
  machine INTEGER NOT NULL REFERENCES machines(id),
  boot_id TEXT NOT NULL,
  build INTEGER NOT NULL REFERENCES builds(id),
  release TEXT NOT NULL DEFAULT '',
  text_start INTEGER NOT NULL,
  text_end INTEGER NOT NULL,
  link_text INTEGER NOT NULL,              -- as the collector assumed it
  first_seen INTEGER NOT NULL,
  UNIQUE (machine, boot_id)
);

CREATE TABLE boot_modules (
  boot INTEGER NOT NULL REFERENCES boots(id),
  name TEXT NOT NULL,
  binary INTEGER NOT NULL REFERENCES binaries(id),
  core_base INTEGER NOT NULL,
  core_size INTEGER NOT NULL,
  text_addr INTEGER NOT NULL,
  PRIMARY KEY (boot, name)
) WITHOUT ROWID;

CREATE TABLE labels (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE reports (
  id INTEGER PRIMARY KEY,
  upload_id TEXT NOT NULL UNIQUE,
  machine INTEGER NOT NULL REFERENCES machines(id),
  boot INTEGER NOT NULL REFERENCES boots(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  received INTEGER NOT NULL,
  created INTEGER NOT NULL,
  pcs INTEGER NOT NULL,
  unknown_pcs INTEGER NOT NULL,
  runs INTEGER NOT NULL,
  overflowed_runs INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE INDEX reports_machine ON reports (machine, id);

-- Canonical coverage: offsets from the binary's text base (vmlinux: the
-- link-time _text; module: its .text), as CRoaring portable bitmaps.
-- day = days since 1970-01-01 (UTC) of receipt.
CREATE TABLE coverage (
  binary INTEGER NOT NULL REFERENCES binaries(id),
  label INTEGER NOT NULL REFERENCES labels(id),
  day INTEGER NOT NULL,
  bits BLOB NOT NULL,
  PRIMARY KEY (binary, label, day)
) WITHOUT ROWID;

-- The all-time union per binary (what most queries read).
CREATE TABLE coverage_total (
  binary INTEGER PRIMARY KEY REFERENCES binaries(id),
  bits BLOB NOT NULL
);
