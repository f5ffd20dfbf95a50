//! The share and mount commands. Requests are built here from values clap already parsed into
//! their proto types; what only makes sense in combination (an SMB option without --smb, a
//! `--source` in the form its `--type` needs, `--user` for a CIFS mount only) is checked here,
//! before anything is sent. Policy (guest shares, root squash, what may be mounted where) is
//! corenasd's; the answers are rendered by `output`.

use crate::cli::{MountAddArgs, MountCommand, MountType, ShareCommand, ShareCreateArgs, ShareModArgs};
use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::output::{self, Report};
use corenas_proto::mounts::{CifsCredentials, LocalFs, MountDef, MountSource};
use corenas_proto::names::{BindSource, DevicePath, HostName, RemotePath, RemoteShare, shown};
use corenas_proto::secret::RemoteSecret;
use corenas_proto::shares::{NfsOptions, NfsRule, ShareCreate, ShareDef, ShareModify, SmbOptions};
use std::io::{self, Read};
use std::path::Path;

pub async fn share(cmd: ShareCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        ShareCommand::Create(a) => {
            let req = create_request(a)?;
            let change = call!(socket => share_create(req, dry_run))?;
            output::change_report(&change, output::share_block)
        }
        ShareCommand::Mod(a) => {
            if !a.touches_protocols() && a.access.template().is_none() {
                return Err(CtlError::usage(
                    "change",
                    "nothing to change: give SMB options, --smb/--no-smb, --nfs-client, --nfs/--no-nfs, or an \
                     access template (--private, --group-rw, --public-read)",
                ));
            }
            let d = Daemon::connect(socket).await?;
            // SmbOptions travel whole, so the flags given are applied to what the share has now.
            let current = if a.touches_protocols() { Some(call!(d, share_show(a.name.clone()))?.def) } else { None };
            let change = modify_request(&a, current.as_ref())?;
            let change = call!(d, share_modify(a.name, change, dry_run))?;
            output::change_report(&change, output::share_block)
        }
        ShareCommand::Acl { name, access } => {
            let change = ShareModify { access: access.template(), ..ShareModify::default() };
            let change = call!(socket => share_modify(name, change, dry_run))?;
            output::change_report(&change, output::share_block)
        }
        ShareCommand::Del { name } => {
            let change = call!(socket => share_delete(name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        ShareCommand::List => {
            let shares = call!(socket => share_list())?;
            Ok(Report::ok(output::shares_table(&shares), output::to_json(&shares)?))
        }
        ShareCommand::Show { name } => {
            let share = call!(socket => share_show(name))?;
            Ok(Report::ok(output::share_block(&share), output::to_json(&share)?))
        }
        ShareCommand::Homes { state } => {
            let d = Daemon::connect(socket).await?;
            let on = state == crate::cli::OnOff::On;
            let change = call!(d, share_homes(on, dry_run))?;
            output::change_report(&change, output::homes_line)
        }
        ShareCommand::Config => {
            let config = call!(socket => share_config())?;
            Ok(Report::ok(output::share_config_text(&config), output::to_json(&config)?))
        }
        ShareCommand::Apply => {
            let change = call!(socket => share_apply(dry_run))?;
            output::change_report(&change, output::nothing)
        }
    }
}

pub async fn mount(cmd: MountCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        MountCommand::Add(a) => {
            // Everything is checked, and the password read, before connecting.
            let def = mount_def(&a, || remote_secret_from(io::stdin().lock()))?;
            let change = call!(socket => mount_add(def, dry_run))?;
            output::change_report(&change, output::mount_block)
        }
        MountCommand::Remove { target } => {
            let change = call!(socket => mount_remove(target, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        MountCommand::List => {
            let mounts = call!(socket => mount_list())?;
            Ok(Report::ok(output::mounts_table(&mounts), output::to_json(&mounts)?))
        }
        MountCommand::Status { target } => {
            let mount = call!(socket => mount_status(target))?;
            Ok(Report::ok(output::mount_block(&mount), output::to_json(&mount)?))
        }
        MountCommand::Reload => {
            let change = call!(socket => mount_reload(dry_run))?;
            output::change_report(&change, |mounts| output::mounts_table(mounts))
        }
    }
}

/// `share create`: the protocols asked for, each with its options.
fn create_request(a: ShareCreateArgs) -> Result<ShareCreate, CtlError> {
    if !a.smb && !a.nfs {
        return Err(CtlError::usage("protocol", "a share needs --smb, --nfs or both"));
    }
    if !a.smb && a.smb_options.any() {
        return Err(CtlError::usage("protocol", "SMB options were given without --smb: add --smb"));
    }
    let nfs = if a.nfs {
        Some(NfsOptions { rules: nfs_rules(&a.nfs_options.rules())? })
    } else if a.nfs_options.any() {
        return Err(CtlError::usage("protocol", "--nfs-client was given without --nfs: add --nfs"));
    } else {
        None
    };
    let smb = a.smb.then(|| {
        let mut o = SmbOptions::default();
        a.smb_options.apply(&mut o);
        o
    });
    Ok(ShareCreate { name: a.name, path: a.path, smb, nfs, access: a.access.template(), force: a.force })
}

/// The NFS client list: at least one, each client once.
fn nfs_rules(rules: &[NfsRule]) -> Result<Vec<NfsRule>, CtlError> {
    if rules.is_empty() {
        return Err(CtlError::usage(
            "client",
            "NFS needs at least one --nfs-client, e.g. --nfs-client 192.168.1.0/24 or --nfs-client backup.lan:ro",
        ));
    }
    for (i, r) in rules.iter().enumerate() {
        if rules[..i].iter().any(|earlier| earlier.client == r.client) {
            return Err(CtlError::usage(
                "client",
                format!("NFS client {} is given twice: give each client once, with its options", r.client),
            ));
        }
    }
    Ok(rules.to_vec())
}

/// `share mod`: the parts that change, each whole. `current` is the share as it is; it is needed
/// (and fetched) only when SMB or NFS is touched.
fn modify_request(a: &ShareModArgs, current: Option<&ShareDef>) -> Result<ShareModify, CtlError> {
    let mut change = ShareModify { access: a.access.template(), force: a.force, ..ShareModify::default() };
    if !a.touches_protocols() {
        return Ok(change);
    }
    let Some(current) = current else {
        return Err(CtlError::failed(corenas_proto::ErrorCode::Internal, "the share's current settings are missing"));
    };
    let name = &current.name;

    let smb = if a.no_smb {
        None
    } else if a.smb || a.smb_options.any() {
        let mut o = match (&current.smb, a.smb) {
            (Some(o), _) => o.clone(),
            (None, true) => SmbOptions::default(),
            (None, false) => {
                return Err(CtlError::usage(
                    "protocol",
                    format!("share {name} is not shared over SMB: add --smb to turn SMB on with these options"),
                ));
            }
        };
        a.smb_options.apply(&mut o);
        Some(o)
    } else {
        current.smb.clone()
    };

    let nfs = if a.no_nfs {
        None
    } else if a.nfs_options.any() {
        if current.nfs.is_none() && !a.nfs {
            return Err(CtlError::usage(
                "protocol",
                format!("share {name} is not shared over NFS: add --nfs to turn NFS on for these clients"),
            ));
        }
        Some(NfsOptions { rules: nfs_rules(&a.nfs_options.rules())? })
    } else if a.nfs && current.nfs.is_none() {
        nfs_rules(&[])?;
        None
    } else {
        current.nfs.clone()
    };

    if smb.is_none() && nfs.is_none() {
        return Err(CtlError::usage(
            "protocol",
            format!(
                "share {name} would be served by neither SMB nor NFS; `corenas-ctl share del {name}` stops serving it"
            ),
        ));
    }
    if smb != current.smb {
        change.smb = Some(smb);
    }
    if nfs != current.nfs {
        change.nfs = Some(nfs);
    }
    Ok(change)
}

/// `mount add`: the definition corenasd is sent. `password` is asked only for a CIFS login, after
/// everything else was found in order.
fn mount_def(
    a: &MountAddArgs,
    password: impl FnOnce() -> Result<RemoteSecret, CtlError>,
) -> Result<MountDef, CtlError> {
    let kind = a.kind;
    if a.nfs_version.is_some() && kind != MountType::Nfs {
        return Err(CtlError::usage("nfs_version", "--nfs-version is for --type nfs only"));
    }
    if kind != MountType::Cifs {
        for (given, field, flag) in [
            (a.user.is_some(), "user", "--user"),
            (a.domain.is_some(), "domain", "--domain"),
            (a.password_stdin, "password", "--password-stdin"),
        ] {
            if given {
                return Err(CtlError::usage(field, format!("{flag} is for --type cifs only")));
            }
        }
    }
    if a.domain.is_some() && a.user.is_none() {
        return Err(CtlError::usage("domain", "--domain needs --user"));
    }
    if a.password_stdin && a.user.is_none() {
        return Err(CtlError::usage(
            "password",
            "--password-stdin needs --user (without --user a CIFS mount is a guest mount)",
        ));
    }
    if a.user.is_some() && !a.password_stdin {
        return Err(CtlError::usage(
            "password",
            "a CIFS login needs its password: add --password-stdin and write the password as the first line of stdin",
        ));
    }
    let mut source = mount_source(kind, &a.source)?;
    match (&mut source, &a.user) {
        (MountSource::Nfs { version, .. }, _) => *version = a.nfs_version,
        (MountSource::Cifs { credentials, .. }, Some(user)) => {
            *credentials =
                Some(CifsCredentials { user: user.clone(), domain: a.domain.clone(), password: password()? });
        }
        _ => {}
    }
    let mut flags = Vec::with_capacity(a.options.len());
    for f in &a.options {
        if !flags.contains(f) {
            flags.push(*f);
        }
    }
    Ok(MountDef {
        source,
        target: a.target.clone(),
        flags,
        automount: a.automount,
        temporary: a.temporary,
        timeout_secs: a.timeout,
    })
}

/// `--source` read the way `--type` says; errors name the field `source` and show the form.
fn mount_source(kind: MountType, s: &str) -> Result<MountSource, CtlError> {
    let bad = |form: &str, why: &str| {
        CtlError::usage(
            "source",
            format!("source '{}' is invalid: for --type {} use {form}: {why}", shown(s), kind.as_str()),
        )
    };
    let local = |fs: LocalFs| {
        let form = "a block device such as /dev/sdb1 or /dev/disk/by-id/ID";
        let device = s.parse::<DevicePath>().map_err(|e| bad(form, &e.message))?;
        Ok(MountSource::Local { device, fs })
    };
    match kind {
        MountType::Ext4 => local(LocalFs::Ext4),
        MountType::Xfs => local(LocalFs::Xfs),
        MountType::Btrfs => local(LocalFs::Btrfs),
        MountType::Vfat => local(LocalFs::Vfat),
        MountType::Bind => {
            let form = "a directory beneath /mnt/corenas or /storage";
            let source = s.parse::<BindSource>().map_err(|e| bad(form, &e.message))?;
            Ok(MountSource::Bind { source })
        }
        MountType::Nfs => {
            let form = "HOST:/path, with an IPv6 address in brackets ([fd00::1]:/path)";
            let (host, path) = if let Some(rest) = s.strip_prefix('[') {
                rest.split_once("]:").ok_or_else(|| bad(form, "no ']:' after the address"))?
            } else {
                let (host, path) = s.split_once(':').ok_or_else(|| bad(form, "no ':' between server and path"))?;
                if path.contains(':') {
                    return Err(bad(form, "an IPv6 address needs brackets"));
                }
                (host, path)
            };
            let server = host.parse::<HostName>().map_err(|e| bad(form, &e.message))?;
            let export = path.parse::<RemotePath>().map_err(|e| bad(form, &e.message))?;
            Ok(MountSource::Nfs { server, export, version: None })
        }
        MountType::Cifs => {
            let form = "//HOST/SHARE";
            let rest = s.strip_prefix("//").ok_or_else(|| bad(form, "it does not start with //"))?;
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let (host, share) = rest.split_once('/').ok_or_else(|| bad(form, "no '/' between server and share"))?;
            if share.contains('/') {
                return Err(bad(form, "mount the share itself; a directory inside it cannot be the source"));
            }
            let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            let server = host.parse::<HostName>().map_err(|e| bad(form, &e.message))?;
            let share = share.parse::<RemoteShare>().map_err(|e| bad(form, &e.message))?;
            Ok(MountSource::Cifs { server, share, credentials: None })
        }
    }
}

/// `--password-stdin` for a CIFS login: the first line of stdin, checked as a [`RemoteSecret`]:
/// the other server chose the password, so CoreNAS's password policy does not apply.
fn remote_secret_from(input: impl Read) -> Result<RemoteSecret, CtlError> {
    Ok(RemoteSecret::new(crate::password::first_line(input)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use corenas_proto::mounts::{MountFlag, NfsVersion};
    use corenas_proto::shares::{AccessTemplate, FileMode, SnapshotLayout};

    fn parse(args: &[&str]) -> Command {
        let mut argv = vec!["corenas-ctl"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}")).command
    }

    fn create(args: &[&str]) -> Result<ShareCreate, CtlError> {
        let mut argv = vec!["share", "create"];
        argv.extend_from_slice(args);
        let Command::Share(ShareCommand::Create(a)) = parse(&argv) else { panic!("wrong command") };
        create_request(a)
    }

    fn usage_field<T: std::fmt::Debug>(r: Result<T, CtlError>) -> String {
        match r {
            Err(CtlError::Usage(e)) => e.field.unwrap_or_default(),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn create_builds_smb_options_from_the_defaults() {
        let req = create(&["media", "--smb"]).unwrap();
        assert_eq!(req.smb, Some(SmbOptions::default()));
        assert!(req.nfs.is_none() && req.path.is_none() && req.access.is_none() && !req.force);

        let req = create(&[
            "media",
            "--path",
            "/storage/pool1/media",
            "--smb",
            "--read-only",
            "--hidden",
            "--valid-user",
            "alice",
            "--valid-user",
            "bob",
            "--valid-group",
            "staff",
            "--admin-user",
            "carol",
            "--guest",
            "--recycle",
            "--previous-versions",
            "btrfs",
            "--audit",
            "--show-dot-files",
            "--create-mask",
            "0640",
            "--directory-mask",
            "750",
            "--force",
        ])
        .unwrap();
        let o = req.smb.unwrap();
        let names = |v: &[corenas_proto::names::UserName]| v.iter().map(|u| u.as_str().to_owned()).collect::<Vec<_>>();
        assert!(o.read_only && !o.browseable && o.guest_ok && o.recycle && o.audit && !o.hide_dot_files);
        assert_eq!(names(&o.valid_users), ["alice", "bob"]);
        assert_eq!(o.valid_groups[0].as_str(), "staff");
        assert_eq!(names(&o.admin_users), ["carol"]);
        assert_eq!(o.previous_versions, Some(SnapshotLayout::Btrfs));
        assert_eq!((o.create_mask.get(), o.directory_mask.get()), (0o640, 0o750));
        assert_eq!(req.path.unwrap().as_str(), "/storage/pool1/media");
        assert!(req.force);
    }

    #[test]
    fn create_builds_nfs_rules_and_the_access_template() {
        let req = create(&[
            "backup",
            "--nfs",
            "--nfs-client",
            "192.168.1.0/24",
            "--nfs-client",
            "backup.lan:ro",
            "--nfs-client",
            "10.0.0.5:no_root_squash",
            "--nfs-client",
            "fd00::/64:ro:no_root_squash",
            "--group-rw",
            "staff",
        ])
        .unwrap();
        assert!(req.smb.is_none());
        let rules: Vec<(String, bool, bool)> = req
            .nfs
            .unwrap()
            .rules
            .into_iter()
            .map(|r| (r.client.as_str().to_owned(), r.read_only, r.no_root_squash))
            .collect();
        assert_eq!(
            rules,
            [
                ("192.168.1.0/24".to_owned(), false, false),
                ("backup.lan".to_owned(), true, false),
                ("10.0.0.5".to_owned(), false, true),
                ("fd00::/64".to_owned(), true, true),
            ]
        );
        assert_eq!(req.access, Some(AccessTemplate::GroupReadWrite { group: "staff".parse().unwrap() }));

        let req = create(&["pub", "--smb", "--public-read", "--writers", "media"]).unwrap();
        assert_eq!(req.access, Some(AccessTemplate::PublicRead { writers: Some("media".parse().unwrap()) }));
        let req = create(&["home-alice", "--smb", "--private", "alice"]).unwrap();
        assert_eq!(req.access, Some(AccessTemplate::Private { user: "alice".parse().unwrap() }));
    }

    #[test]
    fn create_refuses_protocol_mistakes_naming_the_field() {
        assert_eq!(usage_field(create(&["media"])), "protocol");
        assert_eq!(usage_field(create(&["media", "--nfs", "--read-only"])), "protocol");
        assert_eq!(usage_field(create(&["media", "--smb", "--nfs-client", "10.0.0.1"])), "protocol");
        assert_eq!(usage_field(create(&["media", "--nfs"])), "client");
        assert_eq!(usage_field(create(&["media", "--nfs", "--nfs-client", "h1", "--nfs-client", "h1:ro"])), "client");
    }

    fn share_def(smb: Option<SmbOptions>, nfs: Option<NfsOptions>) -> ShareDef {
        ShareDef { name: "media".parse().unwrap(), path: "/storage/media".parse().unwrap(), smb, nfs }
    }

    fn rule(client: &str, read_only: bool) -> NfsRule {
        NfsRule { client: client.parse().unwrap(), read_only, no_root_squash: false }
    }

    fn modify(args: &[&str], current: &ShareDef) -> Result<ShareModify, CtlError> {
        let mut argv = vec!["share", "mod", "media"];
        argv.extend_from_slice(args);
        let Command::Share(ShareCommand::Mod(a)) = parse(&argv) else { panic!("wrong command") };
        modify_request(&a, Some(current))
    }

    #[test]
    fn mod_applies_flags_onto_the_current_smb_options() {
        let mut smb = SmbOptions {
            read_only: true,
            valid_users: vec!["alice".parse().unwrap()],
            recycle: true,
            ..SmbOptions::default()
        };
        smb.create_mask = FileMode::new_unchecked(0o600);
        let nfs = NfsOptions { rules: vec![rule("10.0.0.1", false)] };
        let current = share_def(Some(smb.clone()), Some(nfs));

        let m = modify(&["--writable", "--audit"], &current).unwrap();
        let new = m.smb.clone().unwrap().unwrap();
        assert!(!new.read_only && new.audit, "changed");
        assert!(new.recycle && new.valid_users == smb.valid_users && new.create_mask.get() == 0o600, "kept");
        assert!(m.nfs.is_none() && m.access.is_none(), "NFS and access are not touched");
    }

    #[test]
    fn mod_sends_only_what_changed() {
        let current = share_def(Some(SmbOptions::default()), Some(NfsOptions { rules: vec![rule("10.0.0.1", false)] }));
        // The same values as now: nothing of SMB is sent.
        let m = modify(&["--writable", "--browseable"], &current).unwrap();
        assert!(m.smb.is_none() && m.nfs.is_none());

        let m = modify(&["--nfs-client", "10.0.0.2:ro"], &current).unwrap();
        assert_eq!(m.nfs, Some(Some(NfsOptions { rules: vec![rule("10.0.0.2", true)] })));
        assert!(m.smb.is_none());

        let m = modify(&["--no-smb", "--force"], &current).unwrap();
        assert_eq!(m.smb, Some(None));
        assert!(m.force);

        let m = modify(&["--no-nfs", "--private", "alice"], &current).unwrap();
        assert_eq!(m.nfs, Some(None));
        assert_eq!(m.access, Some(AccessTemplate::Private { user: "alice".parse().unwrap() }));
    }

    #[test]
    fn mod_turns_a_protocol_on_with_defaults_or_says_how() {
        let smb_only = share_def(Some(SmbOptions::default()), None);
        let nfs_only = share_def(None, Some(NfsOptions { rules: vec![rule("10.0.0.1", false)] }));

        let m = modify(&["--smb", "--guest"], &nfs_only).unwrap();
        assert_eq!(m.smb, Some(Some(SmbOptions { guest_ok: true, ..SmbOptions::default() })));
        assert_eq!(usage_field(modify(&["--guest"], &nfs_only)), "protocol");

        let m = modify(&["--nfs", "--nfs-client", "*.example.com"], &smb_only).unwrap();
        assert_eq!(m.nfs, Some(Some(NfsOptions { rules: vec![rule("*.example.com", false)] })));
        assert_eq!(usage_field(modify(&["--nfs"], &smb_only)), "client");
        assert_eq!(usage_field(modify(&["--nfs-client", "10.0.0.9"], &smb_only)), "protocol");
        assert_eq!(usage_field(modify(&["--no-smb"], &smb_only)), "protocol");
        // Turning on what is on keeps its settings.
        let m = modify(&["--smb"], &smb_only).unwrap();
        assert!(m.smb.is_none());
    }

    #[test]
    fn mod_lists_are_replaced_or_cleared() {
        let smb = SmbOptions {
            valid_users: vec!["alice".parse().unwrap()],
            valid_groups: vec!["staff".parse().unwrap()],
            admin_users: vec!["bob".parse().unwrap()],
            ..SmbOptions::default()
        };
        let current = share_def(Some(smb), None);
        let new = modify(&["--valid-user", "carol"], &current).unwrap().smb.unwrap().unwrap();
        assert_eq!(new.valid_users[0].as_str(), "carol");
        assert_eq!(new.valid_groups[0].as_str(), "staff", "only the list named is replaced");
        let new = modify(&["--any-user", "--no-admin-users"], &current).unwrap().smb.unwrap().unwrap();
        assert!(new.valid_users.is_empty() && new.valid_groups.is_empty() && new.admin_users.is_empty());
    }

    fn mount_args(args: &[&str]) -> MountAddArgs {
        let mut argv = vec!["mount", "add", "--target", "/mnt/corenas/data"];
        argv.extend_from_slice(args);
        let Command::Mount(MountCommand::Add(a)) = parse(&argv) else { panic!("wrong command") };
        a
    }

    fn no_password() -> Result<RemoteSecret, CtlError> {
        panic!("no password should be asked for")
    }

    #[test]
    fn mount_add_builds_the_source_for_each_type() {
        let def = mount_def(&mount_args(&["--type", "xfs", "--source", "/dev/sdb1"]), no_password).unwrap();
        assert_eq!(def.source, MountSource::Local { device: "/dev/sdb1".parse().unwrap(), fs: LocalFs::Xfs });
        assert_eq!(def.target.as_str(), "/mnt/corenas/data");
        assert_eq!((def.timeout_secs, def.automount, def.temporary), (30, false, false));
        assert!(def.flags.is_empty());

        for (fs, kind) in [("ext4", LocalFs::Ext4), ("btrfs", LocalFs::Btrfs), ("vfat", LocalFs::Vfat)] {
            let a = mount_args(&["--type", fs, "--source", "/dev/disk/by-id/usb-Disk_1:0"]);
            assert!(matches!(mount_def(&a, no_password).unwrap().source, MountSource::Local { fs, .. } if fs == kind));
        }

        let a = mount_args(&[
            "--type",
            "bind",
            "--source",
            "/mnt/corenas/pool/media",
            "--option",
            "ro",
            "--option",
            "nosuid",
            "--option",
            "ro",
            "--temporary",
        ]);
        let def = mount_def(&a, no_password).unwrap();
        assert_eq!(def.source, MountSource::Bind { source: "/mnt/corenas/pool/media".parse().unwrap() });
        assert_eq!(def.flags, [MountFlag::ReadOnly, MountFlag::NoSuid], "each flag once, in order");
        assert!(def.temporary);

        let a = mount_args(&["--type", "nfs", "--source", "nas.lan:/export/backup", "--nfs-version", "4.1"]);
        let def = mount_def(&a, no_password).unwrap();
        assert_eq!(
            def.source,
            MountSource::Nfs {
                server: "nas.lan".parse().unwrap(),
                export: "/export/backup".parse().unwrap(),
                version: Some(NfsVersion::V41)
            }
        );
        let a = mount_args(&["--type", "nfs", "--source", "[fd00::1]:/", "--automount", "--timeout", "600"]);
        let def = mount_def(&a, no_password).unwrap();
        assert_eq!(
            def.source,
            MountSource::Nfs { server: "fd00::1".parse().unwrap(), export: "/".parse().unwrap(), version: None }
        );
        assert!(def.automount && def.timeout_secs == 600);

        let a = mount_args(&["--type", "cifs", "--source", "//fileserver/Public$"]);
        let def = mount_def(&a, no_password).unwrap();
        assert_eq!(
            def.source,
            MountSource::Cifs {
                server: "fileserver".parse().unwrap(),
                share: "Public$".parse().unwrap(),
                credentials: None
            }
        );

        let a = mount_args(&[
            "--type",
            "cifs",
            "--source",
            "//10.0.0.7/backup/",
            "--user",
            "svc_backup",
            "--domain",
            "CORP",
            "--password-stdin",
        ]);
        let def = mount_def(&a, || remote_secret_from(&b"short pw\nignored\n"[..])).unwrap();
        let MountSource::Cifs { server, share, credentials: Some(c) } = def.source else { panic!("{:?}", def.source) };
        assert_eq!((server.as_str(), share.as_str()), ("10.0.0.7", "backup"));
        assert_eq!((c.user.as_str(), c.domain.as_ref().map(|d| d.as_str())), ("svc_backup", Some("CORP")));
        assert_eq!(c.password.expose(), "short pw", "the remote server's password, not CoreNAS's policy");
    }

    #[test]
    fn mount_sources_in_the_wrong_form_are_refused_naming_source() {
        for (kind, source, says) in [
            ("ext4", "/dev/mem", "block device"),
            ("ext4", "nas:/x", "block device"),
            ("bind", "/etc", "/mnt/corenas or /storage"),
            ("bind", "/storage/../etc", "/mnt/corenas or /storage"),
            ("nfs", "nas.lan/export", "HOST:/path"),
            ("nfs", "fd00::1:/export", "brackets"),
            ("nfs", "[fd00::1]/export", "']:'"),
            ("nfs", "nas.lan:export", "HOST:/path"),
            ("nfs", "-o:/x", "host"),
            ("nfs", "nas.lan:/a/../b", "remote path"),
            ("cifs", "\\\\server\\share", "//HOST/SHARE"),
            ("cifs", "//server", "//HOST/SHARE"),
            ("cifs", "//server/share/dir", "share itself"),
            ("cifs", "//server/sh are", "SMB share"),
            ("cifs", "//-x/share", "host"),
        ] {
            let a = mount_args(&["--type", kind, "--source", source]);
            let Err(CtlError::Usage(e)) = mount_def(&a, no_password) else { panic!("{kind} {source} accepted") };
            assert_eq!(e.field.as_deref(), Some("source"), "{kind} {source}");
            assert!(e.message.contains(says), "{kind} {source}: {}", e.message);
            assert!(e.message.contains(&format!("--type {kind}")), "{}", e.message);
        }
    }

    #[test]
    fn mount_flags_for_another_type_are_refused_naming_the_field() {
        for (args, field) in [
            (&["--type", "ext4", "--source", "/dev/sdb1", "--nfs-version", "4"][..], "nfs_version"),
            (&["--type", "nfs", "--source", "h:/x", "--user", "u", "--password-stdin"], "user"),
            (&["--type", "bind", "--source", "/storage/x", "--password-stdin"], "password"),
            (&["--type", "cifs", "--source", "//h/s", "--domain", "CORP"], "domain"),
            (&["--type", "cifs", "--source", "//h/s", "--password-stdin"], "password"),
            (&["--type", "cifs", "--source", "//h/s", "--user", "u"], "password"),
        ] {
            assert_eq!(usage_field(mount_def(&mount_args(args), no_password)), field, "{args:?}");
        }
    }

    #[test]
    fn a_remote_password_comes_from_the_first_line_of_stdin() {
        assert_eq!(remote_secret_from(&b"pw\n"[..]).unwrap().expose(), "pw");
        assert_eq!(remote_secret_from(&b" pw \r"[..]).map(|p| p.expose().to_owned()).ok(), None, "a CR is refused");
        assert!(matches!(remote_secret_from(&b""[..]), Err(CtlError::Usage(_))));
        assert!(
            matches!(remote_secret_from(&b"\n"[..]), Err(CtlError::Failed(e)) if e.field.as_deref() == Some("password"))
        );
        assert!(matches!(remote_secret_from(&[b'x'; crate::password::LINE_CAP + 5][..]), Err(CtlError::Usage(_))));
    }
}
