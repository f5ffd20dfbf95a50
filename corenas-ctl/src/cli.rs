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
use corenas_proto::names::{
    AccountKind, DevicePath, FullName, GroupName, JobName, ManagedGid, ManagedUid, Note, SHELLS, SearchText, SharePath,
    Shell, Tag, UserName,
};
use std::ffi::{OsStr, OsString};
use std::marker::PhantomData;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/corenas/corenasd.sock";

/// Manage CoreNAS accounts, ACLs, the audit log and disc imaging through corenasd.
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
    /// Block devices that can be imaged.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Print a shell completion script on stdout (needs no daemon).
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff) on stdout (needs no daemon).
    Man,
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

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List block devices with their media and whether they are in use.
    List,
    /// Eject the medium (optical drives; loop devices are detached).
    Eject {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
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
