//! One SMTP session: the part of RFC 5321 that lettre's client uses (EHLO/HELO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT); any other command gets 502. Commands are read from a buffer one after another, so
//! pipelined commands (RFC 2920) are answered in order.

use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::Shared;

const EHLO_REPLY: &str = "250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";

pub(super) async fn run(socket: impl AsyncRead + AsyncWrite, shared: Arc<Shared>) {
    let (read, write) = tokio::io::split(socket);
    // A client that hangs up mid-session is not our failure to report.
    let _ = converse(BufReader::new(read), write, &shared).await;
}

async fn converse(
    mut read: impl AsyncBufRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
    shared: &Shared,
) -> std::io::Result<()> {
    // Flushed at once: over TLS a reply may otherwise wait in the stream's buffer.
    let mut say = async |reply: &str| {
        write.write_all(reply.as_bytes()).await?;
        write.flush().await
    };
    say("220 localhost ESMTP clinic test server\r\n").await?;
    let mut greeted = false;
    // Recipients of the open transaction, from MAIL FROM on.
    let mut recipients: Option<Vec<String>> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                greeted = true;
                recipients = None;
                if verb.eq_ignore_ascii_case("EHLO") {
                    EHLO_REPLY
                } else {
                    "250 localhost\r\n"
                }
            }
            "MAIL" if !greeted => "503 5.5.1 EHLO first\r\n",
            "MAIL" if recipients.is_some() => "503 5.5.1 nested MAIL\r\n",
            "MAIL" => match path(arg, "FROM:") {
                Some(_) => {
                    recipients = Some(Vec::new());
                    "250 2.1.0 OK\r\n"
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (recipients.as_mut(), path(arg, "TO:")) {
                (None, _) => "503 5.5.1 MAIL first\r\n",
                (Some(_), None) => "501 5.5.4 syntax: RCPT TO:<address>\r\n",
                (Some(_), Some(to)) if shared.rejects(&to) => "550 5.1.1 mailbox unavailable\r\n",
                (Some(_), Some(to)) if shared.defers(&to) => {
                    "450 4.2.1 mailbox busy, try again later\r\n"
                }
                (Some(all), Some(to)) => {
                    all.push(to);
                    "250 2.1.5 OK\r\n"
                }
            },
            "DATA" if recipients.as_ref().is_none_or(Vec::is_empty) => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                say("354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let raw = read_data(&mut read).await?;
                let held = shared.hold();
                let was_held = held.is_some();
                if let Some(mut hold) = held {
                    let gone = tokio::select! {
                        _ = hold.wait_for(|h| !h.on) => false,
                        // The client hung up (or spoke out of turn) before it had an answer: the
                        // message was never accepted.
                        _ = read.fill_buf() => true,
                    };
                    shared.unhold();
                    if gone {
                        return Ok(());
                    }
                }
                let delay = shared.accept_delay();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                shared.store(raw);
                if !was_held {
                    shared.stored();
                }
                recipients = None;
                "250 2.0.0 OK queued\r\n"
            }
            "RSET" => {
                recipients = None;
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                say("221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognized\r\n",
        };
        if let Some(delay) = shared.stall(verb) {
            tokio::time::sleep(delay).await;
        }
        say(reply).await?;
    }
}

/// The address in `FROM:<a@b> PARAMS` (after `prefix`, case-insensitive); `<>` gives "".
fn path(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start().strip_prefix('<')?;
    let (address, _params) = rest.split_once('>')?;
    Some(address.to_owned())
}

/// The message up to the lone `.` line, dot-unstuffed (RFC 5321 §4.5.2).
async fn read_data(read: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<String> {
    let mut message = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(String::from_utf8_lossy(&message).into_owned());
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        message.extend_from_slice(unstuffed);
    }
}
