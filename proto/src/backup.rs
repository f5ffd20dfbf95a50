//! Backups: the contract between corenasd, the storage helper and the clients. Repositories are
//! restic's format (decision 0020), so every name here is one restic accepts and every secret is
//! a redacted type that reaches restic through its environment or a credentials file, never argv.
//!
//! Caller text reaches restic only as one of these validated types.

use crate::error::ValidationError;
use crate::monitor::{Cadence, HttpUrl};
use crate::names::{DatasetName, PoolName, ShareName, shown};
use crate::secret::RemoteSecret;
use serde::{Deserialize, Serialize};

fn check_backup_name(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!("name '{}' is invalid: use 1-32 of a-z, 0-9, '_' and '-', starting with a letter", shown(s)),
        ))
    }
}
crate::names::validated_string!(
    /// The name of a backup target or a backup task (also part of unit and file names).
    BackupName,
    check_backup_name
);

/// One path component restic and a POSIX filesystem both take without quoting.
fn plain_component(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 255
        && c != "."
        && c != ".."
        && !c.starts_with('-')
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+@=,".contains(&b))
}

fn check_repo_path(s: &str) -> Result<(), ValidationError> {
    let ok = s.len() <= 512 && s.starts_with('/') && s.len() > 1 && s[1..].split('/').all(plain_component);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "path",
            format!(
                "repository path '{}' is invalid: use an absolute path of plain components (A-Z, a-z, 0-9, ._-+@=,), no '.' or '..'",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// A local repository's directory (a USB disk or a pool mounted by CoreNAS). Where it may be
    /// is policy (corenasd) and re-checked by the helper: never inside a backup's source.
    RepoPath,
    check_repo_path
);

fn check_remote_path(s: &str) -> Result<(), ValidationError> {
    let body = s.strip_prefix('/').unwrap_or(s);
    let ok = !body.is_empty() && s.len() <= 512 && body.split('/').all(plain_component);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "path",
            format!(
                "remote path '{}' is invalid: use plain components (A-Z, a-z, 0-9, ._-+@=,) separated by '/', no '.' or '..'",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// A directory on an SFTP server, or an S3 key prefix.
    RemotePath,
    check_remote_path
);

fn check_remote_user(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && (s.as_bytes()[0].is_ascii_alphanumeric() || s.as_bytes()[0] == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "user",
            format!("remote user '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '.', '_', '-'", shown(s)),
        ))
    }
}
crate::names::validated_string!(
    /// A login on an SFTP or REST server.
    RemoteUser,
    check_remote_user
);

fn check_bucket(s: &str) -> Result<(), ValidationError> {
    let ok = (3..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
        && !s.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "bucket",
            format!("bucket '{}' is invalid: use 3-63 of a-z, 0-9, '.', '-' (S3's rules)", shown(s)),
        ))
    }
}
crate::names::validated_string!(
    /// An S3 bucket.
    BucketName,
    check_bucket
);

fn check_snapshot_id(s: &str) -> Result<(), ValidationError> {
    if (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "snapshot",
            format!("snapshot id '{}' is invalid: use 8-64 lower-case hex digits (restic's id or short id)", shown(s)),
        ))
    }
}
crate::names::validated_string!(
    /// A restic snapshot's id (64 hex) or short id (8 hex).
    ResticSnapshotId,
    check_snapshot_id
);

fn check_exclude(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('-')
        && s.chars().all(|c| !c.is_control())
        && !s.split('/').any(|c| c == "..");
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "exclude",
            format!(
                "exclude pattern '{}' is invalid: use 1-255 printable characters, not starting with '-', no '..'",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// A restic exclude pattern (`--exclude`), relative to the source's root.
    ExcludePattern,
    check_exclude
);

fn check_snapshot_path(s: &str) -> Result<(), ValidationError> {
    let ok = s.len() <= 4096
        && s.starts_with('/')
        && (s == "/" || s[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
        && s.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "path",
            format!(
                "path in the snapshot '{}' is invalid: use an absolute path without '.', '..' or control characters",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// A path inside a backup snapshot, as `restic ls` shows it relative to the source's root
    /// (`/` is the whole source).
    SnapshotPath,
    check_snapshot_path
);

fn check_job_id(s: &str) -> Result<(), ValidationError> {
    let ok = s.len() == 10 && s.starts_with("bkp_") && s[4..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("job", format!("backup job id '{}' is invalid: use bkp_ and six digits", shown(s))))
    }
}
crate::names::validated_string!(
    /// A backup job: `bkp_000001`. Part of unit, snapshot and file names.
    BackupJobId,
    check_job_id
);

/// Where a repository lives. Secrets are not here (see [`TargetSecrets`]): this is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLocation {
    /// A directory on this machine (a USB disk, another pool).
    Local { path: RepoPath },
    /// OpenSSH's SFTP: corenasd keeps a key pair per target; the server's host key is pinned.
    Sftp { host: crate::monitor::HostName, port: u16, user: RemoteUser, path: RemotePath },
    /// restic's REST protocol (rest-server, `rclone serve restic`); append-only servers refuse
    /// `forget`, which CoreNAS then does not offer.
    Rest { url: HttpUrl, user: Option<RemoteUser>, append_only: bool },
    /// S3-compatible object storage.
    S3 { endpoint: HttpUrl, bucket: BucketName, prefix: Option<RemotePath>, region: Option<RemoteUser> },
}

impl TargetLocation {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::Sftp { .. } => "sftp",
            Self::Rest { .. } => "rest",
            Self::S3 { .. } => "s3",
        }
    }
}

/// A target's secrets: sent once when the target is created or changed, kept by corenasd, never
/// shown again, never in argv, logs or the audit (the types redact themselves).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSecrets {
    /// The repository's password (restic encrypts with it; always set: encryption is always on).
    pub repository_password: RemoteSecret,
    /// REST server login password.
    pub rest_password: Option<RemoteSecret>,
    /// S3 access key id and secret key.
    pub s3_access_key_id: Option<RemoteSecret>,
    pub s3_secret_access_key: Option<RemoteSecret>,
}

/// An SFTP server's host key as in known_hosts: `ssh-ed25519 AAAA…` (type and base64 only).
fn check_host_key(s: &str) -> Result<(), ValidationError> {
    let mut it = s.split(' ');
    let (Some(kind), Some(b64), None) = (it.next(), it.next(), it.next()) else {
        return Err(ValidationError::new("host_key", "host key is invalid: use '<type> <base64>' as in known_hosts"));
    };
    let kind_ok =
        ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"].contains(&kind);
    let b64_ok = (16..=2048).contains(&b64.len())
        && b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    if kind_ok && b64_ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "host_key",
            format!(
                "host key '{}' is invalid: use '<type> <base64>' with an ssh-ed25519, ecdsa or ssh-rsa key",
                shown(s)
            ),
        ))
    }
}
crate::names::validated_string!(
    /// An SFTP server's pinned host key.
    HostKey,
    check_host_key
);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: BackupName,
    pub location: TargetLocation,
    pub secrets: TargetSecrets,
    /// SFTP only: the server's host key, pinned (no trust on first use without the admin's word).
    pub host_key: Option<HostKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: BackupName,
    pub location: TargetLocation,
    pub host_key: Option<HostKey>,
    /// SFTP only: the public key to put in the server's authorized_keys.
    pub public_key: Option<String>,
    pub created_at: String,
}

/// What a task backs up. corenasd resolves it to a dataset/subvolume and a path inside it; the
/// helper re-resolves and snapshots it (a backup never reads the live tree of a ZFS or btrfs
/// source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupSource {
    Pool(PoolName),
    Dataset(DatasetName),
    Share(ShareName),
}

/// GFS retention as restic's `forget --keep-*` takes it. `last` is the specification's "keep N
/// versions". All zero keeps everything (no forget runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepPolicy {
    pub last: u16,
    pub hourly: u16,
    pub daily: u16,
    pub weekly: u16,
    pub monthly: u16,
    pub yearly: u16,
}

impl KeepPolicy {
    pub fn keeps_everything(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: BackupName,
    pub source: BackupSource,
    pub target: BackupName,
    /// When it runs by itself (`off`: only when asked).
    pub every: Cadence,
    /// Hour of the day (0-23, the server's local time).
    pub hour: u8,
    pub keep: KeepPolicy,
    pub excludes: Vec<ExcludePattern>,
    /// The rolling check reads 1/N of the repository's data per run (`--read-data-subset=k/N`), so
    /// all of it every N runs. 0: structure only.
    pub check_subset: u16,
    /// Files the sample restore restores from the latest snapshot and compares by SHA-256.
    pub sample_files: u16,
    /// Back up the live tree of a source that cannot be snapshotted (ext4, xfs): without it
    /// such a task is refused (decision 0020); each run's detail says the tree was live.
    #[serde(default)]
    pub live: bool,
}

/// The tag every snapshot of a task carries; listings, retention and restores select by it.
pub fn task_tag(task: &BackupName) -> String {
    format!("corenas-task={}", task.as_str())
}

/// `backup task modify`: each `Some` replaces that part (the source stays: a task's snapshots
/// are of one source).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskModify {
    pub target: Option<BackupName>,
    pub every: Option<Cadence>,
    pub hour: Option<u8>,
    pub keep: Option<KeepPolicy>,
    pub excludes: Option<Vec<ExcludePattern>>,
    pub check_subset: Option<u16>,
    pub sample_files: Option<u16>,
    pub live: Option<bool>,
}

/// What a task change answers: the task, and the retention preview computed before a policy
/// was saved (None when the policy keeps everything or did not change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    pub task: TaskInfo,
    pub preview: Option<RetentionPreview>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub spec: TaskSpec,
    pub created_at: String,
    pub last_backup: Option<RunSummary>,
    pub last_check: Option<RunSummary>,
    pub last_sample_restore: Option<RunSummary>,
    pub next_run: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub job: BackupJobId,
    /// Unix seconds.
    pub finished_at: i64,
    pub ok: bool,
    pub detail: String,
}

/// A snapshot in a repository, as `restic snapshots --json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub id: String,
    pub short_id: String,
    pub time: String,
    pub hostname: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
}

/// What `forget --dry-run` would do with a policy: every snapshot kept, with restic's reasons,
/// and every one removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPreview {
    pub keep: Vec<(SnapshotInfo, Vec<String>)>,
    pub remove: Vec<SnapshotInfo>,
}

/// One item of a snapshot, as `restic ls --json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// Its path in the snapshot (a [`SnapshotPath`] a restore takes).
    pub path: String,
    pub name: String,
    /// `file`, `dir`, `symlink`, ...
    pub kind: String,
    pub size: Option<u64>,
    pub mtime: String,
    pub permissions: String,
    pub uid: u32,
    pub gid: u32,
}

/// One directory of a snapshot (not recursive), capped so an answer fits one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotListing {
    pub snapshot: SnapshotInfo,
    pub entries: Vec<SnapshotEntry>,
    /// More entries than the cap: the listing stops there.
    pub truncated: bool,
}

/// A lock in a repository (`restic list locks`, `cat lock`): reported, never removed by CoreNAS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoLock {
    pub id: String,
    pub time: String,
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// Each restored item replaces the one at its place; what was there is kept beside it as
    /// `<name>.before-restore-<job>`.
    InPlace,
    /// Into a new folder `restore-<job>` at the top of the share or dataset.
    NewFolder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreSpec {
    pub task: BackupName,
    pub snapshot: ResticSnapshotId,
    /// What to restore (`/` for everything).
    pub paths: Vec<SnapshotPath>,
    pub mode: RestoreMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupJobKind {
    Backup,
    Forget,
    Check,
    SampleRestore,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupJobState {
    Queued,
    Running,
    Done,
    Failed,
}

/// Progress from restic's `--json` status lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupProgress {
    pub percent: f64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub files_done: u64,
    pub files_total: u64,
    pub rate_bps: Option<f64>,
    pub eta_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupJobInfo {
    pub id: BackupJobId,
    pub task: BackupName,
    pub kind: BackupJobKind,
    pub state: BackupJobState,
    pub progress: BackupProgress,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The snapshot a backup made, or the one a restore read.
    pub snapshot: Option<String>,
    pub detail: Option<String>,
    pub error: Option<String>,
    /// Rises with every change while the job is live (`backup_job_wait` answers when it passes
    /// the caller's); an ended job read from the store has `u64::MAX`.
    #[serde(default)]
    pub version: u64,
}

// ---- The storage helper's side (HelperOp variants carry these) ----

/// What the helper snapshots for a backup. corenasd resolves a task's source to this; the
/// helper resolves it again from the pool's own records (it trusts no path from corenasd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSource {
    Pool(PoolName),
    Dataset(DatasetName),
}

/// Everything restic needs to open one repository. Built by corenasd for each run; the helper
/// writes the secrets into a root-only credentials directory for the runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoAccess {
    pub target: BackupName,
    pub location: TargetLocation,
    pub secrets: TargetSecrets,
    pub host_key: Option<HostKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRunSpec {
    pub job: BackupJobId,
    pub task: BackupName,
    pub source: SnapshotSource,
    /// A directory inside the source (a share below its dataset), plain components only.
    pub subpath: Option<RemotePath>,
    pub excludes: Vec<ExcludePattern>,
    pub repo: RepoAccess,
    /// The task's last snapshot (restic `--parent`): the runner backs up the snapshot's
    /// contents from inside it (`backup .`), whose absolute path differs per job, so restic
    /// would not find the parent by path and would re-read every file. None: the first run.
    #[serde(default)]
    pub parent: Option<ResticSnapshotId>,
}

/// Where a restore writes: the root of a task's source (the same pool or dataset and share
/// directory a backup read), resolved again by the helper. Items are restored at their paths
/// relative to it (`/docs/a.txt` lands at `<destination>/docs/a.txt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreDestination {
    pub source: SnapshotSource,
    /// A directory inside it (a share below its dataset), plain components only.
    pub subpath: Option<RemotePath>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_refuse_what_could_become_an_option_or_escape() {
        for bad in ["", "-o", "A", "1abc", "a b", "a/b", &"a".repeat(33)] {
            assert!(bad.parse::<BackupName>().is_err(), "{bad}");
        }
        for bad in ["relative", "/", "/a/../b", "/a/./b", "/a//b", "/-o/x", "/a\nb", "/a b"] {
            assert!(bad.parse::<RepoPath>().is_err(), "{bad}");
        }
        assert!("/mnt/corenas/usb1/restic".parse::<RepoPath>().is_ok());
        for bad in ["", "..", "a/../b", "-x", "a//b"] {
            assert!(bad.parse::<RemotePath>().is_err(), "{bad}");
        }
        for bad in ["ABC", "ab", "a..b", "-ab", "ab-"] {
            assert!(bad.parse::<BucketName>().is_err(), "{bad}");
        }
        for bad in ["abc", "ABCDEF12", "1234567g", &"a".repeat(65)] {
            assert!(bad.parse::<ResticSnapshotId>().is_err(), "{bad}");
        }
        for bad in ["--exclude=x", "a/../../etc", "x\ny"] {
            assert!(bad.parse::<ExcludePattern>().is_err(), "{bad}");
        }
        for bad in ["rel", "/a/../b", "/a\n"] {
            assert!(bad.parse::<SnapshotPath>().is_err(), "{bad}");
        }
        for bad in
            ["ssh-ed25519", "ssh-dss AAAAAAAAAAAAAAAAAAAA", "ssh-ed25519 AAAA AAAA", "ssh-ed25519 AAAAAAAAAAAAAAAA\n"]
        {
            assert!(bad.parse::<HostKey>().is_err(), "{bad}");
        }
        for bad in ["bkp_1", "job_000001", "bkp_00000a"] {
            assert!(bad.parse::<BackupJobId>().is_err(), "{bad}");
        }
    }
}
