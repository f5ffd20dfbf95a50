//! Storage jobs (scrub, wipe, SMART self-test): long work owned by corenasd's job table, not by
//! a request. Progress lives in memory and is pushed to waiters; each job's start and end are
//! stored, so history survives a restart and a job that was running when corenasd stopped is
//! recorded truthfully as interrupted.

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::storage::StorageJob;
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Entry {
    job: StorageJob,
    cancel: CancellationToken,
}

#[derive(Default)]
pub struct Jobs {
    live: Mutex<BTreeMap<String, Entry>>,
    changed: tokio::sync::Notify,
}

pub fn save(conn: &Connection, j: &StorageJob) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO storage_jobs(id, kind, target, state, percent, message, started, finished)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET state = ?4, percent = ?5, message = ?6, finished = ?8",
        params![j.id, j.kind, j.target, j.state, j.percent, j.message, j.started, j.finished],
    )
    .map_err(sql("saving a storage job"))?;
    Ok(())
}

pub fn stored(conn: &Connection) -> Result<Vec<StorageJob>, StateError> {
    let mut stmt = conn
        .prepare(
            "SELECT id, kind, target, state, percent, message, started, finished FROM storage_jobs
             ORDER BY started DESC LIMIT 500",
        )
        .map_err(sql("listing storage jobs"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(StorageJob {
                id: r.get(0)?,
                kind: r.get(1)?,
                target: r.get(2)?,
                state: r.get(3)?,
                percent: r.get(4)?,
                message: r.get(5)?,
                started: r.get(6)?,
                finished: r.get(7)?,
                version: 0,
            })
        })
        .map_err(sql("listing storage jobs"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql("reading a storage job"))
}

/// A stored job by id, among those `stored` lists (a job that is no longer live).
pub fn find(conn: &Connection, id: &str) -> Result<Option<StorageJob>, StateError> {
    Ok(stored(conn)?.into_iter().find(|j| j.id == id))
}

/// At start-up: a job stored as running was cut off by a stop or crash of corenasd.
pub fn mark_interrupted(conn: &Connection) -> Result<usize, StateError> {
    let now = now_rfc3339()?;
    conn.execute(
        "UPDATE storage_jobs SET state = 'failed', finished = ?1,
             message = 'interrupted: corenasd stopped while the job ran' WHERE state = 'running'",
        params![now],
    )
    .map_err(sql("closing interrupted storage jobs"))
}

fn new_id() -> String {
    let mut b = [0u8; 6];
    // An id only needs to be unique; fall back to the clock if the kernel has no entropy yet.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&t.as_nanos().to_le_bytes()[..6]);
    }
    format!("s-{}", hex::encode(b))
}

impl Jobs {
    /// A new running job; the caller spawns the work with the returned token.
    pub fn start(&self, kind: &str, target: &str) -> Result<(StorageJob, CancellationToken), WireError> {
        let mut live = self.live.lock().map_err(|_| WireError::internal("jobs lock poisoned"))?;
        if let Some(e) = live.values().find(|e| e.job.target == target && e.job.state == "running") {
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("{target} is busy with {} job {}", e.job.kind, e.job.id),
            ));
        }
        let job = StorageJob {
            id: new_id(),
            kind: kind.to_owned(),
            target: target.to_owned(),
            state: "running".into(),
            percent: Some(0.0),
            message: None,
            started: now_rfc3339().map_err(WireError::from)?,
            finished: None,
            version: 1,
        };
        let cancel = CancellationToken::new();
        live.insert(job.id.clone(), Entry { job: job.clone(), cancel: cancel.clone() });
        drop(live);
        self.changed.notify_waiters();
        Ok((job, cancel))
    }

    /// Updates a job in memory and returns the new value.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut StorageJob)) -> Option<StorageJob> {
        let mut live = self.live.lock().ok()?;
        let e = live.get_mut(id)?;
        f(&mut e.job);
        e.job.version += 1;
        let out = e.job.clone();
        drop(live);
        self.changed.notify_waiters();
        Some(out)
    }

    /// Ends a job: final state and message, stored.
    pub fn finish(&self, id: &str, state: &str, message: Option<String>) -> Option<StorageJob> {
        let finished = now_rfc3339().ok();
        self.update(id, |j| {
            j.state = state.to_owned();
            j.message = message;
            j.finished = finished;
            if state == "done" {
                j.percent = Some(100.0);
            }
        })
    }

    pub fn get(&self, id: &str) -> Option<StorageJob> {
        self.live.lock().ok()?.get(id).map(|e| e.job.clone())
    }

    pub fn live(&self) -> Vec<StorageJob> {
        self.live.lock().map(|l| l.values().map(|e| e.job.clone()).collect()).unwrap_or_default()
    }

    pub fn cancel(&self, id: &str) -> Result<StorageJob, WireError> {
        let live = self.live.lock().map_err(|_| WireError::internal("jobs lock poisoned"))?;
        let e = live.get(id).ok_or_else(|| WireError::not_found(format!("no running storage job {id}")))?;
        if e.job.state != "running" {
            return Err(WireError::new(ErrorCode::InvalidState, format!("job {id} is {}", e.job.state)));
        }
        e.cancel.cancel();
        Ok(e.job.clone())
    }

    /// Waits until the job's version passes `after` or the time is up.
    pub async fn wait(&self, id: &str, after: u64, wait: Duration) -> Option<StorageJob> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            let j = self.get(id)?;
            if j.version > after || j.state != "running" {
                return Some(j);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(id);
            }
        }
    }
}
