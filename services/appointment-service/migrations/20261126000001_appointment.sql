-- appointment-service owns this schema; search_path points here.
-- btree_gist lets exclusion constraints combine "same doctor/room/patient" (=) with "overlapping time" (&&).
-- It is a trusted extension (PostgreSQL >= 13): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE clinics (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    address    text        NOT NULL,
    city       text        NOT NULL,
    time_zone  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clinics_name_key ON clinics (lower(name));
CREATE INDEX clinics_created_idx ON clinics (created_at, id);

CREATE TABLE doctors (
    id             uuid PRIMARY KEY,
    clinic_id      uuid        NOT NULL REFERENCES clinics (id),
    first_name     text        NOT NULL,
    last_name      text        NOT NULL,
    specialization text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Target of the composite foreign key that keeps appointments inside one clinic.
    UNIQUE (id, clinic_id)
);
CREATE INDEX doctors_clinic_idx ON doctors (clinic_id, created_at, id);

CREATE TABLE rooms (
    id         uuid PRIMARY KEY,
    clinic_id  uuid        NOT NULL REFERENCES clinics (id),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, clinic_id)
);
CREATE UNIQUE INDEX rooms_clinic_name_key ON rooms (clinic_id, lower(name));
CREATE INDEX rooms_clinic_idx ON rooms (clinic_id, created_at, id);

CREATE TABLE exam_types (
    id         uuid PRIMARY KEY,
    clinic_id  uuid        NOT NULL REFERENCES clinics (id),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, clinic_id)
);
CREATE UNIQUE INDEX exam_types_clinic_name_key ON exam_types (clinic_id, lower(name));
CREATE INDEX exam_types_clinic_idx ON exam_types (clinic_id, created_at, id);

CREATE TABLE appointments (
    id                     uuid PRIMARY KEY,
    clinic_id              uuid        NOT NULL REFERENCES clinics (id),
    doctor_id              uuid        NOT NULL,
    room_id                uuid        NOT NULL,
    exam_type_id           uuid        NOT NULL,
    starts_at              timestamptz NOT NULL,
    -- Stored (not generated): timestamptz + interval is only STABLE, and index expressions must be IMMUTABLE.
    ends_at                timestamptz NOT NULL,
    duration_minutes       integer     NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    price_minor            bigint      NOT NULL CHECK (price_minor >= 0),
    currency               text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    discount_percent       integer     NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    -- Rounded half up to a whole minor unit.
    final_price_minor      bigint      GENERATED ALWAYS AS ((price_minor * (100 - discount_percent) + 50) / 100) STORED,
    status                 text        NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'RESERVED')),
    patient_id             uuid,
    reserved_at            timestamptz,
    reservation_request_id text,
    version                bigint      NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_ends_check CHECK (ends_at = starts_at + make_interval(mins => duration_minutes)),
    CONSTRAINT appointments_holder_check
        CHECK ((status = 'RESERVED') = (patient_id IS NOT NULL AND reserved_at IS NOT NULL)),
    -- Doctor, room and exam type belong to the appointment's clinic.
    CONSTRAINT appointments_doctor_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
    CONSTRAINT appointments_room_fkey FOREIGN KEY (room_id, clinic_id) REFERENCES rooms (id, clinic_id),
    CONSTRAINT appointments_exam_type_fkey FOREIGN KEY (exam_type_id, clinic_id) REFERENCES exam_types (id, clinic_id),
    -- A doctor and a room never have two overlapping live appointments.
    CONSTRAINT appointments_doctor_overlap
        EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at) WITH &&),
    CONSTRAINT appointments_room_overlap
        EXCLUDE USING gist (room_id WITH =, tstzrange(starts_at, ends_at) WITH &&),
    -- A patient never holds two overlapping reservations.
    CONSTRAINT appointments_patient_overlap
        EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status = 'RESERVED')
);
-- ListAvailableAppointments: future AVAILABLE ones by start, optionally per clinic and exam type.
CREATE INDEX appointments_available_idx ON appointments (starts_at, id) WHERE status = 'AVAILABLE';
CREATE INDEX appointments_available_clinic_idx
    ON appointments (clinic_id, exam_type_id, starts_at, id) WHERE status = 'AVAILABLE';
-- ListMyAppointments.
CREATE INDEX appointments_patient_idx ON appointments (patient_id, starts_at) WHERE patient_id IS NOT NULL;

-- Transactional outbox (shared code in clinic-common::outbox); written in the reservation's transaction.
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
