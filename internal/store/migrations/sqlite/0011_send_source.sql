-- Where an operator's message was sent from (sqlite; keep logically identical
-- to the other dialect's 0011_send_source.sql): the source address and
-- user agent of the send, which the audit log lists as message.send with
-- the message itself as the row (store.AuditLog). Kept on the message so
-- that a send writes no other row: an erasure copies its customer's sends
-- into audit_log, with the customer's id hashed, before it deletes them.

ALTER TABLE messages ADD COLUMN sent_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN sent_user_agent TEXT NOT NULL DEFAULT '';
