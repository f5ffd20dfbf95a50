//! Monitoring and alerts: what the collectors found (the health cache), the alerts raised from
//! it, where alerts are delivered, and the schedules of health work (scrubs, SMART self-tests).
//!
//! Everything here is data for corenas-ctl, corenas-web and `/metrics`; corenasd owns the
//! collectors, the alert engine and the outbox. Caller text reaches corenasd only in the
//! validated types below (channel names, mail addresses, host names, URLs), never free-form.

use crate::error::ValidationError;
use crate::names::{DevicePath, PoolName, shown};
use crate::secret::RemoteSecret;
use crate::storage::Backend;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a fieldless enum with its spelling, `FromStr` naming the accepted values, `Display`.
macro_rules! spelled {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let accepted: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::new($field, format!("'{}' is not accepted: use {}", shown(s), accepted.join(", ")))
                })
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The health cache: one record per collector, each with its own last-success time.

spelled!(
    /// A pool's state, reduced to what every backend can say.
    PoolState, "state" {
        Online = "online", Degraded = "degraded", Faulted = "faulted", Unavailable = "unavailable",
        Unknown = "unknown"
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolSample {
    pub name: String,
    pub backend: Backend,
    pub state: PoolState,
    /// What the backend said ("DEGRADED", "1 of 2 devices missing", ...).
    pub state_text: String,
    pub size_bytes: Option<u64>,
    pub allocated_bytes: Option<u64>,
    pub scrub_running: bool,
    /// When the last finished scrub ended (seconds since the epoch), where the backend says.
    pub scrub_last_end: Option<i64>,
    /// Errors the last scrub found (repaired or not).
    pub scrub_errors: Option<u64>,
    /// Read + write + checksum errors over the members, where the backend counts them.
    pub member_errors: Option<u64>,
    /// Members the backend reports as not online ("loop3 UNAVAIL").
    pub bad_members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSample {
    pub name: String,
    pub pool: String,
    pub used_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
}

spelled!(
    /// A disk's power mode as smartctl `-n standby` saw it before anything else was read.
    PowerState, "power" {
        Active = "active", Idle = "idle", Standby = "standby", Sleep = "sleep", Unknown = "unknown"
    }
);

/// One SMART attribute of the curated set (ATA ids 5, 9, 187, 188, 194, 197, 198, 199).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSample {
    pub id: u16,
    pub raw: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskSample {
    /// Kernel name now ("sda"): for joins with node_exporter only, it changes across boots.
    pub dev: String,
    /// The stable identity labels use: WWN, else serial, else the kernel name.
    pub id: String,
    pub wwn: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// False for SSDs and NVMe (rotation rate 0), which may misreport standby.
    pub rotational: Option<bool>,
    pub power: PowerState,
    /// smartctl's overall verdict from the last successful read.
    pub smart_healthy: Option<bool>,
    pub temperature_c: Option<i64>,
    pub power_on_hours: Option<u64>,
    pub attributes: Vec<AttributeSample>,
    pub nvme_percentage_used: Option<u64>,
    pub nvme_available_spare: Option<u64>,
    pub nvme_media_errors: Option<u64>,
    /// When SMART was last read successfully (seconds since the epoch). A disk asleep keeps
    /// its last values and this time: "stale because asleep", not "stale because broken".
    pub smart_last_success: Option<i64>,
    /// Why the last attempt read nothing (asleep is not an error and is not listed here).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountSample {
    pub target: String,
    pub unit: String,
    pub active: bool,
    /// systemd's active state, or why it could not be read.
    pub state_text: String,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSample {
    pub id: String,
    /// "scrub", "wipe", "selftest", "image", ...
    pub kind: String,
    pub target: String,
    /// "running", "done", "failed", "cancelled".
    pub state: String,
    pub finished: Option<i64>,
    pub message: Option<String>,
}

/// One backup task as its jobs left it (corenasd's own records: collecting runs no restic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupSample {
    pub task: String,
    pub target: String,
    /// The task's cadence (`off`: runs only when asked, so never overdue).
    pub every: Cadence,
    /// When the task was created (seconds since the epoch): a task that never ran is judged
    /// from then.
    pub created: i64,
    /// The newest backup that made a snapshot: when it ended, how long restic took, what it
    /// added, and the task's snapshots after it.
    pub last_success: Option<i64>,
    pub last_duration_seconds: Option<f64>,
    pub last_bytes_added: Option<u64>,
    pub snapshots: Option<u64>,
    /// The newest ended backup, check and sample restore: (job, when, error if it failed).
    pub last_backup: Option<RunSample>,
    pub last_check: Option<RunSample>,
    pub last_sample_restore: Option<RunSample>,
    /// The newest successful check or sample restore.
    pub last_verified: Option<i64>,
    /// Share of the data the rolling checks read since the last failure (0 to 1).
    pub verify_coverage: f64,
    /// Locks the last check found that no live restic holds.
    pub stale_locks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSample {
    pub job: String,
    pub finished: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSample {
    pub verified: bool,
    pub checked_at: i64,
    pub entries: u64,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperCount {
    pub op: String,
    /// "ok" or the error code ("E_BUSY").
    pub result: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetSample {
    pub interface: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The machine as /proc tells it (read by corenasd itself, no tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    /// Share of CPU time not idle since the previous sample, 0..1.
    pub cpu_busy_ratio: Option<f64>,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub load1: f64,
    pub net: Vec<NetSample>,
}

/// One collector's bookkeeping: a collector that fails keeps its last good values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorStatus {
    pub name: String,
    pub interval_seconds: u64,
    pub last_run: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub runs: u64,
    pub failures: u64,
}

/// Everything the collectors know, as of their last runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    pub pools: Vec<PoolSample>,
    pub datasets: Vec<DatasetSample>,
    pub disks: Vec<DiskSample>,
    pub mounts: Vec<MountSample>,
    pub jobs: Vec<JobSample>,
    pub audit: Option<AuditSample>,
    pub helper: Vec<HelperCount>,
    pub system: Option<SystemSample>,
    pub collectors: Vec<CollectorStatus>,
    #[serde(default)]
    pub backups: Vec<BackupSample>,
}

/// `monitor status`: the cache, the active alerts by level, and the health schedules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    pub snapshot: HealthSnapshot,
    pub alerts: Vec<Alert>,
    pub schedules: Vec<HealthSchedule>,
}

spelled!(
    /// How far back a chart reaches: a day and a week at full resolution, a month and a year
    /// from the hourly means.
    HistoryRange, "range" { Day = "day", Week = "week", Month = "month", Year = "year" }
);

/// One series of the history ("pool_used_ratio:tank", "disk_temperature_celsius:<wwn>").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    /// (seconds since the epoch, value)
    pub points: Vec<(i64, f64)>,
}

// ---------------------------------------------------------------------------------------------
// Alerts.

spelled!(
    /// How bad an alert is. Info never mails by default; notice goes to the daily digest.
    AlertLevel, "level" {
        Info = "info", Notice = "notice", Warning = "warning", Error = "error", Critical = "critical"
    }
);

spelled!(
    /// The kinds of alert. Each has a deduplication key (its subject: a pool, a disk id, a
    /// mount, a job kind, a channel), a level rule and a one-line "what to do".
    AlertClass, "class" {
        PoolDegraded = "pool_degraded",
        PoolCapacity = "pool_capacity",
        ScrubErrors = "scrub_errors",
        ScrubOverdue = "scrub_overdue",
        DiskFailing = "disk_failing",
        DiskAttributeRising = "disk_attribute_rising",
        DiskTemperature = "disk_temperature",
        DiskWear = "disk_wear",
        MountDown = "mount_down",
        JobFailed = "job_failed",
        AuditChain = "audit_chain",
        HelperFailing = "helper_failing",
        CheckFailed = "check_failed",
        DeliveryFailed = "delivery_failed",
        BackupFailed = "backup_failed",
        BackupOverdue = "backup_overdue",
        BackupCheckFailed = "backup_check_failed",
        BackupRestoreTestFailed = "backup_restore_test_failed",
        BackupUnverified = "backup_unverified",
        BackupStaleLock = "backup_stale_lock"
    }
);

spelled!(
    /// Where an alert is in its life.
    AlertState, "state" { Active = "active", Resolved = "resolved" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub class: AlertClass,
    /// What the alert is about (a pool, a disk id, a mount target): with the class, the
    /// deduplication key.
    pub subject: String,
    pub level: AlertLevel,
    pub state: AlertState,
    /// One line: what is wrong, with the figures.
    pub summary: String,
    /// One line: what to do about it.
    pub action: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    /// Who dismissed it and when: a dismissed alert stays listed until it resolves but is
    /// not delivered again; if it comes back after resolving, it is a new alert.
    pub dismissed_by: Option<String>,
    pub dismissed_at: Option<i64>,
    /// The silence that holds its deliveries back, if any.
    pub silenced_by: Option<String>,
}

/// Which alerts a silence holds back: a class, a subject, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    pub class: Option<AlertClass>,
    pub subject: Option<AlertSubject>,
    /// How long, in minutes (1 to 90 days).
    pub minutes: u32,
    pub reason: Option<crate::names::FullName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub class: Option<AlertClass>,
    pub subject: Option<String>,
    pub until: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

pub const SILENCE_MAX_MINUTES: u32 = 90 * 24 * 60;

/// An alert's subject as a caller names it: printable, without control characters, 1–128 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertSubject(String);

impl AlertSubject {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AlertSubject {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "subject",
                format!("'{}' is not a subject: use 1 to 128 printable characters", shown(&s)),
            ));
        }
        Ok(Self(s))
    }
}

impl From<AlertSubject> for String {
    fn from(s: AlertSubject) -> String {
        s.0
    }
}

impl std::str::FromStr for AlertSubject {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

spelled!(
    /// How a class is delivered: at once, in the daily digest, or not at all (it still shows).
    Delivery, "delivery" { Immediate = "immediate", Digest = "digest", Never = "never" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassPolicy {
    pub class: AlertClass,
    pub delivery: Delivery,
    /// Whether this is the built-in default (not set by an admin).
    pub default: bool,
    /// Deliveries of this class over the last 7 days, to find the noisy one.
    pub sent_7d: u64,
}

// ---------------------------------------------------------------------------------------------
// Channels.

/// A channel's name: `[a-z0-9][a-z0-9_-]{0,31}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelName(String);

impl ChannelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChannelName {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_')));
        if !ok {
            return Err(ValidationError::new(
                "name",
                format!(
                    "channel name '{}' is invalid: use 1 to 32 of a-z 0-9 - _, starting with a letter or digit",
                    shown(&s)
                ),
            ));
        }
        Ok(Self(s))
    }
}

impl From<ChannelName> for String {
    fn from(s: ChannelName) -> String {
        s.0
    }
}

impl std::str::FromStr for ChannelName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail address as SMTP carries it: `local@domain`, ASCII, no spaces, quotes, angle brackets
/// or control characters (nothing that could end a header or an SMTP command), at most 254.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MailAddress(String);

impl MailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MailAddress {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = || {
            ValidationError::new(
                "address",
                format!("mail address '{}' is invalid: use local@domain (ASCII letters, digits, . _ + -)", shown(&s)),
            )
        };
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.');
        if !local_ok || s.len() > 254 || HostName::try_from(domain.to_owned()).is_err() {
            return Err(bad());
        }
        Ok(Self(s))
    }
}

impl From<MailAddress> for String {
    fn from(s: MailAddress) -> String {
        s.0
    }
}

impl std::str::FromStr for MailAddress {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

/// A DNS name or an IP address literal: labels of a-z 0-9 -, at most 253 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ip = s.parse::<std::net::IpAddr>().is_ok();
        let dns = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !(ip || dns) {
            return Err(ValidationError::new(
                "host",
                format!("host '{}' is invalid: use a DNS name or an IP address", shown(&s)),
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}

impl From<HostName> for String {
    fn from(s: HostName) -> String {
        s.0
    }
}

impl std::str::FromStr for HostName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

/// An http(s) URL without credentials: `http[s]://host[:port][/path]`, the path of printable
/// ASCII without spaces, at most 2048 bytes. Parsed here so no caller text reaches a request
/// line or a header except as this.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| ValidationError::new("url", format!("URL '{}' is invalid: {why}", shown(&s)));
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| bad("use http:// or https://"))?;
        if s.len() > 2048 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("use printable ASCII without spaces, at most 2048 bytes"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not accepted"));
        }
        let host = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address needs a closing ]"))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("the IPv6 address does not parse"));
            }
            if !(after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
                return Err(bad("the port must be 1 to 65535"));
            }
            None
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
                return Err(bad("the port must be 1 to 65535"));
            }
            Some(host)
        };
        if let Some(h) = host
            && HostName::try_from(h.to_owned()).is_err()
        {
            return Err(bad("the host must be a DNS name or an IP address"));
        }
        Ok(Self(s))
    }
}

impl From<HttpUrl> for String {
    fn from(s: HttpUrl) -> String {
        s.0
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

spelled!(
    /// How the SMTP connection is protected. `starttls` refuses to go on (and sends nothing)
    /// if the server cannot upgrade; `none` is for a relay on loopback only.
    SmtpSecurity, "security" { Starttls = "starttls", Tls = "tls", None = "none" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSpec {
    pub host: HostName,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: MailAddress,
    pub to: Vec<MailAddress>,
    pub username: Option<crate::names::FullName>,
    /// Kept in corenasd's state, never shown, logged or audited. The relay chose it, so only
    /// printable text is required (a Gmail app password is 16 lower-case letters).
    pub password: Option<RemoteSecret>,
    /// A PEM file of extra trusted CA certificates (an internal CA); the system store is
    /// always used too. Certificates are always checked.
    pub ca_file: Option<crate::names::SharePath>,
}

/// JSON: `{"type": "smtp", ...}`; the binary wire: serde's default form (see the remote definitions below `HealthSchedule`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    /// Mail through an SMTP relay.
    Smtp(SmtpSpec),
    /// A POST of an Alertmanager-compatible webhook payload (version 4).
    Webhook { url: HttpUrl },
    /// Alertmanager's v2 API (`/api/v2/alerts`), re-sent while an alert is active.
    Alertmanager { url: HttpUrl },
}

impl ChannelKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Smtp(_) => "smtp",
            Self::Webhook { .. } => "webhook",
            Self::Alertmanager { .. } => "alertmanager",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: ChannelName,
    pub kind: ChannelKind,
    /// The least level this channel delivers (default warning).
    pub min_level: AlertLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub name: String,
    /// The spec with any password replaced by `<redacted>`.
    pub kind: ChannelKind,
    pub min_level: AlertLevel,
    pub created: i64,
    /// Messages waiting in the outbox for this channel.
    pub queued: u64,
    pub last_delivered: Option<i64>,
    pub last_error: Option<String>,
}

/// What "send test" (or a delivery) did: the conversation, so a failure says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub channel: String,
    pub ok: bool,
    /// The SMTP conversation (capabilities, TLS version, certificate subject, AUTH mechanism,
    /// replies) or the HTTP request line and status; never a password.
    pub transcript: Vec<String>,
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Health work on a schedule.

spelled!(
    /// How often scheduled health work runs.
    Cadence, "every" { Off = "off", Daily = "daily", Weekly = "weekly", Monthly = "monthly" }
);

/// What is scheduled: a pool's scrub, or a disk's SMART self-test.
/// JSON: `{"work": "scrub", "pool": ...}`; the binary wire: serde's default form (see the
/// remote definitions below `HealthSchedule`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HealthWork {
    Scrub { pool: PoolName },
    SmartShort { device: DevicePath },
    SmartLong { device: DevicePath },
}

impl HealthWork {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Scrub { .. } => "scrub",
            Self::SmartShort { .. } => "smart_short",
            Self::SmartLong { .. } => "smart_long",
        }
    }
    pub fn target(&self) -> &str {
        match self {
            Self::Scrub { pool } => pool.as_str(),
            Self::SmartShort { device } | Self::SmartLong { device } => device.as_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthScheduleSpec {
    pub work: HealthWork,
    pub every: Cadence,
    /// Hour of the day (0–23, local time of the server) it starts at.
    pub hour: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSchedule {
    pub work: HealthWork,
    pub every: Cadence,
    pub hour: u8,
    /// Whether this is the built-in default (monthly scrub of every pool).
    pub default: bool,
    pub last_run: Option<i64>,
    pub last_job: Option<String>,
    pub next_run: Option<i64>,
}

// serde's internally tagged enums (`{"type": "smtp", ...}`) can only be read from a
// self-describing format; postcard, the binary wire between the processes, is not one (it
// answers "a feature that PostCard will never implement" and the connection drops). So these
// enums keep the tagged form wherever text is human-readable (JSON: REST, `--json`, the audit
// log, state.db) and take serde's default external tagging on the binary wire, through two
// remote definitions of the same variants.
#[derive(Serialize, Deserialize)]
#[serde(remote = "ChannelKind", deny_unknown_fields, rename_all = "snake_case", tag = "type")]
enum ChannelKindJson {
    Smtp(SmtpSpec),
    Webhook { url: HttpUrl },
    Alertmanager { url: HttpUrl },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ChannelKind", deny_unknown_fields, rename_all = "snake_case")]
enum ChannelKindWire {
    Smtp(SmtpSpec),
    Webhook { url: HttpUrl },
    Alertmanager { url: HttpUrl },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "HealthWork", deny_unknown_fields, rename_all = "snake_case", tag = "work")]
enum HealthWorkJson {
    Scrub { pool: PoolName },
    SmartShort { device: DevicePath },
    SmartLong { device: DevicePath },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "HealthWork", deny_unknown_fields, rename_all = "snake_case")]
enum HealthWorkWire {
    Scrub { pool: PoolName },
    SmartShort { device: DevicePath },
    SmartLong { device: DevicePath },
}

impl Serialize for ChannelKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { ChannelKindJson::serialize(self, s) } else { ChannelKindWire::serialize(self, s) }
    }
}

impl<'de> Deserialize<'de> for ChannelKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() { ChannelKindJson::deserialize(d) } else { ChannelKindWire::deserialize(d) }
    }
}

impl Serialize for HealthWork {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { HealthWorkJson::serialize(self, s) } else { HealthWorkWire::serialize(self, s) }
    }
}

impl<'de> Deserialize<'de> for HealthWork {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() { HealthWorkJson::deserialize(d) } else { HealthWorkWire::deserialize(d) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_channel_texts_are_refused_with_their_field() {
        for s in ["a\r\nRCPT TO:<x@evil>", "a b@c", "<x@y>", "x@y\n", "@y", "x@", "x@-y", "\"x\"@y"] {
            let e = MailAddress::try_from(s.to_owned()).unwrap_err();
            assert_eq!(e.field, "address", "{s}");
        }
        assert!(MailAddress::try_from("ops+nas@example.org".to_owned()).is_ok());
        for s in [
            "ftp://x",
            "http://user:pw@host/",
            "http://host:0/",
            "http://host:99999/",
            "http://ho st/",
            "http://host/\r\nX: y",
            "http://-bad-/",
            "http://[::1/",
        ] {
            let e = HttpUrl::try_from(s.to_owned()).unwrap_err();
            assert_eq!(e.field, "url", "{s}");
        }
        for s in ["http://127.0.0.1:9093/api/v2/alerts", "https://ntfy.example.org/nas", "http://[::1]:8080/hook"] {
            assert!(HttpUrl::try_from(s.to_owned()).is_ok(), "{s}");
        }
        for s in ["", "-a", "A", "a/b", "a b", &"a".repeat(33)] {
            assert_eq!(ChannelName::try_from(s.to_owned()).unwrap_err().field, "name", "{s}");
        }
        assert_eq!("x".parse::<AlertLevel>().unwrap_err().field, "level");
        assert!(AlertLevel::Critical > AlertLevel::Warning && AlertLevel::Notice > AlertLevel::Info);
    }

    /// The binary wire (postcard) cannot read internally tagged enums; JSON keeps its tag.
    #[test]
    fn tagged_enums_cross_the_binary_wire_and_keep_their_json_form() {
        let spec = HealthScheduleSpec {
            work: HealthWork::SmartLong { device: "/dev/sda".parse().unwrap() },
            every: Cadence::Weekly,
            hour: 2,
        };
        let bytes = postcard::to_stdvec(&spec).unwrap();
        assert_eq!(postcard::from_bytes::<HealthScheduleSpec>(&bytes).unwrap(), spec);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, r#"{"work":{"work":"smart_long","device":"/dev/sda"},"every":"weekly","hour":2}"#);
        assert_eq!(serde_json::from_str::<HealthScheduleSpec>(&json).unwrap(), spec);

        let channel = ChannelSpec {
            name: "ops".parse().unwrap(),
            kind: ChannelKind::Smtp(SmtpSpec {
                host: "127.0.0.1".parse().unwrap(),
                port: 25,
                security: SmtpSecurity::None,
                from: "a@example.org".parse().unwrap(),
                to: vec!["b@example.org".parse().unwrap()],
                username: None,
                password: Some(crate::secret::RemoteSecret::new("Correct-Horse-9".into()).unwrap()),
                ca_file: None,
            }),
            min_level: AlertLevel::Error,
        };
        let bytes = postcard::to_stdvec(&channel).unwrap();
        assert_eq!(postcard::from_bytes::<ChannelSpec>(&bytes).unwrap(), channel, "the password crosses the wire");
        let json = serde_json::to_value(&channel).unwrap();
        assert_eq!(
            (json["kind"]["type"].as_str(), json["kind"]["password"].as_str()),
            (Some("smtp"), Some("<redacted>"))
        );
        for kind in [
            ChannelKind::Webhook { url: "http://127.0.0.1/x".parse().unwrap() },
            ChannelKind::Alertmanager { url: "http://127.0.0.1:9093".parse().unwrap() },
        ] {
            let bytes = postcard::to_stdvec(&kind).unwrap();
            assert_eq!(postcard::from_bytes::<ChannelKind>(&bytes).unwrap(), kind);
            assert_eq!(serde_json::to_value(&kind).unwrap()["type"], kind.type_name());
        }
    }
}
