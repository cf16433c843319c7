-- Repeated alerts for unclaimed sessions (Postgres). Keep logically
-- identical to sqlite/0010_realert.sql. queue_alerts is how many repeats
-- of session_queued were sent for the session: the instance whose
-- conditional update raises it sends the next one.

ALTER TABLE chat_sessions ADD COLUMN queue_alerts INTEGER NOT NULL DEFAULT 0 CHECK (queue_alerts >= 0);
