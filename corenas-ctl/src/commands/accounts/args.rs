//! `user` and `group` arguments. Passwords are never arguments: they come from a prompt or
//! `--password-stdin` (argv is readable in /proc and lands in shell history).

use crate::values::Listed;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use corenas_proto::api::SmbAction;
use corenas_proto::names::{AccountKind, FullName, GroupName, ManagedGid, ManagedUid, SHELLS, Shell, UserName};

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
    /// Share users: 50000-59999 or 65536-100000 (Debian reserves 60000-65535).
    #[arg(long, value_name = "N")]
    pub uid: Option<ManagedUid>,
    /// The full name (GECOS).
    #[arg(long, value_name = "TEXT")]
    pub full_name: Option<FullName>,
    /// The login shell (default /usr/sbin/nologin; only root at the console may choose another).
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
        /// The gid; chosen from the kind's range when absent. Share groups: 50000-59999 or
        /// 65536-100000 (Debian reserves 60000-65535).
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
