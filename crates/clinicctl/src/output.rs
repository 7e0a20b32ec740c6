//! Responses on stdout: a table for lists, `field  value` lines for one message, or JSON (`--json`).
//!
//! Both read the message through its descriptor (the set `clinic-proto` embeds for reflection), so
//! every field of every response is shown without a hand-written view per message; JSON follows the
//! proto3 mapping (RFC 3339 times, enum names) with the proto field names, so it reads like the
//! request flags and the brief.

use std::{
    io::{self, Write},
    sync::LazyLock,
};

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};

use crate::{table, timestamps};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(clinic_proto::FILE_DESCRIPTOR_SET)
        .expect("clinic-proto embeds a valid descriptor set")
});

/// A response message this CLI prints, with its full protobuf name.
pub trait Shown: prost::Message {
    const NAME: &'static str;
}

// Short paths for the macro below.
pub(crate) mod names {
    pub use clinic_proto::pb::appointment::v1 as appointment;
    pub use clinic_proto::pb::notifier::v1 as notifier;
    pub use clinic_proto::pb::registration::v1 as registration;
}

macro_rules! shown_in {
    ($module:ident, $package:literal: $($t:ident),* $(,)?) => {$(
        impl Shown for names::$module::$t {
            const NAME: &'static str = concat!($package, ".", stringify!($t));
        }
    )*};
}

shown_in!(registration, "clinic.registration.v1":
    RegistrationRequest, ListRegistrationRequestsResponse, ApproveRegistrationRequestResponse,
    RejectRegistrationRequestResponse, ActivateAccountResponse, LoginResponse, Patient);
shown_in!(appointment, "clinic.appointment.v1":
    Clinic, ListClinicsResponse, Doctor, ListDoctorsResponse, Room, ListRoomsResponse, ExamType,
    ListExamTypesResponse, Appointment, ListAvailableAppointmentsResponse, ListMyAppointmentsResponse);
shown_in!(notifier, "clinic.notifier.v1": Delivery, ListDeliveriesResponse);

fn descriptor(name: &str) -> MessageDescriptor {
    POOL.get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is not in the descriptor set"))
}

fn dynamic<M: Shown>(msg: &M) -> DynamicMessage {
    DynamicMessage::decode(descriptor(M::NAME), msg.encode_to_vec().as_slice())
        .expect("a message re-decodes with its own descriptor")
}

/// The message as proto3 JSON with proto field names, every field present, 64-bit integers as numbers.
pub fn to_json<M: Shown>(msg: &M) -> serde_json::Value {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    dynamic(msg)
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a protobuf message serializes to JSON")
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// One message: JSON, or one `field  value` line per field (nested messages as `outer.inner`).
    pub fn one<M: Shown>(&self, msg: &M) -> io::Result<()> {
        if self.json {
            return emit(&format!("{:#}\n", to_json(msg)));
        }
        let mut lines = Vec::new();
        flatten("", &dynamic(msg), &mut lines);
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let text: String = lines
            .into_iter()
            .map(|(k, v)| format!("{k:<width$}  {v}\n"))
            .collect();
        emit(&text)
    }

    /// A list response: JSON, or its repeated field `rows` as a table of `columns` (field names),
    /// followed by the flag for the next page when there is one.
    pub fn list<M: Shown>(&self, msg: &M, rows: &str, columns: &[&str]) -> io::Result<()> {
        if self.json {
            return emit(&format!("{:#}\n", to_json(msg)));
        }
        let msg = dynamic(msg);
        let items = match msg.get_field_by_name(rows).as_deref() {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        };
        let cells: Vec<Vec<String>> = items
            .iter()
            .filter_map(Value::as_message)
            .map(|row| columns.iter().map(|c| cell(row, c)).collect())
            .collect();
        let mut text = table::render(columns, &cells);
        if let Some(next) = msg.get_field_by_name("next_page_token")
            && let Some(next) = next.as_str()
            && !next.is_empty()
        {
            text += &format!("next page: --page-token {next}\n");
        }
        emit(&text)
    }
}

/// Writes to stdout. Unlike `println!` it does not panic when the reader went away (`| head`): the
/// broken pipe comes back as an error, which `crate::main` treats as a quiet success.
pub fn emit(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// A table cell: like [`show`], with times to the second so columns stay narrow.
fn cell(row: &DynamicMessage, column: &str) -> String {
    match row.descriptor().get_field_by_name(column) {
        Some(field) => {
            let shown = show(row, &field);
            match field.kind() {
                Kind::Message(m) if is_timestamp(&m) => timestamps::to_seconds(&shown),
                _ => shown,
            }
        }
        None => "?".to_owned(),
    }
}

fn flatten(prefix: &str, msg: &DynamicMessage, out: &mut Vec<(String, String)>) {
    for field in msg.descriptor().fields() {
        let name = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(m) if !is_timestamp(&m) && !field.is_list() => {
                if msg.has_field(&field) {
                    flatten(
                        &format!("{name}."),
                        msg.get_field(&field).as_message().expect("message"),
                        out,
                    );
                } else {
                    out.push((name, "-".to_owned()));
                }
            }
            _ => out.push((name, show(msg, &field))),
        }
    }
}

fn is_timestamp(m: &MessageDescriptor) -> bool {
    m.full_name() == "google.protobuf.Timestamp"
}

/// One field's value as a table cell: `-` when empty or unset, enum values without their prefix,
/// times in RFC 3339.
fn show(msg: &DynamicMessage, field: &FieldDescriptor) -> String {
    if field.supports_presence() && !msg.has_field(field) {
        return "-".to_owned();
    }
    scalar(&field.kind(), &msg.get_field(field))
}

fn scalar(kind: &Kind, value: &Value) -> String {
    match (kind, value) {
        (_, Value::String(s)) if s.is_empty() => "-".to_owned(),
        (_, Value::String(s)) => s.clone(),
        (Kind::Enum(e), Value::EnumNumber(n)) => match e.get_value(*n) {
            Some(v) => short_enum_name(e.values().next().map(|u| u.name().to_owned()), v.name()),
            None => n.to_string(),
        },
        (Kind::Message(m), Value::Message(ts)) if is_timestamp(m) => {
            match ts.transcode_to::<prost_types::Timestamp>() {
                Ok(ts) => timestamps::format(&ts),
                Err(_) => "?".to_owned(),
            }
        }
        (_, Value::List(items)) => items
            .iter()
            .map(|v| scalar(kind, v))
            .collect::<Vec<_>>()
            .join(","),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::I32(n)) => n.to_string(),
        (_, Value::I64(n)) => n.to_string(),
        (_, Value::U32(n)) => n.to_string(),
        (_, Value::U64(n)) => n.to_string(),
        (_, Value::F32(n)) => n.to_string(),
        (_, Value::F64(n)) => n.to_string(),
        (_, other) => format!("{other:?}"),
    }
}

/// `APPOINTMENT_STATUS_AVAILABLE` → `AVAILABLE`, by the prefix of the enum's zero value
/// (`APPOINTMENT_STATUS_UNSPECIFIED`).
fn short_enum_name(zero: Option<String>, name: &str) -> String {
    let prefix = zero
        .as_deref()
        .and_then(|z| z.strip_suffix("UNSPECIFIED"))
        .unwrap_or_default();
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{appointment, notifier, registration};

    #[test]
    fn every_table_column_is_a_field_of_its_row_message() {
        let tables = [
            (
                "clinic.registration.v1.RegistrationRequest",
                registration::REQUEST_COLUMNS,
            ),
            ("clinic.appointment.v1.Clinic", appointment::CLINIC_COLUMNS),
            ("clinic.appointment.v1.Doctor", appointment::DOCTOR_COLUMNS),
            ("clinic.appointment.v1.Room", appointment::ROOM_COLUMNS),
            (
                "clinic.appointment.v1.ExamType",
                appointment::EXAM_TYPE_COLUMNS,
            ),
            (
                "clinic.appointment.v1.Appointment",
                appointment::APPOINTMENT_COLUMNS,
            ),
            ("clinic.notifier.v1.Delivery", notifier::DELIVERY_COLUMNS),
        ];
        for (message, columns) in tables {
            let desc = descriptor(message);
            for c in columns {
                assert!(
                    desc.get_field_by_name(c).is_some(),
                    "{message} has no field {c}"
                );
            }
        }
    }

    #[test]
    fn every_shown_message_is_in_the_descriptor_set() {
        fn check<M: Shown + Default>() {
            assert!(to_json(&M::default()).is_object(), "{}", M::NAME);
        }
        use names::{appointment as a, notifier as n, registration as r};
        check::<r::RegistrationRequest>();
        check::<r::ListRegistrationRequestsResponse>();
        check::<r::ApproveRegistrationRequestResponse>();
        check::<r::RejectRegistrationRequestResponse>();
        check::<r::ActivateAccountResponse>();
        check::<r::LoginResponse>();
        check::<r::Patient>();
        check::<a::Clinic>();
        check::<a::ListClinicsResponse>();
        check::<a::Doctor>();
        check::<a::ListDoctorsResponse>();
        check::<a::Room>();
        check::<a::ListRoomsResponse>();
        check::<a::ExamType>();
        check::<a::ListExamTypesResponse>();
        check::<a::Appointment>();
        check::<a::ListAvailableAppointmentsResponse>();
        check::<a::ListMyAppointmentsResponse>();
        check::<n::Delivery>();
        check::<n::ListDeliveriesResponse>();
    }

    #[test]
    fn enums_lose_their_prefix_and_times_read_as_rfc3339() {
        let a = names::appointment::Appointment {
            id: "a1".into(),
            status: names::appointment::AppointmentStatus::Reserved as i32,
            starts_at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let msg = dynamic(&a);
        assert_eq!(cell(&msg, "status"), "RESERVED");
        assert_eq!(cell(&msg, "starts_at"), "2027-01-15T08:00:00Z");
        assert_eq!(cell(&msg, "reserved_at"), "-");
        assert_eq!(cell(&msg, "patient_id"), "-");
        let mut a = a;
        a.created_at = Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 250_000_000,
        });
        let msg = dynamic(&a);
        assert_eq!(cell(&msg, "created_at"), "2027-01-15T08:00:00Z");
        assert_eq!(
            show(
                &msg,
                &msg.descriptor().get_field_by_name("created_at").unwrap()
            ),
            "2027-01-15T08:00:00.25Z"
        );

        let json = to_json(&a);
        assert_eq!(json["status"], "APPOINTMENT_STATUS_RESERVED");
        assert_eq!(json["starts_at"], "2027-01-15T08:00:00Z");
        assert_eq!(json["version"], 0);
    }
}
