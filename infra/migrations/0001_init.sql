-- berth store schema. Plain SQLite that better-sqlite3 and Cloudflare D1 both accept: no PRAGMA
-- (the Node store sets its own at open; D1 manages them), timestamps as ISO-8601 TEXT so they
-- sort as strings, JSON as TEXT. The migration runner records applied files itself
-- (`migrations` in Node, `d1_migrations` under wrangler), so no bookkeeping table here.

CREATE TABLE jobs (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,
  cluster         TEXT NOT NULL,
  spec            TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN (
                    'queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'
                  )),
  created_at      TEXT NOT NULL,
  started_at      TEXT,
  finished_at     TEXT,
  requested_by    TEXT NOT NULL,
  source          TEXT,
  idempotency_key TEXT,
  body_hash       TEXT,
  result          TEXT,
  exit_code       INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_cluster_created ON jobs (cluster, created_at);
CREATE INDEX jobs_state ON jobs (state);
-- Many jobs carry no key; the ones that do must be unique (retried webhook deliveries).
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_events (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq    INTEGER NOT NULL,
  at     TEXT NOT NULL,
  event  TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);

CREATE TABLE tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  hash         TEXT NOT NULL UNIQUE,
  scopes       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  revoked_at   TEXT,
  last_used_at TEXT
);

-- AUTOINCREMENT so an id is never reused after a delete: the id is the paging cursor.
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  source  TEXT,
  action  TEXT NOT NULL,
  target  TEXT,
  outcome TEXT NOT NULL,
  detail  TEXT
);

CREATE TABLE topologies (
  name       TEXT PRIMARY KEY,
  text       TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL
);

-- Filled in by the schedules issue; created now so that issue needs no second migration for it.
CREATE TABLE schedules (
  name        TEXT PRIMARY KEY,
  cluster     TEXT NOT NULL,
  cron        TEXT NOT NULL,
  keep        INTEGER,
  tz          TEXT,
  enabled     INTEGER NOT NULL DEFAULT 1,
  last_run_at TEXT
);
