-- Up Migration

-- The read-model browser's PostgreSQL role (issue 16): a LOGIN role the API connects as for the
-- admins' read-only SQL box (its own connections, so no statement can RESET ROLE to the owner).
-- Roles are cluster-wide: the name is derived from the database's, so test databases (and two
-- installations on one cluster) never share one. It owns nothing and is granted SELECT on the
-- read-model views only (by the server, src/queries/admin-sql/role.ts, which re-grants after a
-- rebuild recreates a view); never the events table, streams, checkpoints or key tables.
DO $$
DECLARE r text := 'authledger_rm_' || substr(md5(current_database()), 1, 20);
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10', r);
  END IF;
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET default_transaction_read_only = on', r, current_database());
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L', r, current_database(), '30s');
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET idle_in_transaction_session_timeout = %L', r, current_database(), '30s');
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET client_connection_check_interval = %L', r, current_database(), '1s');
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
  EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', r);
  EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
EXCEPTION WHEN insufficient_privilege THEN
  -- A database user without CREATEROLE: everything else works; the SQL box answers 503.
  RAISE WARNING 'read-model browser role % not created: %', r, SQLERRM;
END $$;

-- Down Migration
DO $$
DECLARE r text := 'authledger_rm_' || substr(md5(current_database()), 1, 20);
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('DROP OWNED BY %I', r);
    EXECUTE format('DROP ROLE %I', r);
  END IF;
END $$;
