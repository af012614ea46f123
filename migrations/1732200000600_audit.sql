-- Up Migration

-- Audit search by acting user (`GET /api/v1/audit/events?actor=…`) in log order.
CREATE INDEX events_actor_idx ON events ((metadata->>'actorUserId'), transaction_id, position)
  WHERE (metadata->>'actorUserId') IS NOT NULL;

-- Down Migration
DROP INDEX events_actor_idx;
