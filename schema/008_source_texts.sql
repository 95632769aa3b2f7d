-- 008: source texts stored once per content (server/build/source.c). A
-- file's text is keyed by its git blob id (SHA-1 of "blob <len>\0" + text),
-- also for texts read from a --source directory, so 30 builds of one
-- kernel tree store each distinct file content once, and two builds' files
-- have the same content exactly when their text_id is the same.
-- files.source (002) stays for imports made before this migration; new
-- imports leave it NULL and set text_id.
CREATE TABLE source_texts (
  id INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,   -- git blob id, 40 lowercase hex digits
  text BLOB NOT NULL
);
ALTER TABLE files ADD COLUMN text_id INTEGER REFERENCES source_texts(id);
CREATE INDEX files_text ON files(text_id);

-- Where an import's sources came from: git repository and the commit id
-- its revision resolved to (source_dir of 002 for --source), and the
-- source root detected among the DWARF paths (NULL: none, or
-- --strip-prefix given).
ALTER TABLE build_imports ADD COLUMN source_git TEXT;
ALTER TABLE build_imports ADD COLUMN source_rev TEXT;
ALTER TABLE build_imports ADD COLUMN source_root TEXT;
