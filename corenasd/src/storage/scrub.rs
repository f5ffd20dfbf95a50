//! Scrubs as storage jobs: start one through the helper, follow the tool's status (read as pool
//! info) until it ends, stop it or cancel the job. Progress lives in the job table (jobs.rs).
//! Must not: change pool records or read them other than through pools.rs and store.rs.

use super::pools::{backend_of, info, zfs_info};
use super::store::record;
use super::{change, finish, jobs};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::HelperOp;
use corenas_proto::names::PoolName;
use corenas_proto::storage::{Backend, StorageJob};
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
                let msg = s.summary.unwrap_or_else(|| "scrub finished".into());
                let state = if s.errors.unwrap_or(0) > 0 { "failed" } else { "done" };
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
