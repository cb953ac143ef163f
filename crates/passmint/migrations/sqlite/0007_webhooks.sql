-- Webhooks (SPEC 10, issue 14). Times in Unix milliseconds unless named otherwise.

-- A receiver. The signing secret is sealed under the master key (AES-256-GCM, the webhook id as
-- associated data), like the templates' signing keys; it is shown once, on create.
CREATE TABLE webhooks (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, cursor key
    id            TEXT NOT NULL UNIQUE,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,                      -- JSON array as given (["*"] for all)
    template_id   TEXT,                               -- only events of this template, if set
    description   TEXT,
    secret_sealed BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Which event types each webhook receives ('*' for all): what the queueing INSERT … SELECT joins.
CREATE TABLE webhook_subscriptions (
    event_type TEXT NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (event_type, webhook_id)
);
CREATE INDEX webhook_subscriptions_by_webhook ON webhook_subscriptions (webhook_id);

-- The body of an event some webhook still has to receive (ids and counts only, never a token,
-- key or payload value). Removed once no delivery of it is queued.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    template_id TEXT,
    created_at  INTEGER NOT NULL,
    data        TEXT NOT NULL
);

-- The delivery outbox: one row per (event, webhook) until delivered or given up.
CREATE TABLE webhook_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL,
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER,                            -- lease of the worker sending it
    created_at    INTEGER NOT NULL,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_outbox_by_due ON webhook_outbox (due_at);
CREATE INDEX webhook_outbox_by_event ON webhook_outbox (event_id);
-- Claims go webhook by webhook (a slow receiver never holds up the others' rows).
CREATE INDEX webhook_outbox_by_webhook_due ON webhook_outbox (webhook_id, due_at);

-- Every attempt, as GET /v2/webhooks/{id}/deliveries shows it (capped, oldest pruned).
CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status          INTEGER,                          -- HTTP status, NULL when none came
    error           TEXT,
    duration_ms     INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    next_attempt_at INTEGER                           -- NULL: delivered or given up
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);

-- Passes with at least one registration, as far as webhooks were told: pass.installed is sent
-- when a row is inserted here, pass.uninstalled when it is deleted, so each transition is
-- reported once even when registrations race (the primary key serialises them).
CREATE TABLE pass_installs (
    pass_id      TEXT PRIMARY KEY REFERENCES passes (id) ON DELETE CASCADE,
    installed_at INTEGER NOT NULL
);
INSERT INTO pass_installs (pass_id, installed_at)
    SELECT DISTINCT pass_id, 0 FROM registrations;

-- Certificate warnings already queued, per template and certificate expiry: never twice.
-- warning: '30', '7', '1' (days ahead) or 'expired'.
CREATE TABLE certificate_warnings (
    template_id TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,                     -- Unix seconds, the certificate's notAfter
    warning     TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (template_id, expires_at, warning)
);

-- When each periodic job last ran (the daily certificate sweep), so a restart does not rerun it
-- early and several servers run it once between them.
CREATE TABLE job_runs (
    name        TEXT PRIMARY KEY,
    last_run_at INTEGER NOT NULL
);
