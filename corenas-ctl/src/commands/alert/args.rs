//! `alert` arguments: alerts, silences, per-class delivery and channels. Every value is parsed
//! into its proto type here, so a bad one is refused (exit 2) naming its field before anything
//! is sent. A channel's password never is an argument: `--password-file` or the prompt.

use crate::values::{Listed, ObjectId, whole_number};
use clap::{ArgGroup, Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::monitor::{
    AlertClass, AlertLevel, AlertSubject, ChannelName, Delivery, HostName, HttpUrl, MailAddress, SILENCE_MAX_MINUTES,
    SmtpSecurity,
};
use corenas_proto::names::{FullName, SharePath, shown};
use std::path::PathBuf;

pub(crate) const CLASSES: &[&str] = &[
    "pool_degraded",
    "pool_capacity",
    "scrub_errors",
    "scrub_overdue",
    "disk_failing",
    "disk_attribute_rising",
    "disk_temperature",
    "disk_wear",
    "mount_down",
    "job_failed",
    "audit_chain",
    "helper_failing",
    "check_failed",
    "delivery_failed",
    "backup_failed",
    "backup_overdue",
    "backup_check_failed",
    "backup_restore_test_failed",
    "backup_unverified",
    "backup_stale_lock",
];
pub(crate) const DELIVERIES: &[&str] = &["immediate", "digest", "never"];
pub(crate) const LEVELS: &[&str] = &["info", "notice", "warning", "error", "critical"];
pub(crate) const SECURITIES: &[&str] = &["starttls", "tls", "none"];

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// List the active alerts (with --all, resolved ones too), worst first.
    List {
        /// Also list alerts that have resolved.
        #[arg(long)]
        all: bool,
    },
    /// Show one alert: what is wrong, what to do, when it was seen, who dismissed it.
    Show {
        /// The alert id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Dismiss an alert: it stays listed until it resolves but is not delivered again.
    Dismiss {
        /// The alert id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Hold back deliveries of a class, a subject or both for a while (they still show).
    Silence(SilenceArgs),
    /// List the silences in force.
    Silences,
    /// End a silence before its time.
    Unsilence {
        /// The silence id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// How each class of alert is delivered: at once, in the daily digest, or never.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Where alerts are delivered: mail (SMTP), a webhook, Alertmanager.
    #[command(subcommand)]
    Channel(ChannelCommand),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["class", "subject"])))]
pub struct SilenceArgs {
    /// The class of alert to silence.
    #[arg(long, value_name = "CLASS", allow_hyphen_values = true, value_parser = Listed::<AlertClass>::new(CLASSES))]
    pub class: Option<AlertClass>,
    /// What the alerts are about: a pool, a disk id, a mount, a channel.
    #[arg(long, value_name = "SUBJECT", allow_hyphen_values = true)]
    pub subject: Option<AlertSubject>,
    /// How long: minutes, hours or days (30m, 2h, 7d), at most 90 days.
    #[arg(long = "for", value_name = "DURATION", allow_hyphen_values = true, value_parser = silence_minutes)]
    pub minutes: u32,
    /// Why (shown with the silence).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: Option<FullName>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List every class with its delivery and how often it was sent in the last 7 days.
    List,
    /// Set how a class is delivered.
    Set {
        /// The class of alert.
        #[arg(allow_hyphen_values = true, value_parser = Listed::<AlertClass>::new(CLASSES))]
        class: AlertClass,
        /// immediate, digest (one mail a day) or never (it still shows).
        #[arg(allow_hyphen_values = true, value_parser = Listed::<Delivery>::new(DELIVERIES))]
        delivery: Delivery,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a channel: mail through an SMTP relay, a webhook, or Alertmanager's v2 API.
    ///
    /// Mail: --smtp HOST[:PORT] --security starttls|tls|none --from ADDRESS --to ADDRESS.
    /// Certificates are always checked (--ca-file adds an internal CA). With --user, the
    /// password comes from --password-file (its first line) or, on a terminal, a prompt;
    /// corenasd keeps it and never shows it.
    Add(Box<ChannelAddArgs>),
    /// List the channels with their queues and last deliveries (passwords are never shown).
    List,
    /// Send a test message now and print what happened; exits 1 when it failed.
    Test {
        /// The channel name.
        #[arg(allow_hyphen_values = true)]
        name: ChannelName,
    },
    /// Remove a channel and what waits in its queue.
    Remove {
        /// The channel name.
        #[arg(allow_hyphen_values = true)]
        name: ChannelName,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).args(["smtp", "webhook", "alertmanager"])))]
pub struct ChannelAddArgs {
    /// The channel name: 1-32 of a-z 0-9 - _.
    #[arg(allow_hyphen_values = true)]
    pub name: ChannelName,
    /// Mail through this SMTP relay (port: 587 for starttls, 465 for tls, 25 for none).
    #[arg(long, value_name = "HOST[:PORT]", allow_hyphen_values = true, requires_all = ["security", "from", "to"])]
    pub smtp: Option<SmtpTarget>,
    /// POST an Alertmanager-compatible webhook payload to this URL.
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub webhook: Option<HttpUrl>,
    /// Push alerts to this Alertmanager (its base URL, e.g. http://127.0.0.1:9093).
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub alertmanager: Option<HttpUrl>,
    /// Mail: starttls (refuses to send if the server cannot upgrade), tls, or none (a relay on
    /// loopback only).
    #[arg(long, value_name = "SECURITY", requires = "smtp", allow_hyphen_values = true, value_parser = Listed::<SmtpSecurity>::new(SECURITIES))]
    pub security: Option<SmtpSecurity>,
    /// Mail: the sender address.
    #[arg(long, value_name = "ADDRESS", requires = "smtp", allow_hyphen_values = true)]
    pub from: Option<MailAddress>,
    /// Mail: a recipient (repeatable).
    #[arg(long, value_name = "ADDRESS", requires = "smtp", allow_hyphen_values = true)]
    pub to: Vec<MailAddress>,
    /// Mail: log in to the relay as this user.
    #[arg(long, value_name = "USER", requires = "smtp", allow_hyphen_values = true, value_parser = smtp_user)]
    pub user: Option<FullName>,
    /// Mail: read the password for --user from the first line of this file (else a prompt).
    #[arg(long, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// Mail: a PEM file of extra CA certificates to trust (an absolute path on the server).
    #[arg(long, value_name = "FILE", requires = "smtp", allow_hyphen_values = true, value_parser = ca_file)]
    pub ca_file: Option<SharePath>,
    /// The least level this channel delivers (default warning).
    #[arg(long, value_name = "LEVEL", default_value = "warning", allow_hyphen_values = true, value_parser = Listed::<AlertLevel>::new(LEVELS))]
    pub min_level: AlertLevel,
}

/// `--smtp HOST[:PORT]`; an IPv6 address with a port is written `[::1]:25`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: HostName,
    pub port: Option<u16>,
}

impl std::str::FromStr for SmtpTarget {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad_port = || ValidationError::new("port", format!("port in '{}' is invalid: use 1 to 65535", shown(s)));
        let port = |p: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(bad_port()),
        };
        let (host, port_text) = if let Some(v6) = s.strip_prefix('[') {
            let (addr, rest) = v6.split_once(']').ok_or_else(|| {
                ValidationError::new(
                    "host",
                    format!("host '{}' is invalid: an IPv6 address needs a closing ]", shown(s)),
                )
            })?;
            match rest.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None if rest.is_empty() => (addr, None),
                None => return Err(bad_port()),
            }
        } else {
            match s.split_once(':') {
                // One colon: host and port; more: an IPv6 address without one.
                Some((h, p)) if !p.contains(':') => (h, Some(p)),
                _ => (s, None),
            }
        };
        let host = host.parse()?;
        let port = port_text.map(port).transpose()?;
        Ok(Self { host, port })
    }
}

/// `--for`: a whole number with m, h or d, from 1 minute to 90 days.
pub(crate) fn silence_minutes(s: &str) -> Result<u32, ValidationError> {
    let bad = || {
        ValidationError::new(
            "for",
            format!("duration '{}' is invalid: use minutes, hours or days (30m, 2h, 7d), at most 90 days", shown(s)),
        )
    };
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let per = match unit {
        "m" => 1,
        "h" => 60,
        "d" => 24 * 60,
        _ => return Err(bad()),
    };
    let n = whole_number(number, "for", "duration", 1, SILENCE_MAX_MINUTES).map_err(|_| bad())?;
    n.checked_mul(per).filter(|m| *m <= SILENCE_MAX_MINUTES).ok_or_else(bad)
}

fn smtp_user(s: &str) -> Result<FullName, ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new("user", "the SMTP user is empty"));
    }
    s.parse::<FullName>().map_err(|e| ValidationError::new("user", e.message.replace("full name", "SMTP user")))
}

fn ca_file(s: &str) -> Result<SharePath, ValidationError> {
    s.parse::<SharePath>().map_err(|e| ValidationError::new("ca_file", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_values_are_protos() {
        fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
            let mut v: Vec<&str> = names.into_iter().collect();
            v.sort_unstable();
            v
        }
        assert_eq!(sorted(CLASSES.iter().copied()), sorted(AlertClass::ALL.iter().map(|c| c.as_str())));
        assert_eq!(sorted(DELIVERIES.iter().copied()), sorted(Delivery::ALL.iter().map(|c| c.as_str())));
        assert_eq!(sorted(LEVELS.iter().copied()), sorted(AlertLevel::ALL.iter().map(|c| c.as_str())));
        assert_eq!(sorted(SECURITIES.iter().copied()), sorted(SmtpSecurity::ALL.iter().map(|c| c.as_str())));
    }

    #[test]
    fn durations_read_as_minutes_up_to_ninety_days() {
        assert_eq!(silence_minutes("30m"), Ok(30));
        assert_eq!(silence_minutes("2h"), Ok(120));
        assert_eq!(silence_minutes("7d"), Ok(7 * 24 * 60));
        assert_eq!(silence_minutes("90d"), Ok(SILENCE_MAX_MINUTES));
        for bad in ["", "m", "0m", "100d", "91d", "2161h", "-1h", "+1h", "1.5h", "2H", "2 h", "2", "1w", "99999999999d"]
        {
            assert_eq!(silence_minutes(bad).unwrap_err().field, "for", "{bad:?}");
        }
    }

    #[test]
    fn smtp_targets_take_a_port_off_the_end() {
        let t = |s: &str| s.parse::<SmtpTarget>().map(|t| (t.host.as_str().to_owned(), t.port));
        assert_eq!(t("mail.example.org"), Ok(("mail.example.org".into(), None)));
        assert_eq!(t("127.0.0.1:2525"), Ok(("127.0.0.1".into(), Some(2525))));
        assert_eq!(t("[::1]:25"), Ok(("::1".into(), Some(25))));
        assert_eq!(t("::1"), Ok(("::1".into(), None)));
        for (bad, field) in [
            ("mail:0", "port"),
            ("mail:99999", "port"),
            ("mail:+25", "port"),
            ("[::1]x", "port"),
            ("[::1", "host"),
            ("mail\r\nRCPT TO:<x@y>", "host"),
            ("-mail", "host"),
            ("", "host"),
        ] {
            assert_eq!(bad.parse::<SmtpTarget>().unwrap_err().field, field, "{bad:?}");
        }
    }
}
