use clinic_common::error::FieldViolation;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A validated predefined appointment, ready to insert.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub clinic_id: Uuid,
    pub doctor_id: Uuid,
    pub room_id: Uuid,
    pub exam_type_id: Uuid,
    pub starts_at: OffsetDateTime,
    pub duration_minutes: i32,
    pub price_minor: i64,
    pub currency: String,
    pub discount_percent: i32,
}

impl NewAppointment {
    pub fn ends_at(&self) -> OffsetDateTime {
        self.starts_at + Duration::minutes(i64::from(self.duration_minutes))
    }

    pub fn starts_at(
        raw: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, FieldViolation> {
        match raw {
            None => Err(FieldViolation::new("starts_at", "is required")),
            Some(t) if t <= now => Err(FieldViolation::new("starts_at", "must be in the future")),
            Some(t) if t > now + Duration::days(3 * 365) => Err(FieldViolation::new(
                "starts_at",
                "must be within three years",
            )),
            // Whole minutes: schedules never need seconds, and it keeps ranges comparable.
            Some(t) if t.second() != 0 || t.nanosecond() != 0 => Err(FieldViolation::new(
                "starts_at",
                "must be on a whole minute",
            )),
            Some(t) => Ok(t),
        }
    }

    pub fn duration(raw: i32) -> Result<i32, FieldViolation> {
        if (5..=480).contains(&raw) {
            Ok(raw)
        } else {
            Err(FieldViolation::new(
                "duration_minutes",
                "must be between 5 and 480",
            ))
        }
    }

    pub fn price(raw: i64) -> Result<i64, FieldViolation> {
        // The upper bound keeps price * 100 far from overflow in the database's rounding.
        if (0..=1_000_000_000_000).contains(&raw) {
            Ok(raw)
        } else {
            Err(FieldViolation::new(
                "price_minor",
                "must be between 0 and 10^12 minor units",
            ))
        }
    }

    pub fn discount(raw: i32) -> Result<i32, FieldViolation> {
        if (0..=100).contains(&raw) {
            Ok(raw)
        } else {
            Err(FieldViolation::new(
                "discount_percent",
                "must be between 0 and 100",
            ))
        }
    }
}

/// The price after the discount, rounded half up — the same rule as the database's generated column.
pub fn final_price_minor(price_minor: i64, discount_percent: i32) -> i64 {
    (price_minor * (100 - i64::from(discount_percent)) + 50) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let now = OffsetDateTime::now_utc();
        let next_hour = now
            .replace_second(0)
            .unwrap()
            .replace_nanosecond(0)
            .unwrap()
            + Duration::hours(1);
        assert!(NewAppointment::starts_at(Some(next_hour), now).is_ok());
        assert!(NewAppointment::starts_at(Some(now - Duration::hours(1)), now).is_err());
        assert!(NewAppointment::starts_at(None, now).is_err());
        assert!(NewAppointment::duration(4).is_err() && NewAppointment::duration(481).is_err());
        assert!(NewAppointment::duration(5).is_ok() && NewAppointment::duration(480).is_ok());
        assert!(NewAppointment::price(-1).is_err() && NewAppointment::price(0).is_ok());
        assert!(NewAppointment::discount(101).is_err() && NewAppointment::discount(-1).is_err());
        assert!(NewAppointment::discount(100).is_ok());
    }

    #[test]
    fn final_price_rounds_half_up() {
        assert_eq!(final_price_minor(10_000, 0), 10_000);
        assert_eq!(final_price_minor(10_000, 15), 8_500);
        assert_eq!(final_price_minor(999, 50), 500);
        assert_eq!(final_price_minor(12_345, 100), 0);
    }
}
