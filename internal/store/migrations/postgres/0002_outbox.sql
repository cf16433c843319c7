-- The LINE outbox (Postgres): an operator message is its own outbox row.
-- Keep logically identical to sqlite/0002_outbox.sql.
--
-- retry_key is the X-Line-Retry-Key, fixed before the first push and reused
-- on every retry, so LINE accepts the message at most once (409 after).
-- temp_id is the sending tab's id, for message_failed. attempts counts pushes
-- started; next_attempt_at is the backoff; locked_until is an instance's
-- lease on the attempt in flight, so a crashed attempt is retried after it.

ALTER TABLE messages
    ADD COLUMN retry_key       TEXT,
    ADD COLUMN temp_id         TEXT        NOT NULL DEFAULT '',
    ADD COLUMN attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN locked_until    TIMESTAMPTZ;

CREATE UNIQUE INDEX messages_retry_key_idx ON messages (retry_key) WHERE retry_key IS NOT NULL;

-- The pending deliveries, per conversation in seq order.
CREATE INDEX messages_outbox_idx ON messages (line_user_id, seq) WHERE delivery_status = 'pending';
