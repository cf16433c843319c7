-- Operator availability (SQLite): the windows in which an operator had a
-- socket on an instance. Keep logically identical to
-- postgres/0009_availability.sql. The instance renews its open windows'
-- seen_at every tick; a window ends at its last seen_at, so an instance
-- that dies leaves no window open.

CREATE TABLE operator_availability (
    id          INTEGER   PRIMARY KEY AUTOINCREMENT,
    operator_id INTEGER   NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    instance    TEXT      NOT NULL CHECK (instance <> ''),
    started_at  TIMESTAMP NOT NULL,
    seen_at     TIMESTAMP NOT NULL CHECK (seen_at >= started_at),
    UNIQUE (operator_id, instance, started_at)
);

CREATE INDEX operator_availability_seen_idx ON operator_availability (seen_at);
