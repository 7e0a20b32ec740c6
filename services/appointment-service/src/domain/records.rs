use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    Available,
    Reserved,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Available => "AVAILABLE",
            AppointmentStatus::Reserved => "RESERVED",
        }
    }
}

impl TryFrom<String> for AppointmentStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "AVAILABLE" => Ok(Self::Available),
            "RESERVED" => Ok(Self::Reserved),
            other => Err(format!("unknown appointment status {other}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppointmentRecord {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub doctor_id: Uuid,
    pub room_id: Uuid,
    pub exam_type_id: Uuid,
    pub starts_at: OffsetDateTime,
    pub duration_minutes: i32,
    pub price_minor: i64,
    pub currency: String,
    pub discount_percent: i32,
    pub final_price_minor: i64,
    #[sqlx(try_from = "String")]
    pub status: AppointmentStatus,
    pub patient_id: Option<Uuid>,
    pub reserved_at: Option<OffsetDateTime>,
    pub reservation_request_id: Option<String>,
    pub version: i64,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Clinic {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub city: String,
    pub time_zone: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Doctor {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub specialization: String,
    pub created_at: OffsetDateTime,
}

/// A room or an exam type.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Named {
    pub id: Uuid,
    pub clinic_id: Uuid,
    pub name: String,
    pub created_at: OffsetDateTime,
}
