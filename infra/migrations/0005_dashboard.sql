-- Dashboard sign-ins: a session cookie stands for a token until it expires, is signed out, or its
-- token is revoked (every request reads the token again). Only the cookie's SHA-256 is stored;
-- `csrf` is the value every form and every cookie-authenticated write must carry back.
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  token_id TEXT NOT NULL REFERENCES tokens (id),
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
-- The dashboard's list of every job, newest first: read from the index's end, not sorted.
CREATE INDEX jobs_created ON jobs (created_at);
