//! The retry policy: a permanent mount that is not active (a server that was down at boot, a
//! disk that came late) is started again after 30 s, 1, 2, 5, 10 and then every 30 minutes,
//! each attempt audited. Runs for the daemon's lifetime.

use super::states;
use super::store::{Row, list, record_attempt};
use crate::audit::AuditRecord;
use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::helper::HelperOp;
use corenas_proto::mounts::UnitState;
use std::time::Duration;

/// Seconds to wait before retry number `n` (0-based) of a mount that is down.
pub fn backoff(n: u32) -> u64 {
    const STEPS: [u64; 5] = [30, 60, 120, 300, 600];
    STEPS.get(n as usize).copied().unwrap_or(1800)
}

/// How often corenasd looks at the mounts (the default of the hidden `--mount-watch-secs`).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(30);

/// [`backoff`] scaled to the watch interval: as is at the default 30 s, so that tests with a
/// 1 s interval see the first retry after 1 s, then 2, 4, 10, 20 and 60 s.
fn scaled_backoff(n: u32, interval: Duration) -> i64 {
    let secs = backoff(n).saturating_mul(interval.as_secs()) / WATCH_INTERVAL.as_secs();
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// Whether a permanent mount needs starting: systemd knows it and it is neither active nor on
/// its way (an automount's mount is inactive until first access: its automount unit is watched).
pub fn is_down(state: &UnitState) -> bool {
    state.load_state == "loaded" && matches!(state.active_state.as_str(), "failed" | "inactive")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One round of the retry policy (run every `interval`); returns the number of start attempts
/// made.
pub async fn watch_once(shared: &Daemon, interval: Duration) -> Result<usize, WireError> {
    let rows = shared.with_state(|s| list(s.conn()))?;
    let rows: Vec<Row> = rows.into_iter().filter(|r| !r.def.temporary && !r.def.automount).collect();
    let states = states(shared, &rows).await;
    let now = unix_now();
    let mut attempts = 0;
    for (row, state) in rows.iter().zip(states) {
        // Err: systemd cannot say (not PID 1, or the lab); nothing to retry against.
        let Ok(state) = state else { continue };
        if !is_down(&state) {
            if row.retries > 0 || row.last_error.is_some() {
                shared.with_state(|s| record_attempt(s.conn(), row.def.target.as_str(), None, 0, None))?;
            }
            continue;
        }
        let due = row.next_retry.unwrap_or(now + scaled_backoff(0, interval));
        if row.next_retry.is_none() {
            shared.with_state(|s| {
                record_attempt(s.conn(), row.def.target.as_str(), row.last_error.as_deref(), row.retries, Some(due))
            })?;
            continue;
        }
        if due > now {
            continue;
        }
        attempts += 1;
        let h = shared.helper.connect().await?;
        let r = h.perform(HelperOp::MountStart { targets: vec![row.def.target.clone()] }, false).await;
        let (word, error) = match &r {
            Ok(_) => ("ok", None),
            Err(e) => ("failed", Some(e.message.clone())),
        };
        let retries = row.retries.saturating_add(1);
        let next = error.as_ref().map(|_| now + scaled_backoff(retries, interval));
        shared.with_state(|s| {
            record_attempt(
                s.conn(),
                row.def.target.as_str(),
                error.as_deref(),
                if error.is_some() { retries } else { 0 },
                next,
            )
        })?;
        let args = serde_json::json!({ "target": row.def.target, "attempt": retries, "state": state.active_state });
        let code = r.as_ref().err().map(|e| e.code.as_str());
        let _ = shared.audit(&AuditRecord {
            principal: "corenasd",
            channel: "retry-policy",
            peer_uid: rustix::process::getuid().as_raw(),
            action: "mount.retry",
            args: &args,
            result: word,
            error_code: code,
        });
    }
    Ok(attempts)
}

/// The retry policy's loop, for the daemon's lifetime.
pub async fn watch(shared: std::sync::Arc<Daemon>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = watch_once(&shared, interval).await {
            tracing::debug!(error = %e.message, "mount watch round skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_half_an_hour() {
        let steps: Vec<u64> = (0..8).map(backoff).collect();
        assert_eq!(steps, [30, 60, 120, 300, 600, 1800, 1800, 1800]);
        let at = |secs| (0..6).map(|n| scaled_backoff(n, Duration::from_secs(secs))).collect::<Vec<_>>();
        assert_eq!(at(30), [30, 60, 120, 300, 600, 1800], "the default interval keeps the policy");
        assert_eq!(at(1), [1, 2, 4, 10, 20, 60]);
    }

    #[test]
    fn what_counts_as_down() {
        let s = |load: &str, active: &str| UnitState {
            unit: "x.mount".into(),
            load_state: load.into(),
            active_state: active.into(),
            sub_state: String::new(),
            result: String::new(),
        };
        assert!(is_down(&s("loaded", "failed")));
        assert!(is_down(&s("loaded", "inactive")));
        assert!(!is_down(&s("loaded", "active")));
        assert!(!is_down(&s("loaded", "activating")));
        assert!(!is_down(&s("not-found", "inactive")));
    }
}
