//! What a channel is handed (`Outgoing`) and how every channel reads it: alert text as one
//! safe line, times as RFC 3339, alerts as labelled views. A leaf: it imports no sibling.

use corenas_proto::monitor::{Alert, AlertState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How far ahead a firing alert's end is set for Alertmanager: four re-sends of 60 s, like
/// Prometheus; a test message resolves by itself after it.
pub const FIRING_HOLD_SECS: i64 = 4 * 60;

/// Why a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingKind {
    /// An alert was raised (or, for Alertmanager, is still active: re-sent while it lasts).
    Firing,
    Resolved,
    /// The daily digest of the alerts whose class is delivered as a digest.
    Digest,
    /// "Send test".
    Test,
}

/// What the outbox hands a channel: one message (one alert, or the alerts of a digest). Stored
/// as JSON in the outbox row, so it is delivered as it was when queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub kind: OutgoingKind,
    pub alerts: Vec<Alert>,
    /// The box's name for subjects and labels (its hostname).
    pub instance: String,
}

/// Seconds since the epoch as RFC 3339 UTC ("2026-12-07T18:00:00Z").
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// Text from firmware, tools or servers as one printable line of at most `max` characters:
/// control characters (CR and LF included) become spaces.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// One alert as the HTTP channels label it (a test message is one too).
pub struct AlertView {
    pub name: String,
    pub severity: String,
    pub subject: String,
    pub summary: String,
    pub action: String,
    pub starts: i64,
    pub ends: Option<i64>,
    pub firing: bool,
}

impl AlertView {
    pub fn labels(&self, instance: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("alertname", self.name.clone()),
            ("severity", self.severity.clone()),
            ("subject", self.subject.clone()),
            ("instance", one_line(instance, 64)),
        ])
    }

    pub fn annotations(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([("summary", self.summary.clone()), ("description", self.action.clone())])
    }

    /// Stable per label set, as Alertmanager's is: 16 hex digits.
    pub fn fingerprint(&self, instance: &str) -> String {
        let mut h = Sha256::new();
        for (k, v) in self.labels(instance) {
            h.update(k.as_bytes());
            h.update([0xff]);
            h.update(v.as_bytes());
            h.update([0xff]);
        }
        hex::encode(&h.finalize()[..8])
    }
}

pub fn views(msg: &Outgoing, now: i64) -> Vec<AlertView> {
    if msg.kind == OutgoingKind::Test {
        return vec![AlertView {
            name: "corenas_test".into(),
            severity: "info".into(),
            subject: "test".into(),
            summary: format!("a test message from CoreNAS on {}", one_line(&msg.instance, 64)),
            action: "nothing to do: this channel works".into(),
            starts: now,
            // A test resolves by itself in Alertmanager a few minutes later.
            ends: Some(now + FIRING_HOLD_SECS),
            firing: true,
        }];
    }
    msg.alerts
        .iter()
        .map(|a| {
            let firing = msg.kind != OutgoingKind::Resolved && a.state == AlertState::Active;
            AlertView {
                name: a.class.as_str().into(),
                severity: a.level.as_str().into(),
                subject: one_line(&a.subject, 200),
                summary: one_line(&a.summary, 500),
                action: one_line(&a.action, 500),
                starts: a.first_seen,
                ends: if firing { None } else { Some(a.resolved_at.unwrap_or(now)) },
                firing,
            }
        })
        .collect()
}

/// Every cause of an error, outermost first, in one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}
