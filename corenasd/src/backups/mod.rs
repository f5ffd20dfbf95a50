//! Backups of shares, datasets and pools into restic repositories (decision 0020).
//!
//! - `restic.rs`: corenasd's restic runner, the one place that builds a restic command line
//!   (secrets in the environment, never argv; restic 0.14's errors named).
//! - `store.rs`: the tables of targets and tasks (SQL only).
//!
//! The backup itself reads its source, so the storage helper runs it (corenas-helper's
//! `ops/backup*`); corenasd runs only repository work that reads no source.

pub mod restic;
pub mod store;

use std::path::PathBuf;

/// The backups' part of the daemon context.
#[derive(Debug)]
pub struct Backups {
    /// corenasd's restic (program, and `<state>/backup` for its cache, home and SSH keys).
    pub restic: restic::Restic,
    /// Target and task changes check names and overlaps, then act: one at a time.
    pub lock: tokio::sync::Mutex<()>,
}

impl Backups {
    /// `dir`: `<state>/backup`, owned by corenasd's user.
    pub fn new(dir: PathBuf) -> Self {
        Self { restic: restic::Restic::new(dir), lock: tokio::sync::Mutex::new(()) }
    }
}
