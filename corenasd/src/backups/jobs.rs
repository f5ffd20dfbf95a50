//! Backup jobs (backup, check, sample restore, restore): the `backup_jobs` table, and the live
//! registry that carries progress between stores and wakes waiters.
//!
//! A job is a row from its creation: queued, running, then done or failed with its detail (one
//! line per step) and, when failed, its error. Ids are `bkp_NNNNNN`, in order. Jobs of one
//! repository run one at a time (check and prune take restic's exclusive lock, and a backup
//! that meets one fails); a job waits for its target in state `queued`. One task has at most one
//! job queued or running.
//!
//! `outcome` holds the figures the metrics and the alert rules read (bytes added, duration, the
//! subset a check read, the snapshots counted, stale locks): a JSON column of the same row, so
//! a restart, the collector and `backup job show` all see one record.
//! Must not: run restic or ask the helper (run.rs, check.rs and sample.rs do).

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::backup::{BackupJobId, BackupJobInfo, BackupJobKind, BackupJobState, BackupName, BackupProgress};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a finished job measured, for metrics, alerts and the next run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// A backup: bytes restic added to the repository, and how long the runner took.
    pub bytes_added: Option<u64>,
    pub duration_secs: Option<f64>,
    /// Snapshots of the task in the repository after the job (backup with forget, check).
    pub snapshots: Option<u64>,
    /// A check: the subset it read (k of n; n 0: structure only).
    pub subset: Option<(u16, u16)>,
    /// Locks a check found that no running restic of ours holds (ids and what restic says).
    pub stale_locks: Vec<String>,
    /// A sample restore: files compared.
    pub compared: Option<u64>,
    /// Items restic could not read in a backup (the snapshot exists but misses them).
    pub unreadable: Option<u64>,
    /// A backup: the files its sample restore compares, hashed in the source snapshot.
    pub sample: Vec<SampleFile>,
}

/// One sampled file: its path in the snapshot and what the source snapshot held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

fn kind_str(k: BackupJobKind) -> &'static str {
    match k {
        BackupJobKind::Backup => "backup",
        BackupJobKind::Forget => "forget",
        BackupJobKind::Check => "check",
        BackupJobKind::SampleRestore => "sample_restore",
        BackupJobKind::Restore => "restore",
    }
}

fn kind_of(s: &str) -> Option<BackupJobKind> {
    [
        BackupJobKind::Backup,
        BackupJobKind::Forget,
        BackupJobKind::Check,
        BackupJobKind::SampleRestore,
        BackupJobKind::Restore,
    ]
    .into_iter()
    .find(|k| kind_str(*k) == s)
}

pub fn state_str(s: BackupJobState) -> &'static str {
    match s {
        BackupJobState::Queued => "queued",
        BackupJobState::Running => "running",
        BackupJobState::Done => "done",
        BackupJobState::Failed => "failed",
    }
}

fn state_of(s: &str) -> Option<BackupJobState> {
    [BackupJobState::Queued, BackupJobState::Running, BackupJobState::Done, BackupJobState::Failed]
        .into_iter()
        .find(|k| state_str(*k) == s)
}

/// A job as stored: what the API shows, its target and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub info: BackupJobInfo,
    pub target: String,
    pub outcome: Outcome,
}

impl JobRecord {
    pub fn ended(&self) -> bool {
        matches!(self.info.state, BackupJobState::Done | BackupJobState::Failed)
    }
    pub fn ok(&self) -> bool {
        self.info.state == BackupJobState::Done
    }
}

fn json<T: Serialize>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v).map_err(|e| StateError::InvalidRecord { detail: format!("a backup job: {e}") })
}

const COLUMNS: &str = "id, task, target, kind, state, progress, created, finished, snapshot, detail, error, outcome";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<JobRecord>> {
    let id: String = r.get(0)?;
    let task: String = r.get(1)?;
    let kind: String = r.get(3)?;
    let state: String = r.get(4)?;
    let progress: String = r.get(5)?;
    let outcome: String = r.get(11)?;
    // A row this build cannot read (a later version's kind) is skipped, not fatal.
    let (Ok(id), Ok(task), Some(kind), Some(state)) =
        (id.parse::<BackupJobId>(), task.parse::<BackupName>(), kind_of(&kind), state_of(&state))
    else {
        return Ok(None);
    };
    Ok(Some(JobRecord {
        info: BackupJobInfo {
            id,
            task,
            kind,
            state,
            progress: serde_json::from_str(&progress).unwrap_or_default(),
            created_at: r.get(6)?,
            finished_at: r.get(7)?,
            snapshot: r.get(8)?,
            detail: r.get(9)?,
            error: r.get(10)?,
            version: u64::MAX,
        },
        target: r.get(2)?,
        outcome: serde_json::from_str(&outcome).unwrap_or_default(),
    }))
}

pub fn save(conn: &Connection, j: &JobRecord) -> Result<(), StateError> {
    let i = &j.info;
    conn.execute(
        "INSERT INTO backup_jobs(id, task, target, kind, state, progress, created, finished, snapshot, detail, error, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(id) DO UPDATE SET state = ?5, progress = ?6, finished = ?8, snapshot = ?9, detail = ?10,
             error = ?11, outcome = ?12",
        params![
            i.id.as_str(),
            i.task.as_str(),
            j.target,
            kind_str(i.kind),
            state_str(i.state),
            json(&i.progress)?,
            i.created_at,
            i.finished_at,
            i.snapshot,
            i.detail,
            i.error,
            json(&j.outcome)?,
        ],
    )
    .map_err(sql("saving a backup job"))?;
    Ok(())
}

fn query(conn: &Connection, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<JobRecord>, StateError> {
    let text = format!("SELECT {COLUMNS} FROM backup_jobs {filter}");
    let mut stmt = conn.prepare(&text).map_err(sql("listing backup jobs"))?;
    let rows = stmt.query_map(args, from_row).map_err(sql("listing backup jobs"))?;
    let rows: Vec<Option<JobRecord>> = rows.collect::<Result<_, _>>().map_err(sql("reading a backup job"))?;
    Ok(rows.into_iter().flatten().collect())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<JobRecord>, StateError> {
    Ok(query(conn, "WHERE id = ?1", &[&id])?.pop())
}

/// Newest first, at most `limit`; one task's, or all.
pub fn list(conn: &Connection, task: Option<&str>, limit: u32) -> Result<Vec<JobRecord>, StateError> {
    match task {
        Some(t) => query(conn, "WHERE task = ?1 ORDER BY id DESC LIMIT ?2", &[&t, &limit]),
        None => query(conn, "ORDER BY id DESC LIMIT ?1", &[&limit]),
    }
}

/// A task's newest ended job of `kind` (with `ok`: the newest successful one).
pub fn last(conn: &Connection, task: &str, kind: BackupJobKind, ok: bool) -> Result<Option<JobRecord>, StateError> {
    let states: &[&str] = if ok { &["done"] } else { &["done", "failed"] };
    let filter = format!(
        "WHERE task = ?1 AND kind = ?2 AND state IN ({}) ORDER BY id DESC LIMIT 1",
        states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    );
    Ok(query(conn, &filter, &[&task, &kind_str(kind)])?.pop())
}

/// A task's last `limit` ended jobs of `kind`, newest first.
pub fn recent(conn: &Connection, task: &str, kind: BackupJobKind, limit: u32) -> Result<Vec<JobRecord>, StateError> {
    query(
        conn,
        "WHERE task = ?1 AND kind = ?2 AND state IN ('done', 'failed') ORDER BY id DESC LIMIT ?3",
        &[&task, &kind_str(kind), &limit],
    )
}

/// Jobs stored as queued or running (at start-up: what the last corenasd left).
pub fn unfinished(conn: &Connection) -> Result<Vec<JobRecord>, StateError> {
    query(conn, "WHERE state IN ('queued', 'running') ORDER BY id", &[])
}

/// The next id: one past the highest stored.
fn next_id(conn: &Connection) -> Result<BackupJobId, WireError> {
    let max: Option<String> = conn
        .query_row("SELECT max(id) FROM backup_jobs", [], |r| r.get(0))
        .optional()
        .map_err(sql("numbering a backup job"))?
        .flatten();
    let n = max.as_deref().and_then(|m| m.strip_prefix("bkp_")).and_then(|d| d.parse::<u32>().ok()).unwrap_or(0) + 1;
    if n > 999_999 {
        return Err(WireError::new(ErrorCode::InvalidState, "backup job ids are used up (bkp_999999)"));
    }
    format!("bkp_{n:06}").parse().map_err(|_| WireError::internal("a backup job id did not validate"))
}

// ---------------------------------------------------------------------------------------------
// The live registry.

struct Live {
    record: JobRecord,
}

/// The jobs of this corenasd (one per daemon): queued and running ones with their progress,
/// each with a version that rises on every change; waiters are woken by `changed`.
#[derive(Default)]
pub struct BackupJobs {
    live: Mutex<BTreeMap<String, Live>>,
    changed: tokio::sync::Notify,
    /// One lock per target: its jobs run one at a time.
    repos: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for BackupJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.live().iter().map(|r| r.info.id.to_string()).collect();
        f.debug_struct("BackupJobs").field("live", &ids).finish()
    }
}

fn poisoned() -> WireError {
    WireError::internal("backup jobs lock poisoned")
}

impl BackupJobs {
    /// A new queued job, stored; refused while the task has one queued or running.
    pub fn create(
        &self,
        conn: &Connection,
        task: &BackupName,
        target: &BackupName,
        kind: BackupJobKind,
    ) -> Result<JobRecord, WireError> {
        let mut live = self.live.lock().map_err(|_| poisoned())?;
        if let Some(l) = live.values().find(|l| l.record.info.task == *task && !l.record.ended()) {
            let i = &l.record.info;
            return Err(WireError::new(
                ErrorCode::Busy,
                format!("task {task} is busy: {} job {} is {}", kind_str(i.kind), i.id, state_str(i.state)),
            ));
        }
        let record = JobRecord {
            info: BackupJobInfo {
                id: next_id(conn)?,
                task: task.clone(),
                kind,
                state: BackupJobState::Queued,
                progress: BackupProgress::default(),
                created_at: now_rfc3339().map_err(WireError::from)?,
                finished_at: None,
                snapshot: None,
                detail: None,
                error: None,
                version: 1,
            },
            target: target.to_string(),
            outcome: Outcome::default(),
        };
        save(conn, &record)?;
        live.insert(record.info.id.to_string(), Live { record: record.clone() });
        drop(live);
        self.changed.notify_waiters();
        Ok(record)
    }

    /// Puts a stored job back in the registry (a backup re-followed after a restart).
    pub fn adopt(&self, mut record: JobRecord) {
        record.info.version = 1;
        if let Ok(mut live) = self.live.lock() {
            live.insert(record.info.id.to_string(), Live { record });
        }
        self.changed.notify_waiters();
    }

    /// Changes a live job in memory; the new record.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
        let mut live = self.live.lock().ok()?;
        let l = live.get_mut(id)?;
        f(&mut l.record);
        l.record.info.version += 1;
        let out = l.record.clone();
        drop(live);
        self.changed.notify_waiters();
        Some(out)
    }

    /// Ends a live job: its state and finish time set, then it leaves the registry (the stored
    /// row is the record from now on; the caller stores it).
    pub fn end(&self, id: &str, f: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
        let finished = now_rfc3339().ok();
        let out = self.update(id, |r| {
            f(r);
            r.info.finished_at = finished;
            if r.info.state == BackupJobState::Done {
                r.info.progress.percent = 100.0;
                r.info.progress.eta_seconds = None;
            }
        });
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
        self.changed.notify_waiters();
        // From now on it is read from the store, where an ended job's version is the highest.
        out.map(|mut r| {
            r.info.version = u64::MAX;
            r
        })
    }

    pub fn get(&self, id: &str) -> Option<JobRecord> {
        self.live.lock().ok()?.get(id).map(|l| l.record.clone())
    }

    pub fn live(&self) -> Vec<JobRecord> {
        self.live.lock().map(|l| l.values().map(|l| l.record.clone()).collect()).unwrap_or_default()
    }

    /// The task's queued or running job, if any.
    pub fn busy(&self, task: &str) -> Option<JobRecord> {
        self.live().into_iter().find(|r| r.info.task.as_str() == task && !r.ended())
    }

    /// The lock of one target's repository.
    pub fn repo_lock(&self, target: &str) -> Result<Arc<tokio::sync::Mutex<()>>, WireError> {
        let mut m = self.repos.lock().map_err(|_| poisoned())?;
        Ok(Arc::clone(m.entry(target.to_owned()).or_default()))
    }

    /// Waits until a live job's version passes `after`, it ends, or the time is up. None: the
    /// job is not live (ended before, or unknown): the caller reads the stored row.
    pub async fn wait(&self, id: &str, after: u64, wait: Duration) -> Option<JobRecord> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            let r = self.get(id)?;
            if r.info.version > after {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(id);
            }
        }
    }
}

/// Share of the repository's data the task's checks read in their last N runs that passed
/// since the last failure (1.0: all of it; 0 with structure-only checks or none).
pub fn coverage(checks: &[JobRecord]) -> f64 {
    let mut seen: std::collections::BTreeSet<u16> = Default::default();
    let mut n_now = None;
    for c in checks {
        if !c.ok() {
            break;
        }
        let Some((k, n)) = c.outcome.subset else { continue };
        if n == 0 {
            continue;
        }
        // Only the current N counts: a changed N starts over.
        if *n_now.get_or_insert(n) != n {
            break;
        }
        seen.insert(k);
        if seen.len() >= usize::from(n) {
            break;
        }
    }
    match n_now {
        Some(n) => seen.len() as f64 / f64::from(n),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &crate::state::test_support::TestDir) -> crate::state::State {
        crate::state::State::open(&dir.path().join("state.db")).unwrap()
    }

    #[test]
    fn jobs_are_numbered_stored_and_one_per_task() {
        let dir = crate::state::test_support::TestDir::new("backup-jobs");
        let st = db(&dir);
        let jobs = BackupJobs::default();
        let (t1, t2, target): (BackupName, BackupName, BackupName) =
            ("docs".parse().unwrap(), "media".parse().unwrap(), "usb".parse().unwrap());
        let a = jobs.create(st.conn(), &t1, &target, BackupJobKind::Backup).unwrap();
        assert_eq!(a.info.id.as_str(), "bkp_000001");
        let busy = jobs.create(st.conn(), &t1, &target, BackupJobKind::Check).unwrap_err();
        assert_eq!(busy.code, ErrorCode::Busy);
        assert!(busy.message.contains("bkp_000001"), "{}", busy.message);
        let b = jobs.create(st.conn(), &t2, &target, BackupJobKind::Check).unwrap();
        assert_eq!(b.info.id.as_str(), "bkp_000002");

        jobs.update("bkp_000001", |r| {
            r.info.state = BackupJobState::Running;
            r.info.progress.percent = 50.0;
        });
        let ended = jobs
            .end("bkp_000001", |r| {
                r.info.state = BackupJobState::Done;
                r.info.snapshot = Some("01d04a05".into());
                r.outcome.bytes_added = Some(42);
            })
            .unwrap();
        save(st.conn(), &ended).unwrap();
        assert!(jobs.get("bkp_000001").is_none(), "an ended job leaves the registry");
        let stored = get(st.conn(), "bkp_000001").unwrap().unwrap();
        assert_eq!(stored, ended);
        assert_eq!(stored.info.version, u64::MAX, "an ended job reads as final");
        assert_eq!(stored.info.progress.percent, 100.0);
        assert!(stored.info.finished_at.is_some());
        // The task is free again; the numbering goes on from the table.
        let c = jobs.create(st.conn(), &t1, &target, BackupJobKind::Check).unwrap();
        assert_eq!(c.info.id.as_str(), "bkp_000003");
        assert_eq!(
            last(st.conn(), "docs", BackupJobKind::Backup, true).unwrap().unwrap().info.id.as_str(),
            "bkp_000001"
        );
        assert!(last(st.conn(), "docs", BackupJobKind::Check, false).unwrap().is_none(), "queued is not ended");
        let ids: Vec<String> = unfinished(st.conn()).unwrap().iter().map(|r| r.info.id.to_string()).collect();
        assert_eq!(ids, ["bkp_000002", "bkp_000003"]);
        assert_eq!(list(st.conn(), Some("docs"), 10).unwrap().len(), 2);
        assert_eq!(list(st.conn(), None, 1).unwrap()[0].info.id.as_str(), "bkp_000003");
    }

    #[test]
    fn a_waiter_wakes_on_a_change() {
        let dir = crate::state::test_support::TestDir::new("backup-wait");
        let st = db(&dir);
        let jobs = Arc::new(BackupJobs::default());
        let r =
            jobs.create(st.conn(), &"docs".parse().unwrap(), &"usb".parse().unwrap(), BackupJobKind::Backup).unwrap();
        let id = r.info.id.to_string();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let j2 = Arc::clone(&jobs);
            let id2 = id.clone();
            let waiter = tokio::spawn(async move { j2.wait(&id2, 1, Duration::from_secs(60)).await });
            tokio::task::yield_now().await;
            jobs.update(&id, |r| r.info.progress.files_done = 7);
            let r = waiter.await.unwrap().unwrap();
            assert_eq!((r.info.progress.files_done, r.info.version), (7, 2));
            // Nothing new: the wait ends with the job as it is.
            let r = jobs.wait(&id, 2, Duration::from_millis(10)).await.unwrap();
            assert_eq!(r.info.version, 2);
        });
    }
}
