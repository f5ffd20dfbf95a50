//! Runs `share`. What only makes sense in combination (an SMB option without `--smb`) is
//! checked before anything is sent; `share mod` reads the share first and sends only what
//! changed.

use crate::client::Daemon;
use crate::client::call;
use crate::commands::shares::args::ShareCommand;
use crate::commands::shares::args::ShareCreateArgs;
use crate::commands::shares::args::ShareModArgs;
use crate::commands::shares::show::homes_line;
use crate::commands::shares::show::share_block;
use crate::commands::shares::show::share_config_text;
use crate::commands::shares::show::shares_table;
use crate::error::CtlError;
use crate::report::to_json;
use crate::report::{Report, change_report, nothing};
use crate::values::OnOff;
use corenas_proto::shares::{NfsOptions, NfsRule, ShareCreate, ShareDef, ShareModify, SmbOptions};
use std::path::Path;

pub async fn share(cmd: ShareCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        ShareCommand::Create(a) => {
            let req = create_request(a)?;
            let change = call!(socket => share_create(req, dry_run))?;
            change_report(&change, share_block)
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
            change_report(&change, share_block)
        }
        ShareCommand::Acl { name, access } => {
            let change = ShareModify { access: access.template(), ..ShareModify::default() };
            let change = call!(socket => share_modify(name, change, dry_run))?;
            change_report(&change, share_block)
        }
        ShareCommand::Del { name } => {
            let change = call!(socket => share_delete(name, dry_run))?;
            change_report(&change, nothing)
        }
        ShareCommand::List => {
            let shares = call!(socket => share_list())?;
            Ok(Report::ok(shares_table(&shares), to_json(&shares)?))
        }
        ShareCommand::Show { name } => {
            let share = call!(socket => share_show(name))?;
            Ok(Report::ok(share_block(&share), to_json(&share)?))
        }
        ShareCommand::Homes { state } => {
            let d = Daemon::connect(socket).await?;
            let on = state == OnOff::On;
            let change = call!(d, share_homes(on, dry_run))?;
            change_report(&change, homes_line)
        }
        ShareCommand::Config => {
            let config = call!(socket => share_config())?;
            Ok(Report::ok(share_config_text(&config), to_json(&config)?))
        }
        ShareCommand::Apply => {
            let change = call!(socket => share_apply(dry_run))?;
            change_report(&change, nothing)
        }
    }
}

/// `share create`: the protocols asked for, each with its options.
pub(crate) fn create_request(a: ShareCreateArgs) -> Result<ShareCreate, CtlError> {
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
pub(crate) fn nfs_rules(rules: &[NfsRule]) -> Result<Vec<NfsRule>, CtlError> {
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
pub(crate) fn modify_request(a: &ShareModArgs, current: Option<&ShareDef>) -> Result<ShareModify, CtlError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse;
    use crate::testing::temp_socket;
    use crate::testing::try_parse;
    use crate::testing::usage_field;
    use crate::values::validation_error;
    use corenas_proto::ErrorCode;
    use corenas_proto::WireError;
    use corenas_proto::api::{Change, CorenasRequest, CorenasResponse};
    use corenas_proto::helper::Step;
    use std::io;

    use corenas_proto::shares::{AccessTemplate, FileMode, SnapshotLayout};

    use crate::error::CtlError;
    use crate::testing::{answered, ctl, fake_daemon};

    // ---- shares and mounts ------------------------------------------------------------------
    fn share_info(name: &str) -> corenas_proto::shares::ShareInfo {
        use corenas_proto::shares::{AccessTemplate, NfsOptions, NfsRule, ShareDef, ShareInfo, SmbOptions};
        ShareInfo {
            def: ShareDef {
                name: name.parse().unwrap(),
                path: format!("/storage/{name}").parse().unwrap(),
                smb: Some(SmbOptions { read_only: true, recycle: true, ..SmbOptions::default() }),
                nfs: Some(NfsOptions {
                    rules: vec![NfsRule {
                        client: "10.0.0.0/8".parse().unwrap(),
                        read_only: false,
                        no_root_squash: true,
                    }],
                }),
            },
            access: Some(AccessTemplate::GroupReadWrite { group: "staff".parse().unwrap() }),
            created: "2026-01-02T03:04:05Z".into(),
            modified: "2026-01-02T03:04:05Z".into(),
        }
    }

    fn mount_info(def: corenas_proto::mounts::MountDef) -> corenas_proto::mounts::MountInfo {
        use corenas_proto::mounts::{MountInfo, UnitState};
        let unit = def.unit_name();
        MountInfo {
            unit_file: format!("/etc/systemd/system/{unit}"),
            unit: unit.clone(),
            state: Ok(UnitState {
                unit,
                load_state: "loaded".into(),
                active_state: "active".into(),
                sub_state: "mounted".into(),
                result: "success".into(),
            }),
            retries: 0,
            last_error: None,
            created: "2026-01-02T03:04:05Z".into(),
            def,
        }
    }

    fn a_mount() -> corenas_proto::mounts::MountDef {
        use corenas_proto::mounts::{MountDef, MountSource};
        MountDef {
            source: MountSource::Nfs {
                server: "nas.lan".parse().unwrap(),
                export: "/export/backup".parse().unwrap(),
                version: None,
            },
            target: "/mnt/corenas/backup".parse().unwrap(),
            flags: vec![],
            automount: false,
            temporary: false,
            timeout_secs: 30,
        }
    }

    fn write_step() -> Step {
        Step::WriteFile {
            path: "/etc/samba/corenas-shares.conf".into(),
            diff: "--- a\n+++ b\n+[media]\n+\tcomment = \u{1b}[2J\n".into(),
        }
    }

    /// The share and mount half of the fake corenasd. Share `missing` is not found; changes
    /// come with one file written and a warning.
    fn share_reply(req: &CorenasRequest) -> CorenasResponse {
        fn warned<T>(dry_run: bool, result: Option<T>) -> Change<T> {
            Change {
                dry_run,
                steps: vec![write_step()],
                result,
                generated_password: None,
                warnings: vec!["NFS client 10.0.0.0/8 of share media is not root-squashed".into()],
            }
        }
        match req {
            CorenasRequest::ShareCreate { req, dry_run } => {
                CorenasResponse::ShareCreate(Ok(warned(*dry_run, Some(share_info(req.name.as_str())))))
            }
            CorenasRequest::ShareModify { name, dry_run, .. } => {
                CorenasResponse::ShareModify(Ok(warned(*dry_run, Some(share_info(name.as_str())))))
            }
            CorenasRequest::ShareDelete { dry_run, .. } => CorenasResponse::ShareDelete(Ok(warned(*dry_run, None))),
            CorenasRequest::ShareList {} => {
                CorenasResponse::ShareList(Ok(vec![share_info("media"), share_info("backup")]))
            }
            CorenasRequest::ShareShow { name } if name.as_str() == "missing" => {
                CorenasResponse::ShareShow(Err(WireError::not_found("share missing does not exist")))
            }
            CorenasRequest::ShareShow { name } => CorenasResponse::ShareShow(Ok(share_info(name.as_str()))),
            CorenasRequest::ShareHomes { enabled, dry_run } => {
                CorenasResponse::ShareHomes(Ok(warned(*dry_run, Some(*enabled))))
            }
            CorenasRequest::ShareConfig {} => CorenasResponse::ShareConfig(Ok(corenas_proto::shares::ShareConfig {
                smb_file: "/etc/samba/corenas-shares.conf".into(),
                smb_text: "[media]\n\tpath = /storage/media\n".into(),
                nfs_file: "/etc/exports.d/corenas.exports".into(),
                nfs_text: String::new(),
                nfs_exported: Err("exportfs is not installed".into()),
            })),
            CorenasRequest::ShareApply { dry_run } => CorenasResponse::ShareApply(Ok(warned(*dry_run, None))),
            CorenasRequest::MountAdd { def, dry_run } => {
                CorenasResponse::MountAdd(Ok(warned(*dry_run, Some(mount_info(def.clone())))))
            }
            CorenasRequest::MountRemove { dry_run, .. } => CorenasResponse::MountRemove(Ok(warned(*dry_run, None))),
            CorenasRequest::MountList {} => {
                let mut failed = mount_info(a_mount());
                failed.state = Err("systemd did not answer: Connection refused, and more text after that".into());
                failed.retries = 3;
                CorenasResponse::MountList(Ok(vec![mount_info(a_mount()), failed]))
            }
            CorenasRequest::MountStatus { .. } => CorenasResponse::MountStatus(Ok(mount_info(a_mount()))),
            CorenasRequest::MountReload { dry_run } => {
                CorenasResponse::MountReload(Ok(warned(*dry_run, Some(vec![mount_info(a_mount())]))))
            }
            other => panic!("not a share or mount request: {other:?}"),
        }
    }

    #[test]
    fn share_create_sends_the_typed_request_and_prints_steps_and_warnings() {
        use corenas_proto::shares::{AccessTemplate, NfsRule, SmbOptions};
        let (socket, seen) = fake_daemon("sharecreate", share_reply);
        let args = [
            "share",
            "create",
            "media",
            "--smb",
            "--nfs",
            "--read-only",
            "--valid-group",
            "staff",
            "--nfs-client",
            "192.168.1.0/24",
            "--nfs-client",
            "backup.lan:ro",
            "--nfs-client",
            "10.0.0.5:ro:no_root_squash",
            "--public-read",
            "--writers",
            "staff",
        ];
        let (human, json, exit) = answered(ctl(&socket, &args));
        assert_eq!(exit, 0);
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ShareCreate { req, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(req.name.as_str(), "media");
        assert!(req.path.is_none() && !req.force);
        assert_eq!(
            req.smb,
            Some(SmbOptions { read_only: true, valid_groups: vec!["staff".parse().unwrap()], ..SmbOptions::default() })
        );
        let rule =
            |c: &str, read_only, no_root_squash| NfsRule { client: c.parse().unwrap(), read_only, no_root_squash };
        assert_eq!(
            req.nfs.as_ref().unwrap().rules,
            [rule("192.168.1.0/24", false, false), rule("backup.lan", true, false), rule("10.0.0.5", true, true)]
        );
        assert_eq!(req.access, Some(AccessTemplate::PublicRead { writers: Some("staff".parse().unwrap()) }));
        drop(seen);

        // The file step keeps its lines, indented under its first; the escape is shown, not sent.
        assert!(
            human.starts_with(
                "done; ran:\n  (in-process) write /etc/samba/corenas-shares.conf\n    --- a\n    +++ b\n    +[media]\n    \
                 +\tcomment = \\u{1b}[2J\n"
            ),
            "{human}"
        );
        assert!(!human.contains('\u{1b}'), "{human}");
        assert!(human.contains("name:       media\n") && human.contains("nfs clients:\n"), "{human}");
        assert!(human.ends_with("warning: NFS client 10.0.0.0/8 of share media is not root-squashed\n"), "{human}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["warnings"][0], "NFS client 10.0.0.0/8 of share media is not root-squashed");
        assert_eq!(json["result"]["def"]["name"], "media");
        assert_eq!(json["result"]["access"]["GroupReadWrite"]["group"], "staff");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn share_mod_reads_the_share_and_sends_only_the_changed_parts() {
        let (socket, seen) = fake_daemon("sharemod", share_reply);
        let (_, _, exit) = answered(ctl(&socket, &["--dry-run", "share", "mod", "media", "--writable", "--force"]));
        assert_eq!(exit, 0);
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ShareShow { name }, CorenasRequest::ShareModify { name: modified, change, dry_run: true }] =
            &seen[..]
        else {
            panic!("{seen:?}")
        };
        assert_eq!((name.as_str(), modified.as_str()), ("media", "media"));
        let smb = change.smb.clone().flatten().expect("the SMB part is sent whole");
        assert!(!smb.read_only, "changed");
        assert!(smb.recycle, "kept from the current share");
        assert!(change.nfs.is_none() && change.access.is_none() && change.force);
        drop(seen);
        let _ = std::fs::remove_file(&socket);

        // An access template alone needs no read; `share acl` is the same request.
        for (i, args) in
            [&["share", "mod", "media", "--private", "alice"][..], &["share", "acl", "media", "--private", "alice"]]
                .into_iter()
                .enumerate()
        {
            let (socket, seen) = fake_daemon(&format!("shareacl{i}"), share_reply);
            answered(ctl(&socket, args));
            let seen = seen.lock().unwrap();
            let [CorenasRequest::ShareModify { change, .. }] = &seen[..] else { panic!("{args:?}: {seen:?}") };
            assert!(change.smb.is_none() && change.nfs.is_none() && !change.force);
            assert_eq!(
                change.access,
                Some(corenas_proto::shares::AccessTemplate::Private { user: "alice".parse().unwrap() })
            );
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }

        // A share that does not exist stops at the read.
        let (socket, seen) = fake_daemon("sharemodmissing", share_reply);
        let err = ctl(&socket, &["share", "mod", "missing", "--guest"]).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::NotFound);
        assert_eq!(seen.lock().unwrap().len(), 1);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn mount_add_sends_the_definition() {
        use corenas_proto::mounts::{MountFlag, MountSource, NfsVersion};
        let (socket, seen) = fake_daemon("mountadd", share_reply);
        let args = [
            "mount",
            "add",
            "--target",
            "/mnt/corenas/backup",
            "--type",
            "nfs",
            "--source",
            "[fd00::10]:/export/backup",
            "--nfs-version",
            "4.2",
            "--option",
            "noatime",
            "--option",
            "ro",
            "--automount",
            "--timeout",
            "90",
        ];
        let (human, json, _) = answered(ctl(&socket, &args));
        let seen = seen.lock().unwrap();
        let [CorenasRequest::MountAdd { def, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(
            def.source,
            MountSource::Nfs {
                server: "fd00::10".parse().unwrap(),
                export: "/export/backup".parse().unwrap(),
                version: Some(NfsVersion::V42)
            }
        );
        assert_eq!(def.target.as_str(), "/mnt/corenas/backup");
        assert_eq!(def.flags, [MountFlag::NoAtime, MountFlag::ReadOnly]);
        assert!(def.automount && !def.temporary && def.timeout_secs == 90);
        drop(seen);
        assert!(human.contains("source:       [fd00::10]:/export/backup\n"), "{human}");
        assert!(human.contains("nfs version:  4.2\n") && human.contains("state:        active/mounted\n"), "{human}");
        assert!(human.contains("\nwarning: "), "{human}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["result"]["def"]["source"]["Nfs"]["version"], "V42");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn hostile_share_and_mount_values_are_refused_before_connecting() {
        let socket = temp_socket("hostileshare");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let add = |extra: &[&'static str]| {
            let mut v = vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "h:/x"];
            v.extend_from_slice(extra);
            v
        };
        // Refused by clap: the proto type (or the CLI's own parser) names the field.
        for (args, field) in [
            (vec!["share", "create", "Media", "--smb"], "name"),
            (vec!["share", "create", "homes", "--smb"], "name"),
            (vec!["share", "create", "a%u", "--smb"], "name"),
            (vec!["share", "create", "-x", "--smb"], "name"),
            (vec!["share", "show", "[global]"], "name"),
            (vec!["share", "del", "../etc"], "name"),
            (vec!["share", "create", "m", "--smb", "--path", "/etc"], "path"),
            (vec!["share", "create", "m", "--smb", "--path", "/storage/a b"], "path"),
            (vec!["share", "create", "m", "--smb", "--path", "/storage/%U"], "path"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "*"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "x(rw,no_root_squash)"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "10.0.0.0/33"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h1 h2"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h:rw:ro"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h:insecure"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "[fd00::1:ro"], "client"),
            (vec!["share", "create", "m", "--smb", "--valid-user", "Bob"], "user"),
            (vec!["share", "create", "m", "--smb", "--valid-group", "@staff"], "group"),
            (vec!["share", "create", "m", "--smb", "--admin-user", "root;x"], "user"),
            (vec!["share", "create", "m", "--smb", "--previous-versions", "lvm"], "previous_versions"),
            (vec!["share", "create", "m", "--smb", "--create-mask", "0999"], "create_mask"),
            (vec!["share", "create", "m", "--smb", "--directory-mask", "17777"], "directory_mask"),
            (vec!["share", "acl", "m", "--private", "%U"], "user"),
            (vec!["share", "acl", "m", "--group-rw", "x\ny"], "group"),
            (vec!["mount", "remove", "/mnt/other"], "target"),
            (vec!["mount", "status", "/mnt/corenas/../../etc"], "target"),
            (vec!["mount", "add", "--target", "/etc", "--type", "bind", "--source", "/storage/x"], "target"),
            (vec!["mount", "add", "--target", "/mnt/corenas/.x", "--type", "bind", "--source", "/storage/x"], "target"),
            (add(&["--option", "exec"]), "options"),
            (add(&["--option", "ro,exec"]), "options"),
            (add(&["--timeout", "0"]), "timeout"),
            (add(&["--timeout", "-5"]), "timeout"),
            (add(&["--timeout", "99999"]), "timeout"),
            (add(&["--nfs-version", "4.3"]), "nfs_version"),
            (add(&["--user", "-oremount"]), "remote_user"),
            (vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "zfs", "--source", "/dev/sdb"], "type"),
        ] {
            let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
            argv.extend_from_slice(&args);
            let err = try_parse(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}");
        }
        // Parsed, but refused by corenas-ctl before connecting.
        for (args, field) in [
            (&["share", "create", "m"][..], "protocol"),
            (&["share", "create", "m", "--nfs"], "client"),
            (&["share", "create", "m", "--nfs", "--guest", "--nfs-client", "h"], "protocol"),
            (&["share", "mod", "m"], "change"),
            (&["share", "mod", "m", "--force"], "change"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "ext4", "--source", "/dev/mem"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "//h/s"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "cifs", "--source", "h:/x"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "bind", "--source", "/home/x"], "source"),
            (
                &["mount", "add", "--target", "/mnt/corenas/x", "--type", "cifs", "--source", "//h/s", "--user", "u"],
                "password",
            ),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.wire().field.as_deref(), Some(field), "{args:?}: {err}");
        }
        // Nobody knocked.
        assert_eq!(listener.accept().map(|_| ()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn every_share_and_mount_command_answers_in_human_form_and_as_one_json_document() {
        let commands: [&[&str]; 15] = [
            &["share", "create", "media", "--smb"],
            &["share", "mod", "media", "--no-nfs"],
            &["share", "acl", "media", "--group-rw", "staff"],
            &["share", "del", "media"],
            &["share", "list"],
            &["share", "show", "media"],
            &["share", "homes", "on"],
            &["share", "config"],
            &["share", "apply"],
            &["mount", "add", "--target", "/storage/media", "--type", "bind", "--source", "/mnt/corenas/p/media"],
            &["mount", "add", "--target", "/mnt/corenas/win", "--type", "cifs", "--source", "//fs/public"],
            &["mount", "remove", "/mnt/corenas/backup"],
            &["mount", "list"],
            &["mount", "status", "/mnt/corenas/backup"],
            &["mount", "reload"],
        ];
        for (i, args) in commands.into_iter().enumerate() {
            for json in [false, true] {
                let (socket, seen) = fake_daemon(&format!("shareall{i}{json}"), share_reply);
                let mut argv = vec!["--json"];
                argv.extend_from_slice(args);
                let (human, doc, exit) = answered(ctl(&socket, if json { &argv } else { args }));
                assert_eq!(exit, 0, "{args:?}");
                assert!(!human.is_empty(), "{args:?}");
                assert!(!human.contains('\u{1b}'), "{args:?}: {human}");
                let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert!(parsed.is_object() || parsed.is_array(), "{args:?}");
                assert!(!doc.contains('\n'), "{args:?}");
                assert!(!seen.lock().unwrap().is_empty(), "{args:?}");
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    #[test]
    fn share_and_mount_listings_read_like_tables() {
        let (socket, _) = fake_daemon("sharelist", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["share", "list"]));
        assert_eq!(
            human,
            "NAME    PATH             PROTOCOLS  FLAGS                      ACCESS\n\
             media   /storage/media   smb,nfs    ro,recycle,no_root_squash  read-write for group staff\n\
             backup  /storage/backup  smb,nfs    ro,recycle,no_root_squash  read-write for group staff\n"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("mountlist", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["mount", "list"]));
        let lines: Vec<&str> = human.lines().collect();
        assert_eq!(
            lines[0],
            "TARGET               TYPE  SOURCE                  UNIT                      STATE                                      RETRIES"
        );
        assert_eq!(
            lines[1],
            "/mnt/corenas/backup  nfs   nas.lan:/export/backup  mnt-corenas-backup.mount  active/mounted                             0"
        );
        assert_eq!(
            lines[2],
            "/mnt/corenas/backup  nfs   nas.lan:/export/backup  mnt-corenas-backup.mount  systemd did not answer: Connection refus…  3"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("shareconfig", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["share", "config"]));
        assert_eq!(
            human,
            "SMB include file: /etc/samba/corenas-shares.conf\n  [media]\n  \tpath = /storage/media\n\
             NFS exports file: /etc/exports.d/corenas.exports\n  (empty)\n\
             NFS exported now: unknown (exportfs is not installed)\n"
        );
        let _ = std::fs::remove_file(&socket);
    }

    fn create(args: &[&str]) -> Result<ShareCreate, CtlError> {
        let mut argv = vec!["share", "create"];
        argv.extend_from_slice(args);
        let ShareCommand::Create(a) = parse(&argv) else { panic!("wrong command") };
        create_request(a)
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
        let ShareCommand::Mod(a) = parse(&argv) else { panic!("wrong command") };
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
}
