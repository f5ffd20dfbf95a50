//! `share` arguments: SMB options, NFS client rules, the access template.

use crate::values::{Listed, OnOff};
use clap::{ArgGroup, Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::names::{GroupName, NfsClient, ShareName, StoragePath, UserName, shown};
use corenas_proto::shares::{AccessTemplate, FileMode, NfsRule, SmbOptions, SnapshotLayout};

#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// Create a share: the directory (with an access template) and its SMB and/or NFS export.
    ///
    /// The path defaults to /storage/NAME and is created if missing. SMB options start from
    /// CoreNAS's defaults (writable, browseable, every authenticated user, masks 0664/0775).
    Create(ShareCreateArgs),
    /// Change a share; only the parts named are changed.
    ///
    /// SMB options are applied on top of the share's current SMB settings; --valid-user,
    /// --valid-group and --admin-user replace their list, --nfs-client replaces the client list.
    Mod(ShareModArgs),
    /// Stop serving a share; its directory and data are kept.
    Del {
        /// The share name.
        #[arg(allow_hyphen_values = true)]
        name: ShareName,
    },
    /// List the shares.
    List,
    /// Show one share with all its settings.
    Show {
        /// The share name.
        #[arg(allow_hyphen_values = true)]
        name: ShareName,
    },
    /// Turn the [homes] SMB share (each share user's home directory) on or off.
    Homes {
        #[arg(value_enum)]
        state: OnOff,
    },
    /// Show the rendered SMB and NFS files and what the NFS server exports now.
    Config,
    /// Render and publish every stored share again (after a hand edit or a crash).
    Apply,
    /// Set a share's access template (the same as `share mod NAME` with only that).
    ///
    /// The new rights apply to the share's directory and to what is created in it from now on.
    #[command(group(ArgGroup::new("template").required(true).args(["private", "group_rw", "public_read"])))]
    Acl {
        /// The share name.
        #[arg(allow_hyphen_values = true)]
        name: ShareName,
        #[command(flatten)]
        access: AccessArgs,
    },
}

#[derive(Debug, Args)]
pub struct ShareCreateArgs {
    /// The share name (1-32 of a-z, 0-9, '_', '-', starting with a letter or digit).
    #[arg(allow_hyphen_values = true)]
    pub name: ShareName,
    /// The directory shared, beneath /storage; defaults to /storage/NAME.
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub path: Option<StoragePath>,
    /// Share over SMB.
    #[arg(long)]
    pub smb: bool,
    /// Share over NFS (needs at least one --nfs-client).
    #[arg(long)]
    pub nfs: bool,
    /// Allow what needs insisting on, such as a writable guest share.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub smb_options: SmbArgs,
    #[command(flatten)]
    pub nfs_options: NfsArgs,
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub struct ShareModArgs {
    /// The share name.
    #[arg(allow_hyphen_values = true)]
    pub name: ShareName,
    /// Turn SMB on (with the defaults, plus the SMB options given).
    #[arg(long, conflicts_with = "no_smb")]
    pub smb: bool,
    /// Turn SMB off.
    #[arg(long, conflicts_with = "SmbArgs")]
    pub no_smb: bool,
    /// Turn NFS on (needs --nfs-client).
    #[arg(long, conflicts_with = "no_nfs")]
    pub nfs: bool,
    /// Turn NFS off.
    #[arg(long, conflicts_with = "NfsArgs")]
    pub no_nfs: bool,
    /// Allow what needs insisting on, such as a writable guest share.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub smb_options: SmbArgs,
    #[command(flatten)]
    pub nfs_options: NfsArgs,
    #[command(flatten)]
    pub access: AccessArgs,
}

impl ShareModArgs {
    /// Whether the SMB or NFS part is named at all (then the current share is needed).
    pub fn touches_protocols(&self) -> bool {
        self.smb || self.no_smb || self.nfs || self.no_nfs || self.smb_options.any() || self.nfs_options.any()
    }
}

/// The SMB settings of `share create` and `share mod`. Each pair of flags sets one setting;
/// a flag not given leaves it as it is (mod) or at its default (create).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "SMB options")]
pub struct SmbArgs {
    /// Clients may only read.
    #[arg(long, conflicts_with = "writable")]
    pub read_only: bool,
    /// Clients may write (the default).
    #[arg(long)]
    pub writable: bool,
    /// Not listed when browsing the server (clients must know the name).
    #[arg(long, conflicts_with = "browseable")]
    pub hidden: bool,
    /// Listed when browsing the server (the default).
    #[arg(long)]
    pub browseable: bool,
    /// Only this user may connect (repeatable; with --valid-group, either may).
    #[arg(long = "valid-user", value_name = "USER", allow_hyphen_values = true)]
    pub valid_users: Vec<UserName>,
    /// Only members of this group may connect (repeatable).
    #[arg(long = "valid-group", value_name = "GROUP", allow_hyphen_values = true)]
    pub valid_groups: Vec<GroupName>,
    /// Every authenticated user may connect: clears the valid users and groups.
    #[arg(long, conflicts_with_all = ["valid_users", "valid_groups"])]
    pub any_user: bool,
    /// This user acts as root on the share (repeatable).
    #[arg(long = "admin-user", value_name = "USER", allow_hyphen_values = true)]
    pub admin_users: Vec<UserName>,
    /// Clear the admin users.
    #[arg(long, conflicts_with = "admin_users")]
    pub no_admin_users: bool,
    /// Allow anonymous access (a writable guest share also needs --force).
    #[arg(long, conflicts_with = "no_guest")]
    pub guest: bool,
    /// No anonymous access (the default).
    #[arg(long)]
    pub no_guest: bool,
    /// Deleted files go to .recycle/USER/ in the share.
    #[arg(long, conflicts_with = "no_recycle")]
    pub recycle: bool,
    /// Deleted files are gone (the default).
    #[arg(long)]
    pub no_recycle: bool,
    /// Offer snapshots as Windows "previous versions".
    #[arg(long, value_name = "LAYOUT", allow_hyphen_values = true, value_parser = Listed::<SnapshotLayout>::new(&["zfs", "btrfs"]), conflicts_with = "no_previous_versions")]
    pub previous_versions: Option<SnapshotLayout>,
    /// No previous versions (the default).
    #[arg(long)]
    pub no_previous_versions: bool,
    /// Log every change on the share through syslog.
    #[arg(long, conflicts_with = "no_audit")]
    pub audit: bool,
    /// No change log (the default).
    #[arg(long)]
    pub no_audit: bool,
    /// Show files whose names start with '.'.
    #[arg(long, conflicts_with = "hide_dot_files")]
    pub show_dot_files: bool,
    /// Hide files whose names start with '.' (the default).
    #[arg(long)]
    pub hide_dot_files: bool,
    /// The mode bits new files may get, in octal (default 0664).
    #[arg(long, value_name = "MODE", allow_hyphen_values = true, value_parser = create_mask)]
    pub create_mask: Option<FileMode>,
    /// The mode bits new directories may get, in octal (default 0775).
    #[arg(long, value_name = "MODE", allow_hyphen_values = true, value_parser = directory_mask)]
    pub directory_mask: Option<FileMode>,
}

impl SmbArgs {
    /// Whether any SMB option was given.
    pub fn any(&self) -> bool {
        let flags = [
            self.read_only,
            self.writable,
            self.hidden,
            self.browseable,
            self.any_user,
            self.no_admin_users,
            self.guest,
            self.no_guest,
            self.recycle,
            self.no_recycle,
            self.no_previous_versions,
            self.audit,
            self.no_audit,
            self.show_dot_files,
            self.hide_dot_files,
        ];
        flags.contains(&true)
            || !self.valid_users.is_empty()
            || !self.valid_groups.is_empty()
            || !self.admin_users.is_empty()
            || self.previous_versions.is_some()
            || self.create_mask.is_some()
            || self.directory_mask.is_some()
    }

    /// Sets what was given on `o`, leaves the rest as it is.
    pub fn apply(&self, o: &mut SmbOptions) {
        if let Some(ro) = pair(self.read_only, self.writable) {
            o.read_only = ro;
        }
        if let Some(hidden) = pair(self.hidden, self.browseable) {
            o.browseable = !hidden;
        }
        if !self.valid_users.is_empty() || self.any_user {
            o.valid_users.clone_from(&self.valid_users);
        }
        if !self.valid_groups.is_empty() || self.any_user {
            o.valid_groups.clone_from(&self.valid_groups);
        }
        if !self.admin_users.is_empty() || self.no_admin_users {
            o.admin_users.clone_from(&self.admin_users);
        }
        if let Some(guest) = pair(self.guest, self.no_guest) {
            o.guest_ok = guest;
        }
        if let Some(recycle) = pair(self.recycle, self.no_recycle) {
            o.recycle = recycle;
        }
        if self.previous_versions.is_some() || self.no_previous_versions {
            o.previous_versions = self.previous_versions;
        }
        if let Some(audit) = pair(self.audit, self.no_audit) {
            o.audit = audit;
        }
        if let Some(show) = pair(self.show_dot_files, self.hide_dot_files) {
            o.hide_dot_files = !show;
        }
        if let Some(m) = self.create_mask {
            o.create_mask = m;
        }
        if let Some(m) = self.directory_mask {
            o.directory_mask = m;
        }
    }
}

/// `Some(true)` for the first flag, `Some(false)` for the second, `None` for neither.
pub(crate) fn pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "NFS options")]
pub struct NfsArgs {
    /// Who may mount, e.g. 192.168.1.0/24, backup.lan:ro or 10.0.0.5:no_root_squash
    /// (repeatable; read-write and root squashed unless :ro or :no_root_squash is added).
    #[arg(long = "nfs-client", value_name = "CLIENT[:ro][:no_root_squash]", allow_hyphen_values = true)]
    pub clients: Vec<NfsClientRule>,
}

impl NfsArgs {
    pub fn any(&self) -> bool {
        !self.clients.is_empty()
    }
    pub fn rules(&self) -> Vec<NfsRule> {
        self.clients.iter().map(|c| c.0.clone()).collect()
    }
}

/// The access template: who owns the share's directory and who gets which rights.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Access")]
pub struct AccessArgs {
    /// Only this user reads and writes (the user owns it, mode 0700).
    #[arg(long, value_name = "USER", allow_hyphen_values = true, conflicts_with_all = ["group_rw", "public_read"])]
    pub private: Option<UserName>,
    /// This group reads and writes (group-owned, setgid, mode 2770).
    #[arg(long, value_name = "GROUP", allow_hyphen_values = true, conflicts_with = "public_read")]
    pub group_rw: Option<GroupName>,
    /// Everybody reads; with --writers, that group writes too (mode 0755 or 2775).
    #[arg(long)]
    pub public_read: bool,
    /// The group that may write to a --public-read share.
    #[arg(long, value_name = "GROUP", allow_hyphen_values = true, requires = "public_read")]
    pub writers: Option<GroupName>,
}

impl AccessArgs {
    pub fn template(&self) -> Option<AccessTemplate> {
        if let Some(user) = &self.private {
            Some(AccessTemplate::Private { user: user.clone() })
        } else if let Some(group) = &self.group_rw {
            Some(AccessTemplate::GroupReadWrite { group: group.clone() })
        } else if self.public_read {
            Some(AccessTemplate::PublicRead { writers: self.writers.clone() })
        } else {
            None
        }
    }
}

pub(crate) fn create_mask(s: &str) -> Result<FileMode, ValidationError> {
    s.parse::<FileMode>().map_err(|e| ValidationError::new("create_mask", e.message))
}

pub(crate) fn directory_mask(s: &str) -> Result<FileMode, ValidationError> {
    s.parse::<FileMode>().map_err(|e| ValidationError::new("directory_mask", e.message))
}

/// `--nfs-client CLIENT[:ro|:rw][:no_root_squash|:root_squash]`. The options are taken off the
/// end, so an IPv6 client needs no brackets (no address ends in `:ro`); `[fd00::/64]:ro` works too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsClientRule(pub NfsRule);

impl std::str::FromStr for NfsClientRule {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ValidationError::new("client", format!("NFS client '{}' is invalid: {why}", shown(s)));
        let mut rest = s;
        let (mut access, mut squash): (Option<bool>, Option<bool>) = (None, None);
        while let Some((head, option)) = rest.rsplit_once(':') {
            let (slot, value) = match option {
                "ro" => (&mut access, true),
                "rw" => (&mut access, false),
                "no_root_squash" => (&mut squash, true),
                "root_squash" => (&mut squash, false),
                _ => break,
            };
            if slot.replace(value).is_some() {
                return Err(bad("give ro/rw and no_root_squash/root_squash at most once each"));
            }
            rest = head;
        }
        let client = match rest.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or_else(|| bad("a '[' needs its ']'"))?,
            None => rest,
        };
        let client: NfsClient = client.parse()?;
        Ok(Self(NfsRule { client, read_only: access.unwrap_or(false), no_root_squash: squash.unwrap_or(false) }))
    }
}
