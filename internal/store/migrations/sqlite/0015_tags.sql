-- Tags (keep logically identical to the other dialect's 0015_tags.sql):
-- the list admins manage, and the tags of each conversation (a customer's).

CREATE TABLE tags (
    id         INTEGER   PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL CHECK (name <> ''),
    color      TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

-- Names are unique whatever their case.
CREATE UNIQUE INDEX tags_name_idx ON tags (lower(name));

CREATE TABLE conversation_tags (
    line_user_id TEXT   NOT NULL REFERENCES customers (line_user_id) ON DELETE CASCADE,
    tag_id       BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    added_by     BIGINT,
    added_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (line_user_id, tag_id)
);

CREATE INDEX conversation_tags_tag_idx ON conversation_tags (tag_id, line_user_id);
