//! The command tree and the dispatcher: [`Cli`] names every group's arguments, and [`dispatch`]
//! hands each group what it needs (socket, `--dry-run`, `--json`).
//!
//! The only module that knows all groups. No group imports it; a new group is a folder or file
//! here plus one variant and one dispatch arm.

pub(crate) mod accounts;
pub(crate) mod acl;
pub(crate) mod alert;
pub(crate) mod backup;
pub(crate) mod config;
pub(crate) mod devices;
pub(crate) mod imaging;
pub(crate) mod log;
pub(crate) mod lvm;
pub(crate) mod meta;
pub(crate) mod monitor;
pub(crate) mod mounts;
pub(crate) mod raid;
pub(crate) mod shares;
pub(crate) mod storage;
pub(crate) mod system;
pub(crate) mod web;

use crate::cli::Global;
use crate::commands::accounts::args::{GroupCommand, UserCommand};
use crate::commands::accounts::run::{group, user};
use crate::commands::acl::{AclCommand, acl};
use crate::commands::alert::args::AlertCommand;
use crate::commands::alert::run::alert;
use crate::commands::backup::args::BackupCommand;
use crate::commands::backup::run::backup;
use crate::commands::config::{ConfigCommand, config, config_daemon};
use crate::commands::devices::args::BlockDeviceCommand;
use crate::commands::devices::run::device;
use crate::commands::imaging::args::{ArchiveCommand, ImageCommand};
use crate::commands::imaging::run::{archive, image};
use crate::commands::log::{LogCommand, log};
use crate::commands::lvm::{LvmCommand, lvm};
use crate::commands::meta::CompletionShell;
use crate::commands::monitor::args::MonitorCommand;
use crate::commands::monitor::run::monitor;
use crate::commands::mounts::args::MountCommand;
use crate::commands::mounts::run::mount;
use crate::commands::raid::{RaidCommand, raid};
use crate::commands::shares::args::ShareCommand;
use crate::commands::shares::run::share;
use crate::commands::storage::args::StorageCommand;
use crate::commands::storage::run::storage;
use crate::commands::system::SystemCommand;
use crate::commands::web::{WebCommand, web};
use crate::error::CtlError;
use crate::report::{Report, finish};
use clap::{CommandFactory, Parser, Subcommand};
use corenas_proto::ErrorCode;
use std::process::ExitCode;

/// Manage CoreNAS accounts, ACLs, storage, shares, mounts, the audit log and disc imaging through corenasd.
#[derive(Debug, Parser)]
#[command(name = "corenas-ctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

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
    /// Alerts, silences, delivery per class, and the channels alerts go to (mail, webhooks).
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Backups of shares, datasets and pools into restic repositories: targets, tasks,
    /// retention, snapshots.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Health at a glance, collectors, and the schedules of scrubs and SMART self-tests.
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// The configuration file /etc/corenas/corenas.conf (`check` needs no daemon), and the
    /// configuration archive of CoreNAS itself (`backup`, `restore`, `backups`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script on stdout (needs no daemon).
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff) on stdout, or with --dir write it and one page per command
    /// (corenas-ctl-raid.8, ...: section 8, a command for root) into a directory (no daemon).
    Man {
        /// Write corenas-ctl.8 and corenas-ctl-COMMAND.8 here instead of printing.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    finish(json, execute(cli))
}

/// Completions and the manual need no daemon and no runtime; everything else runs one group.
pub(crate) fn execute(cli: Cli) -> Result<Report, CtlError> {
    match cli.command {
        Command::Completions { shell } => return Ok(Report::Raw(meta::completions(shell, Cli::command()))),
        Command::Man { dir: None } => return meta::man(Cli::command()).map(Report::Raw),
        Command::Man { dir: Some(dir) } => return meta::man_pages(Cli::command(), &dir),
        Command::Config(cmd) if !cmd.needs_daemon() => return config(cmd),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli))
}

/// Hands each group its arguments and only the global values it uses.
async fn dispatch(cli: Cli) -> Result<Report, CtlError> {
    let Global { socket, json, dry_run } = &cli.global;
    let (socket, json, dry_run) = (socket.as_path(), *json, *dry_run);
    match cli.command {
        Command::User(cmd) => user(cmd, socket, dry_run).await,
        Command::Group(cmd) => group(cmd, socket, dry_run).await,
        Command::Acl(cmd) => acl(cmd, socket, dry_run).await,
        Command::Log(cmd) => log(cmd, socket).await,
        Command::System(cmd) => system::system(cmd, socket).await,
        Command::Web(cmd) => web(cmd, socket, dry_run).await,
        Command::Image(cmd) => image(cmd, socket, dry_run, json).await,
        Command::Archive(cmd) => archive(cmd, socket, dry_run, json).await,
        Command::Device(cmd) => device(cmd, socket, dry_run, json).await,
        Command::Storage(cmd) => storage(cmd, socket, dry_run, json).await,
        Command::Raid(cmd) => raid(cmd, socket, dry_run, json).await,
        Command::Lvm(cmd) => lvm(cmd, socket, dry_run).await,
        Command::Share(cmd) => share(cmd, socket, dry_run).await,
        Command::Mount(cmd) => mount(cmd, socket, dry_run).await,
        Command::Alert(cmd) => alert(cmd, socket, dry_run).await,
        Command::Backup(cmd) => backup(cmd, socket, dry_run).await,
        Command::Monitor(cmd) => monitor(cmd, socket, dry_run).await,
        Command::Completions { shell } => Ok(Report::Raw(meta::completions(shell, Cli::command()))),
        Command::Config(cmd) => config_daemon(cmd, socket, dry_run).await,
        Command::Man { .. } => unreachable!("answered before connecting"),
    }
}

#[cfg(test)]
mod tests {
    /// Every `crate::` path in the sources, as (file relative to src/, first two segments).
    fn crate_paths() -> Vec<(String, String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let mut paths = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = file.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let mut segments =
                    rest.split("::").map(|s| s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap());
                let first = segments.next().unwrap_or_default().to_owned();
                let second = segments.next().unwrap_or_default().to_owned();
                paths.push((name.clone(), first, second));
            }
        }
        paths
    }

    /// The module graph: a group names only the floor, proto and its own files, never another
    /// group or this dispatcher; the floor names no group. `testing.rs` is the one exception: it
    /// runs whole command lines through the dispatcher, and is compiled for tests only.
    #[test]
    fn groups_import_only_the_floor_and_themselves() {
        let paths = crate_paths();
        assert!(paths.iter().any(|(f, ..)| f.starts_with("commands/storage/")), "the scan found the groups");
        for (file, first, second) in &paths {
            if let Some(rest) = file.strip_prefix("commands/").filter(|r| *r != "mod.rs") {
                let own = rest.split(['/', '.']).next().unwrap();
                if first == "commands" {
                    assert_eq!(second, own, "{file} reaches into crate::commands::{second}");
                }
            } else if file != "main.rs" && file != "testing.rs" && !file.starts_with("commands/") {
                assert_ne!(first, "commands", "the floor file {file} imports a command group");
            }
        }
    }

    use super::*;
    use crate::cli::DEFAULT_SOCKET;
    use crate::commands::accounts::args::UserCommand;
    use crate::commands::acl::AclCommand;
    use crate::commands::imaging::args::{ArchiveCommand, ImageCommand, JOB_STATES, delete_partial};
    use clap::error::ErrorKind;
    use clap::{ArgAction, CommandFactory};
    use corenas_proto::imaging::JobSort;
    use corenas_proto::imaging::JobState;
    use corenas_proto::imaging::Priority;
    use corenas_proto::names::AccountKind;
    use corenas_proto::names::ManagedUid;
    use corenas_proto::names::Note;
    use corenas_proto::shares::AccessTemplate;
    use corenas_proto::shares::FileMode;
    use corenas_proto::shares::SmbOptions;
    use corenas_proto::shares::SnapshotLayout;
    use std::path::PathBuf;

    use crate::commands::mounts::args::MountType;
    use crate::commands::shares::args::{NfsClientRule, ShareCommand};
    use crate::values::{ByteRate, OnOff, validation_error};

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
        assert!(cli.global.json && cli.global.dry_run);
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
            assert_eq!(cli.global.socket, PathBuf::from(DEFAULT_SOCKET));
        }
        let cli = Cli::try_parse_from(["corenas-ctl", "system", "status", "--socket", "/tmp/s"]).unwrap();
        assert_eq!(cli.global.socket, PathBuf::from("/tmp/s"));
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
                // `--password-file` names where a password is, never the password itself.
                if id.contains("password") && !id.ends_with("_file") {
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
}
