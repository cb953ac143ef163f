-- Two indexes of the webhook outbox that no query reads, each written on every queue, claim and
-- delivery (issue 14: deliveries were bound by SQLite's B-tree writes). Claims go through
-- webhook_outbox_by_webhook_due; "is this event still queued anywhere" through the
-- UNIQUE (event_id, webhook_id) index, whose first column is the event id.
DROP INDEX IF EXISTS webhook_outbox_by_due;
DROP INDEX IF EXISTS webhook_outbox_by_event;
