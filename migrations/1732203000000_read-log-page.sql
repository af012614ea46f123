-- Up Migration

-- One page of the log for a projection runner in ONE round trip, with a plan cached per
-- connection (src/events/postgres/store.ts readLogPage; the group runner reads it on its own
-- connection). As read_events_page() (1732200000001): a first statement computes the visibility
-- horizon, a second one, with a fresh snapshot taken after it (a VOLATILE function takes one per
-- statement), reads below it, so a transaction still running when the horizon was computed can
-- never be skipped. Unlike it, every row comes back (a checkpoint moves past the events it does not
-- handle) with data and metadata only for p_types (every row's when NULL), up to p_to (inclusive)
-- when given; and held_back says whether committed events wait above the horizon (a running
-- transaction holds them back: the runner looks again soon). With no row to return, one row of
-- NULLs carries held_back.
CREATE FUNCTION read_log_page(p_commit xid8, p_prepare bigint, p_max integer, p_types text[],
                              p_to_commit xid8, p_to_prepare bigint, p_cluster boolean)
RETURNS TABLE (prepare text, commit text, stream_name text, revision text, event_id text, event_type text,
               schema_version integer, data jsonb, metadata jsonb, created_at timestamptz, held_back boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_h xid8;
BEGIN
  IF p_cluster THEN
    SELECT pg_snapshot_xmin(pg_current_snapshot()) INTO v_h;
  ELSE
    -- HORIZON_SQL's database mode (src/events/postgres/store.ts), word for word.
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
             CASE WHEN p_types IS NULL OR e.event_type = ANY(p_types) THEN e.data END,
             CASE WHEN p_types IS NULL OR e.event_type = ANY(p_types) THEN e.metadata END,
             e.created_at
        FROM events e
       WHERE e.transaction_id < v_h AND (e.transaction_id, e.position) > (p_commit, p_prepare)
         AND (p_to_commit IS NULL OR (e.transaction_id, e.position) <= (p_to_commit, p_to_prepare))
       ORDER BY e.transaction_id, e.position
       LIMIT p_max)
    -- held: max() is an index probe even in the generic plan (as in read_events_page()).
    SELECT page.*, h.held FROM (SELECT coalesce((SELECT max(e2.transaction_id) FROM events e2) >= v_h, false) AS held) h
      LEFT JOIN page ON true;
END $$;

-- Down Migration
DROP FUNCTION read_log_page(xid8, bigint, integer, text[], xid8, bigint, boolean);
