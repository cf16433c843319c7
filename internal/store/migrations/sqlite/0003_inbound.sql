-- The LINE inbound side (SQLite): the webhook inbox, CSAT responses and
-- business hours. Keep logically identical to postgres/0003_inbound.sql.

-- Every accepted webhook event, stored before the webhook answers 200 and
-- processed from here. webhook_event_id dedups LINE's redeliveries.
CREATE TABLE line_webhook_events (
    id               INTEGER   PRIMARY KEY AUTOINCREMENT,
    webhook_event_id TEXT      NOT NULL UNIQUE CHECK (webhook_event_id <> ''),
    event_type       TEXT      NOT NULL CHECK (event_type <> ''),
    source_type      TEXT      NOT NULL DEFAULT '',
    line_user_id     TEXT,     -- NULL unless the source is a user; no FK: the customer may not exist yet
    body             TEXT      NOT NULL CHECK (json_valid(body)), -- the event object as LINE sent it
    event_at         TIMESTAMP NOT NULL, -- LINE's timestamp: decides whether the reply token is still valid
    received_at      TIMESTAMP NOT NULL,
    attempts         INTEGER   NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMP NOT NULL,
    locked_until     TIMESTAMP, -- a worker's lease while it processes the event
    last_error       TEXT      NOT NULL DEFAULT '',
    processed_at     TIMESTAMP
);

-- The pending queue, and "is an earlier event of this customer still pending?".
CREATE INDEX line_webhook_events_pending_idx ON line_webhook_events (id) WHERE processed_at IS NULL;
CREATE INDEX line_webhook_events_user_pending_idx ON line_webhook_events (line_user_id, id) WHERE processed_at IS NULL;

-- Finds a customer message by its LINE message id, so a retried event does
-- not store its message twice. Not unique: the id lives in a free-form payload.
CREATE INDEX messages_line_message_id_idx ON messages (json_extract(payload, '$.line_message_id'))
    WHERE direction = 'INCOMING' AND payload IS NOT NULL;

-- One CSAT answer per session: the UNIQUE constraint makes a double postback
-- a no-op. chat_sessions.csat_score mirrors the score for the session views.
CREATE TABLE csat_responses (
    id           INTEGER   PRIMARY KEY AUTOINCREMENT,
    session_id   INTEGER   NOT NULL UNIQUE REFERENCES chat_sessions (id),
    line_user_id TEXT      NOT NULL REFERENCES customers (line_user_id),
    score        INTEGER   NOT NULL CHECK (score BETWEEN 1 AND 5),
    created_at   TIMESTAMP NOT NULL
);

CREATE INDEX csat_responses_created_idx ON csat_responses (created_at);

-- Business hours: opening ranges per weekday (0 = Sunday, as Go's
-- time.Weekday and Postgres' dow), minutes after local midnight, closing
-- exclusive and at most 24:00. A day without rows is closed.
CREATE TABLE business_hours (
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    opens   INTEGER NOT NULL CHECK (opens >= 0),
    closes  INTEGER NOT NULL CHECK (closes <= 1440),
    CHECK (opens < closes),
    PRIMARY KEY (weekday, opens)
);

-- The schedule's timezone: one row.
CREATE TABLE business_hours_zone (
    id         INTEGER   PRIMARY KEY CHECK (id = 1),
    timezone   TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The original's defaults: Monday to Friday 08:00-17:00, Asia/Bangkok.
INSERT INTO business_hours (weekday, opens, closes) VALUES (1, 480, 1020), (2, 480, 1020), (3, 480, 1020), (4, 480, 1020), (5, 480, 1020);
INSERT INTO business_hours_zone (id, timezone, updated_at) VALUES (1, 'Asia/Bangkok', '1970-01-01 00:00:00+00:00');
