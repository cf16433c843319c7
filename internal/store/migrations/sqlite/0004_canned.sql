-- Canned responses (SQLite): saved replies operators pick by shortcut and
-- paste into the message box. Keep logically identical to postgres/0004_canned.sql.
-- The shortcut is stored with its leading slash ('/greeting'). A delete is
-- soft (is_active = FALSE) and frees the shortcut for a new row.

CREATE TABLE canned_responses (
    id          INTEGER   PRIMARY KEY AUTOINCREMENT,
    shortcut    TEXT      NOT NULL CHECK (length(shortcut) BETWEEN 2 AND 31 AND substr(shortcut, 1, 1) = '/'
                                          AND substr(shortcut, 2) NOT GLOB '*[^a-z0-9_-]*'),
    title       TEXT      NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    content     TEXT      NOT NULL CHECK (length(content) BETWEEN 1 AND 5000),
    category    TEXT      NOT NULL DEFAULT '' CHECK (length(category) <= 50),
    usage_count INTEGER   NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
    is_active   BOOLEAN   NOT NULL DEFAULT TRUE,
    created_by  INTEGER   REFERENCES operators (id),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- One active row per shortcut, also under concurrent creators.
CREATE UNIQUE INDEX canned_responses_active_shortcut_idx ON canned_responses (shortcut) WHERE is_active;
