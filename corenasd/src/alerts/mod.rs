//! The alert engine: typed classes with a deduplication key (class + subject), levels,
//! hysteresis, persisted state (a restart neither re-sends nor forgets), dismissals and
//! silences; deliveries go through a durable outbox to the channels.
//!
//! Life of an alert: the rules (`rules.rs`) turn a health snapshot into findings; a finding with
//! no active alert of its key opens one (or, inside the 10-minute flap window, re-opens the one
//! that just resolved, unless that one was dismissed) and queues its deliveries in the same
//! transaction (`engine.rs`); a worse level is delivered again, a better one is not; an active
//! alert whose finding stops resolves, and its resolution is held back for the flap window so
//! that a flap sends nothing. Everything is in SQLite (`store.rs`), nothing the engine needs
//! lives only in memory.
//!
//! Baselines (table `alert_baselines`): a disk attribute's baseline is the first value seen;
//! it moves up only when an admin dismisses the disk's "attribute rising" alert (dismissing
//! says "I have seen these values"): the next evaluation takes the current values as the new
//! baseline, so the alert resolves and only a further rise raises a new one. The same table
//! remembers when CoreNAS first saw a pool (scrub overdue) and each helper error count with the
//! time it last rose.

pub mod channels;
pub(crate) mod engine;
pub mod outbox;
pub mod policy;
pub mod rules;
pub mod silences;
pub(crate) mod store;

// The layout rule (no import circle of more than two files): this file and the daemon context
// name each other, so nothing this file imports may reach the daemon context; the engine,
// the rules and the store do not, the Daemon-facing policy, silences, outbox and channels do.
use crate::daemon::Daemon;
use crate::state::StateError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{Alert, AlertState, HealthSnapshot};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::Connection;

pub use engine::FLAP_WINDOW_SECS;
/// How many resolved alerts `list` shows.
const RESOLVED_SHOWN: u32 = 200;

/// The engine's in-memory part (one per daemon).
#[derive(Default)]
pub struct Alerts {
    /// Wakes the outbox when something was queued.
    pub outbox_wake: tokio::sync::Notify,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn lock(d: &Daemon) -> Result<std::sync::MutexGuard<'_, crate::state::State>, WireError> {
    d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))
}

fn with_silences(conn: &Connection, mut alerts: Vec<Alert>, now: i64) -> Result<Vec<Alert>, StateError> {
    let silences = store::active_silences(conn, now)?;
    for a in &mut alerts {
        a.silenced_by = store::silence_for(&silences, a).map(|s| s.id.clone());
    }
    Ok(alerts)
}

pub fn list(d: &Daemon, include_resolved: bool) -> Result<Vec<Alert>, WireError> {
    let st = lock(d)?;
    let conn = st.conn();
    let mut alerts =
        if include_resolved { store::all_alerts(conn, RESOLVED_SHOWN)? } else { store::active_alerts(conn)? };
    // The worst first, then the newest.
    alerts.sort_by(|a, b| {
        (a.state != AlertState::Active, std::cmp::Reverse(a.level), std::cmp::Reverse(a.last_seen)).cmp(&(
            b.state != AlertState::Active,
            std::cmp::Reverse(b.level),
            std::cmp::Reverse(b.last_seen),
        ))
    });
    Ok(with_silences(conn, alerts, now())?)
}

pub fn show(d: &Daemon, id: &str) -> Result<Alert, WireError> {
    let st = lock(d)?;
    let a = store::alert(st.conn(), id)?.ok_or_else(|| no_alert(id))?;
    Ok(with_silences(st.conn(), vec![a], now())?.remove(0))
}

fn no_alert(id: &str) -> WireError {
    WireError::not_found(format!("no alert '{}'", corenas_proto::names::shown(id)))
}

pub fn dismiss(d: &Daemon, id: &str, by: &str, dry_run: bool) -> Result<Change<Alert>, WireError> {
    let mut st = lock(d)?;
    let a = {
        let tx = st.conn_mut().transaction().map_err(crate::state::sql("dismissing an alert"))?;
        let mut a = store::alert(&tx, id)?.ok_or_else(|| no_alert(id))?;
        if a.state != AlertState::Active {
            return Err(WireError::new(
                ErrorCode::InvalidState,
                format!("alert {id} has resolved: there is nothing to dismiss"),
            ));
        }
        if a.dismissed_at.is_none() {
            a.dismissed_by = Some(by.to_owned());
            a.dismissed_at = Some(now());
        }
        if !dry_run {
            store::update_alert(&tx, &a)?;
            tx.commit().map_err(crate::state::sql("dismissing an alert"))?;
        }
        a
    };
    let a = with_silences(st.conn(), vec![a], now())?.remove(0);
    Ok(Change::planned(dry_run, vec![], Some(a)))
}

/// Raises, updates and resolves alerts from a new snapshot (`now`: seconds since the epoch),
/// and queues their deliveries. Called by the collector loop after every round, also when
/// nothing changed: a finding that must be sustained (temperature, mounts) is raised when a
/// later reading of its collector still shows it, and time-based rules (scrub overdue, helper
/// errors within the hour) age, only when this runs. It is cheap: one transaction over a few
/// small tables.
pub fn evaluate(d: &Daemon, snapshot: &HealthSnapshot, now: i64) -> Result<(), WireError> {
    let queued = {
        let mut st = lock(d)?;
        engine::evaluate_conn(st.conn_mut(), snapshot, now, &engine::instance_name())?
    };
    if queued {
        d.alerts.outbox_wake.notify_one();
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
