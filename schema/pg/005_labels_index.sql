-- 005 (PostgreSQL): as schema/005_labels_index.sql.
CREATE INDEX reports_label ON reports (label, received);
