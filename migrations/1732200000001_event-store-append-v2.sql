-- Up Migration

-- append_to_stream v2 (same signature and meaning as v1), rewritten for speed and exactness:
-- - the whole batch is written by ONE INSERT … SELECT over a recursive CTE that computes the hash
--   chain (v1 ran one INSERT per event in a PL/pgSQL loop);
-- - the idempotency probe runs only when the stream exists (a new stream cannot hold the ids);
-- - the expected-revision test is a CASE, so 'any'/'no_stream'/'stream_exists' are never cast
--   to bigint;
-- - an empty append checks the expected revision but takes no transaction id and no position;
-- - every event of one append shares one created_at (unless given): they happened together.
-- The per-stream advisory lock is still taken before the first write, so the transaction id
-- (assigned by the first INSERT) of appends to one stream follows their revision order.
CREATE OR REPLACE FUNCTION append_to_stream(
  p_stream text, p_expected text, p_ids uuid[], p_types text[], p_versions integer[],
  p_data jsonb[], p_metadata jsonb[], p_created timestamptz[]
) RETURNS TABLE (status text, revision bigint, commit_position xid8, prepare_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_rev bigint;
  v_hash bytea;
  v_found integer;
  v_wrong boolean;
  v_now timestamptz := clock_timestamp();
  v_last_pos bigint;
  v_last_hash bytea;
  n integer := coalesce(array_length(p_ids, 1), 0);
BEGIN
  PERFORM pg_advisory_xact_lock(1095582036, hashtext(p_stream));
  SELECT s.revision, s.last_hash INTO v_rev, v_hash FROM streams s WHERE s.stream_name = p_stream;
  IF NOT FOUND THEN v_rev := -1; v_hash := NULL; END IF;

  IF n > 0 AND v_rev >= 0 THEN
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

  v_wrong := CASE p_expected
    WHEN 'any' THEN false
    WHEN 'no_stream' THEN v_rev <> -1
    WHEN 'stream_exists' THEN v_rev = -1
    ELSE v_rev <> p_expected::bigint
  END;
  IF v_wrong THEN
    RETURN QUERY SELECT 'wrong_version'::text, v_rev, NULL::xid8, NULL::bigint;
    RETURN;
  END IF;

  IF n = 0 THEN
    RETURN QUERY SELECT 'ok'::text, v_rev, NULL::xid8, NULL::bigint;
    RETURN;
  END IF;

  WITH RECURSIVE chain(i, hash) AS (
    SELECT 1, event_hash(v_hash, p_stream, v_rev + 1, p_ids[1], p_types[1], p_versions[1],
                         coalesce(p_created[1], v_now), p_data[1], p_metadata[1])
    UNION ALL
    SELECT c.i + 1, event_hash(c.hash, p_stream, v_rev + c.i + 1, p_ids[c.i + 1], p_types[c.i + 1], p_versions[c.i + 1],
                               coalesce(p_created[c.i + 1], v_now), p_data[c.i + 1], p_metadata[c.i + 1])
      FROM chain c WHERE c.i < n
  ), ins AS (
    INSERT INTO events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash)
    SELECT p_stream, v_rev + c.i, p_ids[c.i], p_types[c.i], p_versions[c.i], p_data[c.i], p_metadata[c.i],
           coalesce(p_created[c.i], v_now), c.hash
      FROM chain c ORDER BY c.i
    RETURNING events.position, events.revision, events.hash
  )
  SELECT ins.position, ins.hash INTO v_last_pos, v_last_hash FROM ins ORDER BY ins.revision DESC LIMIT 1;

  INSERT INTO streams AS s (stream_name, revision, last_hash) VALUES (p_stream, v_rev + n, v_last_hash)
    ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision, last_hash = EXCLUDED.last_hash;
  RETURN QUERY SELECT 'ok'::text, v_rev + n, pg_current_xact_id(), v_last_pos;
END $$;

-- Down Migration
-- v1 is restored by re-running 1732200000000's definition; the signature is unchanged, so the
-- v2 body stays harmless. Nothing to undo structurally.
SELECT 1;
