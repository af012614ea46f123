-- Up Migration

-- Tamper evidence that survives a database superuser (issue 20 §10).
-- 1. No setting an ordinary role can change turns protection off: the append-only trigger no
--    longer honours `authledger.allow_rewrite` (any role could SET it). Maintenance that must
--    rewrite runs as a superuser with `SET session_replication_role = replica` (which skips
--    ordinary triggers and needs superuser), and leaves evidence: `verify` compares the log with
--    the checkpoints below and with external anchors.
CREATE OR REPLACE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- 2. A chain across streams: a checkpoint covers the stable prefix of the log in global order
--    (transaction_id, position), with the number of events and a running digest
--    d_n = sha256(hex(d_{n-1}) || '\n' || hex(hash_n)) over every event's own (per-stream) hash.
--    A deleted stream, a truncated tail or a re-chained stream changes the count or the digest of
--    every later checkpoint. Written by the worker (ANCHOR_INTERVAL) and by `verify --anchor`.
CREATE TABLE log_checkpoints (
  seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  upto_txid       xid8        NOT NULL,
  upto_position   bigint      NOT NULL,
  events          bigint      NOT NULL,
  digest          bytea       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
  FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Down Migration
SET session_replication_role = replica;
DROP TABLE log_checkpoints;
DROP TRIGGER events_no_truncate ON events;
CREATE OR REPLACE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('authledger.allow_rewrite', true) = 'on' THEN
    RETURN COALESCE(NEW, OLD);
  END IF;
  RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
SET session_replication_role = origin;
