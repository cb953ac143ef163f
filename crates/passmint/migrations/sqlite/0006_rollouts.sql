-- Template rollouts (SPEC 7, issue 10). A template PUT writes the new revision and one rollout
-- row in the same transaction; a background worker walks the template's passes in seq order,
-- re-rendering each whose fingerprint is from an older revision, and moves `cursor_seq` (the
-- last pass seq done) forward in the same transaction as each batch's writes, so a crash
-- resumes after the last committed batch and no batch is ever written twice.
CREATE TABLE rollouts (
    id              TEXT PRIMARY KEY,                          -- UUID
    template_id     TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    revision        INTEGER NOT NULL,                           -- the template revision rolled out
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'superseded')),
    passes_total    INTEGER NOT NULL,                           -- passes when the PUT committed
    passes_checked  INTEGER NOT NULL DEFAULT 0,
    passes_updated  INTEGER NOT NULL DEFAULT 0,
    passes_failed   INTEGER NOT NULL DEFAULT 0,                 -- no longer render (payload lacks a value)
    cursor_seq      INTEGER NOT NULL DEFAULT 0,                 -- passes.seq of the last pass done
    lease_owner     TEXT,                                      -- the worker holding it, until lease_until
    lease_until     INTEGER,
    request_id      TEXT NOT NULL,                             -- the PUT's, for the end event
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (template_id, revision)
);
-- The worker's claim looks only at running rollouts.
CREATE INDEX rollouts_running ON rollouts (started_at) WHERE status = 'running';

-- The template revision a pass's fingerprint was rendered from: a rollout skips passes already
-- rendered from its revision (or a newer one), and a PATCH records the revision it rendered
-- with (checked against the template inside its transaction, so it can't land an old
-- rendering after the rollout went past the pass).
ALTER TABLE passes ADD COLUMN fingerprint_revision INTEGER NOT NULL DEFAULT 0;
UPDATE passes SET fingerprint_revision = (SELECT t.revision FROM templates t WHERE t.id = passes.template_id);
