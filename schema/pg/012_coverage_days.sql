-- 012 (PostgreSQL): per (day, binary) the number of coverage rows and a
-- stamp moved by every insert or delete of one, as
-- schema/012_coverage_days.sql, kept by one trigger function. Two nodes
-- writing rows of the same (day, binary) in concurrent transactions wait
-- for each other on that row until the first commits.
CREATE TABLE coverage_days (
  day BIGINT NOT NULL,
  "binary" BIGINT NOT NULL,
  nrows BIGINT NOT NULL,
  stamp BIGINT NOT NULL,
  PRIMARY KEY (day, "binary")
);

INSERT INTO coverage_days (day, "binary", nrows, stamp)
  SELECT day, "binary", count(*), 1 FROM coverage WHERE day >= 0 GROUP BY day, "binary";

CREATE FUNCTION coverage_days_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.day >= 0 THEN
    UPDATE coverage_days SET nrows = nrows - 1, stamp = stamp + 1
      WHERE day = OLD.day AND "binary" = OLD."binary";
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.day >= 0 THEN
    INSERT INTO coverage_days (day, "binary", nrows, stamp) VALUES (NEW.day, NEW."binary", 1, 1)
      ON CONFLICT (day, "binary") DO UPDATE
      SET nrows = coverage_days.nrows + 1, stamp = coverage_days.stamp + 1;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER coverage_days_bump AFTER INSERT OR UPDATE OR DELETE ON coverage
  FOR EACH ROW EXECUTE FUNCTION coverage_days_bump();
