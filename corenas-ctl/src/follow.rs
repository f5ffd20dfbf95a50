//! Following a job until it ends: storage jobs (scrub, self-test, wipe, array sync) and imaging
//! jobs, by long polls on corenasd, with one progress line per new version.
//!
//! Shared by storage, devices, raid and imaging; knows their jobs' proto types and the storage
//! job's one-line texts, nothing of the commands that start them.

use crate::client::{Daemon, call};
use crate::error::{CtlError, EXIT_FAILED};
use crate::report::{Report, change_report, print_stdout, to_json};
use crate::text::{percent_or_dash, printable};
use corenas_proto::ErrorCode;
use corenas_proto::api::Change;
use corenas_proto::imaging::{JobInfo, JobState};
use corenas_proto::storage::StorageJob;
use std::fmt::Write as _;

/// How long one `storage_job_wait` may wait for a change before corenasd answers with the job as is.
pub(crate) const STORAGE_WAIT_MS: u32 = 5000;

/// A job was started (scrub, self-test, wipe): `about` (a line naming what it works on, or
/// nothing), the change, then with `--wait` its progress until it ends. A dry run started
/// nothing, so there is nothing to follow.
pub(crate) async fn job_started(
    d: &Daemon,
    change: Change<StorageJob>,
    wait: bool,
    json: bool,
    about: &str,
) -> Result<Report, CtlError> {
    let started = match change_report(&change, storage_job_line)? {
        Report::Answer { human, json, exit } => Report::Answer { human: format!("{about}{human}"), json, exit },
        other => other,
    };
    if !wait || change.dry_run {
        return Ok(started);
    }
    let job = change.result.ok_or_else(|| CtlError::failed(ErrorCode::Protocol, "corenasd started no job"))?;
    if let (false, Report::Answer { human, .. }) = (json, &started) {
        print_stdout(human);
    }
    let end = follow_storage_job(d, job.id, progress_printer(json, storage_progress_line)).await?;
    job_end_report(&end)
}

/// Whether a job is still at work; every other state is an end.
pub(crate) fn is_running(job: &StorageJob) -> bool {
    job.state == "running"
}

/// Follows a job until it is no longer running, calling `on_change` once per new version (the
/// first answer included). Returns the job as it was last seen.
pub(crate) async fn follow_storage_job(
    d: &Daemon,
    id: String,
    mut on_change: impl FnMut(&StorageJob),
) -> Result<StorageJob, CtlError> {
    // A job that already ended answers at once, without a long poll.
    let mut job = call!(d, storage_job_show(id.clone()))?;
    on_change(&job);
    while is_running(&job) {
        let seen = job.version;
        job = call!(d, storage_job_wait(id.clone(), seen, STORAGE_WAIT_MS))?;
        if job.version != seen || !is_running(&job) {
            on_change(&job);
        }
    }
    Ok(job)
}

/// The end of a followed job: exit 0 only when it is done.
pub(crate) fn job_end_report(job: &StorageJob) -> Result<Report, CtlError> {
    let exit = if job.state == "done" { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human: storage_job_end(job), json: to_json(job)?, exit })
}

/// One line about a job a change started (scrub, self-test, wipe) or cancelled.
pub fn storage_job_line(j: &StorageJob) -> String {
    let id = printable(&j.id);
    let mut out = format!("job {id}: {} of {}, {}\n", printable(&j.kind), printable(&j.target), printable(&j.state));
    if j.state == "running" {
        let _ = writeln!(out, "`corenas-ctl storage job wait {id}` follows it");
    }
    out
}

/// `storage job wait` and `--wait`: one line per change of the job.
pub fn storage_progress_line(j: &StorageJob) -> String {
    let mut line = format!(
        "{:>6}  {} {}  {}",
        percent_or_dash(j.percent),
        printable(&j.kind),
        printable(&j.target),
        printable(&j.state)
    );
    if let Some(m) = &j.message {
        let _ = write!(line, "  {}", printable(m));
    }
    line.push('\n');
    line
}

/// How a followed storage job ended, for people.
pub fn storage_job_end(j: &StorageJob) -> String {
    let mut out = format!(
        "job {} ({} of {}) {}\n",
        printable(&j.id),
        printable(&j.kind),
        printable(&j.target),
        printable(&j.state)
    );
    if let Some(m) = &j.message {
        let _ = writeln!(out, "message: {}", printable(m));
    }
    out
}

/// Where progress lines go while a job is followed: stdout for people; with `--json` stdout
/// carries only the final document, so the lines go to stderr, and only when someone watches it.
pub fn progress_printer<T>(json: bool, line: impl Fn(&T) -> String) -> impl FnMut(&T) {
    use std::io::{IsTerminal, Write};
    let to_stderr = json && std::io::stderr().is_terminal();
    move |job| {
        let text = line(job);
        if !json {
            print_stdout(&text);
        } else if to_stderr {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush());
        }
    }
}

/// How long one `image_wait` may wait for a change before corenasd answers with the job as is.
pub(crate) const IMAGING_WAIT_MS: u32 = 2000;

/// Long-polls the job until it ends (a terminal state) or is paused, calling `on_change` once per
/// new version, the first answer included. Returns the job as it was last seen.
pub(crate) async fn follow_imaging_job(
    d: &Daemon,
    id: String,
    mut on_change: impl FnMut(&JobInfo),
) -> Result<JobInfo, CtlError> {
    let mut seen = None;
    loop {
        let job = call!(d, image_wait(id.clone(), seen.unwrap_or(0), IMAGING_WAIT_MS))?;
        if seen != Some(job.version) {
            on_change(&job);
            seen = Some(job.version);
        }
        if job.status.is_terminal() || job.status == JobState::Paused {
            return Ok(job);
        }
    }
}
