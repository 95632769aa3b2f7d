-- 006: per label, the union over all days, stored in `coverage` under day -1
-- (same base + delta rows as any other key, written by the store with every
-- report). Queries without a day window read these rows instead of one row
-- per day: a label-filtered all-time query or "which labels covered this
-- line" then reads one union per label. Day windows (day >= 0) never see
-- them. Built here from the existing per-day rows.
INSERT INTO coverage (binary, label, day, seq, bits)
  SELECT binary, label, -1, 0, kc_roaring_or(bits) FROM coverage
  WHERE day >= 0 GROUP BY binary, label;
