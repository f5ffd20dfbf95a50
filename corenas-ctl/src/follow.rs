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

/// A followed job's progress, for the bar drawn on a terminal.
pub trait JobProgress {
    /// 0..=100 when known.
    fn percent(&self) -> Option<f64>;
}

impl JobProgress for StorageJob {
    fn percent(&self) -> Option<f64> {
        self.percent
    }
}

impl JobProgress for JobInfo {
    fn percent(&self) -> Option<f64> {
        Some(self.progress.percent)
    }
}

/// Where progress goes while a job is followed. On a terminal: one line with a bar, redrawn in
/// place (stdout for people; stderr with `--json`, whose stdout carries only the final document).
/// Piped or redirected: one plain line per change on stdout for people (what scripts and logs
/// read: no carriage returns, no escape codes), nothing with `--json`.
pub fn progress_printer<T: JobProgress>(json: bool, line: impl Fn(&T) -> String) -> impl FnMut(&T) {
    use std::io::IsTerminal;
    let terminal = if json { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let live = terminal.then(|| LiveLine::new(json));
    move |job| {
        let text = line(job);
        match &live {
            Some(live) => live.show(job.percent(), &text),
            None if !json => print_stdout(&text),
            None => {}
        }
    }
}

/// The in-place progress line; finished (left on screen as last drawn) when the follow ends.
struct LiveLine(indicatif::ProgressBar);

impl LiveLine {
    /// Permille, so a bar moves on tenths of a percent.
    const LENGTH: u64 = 1000;

    fn new(to_stderr: bool) -> Self {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let target = if to_stderr { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
        let bar = ProgressBar::with_draw_target(Some(Self::LENGTH), target);
        // A template that does not parse would be our bug; the default style still shows progress.
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:24}] {wide_msg}")
            .map_or_else(|_| ProgressStyle::default_bar(), |s| s.progress_chars("=> "));
        bar.set_style(style);
        // The spinner and the clock move between corenasd's answers, which come on change only.
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Self(bar)
    }

    fn show(&self, percent: Option<f64>, text: &str) {
        if let Some(p) = percent {
            // 0..=100 -> 0..=1000; the float is clamped first, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            self.0.set_position((p.clamp(0.0, 100.0) * 10.0).round() as u64);
        }
        self.0.set_message(text.trim_end().to_owned());
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        // abandon, not finish: finish would fill the bar, also for a job that failed.
        self.0.abandon();
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
