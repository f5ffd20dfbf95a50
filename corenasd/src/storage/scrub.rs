//! Scrubs as storage jobs: start one through the helper, follow the tool's status (read as pool
//! info) until it ends, stop it or cancel the job. Progress lives in the job table (jobs.rs).
//! Must not: change pool records or read them other than through pools.rs and store.rs.

use super::pools::{backend_of, info, query, zfs_info};
use super::store::record;
use super::transient::{self, UnitEnd};
use super::{change, finish, jobs};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_proto::names::PoolName;
use corenas_proto::storage::{Backend, ScrubStatus, StorageJob};
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use std::time::Duration;

pub async fn scrub(shared: &Arc<Daemon>, name: &PoolName, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
    let backend = backend_of(shared, name)?;
    let h = shared.helper.storage().await?;
    let op = HelperOp::ScrubStart { name: name.clone(), backend };
    if dry_run {
        let (steps, w) = h.run_ops_reporting(vec![op], true).await?;
        return Ok(change(true, steps, w, None));
    }
    let (job, cancel) = shared.storage_jobs.start("scrub", name.as_str())?;
    let (steps, w) = match h.run_ops_reporting(vec![op], false).await {
        Ok(r) => r,
        Err(e) => {
            finish(shared, &job.id, "failed", Some(e.message.clone()));
            return Err(e);
        }
    };
    let shared2 = Arc::clone(shared);
    let (id, pool) = (job.id.clone(), name.clone());
    tokio::spawn(async move { follow_scrub(shared2, id, pool, backend, cancel).await });
    Ok(change(false, steps, w, shared.storage_jobs.get(&job.id)))
}

async fn scrub_status(
    shared: &Daemon,
    pool: &PoolName,
    backend: Backend,
) -> Result<corenas_proto::storage::ScrubStatus, WireError> {
    let rec = shared.with_state(|s| record(s.conn(), pool.as_str()))?;
    let info = match rec {
        Some(r) => info(shared, &r).await?,
        None => zfs_info(shared, pool.as_str(), None).await?,
    };
    let _ = backend;
    info.scrub.ok_or_else(|| WireError::new(ErrorCode::ToolFailed, format!("no scrub status for {pool}")))
}

const POLL: Duration = Duration::from_millis(500);

async fn follow_scrub(
    shared: Arc<Daemon>,
    id: String,
    pool: PoolName,
    backend: Backend,
    cancel: tokio_util::sync::CancellationToken,
) {
    if let Some(j) = shared.storage_jobs.get(&id) {
        let _ = shared.with_state(|s| jobs::save(s.conn(), &j));
    }
    // The tool may report the previous scrub for a moment: wait for this one to be seen
    // running, or finished with a summary newer than the start, for a bounded time.
    let mut seen_running = false;
    let mut polls = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                let h = shared.helper.storage().await;
                let r = match h {
                    Ok(h) => h.run_ops_reporting(vec![HelperOp::ScrubStop { name: pool.clone(), backend }], false).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                let msg = match r { Ok(()) => "cancelled by request".to_owned(), Err(e) => format!("cancel requested; stopping the scrub failed: {}", e.message) };
                finish(&shared, &id, "cancelled", Some(msg));
                return;
            }
            () = tokio::time::sleep(POLL) => {}
        }
        polls += 1;
        match scrub_status(&shared, &pool, backend).await {
            Ok(s) if s.running => {
                seen_running = true;
                shared.storage_jobs.update(&id, |j| {
                    j.percent = s.percent;
                    j.message = s.summary.clone();
                });
            }
            Ok(s) if seen_running || polls > 4 => {
                let unit = if backend == Backend::Btrfs { scrub_unit(&shared, &pool).await } else { None };
                // btrfs has not begun, or is writing its last figures: its unit still runs.
                if unit.as_ref().is_some_and(UnitEnd::is_running) {
                    continue;
                }
                let (state, msg) = scrub_end(backend, &s, unit.as_ref());
                finish(&shared, &id, state, Some(msg));
                return;
            }
            Ok(_) => {}
            Err(e) if polls > 20 => {
                finish(&shared, &id, "failed", Some(e.message));
                return;
            }
            Err(_) => {}
        }
    }
}

/// The newest transient unit of this pool's btrfs scrub (None: no unit now, no systemd as PID 1,
/// or the helper could not say; the tool's status then decides alone).
async fn scrub_unit(shared: &Daemon, pool: &PoolName) -> Option<UnitEnd> {
    match query(shared, StorageQuery::ScrubUnit { pool: pool.clone() }).await {
        Ok(out) => transient::parse_newest(&out.stdout),
        Err(e) => {
            tracing::warn!(pool = %pool, error = %e.message, "cannot read the scrub's unit state");
            None
        }
    }
}

/// How a scrub that no longer runs ended: done only when the tool says it finished with no
/// error and its unit (if any is left) did not fail. A btrfs scrub that was aborted or
/// interrupted (its process killed) is no success, whatever its error count.
fn scrub_end(backend: Backend, s: &ScrubStatus, unit: Option<&UnitEnd>) -> (&'static str, String) {
    let mut msg = s.summary.clone().unwrap_or_else(|| "scrub finished".into());
    let unfinished = backend == Backend::Btrfs && !msg.starts_with("scrub finished");
    let failed_unit = unit.filter(|u| u.failed());
    if let Some(u) = failed_unit {
        msg = format!("{msg}; {}", u.describe());
    }
    let state = if s.errors.unwrap_or(0) > 0 || unfinished || failed_unit.is_some() { "failed" } else { "done" };
    (state, msg)
}

pub async fn scrub_stop(shared: &Daemon, name: &PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
    if !dry_run {
        if let Some(j) = shared
            .storage_jobs
            .live()
            .into_iter()
            .find(|j| j.target == name.as_str() && j.kind == "scrub" && j.state == "running")
        {
            shared.storage_jobs.cancel(&j.id)?;
            let done = shared.storage_jobs.wait(&j.id, u64::MAX, Duration::from_secs(30)).await;
            let _ = done;
            return Ok(change(false, Vec::new(), vec![format!("job {} cancelled", j.id)], None));
        }
    }
    let backend = backend_of(shared, name)?;
    let h = shared.helper.storage().await?;
    let (steps, w) = h.run_ops_reporting(vec![HelperOp::ScrubStop { name: name.clone(), backend }], dry_run).await?;
    Ok(change(dry_run, steps, w, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(summary: &str, errors: u64) -> ScrubStatus {
        ScrubStatus { running: false, percent: None, summary: Some(summary.into()), errors: Some(errors) }
    }

    #[test]
    fn only_a_finished_clean_scrub_is_done() {
        let ok = status("scrub finished (started x), 0 errors", 0);
        assert_eq!(scrub_end(Backend::Btrfs, &ok, None).0, "done");
        assert_eq!(scrub_end(Backend::Btrfs, &status("scrub finished (started x), 2 errors", 2), None).0, "failed");
        // Killed with the helper's cgroup (before transient units): no success.
        let aborted = status("scrub aborted (started x), 0 errors", 0);
        assert_eq!(scrub_end(Backend::Btrfs, &aborted, None).0, "failed");
        let interrupted = status("scrub interrupted (started x), 0 errors", 0);
        assert_eq!(scrub_end(Backend::Btrfs, &interrupted, None).0, "failed");
        // ZFS's summaries are its own words.
        assert_eq!(scrub_end(Backend::Zfs, &status("scrub repaired 0B in 00:00:01 with 0 errors", 0), None).0, "done");
    }

    #[test]
    fn a_failed_unit_fails_the_job_and_says_why() {
        let ok = status("scrub finished (started x), 0 errors", 0);
        let unit = UnitEnd {
            id: "corenas-scrub-tank-0a1b2c3d.service".into(),
            active: "failed".into(),
            result: "exit-code".into(),
            code: 1,
            status: 1,
            ..UnitEnd::default()
        };
        let (state, msg) = scrub_end(Backend::Btrfs, &ok, Some(&unit));
        assert_eq!(state, "failed");
        assert!(
            msg.ends_with("unit corenas-scrub-tank-0a1b2c3d.service failed (result exit-code, exit status 1)"),
            "{msg}"
        );
        let gone = UnitEnd { active: "inactive".into(), result: "success".into(), ..unit };
        assert_eq!(scrub_end(Backend::Btrfs, &ok, Some(&gone)).0, "done");
    }
}
