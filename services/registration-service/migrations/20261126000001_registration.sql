-- registration-service owns this schema; search_path points here.

CREATE TABLE registration_requests (
    id                uuid PRIMARY KEY,
    email             text        NOT NULL,
    password_hash     text        NOT NULL,
    first_name        text        NOT NULL,
    last_name         text        NOT NULL,
    address           text        NOT NULL,
    city              text        NOT NULL,
    country           text        NOT NULL,
    phone             text        NOT NULL,
    insurance_number  text        NOT NULL,
    status            text        NOT NULL DEFAULT 'PENDING'
                                  CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    -- Optimistic lock: every decision is a compare-and-swap on (id, version, PENDING).
    version           bigint      NOT NULL DEFAULT 1,
    decided_by        uuid,
    decided_at        timestamptz,
    rejection_reason  text,
    -- Client idempotency key of SubmitRegistration.
    client_request_id text UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT registration_requests_decision_check
        CHECK ((status = 'PENDING') = (decided_at IS NULL AND decided_by IS NULL)),
    CONSTRAINT registration_requests_reason_check
        CHECK ((status = 'REJECTED') = (rejection_reason IS NOT NULL))
);

-- One pending request per e-mail and per insurance number; a rejection frees them.
CREATE UNIQUE INDEX registration_requests_pending_email_key
    ON registration_requests (lower(email)) WHERE status = 'PENDING';
CREATE UNIQUE INDEX registration_requests_pending_insurance_key
    ON registration_requests (insurance_number) WHERE status = 'PENDING';
-- Keyset pagination, with and without a status filter.
CREATE INDEX registration_requests_created_idx ON registration_requests (created_at, id);
CREATE INDEX registration_requests_status_created_idx ON registration_requests (status, created_at, id);

CREATE TABLE accounts (
    id                      uuid PRIMARY KEY,
    email                   text        NOT NULL,
    password_hash           text        NOT NULL,
    role                    text        NOT NULL
                                        CHECK (role IN ('patient', 'clinic_center_admin', 'clinic_admin')),
    clinic_id               uuid,
    first_name              text        NOT NULL,
    last_name               text        NOT NULL,
    insurance_number        text,
    registration_request_id uuid REFERENCES registration_requests (id),
    status                  text        NOT NULL CHECK (status IN ('AWAITING_ACTIVATION', 'ACTIVE')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    activated_at            timestamptz,
    CONSTRAINT accounts_clinic_check CHECK ((role = 'clinic_admin') = (clinic_id IS NOT NULL))
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));
CREATE UNIQUE INDEX accounts_insurance_number_key ON accounts (insurance_number);

-- Single-use activation tokens; only a SHA-256 of the token is stored.
CREATE TABLE activation_tokens (
    token_hash bytea PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activation_tokens_account_idx ON activation_tokens (account_id);

-- Transactional outbox (shared code in clinic-common::outbox); written in the decision's transaction.
CREATE TABLE outbox (
    id             uuid PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    event_type     text        NOT NULL,
    payload        jsonb       NOT NULL,
    traceparent    text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_id);
