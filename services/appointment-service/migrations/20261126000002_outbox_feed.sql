-- Delivery state of the outbox feed (clinic-common::outbox): a consumer leases undelivered events
-- (FOR UPDATE SKIP LOCKED) and acks them; an unacked lease expires and the event is pulled again.
-- No cursor: any committed, undelivered row is found, whatever order transactions committed in.
ALTER TABLE outbox
    ADD COLUMN delivered_at      timestamptz,
    ADD COLUMN leased_by         text,
    ADD COLUMN lease_until       timestamptz,
    ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX outbox_undelivered_idx ON outbox (created_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
