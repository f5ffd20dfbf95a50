//! Runs `mount`. The source is parsed in the form its `--type` needs; a CIFS password comes from
//! the first line of stdin, never from argv.

use crate::client::call;
use crate::commands::mounts::args::{MountAddArgs, MountCommand, MountType};
use crate::commands::mounts::show::{mount_block, mounts_table};
use crate::error::CtlError;
use crate::report::{Report, change_report, nothing, to_json};
use corenas_proto::mounts::{CifsCredentials, LocalFs, MountDef, MountSource};
use corenas_proto::names::{BindSource, DevicePath, HostName, RemotePath, RemoteShare, shown};
use corenas_proto::secret::RemoteSecret;
use std::io::{self, Read};
use std::path::Path;

pub async fn mount(cmd: MountCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        MountCommand::Add(a) => {
            // Everything is checked, and the password read, before connecting.
            let def = mount_def(&a, || remote_secret_from(io::stdin().lock()))?;
            let change = call!(socket => mount_add(def, dry_run))?;
            change_report(&change, mount_block)
        }
        MountCommand::Remove { target } => {
            let change = call!(socket => mount_remove(target, dry_run))?;
            change_report(&change, nothing)
        }
        MountCommand::List => {
            let mounts = call!(socket => mount_list())?;
            Ok(Report::ok(mounts_table(&mounts), to_json(&mounts)?))
        }
        MountCommand::Status { target } => {
            let mount = call!(socket => mount_status(target))?;
            Ok(Report::ok(mount_block(&mount), to_json(&mount)?))
        }
        MountCommand::Reload => {
            let change = call!(socket => mount_reload(dry_run))?;
            change_report(&change, |mounts| mounts_table(mounts))
        }
    }
}

/// `mount add`: the definition corenasd is sent. `password` is asked only for a CIFS login, after
/// everything else was found in order.
pub(crate) fn mount_def(
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
    let mut source = parse_source(kind, &a.source)?;
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
pub(crate) fn parse_source(kind: MountType, s: &str) -> Result<MountSource, CtlError> {
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
pub(crate) fn remote_secret_from(input: impl Read) -> Result<RemoteSecret, CtlError> {
    Ok(RemoteSecret::new(crate::password::first_line(input)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse;
    use crate::testing::usage_field;

    use corenas_proto::mounts::{MountFlag, NfsVersion};

    use crate::commands::mounts::args::{MountAddArgs, MountCommand};
    use crate::error::CtlError;

    fn mount_args(args: &[&str]) -> MountAddArgs {
        let mut argv = vec!["mount", "add", "--target", "/mnt/corenas/data"];
        argv.extend_from_slice(args);
        let MountCommand::Add(a) = parse(&argv) else { panic!("wrong command") };
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
