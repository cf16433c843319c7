-- Idempotent sends (Postgres). Keep logically identical to
-- sqlite/0006_idempotent_sends.sql.
--
-- An operator's temp_id names one message per conversation: a send that
-- repeats one its operator already used in the customer's conversation is a
-- retry, answered with the stored message, never a second row. Messages
-- reference their conversation by line_user_id; customer and bot messages
-- have no operator_id (NULLs never collide) and no temp_id.
--
-- A database from before may hold duplicates (a client that reused a
-- temp_id): the first message keeps it, the later ones lose theirs, as if
-- they had been sent without one (their message_failed and message_ack then
-- carry only the message id). Nothing else about them changes.
UPDATE messages SET temp_id = ''
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY line_user_id, operator_id, temp_id ORDER BY id) AS n
        FROM messages
        WHERE temp_id <> '' AND operator_id IS NOT NULL
    ) AS ranked
    WHERE n > 1
);

CREATE UNIQUE INDEX messages_temp_id_idx ON messages (line_user_id, operator_id, temp_id) WHERE temp_id <> '';
