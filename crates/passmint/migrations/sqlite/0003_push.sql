-- Push worker state (SPEC 4).
-- generation: bumped by every enqueue and every claim, so a worker finishing a push deletes the row
-- only when nothing happened to it meanwhile (an update arriving mid-flight leaves it due).
ALTER TABLE push_outbox ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- A template whose certificate APNs refused (403): its pushes wait until the template is replaced
-- with other signing material (the stored certificate then differs from signer_cert_der here).
CREATE TABLE push_pauses (
    template_id     TEXT PRIMARY KEY REFERENCES templates (id) ON DELETE CASCADE,
    signer_cert_der BLOB NOT NULL,
    reason          TEXT NOT NULL,
    paused_at       INTEGER NOT NULL
);
