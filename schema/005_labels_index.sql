-- GET /api/v1/labels counts each label's reports and finds its latest one:
-- an index range per label instead of a scan of every report.
CREATE INDEX reports_label ON reports (label, received);
