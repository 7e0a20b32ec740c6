-- Parked (dead-lettered) outbox events (clinic-common::outbox): an event handed out
-- OUTBOX_MAX_DELIVERIES times whose last lease expired unacked is parked instead of being handed out
-- again, so one event no consumer can take never holds back the others. It is kept, logged at error
-- by the feed, and listed in `outbox_parked`. After fixing the cause, an operator requeues it with
--   UPDATE outbox SET parked_at = NULL, delivery_attempts = 0 WHERE id = '<event id>';
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;

-- The feed leases from events neither delivered nor parked.
DROP INDEX outbox_undelivered_idx;
CREATE INDEX outbox_pending_idx ON outbox (created_at, id) WHERE delivered_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked_idx ON outbox (parked_at) WHERE parked_at IS NOT NULL;

CREATE VIEW outbox_parked AS
    SELECT id, aggregate_type, aggregate_id, event_type, delivery_attempts, leased_by, parked_at, created_at
    FROM outbox
    WHERE parked_at IS NOT NULL;
