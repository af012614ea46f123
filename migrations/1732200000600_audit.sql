-- Up Migration

-- Audit search by acting user (`GET /api/v1/audit/events?actor=…`) in log order.
CREATE INDEX events_actor_idx ON events ((metadata->>'actorUserId'), transaction_id, position)
  WHERE (metadata->>'actorUserId') IS NOT NULL;

-- Snapshots for `GET /api/v1/audit/users/{id}/state?at=`: the user's folded state over every one
-- of their events with created_at <= cut. A cache derived from the log only (safe to truncate);
-- written only for cuts no running transaction can still add events before.
CREATE TABLE audit_snapshots (
  user_id     text        NOT NULL,
  cut         timestamptz NOT NULL,
  events      integer     NOT NULL,
  state       jsonb       NOT NULL,
  fold_version integer    NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, cut)
);

-- Down Migration
DROP TABLE audit_snapshots;
DROP INDEX events_actor_idx;
