-- An unsend whose message is not stored yet (its event is retried or
-- quarantined, and comes after the unsend): the message is then never
-- stored. Keep logically identical to the other dialect's
-- 0014_unsent_before_stored.sql.

CREATE TABLE unsent_messages (
    line_user_id    TEXT NOT NULL,
    line_message_id TEXT NOT NULL,
    unsent_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (line_user_id, line_message_id)
);
