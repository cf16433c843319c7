-- Poison rows (SQLite): rejected webhook events, and inbox and outbox rows
-- that keep failing on their own. Keep logically identical to
-- postgres/0005_quarantine.sql.
--
-- failures counts the attempts that failed because of the row itself (it
-- could not be read back or decoded, or its data is invalid); database and
-- network failures do not count. At the configured maximum the row is
-- quarantined: dead_at is set, with the reason in last_error
-- (delivery_error for messages), and it no longer holds back its
-- conversation.

ALTER TABLE line_webhook_events ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0);
-- A dead event is also processed_at, so that it is neither due nor a
-- conversation's head; a retry clears both.
ALTER TABLE line_webhook_events ADD COLUMN dead_at TIMESTAMP;
CREATE INDEX line_webhook_events_dead_idx ON line_webhook_events (dead_at) WHERE dead_at IS NOT NULL;

-- Webhook events refused at the door (answered 200 so that LINE does not
-- redeliver them): never processed, kept with the reason. Every column is
-- cleaned to what both databases store; body is cut to 16 KiB.
CREATE TABLE line_webhook_rejects (
    id               INTEGER   PRIMARY KEY AUTOINCREMENT,
    webhook_event_id TEXT      NOT NULL DEFAULT '',
    event_type       TEXT      NOT NULL DEFAULT '',
    reason           TEXT      NOT NULL,
    body             TEXT      NOT NULL,
    received_at      TIMESTAMP NOT NULL
);

-- A redelivered reject is recorded once.
CREATE UNIQUE INDEX line_webhook_rejects_event_idx ON line_webhook_rejects (webhook_event_id) WHERE webhook_event_id <> '';
CREATE INDEX line_webhook_rejects_received_idx ON line_webhook_rejects (received_at);

-- A dead outbox row is failed (delivery_status), so the conversation's
-- later messages go out.
ALTER TABLE messages ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0);
ALTER TABLE messages ADD COLUMN dead_at TIMESTAMP;
CREATE INDEX messages_dead_idx ON messages (dead_at) WHERE dead_at IS NOT NULL;
