//! `storage` arguments: pools, datasets, snapshots, schedules, storage jobs, the wizard.

use crate::values::{Listed, ObjectId, whole_number};
use clap::{ArgGroup, Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::monitor::Cadence;
use corenas_proto::names::{DatasetName, DevicePath, PoolName, SnapshotName};
use corenas_proto::storage::{Backend, BtrfsProfile, Compression, DiskFs, ZfsLayout, ZfsProperty};
use std::path::PathBuf;

/// `--type` of `storage create` and `storage wizard`: every backend parses, so lvm and mdadm
/// get a message of their own rather than "invalid".
pub(crate) const BACKENDS: &[&str] = &["zfs", "btrfs", "single", "lvm", "mdadm"];

pub(crate) const ZFS_LAYOUTS: &[&str] = &["stripe", "mirror", "raidz1", "raidz2", "raidz3"];

pub(crate) const BTRFS_PROFILES: &[&str] = &["single", "dup", "raid0", "raid1", "raid1c3", "raid10"];

pub(crate) const CADENCES: &[&str] = &["off", "daily", "weekly", "monthly"];

pub(crate) const COMPRESSIONS: &[&str] = &["off", "on", "lz4", "gzip", "zstd", "lzjb", "zle", "lzo", "zlib"];

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Create a pool: a ZFS pool, a btrfs filesystem, or one disk with ext4 or xfs.
    ///
    /// The pool is mounted at /mnt/corenas/NAME. Defaults: ZFS stripe for one device (--layout is
    /// needed for more), ZFS chooses ashift; btrfs data single, metadata dup on one device and
    /// raid1 on more; single ext4. --template starts from a saved definition (the flags given
    /// replace its parts); --save-template writes the definition instead of creating the pool.
    Create(PoolCreateArgs),
    /// Build a pool step by step: type, devices, layout, compression, name; then the plan.
    ///
    /// Questions are read line by line from stdin, so answers can be piped in. Devices in use are
    /// listed but cannot be chosen. Nothing is created before the plan is shown and confirmed.
    Wizard(WizardArgs),
    /// List the pools with their health and space.
    List,
    /// Show one pool: members with their states and error counters, scrub, notes.
    Show {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        name: PoolName,
    },
    /// Destroy a pool and everything on it; needs --force (not with --dry-run).
    Destroy {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        name: PoolName,
        /// Really destroy.
        #[arg(long)]
        force: bool,
    },
    /// ZFS: import an exported pool found on this system's disks, and mount it.
    Import {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        name: PoolName,
    },
    /// ZFS: unmount and export a pool, so its disks can move to another system.
    Export {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        name: PoolName,
    },
    /// Start a scrub (a job that reads and checks every block), or stop one with --stop.
    Scrub {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        name: PoolName,
        /// Stop the running scrub.
        #[arg(long)]
        stop: bool,
        /// Follow the scrub job until it ends, printing its progress.
        #[arg(long, conflicts_with = "stop")]
        wait: bool,
    },
    /// Set when a pool is scrubbed; without one, every pool is scrubbed monthly at 03:00.
    ///
    /// daily; weekly: Sundays; monthly: the 1st; off: never. HOUR is the server's local time. A
    /// scrub missed while corenasd was down runs once when it is back. List: `monitor schedules`.
    ScrubSchedule {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        pool: PoolName,
        /// How often: off, daily, weekly or monthly.
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true, value_parser = Listed::<Cadence>::new(CADENCES))]
        every: Cadence,
        /// The hour it starts at (0-23, local time).
        #[arg(long, value_name = "HOUR", default_value = "3", allow_hyphen_values = true, value_parser = hour_of_day)]
        hour: u8,
    },
    /// Datasets (ZFS) and subvolumes (btrfs) inside a pool.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Snapshots of datasets, and their schedules.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Storage jobs: scrubs, wipes and SMART self-tests.
    #[command(subcommand)]
    Job(StorageJobCommand),
}

#[derive(Debug, Args)]
pub struct PoolCreateArgs {
    /// The pool name (1-32 of a-z, 0-9, '_', '-', starting with a letter); the template's when absent.
    #[arg(allow_hyphen_values = true, required_unless_present = "template")]
    pub name: Option<PoolName>,
    /// The pool type: zfs, btrfs or single (lvm and mdadm cannot be created here yet).
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "template", allow_hyphen_values = true, value_parser = Listed::<Backend>::new(BACKENDS))]
    pub kind: Option<Backend>,
    /// A device of the pool (repeatable): /dev/sdX, /dev/nvmeNnM, /dev/disk/by-id/ID, ...
    #[arg(long = "device", value_name = "DEVICE", allow_hyphen_values = true)]
    pub devices: Vec<DevicePath>,
    /// ZFS: how the devices are combined.
    #[arg(long, value_name = "LAYOUT", allow_hyphen_values = true, value_parser = Listed::<ZfsLayout>::new(ZFS_LAYOUTS))]
    pub layout: Option<ZfsLayout>,
    /// ZFS: log2 of the sector size, 9-16 (12 for 4K-sector disks).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = ashift)]
    pub ashift: Option<u8>,
    /// ZFS: a property of the pool's root dataset (repeatable), e.g. atime=off, recordsize=1M.
    #[arg(long = "property", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub properties: Vec<ZfsProperty>,
    /// btrfs: the data profile.
    #[arg(long, value_name = "PROFILE", allow_hyphen_values = true, value_parser = Listed::<BtrfsProfile>::new(BTRFS_PROFILES))]
    pub data_profile: Option<BtrfsProfile>,
    /// btrfs: the metadata profile.
    #[arg(long, value_name = "PROFILE", allow_hyphen_values = true, value_parser = Listed::<BtrfsProfile>::new(BTRFS_PROFILES))]
    pub metadata_profile: Option<BtrfsProfile>,
    /// ZFS (off, on, lz4, gzip, zstd, lzjb, zle) or btrfs (off, zstd, lzo, zlib) compression.
    #[arg(long, value_name = "ALGORITHM", allow_hyphen_values = true, value_parser = Listed::<Compression>::new(COMPRESSIONS))]
    pub compression: Option<Compression>,
    /// single: the filesystem.
    #[arg(long, value_name = "FS", allow_hyphen_values = true, value_parser = Listed::<DiskFs>::new(&["ext4", "xfs"]))]
    pub fs: Option<DiskFs>,
    /// Let the tools overwrite filesystem signatures on the devices (a device in use is refused
    /// whatever this says); with --save-template, replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Start from this template (a pool definition as JSON, as --save-template writes it).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Write the pool definition to FILE (JSON) instead of creating the pool.
    #[arg(long, value_name = "FILE")]
    pub save_template: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WizardArgs {
    /// The pool type (zfs, btrfs or single); asked for when absent.
    #[arg(long = "type", value_name = "TYPE", allow_hyphen_values = true, value_parser = Listed::<Backend>::new(BACKENDS))]
    pub kind: Option<Backend>,
    /// Write the pool definition to FILE (JSON) instead of creating the pool.
    #[arg(long, value_name = "FILE")]
    pub save_template: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "save_template")]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Create a dataset (ZFS) or subvolume (btrfs): POOL/NAME[/NAME...].
    Create {
        /// The dataset, e.g. tank/media.
        #[arg(allow_hyphen_values = true)]
        name: DatasetName,
        /// A ZFS property (repeatable), e.g. compression=zstd, quota=100G.
        #[arg(long = "property", value_name = "KEY=VALUE", allow_hyphen_values = true)]
        properties: Vec<ZfsProperty>,
    },
    /// List the datasets of a pool.
    List {
        /// The pool name.
        #[arg(allow_hyphen_values = true)]
        pool: PoolName,
    },
    /// Set ZFS properties of a dataset, e.g. compression=zstd quota=none.
    Set {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        name: DatasetName,
        /// KEY=VALUE with a key of compression, atime, quota, reservation, recordsize, readonly, acltype.
        #[arg(required = true, value_name = "KEY=VALUE", allow_hyphen_values = true)]
        properties: Vec<ZfsProperty>,
    },
    /// Destroy a dataset and its data; needs --force (not with --dry-run).
    Destroy {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        name: DatasetName,
        /// Also destroy the datasets and snapshots beneath it.
        #[arg(long)]
        recursive: bool,
        /// Really destroy.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot; named auto-YYYY-MM-DD_HH-MM (UTC) unless --name is given.
    Create {
        /// The dataset, e.g. tank/media.
        #[arg(allow_hyphen_values = true)]
        dataset: DatasetName,
        /// The snapshot's name.
        #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
        name: Option<SnapshotName>,
    },
    /// List a dataset's snapshots.
    List {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        dataset: DatasetName,
    },
    /// Destroy one snapshot.
    Destroy {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        dataset: DatasetName,
        /// The snapshot's name (the part after '@').
        #[arg(allow_hyphen_values = true)]
        name: SnapshotName,
    },
    /// Roll a dataset back to a snapshot; needs --force (ZFS destroys every later snapshot).
    Rollback {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        dataset: DatasetName,
        /// The snapshot's name.
        #[arg(allow_hyphen_values = true)]
        name: SnapshotName,
        /// Really roll back.
        #[arg(long)]
        force: bool,
    },
    /// Set how many scheduled snapshots of a dataset to keep; all four at 0 removes the schedule.
    ///
    /// A count not given is 0.
    #[command(group(ArgGroup::new("keep").required(true).multiple(true).args(["hourly", "daily", "weekly", "monthly"])))]
    Schedule {
        /// The dataset.
        #[arg(allow_hyphen_values = true)]
        dataset: DatasetName,
        /// Hourly snapshots to keep.
        #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = keep_count)]
        hourly: Option<u16>,
        /// Daily snapshots to keep.
        #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = keep_count)]
        daily: Option<u16>,
        /// Weekly snapshots to keep.
        #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = keep_count)]
        weekly: Option<u16>,
        /// Monthly snapshots to keep.
        #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = keep_count)]
        monthly: Option<u16>,
    },
    /// List the snapshot schedules.
    Schedules,
    /// Run every schedule now: take the snapshots that are due, prune by retention.
    RunSchedules,
}

#[derive(Debug, Subcommand)]
pub enum StorageJobCommand {
    /// List storage jobs, newest first.
    List,
    /// Show one job.
    Show {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Print a progress line whenever the job changes, until it ends.
    ///
    /// Exits 0 when the job is done, 1 when it failed or was cancelled.
    Wait {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Cancel a running job.
    Cancel {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
}

pub(crate) fn ashift(s: &str) -> Result<u8, ValidationError> {
    let n = whole_number(s, "ashift", "ashift", 9, 16)?;
    u8::try_from(n).map_err(|_| ValidationError::new("ashift", "ashift is out of range"))
}

pub(crate) fn hour_of_day(s: &str) -> Result<u8, ValidationError> {
    let n = whole_number(s, "hour", "hour", 0, 23)?;
    u8::try_from(n).map_err(|_| ValidationError::new("hour", "the hour is out of range"))
}

pub(crate) fn keep_count(s: &str) -> Result<u16, ValidationError> {
    let n = whole_number(s, "keep", "snapshot count", 0, 1000)?;
    u16::try_from(n).map_err(|_| ValidationError::new("keep", "the snapshot count is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap needs the spellings as a static list for its help and completions; they are written
    /// out above, so a test holds them to proto's own list (a new backend, layout or algorithm in
    /// proto fails here until the CLI offers it).
    #[test]
    fn the_offered_values_are_protos() {
        // The CLI's order is its own (its help lists the common choices first); the set is proto's.
        fn sorted(names: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
            let mut v: Vec<&str> = names.into_iter().collect();
            v.sort_unstable();
            v
        }
        fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
            sorted(all.iter().map(|v| as_str(*v)))
        }
        assert_eq!(sorted(BACKENDS.iter().copied()), names(Backend::ALL, Backend::as_str));
        assert_eq!(sorted(ZFS_LAYOUTS.iter().copied()), names(ZfsLayout::ALL, ZfsLayout::as_str));
        assert_eq!(sorted(BTRFS_PROFILES.iter().copied()), names(BtrfsProfile::ALL, BtrfsProfile::as_str));
        assert_eq!(sorted(COMPRESSIONS.iter().copied()), names(Compression::ALL, Compression::as_str));
        assert_eq!(sorted(CADENCES.iter().copied()), names(Cadence::ALL, Cadence::as_str));
    }
}
