-- Initial schema (SQLite). Keep logically identical to postgres/0001_init.sql.
-- Times are UTC text in bun's format ('2006-01-02 15:04:05.999999+00:00'),
-- which sorts and compares correctly as text.

CREATE TABLE operators (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT      NOT NULL UNIQUE,
    display_name  TEXT      NOT NULL DEFAULT '',
    role          TEXT      NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash TEXT      NOT NULL DEFAULT '',
    active        BOOLEAN   NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE customers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    line_user_id    TEXT      NOT NULL UNIQUE,
    display_name    TEXT      NOT NULL DEFAULT '',
    picture_url     TEXT      NOT NULL DEFAULT '',
    chat_mode       TEXT      NOT NULL DEFAULT 'BOT' CHECK (chat_mode IN ('BOT', 'HUMAN')),
    friend_status   TEXT      NOT NULL DEFAULT 'ACTIVE',
    last_seq        INTEGER   NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_message_at TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- The inbox order.
CREATE INDEX customers_activity_idx ON customers (coalesce(last_message_at, created_at) DESC, id DESC);

CREATE TABLE chat_sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    line_user_id      TEXT      NOT NULL REFERENCES customers (line_user_id),
    operator_id       INTEGER   REFERENCES operators (id),
    status            TEXT      NOT NULL CHECK (status IN ('WAITING', 'ACTIVE', 'CLOSED')),
    started_at        TIMESTAMP NOT NULL,
    claimed_at        TIMESTAMP,
    closed_at         TIMESTAMP,
    first_response_at TIMESTAMP,
    last_activity_at  TIMESTAMP NOT NULL,
    message_count     INTEGER   NOT NULL DEFAULT 0,
    closed_by         TEXT      CHECK (closed_by IN ('OPERATOR', 'SYSTEM', 'SYSTEM_TIMEOUT', 'USER')),
    closed_by_id      INTEGER   REFERENCES operators (id),
    transfer_count    INTEGER   NOT NULL DEFAULT 0,
    transfer_reason   VARCHAR(255) CHECK (length(transfer_reason) <= 255),
    csat_score        INTEGER   CHECK (csat_score BETWEEN 1 AND 5),
    CHECK (status <> 'ACTIVE' OR operator_id IS NOT NULL),
    CHECK ((status = 'CLOSED') = (closed_at IS NOT NULL))
);

-- At most one open session per customer, also under concurrent creators.
CREATE UNIQUE INDEX chat_sessions_one_open_idx ON chat_sessions (line_user_id) WHERE status IN ('WAITING', 'ACTIVE');
CREATE INDEX chat_sessions_status_started_idx ON chat_sessions (status, started_at);
CREATE INDEX chat_sessions_operator_idx ON chat_sessions (operator_id);
CREATE INDEX chat_sessions_customer_idx ON chat_sessions (line_user_id, id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    line_user_id    TEXT      NOT NULL REFERENCES customers (line_user_id),
    seq             INTEGER   NOT NULL CHECK (seq > 0),
    session_id      INTEGER   REFERENCES chat_sessions (id),
    direction       TEXT      NOT NULL CHECK (direction IN ('INCOMING', 'OUTGOING')),
    message_type    TEXT      NOT NULL,
    content         TEXT      NOT NULL,
    payload         TEXT      CHECK (payload IS NULL OR json_valid(payload)),
    sender_role     TEXT      NOT NULL CHECK (sender_role IN ('USER', 'BOT', 'ADMIN', 'SYSTEM')),
    operator_id     INTEGER   REFERENCES operators (id),
    operator_name   TEXT      NOT NULL DEFAULT '',
    delivery_status TEXT      NOT NULL DEFAULT '' CHECK (delivery_status IN ('', 'pending', 'sent', 'failed')),
    delivery_error  TEXT      NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (line_user_id, seq)
);

CREATE INDEX messages_session_idx ON messages (session_id);

CREATE TABLE read_markers (
    operator_id   INTEGER   NOT NULL REFERENCES operators (id),
    line_user_id  TEXT      NOT NULL REFERENCES customers (line_user_id),
    last_read_seq INTEGER   NOT NULL DEFAULT 0 CHECK (last_read_seq >= 0),
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (operator_id, line_user_id)
);

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    operator_id INTEGER   NOT NULL REFERENCES operators (id),
    token_hash  TEXT      NOT NULL UNIQUE,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);

CREATE INDEX refresh_tokens_operator_idx ON refresh_tokens (operator_id);
