//! Field rules every service shares.

use uuid::Uuid;

use crate::error::FieldViolation;

/// Unicode format characters (category Cf: bidi overrides and isolates, zero-width characters, the
/// BOM, tags …) and the line and paragraph separators (Zl, Zp): invisible, or reordering or breaking
/// what is displayed after them — a name with U+202E reads backwards in an e-mail subject.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a Unicode format character or a line or paragraph separator (see [`INVISIBLE`]).
pub fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// Trimmed, non-empty, at most `max` characters, no control, format or separator characters.
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
    if value.chars().any(is_invisible) {
        return Err(FieldViolation::new(
            field,
            "must not contain invisible formatting or line separator characters",
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
        // Bidi override, zero-width space and joiner, BOM, line separator, tag characters.
        for sneaky in [
            "Ana\u{202E}cilA",
            "A\u{200B}na",
            "A\u{200D}na",
            "\u{FEFF}Ana",
            "Ana\u{2028}Subject: x",
            "Ana\u{E0041}",
        ] {
            let err = bounded_text("first_name", sneaky, 100).unwrap_err();
            assert_eq!(err.field, "first_name", "{sneaky:?}");
        }
        // Letters and marks of every script stay welcome.
        for fine in ["Đorđe", "Јован", "محمد", "東京", "Zoë-Ann O'Neil"] {
            assert_eq!(bounded_text("first_name", fine, 100).unwrap(), fine);
        }
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

/// Arbitrary input never panics: it gives a violation naming the field, or a value that the same
/// rule accepts unchanged.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// Free text of every kind: any Unicode, printable text with padding, lossy-decoded bytes.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ \t\n]{0,2}[\\PC]{0,120}[ \t\n]{0,2}",
            proptest::collection::vec(any::<u8>(), 0..200)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

    proptest! {
        #[test]
        fn bounded_text_is_a_violation_or_a_fixed_point(raw in text(), max in 0usize..150) {
            match bounded_text("f", &raw, max) {
                Ok(value) => {
                    prop_assert!(!value.is_empty() && value.chars().count() <= max);
                    prop_assert!(!value.chars().any(char::is_control));
                    prop_assert!(!value.chars().any(is_invisible));
                    prop_assert_eq!(value.trim(), value.as_str());
                    prop_assert_eq!(bounded_text("f", &value, max), Ok(value.clone()));
                }
                Err(v) => prop_assert_eq!(v.field, "f"),
            }
        }

        #[test]
        fn uuid_is_a_violation_or_the_same_uuid_again(raw in text()) {
            match uuid("id", &raw) {
                Ok(id) => prop_assert_eq!(uuid("id", &id.to_string()), Ok(id)),
                Err(v) => prop_assert_eq!(v.field, "id"),
            }
        }

        #[test]
        fn every_uuid_spelling_parses_to_that_uuid(n in any::<u128>()) {
            let id = Uuid::from_u128(n);
            for spelling in [
                id.hyphenated().to_string(),
                id.simple().to_string(),
                id.urn().to_string(),
                id.braced().to_string(),
                id.hyphenated().to_string().to_uppercase(),
            ] {
                prop_assert_eq!(uuid("id", &spelling), Ok(id));
            }
        }

        #[test]
        fn request_id_is_absent_a_violation_or_a_fixed_point(raw in proptest::option::of(text())) {
            match request_id(raw.as_deref()) {
                Ok(None) => prop_assert!(raw.is_none()),
                Ok(Some(key)) => {
                    prop_assert_eq!(request_id(Some(&key)), Ok(Some(key.clone())));
                }
                Err(v) => prop_assert_eq!(v.field, "request_id"),
            }
        }
    }
}
