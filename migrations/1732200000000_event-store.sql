-- Up Migration

-- The append-only event log. Position = (transaction_id, position): readers only see events of
-- transactions older than the oldest one still running (pg_snapshot_xmin), ordered by
-- (transaction_id, position), so a transaction that commits late can never be skipped.
CREATE TABLE events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_name     text        NOT NULL,
  revision        bigint      NOT NULL,
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- SHA-256 chaining this event to the previous one of its stream (tamper evidence).
  hash            bytea       NOT NULL
);
CREATE UNIQUE INDEX events_stream_revision_uq ON events (stream_name, revision);
CREATE UNIQUE INDEX events_stream_event_id_uq ON events (stream_name, event_id);
CREATE INDEX events_order_idx ON events (transaction_id, position);
CREATE INDEX events_type_idx ON events (event_type, transaction_id, position);
CREATE INDEX events_created_at_idx ON events (created_at);

-- One row per stream: its current revision and the hash of its last event.
CREATE TABLE streams (
  stream_name text   PRIMARY KEY,
  revision    bigint NOT NULL,
  last_hash   bytea  NOT NULL
);

-- Stored events are never rewritten or deleted by the application.
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('authledger.allow_rewrite', true) = 'on' THEN
    RETURN COALESCE(NEW, OLD);
  END IF;
  RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

-- The canonical encoding hashed for each event (the CLI `verify` recomputes the same bytes).
CREATE FUNCTION event_hash(prev bytea, stream text, rev bigint, id uuid, etype text, ver integer,
                           created timestamptz, d jsonb, m jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(convert_to(concat_ws(E'\n',
    encode(coalesce(prev, ''::bytea), 'hex'), stream, rev::text, id::text, etype, ver::text,
    ((extract(epoch FROM created) * 1000000)::bigint)::text, d::text, m::text), 'UTF8'))
$$;

-- Appends events to one stream in one statement (one round trip, one transaction).
-- A per-stream advisory lock taken before any write serialises appends to the same stream
-- (so their transaction ids follow revision order) without a global lock.
-- Returns status: 'ok' | 'idempotent' | 'wrong_version' | 'partial_duplicate'.
CREATE FUNCTION append_to_stream(
  p_stream text, p_expected text, p_ids uuid[], p_types text[], p_versions integer[],
  p_data jsonb[], p_metadata jsonb[], p_created timestamptz[]
) RETURNS TABLE (status text, revision bigint, commit_position xid8, prepare_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_rev bigint;
  v_hash bytea;
  v_found integer;
  v_pos bigint;
  v_created timestamptz;
  v_new_hash bytea;
  n integer := coalesce(array_length(p_ids, 1), 0);
BEGIN
  PERFORM pg_advisory_xact_lock(1095582036, hashtext(p_stream));
  SELECT s.revision, s.last_hash INTO v_rev, v_hash FROM streams s WHERE s.stream_name = p_stream;
  IF NOT FOUND THEN v_rev := -1; v_hash := NULL; END IF;

  IF n > 0 THEN
    SELECT count(*) INTO v_found FROM events e WHERE e.stream_name = p_stream AND e.event_id = ANY(p_ids);
    IF v_found = n THEN
      RETURN QUERY SELECT 'idempotent'::text, e.revision, e.transaction_id, e.position FROM events e
        WHERE e.stream_name = p_stream AND e.event_id = ANY(p_ids) ORDER BY e.revision DESC LIMIT 1;
      RETURN;
    ELSIF v_found > 0 THEN
      RETURN QUERY SELECT 'partial_duplicate'::text, v_rev, NULL::xid8, NULL::bigint;
      RETURN;
    END IF;
  END IF;

  IF (p_expected = 'no_stream' AND v_rev <> -1)
     OR (p_expected = 'stream_exists' AND v_rev = -1)
     OR (p_expected NOT IN ('any', 'no_stream', 'stream_exists') AND v_rev <> p_expected::bigint) THEN
    RETURN QUERY SELECT 'wrong_version'::text, v_rev, NULL::xid8, NULL::bigint;
    RETURN;
  END IF;

  FOR i IN 1..n LOOP
    v_rev := v_rev + 1;
    v_created := coalesce(p_created[i], clock_timestamp());
    v_new_hash := event_hash(v_hash, p_stream, v_rev, p_ids[i], p_types[i], p_versions[i], v_created, p_data[i], p_metadata[i]);
    INSERT INTO events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash)
      VALUES (p_stream, v_rev, p_ids[i], p_types[i], p_versions[i], p_data[i], p_metadata[i], v_created, v_new_hash)
      RETURNING events.position INTO v_pos;
    v_hash := v_new_hash;
  END LOOP;

  IF n > 0 THEN
    INSERT INTO streams AS s (stream_name, revision, last_hash) VALUES (p_stream, v_rev, v_hash)
      ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision, last_hash = EXCLUDED.last_hash;
  END IF;
  RETURN QUERY SELECT 'ok'::text, v_rev, pg_current_xact_id(), v_pos;
END $$;

-- Projection checkpoints and the generation of read-model tables each projection serves from.
CREATE TABLE projections (
  name            text PRIMARY KEY,
  generation      integer     NOT NULL DEFAULT 1,
  schema_version  integer     NOT NULL DEFAULT 1,
  commit_position bigint      NOT NULL DEFAULT 0,
  prepare_position bigint     NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE projections;
DROP FUNCTION append_to_stream;
DROP FUNCTION event_hash;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION events_are_append_only;
DROP TABLE streams;
DROP TABLE events;
