-- Up Migration

-- API key and feature usage, folded from Redis counters by foldApiKeyUsage() (src/infra/access-usage.ts).
-- Not event-derived (the access check appends no events), so these are plain tables, not projections:
-- a projection rebuild must not lose them.
CREATE TABLE api_key_usage (
  key_id text   NOT NULL,
  day    date   NOT NULL,
  count  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, day)
);
CREATE TABLE api_key_last_used (
  key_id       text        PRIMARY KEY,
  last_used_at timestamptz NOT NULL
);
CREATE TABLE feature_usage (
  feature text   NOT NULL,
  day     date   NOT NULL,
  count   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (feature, day)
);

-- Down Migration
DROP TABLE feature_usage;
DROP TABLE api_key_last_used;
DROP TABLE api_key_usage;
