//! The rolling check: `restic check --read-data-subset=k/N`, with k the task's check runs mod N,
//! plus 1, so all of the repository's data is read every N runs (N 0: structure only). The run
//! number is stored per task (`backup_work`). Before the check, the repository's locks are read:
//! one that no live restic holds is reported as stale, never removed (decision 0020).
//!
//! A failed check names what restic found (its stderr lines: "Pack ID does not match, want …").
//! Must not: unlock, repair or prune.

use super::jobs::{self, JobRecord};
use super::run::{self, Plan, Trigger};
use crate::daemon::Daemon;
use crate::state::sql;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::backup::{BackupJobInfo, BackupJobKind, BackupJobState, BackupName, RepoLock};
use rusqlite::params;
use std::sync::Arc;
use std::time::Duration;

/// A check reads up to all data of a repository: hours on a slow link.
const CHECK_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// restic refreshes the locks it holds every 5 minutes and calls one older than 30 minutes stale.
pub const STALE_LOCK_SECS: i64 = 30 * 60;

/// The kinds of scheduled work per task, as `backup_work` names them.
pub const WORK_BACKUP: &str = "backup";
pub const WORK_CHECK: &str = "check";
pub const WORK_SAMPLE: &str = "sample";

/// How many times `work` ran for `task`.
pub fn runs(d: &Daemon, task: &str, work: &str) -> Result<u64, WireError> {
    d.with_state(|s| {
        s.conn()
            .query_row("SELECT runs FROM backup_work WHERE task = ?1 AND work = ?2", params![task, work], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(0) } else { Err(e) })
            .map_err(sql("reading a backup task's runs"))
    })
}

/// Records a run of `work` (count and time; `job` the one it started).
pub fn record_run(d: &Daemon, task: &str, work: &str, at: i64, job: Option<&str>) -> Result<(), WireError> {
    d.with_state(|s| {
        s.conn()
            .execute(
                "INSERT INTO backup_work(task, work, runs, last_run, last_job) VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT(task, work) DO UPDATE SET runs = runs + 1, last_run = ?3, last_job = ?4",
                params![task, work, at, job],
            )
            .map(|_| ())
            .map_err(sql("recording a backup task's run"))
    })
}

/// The subset the `run`-th check (0-based) reads: `(k, n)`, None for structure only.
pub fn subset(run: u64, n: u16) -> Option<(u16, u16)> {
    (n > 0).then(|| (u16::try_from(run % u64::from(n)).unwrap_or(0) + 1, n))
}

/// restic's arguments for that check.
pub fn check_args(subset: Option<(u16, u16)>) -> Vec<String> {
    let mut a = vec!["check".to_owned()];
    if let Some((k, n)) = subset {
        a.push(format!("--read-data-subset={k}/{n}"));
    }
    a
}

/// What a failed check found: restic's lines, less its progress and the final "Fatal".
pub fn findings(stderr: &str) -> Vec<String> {
    stderr
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Fatal: repository contains errors") && !l.starts_with('['))
        .map(|l| super::follow::clean(l, 300))
        .take(10)
        .collect()
}

/// Locks no live restic of this machine holds, or that were not refreshed for 30 minutes.
pub fn stale_locks(locks: &[RepoLock], now: i64, hostname: &str, alive: &dyn Fn(u32) -> bool) -> Vec<String> {
    locks
        .iter()
        .filter(|l| {
            let age = crate::monitor::collectors::jobs::epoch(&l.time).map(|t| now - t);
            let old = age.is_some_and(|a| a >= STALE_LOCK_SECS);
            let dead_here = l.hostname == hostname && !alive(l.pid);
            old || dead_here
        })
        .map(|l| {
            format!(
                "lock {} ({}, pid {} on {}, since {})",
                super::follow::clean(l.id.get(..8).unwrap_or(&l.id), 8),
                if l.exclusive { "exclusive" } else { "shared" },
                l.pid,
                super::follow::clean(&l.hostname, 64),
                super::follow::clean(&l.time, 40)
            )
        })
        .collect()
}

/// Whether a process exists (a lock's holder on this machine); EPERM means it does.
fn pid_alive(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else { return false };
    let Some(pid) = rustix::process::Pid::from_raw(p) else { return false };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// `backup check TASK`: a dry run says what would be read; a real one queues the job.
pub async fn start(
    d: &Arc<Daemon>,
    task: &BackupName,
    dry_run: bool,
    trigger: Trigger,
) -> Result<Change<BackupJobInfo>, WireError> {
    let plan = run::plan(d, task).await?;
    let n = subset(runs(d, task.as_str(), WORK_CHECK)?, plan.task.check_subset);
    if dry_run {
        let what = format!("corenasd runs restic {} on target {}", check_args(n).join(" "), plan.repo.target);
        let steps = vec![corenas_proto::helper::Step::Check { what }];
        return Ok(Change { dry_run: true, steps, result: None, generated_password: None, warnings: vec![] });
    }
    let rec =
        d.with_state(|s| Ok(d.backups.jobs.create(s.conn(), task, &plan.repo.target, BackupJobKind::Check)))??;
    let info = rec.info.clone();
    let d2 = Arc::clone(d);
    let _ = trigger;
    d.in_flight.spawn(async move { run_check(d2, rec, plan).await });
    Ok(Change { dry_run: false, steps: vec![], result: Some(info), generated_password: None, warnings: vec![] })
}

async fn run_check(d: Arc<Daemon>, rec: JobRecord, plan: Plan) {
    let id = rec.info.id.clone();
    let _repo = match run::take_repo(&d, &rec).await {
        Ok(g) => g,
        Err(e) => {
            run::end(&d, id.as_str(), |r| fail(r, &e.message, Vec::new()));
            return;
        }
    };
    let task = plan.task.name.as_str();
    let n = runs(&d, task, WORK_CHECK).map(|r| subset(r, plan.task.check_subset));
    let n = match n {
        Ok(n) => n,
        Err(e) => {
            run::end(&d, id.as_str(), |r| fail(r, &e.message, Vec::new()));
            return;
        }
    };
    // The run counts whatever its result: the next one reads the next subset.
    if let Err(e) = record_run(&d, task, WORK_CHECK, crate::monitor::now(), Some(id.as_str())) {
        tracing::error!(job = %id, error = %e.message, "cannot count the check run");
    }
    let stale = match d.backups.restic.locks(&plan.repo).await {
        Ok(locks) => stale_locks(&locks, crate::monitor::now(), &hostname(), &pid_alive),
        Err(e) => {
            let e = WireError::from(e);
            run::end(&d, id.as_str(), |r| {
                fail(r, &format!("the repository's locks cannot be read: {}", e.message), Vec::new())
            });
            return;
        }
    };
    let result = d.backups.restic.run(&plan.repo, "check", &check_args(n), CHECK_TIMEOUT, None).await;
    let what = match n {
        Some((k, n)) => format!("check: structure and data subset {k}/{n}"),
        None => "check: structure only (no data read)".to_owned(),
    };
    match result {
        Ok(_) => {
            run::end(&d, id.as_str(), |r| {
                r.info.state = BackupJobState::Done;
                r.outcome.subset = Some(n.unwrap_or((0, 0)));
                r.outcome.stale_locks = stale.clone();
                r.info.detail = Some(format!("{what}: no errors were found"));
                if !stale.is_empty() {
                    r.info.detail = Some(format!("{what}: no errors were found\nstale locks: {}", stale.join("; ")));
                }
            });
        }
        Err(e) => {
            let found = match &e {
                super::restic::ResticError::Failed { stderr, .. } => findings(stderr),
                _ => Vec::new(),
            };
            let why = if found.is_empty() {
                WireError::from(e).message
            } else {
                format!("the repository contains errors: {}", found.join("; "))
            };
            run::end(&d, id.as_str(), |r| {
                fail(r, &why, stale.clone());
                r.outcome.subset = Some(n.unwrap_or((0, 0)));
                r.info.detail = Some(what.clone());
            });
        }
    }
}

fn fail(r: &mut JobRecord, why: &str, stale: Vec<String>) {
    r.info.state = BackupJobState::Failed;
    r.info.error = Some(super::follow::clean(why, 1000));
    r.outcome.stale_locks = stale;
}

// `coverage` lives in jobs.rs: the backups collector reads it, and a collector importing this
// file (which imports the monitor) made an import circle of six files.
pub use super::jobs::coverage;

/// The task's recent checks, newest first (for coverage).
pub fn recent_checks(d: &Daemon, task: &str) -> Result<Vec<JobRecord>, WireError> {
    d.with_state(|s| jobs::recent(s.conn(), task, BackupJobKind::Check, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_rolls_over_all_data_every_n_runs() {
        let ks: Vec<Option<(u16, u16)>> = (0..5).map(|r| subset(r, 3)).collect();
        assert_eq!(ks, [Some((1, 3)), Some((2, 3)), Some((3, 3)), Some((1, 3)), Some((2, 3))]);
        assert_eq!(subset(7, 0), None);
        assert_eq!(check_args(Some((2, 10))), ["check", "--read-data-subset=2/10"]);
        assert_eq!(check_args(None), ["check"]);
    }

    #[test]
    fn a_failed_check_names_what_restic_found() {
        // restic 0.14.0's stderr for a pack file with 16 bytes overwritten (this machine).
        let stderr = "Pack ID does not match, want bb0ac64b3a460ca2ec9c7f7d16645e372a3cc88ab68120e2db4a784424500b41, got 1c31762c01a1b669d29e8b0379fa4de56919fe27e9512f7c9012d7339999eb47\nFatal: repository contains errors\n";
        assert_eq!(
            findings(stderr),
            [
                "Pack ID does not match, want bb0ac64b3a460ca2ec9c7f7d16645e372a3cc88ab68120e2db4a784424500b41, got 1c31762c01a1b669d29e8b0379fa4de56919fe27e9512f7c9012d7339999eb47"
            ]
        );
    }

    fn lock(time: &str, host: &str, pid: u32) -> RepoLock {
        RepoLock {
            id: "d3a8041ea33fda998ffc3056021ebf5f72001ba06ba39dd96f478548cc55a886".into(),
            time: time.into(),
            exclusive: true,
            hostname: host.into(),
            username: "corenas".into(),
            pid,
        }
    }

    #[test]
    fn a_lock_is_stale_when_old_or_its_holder_here_is_gone() {
        let now = crate::monitor::collectors::jobs::epoch("2026-12-08T01:00:00Z").unwrap();
        let alive = |pid: u32| pid == 100;
        let fresh_here = lock("2026-12-08T00:55:00.5Z", "nas", 100);
        let dead_here = lock("2026-12-08T00:55:00Z", "nas", 200);
        let old_elsewhere = lock("2026-12-08T00:20:00Z", "other", 300);
        let fresh_elsewhere = lock("2026-12-08T00:59:00Z", "other", 200);
        let stale = stale_locks(&[fresh_here, dead_here, old_elsewhere, fresh_elsewhere], now, "nas", &alive);
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(stale[0].starts_with("lock d3a8041e (exclusive, pid 200 on nas"), "{stale:?}");
        assert!(stale[1].contains("pid 300 on other"), "{stale:?}");
        assert!(pid_alive(std::process::id()));
    }

    fn check(ok: bool, subset: Option<(u16, u16)>) -> JobRecord {
        JobRecord {
            info: BackupJobInfo {
                id: "bkp_000001".parse().unwrap(),
                task: "docs".parse().unwrap(),
                kind: BackupJobKind::Check,
                state: if ok { BackupJobState::Done } else { BackupJobState::Failed },
                progress: Default::default(),
                created_at: String::new(),
                finished_at: None,
                snapshot: None,
                detail: None,
                error: None,
                version: 0,
            },
            target: "usb".into(),
            outcome: jobs::Outcome { subset, ..Default::default() },
        }
    }

    #[test]
    fn coverage_counts_distinct_subsets_since_the_last_failure() {
        assert_eq!(coverage(&[]), 0.0);
        assert_eq!(coverage(&[check(true, Some((0, 0)))]), 0.0);
        let c = [
            check(true, Some((2, 4))),
            check(true, Some((1, 4))),
            check(false, Some((4, 4))),
            check(true, Some((3, 4))),
        ];
        assert_eq!(coverage(&c), 0.5);
        let all = [check(true, Some((1, 2))), check(true, Some((2, 2))), check(true, Some((1, 2)))];
        assert_eq!(coverage(&all), 1.0);
        // N changed from 3 to 2: only the current N's runs count.
        let changed = [check(true, Some((1, 2))), check(true, Some((3, 3)))];
        assert_eq!(coverage(&changed), 0.5);
    }
}
