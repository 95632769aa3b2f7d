-- 015: a counter per build that the writer increments in the transaction
-- that adds coverage to one of the build's binaries (server/store/store.c,
-- flush_merges). Query caches key a build's coverage on it
-- (server/query/covquery.c), so a report for one build no longer
-- invalidates the cached coverage of every other build.
ALTER TABLE builds ADD COLUMN coverage_gen INTEGER NOT NULL DEFAULT 0;
