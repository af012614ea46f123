-- Up Migration

-- One projection page in ONE round trip (the group runner, src/projections/group.ts): as
-- read_events_page() (1732200000001), a first statement computes the horizon and a second one,
-- with a fresh snapshot taken after it, reads below it; but every row comes back (a projection's
-- checkpoint moves past the events it does not handle), with data and metadata only for p_types
-- (the other rows only move the position), and held_back says whether committed events wait above
-- the horizon (the runner looks again soon instead of asking in a statement of its own).
-- With no row below the horizon, one row of NULLs carries held_back.
CREATE FUNCTION read_handled_page(p_commit xid8, p_prepare bigint, p_max integer, p_types text[], p_cluster boolean)
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
             e.schema_version,
             CASE WHEN e.event_type = ANY(p_types) THEN e.data END,
             CASE WHEN e.event_type = ANY(p_types) THEN e.metadata END,
             e.created_at
        FROM events e
       WHERE e.transaction_id < v_h AND (e.transaction_id, e.position) > (p_commit, p_prepare)
       ORDER BY e.transaction_id, e.position
       LIMIT p_max)
    SELECT page.*, h.held FROM (SELECT coalesce((SELECT max(e2.transaction_id) FROM events e2) >= v_h, false) AS held) h
      LEFT JOIN page ON true;
END $$;

-- Down Migration
DROP FUNCTION read_handled_page(xid8, bigint, integer, text[], boolean);
