-- notifier-service owns this schema; search_path points here.
-- One delivery per (source, event id): the ledger that makes a redelivered event a no-op, and the
-- queue the sender claims from.
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    source          text        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    aggregate_id    text        NOT NULL,
    payload         jsonb       NOT NULL,
    traceparent     text,
    status          text        NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'SENT', 'DEAD')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A sender's claim; an expired claim (crashed sender) makes the delivery claimable again.
    claimed_until   timestamptz,
    last_error      text,
    recipient       text,
    message_id      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CONSTRAINT deliveries_event_key UNIQUE (source, event_id),
    CONSTRAINT deliveries_sent_check CHECK ((status = 'SENT') = (sent_at IS NOT NULL))
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at, id) WHERE status = 'QUEUED';
CREATE INDEX deliveries_list_idx ON deliveries (created_at, id);
CREATE INDEX deliveries_status_list_idx ON deliveries (status, created_at, id);
