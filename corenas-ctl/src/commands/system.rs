//! `system status` and `system setup-token`.
//!
//! Imports only the floor and proto.

use crate::client::call;
use crate::error::CtlError;
use crate::report::{Report, to_json};
use crate::text::key_values;
use clap::Subcommand;
use corenas_proto::api::SystemStatus;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Versions, paths, audit head and the helper's state.
    Status,
    /// The one-time token the web UI's first-run setup asks for (until an administrator with a
    /// second factor exists).
    SetupToken,
}

pub(crate) async fn system(cmd: SystemCommand, socket: &Path) -> Result<Report, CtlError> {
    match cmd {
        SystemCommand::Status => {
            let status = call!(socket => system_status())?;
            Ok(Report::ok(status_block(&status), to_json(&status)?))
        }
        SystemCommand::SetupToken => setup_token(socket).await,
    }
}

pub(crate) fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

pub fn status_block(s: &SystemStatus) -> String {
    let mut pairs = vec![
        ("version", s.version.clone()),
        ("protocol", s.protocol.to_string()),
        ("daemon pid", s.daemon_pid.to_string()),
        ("daemon uid", s.daemon_uid.to_string()),
        ("root", s.root.clone()),
        ("state db", s.state_db.clone()),
        ("audit entries", s.audit_entries.to_string()),
        ("audit head", s.audit_head.clone()),
    ];
    match &s.helper {
        Ok(h) => pairs.extend([
            ("helper", "running".to_owned()),
            ("helper pid", h.pid.to_string()),
            ("helper version", h.version.clone()),
            ("helper root", h.root.clone()),
            ("helper uptime", duration(h.uptime_secs)),
            ("landlock", h.landlock.clone()),
            ("bounding set", if h.bounding_set.is_empty() { "(empty)".to_owned() } else { h.bounding_set.join(", ") }),
        ]),
        Err(e) => pairs.push(("helper", format!("unavailable: {} ({})", e.message, e.code))),
    }
    key_values(&pairs)
}

pub async fn setup_token(socket: &Path) -> Result<Report, CtlError> {
    let token = call!(socket => setup_token())?;
    let (human, json) = match &token {
        Some(t) => (
            format!(
                "{}\n(enter it on the web UI's setup page; it stops working once the first administrator has enrolled a second factor)\n",
                t.expose()
            ),
            serde_json::json!({ "setup_needed": true, "token": t.expose() }),
        ),
        None => (
            "setup is done (an administrator enrolled a second factor once), so there is no setup token; \
             to let someone in again: corenas-ctl web role <user> admin (and web totp-reset <user>), \
             then that user logs in with the account password and enrolls a new authenticator\n"
                .to_owned(),
            serde_json::json!({ "setup_needed": false, "token": null }),
        ),
    };
    Ok(Report::ok(human, json.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_readable() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(3723), "1h 2m 3s");
        assert_eq!(duration(90_061), "1d 1h 1m 1s");
    }
}
