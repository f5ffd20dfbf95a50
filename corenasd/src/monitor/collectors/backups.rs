//! Backup tasks as their jobs left them: last success, duration, bytes added, snapshots, the
//! last backup, check and sample restore with their errors, when the repository was last
//! verified, how much of its data the rolling checks read, and stale locks. Read from corenasd's
//! own tables only: collecting (and so a scrape) never runs restic.

use crate::backups::jobs::{self, JobRecord};
use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::backup::BackupJobKind;
use corenas_proto::monitor::{BackupSample, RunSample};

fn finished(r: &JobRecord) -> Option<i64> {
    r.info.finished_at.as_deref().and_then(super::jobs::epoch)
}

fn run_sample(r: Option<&JobRecord>) -> Option<RunSample> {
    let r = r?;
    Some(RunSample {
        job: r.info.id.to_string(),
        finished: finished(r)?,
        error: (!r.ok()).then(|| r.info.error.clone().unwrap_or_else(|| "failed".into())),
    })
}

pub fn collect(d: &Daemon) -> Result<Vec<BackupSample>, WireError> {
    let tasks = d.with_state(|s| crate::backups::store::tasks(s.conn()))?;
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let name = t.spec.name.as_str();
        let recent = |kind| d.with_state(|s| jobs::recent(s.conn(), name, kind, 200));
        let backups = recent(BackupJobKind::Backup)?;
        let checks = recent(BackupJobKind::Check)?;
        let samples = recent(BackupJobKind::SampleRestore)?;
        let success = backups.iter().find(|r| r.info.snapshot.is_some());
        let verified = checks.iter().chain(&samples).filter(|r| r.ok()).filter_map(finished).max();
        out.push(BackupSample {
            task: name.to_owned(),
            target: t.spec.target.to_string(),
            every: t.spec.every,
            created: super::jobs::epoch(&t.created_at).unwrap_or(0),
            last_success: success.and_then(finished),
            last_duration_seconds: success.and_then(|r| r.outcome.duration_secs),
            last_bytes_added: success.and_then(|r| r.outcome.bytes_added),
            snapshots: backups.iter().find_map(|r| r.outcome.snapshots),
            last_backup: run_sample(backups.first()),
            last_check: run_sample(checks.first()),
            last_sample_restore: run_sample(samples.first()),
            last_verified: verified,
            verify_coverage: crate::backups::jobs::coverage(&checks),
            stale_locks: checks.first().map(|c| c.outcome.stale_locks.clone()).unwrap_or_default(),
        });
    }
    Ok(out)
}
