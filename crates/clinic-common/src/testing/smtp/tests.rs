use std::time::{Duration, Instant};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        MultiPart, SinglePart,
        header::{ContentTransferEncoding, ContentType},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::SmtpServer;

const WAIT: Duration = Duration::from_secs(10);

/// lettre's pooled client, as a service would hold it.
fn client(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port)
        .timeout(Some(WAIT))
        .build()
}

fn mail(to: &str, text: &str) -> Message {
    Message::builder()
        .message_id(Some(format!("<{}@clinic.test>", uuid::Uuid::new_v4())))
        .from("Clinic <noreply@clinic.test>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Your registration")
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .header(ContentTransferEncoding::SevenBit)
                .body(text.to_owned()),
        )
        .unwrap()
}

/// Writes `input` in one go and reads until the server closes.
async fn converse(port: u16, input: &str) -> String {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    socket.write_all(input.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, socket.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn a_lettre_client_sends_a_multipart_message_and_it_is_parsed() {
    let server = SmtpServer::start();
    let message = Message::builder()
        .message_id(Some("<one@clinic.test>".into()))
        .from("Clinic <noreply@clinic.test>".parse().unwrap())
        .to("Ana Doe <ana@mail.test>".parse().unwrap())
        .subject("Registration approved")
        .multipart(MultiPart::alternative_plain_html(
            "Welcome, Ana — activate: https://clinic.example/activate?token=abc".to_owned(),
            "<p>Welcome</p>".to_owned(),
        ))
        .unwrap();

    client(&server).send(message).await.unwrap();

    let mails = server.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].message_id, "<one@clinic.test>");
    assert!(mails[0].to.contains("ana@mail.test"), "{}", mails[0].to);
    assert_eq!(mails[0].subject, "Registration approved");
    assert_eq!(
        mails[0].text,
        "Welcome, Ana — activate: https://clinic.example/activate?token=abc"
    );
}

#[tokio::test]
async fn lines_starting_with_a_dot_round_trip() {
    let server = SmtpServer::start();
    let text = "first\n.\n..two dots\n.leading dot\nlast";

    client(&server)
        .send(mail("ana@mail.test", text))
        .await
        .unwrap();

    let mails = server.wait_for(1, WAIT).await;
    assert_eq!(mails[0].text, text);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order_and_unknown_ones_get_502() {
    let server = SmtpServer::start();

    let out = converse(
        server.port,
        "EHLO me\r\nVRFY ana\r\nMAIL FROM:<a@clinic.test> BODY=8BITMIME\r\nRCPT TO:<ana@mail.test>\r\n\
         DATA\r\nSubject: s\r\n\r\n..x\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n",
    )
    .await;

    let codes: Vec<&str> = out
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        [
            "220", "250", "502", "250", "250", "354", "250", "250", "250", "221"
        ],
        "{out}"
    );
    assert!(out.contains("250-PIPELINING"), "{out}");
    assert_eq!(server.messages()[0].raw, "Subject: s\r\n\r\n.x\r\n");
}

#[tokio::test]
async fn a_stopped_server_refuses_connections_closes_sessions_and_restarts_on_its_port() {
    let mut server = SmtpServer::start();
    let port = server.port;
    let pooled = client(&server);
    pooled.send(mail("a@mail.test", "one")).await.unwrap();
    let mut open = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut greeting = [0u8; 64];
    let _ = open.read(&mut greeting).await.unwrap();

    server.stop();

    let refused = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let after_stop = tokio::time::timeout(WAIT, open.read(&mut greeting)).await;
    assert!(
        matches!(after_stop, Ok(Ok(0) | Err(_))),
        "session still open: {after_stop:?}"
    );

    server.restart();

    assert_eq!(server.port, port);
    pooled.send(mail("b@mail.test", "two")).await.unwrap();
    let mails = server.wait_for(2, WAIT).await;
    let texts: Vec<&str> = mails.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn rejected_recipients_get_a_permanent_error_and_nothing_is_stored() {
    let server = SmtpServer::start();
    server.reject_recipients_containing("bounce");
    let client = client(&server);

    let err = client
        .send(mail("bounce@mail.test", "never"))
        .await
        .unwrap_err();

    assert!(err.is_permanent(), "{err}");
    assert_eq!(err.status().map(|c| c.to_string()), Some("550".into()));
    client.send(mail("ana@mail.test", "fine")).await.unwrap();
    let mails = server.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].text, "fine");
}

#[tokio::test]
async fn the_accept_delay_holds_back_the_answer_to_data() {
    let server = SmtpServer::start();
    server.set_accept_delay(Duration::from_millis(400));

    let started = Instant::now();
    client(&server)
        .send(mail("ana@mail.test", "slow"))
        .await
        .unwrap();

    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn wait_for_also_returns_a_duplicate_that_arrives_shortly_after() {
    let server = SmtpServer::start();
    let client = client(&server);
    let message = mail("ana@mail.test", "twice");
    client.send(message.clone()).await.unwrap();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.send(message).await.unwrap();
    });

    let mails = server.wait_for(1, WAIT).await;

    late.await.unwrap();
    assert_eq!(mails.len(), 2, "the late duplicate is counted");
    assert_eq!(mails[0].message_id, mails[1].message_id);
}

#[tokio::test]
async fn deferred_recipients_get_a_temporary_error() {
    let server = SmtpServer::start();
    server.defer_recipients_containing("busy");

    let err = client(&server)
        .send(mail("busy@mail.test", "later"))
        .await
        .unwrap_err();

    assert!(err.is_transient(), "{err}");
    assert_eq!(err.status().map(|c| c.to_string()), Some("450".into()));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_held_reply_goes_out_and_the_message_is_stored_only_on_release() {
    let server = SmtpServer::start();
    server.hold_replies();
    let client = client(&server);
    let send = tokio::spawn(async move { client.send(mail("ana@mail.test", "held")).await });

    server.wait_for_held(1, WAIT).await;
    assert!(server.messages().is_empty(), "stored before its reply");
    assert!(!send.is_finished());
    server.release_replies();

    send.await.unwrap().unwrap();
    let mails = server.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].text, "held");
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_reply_is_held_leaves_nothing_stored() {
    let server = SmtpServer::start();
    server.hold_replies();
    let first = client(&server);
    let send = tokio::spawn(async move { first.send(mail("ana@mail.test", "abandoned")).await });
    server.wait_for_held(1, WAIT).await;

    // Dropping the send drops its connection, as a client's timeout does.
    send.abort();
    let _ = send.await;
    let mut hold = server.shared.hold.subscribe();
    tokio::time::timeout(WAIT, hold.wait_for(|h| h.waiting == 0))
        .await
        .expect("the held session sees the hang-up")
        .unwrap();
    server.release_replies();
    client(&server)
        .send(mail("bo@mail.test", "after"))
        .await
        .unwrap();

    let mails = server.wait_for(1, WAIT).await;
    let texts: Vec<&str> = mails.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["after"]);
}
