//! How alerts, silences, policies and channels read on a terminal. Every text from corenasd
//! (summaries, subjects, transcripts) goes through the floor's escaping.

use crate::text::{Table, key_values, local_time, or_dash, printable, time_or_dash};
use corenas_proto::monitor::{Alert, ChannelInfo, ChannelKind, ClassPolicy, DeliveryReport, Silence};
use std::fmt::Write as _;

/// Worst first, then the most recently seen.
pub(crate) fn alerts_table(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "no alerts\n".to_owned();
    }
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| b.level.cmp(&a.level).then(b.last_seen.cmp(&a.last_seen)));
    let mut t = Table::new(&["ID", "LEVEL", "CLASS", "SUBJECT", "SINCE", "STATE", "SUMMARY"]);
    for a in sorted {
        let mut state = a.state.to_string();
        if a.dismissed_at.is_some() {
            state.push_str(",dismissed");
        }
        if a.silenced_by.is_some() {
            state.push_str(",silenced");
        }
        t.row([
            a.id.clone(),
            a.level.to_string(),
            a.class.to_string(),
            a.subject.clone(),
            local_time(a.first_seen),
            state,
            a.summary.clone(),
        ]);
    }
    t.render()
}

pub(crate) fn alert_block(a: &Alert) -> String {
    let dismissed = match (&a.dismissed_by, a.dismissed_at) {
        (Some(by), Some(at)) => format!("by {by} at {}", local_time(at)),
        _ => "-".to_owned(),
    };
    key_values(&[
        ("id", a.id.clone()),
        ("class", a.class.to_string()),
        ("subject", a.subject.clone()),
        ("level", a.level.to_string()),
        ("state", a.state.to_string()),
        ("summary", a.summary.clone()),
        ("what to do", a.action.clone()),
        ("first seen", local_time(a.first_seen)),
        ("last seen", local_time(a.last_seen)),
        ("resolved", time_or_dash(a.resolved_at)),
        ("dismissed", dismissed),
        ("silenced by", or_dash(a.silenced_by.as_deref())),
    ])
}

pub(crate) fn silence_line(s: &Silence) -> String {
    format!("silence {} until {}: {}\n", printable(&s.id), local_time(s.until), printable(&silence_matches(s)))
}

fn silence_matches(s: &Silence) -> String {
    match (&s.class, &s.subject) {
        (Some(c), Some(subj)) => format!("class {c}, subject {subj}"),
        (Some(c), None) => format!("class {c}"),
        (None, Some(subj)) => format!("subject {subj}"),
        (None, None) => "everything".to_owned(),
    }
}

pub(crate) fn silences_table(silences: &[Silence]) -> String {
    if silences.is_empty() {
        return "no silences\n".to_owned();
    }
    let mut t = Table::new(&["ID", "CLASS", "SUBJECT", "UNTIL", "BY", "REASON"]);
    for s in silences {
        t.row([
            s.id.clone(),
            s.class.map_or_else(|| "*".to_owned(), |c| c.to_string()),
            s.subject.clone().unwrap_or_else(|| "*".to_owned()),
            local_time(s.until),
            s.created_by.clone(),
            s.reason.clone(),
        ]);
    }
    t.render()
}

pub(crate) fn policies_table(policies: &[ClassPolicy]) -> String {
    let mut t = Table::new(&["CLASS", "DELIVERY", "SET BY", "SENT (7 DAYS)"]);
    for p in policies {
        let by = if p.default { "default" } else { "admin" };
        t.row([p.class.to_string(), p.delivery.to_string(), by.to_owned(), p.sent_7d.to_string()]);
    }
    t.render()
}

pub(crate) fn policy_line(p: &ClassPolicy) -> String {
    format!("{}: {}\n", p.class, p.delivery)
}

/// Where a channel delivers, on one line; never a password.
fn channel_target(kind: &ChannelKind) -> String {
    match kind {
        ChannelKind::Smtp(s) => {
            let to: Vec<&str> = s.to.iter().map(|a| a.as_str()).collect();
            let user = s.username.as_ref().map_or_else(String::new, |u| format!(" as {u}"));
            format!("{}:{} ({}{user}) to {}", s.host.as_str(), s.port, s.security, to.join(","))
        }
        ChannelKind::Webhook { url } | ChannelKind::Alertmanager { url } => url.as_str().to_owned(),
    }
}

pub(crate) fn channels_table(channels: &[ChannelInfo]) -> String {
    if channels.is_empty() {
        return "no channels: add one with `corenas-ctl alert channel add`\n".to_owned();
    }
    let mut t = Table::new(&["NAME", "TYPE", "MIN LEVEL", "QUEUED", "LAST DELIVERED", "TARGET", "LAST ERROR"]);
    for c in channels {
        t.row([
            c.name.clone(),
            c.kind.type_name().to_owned(),
            c.min_level.to_string(),
            c.queued.to_string(),
            time_or_dash(c.last_delivered),
            channel_target(&c.kind),
            or_dash(c.last_error.as_deref()),
        ]);
    }
    t.render()
}

pub(crate) fn channel_line(c: &ChannelInfo) -> String {
    format!(
        "channel {} ({}, {} and above): {}\n",
        printable(&c.name),
        c.kind.type_name(),
        c.min_level,
        printable(&channel_target(&c.kind))
    )
}

/// The conversation, then the verdict.
pub(crate) fn delivery_block(r: &DeliveryReport) -> String {
    let mut out = String::new();
    for line in &r.transcript {
        let _ = writeln!(out, "  {}", printable(line));
    }
    if r.ok {
        let _ = writeln!(out, "test message to {} delivered", printable(&r.channel));
    } else {
        let why = r.error.as_deref().unwrap_or("no reason given");
        let _ = writeln!(out, "test message to {} FAILED: {}", printable(&r.channel), printable(why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{AlertClass, AlertLevel, AlertState, SmtpSecurity, SmtpSpec};
    use corenas_proto::secret::RemoteSecret;

    fn alert(id: &str, level: AlertLevel, summary: &str) -> Alert {
        Alert {
            id: id.into(),
            class: AlertClass::PoolDegraded,
            subject: "tank".into(),
            level,
            state: AlertState::Active,
            summary: summary.into(),
            action: "replace the disk".into(),
            first_seen: 0,
            last_seen: 60,
            resolved_at: None,
            dismissed_by: None,
            dismissed_at: None,
            silenced_by: None,
        }
    }

    #[test]
    fn alerts_list_worst_first_and_escape_what_the_daemon_says() {
        let t = alerts_table(&[
            alert("a1", AlertLevel::Notice, "fine"),
            alert("a2", AlertLevel::Critical, "pool tank\u{1b}[2J is degraded"),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].starts_with("a2") && lines[2].starts_with("a1"), "{t}");
        assert!(!t.contains('\u{1b}'), "{t}");
        assert_eq!(alerts_table(&[]), "no alerts\n");
    }

    #[test]
    fn a_channel_never_shows_its_password() {
        let c = ChannelInfo {
            name: "ops".into(),
            kind: ChannelKind::Smtp(SmtpSpec {
                host: "mail.example.org".parse().unwrap(),
                port: 587,
                security: SmtpSecurity::Starttls,
                from: "nas@example.org".parse().unwrap(),
                to: vec!["ops@example.org".parse().unwrap()],
                username: Some("nas".parse().unwrap()),
                password: Some(RemoteSecret::new("Correct-Horse-9".into()).unwrap()),
                ca_file: None,
            }),
            min_level: AlertLevel::Warning,
            created: 0,
            queued: 0,
            last_delivered: None,
            last_error: None,
        };
        let text = format!("{}{}", channels_table(std::slice::from_ref(&c)), channel_line(&c));
        assert!(!text.contains("Correct-Horse-9"), "{text}");
        assert!(text.contains("mail.example.org:587 (starttls as nas) to ops@example.org"), "{text}");
    }

    #[test]
    fn a_failed_test_says_why_after_the_conversation() {
        let r = DeliveryReport {
            channel: "ops".into(),
            ok: false,
            transcript: vec!["connect 127.0.0.1:2525".into(), "< 535 auth failed\r".into()],
            error: Some("authentication failed".into()),
        };
        let text = delivery_block(&r);
        assert!(text.starts_with("  connect 127.0.0.1:2525\n  < 535 auth failed\\u{d}\n"), "{text}");
        assert!(text.ends_with("FAILED: authentication failed\n"), "{text}");
    }
}
