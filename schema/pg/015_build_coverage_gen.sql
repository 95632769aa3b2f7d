-- 015 (PostgreSQL): as schema/015_build_coverage_gen.sql.
ALTER TABLE builds ADD COLUMN coverage_gen BIGINT NOT NULL DEFAULT 0;
