//! The collectors: each reads one part of the machine's health, through the helper's typed
//! queries or from /proc and sysfs, and hands back its part of the snapshot. They change
//! nothing; the loop in `monitor/mod.rs` decides when each runs and keeps the last good part of
//! one that fails.

pub mod audit;
pub mod backups;
pub mod datasets;
pub mod disks;
pub mod helper;
pub mod jobs;
pub mod mounts;
pub mod pools;
pub mod system;

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{
    AuditSample, BackupSample, DatasetSample, DiskSample, HealthSnapshot, HelperCount, JobSample, MountSample,
    PoolSample, SystemSample,
};
use std::sync::Arc;

/// The collectors, in the order a round runs them (cheap ones first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collector {
    System,
    Helper,
    Mounts,
    Jobs,
    Backups,
    Pools,
    Datasets,
    Audit,
    Disks,
}

impl Collector {
    pub const ALL: [Collector; 9] = [
        Self::System,
        Self::Helper,
        Self::Mounts,
        Self::Jobs,
        Self::Backups,
        Self::Pools,
        Self::Datasets,
        Self::Audit,
        Self::Disks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Helper => "helper",
            Self::Mounts => "mounts",
            Self::Jobs => "jobs",
            Self::Backups => "backups",
            Self::Pools => "pools",
            Self::Datasets => "datasets",
            Self::Audit => "audit",
            Self::Disks => "disks",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Seconds between two runs in production. SMART every 30 minutes: a disk's own standby
    /// timer is usually 10 to 60 minutes, and a poll more often than that is what keeps
    /// disks from sleeping (smartctl_exporter#61).
    pub fn default_interval(self) -> u64 {
        match self {
            Self::System | Self::Helper | Self::Mounts | Self::Jobs | Self::Backups => 60,
            Self::Pools | Self::Datasets => 300,
            Self::Audit => 3600,
            Self::Disks => 1800,
        }
    }
}

/// One collector's result: its part of the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    System(SystemSample),
    Helper(Vec<HelperCount>),
    Mounts(Vec<MountSample>),
    Jobs(Vec<JobSample>),
    Backups(Vec<BackupSample>),
    Pools(Vec<PoolSample>),
    Datasets(Vec<DatasetSample>),
    Audit(AuditSample),
    Disks(Vec<DiskSample>),
}

impl Part {
    /// Puts this part into the snapshot; whether it differs from what was there.
    pub fn apply(self, s: &mut HealthSnapshot) -> bool {
        fn set<T: PartialEq>(slot: &mut T, v: T) -> bool {
            let changed = *slot != v;
            *slot = v;
            changed
        }
        match self {
            Self::System(v) => set(&mut s.system, Some(v)),
            Self::Helper(v) => set(&mut s.helper, v),
            Self::Mounts(v) => set(&mut s.mounts, v),
            Self::Jobs(v) => set(&mut s.jobs, v),
            Self::Backups(v) => set(&mut s.backups, v),
            Self::Pools(v) => set(&mut s.pools, v),
            Self::Datasets(v) => set(&mut s.datasets, v),
            Self::Audit(v) => set(&mut s.audit, Some(v)),
            Self::Disks(v) => set(&mut s.disks, v),
        }
    }
}

/// A collector's part of the snapshot as JSON (the `data` column of `monitor_cache`).
pub fn part_json(c: Collector, s: &HealthSnapshot) -> Result<String, serde_json::Error> {
    match c {
        Collector::System => serde_json::to_string(&s.system),
        Collector::Helper => serde_json::to_string(&s.helper),
        Collector::Mounts => serde_json::to_string(&s.mounts),
        Collector::Jobs => serde_json::to_string(&s.jobs),
        Collector::Backups => serde_json::to_string(&s.backups),
        Collector::Pools => serde_json::to_string(&s.pools),
        Collector::Datasets => serde_json::to_string(&s.datasets),
        Collector::Audit => serde_json::to_string(&s.audit),
        Collector::Disks => serde_json::to_string(&s.disks),
    }
}

/// Puts a cached part (from `part_json`) back into the snapshot.
pub fn load_part(c: Collector, json: &str, s: &mut HealthSnapshot) -> Result<(), serde_json::Error> {
    match c {
        Collector::System => s.system = serde_json::from_str(json)?,
        Collector::Helper => s.helper = serde_json::from_str(json)?,
        Collector::Mounts => s.mounts = serde_json::from_str(json)?,
        Collector::Jobs => s.jobs = serde_json::from_str(json)?,
        Collector::Backups => s.backups = serde_json::from_str(json)?,
        Collector::Pools => s.pools = serde_json::from_str(json)?,
        Collector::Datasets => s.datasets = serde_json::from_str(json)?,
        Collector::Audit => s.audit = serde_json::from_str(json)?,
        Collector::Disks => s.disks = serde_json::from_str(json)?,
    }
    Ok(())
}

/// What a run needs to know besides the daemon.
pub struct Run<'a> {
    pub now: i64,
    /// This collector's interval (seconds).
    pub interval: u64,
    /// The snapshot before this round.
    pub previous: &'a HealthSnapshot,
    pub memory: &'a mut super::cache::Memory,
    /// The lab's loop devices stand in for disks (tests only).
    pub loops_as_disks: bool,
}

pub async fn collect(d: &Arc<Daemon>, c: Collector, run: Run<'_>) -> Result<Part, WireError> {
    Ok(match c {
        Collector::System => Part::System(system::collect(&mut run.memory.system, run.now)?),
        Collector::Helper => Part::Helper(helper::collect(d)),
        Collector::Mounts => Part::Mounts(mounts::collect(d).await?),
        Collector::Jobs => Part::Jobs(jobs::collect(d, run.now)?),
        Collector::Backups => Part::Backups(backups::collect(d)?),
        Collector::Pools => Part::Pools(pools::collect(d).await?),
        Collector::Datasets => Part::Datasets(datasets::collect(d, &run.previous.pools).await?),
        Collector::Audit => Part::Audit(audit::collect(d, run.now).await?),
        Collector::Disks => Part::Disks(disks::collect(d, run).await?),
    })
}
