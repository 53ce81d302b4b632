-- Where to report a job that came from Slack or Jira, and how the reporting went. Reporting is
-- retried with backoff and never fails the job; its errors are kept here and shown with the job.
CREATE TABLE notifications (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  channel    TEXT NOT NULL CHECK (channel IN ('slack', 'jira')),
  target     TEXT NOT NULL,
  sent       TEXT NOT NULL DEFAULT '[]',
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX notifications_job ON notifications (job_id);
