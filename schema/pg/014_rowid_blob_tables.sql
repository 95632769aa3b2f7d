-- 014: nothing to do on PostgreSQL. SQLite's 014 turns its WITHOUT ROWID
-- blob tables into rowid tables (a seek there copied whole overflowing
-- rows); PostgreSQL's tables are heaps with a separate primary key index
-- already. Kept so that both backends number their migrations alike.
SELECT 1;
