//! Just enough RFC 5322/MIME reading for assertions: a few headers and the text/plain part.

use std::time::SystemTime;

use base64::Engine;

use super::Mail;

pub(super) fn parse(raw: String, accepted_at: SystemTime) -> Mail {
    let unix = raw.replace("\r\n", "\n");
    let (head, body) = unix.split_once("\n\n").unwrap_or((&unix, ""));
    let content_type = header(head, "Content-Type");
    let text = if content_type.starts_with("multipart/") {
        text_part(body)
    } else if content_type.is_empty() || content_type.starts_with("text/plain") {
        decode(body, head)
    } else {
        String::new()
    };
    Mail {
        message_id: header(head, "Message-ID"),
        to: header(head, "To"),
        subject: header(head, "Subject"),
        text,
        accepted_at,
        raw,
    }
}

/// The unfolded value of the last `name` header, or "".
fn header(head: &str, name: &str) -> String {
    let mut value = String::new();
    let mut inside = false;
    for line in head.lines() {
        if inside && line.starts_with([' ', '\t']) {
            value.push_str(line.trim_start());
            continue;
        }
        inside = false;
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = v.trim().to_owned();
            inside = true;
        }
    }
    value
}

/// The text/plain part of a multipart body, transfer-decoded.
fn text_part(body: &str) -> String {
    for part in body.split("\n--") {
        let Some((head, content)) = part.split_once("\n\n") else {
            continue;
        };
        if header(head, "Content-Type").starts_with("text/plain") {
            return decode(content, head);
        }
    }
    String::new()
}

/// `content` decoded by the Content-Transfer-Encoding that `head` names.
fn decode(content: &str, head: &str) -> String {
    let content = content.trim_end();
    match header(head, "Content-Transfer-Encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => {
            let joined: String = content.lines().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        "quoted-printable" => quoted_printable(content),
        _ => content.to_owned(),
    }
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.replace("=\n", "").into_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'='
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
