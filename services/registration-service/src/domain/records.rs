use std::{fmt, str::FromStr};

use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "PENDING",
            RequestStatus::Approved => "APPROVED",
            RequestStatus::Rejected => "REJECTED",
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PENDING" => Ok(Self::Pending),
            "APPROVED" => Ok(Self::Approved),
            "REJECTED" => Ok(Self::Rejected),
            other => Err(format!("unknown request status {other}")),
        }
    }
}

impl TryFrom<String> for RequestStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    AwaitingActivation,
    Active,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::AwaitingActivation => "AWAITING_ACTIVATION",
            AccountStatus::Active => "ACTIVE",
        }
    }
}

impl TryFrom<String> for AccountStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "AWAITING_ACTIVATION" => Ok(Self::AwaitingActivation),
            "ACTIVE" => Ok(Self::Active),
            other => Err(format!("unknown account status {other}")),
        }
    }
}

/// A registration request as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistrationRecord {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub address: String,
    pub city: String,
    pub country: String,
    pub phone: String,
    pub insurance_number: String,
    #[sqlx(try_from = "String")]
    pub status: RequestStatus,
    pub version: i64,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<OffsetDateTime>,
    pub rejection_reason: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Where a request stands, read after a compare-and-swap matched nothing: enough to tell the losing
/// admin who decided what, and when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecidedState {
    #[sqlx(try_from = "String")]
    pub status: RequestStatus,
    pub version: i64,
    pub decided_by: Option<Uuid>,
    pub decided_by_email: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Patient {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[sqlx(try_from = "String")]
    pub status: AccountStatus,
}
