//! The command line, declared with clap. Every value that reaches corenasd is parsed into its
//! `corenas_proto` type here, so bad input is refused (exit 2) before any connection is made.
//!
//! Passwords are deliberately not arguments: they come from a prompt or `--password-stdin`, never
//! from argv (which other users can read in /proc and which lands in shell history).

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use corenas_proto::ValidationError;
use corenas_proto::acl::{AclEntry, AclTarget};
use corenas_proto::api::{AUDIT_PAGE_MAX, SmbAction};
use corenas_proto::imaging::{ArchiveSort, JobSort, JobState, LIST_MAX, Priority, RetryPasses};
use corenas_proto::mounts::{MountFlag, NfsVersion};
use corenas_proto::names::{
    AccountKind, DatasetName, DevicePath, FullName, GroupName, JobName, ManagedGid, ManagedUid, MountTarget, NfsClient,
    Note, PoolName, RemoteUser, SHELLS, SearchText, ShareName, SharePath, Shell, SnapshotName, StoragePath, Tag,
    UserName, parse_decimal, shown,
};
use corenas_proto::shares::{AccessTemplate, FileMode, NfsRule, SmbOptions, SnapshotLayout};
use corenas_proto::storage::{Backend, BtrfsProfile, Compression, DiskFs, WipeMethod, ZfsLayout, ZfsProperty};
use std::ffi::{OsStr, OsString};
use std::marker::PhantomData;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/corenas/corenasd.sock";

/// Manage CoreNAS accounts, ACLs, storage, shares, mounts, the audit log and disc imaging through corenasd.
#[derive(Debug, Parser)]
#[command(name = "corenas-ctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The corenasd socket.
    #[arg(long, global = true, value_name = "PATH", env = "CORENAS_SOCKET", default_value = DEFAULT_SOCKET, help_heading = "Global options")]
    pub socket: PathBuf,

    /// Print exactly one JSON document on stdout (errors too); see JSON.md.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// Show the exact steps a change would run, and change nothing.
    #[arg(long, global = true, help_heading = "Global options")]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Administrators and share users.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups in the managed ranges.
    #[command(subcommand)]
    Group(GroupCommand),
    /// POSIX ACLs on paths beneath the share roots.
    #[command(subcommand)]
    Acl(AclCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Log(LogCommand),
    /// corenasd and corenas-helper.
    #[command(subcommand)]
    System(SystemCommand),
    /// Imaging jobs: copy a disc or disk into an image (ddrescue), then hash and archive it.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The archive of finished images.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Block devices: inventory, SMART, self-tests, wipe; media and eject for imaging.
    #[command(subcommand)]
    Device(BlockDeviceCommand),
    /// Storage pools (ZFS, btrfs, one disk), datasets, snapshots and storage jobs.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// md software RAID arrays: create, add/fail/remove members, rebuild as a job, destroy.
    #[command(subcommand)]
    Raid(RaidCommand),
    /// LVM: volume groups from devices, and volumes in them.
    #[command(subcommand)]
    Lvm(LvmCommand),
    /// SMB and NFS shares of directories beneath /storage.
    #[command(subcommand)]
    Share(ShareCommand),
    /// Filesystems mounted by systemd units: local disks, bind mounts, NFS and CIFS.
    #[command(subcommand)]
    Mount(MountCommand),
    /// Web UI access: roles, second factors, API keys.
    #[command(subcommand)]
    Web(WebCommand),
    /// Print a shell completion script on stdout (needs no daemon).
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff) on stdout, or with --dir write it and one page per command
    /// (corenas-ctl-raid.1, ...) into a directory (needs no daemon).
    Man {
        /// Write corenas-ctl.1 and corenas-ctl-COMMAND.1 here instead of printing.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    ///
    /// Without --password-stdin or --generate-password, a terminal on stdin is asked for the
    /// password twice (an empty answer sets none); without a terminal, no password is set.
    Add(UserAddArgs),
    /// Delete an account and its own primary group.
    Del {
        /// The login name.
        #[arg(allow_hyphen_values = true)]
        name: UserName,
        /// Also remove the home directory.
        #[arg(long)]
        remove_home: bool,
    },
    /// Change an account.
    Mod(UserModArgs),
    /// List the accounts in the managed ranges.
    List,
    /// Show one account.
    Show {
        /// The login name.
        #[arg(allow_hyphen_values = true)]
        name: UserName,
    },
    /// Set the login password (prompted, or read from stdin).
    SetPassword {
        /// The login name.
        #[arg(allow_hyphen_values = true)]
        name: UserName,
        #[command(flatten)]
        password: PasswordStdin,
    },
    /// Set the SMB password (prompted, or read from stdin).
    SetSmbPassword {
        /// The login name.
        #[arg(allow_hyphen_values = true)]
        name: UserName,
        #[command(flatten)]
        password: PasswordStdin,
    },
    /// Enable, disable or delete the SMB account.
    Smb {
        /// The login name.
        #[arg(allow_hyphen_values = true)]
        name: UserName,
        #[arg(value_enum)]
        action: SmbCommand,
    },
    /// Print a new password that meets the policy (nothing is changed).
    GenPassword,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password_source").args(["password_stdin", "generate_password"])))]
pub struct UserAddArgs {
    /// The login name.
    #[arg(allow_hyphen_values = true)]
    pub name: UserName,
    /// Which managed range the account belongs to.
    #[arg(long, value_parser = Listed::<AccountKind>::new(&["admin", "share"]))]
    pub kind: AccountKind,
    /// The uid (also the gid of the user's own group); chosen from the kind's range when absent.
    #[arg(long, value_name = "N")]
    pub uid: Option<ManagedUid>,
    /// The full name (GECOS).
    #[arg(long, value_name = "TEXT")]
    pub full_name: Option<FullName>,
    /// The login shell; defaults to /bin/bash for admins, /usr/sbin/nologin for share users.
    #[arg(long, value_name = "PATH", value_parser = Listed::<Shell>::new(SHELLS))]
    pub shell: Option<Shell>,
    /// Do not create a home directory.
    #[arg(long)]
    pub no_home: bool,
    /// A supplementary group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<GroupName>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Let corenasd generate a password; it is printed once.
    #[arg(long)]
    pub generate_password: bool,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["full_name", "shell", "add_groups", "remove_groups", "lock", "unlock"])
))]
pub struct UserModArgs {
    /// The login name.
    #[arg(allow_hyphen_values = true)]
    pub name: UserName,
    /// The new full name ("" clears it).
    #[arg(long, value_name = "TEXT")]
    pub full_name: Option<FullName>,
    /// The new login shell.
    #[arg(long, value_name = "PATH", value_parser = Listed::<Shell>::new(SHELLS))]
    pub shell: Option<Shell>,
    /// Add to a supplementary group (repeatable).
    #[arg(long = "add-group", value_name = "GROUP")]
    pub add_groups: Vec<GroupName>,
    /// Remove from a supplementary group (repeatable).
    #[arg(long = "remove-group", value_name = "GROUP")]
    pub remove_groups: Vec<GroupName>,
    /// Lock the login (also disables SMB).
    #[arg(long, conflicts_with = "unlock")]
    pub lock: bool,
    /// Unlock the login.
    #[arg(long)]
    pub unlock: bool,
}

impl UserModArgs {
    /// `Some(true)` locks, `Some(false)` unlocks, `None` leaves the lock alone.
    pub fn lock_change(&self) -> Option<bool> {
        match (self.lock, self.unlock) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

/// The only way to hand over a password besides the prompt; there is no `--password VALUE`.
#[derive(Debug, Args)]
pub struct PasswordStdin {
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmbCommand {
    Enable,
    Disable,
    Delete,
}

impl From<SmbCommand> for SmbAction {
    fn from(c: SmbCommand) -> Self {
        match c {
            SmbCommand::Enable => SmbAction::Enable,
            SmbCommand::Disable => SmbAction::Disable,
            SmbCommand::Delete => SmbAction::Delete,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add {
        /// The group name.
        #[arg(allow_hyphen_values = true)]
        name: GroupName,
        /// Which managed range the group belongs to.
        #[arg(long, value_parser = Listed::<AccountKind>::new(&["admin", "share"]))]
        kind: AccountKind,
        /// The gid; chosen from the kind's range when absent.
        #[arg(long, value_name = "N")]
        gid: Option<ManagedGid>,
    },
    /// Delete a group.
    Del {
        /// The group name.
        #[arg(allow_hyphen_values = true)]
        name: GroupName,
    },
    /// List the groups in the managed ranges.
    List,
    /// Add or remove members.
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["add", "remove"])))]
    Mod {
        /// The group name.
        #[arg(allow_hyphen_values = true)]
        name: GroupName,
        /// Add a member (repeatable).
        #[arg(long = "add-member", value_name = "USER")]
        add: Vec<UserName>,
        /// Remove a member (repeatable).
        #[arg(long = "remove-member", value_name = "USER")]
        remove: Vec<UserName>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Show the ACL of a path.
    Get {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
    },
    /// Add or replace entries, e.g. u:alice:rwx g:staff:r-x d:g:staff:r-x.
    Set {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
        /// [d:]u|g:NAME-OR-ID:PERMS, [d:]u|g::PERMS, [d:]m::PERMS or [d:]o::PERMS; PERMS like rwx, r-x or 5.
        #[arg(required = true, value_name = "ENTRY")]
        entries: Vec<AclEntry>,
        /// Apply to everything beneath the path too.
        #[arg(long)]
        recursive: bool,
    },
    /// Remove named entries, e.g. u:alice d:g:staff.
    Remove {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
        /// [d:]u:NAME-OR-ID or [d:]g:NAME-OR-ID (owner, group, mask and other cannot be removed).
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<AclTarget>,
        /// Apply to everything beneath the path too.
        #[arg(long)]
        recursive: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Show recent entries, newest first.
    View {
        /// How many entries to show (1-500).
        #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(AUDIT_PAGE_MAX)))]
        limit: u32,
        /// Show entries older than this sequence number.
        #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(i64).range(1..))]
        before: Option<i64>,
    },
    /// Check the hash chain; exits 1 when problems are found.
    Verify,
    /// Write every entry as JSON lines, oldest first.
    Export {
        /// Write to this new file (created with mode 0600, never overwritten) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Versions, paths, audit head and the helper's state.
    Status,
    /// The one-time token the web UI's first-run setup asks for (until an administrator with a
    /// second factor exists).
    SetupToken,
}

#[derive(Debug, Subcommand)]
pub enum WebCommand {
    /// Accounts that may log in to the web UI, their roles and second factors.
    List,
    /// Let an admin account (ids 10000-20000) log in with a role: viewer, operator, admin; or
    /// `none` to take web access away (its sessions end at once).
    Role {
        user: corenas_proto::names::UserName,
        #[arg(value_parser = ["viewer", "operator", "admin", "none"])]
        role: String,
    },
    /// Forget an account's authenticator and recovery codes (a lost phone); it enrolls again at
    /// its next login.
    TotpReset { user: corenas_proto::names::UserName },
    /// API keys for automation (`X-API-Key` header).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key; it is printed once and never again.
    Create {
        /// What the key is for (shown in lists and the audit log).
        #[arg(long)]
        label: corenas_proto::names::FullName,
        /// viewer, operator or admin (at most your own role).
        #[arg(long, default_value = "viewer")]
        role: corenas_proto::web::Role,
        /// Days until it expires (1-366).
        #[arg(long, default_value_t = 90)]
        days: u16,
    },
    List,
    Revoke {
        id: String,
    },
}

/// Job states as `--status` accepts them (`JobState::as_str`).
const JOB_STATES: &[&str] =
    &["queued", "running", "paused", "hashing", "completed", "completed_with_errors", "failed", "cancelled"];
const PRIORITIES: &[&str] = &["low", "normal", "high"];

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Queue a job that images a device.
    ///
    /// The job copies the device with ddrescue into an image named after the job id, then hashes
    /// it (SHA-256, and MD5 on request) and adds it to the archive.
    Create(ImageCreateArgs),
    /// List imaging and verify jobs.
    List {
        /// Only jobs in this state.
        #[arg(long, value_name = "STATUS", allow_hyphen_values = true, value_parser = Listed::<JobState>::new(JOB_STATES))]
        status: Option<JobState>,
        /// Order of the list.
        #[arg(long, value_name = "KEY", default_value = "created", allow_hyphen_values = true, value_parser = Listed::<JobSort>::new(&["created", "updated", "name"]))]
        sort: JobSort,
        #[command(flatten)]
        page: Page,
    },
    /// Show one job, with its progress and the medium it reads.
    Show {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Print a progress line whenever the job changes, until it ends or is paused.
    ///
    /// Exits 0 when the job completed, 1 when it completed with errors, failed, was cancelled
    /// or was paused. With --json only the final job is printed.
    Follow {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Pause a queued or running job.
    Pause {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Resume a paused job.
    Resume {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Cancel a job; its partial image is deleted unless the job or --keep-partial keeps it.
    Cancel {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Delete the partial image and mapfile, whatever the job's options say.
        #[arg(long, conflicts_with = "keep_partial")]
        delete_partial: bool,
        /// Keep the partial image and mapfile, whatever the job's options say.
        #[arg(long)]
        keep_partial: bool,
    },
    /// Run another pass over the bad areas of a job that completed with errors or failed.
    Retry {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Change a job's priority in the queue.
    Priority {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// The new priority.
        #[arg(allow_hyphen_values = true, value_parser = Listed::<Priority>::new(PRIORITIES))]
        priority: Priority,
    },
    /// Show the auto-start policy, or set it with --auto-start.
    ///
    /// With --auto-start, the watch list becomes exactly the --watch devices given (none: only
    /// optical drives are watched).
    Policy {
        /// Start a job by itself when a medium is inserted.
        #[arg(long, value_enum, value_name = "on|off")]
        auto_start: Option<OnOff>,
        /// A device to watch besides optical drives (repeatable); needs --auto-start.
        #[arg(long = "watch", value_name = "DEVICE", requires = "auto_start", allow_hyphen_values = true)]
        watch: Vec<DevicePath>,
    },
}

/// `image cancel`: `Some(true)` deletes the partial image, `Some(false)` keeps it, `None`
/// follows the job's own `keep_partial_on_cancel`.
pub fn delete_partial(delete_partial: bool, keep_partial: bool) -> Option<bool> {
    match (delete_partial, keep_partial) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[derive(Debug, Args)]
pub struct ImageCreateArgs {
    /// The job's name (1-64 of A-Z, a-z, 0-9, '.', '_', '-'); files are named by the job id.
    #[arg(allow_hyphen_values = true)]
    pub name: JobName,
    /// The source: /dev/srN, /dev/sdX, /dev/vdX, /dev/nvmeNnM, /dev/mmcblkN, /dev/loopN or /dev/disk/by-id/ID.
    #[arg(long, value_name = "DEVICE", allow_hyphen_values = true)]
    pub device: DevicePath,
    /// Retry passes over bad areas (0-5).
    #[arg(long, value_name = "N", default_value = "1", allow_hyphen_values = true)]
    pub retries: RetryPasses,
    /// After imaging, read the source again and compare checksums.
    #[arg(long)]
    pub verify: bool,
    /// Compute MD5 as well as SHA-256.
    #[arg(long)]
    pub md5: bool,
    /// The job's place in the queue.
    #[arg(long, value_name = "PRIORITY", default_value = "normal", allow_hyphen_values = true, value_parser = Listed::<Priority>::new(PRIORITIES))]
    pub priority: Priority,
    /// Keep the partial image and mapfile if the job is cancelled.
    #[arg(long)]
    pub keep_partial: bool,
    /// Eject the medium when hashing starts.
    #[arg(long)]
    pub eject: bool,
    /// Cap the read rate, in bytes per second.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub max_rate: Option<ByteRate>,
}

/// `--limit` and `--offset` of the job and archive listings.
#[derive(Debug, Clone, Copy, Args)]
pub struct Page {
    /// How many entries to show (1-200).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(LIST_MAX)))]
    pub limit: u32,
    /// Skip this many entries.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// List archived images.
    List {
        /// Only entries whose name, label, notes or tags contain this text.
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        search: Option<SearchText>,
        /// Only entries with this tag.
        #[arg(long, value_name = "TAG", allow_hyphen_values = true)]
        tag: Option<Tag>,
        /// Order of the list.
        #[arg(long, value_name = "KEY", default_value = "created", allow_hyphen_values = true, value_parser = Listed::<ArchiveSort>::new(&["created", "name", "size"]))]
        sort: ArchiveSort,
        /// Reverse the order.
        #[arg(long)]
        desc: bool,
        #[command(flatten)]
        page: Page,
    },
    /// Show one entry, with its checksums and verification history.
    Show {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Start a job that re-hashes an image against its stored checksums.
    ///
    /// With --wait, follows the job like `image follow` (and exits like it).
    Verify {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Follow the verify job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Delete an entry and its image file; needs --force (not with --dry-run).
    Delete {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Really delete.
        #[arg(long)]
        force: bool,
    },
    /// Add or remove tags, or replace the notes.
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["add", "remove", "notes"])))]
    Tag {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Add a tag (repeatable; 1-32 of a-z, 0-9, '.', '_', '-').
        #[arg(long = "add", value_name = "TAG", allow_hyphen_values = true)]
        add: Vec<Tag>,
        /// Remove a tag (repeatable).
        #[arg(long = "remove", value_name = "TAG", allow_hyphen_values = true)]
        remove: Vec<Tag>,
        /// Replace the notes ("" clears them).
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        notes: Option<Note>,
    },
    /// Write every entry as a JSON array or as CSV.
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this new file (created with mode 0600, never overwritten) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

/// The imaging side of `device` (run by imaging.rs): media labels and eject. Flattened into
/// [`BlockDeviceCommand`]; the listing is `device media` on the command line.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List block devices with their media labels and whether they can be imaged now.
    #[command(name = "media")]
    List,
    /// Eject the medium (optical drives; loop devices are detached).
    Eject {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
}

/// `device`: the storage view of block devices (storage.rs) and, flattened in, the imaging view
/// (`device media`, `device eject`; imaging.rs).
#[derive(Debug, Subcommand)]
pub enum BlockDeviceCommand {
    /// List block devices: size, model, serial, HDD or SSD, transport, filesystem, what uses them.
    List,
    /// Show one device with every field and its partitions.
    Show {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
    /// Read SMART health now (corenasd keeps each report), or the stored reports with --history.
    Smart {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
        /// Show earlier reports, newest first, instead of reading the device now.
        #[arg(long)]
        history: bool,
        /// How many earlier reports to show (1-500).
        #[arg(long, value_name = "N", default_value = "20", requires = "history", allow_hyphen_values = true, value_parser = history_limit)]
        limit: u32,
    },
    /// Which erases the device's firmware offers (NVMe sanitize/format, ATA security erase),
    /// and which one `device wipe --method secure` would use.
    EraseOptions {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
    /// Hotplug events (devices added, removed, changed, media changed), debounced by corenasd.
    ///
    /// Prints the events after --after and the number to continue from; --follow keeps printing
    /// them as they happen (one JSON document a line with --json) until --count events came.
    Events {
        /// Only events after this sequence number (0: every event corenasd still keeps).
        #[arg(long, value_name = "SEQ", default_value = "0", allow_hyphen_values = true, value_parser = event_seq)]
        after: u64,
        /// Wait up to this long for an event when there is none yet (0-5000 ms).
        #[arg(long, value_name = "MS", default_value = "0", allow_hyphen_values = true, value_parser = event_wait)]
        wait_ms: u32,
        /// Keep printing events as they happen.
        #[arg(long)]
        follow: bool,
        /// With --follow: stop after this many events (1-100000).
        #[arg(long, value_name = "N", requires = "follow", allow_hyphen_values = true, value_parser = event_count)]
        count: Option<u32>,
    },
    /// Start a SMART self-test (short unless --long); prints the job id.
    Selftest {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
        /// The long (extended) test: reads the whole surface, can take hours.
        #[arg(long)]
        long: bool,
        /// Follow the job until it ends, printing its progress.
        #[arg(long)]
        wait: bool,
    },
    /// Erase a free device (as a job), then read sampled regions back; needs --force.
    ///
    /// quick removes signatures and partition tables; zero writes zeros over the whole device;
    /// discard asks the device to zero itself; secure uses the device's own erase (NVMe
    /// sanitize or format, ATA security erase: see `device erase-options`), or a secure discard
    /// where it offers none.
    /// corenas-ctl reads the device first and sends its serial number (or its kernel name when it
    /// has none) as the confirmation corenasd requires.
    Wipe(DeviceWipeArgs),
    #[command(flatten)]
    Imaging(DeviceCommand),
}

#[derive(Debug, Args)]
pub struct DeviceWipeArgs {
    /// The device.
    #[arg(allow_hyphen_values = true)]
    pub device: DevicePath,
    /// How to erase it.
    #[arg(long, value_name = "METHOD", allow_hyphen_values = true, value_parser = Listed::<WipeMethod>::new(&["quick", "zero", "discard", "secure"]))]
    pub method: WipeMethod,
    /// Really wipe: every byte on the device is lost.
    #[arg(long)]
    pub force: bool,
    /// Regions read back afterwards, besides the start and the end of the device (0-1024).
    #[arg(long, value_name = "N", default_value = "64", allow_hyphen_values = true, value_parser = wipe_samples)]
    pub samples: u16,
    /// Follow the job until it ends, printing its progress.
    #[arg(long)]
    pub wait: bool,
}

/// `--type` of `storage create` and `storage wizard`: every backend parses, so lvm and mdadm
/// get a message of their own rather than "invalid".
const BACKENDS: &[&str] = &["zfs", "btrfs", "single", "lvm", "mdadm"];
const ZFS_LAYOUTS: &[&str] = &["stripe", "mirror", "raidz1", "raidz2", "raidz3"];
const BTRFS_PROFILES: &[&str] = &["single", "dup", "raid0", "raid1", "raid1c3", "raid10"];
const COMPRESSIONS: &[&str] = &["off", "on", "lz4", "gzip", "zstd", "lzjb", "zle", "lzo", "zlib"];

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
pub enum RaidCommand {
    /// List the arrays (those with a /dev/md/NAME) with their state and members.
    List,
    /// Show one array: state, members, sync progress.
    Show {
        /// The array name (/dev/md/NAME).
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
    },
    /// Create an array from free devices (metadata 1.2; redundant levels get a write-intent
    /// bitmap). A job follows the initial resync; --wait prints its progress.
    Create {
        /// The array name: 1-32 of a-z, 0-9, '_', '-', starting with a letter (/dev/md/NAME).
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        /// raid0, raid1, raid5, raid6 or raid10.
        #[arg(long)]
        level: corenas_proto::raid::RaidLevel,
        /// A data member (/dev/sdX or /dev/disk/by-id/...); repeat for each, in slot order.
        #[arg(long = "device", required = true)]
        devices: Vec<DevicePath>,
        /// A hot spare; repeat for each.
        #[arg(long = "spare")]
        spares: Vec<DevicePath>,
        /// Chunk size in KiB for raid0/5/6/10 (a power of two, 4-1024).
        #[arg(long)]
        chunk_kib: Option<u32>,
        /// Follow the resync job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Add a device: it becomes a spare, or is rebuilt into a missing slot at once (a job).
    Add {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
        /// Follow the rebuild job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Mark a member faulty (the array runs degraded until it is replaced).
    Fail {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
    },
    /// Remove a failed member or a spare from the array.
    Remove {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
    },
    /// Stop an array nothing uses and erase its members' md superblocks; needs --force.
    Destroy {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        /// Really destroy.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LvmCommand {
    /// List physical volumes, volume groups and volumes.
    List,
    /// Create a volume group from free devices (each becomes a physical volume).
    VgCreate {
        /// The group name (letters, digits, '+', '_', '.', '-').
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::VgName,
        /// A device (/dev/sdX or /dev/disk/by-id/...); repeat for each.
        #[arg(long = "device", required = true)]
        devices: Vec<DevicePath>,
        /// Overwrite existing filesystem signatures on the devices.
        #[arg(long)]
        force: bool,
    },
    /// Remove an empty volume group; its devices lose their LVM labels.
    VgRemove {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::VgName,
    },
    /// Create a linear volume: --size 10G, 50%FREE or 100%VG.
    LvCreate {
        /// The group.
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        /// The volume name.
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        #[arg(long)]
        size: corenas_proto::lvm::LvSize,
    },
    /// Grow a volume: --size 20G (new size), +5G (increase) or +100%FREE.
    LvExtend {
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        #[arg(long, allow_hyphen_values = true)]
        size: corenas_proto::lvm::LvGrow,
        /// Grow the filesystem on it as well.
        #[arg(long)]
        resize_fs: bool,
    },
    /// Remove a volume nothing uses; its data is lost. Needs --force.
    LvRemove {
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        /// Really remove.
        #[arg(long)]
        force: bool,
    },
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

/// A whole number up to `max`, for `field`; the message says what is accepted.
fn whole_number(s: &str, field: &'static str, what: &str, min: u32, max: u32) -> Result<u32, ValidationError> {
    parse_decimal(s).filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        ValidationError::new(field, format!("{what} '{}' is invalid: use a whole number from {min} to {max}", shown(s)))
    })
}

fn ashift(s: &str) -> Result<u8, ValidationError> {
    let n = whole_number(s, "ashift", "ashift", 9, 16)?;
    u8::try_from(n).map_err(|_| ValidationError::new("ashift", "ashift is out of range"))
}

fn history_limit(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "limit", "limit", 1, 500)
}

fn event_seq(s: &str) -> Result<u64, ValidationError> {
    s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u64>().ok()).flatten().filter(|_| !s.is_empty()).ok_or_else(
        || ValidationError::new("after", format!("sequence number '{}' is invalid: use a whole number", shown(s))),
    )
}

fn event_wait(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "wait_ms", "wait", 0, 5000)
}

fn event_count(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "count", "event count", 1, 100_000)
}

fn wipe_samples(s: &str) -> Result<u16, ValidationError> {
    let n = whole_number(s, "samples", "sample count", 0, 1024)?;
    u16::try_from(n).map_err(|_| ValidationError::new("samples", "the sample count is out of range"))
}

fn keep_count(s: &str) -> Result<u16, ValidationError> {
    let n = whole_number(s, "keep", "snapshot count", 0, 1000)?;
    u16::try_from(n).map_err(|_| ValidationError::new("keep", "the snapshot count is out of range"))
}

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

/// `Some(true)` for the first flag, `Some(false)` for the second, `None` for neither.
fn pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
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

fn create_mask(s: &str) -> Result<FileMode, ValidationError> {
    s.parse::<FileMode>().map_err(|e| ValidationError::new("create_mask", e.message))
}

fn directory_mask(s: &str) -> Result<FileMode, ValidationError> {
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
    const NAMES: &'static [&'static str] = &["ext4", "xfs", "btrfs", "vfat", "bind", "nfs", "cifs"];

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
fn timeout_secs(s: &str) -> Result<u16, ValidationError> {
    let n = parse_decimal(s).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
        ValidationError::new("timeout", format!("timeout '{}' is invalid: use a whole number of seconds", shown(s)))
    })?;
    corenas_proto::mounts::check_timeout(n)?;
    Ok(n)
}

/// A job or archive id as corenasd hands them out: 1-64 of A-Z, a-z, 0-9, '_' and '-', starting
/// with a letter or digit. corenasd decides whether it exists; this only keeps option-like or
/// path-like text from being sent at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ObjectId> for String {
    fn from(id: ObjectId) -> String {
        id.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ObjectId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "id",
                format!(
                    "id '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '_', '-', starting with a letter or digit",
                    corenas_proto::names::shown(s)
                ),
            ))
        }
    }
}

/// `--max-rate`: a whole number of bytes per second, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRate(u64);

impl ByteRate {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for ByteRate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            ValidationError::new(
                "max_rate",
                format!(
                    "max rate '{}' is invalid: use a whole number of bytes per second from 1 to {}",
                    corenas_proto::names::shown(s),
                    u64::MAX
                ),
            )
        };
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(err()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// A proto type parsed with its own `FromStr` (so the `ValidationError` stays the error's source
/// and names the field), that also lists its few valid values for help and completions.
#[derive(Debug)]
pub struct Listed<T> {
    values: &'static [&'static str],
    _type: PhantomData<fn() -> T>,
}

impl<T> Listed<T> {
    pub fn new(values: &'static [&'static str]) -> Self {
        Self { values, _type: PhantomData }
    }
}

impl<T> Clone for Listed<T> {
    fn clone(&self) -> Self {
        Self::new(self.values)
    }
}

impl<T> TypedValueParser for Listed<T>
where
    T: std::str::FromStr<Err = ValidationError> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        StringValueParser::new().try_map(|s: String| s.parse::<T>()).parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().map(|v| PossibleValue::new(*v))))
    }
}

/// Whether `--json` was asked for, looked up without clap so that even a command line clap
/// refuses can be answered in JSON.
pub fn json_requested(args: &[OsString]) -> bool {
    args.iter().skip(1).take_while(|a| a.as_os_str() != "--").any(|a| a.as_os_str() == "--json")
}

/// The validation error behind a refused value, when clap refused it because a proto type did.
pub fn validation_error(err: &clap::Error) -> Option<&ValidationError> {
    std::error::Error::source(err)?.downcast_ref::<ValidationError>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::{ArgAction, CommandFactory};

    fn refused(args: &[&str]) -> clap::Error {
        let mut argv = vec!["corenas-ctl"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => panic!("{args:?} was accepted: {cli:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_are_refused_with_exit_2_naming_the_field() {
        for (args, field, says) in [
            (&["user", "add", "Max!", "--kind", "share"][..], "user", "user name 'Max!' is invalid"),
            (&["user", "add", "-c/srv/evil", "--kind", "share"][..], "user", "user name '-c/srv/evil' is invalid"),
            (&["user", "del", "-rf"], "user", "user name '-rf' is invalid"),
            (&["acl", "set", "-b", "u:alice:rwx"], "path", "path '-b' is invalid"),
            (&["acl", "get", "--set=u::rwx,g::---,o::---"], "path", "path '--set=u::rwx,g::---,o::---' is invalid"),
            (&["user", "add", "alice", "--kind", "root"], "kind", "account kind 'root' is invalid"),
            (&["user", "add", "alice", "--kind", "share", "--uid", "0"], "uid", "uid 0 is outside the managed ranges"),
            (&["user", "add", "alice", "--kind", "share", "--uid", "1e3"], "uid", "uid '1e3' is invalid"),
            (&["user", "add", "alice", "--kind", "share", "--shell", "/tmp/sh"], "shell", "shell '/tmp/sh' is invalid"),
            (
                &["user", "add", "alice", "--kind", "share", "--full-name", "a:b"],
                "full_name",
                "full name 'a:b' is invalid",
            ),
            (
                &["user", "add", "alice", "--kind", "share", "--group", "Staff"],
                "group",
                "group name 'Staff' is invalid",
            ),
            (&["user", "mod", "alice", "--add-group", "x y"], "group", "group name 'x y' is invalid"),
            (&["user", "del", "root:x"], "user", "user name 'root:x' is invalid"),
            (&["group", "add", "staff", "--kind", "admin", "--gid", "1000"], "gid", "gid 1000 is outside"),
            (&["group", "mod", "staff", "--add-member", "Bob"], "user", "user name 'Bob' is invalid"),
            (&["acl", "get", "storage/x"], "path", "path 'storage/x' is invalid"),
            (&["acl", "set", "/storage/../etc", "u:alice:rwx"], "path", "'.' and '..' components"),
            (&["acl", "set", "/storage/x", "u:alice:rwxx"], "acl", "ACL entry 'u:alice:rwxx' is invalid"),
            (&["acl", "remove", "/storage/x", "u:alice:rwx"], "acl", "give no permissions"),
        ] {
            let err = refused(args);
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let text = err.to_string();
            assert!(text.contains(says), "{args:?}: {text}");
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
            let v = validation_error(&err).unwrap_or_else(|| panic!("{args:?}: no ValidationError behind {text}"));
            assert_eq!(v.field, field, "{args:?}");
        }
    }

    #[test]
    fn usage_mistakes_are_refused_with_exit_2() {
        for args in [
            &["user", "add", "alice"][..],
            &["user", "mod", "alice"],
            &["user", "mod", "alice", "--lock", "--unlock"],
            &["user", "add", "alice", "--kind", "share", "--password-stdin", "--generate-password"],
            &["user", "smb", "alice", "purge"],
            &["group", "mod", "staff"],
            &["acl", "set", "/storage/x"],
            &["acl", "set", "/storage/x", "-b"],
            &["log", "view", "--limit", "0"],
            &["log", "view", "--limit", "501"],
            &["log", "view", "--before", "-1"],
            &["completions", "powershell"],
        ] {
            assert_eq!(refused(args).exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn good_command_lines_parse() {
        let cli = Cli::try_parse_from([
            "corenas-ctl",
            "--json",
            "user",
            "add",
            "alice",
            "--kind",
            "share-user",
            "--uid",
            "50001",
            "--group",
            "staff",
            "--group",
            "media",
            "--shell",
            "/bin/bash",
            "--no-home",
            "--dry-run",
        ])
        .unwrap();
        assert!(cli.json && cli.dry_run);
        let Command::User(UserCommand::Add(a)) = cli.command else { panic!("wrong command") };
        assert_eq!(a.kind, AccountKind::ShareUser);
        assert_eq!(a.uid.map(ManagedUid::get), Some(50001));
        assert_eq!(a.groups.len(), 2);
        assert!(a.no_home && !a.password_stdin && !a.generate_password);

        let cli =
            Cli::try_parse_from(["corenas-ctl", "acl", "set", "/storage/p", "u:alice:rwx", "d:g:staff:r-x"]).unwrap();
        let Command::Acl(AclCommand::Set { entries, recursive, .. }) = cli.command else { panic!("wrong command") };
        assert_eq!(entries.len(), 2);
        assert!(!recursive);

        let cli = Cli::try_parse_from(["corenas-ctl", "user", "mod", "bob", "--unlock"]).unwrap();
        let Command::User(UserCommand::Mod(m)) = cli.command else { panic!("wrong command") };
        assert_eq!(m.lock_change(), Some(false));
    }

    #[test]
    fn imaging_command_lines_parse_into_proto_types() {
        let cli = Cli::try_parse_from([
            "corenas-ctl",
            "image",
            "create",
            "disc-1.2025",
            "--device",
            "/dev/disk/by-id/usb-Drive_0:0",
            "--retries=0",
            "--priority",
            "low",
            "--max-rate",
            "1048576",
        ])
        .unwrap();
        let Command::Image(ImageCommand::Create(a)) = cli.command else { panic!("wrong command") };
        assert_eq!((a.name.as_str(), a.device.as_str()), ("disc-1.2025", "/dev/disk/by-id/usb-Drive_0:0"));
        assert_eq!((a.retries.get(), a.priority, a.max_rate.map(ByteRate::get)), (0, Priority::Low, Some(1 << 20)));

        let cli = Cli::try_parse_from(["corenas-ctl", "image", "list", "--status", "completed_with_errors"]).unwrap();
        let Command::Image(ImageCommand::List { status, sort, page }) = cli.command else { panic!("wrong command") };
        assert_eq!(
            (status, sort, page.limit, page.offset),
            (Some(JobState::CompletedWithErrors), JobSort::Created, 50, 0)
        );

        let cli = Cli::try_parse_from(["corenas-ctl", "archive", "tag", "arc_000001", "--notes", "-- side B"]).unwrap();
        let Command::Archive(ArchiveCommand::Tag { id, notes, .. }) = cli.command else { panic!("wrong command") };
        assert_eq!((id.as_str(), notes.as_ref().map(Note::as_str)), ("arc_000001", Some("-- side B")));

        assert_eq!(JOB_STATES, JobState::ALL.map(JobState::as_str), "--status lists every state");
        assert_eq!(delete_partial(true, false), Some(true));
        assert_eq!(delete_partial(false, true), Some(false));
        assert_eq!(delete_partial(false, false), None);
    }

    #[test]
    fn ids_and_rates_are_checked_here() {
        for ok in ["job_000001", "arc_000001", "0f3a-9b"] {
            assert!(ok.parse::<ObjectId>().is_ok(), "{ok}");
        }
        for bad in ["", "-x", "_x", "a/b", "a b", "../x", "x;y", "é", &"a".repeat(65)] {
            assert_eq!(bad.parse::<ObjectId>().unwrap_err().field, "id", "{bad:?}");
        }
        assert_eq!("18446744073709551615".parse::<ByteRate>().map(ByteRate::get), Ok(u64::MAX));
        for bad in ["0", "-1", "+5", "1e6", "10M", "18446744073709551616", " 5", ""] {
            assert_eq!(bad.parse::<ByteRate>().unwrap_err().field, "max_rate", "{bad:?}");
        }
    }

    #[test]
    fn nfs_client_rules_take_their_options_off_the_end() {
        for (text, client, read_only, no_root_squash) in [
            ("192.168.1.0/24", "192.168.1.0/24", false, false),
            ("backup.lan:ro", "backup.lan", true, false),
            ("10.0.0.5:no_root_squash", "10.0.0.5", false, true),
            ("x:ro:no_root_squash", "x", true, true),
            ("x:no_root_squash:ro", "x", true, true),
            ("x:rw:root_squash", "x", false, false),
            ("*.example.com:ro", "*.example.com", true, false),
            ("fd00::1", "fd00::1", false, false),
            ("fd00::", "fd00::", false, false),
            ("fd00::/64:ro", "fd00::/64", true, false),
            ("[fd00::1]:ro:no_root_squash", "fd00::1", true, true),
            ("[10.0.0.1]", "10.0.0.1", false, false),
        ] {
            let NfsClientRule(rule) = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (rule.client.as_str(), rule.read_only, rule.no_root_squash),
                (client, read_only, no_root_squash),
                "{text}"
            );
        }
        for bad in [
            "",
            "x:",
            ":ro",
            "x:ro:rw",
            "x:ro:ro",
            "x:no_root_squash:root_squash",
            "x:RO",
            "x:insecure",
            "x:ro:",
            "[fd00::1",
            "fd00::1]",
            "[x]y",
            "x(rw)",
            "*",
            "10.0.0.0/33",
            "fd00::ro",
            "x,y:ro",
        ] {
            let e = bad.parse::<NfsClientRule>().unwrap_err();
            assert_eq!(e.field, "client", "{bad:?}");
        }
        let e = "x:ro:ro".parse::<NfsClientRule>().unwrap_err();
        assert!(e.message.contains("at most once"), "{}", e.message);
    }

    #[test]
    fn share_and_mount_usage_mistakes_are_refused_with_exit_2() {
        let add = |extra: &[&'static str]| {
            let mut v = vec!["mount", "add", "--target", "/mnt/corenas/x"];
            v.extend_from_slice(extra);
            v
        };
        for args in [
            vec!["share", "create"],
            vec!["share", "create", "m", "--smb", "--read-only", "--writable"],
            vec!["share", "create", "m", "--smb", "--guest", "--no-guest"],
            vec!["share", "create", "m", "--smb", "--any-user", "--valid-user", "alice"],
            vec!["share", "create", "m", "--smb", "--admin-user", "alice", "--no-admin-users"],
            vec!["share", "create", "m", "--smb", "--previous-versions", "zfs", "--no-previous-versions"],
            vec!["share", "create", "m", "--smb", "--writers", "staff"],
            vec!["share", "create", "m", "--smb", "--private", "alice", "--group-rw", "staff"],
            vec!["share", "create", "m", "--smb", "--group-rw", "staff", "--public-read"],
            vec!["share", "mod", "m", "--smb", "--no-smb"],
            vec!["share", "mod", "m", "--nfs", "--no-nfs"],
            vec!["share", "mod", "m", "--no-smb", "--read-only"],
            vec!["share", "mod", "m", "--no-nfs", "--nfs-client", "10.0.0.1"],
            vec!["share", "acl", "m"],
            vec!["share", "acl", "m", "--writers", "staff"],
            vec!["share", "homes", "maybe"],
            vec!["share", "homes"],
            vec!["mount", "add", "--type", "nfs", "--source", "h:/x"],
            add(&["--source", "h:/x"]),
            add(&["--type", "nfs"]),
            add(&["--type", "cifs", "--source", "//h/s", "--user", "u", "--password", "secret"]),
            vec!["mount", "remove"],
        ] {
            assert_eq!(refused(&args).exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn share_flags_parse_into_proto_types() {
        let cli = Cli::try_parse_from([
            "corenas-ctl",
            "share",
            "mod",
            "media",
            "--no-nfs",
            "--writable",
            "--previous-versions",
            "zfs",
            "--create-mask",
            "0600",
            "--public-read",
            "--writers",
            "staff",
        ])
        .unwrap();
        let Command::Share(ShareCommand::Mod(m)) = cli.command else { panic!("wrong command") };
        assert!(m.no_nfs && !m.no_smb && m.touches_protocols() && m.smb_options.any());
        let mut o = SmbOptions { read_only: true, ..SmbOptions::default() };
        m.smb_options.apply(&mut o);
        assert_eq!(
            o,
            SmbOptions {
                previous_versions: Some(SnapshotLayout::Zfs),
                create_mask: FileMode::new_unchecked(0o600),
                ..SmbOptions::default()
            }
        );
        assert_eq!(m.access.template(), Some(AccessTemplate::PublicRead { writers: Some("staff".parse().unwrap()) }));

        // Flags that are not given change nothing.
        let cli = Cli::try_parse_from(["corenas-ctl", "share", "mod", "media", "--private", "alice"]).unwrap();
        let Command::Share(ShareCommand::Mod(m)) = cli.command else { panic!("wrong command") };
        assert!(!m.touches_protocols() && !m.smb_options.any());
        let odd = SmbOptions { guest_ok: true, browseable: false, ..SmbOptions::default() };
        let mut o = odd.clone();
        m.smb_options.apply(&mut o);
        assert_eq!(o, odd);

        let cli = Cli::try_parse_from(["corenas-ctl", "share", "homes", "off"]).unwrap();
        assert!(matches!(cli.command, Command::Share(ShareCommand::Homes { state: OnOff::Off })));
        assert_eq!(MountType::NAMES, MountType::ALL.map(MountType::as_str), "--type lists every type");
    }

    #[test]
    fn the_socket_has_a_default() {
        let cli = Cli::try_parse_from(["corenas-ctl", "system", "status"]).unwrap();
        // CORENAS_SOCKET may be set in the environment running the tests.
        if std::env::var_os("CORENAS_SOCKET").is_none() {
            assert_eq!(cli.socket, PathBuf::from(DEFAULT_SOCKET));
        }
        let cli = Cli::try_parse_from(["corenas-ctl", "system", "status", "--socket", "/tmp/s"]).unwrap();
        assert_eq!(cli.socket, PathBuf::from("/tmp/s"));
    }

    #[test]
    fn a_password_is_never_an_argument() {
        for args in [
            &["user", "add", "alice", "--kind", "share", "--password", "Correct-Horse-9"][..],
            &["user", "add", "alice", "--kind", "share", "--password=Correct-Horse-9"],
            &["user", "add", "alice", "--kind", "share", "--password-stdin=Correct-Horse-9"],
            &["user", "add", "alice", "--kind", "share", "Correct-Horse-9"],
            &["user", "set-password", "alice", "Correct-Horse-9"],
            &["user", "set-password", "alice", "--password-stdin", "Correct-Horse-9"],
            &["user", "set-smb-password", "alice", "Correct-Horse-9"],
        ] {
            let err = refused(args);
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_ne!(err.kind(), ErrorKind::ValueValidation, "{args:?} reached a value parser");
        }

        // Structurally: no argument anywhere whose name mentions a password takes a value.
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id.contains("password") {
                    assert!(
                        matches!(arg.get_action(), ArgAction::SetTrue),
                        "{path} {id} takes a value; passwords must come from a prompt or stdin"
                    );
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "corenas-ctl");
    }

    #[test]
    fn json_is_detected_before_parsing() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(json_requested(&args(&["corenas-ctl", "user", "add", "Max!", "--json"])));
        assert!(!json_requested(&args(&["corenas-ctl", "user", "add", "Max!"])));
        assert!(!json_requested(&args(&["corenas-ctl", "acl", "set", "--", "--json"])));
        assert!(!json_requested(&args(&["--json"])));
    }
}
