//! The in-memory health cache the daemon context holds. A leaf: it names nothing that names
//! the daemon, so `daemon.rs` can hold it without pulling the collectors into an import circle.

use super::collectors::system;
use corenas_proto::monitor::HealthSnapshot;
use std::sync::{OnceLock, RwLock};

/// The in-memory face of the health cache (one per daemon).
#[derive(Default)]
pub struct Monitor {
    pub snapshot: RwLock<HealthSnapshot>,
    /// Wakes the collector loop for `monitor run`.
    pub wake: tokio::sync::Notify,
    /// The tests' interval for every collector (`--monitor-secs`), set once by `run`.
    pub(super) every_secs: OnceLock<Option<u64>>,
    /// Each collector's interval by name, from the configuration file's `[monitor]`, set once
    /// by `run`; a collector not listed keeps its `default_interval`.
    pub(super) configured: OnceLock<std::collections::HashMap<&'static str, u64>>,
    /// One round at a time (the loop and `monitor run`), with what collectors remember.
    pub(super) round: tokio::sync::Mutex<RoundState>,
}

#[derive(Default)]
pub(super) struct RoundState {
    pub memory: Memory,
    pub loaded: bool,
    /// The hour history was last folded in.
    pub folded_hour: Option<i64>,
}

/// What collectors remember between runs (in memory only).
#[derive(Debug, Default)]
pub struct Memory {
    /// The previous /proc/stat and /proc/net/dev readings, for rates.
    pub system: system::Previous,
    /// When each disk (by id) was last asked for SMART (seconds since the epoch).
    pub disk_polled: std::collections::HashMap<String, i64>,
}

impl Monitor {
    pub(super) fn every_secs(&self) -> Option<u64> {
        self.every_secs.get().copied().flatten()
    }
    pub(super) fn snapshot(&self) -> HealthSnapshot {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }
}
