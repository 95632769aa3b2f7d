-- 010 (PostgreSQL): the label index, as schema/010_label_files.sql.
CREATE TABLE label_files (
  file BIGINT NOT NULL REFERENCES files(id),
  label BIGINT NOT NULL REFERENCES labels(id),
  image BIGINT NOT NULL REFERENCES images(id),
  first_day BIGINT,
  last_day BIGINT,
  bits BYTEA NOT NULL,
  PRIMARY KEY (file, label, image)
);

CREATE TABLE label_files_built (
  build BIGINT PRIMARY KEY REFERENCES builds(id)
);
