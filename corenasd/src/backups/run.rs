//! A backup job: resolve the task, have the storage helper start the least-privilege runner
//! (`BackupRun`), follow its status file until restic's summary (done, with the snapshot id) or
//! until the runner is gone without one (failed, with what restic said), then always have the
//! helper finish the job (`BackupFinish`: the source snapshot and the credentials go). On success
//! and with a keep policy, on a target that is not append-only, `forget --prune` by corenasd as
//! the job's last step. Every step is a line of the job's detail.
//!
//! After a restart of corenasd a running backup is followed again if its runner still runs (it
//! outlives corenasd), or finished from what its status file says.
//! Must not: read the source, or name a snapshot to destroy (the helper derives it from the job).

use super::follow::{self, Followed, Tail};
use super::jobs::{self, JobRecord};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::backup::{
    BackupJobId, BackupJobInfo, BackupJobKind, BackupJobState, BackupName, BackupRunSpec, RepoAccess, ResticSnapshotId,
    SnapshotSource, TargetLocation,
};
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the status file is read.
const POLL: Duration = Duration::from_millis(500);
/// How often the helper is asked whether the runner still runs.
const RUNNER_EVERY: u32 = 6;
/// How long `BackupFinish` is retried while the runner is ending (it refuses while it runs).
const FINISH_TRIES: u32 = 30;
/// forget --prune rewrites packs: as long as a check may take.
pub(super) const FORGET_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// Bytes of the runner's stderr read for an error.
const STDERR_TAIL: u64 = 8 * 1024;

/// Who started a job: a person (ctl, web) or corenasd's schedule (audited apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Request,
    Schedule,
}

/// Everything a run needs, resolved from the task and its target.
pub struct Plan {
    pub task: corenas_proto::backup::TaskSpec,
    pub repo: RepoAccess,
    pub source: SnapshotSource,
    pub subpath: Option<corenas_proto::backup::RemotePath>,
    pub append_only: bool,
}

/// The task, its target and its source as the helper takes them.
pub async fn plan(d: &Arc<Daemon>, task: &BackupName) -> Result<Plan, WireError> {
    let info = d.with_state(|s| super::store::task(s.conn(), task.as_str()))?.ok_or_else(|| no_task(task))?;
    let target = d.with_state(|s| super::store::target(s.conn(), info.spec.target.as_str()))?.ok_or_else(|| {
        WireError::not_found(format!("task {task} writes to target {}, which no longer exists", info.spec.target))
    })?;
    let resolved = super::tasks::resolve(d, &info.spec.source).await?;
    let (source, subpath) = (resolved.source, resolved.subpath);
    let append_only = matches!(target.location, TargetLocation::Rest { append_only: true, .. });
    let repo = RepoAccess {
        target: target.name.clone(),
        location: target.location,
        secrets: target.secrets,
        host_key: target.host_key,
    };
    Ok(Plan { task: info.spec, repo, source, subpath, append_only })
}

pub fn no_task(task: &BackupName) -> WireError {
    let mut e = WireError::not_found(format!("no backup task '{task}': see `corenas-ctl backup task list`"));
    e.field = Some("task".into());
    e
}

/// Where the runner of `job` writes (`/run/corenas-backup/<job>`), as corenasd reads it.
pub fn job_dir(d: &Daemon, job: &BackupJobId) -> PathBuf {
    d.backups.runs_dir.join(job.as_str())
}

fn run_spec(plan: &Plan, job: &BackupJobId, parent: Option<ResticSnapshotId>) -> BackupRunSpec {
    BackupRunSpec {
        job: job.clone(),
        task: plan.task.name.clone(),
        source: plan.source.clone(),
        subpath: plan.subpath.clone(),
        excludes: plan.task.excludes.clone(),
        repo: plan.repo.clone(),
        parent,
    }
}

/// The task's newest snapshot, the next run's parent (so unchanged files are not read again).
fn parent_of(d: &Daemon, task: &BackupName) -> Option<ResticSnapshotId> {
    let newest = d
        .with_state(|s| jobs::list(s.conn(), Some(task.as_str()), 50))
        .ok()?
        .into_iter()
        .find(|r| r.info.kind == BackupJobKind::Backup && r.info.snapshot.is_some());
    newest.and_then(|r| r.info.snapshot).and_then(|s| s.parse().ok())
}

/// `backup run TASK`: a dry run shows the helper's plan (and the forget that would follow); a
/// real one queues the job and answers with it at once.
pub async fn start(
    d: &Arc<Daemon>,
    task: &BackupName,
    dry_run: bool,
    trigger: Trigger,
) -> Result<Change<BackupJobInfo>, WireError> {
    let plan = plan(d, task).await?;
    if dry_run {
        // The helper plans with a job id; the next one is as good as any (nothing is kept).
        let job: BackupJobId = "bkp_000000".parse().map_err(|_| WireError::internal("job id"))?;
        let op = HelperOp::BackupRun(run_spec(&plan, &job, parent_of(d, task)));
        let h = d.helper.storage().await?;
        let (mut steps, warnings) = h.run_ops_reporting(vec![op], true).await?;
        if let Some(forget) = forget_step(&plan) {
            steps.push(forget);
        }
        return Ok(Change { dry_run: true, steps, result: None, generated_password: None, warnings });
    }
    if let Some(busy) = d.backups.jobs.busy(task.as_str()) {
        return Err(WireError::new(
            ErrorCode::Busy,
            format!("task {task} is busy: job {} is {}", busy.info.id, jobs::state_str(busy.info.state)),
        ));
    }
    let rec =
        d.with_state(|s| Ok(d.backups.jobs.create(s.conn(), task, &plan.repo.target, BackupJobKind::Backup)))??;
    let info = rec.info.clone();
    let d2 = Arc::clone(d);
    let _ = trigger;
    d.in_flight.spawn(async move { run_job(d2, rec, plan).await });
    Ok(Change { dry_run: false, steps: vec![], result: Some(info), generated_password: None, warnings: vec![] })
}

fn forget_step(plan: &Plan) -> Option<corenas_proto::helper::Step> {
    if plan.task.keep.keeps_everything() {
        return None;
    }
    let what = if plan.append_only {
        "no forget: target is append-only (its snapshots are kept by the server's rules)".to_owned()
    } else {
        let tag = corenas_proto::backup::task_tag(&plan.task.name);
        let keep = super::restic::forget_selection(&tag, &plan.task.keep).join(" ");
        format!("after a successful backup, corenasd runs restic forget --prune {keep}")
    };
    Some(corenas_proto::helper::Step::Check { what })
}

/// Stores a job's record (a failure to store is logged: the job's end must not be lost
/// silently, and must not stop the job either).
pub(super) fn store(d: &Daemon, r: &JobRecord) {
    if let Err(e) = d.with_state(|s| jobs::save(s.conn(), r)) {
        tracing::error!(job = %r.info.id, error = %e.message, "could not store a backup job");
    }
}

fn add_detail(r: &mut JobRecord, line: &str) {
    let d = r.info.detail.get_or_insert_with(String::new);
    if !d.is_empty() {
        d.push('\n');
    }
    d.push_str(line);
}

/// Ends a job: stored, recorded on its task, the monitor told.
pub(super) fn end(d: &Daemon, id: &str, f: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
    let r = d.backups.jobs.end(id, f)?;
    store(d, &r);
    record_on_task(d, &r);
    d.monitor.wake.notify_one();
    Some(r)
}

fn record_on_task(d: &Daemon, r: &JobRecord) {
    let which = match r.info.kind {
        BackupJobKind::Backup => super::store::LastRun::Backup,
        BackupJobKind::Check => super::store::LastRun::Check,
        BackupJobKind::SampleRestore => super::store::LastRun::SampleRestore,
        BackupJobKind::Forget | BackupJobKind::Restore => return,
    };
    let summary = corenas_proto::backup::RunSummary {
        job: r.info.id.clone(),
        finished_at: r.info.finished_at.as_deref().and_then(crate::monitor::collectors::jobs::epoch).unwrap_or(0),
        ok: r.ok(),
        detail: r.info.error.clone().or_else(|| r.info.detail.clone()).unwrap_or_default(),
    };
    if let Err(e) = d.with_state(|s| super::store::set_last_run(s.conn(), r.info.task.as_str(), which, &summary)) {
        tracing::error!(job = %r.info.id, error = %e.message, "could not record the run on its task");
    }
}

/// Waits for the target's repository (state queued), then runs (state running).
pub(super) async fn take_repo(d: &Daemon, r: &JobRecord) -> Result<tokio::sync::OwnedMutexGuard<()>, WireError> {
    let lock = d.backups.jobs.repo_lock(&r.target)?;
    let guard = lock.lock_owned().await;
    if let Some(r) = d.backups.jobs.update(r.info.id.as_str(), |r| r.info.state = BackupJobState::Running) {
        store(d, &r);
    }
    Ok(guard)
}

async fn run_job(d: Arc<Daemon>, rec: JobRecord, plan: Plan) {
    let id = rec.info.id.clone();
    let _repo = match take_repo(&d, &rec).await {
        Ok(g) => g,
        Err(e) => {
            end(&d, id.as_str(), |r| fail(r, &e.message));
            return;
        }
    };
    let spec = run_spec(&plan, &id, parent_of(&d, &plan.task.name));
    let started = match d.helper.storage().await {
        Ok(h) => h.perform(HelperOp::BackupRun(spec), false).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        // The helper may have taken a snapshot before it failed: finish cleans it up.
        let finished = finish(&d, &id, &plan.source).await;
        end(&d, id.as_str(), |r| {
            fail(r, &format!("the backup runner did not start: {}", e.message));
            add_detail(r, &finished);
        });
        return;
    }
    d.backups.jobs.update(id.as_str(), |r| add_detail(r, "runner started"));
    let source = plan.source.clone();
    follow_and_finish(d, id, source, Some(plan)).await;
}

fn fail(r: &mut JobRecord, why: &str) {
    r.info.state = BackupJobState::Failed;
    r.info.error = Some(follow::clean(why, 1000));
}

/// Whether the runner still runs, from the helper's `BackupRunner` answer: systemd's unit
/// blocks, or the helper's own record (`running pid=N`, `exited status=N`, `gone`). None: the
/// helper cannot be asked now (it keeps being asked).
async fn runner_running(d: &Daemon, job: &BackupJobId) -> Option<bool> {
    let out = match d.helper.storage().await {
        Ok(h) => h.storage_query(StorageQuery::BackupRunner { job: job.clone() }).await,
        Err(e) => Err(e),
    };
    match out {
        Ok(o) => Some(runner_state(&o.stdout)),
        Err(e) => {
            tracing::warn!(job = %job, error = %e.message, "cannot read the backup runner's state");
            None
        }
    }
}

/// true while the runner runs.
pub fn runner_state(stdout: &str) -> bool {
    let t = stdout.trim();
    if t.starts_with("running") {
        return true;
    }
    if t.is_empty() || t.starts_with("exited") || t.starts_with("gone") {
        return false;
    }
    crate::storage::transient::parse_newest(t).is_some_and(|u| u.is_running())
}

/// Follows the runner's status file to its end, then finishes the job (also after a restart,
/// with `plan` None: the forget then waits for the next run).
pub(super) async fn follow_and_finish(d: Arc<Daemon>, id: BackupJobId, source: SnapshotSource, plan: Option<Plan>) {
    let dir = job_dir(&d, &id);
    let status = dir.join("status.jsonl");
    let mut tail = Tail::default();
    let mut seen = Followed::default();
    let mut polls = 0u32;
    loop {
        read_lines(&mut tail, &status, &mut seen);
        d.backups.jobs.update(id.as_str(), |r| r.info.progress = seen.progress.clone());
        if polls % RUNNER_EVERY == 0 && runner_running(&d, &id).await == Some(false) {
            // Gone: what it wrote last is all there is.
            read_lines(&mut tail, &status, &mut seen);
            break;
        }
        polls += 1;
        tokio::time::sleep(POLL).await;
    }
    // While the source snapshot exists: the sample restore's digests (only after a summary).
    let sample = match (&seen.summary, &plan) {
        (Some(s), Some(plan)) => Some(super::sample::hash_sample(&d, plan, &id, &s.snapshot_id).await),
        _ => None,
    };
    let finished = finish(&d, &id, &source).await;
    let stderr = follow::tail_of(&dir.join("stderr.log"), STDERR_TAIL);
    for l in stderr.lines() {
        if let follow::Message::Error(_) = follow::parse_line(l) {
            seen.take(follow::parse_line(l));
        }
    }
    let Some(summary) = seen.summary.clone() else {
        let why = follow::explain_failure(&stderr);
        end(&d, id.as_str(), |r| {
            r.info.progress = seen.progress.clone();
            fail(r, &format!("the backup ended without a snapshot: {why}"));
            add_detail(r, &finished);
        });
        return;
    };
    let snapshot = summary.snapshot_id.clone();
    let line = format!(
        "backup: snapshot {} ({} new, {} changed, {} unmodified files; {} bytes added) in {:.1} s",
        follow::clean(&snapshot, 64),
        summary.files_new,
        summary.files_changed,
        summary.files_unmodified,
        summary.data_added,
        summary.total_duration
    );
    d.backups.jobs.update(id.as_str(), |r| {
        r.info.progress = seen.progress.clone();
        r.info.snapshot = Some(follow::clean(&snapshot, 64));
        r.outcome.bytes_added = Some(summary.data_added);
        r.outcome.duration_secs = Some(summary.total_duration);
        r.outcome.unreadable = (seen.item_errors > 0).then_some(seen.item_errors);
        add_detail(r, &line);
        if let Some(u) = seen.unreadable() {
            add_detail(r, &format!("warning: {u}"));
        }
        match sample {
            Some(Ok(files)) if !files.is_empty() => {
                add_detail(r, &format!("sample: {} files hashed in the source snapshot", files.len()));
                r.outcome.sample = files;
            }
            Some(Err(e)) => add_detail(r, &format!("warning: no sample for the restore test: {}", e.message)),
            _ => {}
        }
        add_detail(r, &finished);
    });
    let mut error = None;
    if let Some(plan) = plan {
        match forget(&d, &plan).await {
            Ok(Some(text)) => {
                d.backups.jobs.update(id.as_str(), |r| add_detail(r, &text));
            }
            Ok(None) => {}
            Err(e) => {
                error = Some(format!("the backup succeeded, but retention (forget --prune) failed: {}", e.message))
            }
        }
        match d.backups.restic.snapshots(&plan.repo, Some(&corenas_proto::backup::task_tag(&plan.task.name))).await {
            Ok(s) => {
                d.backups.jobs.update(id.as_str(), |r| r.outcome.snapshots = Some(s.len() as u64));
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "cannot count the task's snapshots"),
        }
    }
    end(&d, id.as_str(), |r| match error {
        Some(e) => fail(r, &e),
        None => r.info.state = BackupJobState::Done,
    });
}

fn read_lines(tail: &mut Tail, status: &std::path::Path, seen: &mut Followed) {
    match tail.read_new(status) {
        Ok(lines) => {
            for l in lines {
                seen.take(follow::parse_line(&l));
            }
        }
        Err(e) => tracing::warn!(file = %status.display(), error = %e, "cannot read a backup runner's status"),
    }
}

/// `BackupFinish`, retried while the runner is still ending; the detail line it leaves.
async fn finish(d: &Daemon, job: &BackupJobId, source: &SnapshotSource) -> String {
    let mut last = String::new();
    for _ in 0..FINISH_TRIES {
        let r = match d.helper.storage().await {
            Ok(h) => h.perform(HelperOp::BackupFinish { job: job.clone(), source: source.clone() }, false).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(_) => return "finish: the source snapshot and the credentials are removed".to_owned(),
            Err(e) if e.code == ErrorCode::Busy => last = e.message,
            Err(e) => {
                tracing::error!(job = %job, error = %e.message, "finishing a backup job failed");
                return format!("finish failed: {} (the helper removes the snapshot at the next finish)", e.message);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    format!("finish failed: the runner did not end ({last})")
}

/// The retention step: `forget --prune` with the task's policy, on a target that allows it.
async fn forget(d: &Daemon, plan: &Plan) -> Result<Option<String>, WireError> {
    if plan.task.keep.keeps_everything() {
        return Ok(None);
    }
    if plan.append_only {
        return Ok(Some("forget: skipped, the target is append-only".to_owned()));
    }
    let tag = corenas_proto::backup::task_tag(&plan.task.name);
    let mut args: Vec<String> = ["--json", "forget", "--prune"].iter().map(|s| (*s).to_owned()).collect();
    args.extend(super::restic::forget_selection(&tag, &plan.task.keep));
    let ran = d.backups.restic.run(&plan.repo, "forget --prune", &args, FORGET_TIMEOUT, None).await?;
    // stdout's first line is forget's JSON; prune reports on stderr.
    let first = ran.stdout.lines().next().unwrap_or("[]");
    let p = super::restic::parse_forget(first).map_err(|e| {
        WireError::new(ErrorCode::ToolFailed, format!("restic forget answered what CoreNAS cannot read: {e}"))
    })?;
    Ok(Some(format!("forget --prune: {} snapshots kept, {} removed", p.keep.len(), p.remove.len())))
}

/// At start-up: jobs the last corenasd left unfinished. A backup whose runner still runs is
/// followed again; one whose runner ended is finished from its status file; everything else
/// (queued, or corenasd's own restic, which ended with it) failed.
pub async fn recover(d: Arc<Daemon>) {
    let left = match d.with_state(|s| jobs::unfinished(s.conn())) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e.message, "cannot read unfinished backup jobs");
            return;
        }
    };
    for rec in left {
        let id = rec.info.id.clone();
        let running_backup = rec.info.kind == BackupJobKind::Backup && rec.info.state == BackupJobState::Running;
        d.backups.jobs.adopt(rec.clone());
        if !running_backup {
            let why = match rec.info.state {
                BackupJobState::Queued => "corenasd stopped before the job ran",
                _ => "interrupted: corenasd stopped while the job ran",
            };
            end(&d, id.as_str(), |r| fail(r, why));
            continue;
        }
        // The source: from the task as it is now (a task's source never changes).
        let source = match d.with_state(|s| super::store::task(s.conn(), rec.info.task.as_str())) {
            Ok(Some(t)) => super::tasks::resolve(&d, &t.spec.source).await.map(|r| r.source),
            Ok(None) => Err(no_task(&rec.info.task)),
            Err(e) => Err(e),
        };
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                end(&d, id.as_str(), |r| fail(r, &format!("cannot follow the job after a restart: {}", e.message)));
                continue;
            }
        };
        let plan = plan(&d, &rec.info.task).await.ok();
        tracing::info!(job = %id, "following a backup job again after a restart");
        d.backups.jobs.update(id.as_str(), |r| add_detail(r, "corenasd restarted: following the runner again"));
        let d2 = Arc::clone(&d);
        d.in_flight.spawn(async move {
            let _repo = match d2.backups.jobs.repo_lock(&rec.target) {
                Ok(l) => Some(l.lock_owned().await),
                Err(_) => None,
            };
            follow_and_finish(d2, id, source, plan).await;
        });
    }
}

/// A job as the API shows it: live, else stored.
pub fn show(d: &Daemon, id: &BackupJobId) -> Result<BackupJobInfo, WireError> {
    if let Some(r) = d.backups.jobs.get(id.as_str()) {
        return Ok(r.info);
    }
    let r = d
        .with_state(|s| jobs::get(s.conn(), id.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("no backup job {id}")))?;
    Ok(r.info)
}

/// `backup_job_wait`: answers when the job's version passes `after`, it ends, or after
/// `wait_ms` (at most 30 s) with the job as it is.
pub async fn wait(d: &Daemon, id: &BackupJobId, after: u64, wait_ms: u32) -> Result<BackupJobInfo, WireError> {
    let wait = Duration::from_millis(u64::from(wait_ms.min(30_000)));
    match d.backups.jobs.wait(id.as_str(), after, wait).await {
        Some(r) => Ok(r.info),
        None => show(d, id),
    }
}

/// `backup_job_list`: newest first, live progress over the stored rows.
pub fn list(d: &Daemon, task: Option<&BackupName>, limit: u32) -> Result<Vec<BackupJobInfo>, WireError> {
    let stored = d.with_state(|s| jobs::list(s.conn(), task.map(BackupName::as_str), limit.clamp(1, 500)))?;
    Ok(stored.into_iter().map(|r| d.backups.jobs.get(r.info.id.as_str()).unwrap_or(r).info).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_state_is_read_from_systemd_or_the_helpers_record() {
        assert!(runner_state("running pid=4242\n"));
        assert!(!runner_state("exited status=1\n"));
        assert!(!runner_state("gone\n"));
        assert!(!runner_state(""));
        let active = "Id=corenas-backup-docs-bkp_000001.service\nLoadState=loaded\nActiveState=active\n\
            SubState=running\nResult=success\nExecMainCode=0\nExecMainStatus=0\nExecMainStartTimestampMonotonic=5\n";
        assert!(runner_state(active));
        assert!(!runner_state(&active.replace("ActiveState=active", "ActiveState=failed")));
        assert!(!runner_state(&active.replace("ActiveState=active", "ActiveState=inactive")));
    }
}
