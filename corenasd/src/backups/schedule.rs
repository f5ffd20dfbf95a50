//! Backup schedules: each task backs up at `hour`:00 local on its cadence (`every`, the same
//! slots as the health schedules in monitor/schedule.rs: daily, weekly on Sunday, monthly on
//! the 1st), checks its repository after each backup, and restores a sample every week.
//!
//! Counting survives restarts: the next run is the first slot after the last one (`backup_work`),
//! or, for a task that never ran, after the start of the hour it was created in. A run missed
//! while corenasd was down runs once at the next start. A task busy with a job is not started
//! again; the slot counts as taken (one attempt per period, audited, never one per tick).
//! Must not: start work for a task that no longer exists.

use super::check::{WORK_BACKUP, WORK_CHECK, WORK_SAMPLE, record_run};
use super::jobs;
use super::run::Trigger;
use crate::daemon::Daemon;
use crate::monitor::schedule::{local_offset, next_slot};
use crate::state::sql;
use corenas_proto::backup::{BackupJobKind, TaskInfo};
use corenas_proto::monitor::Cadence;
use rusqlite::params;
use std::sync::Arc;
use time::{OffsetDateTime, UtcOffset};

/// What `backup_work` remembers of one kind of work of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub last_run: Option<i64>,
}

fn work(d: &Daemon, task: &str, kind: &str) -> Work {
    let last = d.with_state(|s| {
        s.conn()
            .query_row("SELECT last_run FROM backup_work WHERE task = ?1 AND work = ?2", params![task, kind], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
            .map_err(sql("reading a backup schedule"))
    });
    Work { last_run: last.ok().flatten() }
}

/// When counting starts for a task that never ran: the start of the hour it was created in.
fn since(info: &TaskInfo) -> i64 {
    let t = crate::monitor::collectors::jobs::epoch(&info.created_at).unwrap_or(0);
    t - t.rem_euclid(3600)
}

/// The task's next backup (None: `off`).
pub fn next_backup(
    info: &TaskInfo,
    last_run: Option<i64>,
    offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset,
) -> Option<i64> {
    let from = last_run.map_or(since(info), |l| l.saturating_add(1).max(since(info)));
    next_slot(info.spec.every, info.spec.hour, from, offset_at)
}

/// The task's next sample restore: weekly (Sunday at its hour), for a task that backs up by
/// itself and restores at least one file.
pub fn next_sample(
    info: &TaskInfo,
    last_run: Option<i64>,
    offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset,
) -> Option<i64> {
    if info.spec.every == Cadence::Off || info.spec.sample_files == 0 {
        return None;
    }
    let from = last_run.map_or(since(info), |l| l.saturating_add(1).max(since(info)));
    next_slot(Cadence::Weekly, info.spec.hour, from, offset_at)
}

/// `TaskInfo::next_run` for the tasks' listing.
pub fn next_run(d: &Daemon, info: &TaskInfo) -> Option<i64> {
    next_backup(info, work(d, info.spec.name.as_str(), WORK_BACKUP).last_run, &local_offset)
}

/// Starts due work; looks every `tick`.
pub async fn run(d: Arc<Daemon>, tick: std::time::Duration) {
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = run_due(&d).await {
            tracing::warn!(error = %e.message, "backup schedules failed");
        }
    }
}

async fn run_due(d: &Arc<Daemon>) -> Result<(), corenas_proto::WireError> {
    let t = crate::monitor::now();
    let tasks = d.with_state(|s| super::store::tasks(s.conn()))?;
    for info in tasks {
        let task = info.spec.name.clone();
        let name = task.as_str();
        if d.backups.jobs.busy(name).is_some() {
            continue;
        }
        let backup = work(d, name, WORK_BACKUP);
        if next_backup(&info, backup.last_run, &local_offset).is_some_and(|n| n <= t) {
            let started = super::run::start(d, &task, false, Trigger::Schedule).await;
            finish_start(d, name, WORK_BACKUP, "backup.task.run", t, &info, started);
            continue;
        }
        // A check follows each backup that ended after the last check started.
        let last_backup = d.with_state(|s| jobs::last(s.conn(), name, BackupJobKind::Backup, false))?;
        let checked = work(d, name, WORK_CHECK).last_run;
        let backup_end = last_backup
            .as_ref()
            .and_then(|r| r.info.finished_at.as_deref())
            .and_then(crate::monitor::collectors::jobs::epoch);
        if info.spec.every != Cadence::Off && backup_end.is_some_and(|e| checked.is_none_or(|c| c < e)) {
            // The check counts its own run (its subset); the schedule only starts it.
            let started = super::check::start(d, &task, false, Trigger::Schedule).await;
            audit(d, "backup.task.check", &info, t, &started);
            continue;
        }
        let sample = work(d, name, WORK_SAMPLE);
        if next_sample(&info, sample.last_run, &local_offset).is_some_and(|n| n <= t) {
            let started = super::sample::start(d, &task, false, Trigger::Schedule).await;
            finish_start(d, name, WORK_SAMPLE, "backup.task.sample_restore", t, &info, started);
        }
    }
    Ok(())
}

type Started = Result<corenas_proto::api::Change<corenas_proto::backup::BackupJobInfo>, corenas_proto::WireError>;

/// Records the slot as taken (started or not: one attempt per period) and audits the start.
fn finish_start(d: &Daemon, task: &str, kind: &str, action: &'static str, t: i64, info: &TaskInfo, started: Started) {
    let job = started.as_ref().ok().and_then(|c| c.result.as_ref()).map(|j| j.id.to_string());
    if let Err(e) = record_run(d, task, kind, t, job.as_deref()) {
        tracing::error!(task, error = %e.message, "cannot record a scheduled backup run");
    }
    audit(d, action, info, t, &started);
}

fn audit(d: &Daemon, action: &'static str, info: &TaskInfo, _t: i64, started: &Started) {
    let job = started.as_ref().ok().and_then(|c| c.result.as_ref()).map(|j| j.id.to_string());
    let mut args =
        serde_json::json!({ "task": info.spec.name, "every": info.spec.every, "hour": info.spec.hour, "job": job });
    if let Err(e) = started {
        args["error"] = serde_json::Value::String(e.message.clone());
        tracing::warn!(task = %info.spec.name, action, error = %e.message, "scheduled backup work did not start");
    }
    let rec = crate::audit::AuditRecord {
        principal: "corenasd",
        channel: "schedule",
        peer_uid: rustix::process::getuid().as_raw(),
        action,
        args: &args,
        result: if started.is_ok() { "ok" } else { "failed" },
        error_code: started.as_ref().err().map(|e| e.code.as_str()),
    };
    if let Err(e) = d.audit(&rec) {
        tracing::error!(error = %e.message, "auditing a scheduled backup start failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn utc(_: OffsetDateTime) -> UtcOffset {
        UtcOffset::UTC
    }

    fn info(every: Cadence, hour: u8, created: &str, sample_files: u16) -> TaskInfo {
        let spec = serde_json::json!({
            "name": "docs", "source": { "pool": "tank" }, "target": "usb", "every": every, "hour": hour,
            "keep": { "last": 3 }, "excludes": [], "check_subset": 4, "sample_files": sample_files,
        });
        TaskInfo {
            spec: serde_json::from_value(spec).unwrap(),
            created_at: created.into(),
            last_backup: None,
            last_check: None,
            last_sample_restore: None,
            next_run: None,
        }
    }

    fn at(t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    #[test]
    fn a_task_runs_at_its_hour_from_its_creation_then_from_its_last_run() {
        let i = info(Cadence::Daily, 2, "2026-12-07T18:42:17Z", 5);
        assert_eq!(next_backup(&i, None, &utc), Some(at(datetime!(2026-12-08 02:00 UTC))));
        // Created during its own hour: runs in it.
        let i = info(Cadence::Daily, 18, "2026-12-07T18:42:17.5Z", 5);
        assert_eq!(next_backup(&i, None, &utc), Some(at(datetime!(2026-12-07 18:00 UTC))));
        // Ran at 18:00:05: tomorrow; down for three days: once, at the next start (a past slot).
        let ran = at(datetime!(2026-12-07 18:00:05 UTC));
        assert_eq!(next_backup(&i, Some(ran), &utc), Some(at(datetime!(2026-12-08 18:00 UTC))));
        assert_eq!(next_backup(&info(Cadence::Off, 2, "2026-12-07T18:00:00Z", 5), None, &utc), None);
    }

    #[test]
    fn the_sample_restore_is_weekly_and_only_for_scheduled_tasks_that_sample() {
        // 2026-12-07 is a Monday: the first Sunday is the 13th.
        let i = info(Cadence::Daily, 3, "2026-12-07T10:00:00Z", 5);
        assert_eq!(next_sample(&i, None, &utc), Some(at(datetime!(2026-12-13 03:00 UTC))));
        let ran = at(datetime!(2026-12-13 03:00:09 UTC));
        assert_eq!(next_sample(&i, Some(ran), &utc), Some(at(datetime!(2026-12-20 03:00 UTC))));
        assert_eq!(next_sample(&info(Cadence::Daily, 3, "2026-12-07T10:00:00Z", 0), None, &utc), None);
        assert_eq!(next_sample(&info(Cadence::Off, 3, "2026-12-07T10:00:00Z", 5), None, &utc), None);
    }
}
