//! `mount` arguments: the type, its source in the form that type needs, flags, timeout.

use crate::values::Listed;
use clap::{Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::mounts::{MountFlag, NfsVersion};
use corenas_proto::names::{MountTarget, RemoteUser, parse_decimal, shown};

#[derive(Debug, Subcommand)]
pub enum MountCommand {
    /// Mount a filesystem with a systemd unit (mounted again after a reboot unless --temporary).
    ///
    /// Sources by --type: ext4, xfs, btrfs, vfat: a device (/dev/sdb1, /dev/disk/by-id/ID);
    /// bind: a path beneath /mnt/corenas or /storage; nfs: HOST:/export/path ([fd00::1]:/export
    /// for IPv6); cifs: //HOST/SHARE (a guest mount unless --user is given).
    Add(MountAddArgs),
    /// Unmount and remove a mount's units.
    Remove {
        /// The mount point.
        #[arg(allow_hyphen_values = true)]
        target: MountTarget,
    },
    /// List the mounts with their systemd state.
    List,
    /// Show one mount.
    Status {
        /// The mount point.
        #[arg(allow_hyphen_values = true)]
        target: MountTarget,
    },
    /// Start every permanent mount that is not mounted (and reset the retry counters).
    Reload,
}

#[derive(Debug, Args)]
pub struct MountAddArgs {
    /// The mount point: /mnt/corenas/NAME[/...] or /storage/NAME[/...].
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub target: MountTarget,
    /// The filesystem type.
    #[arg(long = "type", value_name = "TYPE", allow_hyphen_values = true, value_parser = Listed::<MountType>::new(MountType::NAMES))]
    pub kind: MountType,
    /// What to mount; its form depends on --type (see above).
    #[arg(long, value_name = "SOURCE", allow_hyphen_values = true)]
    pub source: String,
    /// The NFS protocol version (nfs only; the client and server agree on one when absent).
    #[arg(long, value_name = "VERSION", allow_hyphen_values = true, value_parser = Listed::<NfsVersion>::new(&["3", "4", "4.1", "4.2"]))]
    pub nfs_version: Option<NfsVersion>,
    /// The user to log in to the SMB server as (cifs only; needs --password-stdin).
    #[arg(long, value_name = "USER", allow_hyphen_values = true)]
    pub user: Option<RemoteUser>,
    /// The SMB domain or workgroup of --user.
    #[arg(long, value_name = "DOMAIN", allow_hyphen_values = true)]
    pub domain: Option<RemoteUser>,
    /// Read the SMB server's password for --user from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// A mount option (repeatable): ro, noatime, noexec, nosuid or nodev.
    #[arg(long = "option", value_name = "OPTION", allow_hyphen_values = true, value_parser = Listed::<MountFlag>::new(&["ro", "noatime", "noexec", "nosuid", "nodev"]))]
    pub options: Vec<MountFlag>,
    /// Mount on first access (an .automount unit) instead of at boot.
    #[arg(long)]
    pub automount: bool,
    /// A runtime mount: gone after a reboot.
    #[arg(long)]
    pub temporary: bool,
    /// How long to wait for the device or server, in seconds (1-600).
    #[arg(long, value_name = "SECS", default_value_t = MOUNT_TIMEOUT_DEFAULT, allow_hyphen_values = true, value_parser = timeout_secs)]
    pub timeout: u16,
}

/// `mount add --type`: the local filesystems, a bind mount, or a network filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Ext4,
    Xfs,
    Btrfs,
    Vfat,
    Bind,
    Nfs,
    Cifs,
}

impl MountType {
    pub const ALL: [MountType; 7] = [Self::Ext4, Self::Xfs, Self::Btrfs, Self::Vfat, Self::Bind, Self::Nfs, Self::Cifs];
    pub(crate) const NAMES: &'static [&'static str] = &["ext4", "xfs", "btrfs", "vfat", "bind", "nfs", "cifs"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Btrfs => "btrfs",
            Self::Vfat => "vfat",
            Self::Bind => "bind",
            Self::Nfs => "nfs",
            Self::Cifs => "cifs",
        }
    }
}

impl std::str::FromStr for MountType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "type",
                format!("mount type '{}' is invalid: use {}", shown(s), Self::NAMES.join(", ")),
            )
        })
    }
}

/// The default `--timeout`, the same as systemd's for a mount.
pub const MOUNT_TIMEOUT_DEFAULT: u16 = 30;

/// A whole number of seconds, then the range rule from proto (one place for it).
pub(crate) fn timeout_secs(s: &str) -> Result<u16, ValidationError> {
    let n = parse_decimal(s).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
        ValidationError::new("timeout", format!("timeout '{}' is invalid: use a whole number of seconds", shown(s)))
    })?;
    corenas_proto::mounts::check_timeout(n)?;
    Ok(n)
}
