//! Storage: pools (or arrays, volume groups, single-disk filesystems) built from devices,
//! datasets/volumes inside them, snapshots, health and scrub. One folder per backend; every
//! tool output is parsed here, unprivileged (the helper returns it raw).
//!
//! The pool services, bottom to top: `store` (pool records and schedules in state.db), `pools`
//! (info, create, destroy, import, export, and the lookups the others share), then `scrub`,
//! `datasets` and `snapshots` (snapshots and their schedules), none of which imports a sibling
//! above it. md and LVM are `volumes`; long work is a storage job (`jobs`). This file holds the
//! two things every storage service, and the device services, share: the change report and
//! ending a job. Nothing here imports the RPC layer.

use crate::daemon::Daemon;
use corenas_proto::api::Change;

pub mod btrfs;
pub mod datasets;
pub mod jobs;
pub mod lvm;
pub mod mdadm;
pub mod pools;
pub mod retention;
pub mod scrub;
pub mod snapshots;
pub mod store;
pub mod transient;
pub mod volumes;
pub mod zfs;

/// A change report for storage and device requests.
pub(crate) fn change<T>(
    dry_run: bool,
    steps: Vec<corenas_proto::helper::Step>,
    warnings: Vec<String>,
    result: Option<T>,
) -> Change<T> {
    Change { dry_run, steps, result, generated_password: None, warnings }
}

/// Ends a job and stores it (a storage failure is logged, never lost silently).
pub fn finish(shared: &Daemon, id: &str, state: &str, message: Option<String>) {
    if let Some(j) = shared.storage_jobs.finish(id, state, message) {
        if let Err(e) = shared.with_state(|s| jobs::save(s.conn(), &j)) {
            tracing::error!(job = id, error = %e.message, "could not store the job's end");
        }
    }
}
