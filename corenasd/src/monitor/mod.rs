//! Monitoring: collectors on their own schedules fill a health cache (kept in memory for
//! `/metrics` and the dashboard, and in SQLite with each collector's last-success time, so a
//! restart starts from what was known); a bounded history feeds the charts; the alert engine
//! (`crate::alerts`) reads the cache after every run. Nothing here is privileged: tools run
//! through the helper's typed queries, and SMART never wakes a sleeping disk.

pub mod history;
pub mod metrics;
pub mod schedule;

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{CollectorStatus, HealthSnapshot, MonitorStatus};
use std::sync::{Arc, RwLock};

/// The in-memory face of the health cache (one per daemon).
#[derive(Default)]
pub struct Monitor {
    pub snapshot: RwLock<HealthSnapshot>,
    /// Wakes the collector loop for `monitor run`.
    pub wake: tokio::sync::Notify,
}

pub fn status(d: &Daemon) -> Result<MonitorStatus, WireError> {
    let _ = d;
    Err(WireError::internal("monitor status: not built yet"))
}

pub async fn run_now(d: &Arc<Daemon>, dry_run: bool) -> Result<Change<Vec<CollectorStatus>>, WireError> {
    let _ = (d, dry_run);
    Err(WireError::internal("monitor run: not built yet"))
}

/// The collector loop: each collector on its own interval (or every `every_secs`, in tests);
/// after a run, the alert engine evaluates the new snapshot.
pub async fn run(d: Arc<Daemon>, every_secs: Option<u64>) {
    let _ = (d, every_secs);
}
