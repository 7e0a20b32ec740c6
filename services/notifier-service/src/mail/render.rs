//! Compile-time checked templates (askama; HTML escaped, text not) for the five e-mails.

use askama::Template;
use serde::Deserialize;

/// Who an e-mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// A rendered e-mail.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: Contact,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Generates a plain-text and an HTML template struct with the same fields.
macro_rules! mail_template {
    ($text:ident = $tfile:literal, $html:ident = $hfile:literal, { $($field:ident),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $tfile)]
        struct $text<'a> { $($field: &'a str),* }
        #[derive(Template)]
        #[template(path = $hfile)]
        struct $html<'a> { $($field: &'a str),* }
    };
}

mail_template!(ApprovedText = "approved.txt", ApprovedHtml = "approved.html", { first_name, last_name, link, expires });
mail_template!(RejectedText = "rejected.txt", RejectedHtml = "rejected.html", { first_name, last_name, reason });
mail_template!(AlreadyText = "already_registered.txt", AlreadyHtml = "already_registered.html", {
    first_name, last_name, what, what_capitalised
});
mail_template!(ReservedText = "reserved.txt", ReservedHtml = "reserved.html", {
    first_name, last_name, exam_type, starts, time_zone, duration_minutes, doctor, room, clinic, clinic_address, price
});
mail_template!(CancelledText = "cancelled.txt", CancelledHtml = "cancelled.html", {
    first_name, last_name, exam_type, starts, time_zone, doctor, clinic, clinic_address
});

#[derive(Debug, Deserialize)]
struct Approved {
    email: String,
    first_name: String,
    last_name: String,
    activation_token: String,
    activation_expires_at: String,
}

#[derive(Debug, Deserialize)]
struct Rejected {
    email: String,
    first_name: String,
    last_name: String,
    reason: String,
}

/// `registration.already_registered`: someone submitted the holder's e-mail or insurance number.
#[derive(Debug, Deserialize)]
struct AlreadyRegistered {
    email: String,
    first_name: String,
    last_name: String,
    /// `email` or `insurance_number`.
    matched: String,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ClinicInfo {
    name: String,
    address: String,
    city: String,
    time_zone: String,
}

#[derive(Debug, Deserialize)]
struct DoctorInfo {
    first_name: String,
    last_name: String,
}

/// The payload of `appointment.reserved` and `appointment.cancelled`.
#[derive(Debug, Deserialize)]
pub struct AppointmentEvent {
    pub patient_id: uuid::Uuid,
    clinic: ClinicInfo,
    doctor: DoctorInfo,
    room: Named,
    exam_type: Named,
    starts_at: String,
    duration_minutes: i32,
    final_price_minor: i64,
    currency: String,
}

/// Which patient an appointment event concerns (the notifier looks their contact up).
pub fn appointment_patient(payload: &serde_json::Value) -> anyhow::Result<uuid::Uuid> {
    Ok(serde_json::from_value::<AppointmentEvent>(payload.clone())?.patient_id)
}

/// "12.50 EUR" from minor units (two decimals; zero-decimal currencies as whole units).
fn price(minor: i64, currency: &str) -> String {
    const ZERO_DECIMAL: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    if ZERO_DECIMAL.contains(&currency) {
        format!("{minor} {currency}")
    } else {
        format!("{}.{:02} {currency}", minor / 100, minor % 100)
    }
}

/// The start in the clinic's own time zone, e.g. "Monday 30 November 2026, 14:30".
fn local_time(rfc3339: &str, zone: &str) -> anyhow::Result<String> {
    let ts: jiff::Timestamp = rfc3339.parse()?;
    let tz = jiff::tz::TimeZone::get(zone)?;
    Ok(ts
        .to_zoned_datetime(tz)
        .strftime("%A %-d %B %Y, %H:%M")
        .to_string())
}

/// Renders the e-mail for an event. `contact` is required for appointment events (their payload
/// carries the patient id, not the address).
pub fn render(
    event_type: &str,
    payload: &serde_json::Value,
    contact: Option<&Contact>,
    activation_base_url: &str,
) -> anyhow::Result<Email> {
    match event_type {
        "registration.approved" => {
            let p: Approved = serde_json::from_value(payload.clone())?;
            let link = format!("{activation_base_url}?token={}", p.activation_token);
            let expires = p.activation_expires_at.as_str();
            let (first_name, last_name) = (p.first_name.as_str(), p.last_name.as_str());
            Ok(Email {
                subject: "Your Clinic Center registration is approved".into(),
                text: ApprovedText {
                    first_name,
                    last_name,
                    link: &link,
                    expires,
                }
                .render()?,
                html: ApprovedHtml {
                    first_name,
                    last_name,
                    link: &link,
                    expires,
                }
                .render()?,
                to: Contact {
                    email: p.email.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                },
            })
        }
        "registration.rejected" => {
            let p: Rejected = serde_json::from_value(payload.clone())?;
            let (first_name, last_name, reason) = (
                p.first_name.as_str(),
                p.last_name.as_str(),
                p.reason.as_str(),
            );
            Ok(Email {
                subject: "Your Clinic Center registration was not approved".into(),
                text: RejectedText {
                    first_name,
                    last_name,
                    reason,
                }
                .render()?,
                html: RejectedHtml {
                    first_name,
                    last_name,
                    reason,
                }
                .render()?,
                to: Contact {
                    email: p.email.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                },
            })
        }
        "registration.already_registered" => {
            let p: AlreadyRegistered = serde_json::from_value(payload.clone())?;
            let (what, what_capitalised) = match p.matched.as_str() {
                "email" => ("your e-mail address", "This address"),
                "insurance_number" => ("your insurance number", "This insurance number"),
                other => anyhow::bail!("unknown match {other:?}"),
            };
            let (first_name, last_name) = (p.first_name.as_str(), p.last_name.as_str());
            Ok(Email {
                subject: "Someone tried to register with your details".into(),
                text: AlreadyText {
                    first_name,
                    last_name,
                    what,
                    what_capitalised,
                }
                .render()?,
                html: AlreadyHtml {
                    first_name,
                    last_name,
                    what,
                    what_capitalised,
                }
                .render()?,
                to: Contact {
                    email: p.email.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                },
            })
        }
        "appointment.reserved" | "appointment.cancelled" => {
            let p: AppointmentEvent = serde_json::from_value(payload.clone())?;
            let to = contact
                .ok_or_else(|| anyhow::anyhow!("no contact for patient {}", p.patient_id))?
                .clone();
            let starts = local_time(&p.starts_at, &p.clinic.time_zone)?;
            let doctor = format!("Dr {} {}", p.doctor.first_name, p.doctor.last_name);
            let clinic_address = format!("{}, {}", p.clinic.address, p.clinic.city);
            let (first_name, last_name) = (to.first_name.as_str(), to.last_name.as_str());
            let (exam_type, time_zone, clinic) = (
                p.exam_type.name.as_str(),
                p.clinic.time_zone.as_str(),
                p.clinic.name.as_str(),
            );
            if event_type == "appointment.reserved" {
                let price = price(p.final_price_minor, &p.currency);
                let duration = p.duration_minutes.to_string();
                let room = p.room.name.as_str();
                Ok(Email {
                    subject: format!("Appointment confirmed: {exam_type}, {starts}"),
                    text: ReservedText {
                        first_name,
                        last_name,
                        exam_type,
                        starts: &starts,
                        time_zone,
                        duration_minutes: &duration,
                        doctor: &doctor,
                        room,
                        clinic,
                        clinic_address: &clinic_address,
                        price: &price,
                    }
                    .render()?,
                    html: ReservedHtml {
                        first_name,
                        last_name,
                        exam_type,
                        starts: &starts,
                        time_zone,
                        duration_minutes: &duration,
                        doctor: &doctor,
                        room,
                        clinic,
                        clinic_address: &clinic_address,
                        price: &price,
                    }
                    .render()?,
                    to,
                })
            } else {
                Ok(Email {
                    subject: format!("Appointment cancelled: {exam_type}, {starts}"),
                    text: CancelledText {
                        first_name,
                        last_name,
                        exam_type,
                        starts: &starts,
                        time_zone,
                        doctor: &doctor,
                        clinic,
                        clinic_address: &clinic_address,
                    }
                    .render()?,
                    html: CancelledHtml {
                        first_name,
                        last_name,
                        exam_type,
                        starts: &starts,
                        time_zone,
                        doctor: &doctor,
                        clinic,
                        clinic_address: &clinic_address,
                    }
                    .render()?,
                    to,
                })
            }
        }
        other => anyhow::bail!("no template for event type {other}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rejection_escapes_the_reason_in_html_only() {
        let payload = json!({"email": "a@b.org", "first_name": "Ana", "last_name": "A", "reason": "<b>bad</b> & wrong"});
        let mail = render("registration.rejected", &payload, None, "https://x").unwrap();
        assert!(mail.text.contains("<b>bad</b> & wrong"));
        assert!(
            mail.html.contains("&#60;b&#62;bad&#60;/b&#62; &#38; wrong")
                || mail.html.contains("&lt;b&gt;bad&lt;/b&gt; &amp; wrong"),
            "{}",
            mail.html
        );
        assert_eq!(mail.to.email, "a@b.org");
    }

    #[test]
    fn the_holder_of_known_details_is_told_which_without_the_new_applicants_data() {
        let payload = json!({"email": "holder@b.org", "first_name": "Ana", "last_name": "A",
                             "matched": "insurance_number"});
        let mail = render(
            "registration.already_registered",
            &payload,
            None,
            "https://x",
        )
        .unwrap();
        assert_eq!(mail.to.email, "holder@b.org");
        assert_eq!(mail.subject, "Someone tried to register with your details");
        assert!(
            mail.text.contains("using your insurance number."),
            "{}",
            mail.text
        );
        assert!(
            mail.html
                .contains("This insurance number is already registered")
        );
        let unknown =
            json!({"email": "h@b.org", "first_name": "A", "last_name": "B", "matched": "phone"});
        assert!(
            render(
                "registration.already_registered",
                &unknown,
                None,
                "https://x"
            )
            .is_err()
        );
    }

    #[test]
    fn approval_carries_the_activation_link() {
        let payload = json!({"email": "a@b.org", "first_name": "Ana", "last_name": "A", "activation_token": "tok_123",
                             "activation_expires_at": "2026-12-01T10:00:00Z"});
        let mail = render(
            "registration.approved",
            &payload,
            None,
            "https://clinic.example/activate",
        )
        .unwrap();
        assert!(
            mail.text
                .contains("https://clinic.example/activate?token=tok_123")
        );
        assert!(
            mail.html
                .contains("https://clinic.example/activate?token=tok_123")
        );
    }

    #[test]
    fn reservation_shows_the_start_in_the_clinic_time_zone_and_the_final_price() {
        let payload = json!({"patient_id": uuid::Uuid::nil(), "clinic": {"name": "C", "address": "Street 1", "city": "Novi Sad", "time_zone": "Europe/Belgrade"},
            "doctor": {"first_name": "Mia", "last_name": "M"}, "room": {"name": "R1"}, "exam_type": {"name": "ECG"},
            "starts_at": "2026-11-30T13:30:00Z", "duration_minutes": 30, "final_price_minor": 8500, "currency": "EUR"});
        let to = Contact {
            email: "p@b.org".into(),
            first_name: "Pat".into(),
            last_name: "P".into(),
        };
        let mail = render("appointment.reserved", &payload, Some(&to), "").unwrap();
        assert!(
            mail.text.contains("Monday 30 November 2026, 14:30"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("85.00 EUR"));
        assert!(mail.text.contains("Dr Mia M"));
        assert!(
            render("appointment.reserved", &payload, None, "").is_err(),
            "needs a contact"
        );
    }

    #[test]
    fn prices() {
        assert_eq!(price(8500, "EUR"), "85.00 EUR");
        assert_eq!(price(5, "EUR"), "0.05 EUR");
        assert_eq!(price(1200, "JPY"), "1200 JPY");
    }
}
