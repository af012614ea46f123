-- Up Migration

-- Wrapped per-user data keys of crypto-shredding (issue 13, docs/oauth.md): provider tokens in the
-- log are ciphertext under these keys. Write-side state, NOT a projection: never versioned, never
-- rebuilt, never in the log. Deleting a row (unlink, user deletion) shreds every ciphertext under it.
CREATE TABLE IF NOT EXISTS user_data_keys (
  key_id        text PRIMARY KEY,
  user_id       text NOT NULL,
  scope         text NOT NULL,
  wrapped_key   text NOT NULL,
  server_key_id text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, scope)
);
CREATE INDEX IF NOT EXISTS user_data_keys_user_idx ON user_data_keys (user_id);

-- Down Migration
DROP TABLE IF EXISTS user_data_keys;
