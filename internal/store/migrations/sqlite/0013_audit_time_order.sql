-- The audit log reads newest first by time, then id (store.AuditLog): rows
-- an erasure copies from a customer's sends get new ids but keep their
-- times, and the counted rows are written up to a minute after their time.
-- Keep logically identical to the other dialect's 0013_audit_time_order.sql.

DROP INDEX audit_log_at_idx;
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
