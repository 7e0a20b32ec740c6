//! Field rules every service shares.

use uuid::Uuid;

use crate::error::FieldViolation;

/// Trimmed, non-empty, at most `max` characters, no control characters.
pub fn bounded_text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A required UUID field.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(raw).map_err(|_| FieldViolation::new(field, "must be a UUID"))
}

/// An optional idempotency key: 1–100 printable characters when present.
pub fn request_id(raw: Option<&str>) -> Result<Option<String>, FieldViolation> {
    raw.map(|r| bounded_text("request_id", r, 100)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_bounds() {
        assert_eq!(
            bounded_text("city", "  Novi Sad ", 100).unwrap(),
            "Novi Sad"
        );
        assert!(bounded_text("city", "   ", 100).is_err());
        assert!(bounded_text("city", &"x".repeat(101), 100).is_err());
        assert!(bounded_text("city", "a\u{0}b", 100).is_err());
        // Multibyte characters count as one.
        assert!(bounded_text("city", &"é".repeat(100), 100).is_ok());
        assert!(bounded_text("city", &"é".repeat(101), 100).is_err());
    }

    #[test]
    fn uuids_and_request_ids() {
        assert!(uuid("id", "42; DROP TABLE").is_err());
        assert!(uuid("id", &Uuid::new_v4().to_string()).is_ok());
        assert_eq!(request_id(None).unwrap(), None);
        assert!(request_id(Some("")).is_err());
        assert!(request_id(Some(&"k".repeat(101))).is_err());
    }
}
