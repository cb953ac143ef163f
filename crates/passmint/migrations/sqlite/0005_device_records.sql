-- Device-side records (PassKit log messages, failed device authentications, push outcomes),
-- kept apart from the management audit trail in `events` and capped by count and bytes
-- (SPEC 6). Repeats of one failure or message share a row (`fingerprint`): `count` goes up,
-- `last_seen` and `request_id` follow the latest.
CREATE TABLE device_records (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    category    TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    request_id  TEXT NOT NULL,
    count       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX device_records_by_type ON device_records (type, seq);

-- Running totals, so the caps are enforced without summing the table.
CREATE TABLE device_record_totals (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    records INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);

-- The device-side events written so far move over (one row each, no aggregation).
INSERT INTO device_records (id, fingerprint, type, category, first_seen, last_seen, request_id,
                            count, bytes, data)
SELECT id, id, type, category, timestamp, timestamp, request_id, 1,
       length(id) + length(type) + length(category) + length(request_id) + length(data) + 96,
       data
FROM events WHERE type LIKE 'PASSKIT\_%' ESCAPE '\' OR type LIKE 'APNS\_%' ESCAPE '\'
ORDER BY seq;
DELETE FROM events WHERE type LIKE 'PASSKIT\_%' ESCAPE '\' OR type LIKE 'APNS\_%' ESCAPE '\';
INSERT INTO device_record_totals (id, records, bytes)
SELECT 1, COUNT(*), COALESCE(SUM(bytes), 0) FROM device_records;

-- Replaced by the PASSKIT_DEVICE_LOG device records (each message was kept twice).
DROP TABLE device_logs;
