-- 007: tokens with a lifecycle (docs/operations.md, "Tokens"): an expiry
-- set at creation, revocation (checked on every request, so it takes
-- effect at once on a running server), the last use and client address
-- (written at most once a minute per token), and an optional fnmatch
-- pattern of the machine names a push token may report for. The audit
-- table records every admin action (token add and revoke, build import).
ALTER TABLE tokens ADD COLUMN expires INTEGER;   -- unix seconds, NULL: never
ALTER TABLE tokens ADD COLUMN revoked INTEGER;   -- unix seconds, NULL: live
ALTER TABLE tokens ADD COLUMN last_used INTEGER; -- unix seconds, NULL: never used
ALTER TABLE tokens ADD COLUMN last_addr TEXT;    -- client address of that use
ALTER TABLE tokens ADD COLUMN machines TEXT;     -- fnmatch pattern, NULL: any machine

CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,       -- unix seconds
  actor TEXT NOT NULL,       -- "cli" or "token NAME (kc_ID)"
  action TEXT NOT NULL,      -- token.add, token.revoke, build.import
  target TEXT NOT NULL,      -- token name and id, vmlinux path
  detail TEXT NOT NULL DEFAULT ''
);
