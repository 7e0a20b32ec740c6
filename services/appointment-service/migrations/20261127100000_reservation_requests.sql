-- ReserveAppointment's idempotency key: the appointment a patient's request_id reserved. Written in the
-- reservation's own statement and kept when the reservation is cancelled, so a retry that arrives
-- late changes nothing, and the same key for another appointment is refused (REQUEST_ID_REUSED).
CREATE TABLE reservation_requests (
    patient_id     uuid        NOT NULL,
    request_id     text        NOT NULL,
    appointment_id uuid        NOT NULL REFERENCES appointments (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservation_requests_pkey PRIMARY KEY (patient_id, request_id)
);
