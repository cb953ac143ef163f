-- passmint schema, SQLite flavour. Times are integers: *_at in Unix milliseconds,
-- last_modified in Unix seconds (HTTP dates have whole seconds). JSON is stored as text.

-- Monotonic counters (update tags); one row per counter, bumped inside the writing transaction.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('update_tag', 0);

CREATE TABLE templates (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT, -- creation order, cursor key
    id                     TEXT NOT NULL UNIQUE,              -- UUID
    name                   TEXT NOT NULL,
    file_name              TEXT NOT NULL,
    team_identifier        TEXT NOT NULL,
    pass_type_identifier   TEXT NOT NULL,
    template_zip           BLOB NOT NULL,                     -- the uploaded .zip, as checked
    signer_cert_der        BLOB NOT NULL,
    wwdr_der               BLOB NOT NULL,
    signer_key_sealed      BLOB NOT NULL,                     -- AES-256-GCM under the master key
    certificate_expires_at INTEGER NOT NULL,                  -- Unix seconds
    revision               INTEGER NOT NULL DEFAULT 1,        -- bumped on every replace
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);

CREATE TABLE passes (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    template_id          TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    pass_type_identifier TEXT NOT NULL,
    serial_number        TEXT NOT NULL,
    auth_token           TEXT NOT NULL,
    payload              TEXT NOT NULL,                      -- JSON object
    overrides            TEXT NOT NULL,                      -- JSON object
    voided               BOOLEAN NOT NULL DEFAULT FALSE,
    fingerprint          BLOB,                               -- SHA-256 of the rendered manifest
    update_tag           INTEGER NOT NULL,                   -- from counters.update_tag
    last_modified        INTEGER NOT NULL,                   -- Unix seconds, strictly increasing per pass
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (pass_type_identifier, serial_number)
);
CREATE INDEX passes_by_template ON passes (template_id, seq);

-- One row per (device, pass): Apple's registration, with the device's push token.
CREATE TABLE registrations (
    device_library_identifier TEXT NOT NULL,
    pass_id                   TEXT NOT NULL REFERENCES passes (id) ON DELETE CASCADE,
    pass_type_identifier      TEXT NOT NULL,                 -- copied from the pass for the device query
    push_token                TEXT NOT NULL,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    PRIMARY KEY (device_library_identifier, pass_id)
);
CREATE INDEX registrations_by_device_type ON registrations (device_library_identifier, pass_type_identifier);
CREATE INDEX registrations_by_pass ON registrations (pass_id);
CREATE INDEX registrations_by_push_token ON registrations (push_token);

-- Durable push queue: one row per (token, pass type) collapses repeated updates into one push.
CREATE TABLE push_outbox (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    push_token           TEXT NOT NULL,
    pass_type_identifier TEXT NOT NULL,
    template_id          TEXT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    due_at               INTEGER NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    claimed_until        INTEGER,
    created_at           INTEGER NOT NULL,
    UNIQUE (push_token, pass_type_identifier)
);
CREATE INDEX push_outbox_by_due ON push_outbox (due_at);
CREATE INDEX push_outbox_by_template ON push_outbox (template_id);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    category   TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX events_by_type ON events (type, seq);

CREATE TABLE device_logs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    request_id  TEXT NOT NULL,
    message     TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,                         -- SHA-256 of the token
    label      TEXT,
    created_at INTEGER NOT NULL
);
