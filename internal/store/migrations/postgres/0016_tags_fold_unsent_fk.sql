-- Keep logically identical to the other dialect's 0016_tags_fold_unsent_fk.sql.
--
-- Tag names are unique whatever their case in every script: the key is
-- folded by the server (SQLite's lower() folds ASCII only), and the inbox
-- filters on it.
ALTER TABLE tags ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE tags SET name_key = lower(name);
DROP INDEX tags_name_idx;
CREATE UNIQUE INDEX tags_name_key_idx ON tags (name_key);

-- An unsend before its message is stored belongs to a customer: erased
-- with it, and never recorded for one that is gone.
DELETE FROM unsent_messages u WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.line_user_id = u.line_user_id);
ALTER TABLE unsent_messages ADD CONSTRAINT unsent_messages_customer_fk
    FOREIGN KEY (line_user_id) REFERENCES customers (line_user_id) ON DELETE CASCADE;
