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
use corenas_proto::names::{
    AccountKind, FullName, GroupName, ManagedGid, ManagedUid, SHELLS, SharePath, Shell, UserName,
};
use std::ffi::{OsStr, OsString};
use std::marker::PhantomData;
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/corenas/corenasd.sock";

/// Manage CoreNAS accounts, ACLs and the audit log through corenasd.
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
