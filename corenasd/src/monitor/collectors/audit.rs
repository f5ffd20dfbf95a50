//! The audit chain, verified end to end on a connection of its own (read-only, in WAL mode it
//! sees a consistent snapshot), off the async thread, so a long log does not hold the state
//! lock that every request needs.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::AuditSample;
use rusqlite::{Connection, OpenFlags};

pub async fn collect(d: &Daemon, now: i64) -> Result<AuditSample, WireError> {
    let db = d.state_db.clone();
    let started = std::time::Instant::now();
    let v = tokio::task::spawn_blocking(move || {
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| WireError::internal(format!("opening the state database to verify the audit log: {e}")))?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
        crate::audit::verify(&conn).map_err(WireError::from)
    })
    .await
    .map_err(|e| WireError::internal(format!("audit verification stopped: {e}")))??;
    tracing::info!(
        entries = v.entries,
        ms = started.elapsed().as_millis(),
        ok = v.problems.is_empty(),
        "audit chain verified"
    );
    log_broken(&v);
    Ok(sample(&v, now))
}

/// A chain that does not verify is journaled as an error with MSG_AUDIT_CHAIN_BROKEN, whether
/// the monitor or `audit verify` found it.
pub fn log_broken(v: &corenas_proto::api::AuditVerify) {
    if let Some(first) = v.problems.first() {
        tracing::error!(
            message_id = corenas_proto::logging::MSG_AUDIT_CHAIN_BROKEN,
            entries = v.entries,
            problems = v.problems.len(),
            problem = %first,
            "the audit chain does not verify"
        );
    }
}

pub fn sample(v: &corenas_proto::api::AuditVerify, now: i64) -> AuditSample {
    let problem = match v.problems.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [first, rest @ ..] => Some(format!("{first} (and {} more problems)", rest.len())),
    };
    AuditSample { verified: v.problems.is_empty(), checked_at: now, entries: v.entries, problem }
}
