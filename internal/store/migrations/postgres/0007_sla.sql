-- SLA alerts (Postgres): each (session, metric, severity) raised once, across
-- instances and restarts: the instance whose insert wins announces it.
-- Keep logically identical to sqlite/0007_sla.sql.

CREATE TABLE sla_alerts (
    session_id   BIGINT      NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    metric       TEXT        NOT NULL CHECK (metric IN ('queue_wait_seconds', 'first_response_seconds', 'resolution_seconds')),
    severity     TEXT        NOT NULL CHECK (severity IN ('warning', 'critical')),
    line_user_id TEXT        NOT NULL,
    value_ms     BIGINT      NOT NULL CHECK (value_ms >= 0),
    threshold_ms BIGINT      NOT NULL CHECK (threshold_ms > 0),
    raised_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, metric, severity)
);

-- The breaches of the last 24 hours (the KPIs).
CREATE INDEX sla_alerts_raised_idx ON sla_alerts (raised_at);
-- The sessions closed lately, which the SLA check still looks at.
CREATE INDEX chat_sessions_closed_idx ON chat_sessions (closed_at);
