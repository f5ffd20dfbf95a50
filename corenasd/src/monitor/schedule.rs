//! Health work on a schedule: scrubs per pool (monthly by default) and SMART self-tests.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{HealthSchedule, HealthScheduleSpec};
use std::sync::Arc;

pub fn list(d: &Daemon) -> Result<Vec<HealthSchedule>, WireError> {
    let _ = d;
    Err(WireError::internal("health schedules: not built yet"))
}

pub async fn set(
    d: &Arc<Daemon>,
    spec: &HealthScheduleSpec,
    dry_run: bool,
) -> Result<Change<HealthSchedule>, WireError> {
    let _ = (d, spec, dry_run);
    Err(WireError::internal("health schedules: not built yet"))
}

/// Starts scheduled health work when it is due; looks every `tick`.
pub async fn run(d: Arc<Daemon>, tick: std::time::Duration) {
    let _ = (d, tick);
}
