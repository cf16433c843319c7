-- The audit log (SQLite): one row per state change or security event.
-- Keep logically identical to postgres/0008_audit.sql. Events an attacker
-- can repeat (failed logins, rejected tokens) are one row per action,
-- source and minute (agg_key), counted; other rows have no agg_key.

CREATE TABLE audit_log (
    id            INTEGER   PRIMARY KEY AUTOINCREMENT,
    at            TIMESTAMP NOT NULL,
    actor_id      INTEGER,  -- the operator; NULL for the system or an unknown caller
    actor         TEXT      NOT NULL DEFAULT '', -- its username, "system", or what was tried
    action        TEXT      NOT NULL CHECK (action <> ''),
    resource_type TEXT      NOT NULL DEFAULT '',
    resource_id   TEXT      NOT NULL DEFAULT '',
    ip            TEXT      NOT NULL DEFAULT '',
    user_agent    TEXT      NOT NULL DEFAULT '',
    details       TEXT      NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    count         INTEGER   NOT NULL DEFAULT 1 CHECK (count >= 1),
    agg_key       TEXT      UNIQUE
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
