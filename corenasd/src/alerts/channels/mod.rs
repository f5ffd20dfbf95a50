//! Where alerts go: mail through an SMTP relay, a webhook, Alertmanager's v2 API.
//!
//! This module owns the channels (table `alert_channels`, see store.rs) and one delivery at a
//! time (`deliver`); the outbox decides what to send when, and retries. A delivery reports the
//! conversation it had, so "send test" shows why mail did not arrive.

mod alertmanager;
mod http;
mod mail;
mod outgoing;
mod smtp;
mod store;
mod tls;
mod webhook;
mod x509;

pub use outgoing::{Outgoing, OutgoingKind};

use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::monitor::{ChannelInfo, ChannelKind, ChannelName, ChannelSpec, DeliveryReport, SmtpSecurity};
use corenas_proto::secret::RemoteSecret;
use corenas_proto::{ErrorCode, WireError};
use outgoing::{one_line, views};

/// Most recipients one mail channel takes.
const MAX_RECIPIENTS: usize = 20;

/// What `list` shows for a stored password: JSON (and so the CLI, the web UI and the audit log)
/// prints every secret as "<redacted>"; on the binary wire this stand-in travels instead of
/// the secret, which never leaves corenasd.
const PASSWORD_STAND_IN: &str = "<Redacted:0>";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// This machine's name, as subjects and labels show it.
pub fn instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| one_line(s.trim(), 64))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "corenas".to_owned())
}

fn field_error(code: ErrorCode, field: &str, message: impl Into<String>) -> WireError {
    WireError { code, message: message.into(), field: Some(field.to_owned()) }
}

/// Checks what the types alone cannot: a plain-text relay only on loopback, recipients, a
/// password only with a user name, a readable CA file.
fn check(spec: &ChannelSpec) -> Result<(), WireError> {
    let ChannelKind::Smtp(s) = &spec.kind else { return Ok(()) };
    if s.security == SmtpSecurity::None && !smtp::is_loopback(&s.host) {
        return Err(WireError::invalid(
            "security",
            format!(
                "security none sends mail (and any password) in the clear: it is accepted only for a relay on this machine (localhost, 127.0.0.1, ::1), not {}; use starttls or tls",
                s.host.as_str()
            ),
        ));
    }
    if s.port == 0 {
        return Err(WireError::invalid("port", "port 0 is not a port: use 1 to 65535 (587 for starttls, 465 for tls)"));
    }
    if s.to.is_empty() || s.to.len() > MAX_RECIPIENTS {
        return Err(WireError::invalid("to", format!("give 1 to {MAX_RECIPIENTS} recipients")));
    }
    if s.password.is_some() && s.username.is_none() {
        return Err(WireError::invalid("username", "a password was given without a user name"));
    }
    if s.username.is_some() && s.password.is_none() {
        return Err(WireError::invalid("password", "a user name was given without a password"));
    }
    if let Some(ca) = &s.ca_file {
        tls::read_ca_file(ca.as_str()).map_err(|e| WireError::invalid("ca_file", e))?;
    }
    Ok(())
}

fn redacted(mut kind: ChannelKind) -> ChannelKind {
    if let ChannelKind::Smtp(s) = &mut kind
        && s.password.is_some()
    {
        s.password = RemoteSecret::new(PASSWORD_STAND_IN.to_owned()).ok();
    }
    kind
}

fn info(c: store::StoredChannel) -> ChannelInfo {
    ChannelInfo {
        name: c.spec.name.as_str().to_owned(),
        kind: redacted(c.spec.kind),
        min_level: c.spec.min_level,
        created: c.created,
        queued: c.queued,
        last_delivered: c.last_delivered,
        last_error: c.last_error,
    }
}

pub fn add(d: &Daemon, spec: &ChannelSpec, dry_run: bool) -> Result<Change<ChannelInfo>, WireError> {
    if store::exists(d, spec.name.as_str())? {
        return Err(field_error(
            ErrorCode::AlreadyExists,
            "name",
            format!("a channel named {} already exists: remove it first or choose another name", spec.name),
        ));
    }
    check(spec)?;
    let created = now();
    if !dry_run {
        store::insert(d, spec, created)?;
    }
    let shown = store::StoredChannel { spec: spec.clone(), created, queued: 0, last_delivered: None, last_error: None };
    Ok(Change::planned(dry_run, vec![], Some(info(shown))))
}

pub fn list(d: &Daemon) -> Result<Vec<ChannelInfo>, WireError> {
    Ok(store::all(d)?.into_iter().map(info).collect())
}

fn not_found(name: &ChannelName) -> WireError {
    field_error(ErrorCode::NotFound, "name", format!("there is no channel named {name}"))
}

pub fn remove(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<()>, WireError> {
    let Some(c) = store::get(d, name.as_str())? else { return Err(not_found(name)) };
    if !dry_run && !store::delete(d, name.as_str())? {
        return Err(not_found(name));
    }
    let mut change = Change::planned(dry_run, vec![], Some(()));
    if c.queued > 0 {
        change.warnings.push(format!("{} queued message(s) for {name} are dropped with it", c.queued));
    }
    Ok(change)
}

pub async fn test(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<DeliveryReport>, WireError> {
    let Some(c) = store::get(d, name.as_str())? else { return Err(not_found(name)) };
    if dry_run {
        let mut change = Change::planned(true, vec![], None);
        change.warnings.push(format!(
            "dry run: nothing was sent; a test message would go out over {name} ({})",
            where_to(&c.spec.kind)
        ));
        return Ok(change);
    }
    let msg = Outgoing { kind: OutgoingKind::Test, alerts: vec![], instance: instance_name() };
    let report = deliver(d, name.as_str(), &msg).await;
    Ok(Change::planned(false, vec![], Some(report)))
}

fn where_to(kind: &ChannelKind) -> String {
    match kind {
        ChannelKind::Smtp(s) => format!(
            "mail through {}:{} to {}",
            s.host.as_str(),
            s.port,
            s.to.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        ),
        ChannelKind::Webhook { url } => format!("POST {}", url.as_str()),
        ChannelKind::Alertmanager { url } => format!("POST {}", http::shown_url(url, "/api/v2/alerts")),
    }
}

/// One HTTP POST of `body`, narrated.
async fn post(
    url: &corenas_proto::monitor::HttpUrl,
    suffix: &str,
    body: serde_json::Value,
    t: &mut Vec<String>,
) -> Result<(), String> {
    let shown = http::shown_url(url, suffix);
    let json = serde_json::to_vec(&body).map_err(|e| format!("the payload could not be encoded: {e}"))?;
    match http::post_json(url, suffix, json).await {
        Ok(a) if (200..300).contains(&a.status) => {
            t.push(format!("POST {shown} → HTTP {}", a.status));
            Ok(())
        }
        Ok(a) => {
            let excerpt = a.excerpt();
            t.push(format!("POST {shown} → HTTP {}: {excerpt}", a.status));
            Err(format!("{shown} answered HTTP {}: {excerpt}", a.status))
        }
        Err(e) => {
            t.push(format!("POST {shown}: {e}"));
            Err(e)
        }
    }
}

/// Sends one message over the named channel now and reports what happened (never panics; a
/// failure is a report with `ok: false` and the conversation up to it).
pub async fn deliver(d: &Daemon, channel: &str, msg: &Outgoing) -> DeliveryReport {
    let mut transcript = Vec::new();
    let stored = match store::get(d, channel) {
        Ok(Some(c)) => c,
        Ok(None) => return report(channel, transcript, Err(format!("there is no channel named {channel}"))),
        Err(e) => return report(channel, transcript, Err(e.message)),
    };
    let now = now();
    let outcome = match &stored.spec.kind {
        ChannelKind::Smtp(s) => smtp::send(s, msg, &mut transcript).await,
        ChannelKind::Webhook { url } => {
            let body = webhook::payload(channel, msg, &views(msg, now));
            post(url, "", body, &mut transcript).await
        }
        ChannelKind::Alertmanager { url } => {
            let body = alertmanager::payload(msg, &views(msg, now), now);
            post(url, "/api/v2/alerts", body, &mut transcript).await
        }
    };
    if let Err(e) = store::record(d, channel, now, outcome.as_ref().err().map(String::as_str)) {
        tracing::warn!(channel, error = %e.message, "could not record a delivery's outcome");
    }
    report(channel, transcript, outcome)
}

fn report(channel: &str, transcript: Vec<String>, outcome: Result<(), String>) -> DeliveryReport {
    DeliveryReport { channel: channel.to_owned(), ok: outcome.is_ok(), transcript, error: outcome.err() }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, AlertState, SmtpSpec};

    pub fn alert(summary: &str) -> Alert {
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

    pub fn outgoing(kind: OutgoingKind, alerts: Vec<Alert>) -> Outgoing {
        Outgoing { kind, alerts, instance: "nas1".into() }
    }

    fn smtp(host: &str, security: SmtpSecurity) -> ChannelSpec {
        ChannelSpec {
            name: "mail".parse().unwrap(),
            kind: ChannelKind::Smtp(SmtpSpec {
                host: host.parse().unwrap(),
                port: 25,
                security,
                from: "nas@example.org".parse().unwrap(),
                to: vec!["ops@example.org".parse().unwrap()],
                username: Some("nas".parse().unwrap()),
                password: Some("Secret-Pass-123".parse().unwrap()),
                ca_file: None,
            }),
            min_level: AlertLevel::Warning,
        }
    }

    /// The attacker: a plain-text relay elsewhere would carry the password in the clear.
    #[test]
    fn plain_text_only_to_loopback() {
        assert_eq!(
            check(&smtp("mail.example.org", SmtpSecurity::None)).unwrap_err().field.as_deref(),
            Some("security")
        );
        assert_eq!(check(&smtp("10.1.2.3", SmtpSecurity::None)).unwrap_err().field.as_deref(), Some("security"));
        check(&smtp("127.0.0.1", SmtpSecurity::None)).unwrap();
        check(&smtp("mail.example.org", SmtpSecurity::Starttls)).unwrap();
    }

    #[test]
    fn listed_password_is_never_the_secret() {
        let kind = redacted(smtp("mail.example.org", SmtpSecurity::Tls).kind);
        let ChannelKind::Smtp(s) = &kind else { panic!() };
        assert_ne!(s.password.as_ref().unwrap().expose(), "Secret-Pass-123");
        let json = serde_json::to_string(&kind).unwrap();
        assert!(json.contains("\"password\":\"<redacted>\""), "{json}");
        let wire = postcard::to_allocvec(&kind).unwrap();
        assert!(!wire.windows(15).any(|w| w == b"Secret-Pass-123"));
    }

    #[test]
    fn one_line_flattens_control_characters() {
        assert_eq!(one_line("a\r\nb\tc", 10), "a  b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn test_message_view() {
        let msg = outgoing(OutgoingKind::Test, vec![]);
        let v = views(&msg, 100);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].labels("nas1")["alertname"], "corenas_test");
        assert!(v[0].firing);
    }
}
