//! The mail a channel sends: subject "[CoreNAS <instance>] <LEVEL>: <summary>" (a digest:
//! "N alerts"), a plain-text body, Date and Message-ID. Alert text comes from firmware and tools,
//! so control characters are flattened before lettre encodes the headers (which would also
//! encode CR/LF; both guards keep a summary from adding a header).

use super::outgoing::{Outgoing, OutgoingKind, one_line, rfc3339};
use corenas_proto::monitor::{AlertState, SmtpSpec};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};

pub fn subject(msg: &Outgoing) -> String {
    let head = format!("[CoreNAS {}]", one_line(&msg.instance, 64));
    match (msg.kind, msg.alerts.as_slice()) {
        (OutgoingKind::Test, _) => format!("{head} TEST: a test message from CoreNAS"),
        (OutgoingKind::Digest, alerts) => format!("{head} DIGEST: {} alerts", alerts.len()),
        (_, [a]) => {
            let level = a.level.as_str().to_ascii_uppercase();
            let resolved = if msg.kind == OutgoingKind::Resolved { "RESOLVED " } else { "" };
            format!("{head} {resolved}{level}: {}", one_line(&a.summary, 200))
        }
        (_, alerts) => format!("{head} {} alerts", alerts.len()),
    }
}

pub fn body(msg: &Outgoing) -> String {
    let mut out = String::new();
    if msg.kind == OutgoingKind::Test {
        out.push_str(&format!(
            "This is a test message from CoreNAS on {}.\nIf you can read it, alerts reach you through this channel.\n",
            one_line(&msg.instance, 64)
        ));
        return out;
    }
    if msg.kind == OutgoingKind::Digest {
        out.push_str(&format!("{} alerts on {}:\n\n", msg.alerts.len(), one_line(&msg.instance, 64)));
    }
    for a in &msg.alerts {
        let state = match (msg.kind, a.state) {
            (OutgoingKind::Resolved, _) | (_, AlertState::Resolved) => "resolved",
            _ => "active",
        };
        out.push_str(&format!("{} ({}, {state})\n", one_line(&a.summary, 500), a.level));
        out.push_str(&format!("  What to do: {}\n", one_line(&a.action, 500)));
        out.push_str(&format!("  Subject:    {} ({})\n", one_line(&a.subject, 200), a.class));
        out.push_str(&format!("  First seen: {}\n", rfc3339(a.first_seen)));
        if let Some(t) = a.resolved_at {
            out.push_str(&format!("  Resolved:   {}\n", rfc3339(t)));
        }
        out.push('\n');
    }
    out
}

/// A host-name-like word for the Message-ID's right side.
pub(super) fn id_domain(instance: &str) -> String {
    let d: String = instance.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').take(63).collect();
    if d.is_empty() { "corenas.invalid".to_owned() } else { d }
}

pub fn build(spec: &SmtpSpec, msg: &Outgoing) -> Result<Message, String> {
    let parse = |a: &str| a.parse::<lettre::Address>().map_err(|e| format!("mail address {a}: {e}"));
    let from = Mailbox::new(Some("CoreNAS".to_owned()), parse(spec.from.as_str())?);
    let mut to = Mailboxes::new();
    for a in &spec.to {
        to.push(Mailbox::new(None, parse(a.as_str())?));
    }
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness for the Message-ID: {e}"))?;
    Message::builder()
        .from(from)
        .mailbox(lettre::message::header::To::from(to))
        .subject(subject(msg))
        .date_now()
        .message_id(Some(format!("<{}@{}>", hex::encode(random), id_domain(&msg.instance))))
        .header(ContentType::TEXT_PLAIN)
        .body(body(msg))
        .map_err(|e| format!("the message could not be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, SmtpSecurity};

    fn alert(summary: &str) -> Alert {
        Alert {
            id: "a1".into(),
            class: AlertClass::DiskFailing,
            subject: "wwn-0x5000".into(),
            level: AlertLevel::Critical,
            state: AlertState::Active,
            summary: summary.into(),
            action: "replace the disk".into(),
            first_seen: 1_700_000_000,
            last_seen: 1_700_000_100,
            resolved_at: None,
            dismissed_by: None,
            dismissed_at: None,
            silenced_by: None,
        }
    }

    fn spec() -> SmtpSpec {
        SmtpSpec {
            host: "mail.example.org".parse().unwrap(),
            port: 587,
            security: SmtpSecurity::Starttls,
            from: "nas@example.org".parse().unwrap(),
            to: vec!["ops@example.org".parse().unwrap(), "b@example.org".parse().unwrap()],
            username: None,
            password: None,
            ca_file: None,
        }
    }

    fn out(kind: OutgoingKind, alerts: Vec<Alert>) -> Outgoing {
        Outgoing { kind, alerts, instance: "nas1".into() }
    }

    #[test]
    fn subject_names_instance_level_and_summary() {
        let m = out(OutgoingKind::Firing, vec![alert("disk sda failing")]);
        assert_eq!(subject(&m), "[CoreNAS nas1] CRITICAL: disk sda failing");
        let d = out(OutgoingKind::Digest, vec![alert("a"), alert("b"), alert("c")]);
        assert_eq!(subject(&d), "[CoreNAS nas1] DIGEST: 3 alerts");
    }

    #[test]
    fn headers_and_body() {
        let m = build(&spec(), &out(OutgoingKind::Firing, vec![alert("disk sda failing")])).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        for h in ["From: ", "To: ", "Subject: ", "Date: ", "Message-ID: <", "Content-Type: text/plain"] {
            assert!(head.contains(h), "{h} missing in {head}");
        }
        assert!(head.contains("ops@example.org") && head.contains("b@example.org"));
        assert!(body.contains("What to do: replace the disk"), "{body}");
        assert!(body.contains("First seen: 2023-11-14T22:13:20Z"), "{body}");
        assert!(body.contains("wwn-0x5000"), "{body}");
    }

    /// The attacker: a disk model or tool message carrying CR/LF and a header of its own.
    #[test]
    fn firmware_text_cannot_add_headers() {
        let evil = "disk failing\r\nBcc: victim@evil.example\r\nX-Injected: yes\n\r\n.\r\nMAIL FROM:<x@y>";
        let mut a = alert(evil);
        a.action = evil.into();
        a.subject = evil.into();
        let m = build(&spec(), &out(OutgoingKind::Firing, vec![a])).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        // Unfold (a line starting with white space continues the header before it), then
        // every header must be one this code set: none came from the alert text.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        let names: Vec<&str> = unfolded.split("\r\n").map(|l| l.split(':').next().unwrap()).collect();
        for n in &names {
            assert!(
                [
                    "From",
                    "To",
                    "Subject",
                    "Date",
                    "Message-ID",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "MIME-Version"
                ]
                .contains(n),
                "an injected header {n:?} in\n{head}"
            );
        }
        assert_eq!(names.iter().filter(|n| **n == "To").count(), 1);
        let subject = unfolded.split("\r\n").find(|l| l.starts_with("Subject: ")).unwrap();
        assert!(subject.contains("Bcc: victim@evil.example"), "the text stays inside the subject: {subject}");
        // In the body, the text stays on its line (QP soft breaks "=\r\n" joined): CR/LF became
        // spaces, so no line of the alert text stands alone (a lone "." would end DATA).
        let joined = body.replace("=\r\n", "");
        assert!(joined.contains("disk failing  Bcc: victim@evil.example  X-Injected: yes"), "{joined}");
        assert!(!joined.split("\r\n").any(|l| l == "." || l.starts_with("MAIL FROM")), "{joined}");
        // Control characters never reach the message at all.
        assert!(!raw.contains('\u{0}'));
    }
}
