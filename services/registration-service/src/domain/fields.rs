//! Newtypes for every free-text field: once parsed, a value is known to be valid.

use clinic_common::error::FieldViolation;
use secrecy::{ExposeSecret, SecretString};

pub use clinic_common::validate::{bounded_text, request_id as client_request_id};

/// A syntactically valid e-mail address, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, FieldViolation> {
        let value = raw.trim().to_lowercase();
        let bad = |why: &str| FieldViolation::new("email", why.to_owned());
        if value.is_empty() {
            return Err(bad("is required"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(bad("must be at most 254 characters"));
        }
        let parsed: email_address::EmailAddress = value
            .parse()
            .map_err(|_| bad("is not a valid e-mail address"))?;
        // Display names and IP literals are legal in RFC 5322 but not in a patient's address.
        if parsed.as_str() != value
            || !parsed.domain().contains('.')
            || value.contains(['<', '>', '['])
        {
            return Err(bad("is not a valid e-mail address"));
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy: 10–128 characters with at least one letter and one digit.
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Password, FieldViolation> {
        let n = raw.chars().count();
        let bad = |why: &str| FieldViolation::new("password", why.to_owned());
        if n < 10 {
            return Err(bad("must be at least 10 characters"));
        }
        if n > 128 {
            return Err(bad("must be at most 128 characters"));
        }
        if !raw.chars().any(char::is_alphabetic) || !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(bad("must contain a letter and a digit"));
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A phone number: digits with optional leading `+`, spaces, dashes and parentheses; 6–15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Phone, FieldViolation> {
        let value = raw.trim();
        let bad = || {
            FieldViolation::new(
                "phone",
                "must be 6–15 digits, optionally with +, spaces, dashes or parentheses",
            )
        };
        let body = value.strip_prefix('+').unwrap_or(value);
        if !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
        {
            return Err(bad());
        }
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !(6..=15).contains(&digits) || value.len() > 25 {
            return Err(bad());
        }
        Ok(Phone(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A health-insurance number: 6–20 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsuranceNumber(String);

impl InsuranceNumber {
    pub fn parse(raw: &str) -> Result<InsuranceNumber, FieldViolation> {
        let value = raw.trim();
        if !(6..=20).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldViolation::new(
                "insurance_number",
                "must be 6–20 digits",
            ));
        }
        Ok(InsuranceNumber(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a request was rejected: required, 1–1000 characters, kept for audit and sent to the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionReason(String);

impl RejectionReason {
    pub fn parse(raw: &str) -> Result<RejectionReason, FieldViolation> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldViolation::new("reason", "is required"));
        }
        if value.chars().count() > 1000 {
            return Err(FieldViolation::new(
                "reason",
                "must be at most 1000 characters",
            ));
        }
        // Line breaks are fine in a reason; other control characters, and invisible formatting or
        // separator characters (it is shown in an e-mail), are not.
        if value.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\r' && c != '\t')
                || clinic_common::validate::is_invisible(c)
        }) {
            return Err(FieldViolation::new(
                "reason",
                "must not contain control characters",
            ));
        }
        Ok(RejectionReason(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@localhost",
            "Ana <ana@example.com>",
            "a b@example.com",
            "ana@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse 1").is_ok());
        assert!(Password::parse("short1").is_err());
        assert!(Password::parse("onlyletters").is_err());
        assert!(Password::parse("1234567890").is_err());
        assert!(Password::parse(&format!("a1{}", "x".repeat(127))).is_err());
    }

    #[test]
    fn phones_and_insurance() {
        assert!(Phone::parse("+381 (11) 123-4567").is_ok());
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(InsuranceNumber::parse("12345678901").is_ok());
        assert!(InsuranceNumber::parse("12345").is_err());
        assert!(InsuranceNumber::parse("1234567x").is_err());
    }

    #[test]
    fn reasons() {
        assert!(RejectionReason::parse("").is_err());
        assert!(RejectionReason::parse(&"r".repeat(1001)).is_err());
        assert!(RejectionReason::parse("Insurance number\ndoes not match").is_ok());
    }
}
