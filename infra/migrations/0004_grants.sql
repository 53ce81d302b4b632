-- Grants per token: the clusters it may act on (names or globs, JSON) and its host-policy level
-- (NULL: the policy's default, privileged for admin tokens). Tokens made before keep every cluster.
ALTER TABLE tokens ADD COLUMN clusters TEXT NOT NULL DEFAULT '["*"]';
ALTER TABLE tokens ADD COLUMN level TEXT CHECK (level IN ('restricted', 'baseline', 'privileged'));
-- The per-caller cap on waiting jobs, and a replayed hook delivery found by its body.
CREATE INDEX jobs_requested_state ON jobs (requested_by, state);
CREATE INDEX jobs_requested_body ON jobs (requested_by, body_hash);
