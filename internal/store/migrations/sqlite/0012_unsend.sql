-- LINE unsend (SQLite; keep logically identical to postgres/0012_unsend.sql):
-- when a customer unsent a message. Its content and payload are cleared
-- then (the payload keeps only line_message_id, so a retried event is
-- still recognised); its seq stays.

ALTER TABLE messages ADD COLUMN unsent_at TIMESTAMP;
