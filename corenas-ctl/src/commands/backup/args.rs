//! `backup` arguments: targets (where repositories are), tasks (what is backed up where, kept
//! how long), a task's snapshots and browsing them. Every value is parsed into its proto type
//! here, so a bad one is refused (exit 2) naming its field before anything is sent. No secret
//! is ever an argument: the repository password comes from `--password-file` or a prompt, a
//! REST password and S3 keys from files or the environment (`CORENAS_REST_PASSWORD`,
//! `CORENAS_S3_ACCESS_KEY_ID`, `CORENAS_S3_SECRET_ACCESS_KEY`).
//!
//! Backup jobs (`run`, `check`, `jobs`, `restore`) add their commands to `BackupCommand` below.

use crate::values::Listed;
use clap::{ArgGroup, Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::backup::{
    BackupName, BackupSource, BucketName, ExcludePattern, HostKey, KeepPolicy, RemotePath, RemoteUser, RepoPath,
    ResticSnapshotId, SnapshotPath,
};
use corenas_proto::monitor::{Cadence, HostName, HttpUrl};
use corenas_proto::names::shown;
use std::path::PathBuf;

pub(crate) const CADENCES: &[&str] = &["off", "daily", "weekly", "monthly"];

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Where backups go: a local disk, an SFTP server, a restic REST server or S3 storage.
    #[command(subcommand)]
    Target(TargetCommand),
    /// What is backed up (a share, dataset or pool), to which target, when, kept how long.
    #[command(subcommand)]
    Task(TaskCommand),
    /// A task's snapshots in its target's repository, oldest first.
    Snapshots {
        /// The task.
        #[arg(allow_hyphen_values = true)]
        task: BackupName,
    },
    /// One directory of one of a task's snapshots (its top when no path is given).
    Ls {
        /// The task.
        #[arg(allow_hyphen_values = true)]
        task: BackupName,
        /// The snapshot's id or short id (`backup snapshots TASK`).
        #[arg(allow_hyphen_values = true)]
        snapshot: ResticSnapshotId,
        /// A directory in the snapshot, such as /docs.
        #[arg(allow_hyphen_values = true)]
        path: Option<SnapshotPath>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Add a target and open its repository there, or create one (`restic init`).
    ///
    /// Exactly one of --local, --sftp, --rest, --s3. The repository password (encryption is
    /// always on) comes from --password-file or a prompt; keep it safe: without it the backups
    /// cannot be read. An existing repository must open with it. SFTP: CoreNAS makes a key pair
    /// for the target; when the server does not know it yet, the command says which line to add
    /// to authorized_keys, and running it again then succeeds.
    Add(Box<TargetAddArgs>),
    /// List the targets (secrets are never shown).
    List,
    /// Show one target (with an SFTP target's public key).
    Show {
        /// The target.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
    },
    /// Remove a target no task uses; its repository and snapshots stay where they are.
    Remove {
        /// The target.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
    },
    /// The locks in a target's repository (a stale one is reported, never removed).
    Locks {
        /// The target.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).args(["local", "sftp", "rest", "s3"])))]
pub struct TargetAddArgs {
    /// The target's name: 1-32 of a-z 0-9 _ -, starting with a letter.
    #[arg(allow_hyphen_values = true)]
    pub name: BackupName,
    /// A directory beneath /mnt/corenas/<pool or disk>/ (a USB disk, another pool).
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub local: Option<RepoPath>,
    /// An SFTP server: USER@HOST[:PORT]:PATH (PATH relative to the login's home, or absolute).
    #[arg(long, value_name = "USER@HOST[:PORT]:PATH", allow_hyphen_values = true, requires = "host_key")]
    pub sftp: Option<SftpLocation>,
    /// SFTP: the server's host key, as known_hosts has it ('ssh-ed25519 AAAA…'); it is pinned.
    #[arg(long, value_name = "TYPE KEY", allow_hyphen_values = true, requires = "sftp")]
    pub host_key: Option<HostKey>,
    /// A restic REST server (rest-server, `rclone serve restic`): its URL without a login.
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub rest: Option<HttpUrl>,
    /// REST: log in as this user (the password from --rest-password-file or CORENAS_REST_PASSWORD).
    #[arg(long, value_name = "USER", allow_hyphen_values = true, requires = "rest")]
    pub user: Option<RemoteUser>,
    /// REST: the server refuses deletions (rest-server --append-only): no retention runs there.
    #[arg(long, requires = "rest")]
    pub append_only: bool,
    /// S3-compatible storage: the endpoint URL (keys from CORENAS_S3_ACCESS_KEY_ID and
    /// CORENAS_S3_SECRET_ACCESS_KEY, or their --…-file options).
    #[arg(long, value_name = "URL", allow_hyphen_values = true, requires = "bucket")]
    pub s3: Option<HttpUrl>,
    /// S3: the bucket.
    #[arg(long, value_name = "BUCKET", allow_hyphen_values = true, requires = "s3")]
    pub bucket: Option<BucketName>,
    /// S3: a key prefix inside the bucket.
    #[arg(long, value_name = "PREFIX", allow_hyphen_values = true, requires = "s3")]
    pub prefix: Option<RemotePath>,
    /// S3: the region, where the server wants one.
    #[arg(long, value_name = "REGION", allow_hyphen_values = true, requires = "s3")]
    pub region: Option<RemoteUser>,
    /// Read the repository password from the first line of this file (else a prompt).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// REST: read the login's password from the first line of this file.
    #[arg(long, value_name = "FILE", requires = "user")]
    pub rest_password_file: Option<PathBuf>,
    /// S3: read the access key id from the first line of this file.
    #[arg(long, value_name = "FILE", requires = "s3")]
    pub s3_access_key_id_file: Option<PathBuf>,
    /// S3: read the secret access key from the first line of this file.
    #[arg(long, value_name = "FILE", requires = "s3")]
    pub s3_secret_access_key_file: Option<PathBuf>,
}

/// `--sftp USER@HOST[:PORT]:PATH`; an IPv6 address is written in brackets: `u@[fd00::1]:22:/r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpLocation {
    pub user: RemoteUser,
    pub host: HostName,
    pub port: u16,
    pub path: RemotePath,
}

impl std::str::FromStr for SftpLocation {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ValidationError::new("sftp", format!("SFTP location '{}' is invalid: {why}", shown(s)));
        let (user, rest) = s.split_once('@').ok_or_else(|| bad("use USER@HOST[:PORT]:PATH"))?;
        let (host, after) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, a) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address needs a closing ]"))?;
            (h, a.strip_prefix(':').ok_or_else(|| bad("use USER@HOST[:PORT]:PATH"))?)
        } else {
            rest.split_once(':').ok_or_else(|| bad("use USER@HOST[:PORT]:PATH"))?
        };
        let (port, path) = match after.split_once(':') {
            Some((p, path)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let port =
                    p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| bad("the port must be 1 to 65535"))?;
                (port, path)
            }
            _ => (22, after),
        };
        Ok(Self { user: user.parse()?, host: host.parse()?, port, path: path.parse()? })
    }
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Add a task. When a retention policy is given, restic's dry run of it against the
    /// target's repository is shown (which snapshots would go, and why the others stay) and the
    /// task is saved only once that worked; with --dry-run only the preview is shown.
    Add(Box<TaskAddArgs>),
    /// Change a task: each option given replaces that part; --keep-* replace the whole policy.
    Modify(Box<TaskModifyArgs>),
    /// List the tasks with their last backup.
    List,
    /// Show one task.
    Show {
        /// The task.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
    },
    /// Remove a task; its snapshots stay in the repository.
    Remove {
        /// The task.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
    },
    /// What a retention policy would do to the task's snapshots now (nothing is saved).
    Preview {
        /// The task.
        #[arg(allow_hyphen_values = true)]
        name: BackupName,
        #[command(flatten)]
        keep: KeepArgs,
    },
}

/// GFS retention, restic's `forget --keep-*`. None given: every snapshot is kept.
#[derive(Debug, Clone, Default, Args)]
pub struct KeepArgs {
    /// Keep the last N snapshots ("keep N versions").
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u16>,
    /// Keep the last snapshot of each of the last N hours.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u16>,
    /// Keep the last snapshot of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u16>,
    /// Keep the last snapshot of each of the last N weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u16>,
    /// Keep the last snapshot of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u16>,
    /// Keep the last snapshot of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u16>,
}

impl KeepArgs {
    pub fn given(&self) -> bool {
        [self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly]
            .iter()
            .any(Option::is_some)
    }

    pub fn policy(&self) -> KeepPolicy {
        KeepPolicy {
            last: self.keep_last.unwrap_or(0),
            hourly: self.keep_hourly.unwrap_or(0),
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
        }
    }
}

#[derive(Debug, Args)]
pub struct TaskAddArgs {
    /// The task's name: 1-32 of a-z 0-9 _ -, starting with a letter.
    #[arg(allow_hyphen_values = true)]
    pub name: BackupName,
    /// What to back up: share:NAME, dataset:POOL/NAME or pool:NAME.
    #[arg(long, value_name = "KIND:NAME", allow_hyphen_values = true, value_parser = backup_source)]
    pub source: BackupSource,
    /// The target it writes to.
    #[arg(long, value_name = "TARGET", allow_hyphen_values = true)]
    pub target: BackupName,
    /// When it runs by itself: off (only when asked), daily, weekly or monthly.
    #[arg(long, value_name = "WHEN", default_value = "daily", allow_hyphen_values = true, value_parser = Listed::<Cadence>::new(CADENCES))]
    pub every: Cadence,
    /// The hour it starts at (0-23, the server's local time).
    #[arg(long, value_name = "H", default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=23))]
    pub hour: u8,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Leave out what matches (restic's --exclude, relative to the source); repeatable.
    #[arg(long, value_name = "PATTERN", allow_hyphen_values = true)]
    pub exclude: Vec<ExcludePattern>,
    /// The rolling check reads 1/N of the repository's data per run (all of it every N runs);
    /// 0 checks the structure only.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub check_subset: u16,
    /// Files the sample restore takes from the latest snapshot and compares by SHA-256.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub sample_files: u16,
    /// Accept reading the live tree of a source that cannot be snapshotted (ext4, xfs, md, LVM).
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("keeping").multiple(true).args(["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]).conflicts_with("keep_all")))]
pub struct TaskModifyArgs {
    /// The task.
    #[arg(allow_hyphen_values = true)]
    pub name: BackupName,
    /// Write to another target.
    #[arg(long, value_name = "TARGET", allow_hyphen_values = true)]
    pub target: Option<BackupName>,
    /// off, daily, weekly or monthly.
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true, value_parser = Listed::<Cadence>::new(CADENCES))]
    pub every: Option<Cadence>,
    /// The hour it starts at (0-23).
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u8).range(0..=23))]
    pub hour: Option<u8>,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Keep every snapshot (no retention).
    #[arg(long)]
    pub keep_all: bool,
    /// Replace the exclude patterns with these (repeatable).
    #[arg(long, value_name = "PATTERN", allow_hyphen_values = true, conflicts_with = "no_excludes")]
    pub exclude: Vec<ExcludePattern>,
    /// Remove every exclude pattern.
    #[arg(long)]
    pub no_excludes: bool,
    /// The rolling check's 1/N.
    #[arg(long, value_name = "N")]
    pub check_subset: Option<u16>,
    /// Files the sample restore compares.
    #[arg(long, value_name = "N")]
    pub sample_files: Option<u16>,
    /// Accept reading a live tree.
    #[arg(long, conflicts_with = "no_live")]
    pub live: bool,
    /// Require a snapshot again.
    #[arg(long)]
    pub no_live: bool,
}

/// `share:NAME`, `dataset:POOL/NAME` or `pool:NAME`.
pub(crate) fn backup_source(s: &str) -> Result<BackupSource, ValidationError> {
    let bad = || {
        ValidationError::new(
            "source",
            format!("source '{}' is invalid: use share:NAME, dataset:POOL/NAME or pool:NAME", shown(s)),
        )
    };
    let (kind, name) = s.split_once(':').ok_or_else(bad)?;
    match kind {
        "share" => Ok(BackupSource::Share(name.parse()?)),
        "dataset" => Ok(BackupSource::Dataset(name.parse()?)),
        "pool" => Ok(BackupSource::Pool(name.parse()?)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sftp_locations_take_user_host_port_and_path() {
        let l: SftpLocation = "nas@backup.example.net:2222:/srv/restic".parse().unwrap();
        assert_eq!(
            (l.user.as_str(), l.host.as_str(), l.port, l.path.as_str()),
            ("nas", "backup.example.net", 2222, "/srv/restic")
        );
        let l: SftpLocation = "nas@10.0.0.2:restic/box1".parse().unwrap();
        assert_eq!((l.port, l.path.as_str()), (22, "restic/box1"));
        let l: SftpLocation = "u@[fd00::1]:2200:/r".parse().unwrap();
        assert_eq!((l.host.as_str(), l.port), ("fd00::1", 2200));
        for (bad, field) in [
            ("backup.example.net:/srv", "sftp"),
            ("nas@host", "sftp"),
            ("nas@host:0:/r", "sftp"),
            ("nas@host:70000:/r", "sftp"),
            ("-oProxyCommand=x@host:/r", "user"),
            ("nas@-oProxyCommand=x:/r", "host"),
            ("nas@host:/r/../../etc", "path"),
            ("nas@host:-r", "path"),
            ("nas@host:/a b", "path"),
        ] {
            assert_eq!(bad.parse::<SftpLocation>().unwrap_err().field, field, "{bad}");
        }
    }

    #[test]
    fn sources_name_their_kind() {
        assert_eq!(backup_source("share:docs").unwrap(), BackupSource::Share("docs".parse().unwrap()));
        assert_eq!(backup_source("dataset:tank/media").unwrap(), BackupSource::Dataset("tank/media".parse().unwrap()));
        assert_eq!(backup_source("pool:tank").unwrap(), BackupSource::Pool("tank".parse().unwrap()));
        for bad in ["docs", "disk:/dev/sda", "share:../etc", "pool:", "dataset:tank"] {
            assert!(backup_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_offered_cadences_are_protos() {
        let mut offered: Vec<&str> = CADENCES.to_vec();
        let mut all: Vec<&str> = Cadence::ALL.iter().map(|c| c.as_str()).collect();
        offered.sort_unstable();
        all.sort_unstable();
        assert_eq!(offered, all);
    }
}
