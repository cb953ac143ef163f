-- Google Wallet sync (SPEC 13). Times in Unix milliseconds.
--
-- The sync outbox: what Google has to be told, one row per class (a template) or object (a
-- pass). Only ids are kept: the worker maps the template or pass as it is when it sends, so a
-- second change before the send collapses into the waiting row (UNIQUE (kind, target_id)) and
-- only the latest version reaches Google. Rows are queued in the transaction of the change they
-- report, and only while Google Wallet is configured.
-- generation: bumped by every enqueue and every claim, so a worker finishing a send deletes the
-- row only when nothing happened to it meanwhile (a change arriving mid-flight stays queued).
-- failed_at: set when Google refused the write for good (a 400, …); the row stays, parked, as
-- the record of the failure until the next change of its class or object queues it again.
CREATE TABLE google_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,                      -- 'class' or 'object'
    target_id     TEXT NOT NULL,                      -- template id (class) or pass id (object)
    template_id   TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    generation    INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER,
    last_error    TEXT,
    failed_at     INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (kind, target_id)
);
CREATE INDEX google_outbox_by_due ON google_outbox (due_at);
CREATE INDEX google_outbox_by_template ON google_outbox (template_id);
