//! Mounts as systemd `.mount` units (and `.automount` on request), never fstab: local
//! filesystems, bind mounts of pool paths, NFS and CIFS. The helper renders the units from these
//! typed values; CIFS credentials go into a root-only file, never into the unit.

use crate::names::{BindSource, DevicePath, HostName, MountTarget, RemotePath, RemoteShare, RemoteUser};
use crate::secret::RemoteSecret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalFs {
    Ext4,
    Xfs,
    Btrfs,
    Vfat,
}

impl LocalFs {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Btrfs => "btrfs",
            Self::Vfat => "vfat",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NfsVersion {
    V3,
    V4,
    V41,
    V42,
}

impl NfsVersion {
    pub const ALL: [NfsVersion; 4] = [Self::V3, Self::V4, Self::V41, Self::V42];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3 => "3",
            Self::V4 => "4",
            Self::V41 => "4.1",
            Self::V42 => "4.2",
        }
    }
}

impl std::str::FromStr for NfsVersion {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            crate::ValidationError::new(
                "nfs_version",
                format!("NFS version '{}' is invalid: use 3, 4, 4.1 or 4.2", crate::names::shown(s)),
            )
        })
    }
}

/// How long systemd may wait for a mount's device or server, in seconds.
pub const TIMEOUT_SECS: std::ops::RangeInclusive<u16> = 1..=600;

/// The one place the timeout rule lives (CLI, corenasd and helper all check it).
pub fn check_timeout(secs: u16) -> Result<(), crate::ValidationError> {
    if TIMEOUT_SECS.contains(&secs) {
        Ok(())
    } else {
        Err(crate::ValidationError::new(
            "timeout",
            format!(
                "timeout {secs} is invalid: use a whole number of seconds from {} to {}",
                TIMEOUT_SECS.start(),
                TIMEOUT_SECS.end()
            ),
        ))
    }
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    Local {
        device: DevicePath,
        fs: LocalFs,
    },
    Bind {
        source: BindSource,
    },
    Nfs {
        server: HostName,
        export: RemotePath,
        version: Option<NfsVersion>,
    },
    Cifs {
        server: HostName,
        share: RemoteShare,
        credentials: Option<CifsCredentials>,
    },
    /// An OpenZFS dataset (`Type=zfs`, `zfsutil`): CoreNAS's pools and datasets are created
    /// `canmount=noauto` and mounted by systemd, as every other pool is, because the storage
    /// helper may not mount (landlock) and a mount made in its namespace would not be the host's.
    /// Written by the storage operations only; `mount add` refuses it.
    Zfs {
        pool: crate::names::PoolName,
        dataset: Option<crate::names::DatasetName>,
    },
}

impl MountSource {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::Bind { .. } => "bind",
            Self::Nfs { .. } => "nfs",
            Self::Cifs { .. } => "cifs",
            Self::Zfs { .. } => "zfs",
        }
    }
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Nfs { .. } | Self::Cifs { .. })
    }
}

/// CIFS login. The password reaches only the helper, which writes it to a 0600 root file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifsCredentials {
    pub user: RemoteUser,
    pub domain: Option<RemoteUser>,
    pub password: RemoteSecret,
}

/// Mount flags CoreNAS offers; nothing else reaches `Options=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MountFlag {
    ReadOnly,
    NoAtime,
    NoExec,
    NoSuid,
    NoDev,
}

impl MountFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "ro",
            Self::NoAtime => "noatime",
            Self::NoExec => "noexec",
            Self::NoSuid => "nosuid",
            Self::NoDev => "nodev",
        }
    }
    pub const ALL: [MountFlag; 5] = [Self::ReadOnly, Self::NoAtime, Self::NoExec, Self::NoSuid, Self::NoDev];
}

impl std::str::FromStr for MountFlag {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            crate::ValidationError::new(
                "options",
                format!(
                    "mount option '{}' is not offered: use {}",
                    crate::names::shown(s),
                    Self::ALL.map(Self::as_str).join(", ")
                ),
            )
        })
    }
}

/// A mount as the helper renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountDef {
    pub source: MountSource,
    pub target: MountTarget,
    pub flags: Vec<MountFlag>,
    /// Also write a `.automount` unit: mounted on first access.
    pub automount: bool,
    /// A runtime unit under /run/systemd/system: gone after a reboot.
    pub temporary: bool,
    /// How long systemd waits for the device or server (seconds, 1-600).
    pub timeout_secs: u16,
}

impl MountDef {
    pub fn unit_name(&self) -> String {
        format!("{}.mount", self.target.unit_stem())
    }
}

impl MountSource {
    /// The ZFS dataset a `Zfs` source mounts: the pool's root or a dataset in it.
    pub fn zfs_name(&self) -> Option<String> {
        match self {
            Self::Zfs { dataset: Some(d), .. } => Some(d.to_string()),
            Self::Zfs { pool, dataset: None } => Some(pool.to_string()),
            _ => None,
        }
    }
}

/// What systemd reports for a unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitState {
    pub unit: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub result: String,
}

/// `mount list/status` entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountInfo {
    pub def: MountDef,
    pub unit: String,
    pub unit_file: String,
    /// From systemd, or why systemd could not say.
    pub state: Result<UnitState, String>,
    /// Remount attempts since the last success (the retry policy's counter).
    pub retries: u32,
    pub last_error: Option<String>,
    pub created: String,
}
