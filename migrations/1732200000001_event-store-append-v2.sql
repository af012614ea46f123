-- Up Migration

-- append_to_stream v2 (same meaning as v1; one optional argument more), rewritten for speed:
-- - a single event is one INSERT; a batch is ONE INSERT … SELECT over a recursive CTE that
--   computes the hash chain (v1 ran one INSERT per event in a PL/pgSQL loop);
-- - the hash expression is written out here instead of calling event_hash(): that SQL function
--   cannot be inlined (concat_ws and convert_to are STABLE), and calling it costs ~20 µs per
--   event. The bytes are the same (test/events/postgres-store.int.test.ts checks every event
--   against event_hash(), which stays the one definition for verifiers);
-- - the idempotency probe runs only when the caller supplied event ids (p_check_ids) and the
--   stream exists: ids the store generated itself (random UUIDs) cannot be in the stream;
-- - the expected-revision test is a CASE, so 'any'/'no_stream'/'stream_exists' are never cast
--   to bigint;
-- - an empty append checks the expected revision but takes no transaction id and no position;
-- - every event of one append shares one created_at (unless given): they happened together;
-- - the streams row is INSERTed for a new stream and UPDATEd otherwise (the lock makes that safe).
-- The per-stream advisory lock is still taken before the first write, so the transaction id
-- (assigned by the first INSERT) of appends to one stream follows their revision order.
DROP FUNCTION append_to_stream(text, text, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[]);
CREATE FUNCTION append_to_stream(
  p_stream text, p_expected text, p_ids uuid[], p_types text[], p_versions integer[],
  p_data jsonb[], p_metadata jsonb[], p_created timestamptz[], p_check_ids boolean DEFAULT true
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

  IF p_check_ids AND n > 0 AND v_rev >= 0 THEN
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

  IF n = 1 THEN
    v_last_hash := sha256(convert_to(concat_ws(E'\n', encode(coalesce(v_hash, ''::bytea), 'hex'), p_stream, (v_rev + 1)::text, p_ids[1]::text, p_types[1], p_versions[1]::text, ((extract(epoch FROM coalesce(p_created[1], v_now)) * 1000000)::bigint)::text, p_data[1]::text, p_metadata[1]::text), 'UTF8'));
    INSERT INTO events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash)
      VALUES (p_stream, v_rev + 1, p_ids[1], p_types[1], p_versions[1], p_data[1], p_metadata[1], coalesce(p_created[1], v_now), v_last_hash)
      RETURNING events.position INTO v_last_pos;
  ELSE
    WITH RECURSIVE chain(i, hash) AS (
      SELECT 1, sha256(convert_to(concat_ws(E'\n', encode(coalesce(v_hash, ''::bytea), 'hex'), p_stream, (v_rev + 1)::text, p_ids[1]::text, p_types[1], p_versions[1]::text, ((extract(epoch FROM coalesce(p_created[1], v_now)) * 1000000)::bigint)::text, p_data[1]::text, p_metadata[1]::text), 'UTF8'))
      UNION ALL
      SELECT c.i + 1, sha256(convert_to(concat_ws(E'\n', encode(coalesce(c.hash, ''::bytea), 'hex'), p_stream, (v_rev + c.i + 1)::text, p_ids[c.i + 1]::text, p_types[c.i + 1], p_versions[c.i + 1]::text, ((extract(epoch FROM coalesce(p_created[c.i + 1], v_now)) * 1000000)::bigint)::text, p_data[c.i + 1]::text, p_metadata[c.i + 1]::text), 'UTF8'))
        FROM chain c WHERE c.i < n
    ), ins AS (
      INSERT INTO events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash)
      SELECT p_stream, v_rev + c.i, p_ids[c.i], p_types[c.i], p_versions[c.i], p_data[c.i], p_metadata[c.i],
             coalesce(p_created[c.i], v_now), c.hash
        FROM chain c ORDER BY c.i
      RETURNING events.position, events.revision, events.hash
    )
    SELECT ins.position, ins.hash INTO v_last_pos, v_last_hash FROM ins ORDER BY ins.revision DESC LIMIT 1;
  END IF;

  IF v_rev < 0 THEN
    INSERT INTO streams (stream_name, revision, last_hash) VALUES (p_stream, n - 1, v_last_hash);
  ELSE
    UPDATE streams SET revision = v_rev + n, last_hash = v_last_hash WHERE stream_name = p_stream;
  END IF;
  RETURN QUERY SELECT 'ok'::text, v_rev + n, pg_current_xact_id(), v_last_pos;
END $$;

-- One subscription page in ONE round trip: a first statement computes the horizon (the oldest
-- running writing transaction of this database, or of the cluster with p_cluster), a second one
-- — with a fresh snapshot, taken after the first (PL/pgSQL volatile function) — reads below it.
-- held_back: committed events wait above the horizon (poll again soon). See postgres-store.ts.
-- Autovacuum workers are ignored: their ANALYZE takes an xid, yet they never append events.
CREATE FUNCTION read_events_page(p_commit xid8, p_prepare bigint, p_max integer, p_types text[], p_like text[], p_cluster boolean)
RETURNS TABLE (prepare text, commit text, stream_name text, revision text, event_id text, event_type text,
               schema_version integer, data jsonb, metadata jsonb, created_at timestamptz, held_back boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_h xid8;
BEGIN
  IF p_cluster THEN
    SELECT pg_snapshot_xmin(pg_current_snapshot()) INTO v_h;
  ELSE
    SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) x
        WHERE xid(x) IN (SELECT a.backend_xid FROM pg_stat_activity a
                          WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()) AND a.backend_xid IS NOT NULL
                            AND a.backend_type <> 'autovacuum worker'
                         UNION ALL
                         SELECT p.transaction FROM pg_prepared_xacts p WHERE p.database = current_database())),
      pg_snapshot_xmax(pg_current_snapshot())) INTO v_h;
  END IF;
  RETURN QUERY
    WITH page AS (
      SELECT e.position::text, e.transaction_id::text, e.stream_name, e.revision::text, e.event_id::text, e.event_type,
             e.schema_version, e.data, e.metadata, e.created_at
        FROM events e
       WHERE e.transaction_id < v_h AND (e.transaction_id, e.position) > (p_commit, p_prepare)
         AND (p_types IS NULL OR e.event_type = ANY(p_types))
         AND (p_like IS NULL OR e.stream_name LIKE ANY(p_like))
       ORDER BY e.transaction_id, e.position
       LIMIT p_max)
    -- held: max() is an index probe even in the generic plan (EXISTS … >= v_h became a seq scan).
    SELECT page.*, h.held FROM (SELECT coalesce((SELECT max(e2.transaction_id) FROM events e2) >= v_h, false) AS held) h
      LEFT JOIN page ON true;
END $$;

-- Down Migration
DROP FUNCTION read_events_page(xid8, bigint, integer, text[], text[], boolean);
DROP FUNCTION append_to_stream(text, text, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[], boolean);
-- v1, as 1732200000000 created it:
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
