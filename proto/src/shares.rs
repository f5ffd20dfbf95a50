//! Shares (SMB, NFS or both on one path) and the access templates applied when a share is made.
//! Every field is typed: the helper renders smb.conf and exports from these values only, so no
//! caller text can become a line, a section or a samba macro.

use crate::names::{GroupName, NfsClient, ShareName, StoragePath, UserName};
use serde::{Deserialize, Serialize};

/// A file mode for new files or directories (`create mask`, `directory mask`): 0..=0o777.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct FileMode(u32);

impl FileMode {
    pub const fn new_unchecked(m: u32) -> Self {
        Self(m & 0o777)
    }
    pub fn get(self) -> u32 {
        self.0
    }
}
impl TryFrom<u32> for FileMode {
    type Error = crate::ValidationError;
    fn try_from(m: u32) -> Result<Self, Self::Error> {
        if m <= 0o777 {
            Ok(Self(m))
        } else {
            Err(crate::ValidationError::new("mode", format!("mode {m:o} is invalid: use 000 to 777 (octal)")))
        }
    }
}
impl From<FileMode> for u32 {
    fn from(m: FileMode) -> u32 {
        m.0
    }
}
impl std::str::FromStr for FileMode {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            crate::ValidationError::new(
                "mode",
                format!("mode '{}' is invalid: use 3 or 4 octal digits like 0664", crate::names::shown(s)),
            )
        };
        if !(3..=4).contains(&s.len()) || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(bad());
        }
        u32::from_str_radix(s, 8).map_err(|_| bad())?.try_into()
    }
}
impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Where "previous versions" come from: the snapshot layout of the filesystem under the share.
/// CoreNAS names its snapshots `auto-YYYY-MM-DD_HH-MM` (UTC); see docs/decisions/0010.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotLayout {
    /// ZFS: `<dataset mountpoint>/.zfs/snapshot/<name>`.
    Zfs,
    /// btrfs: snapshots of the subvolume in `<subvolume>/.snapshots/<name>`.
    Btrfs,
}

impl SnapshotLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zfs => "zfs",
            Self::Btrfs => "btrfs",
        }
    }
}

impl std::str::FromStr for SnapshotLayout {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zfs" => Ok(Self::Zfs),
            "btrfs" => Ok(Self::Btrfs),
            _ => Err(crate::ValidationError::new("previous_versions", "use zfs or btrfs")),
        }
    }
}

/// The SMB side of a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmbOptions {
    pub read_only: bool,
    pub browseable: bool,
    /// Users and groups allowed to connect; both empty means every authenticated user.
    pub valid_users: Vec<UserName>,
    pub valid_groups: Vec<GroupName>,
    /// Users who act as root on this share (samba's `admin users`).
    pub admin_users: Vec<UserName>,
    /// Anonymous access. Off unless asked; warned and audited when on.
    pub guest_ok: bool,
    /// Deleted files go to `.recycle/<user>/` in the share (vfs_recycle).
    pub recycle: bool,
    /// Previous versions from snapshots (vfs_shadow_copy2).
    pub previous_versions: Option<SnapshotLayout>,
    /// Log every change through syslog (vfs_full_audit).
    pub audit: bool,
    pub hide_dot_files: bool,
    pub create_mask: FileMode,
    pub directory_mask: FileMode,
}

impl Default for SmbOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            browseable: true,
            valid_users: Vec::new(),
            valid_groups: Vec::new(),
            admin_users: Vec::new(),
            guest_ok: false,
            recycle: false,
            previous_versions: None,
            audit: false,
            hide_dot_files: true,
            create_mask: FileMode(0o664),
            directory_mask: FileMode(0o775),
        }
    }
}

/// One NFS client rule of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfsRule {
    pub client: NfsClient,
    pub read_only: bool,
    /// `no_root_squash`: root on the client is root on the share. Off unless asked; warned.
    pub no_root_squash: bool,
}

/// The NFS side of a share: `sec=sys`, `no_subtree_check`, `root_squash` unless a rule says not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfsOptions {
    pub rules: Vec<NfsRule>,
}

/// A share as CoreNAS serves it; the helper renders only these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareDef {
    pub name: ShareName,
    pub path: StoragePath,
    pub smb: Option<SmbOptions>,
    pub nfs: Option<NfsOptions>,
}

/// Everything the helper renders in one go: the SMB include file and the exports file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSet {
    pub shares: Vec<ShareDef>,
    /// The `[homes]` section for share users' home directories.
    pub homes: bool,
}

/// How a share's directory is owned and who gets which rights (applied as owner, mode and
/// POSIX ACLs, the same for SMB and NFS since both go through the filesystem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessTemplate {
    /// Only this user (owner, mode 0700, default ACL for new files).
    Private { user: UserName },
    /// This group reads and writes (root-owned, group set, setgid, mode 2770, default ACLs).
    GroupReadWrite { group: GroupName },
    /// Everybody reads; the group (if any) writes (mode 2775).
    PublicRead { writers: Option<GroupName> },
}

impl AccessTemplate {
    pub fn describe(&self) -> String {
        match self {
            Self::Private { user } => format!("private to user {user}"),
            Self::GroupReadWrite { group } => format!("read-write for group {group}"),
            Self::PublicRead { writers: Some(g) } => format!("readable by everyone, writable by group {g}"),
            Self::PublicRead { writers: None } => "readable by everyone".to_owned(),
        }
    }
}

/// `share create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareCreate {
    pub name: ShareName,
    /// Defaults to `/storage/<name>`; created if missing.
    pub path: Option<StoragePath>,
    pub smb: Option<SmbOptions>,
    pub nfs: Option<NfsOptions>,
    pub access: Option<AccessTemplate>,
    /// Needed for a guest share that is writable (anyone could fill or wipe it).
    pub force: bool,
}

/// `share mod`: each `Some` replaces that part; `smb`/`nfs` `Some(None)` turns a protocol off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareModify {
    pub smb: Option<Option<SmbOptions>>,
    pub nfs: Option<Option<NfsOptions>>,
    pub access: Option<AccessTemplate>,
    pub force: bool,
}

/// What `share list/show` return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareInfo {
    pub def: ShareDef,
    pub access: Option<AccessTemplate>,
    pub created: String,
    pub modified: String,
}

/// What is live: the rendered files and what the NFS server exports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareConfig {
    pub smb_file: String,
    pub smb_text: String,
    pub nfs_file: String,
    pub nfs_text: String,
    /// `exportfs -v` as the NFS tools report it (empty when none exported), or why not known.
    pub nfs_exported: Result<Vec<String>, String>,
}
