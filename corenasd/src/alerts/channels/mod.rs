//! Where alerts go: mail through an SMTP relay, a webhook, Alertmanager's v2 API.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{Alert, ChannelInfo, ChannelName, ChannelSpec, DeliveryReport};
use serde::{Deserialize, Serialize};

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

pub fn add(d: &Daemon, spec: &ChannelSpec, dry_run: bool) -> Result<Change<ChannelInfo>, WireError> {
    let _ = (d, spec, dry_run);
    Err(WireError::internal("channels: not built yet"))
}

pub fn list(d: &Daemon) -> Result<Vec<ChannelInfo>, WireError> {
    let _ = d;
    Err(WireError::internal("channels: not built yet"))
}

pub fn remove(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<()>, WireError> {
    let _ = (d, name, dry_run);
    Err(WireError::internal("channels: not built yet"))
}

pub async fn test(d: &Daemon, name: &ChannelName, dry_run: bool) -> Result<Change<DeliveryReport>, WireError> {
    let _ = (d, name, dry_run);
    Err(WireError::internal("channels: not built yet"))
}

/// Sends one message over the named channel now and reports what happened (never panics; a
/// failure is a report with `ok: false` and the conversation up to it).
pub async fn deliver(d: &Daemon, channel: &str, msg: &Outgoing) -> DeliveryReport {
    let _ = (d, msg);
    DeliveryReport { channel: channel.to_owned(), ok: false, transcript: vec![], error: Some("channels: not built yet".into()) }
}
