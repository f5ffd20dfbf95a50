//! Backups of shares, datasets and pools into restic repositories (decision 0020).
//!
//! - `restic.rs`: corenasd's restic runner, the one place that builds a restic command line
//!   (secrets in the environment, never argv; restic 0.14's errors named).
//! - `store.rs`: the tables of targets and tasks (SQL only).
//! - `targets.rs`: where repositories are (local, SFTP, REST, S3): create (init or open), list,
//!   show (never a secret), delete (the repository stays), locks.
//! - `tasks.rs`: what is backed up where and kept how long: create/modify (after a retention
//!   preview), delete, list, show; a task's snapshots and browsing them.
//!
//! - `jobs.rs`, `follow.rs`, `run.rs`: backup jobs: the job table, following the runner's
//!   status file, a backup run from start to forget; `check.rs` the rolling check, `sample.rs`
//!   the sample restore, `schedule.rs` when each task's work runs.
//!
//! The backup itself reads its source, so the storage helper runs it (corenas-helper's
//! `ops/backup*`); corenasd runs only repository work that reads no source.

pub mod check;
pub mod follow;
pub mod jobs;
pub mod restic;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod store;
pub mod targets;
pub mod tasks;

use std::path::PathBuf;

/// Where the runners' status directories are on a production system.
pub const RUNS_DIR: &str = "/run/corenas-backup";

/// The backups' part of the daemon context.
#[derive(Debug)]
pub struct Backups {
    /// corenasd's restic (program, and `<state>/backup` for its cache, home and SSH keys).
    pub restic: restic::Restic,
    /// Target and task changes check names and overlaps, then act: one at a time.
    pub lock: tokio::sync::Mutex<()>,
    /// Backup, check and sample-restore jobs (jobs.rs).
    pub jobs: jobs::BackupJobs,
    /// Where the runners write their status files (`/run/corenas-backup/<job>/`, decision 0020
    /// "Runner"; in the lab under the helper's root).
    pub runs_dir: PathBuf,
}

impl Backups {
    /// `dir`: `<state>/backup`, owned by corenasd's user.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            restic: restic::Restic::new(dir),
            lock: tokio::sync::Mutex::new(()),
            jobs: jobs::BackupJobs::default(),
            runs_dir: PathBuf::from(RUNS_DIR),
        }
    }

    /// Where the runners' status directories are (`--backup-runs-dir`).
    pub fn with_runs_dir(mut self, dir: PathBuf) -> Self {
        self.runs_dir = dir;
        self
    }

    /// The managed system's root (`--root`; the lab's prefix): local repositories are beneath it.
    pub fn with_root(mut self, root: PathBuf) -> Self {
        self.restic.root = root;
        self
    }
}
