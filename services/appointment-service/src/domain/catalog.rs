use clinic_common::error::FieldViolation;
use uuid::Uuid;

pub struct NewClinic {
    pub name: String,
    pub address: String,
    pub city: String,
    pub time_zone: String,
}

pub struct NewDoctor {
    pub clinic_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub specialization: String,
}

/// A room or an exam type: a name inside one clinic.
pub struct NewNamed {
    pub clinic_id: Uuid,
    pub name: String,
}

/// An IANA zone name shape (`Area/Location[/Sub]`) or `UTC`; the clinic's times are shown in it.
pub fn time_zone(raw: &str) -> Result<String, FieldViolation> {
    let value = raw.trim();
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 30
            && p.starts_with(|c: char| c.is_ascii_uppercase())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    let parts: Vec<&str> = value.split('/').collect();
    if value == "UTC" || ((2..=3).contains(&parts.len()) && parts.iter().all(|p| part_ok(p))) {
        Ok(value.to_owned())
    } else {
        Err(FieldViolation::new(
            "time_zone",
            "must be an IANA time zone such as Europe/Belgrade",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::time_zone;

    #[test]
    fn time_zones() {
        for ok in [
            "Europe/Belgrade",
            "America/Argentina/Buenos_Aires",
            "UTC",
            "Etc/GMT+2",
        ] {
            assert!(time_zone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Belgrade",
            "europe/belgrade",
            "../../etc/passwd",
            "Europe/Bel grade",
        ] {
            assert!(time_zone(bad).is_err(), "{bad}");
        }
    }
}
