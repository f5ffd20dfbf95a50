//! `storage create`'s pool spec: flags (and a template file) into a `PoolSpec`, refusing a flag
//! that belongs to another pool type, naming it. Templates are saved 0600 and never followed
//! through a symlink.

use crate::commands::storage::args::PoolCreateArgs;
use crate::commands::storage::show::pool_spec_text;
use crate::error::CtlError;
use crate::report::Report;
use crate::text::printable_lines;
use crate::values::invalid;
use corenas_proto::ErrorCode;
use corenas_proto::storage::{Backend, BtrfsProfile, DiskFs, PoolLayout, PoolSpec, ZfsLayout, ZfsProperty};
use serde_json::json;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A template is a few hundred bytes; anything much larger is not one.
pub(crate) const TEMPLATE_MAX: u64 = 64 * 1024;

/// Only these can be created here; lvm and mdadm parse (so they get this message) but their real
/// runs need the VM tier, which has device-mapper and md.
pub(crate) fn creatable(kind: Backend) -> Result<(), CtlError> {
    match kind {
        Backend::Zfs | Backend::Btrfs | Backend::Single => Ok(()),
        Backend::Lvm | Backend::Mdadm => Err(CtlError::usage(
            "type",
            format!(
                "storage type {kind} cannot be created with this command yet (LVM and mdadm pools run for real only \
                 in the VM tier): use --type zfs, btrfs or single"
            ),
        )),
    }
}

/// A flag that belongs to another pool type is refused, naming the flag and its type.
pub(crate) fn only_for(given: bool, field: &str, flag: &str, kinds: &[Backend], kind: Backend) -> Result<(), CtlError> {
    if given && !kinds.contains(&kind) {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        return Err(CtlError::usage(
            field,
            format!("{flag} is for --type {} only, not {kind}", names.join(" or --type ")),
        ));
    }
    Ok(())
}

/// `storage create`: the flags on top of the template (if any), with the defaults the help
/// names, checked by `PoolSpec::validate`. The template's `force` is never used: `--force` is
/// given on the command line or not at all.
pub(crate) fn pool_spec(a: &PoolCreateArgs, template: Option<PoolSpec>) -> Result<PoolSpec, CtlError> {
    let kind = match (a.kind, &template) {
        (Some(k), _) => k,
        (None, Some(t)) => t.layout.backend(),
        (None, None) => return Err(CtlError::usage("type", "give --type zfs, btrfs or single (or --template FILE)")),
    };
    creatable(kind)?;
    let name = match (&a.name, &template) {
        (Some(n), _) => n.clone(),
        (None, Some(t)) => t.name.clone(),
        (None, None) => return Err(CtlError::usage("name", "give the pool's name (or --template FILE)")),
    };
    let devices = match (&template, a.devices.is_empty()) {
        (Some(t), true) => t.devices.clone(),
        _ => a.devices.clone(),
    };
    if devices.is_empty() {
        return Err(CtlError::usage("devices", "give at least one --device, e.g. --device /dev/sdb"));
    }
    use Backend::{Btrfs, Single, Zfs};
    only_for(a.layout.is_some(), "layout", "--layout", &[Zfs], kind)?;
    only_for(a.ashift.is_some(), "ashift", "--ashift", &[Zfs], kind)?;
    only_for(!a.properties.is_empty(), "property", "--property", &[Zfs], kind)?;
    only_for(a.data_profile.is_some(), "profile", "--data-profile", &[Btrfs], kind)?;
    only_for(a.metadata_profile.is_some(), "profile", "--metadata-profile", &[Btrfs], kind)?;
    only_for(a.compression.is_some(), "compression", "--compression", &[Zfs, Btrfs], kind)?;
    only_for(a.fs.is_some(), "fs", "--fs", &[Single], kind)?;

    let base = template.map(|t| t.layout).filter(|l| l.backend() == kind);
    let n = devices.len();
    let layout = match kind {
        Zfs => {
            let (layout, ashift, mut properties) = match base {
                Some(PoolLayout::Zfs { layout, ashift, properties }) => (Some(layout), ashift, properties),
                _ => (None, None, Vec::new()),
            };
            // A key given on the command line replaces the template's; keys given twice on the
            // command line are left for validate() to name.
            properties.retain(|p| !a.properties.iter().any(|q| q.key() == p.key()));
            properties.extend(a.properties.iter().copied());
            if let Some(c) = a.compression {
                if a.properties.iter().any(|p| p.key() == "compression") {
                    return Err(CtlError::usage(
                        "compression",
                        "compression is given twice: use --compression or --property compression=..., not both",
                    ));
                }
                if !c.zfs_ok() {
                    return Err(CtlError::usage(
                        "compression",
                        format!("ZFS compression '{c}' is invalid: use off, on, lz4, gzip, zstd, lzjb or zle"),
                    ));
                }
                properties.retain(|p| p.key() != "compression");
                properties.push(ZfsProperty::Compression(c));
            }
            let layout = match (a.layout.or(layout), n) {
                (Some(l), _) => l,
                (None, 1) => ZfsLayout::Stripe,
                (None, _) => {
                    return Err(CtlError::usage(
                        "layout",
                        format!(
                            "ZFS with {n} devices needs --layout: mirror, raidz1, raidz2, raidz3, or stripe (no \
                             redundancy)"
                        ),
                    ));
                }
            };
            PoolLayout::Zfs { layout, ashift: a.ashift.or(ashift), properties }
        }
        Btrfs => {
            let (data, metadata, compression) = match base {
                Some(PoolLayout::Btrfs { data, metadata, compression }) => (Some(data), Some(metadata), compression),
                _ => (None, None, None),
            };
            // mkfs.btrfs's own defaults.
            let metadata_default = if n == 1 { BtrfsProfile::Dup } else { BtrfsProfile::Raid1 };
            PoolLayout::Btrfs {
                data: a.data_profile.or(data).unwrap_or(BtrfsProfile::Single),
                metadata: a.metadata_profile.or(metadata).unwrap_or(metadata_default),
                compression: a.compression.or(compression),
            }
        }
        _ => {
            let fs = match base {
                Some(PoolLayout::Single { fs }) => Some(fs),
                _ => None,
            };
            PoolLayout::Single { fs: a.fs.or(fs).unwrap_or(DiskFs::Ext4) }
        }
    };
    // With --save-template, --force is about the file, and a template never carries force.
    let spec = PoolSpec { name, layout, devices, force: a.force && a.save_template.is_none() };
    spec.validate().map_err(invalid)?;
    Ok(spec)
}

/// A template as `--save-template` wrote it (or by hand): a `PoolSpec` in JSON.
pub(crate) fn load_template(path: &Path) -> Result<PoolSpec, CtlError> {
    let unreadable =
        |e: io::Error| CtlError::usage("template", format!("cannot read template {}: {e}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(TEMPLATE_MAX + 1).read_to_string(&mut text)).map_err(unreadable)?;
    if text.len() as u64 > TEMPLATE_MAX {
        return Err(CtlError::usage(
            "template",
            format!("template {} is larger than {TEMPLATE_MAX} bytes; it is not a pool definition", path.display()),
        ));
    }
    serde_json::from_str::<PoolSpec>(&text).map_err(|e| {
        CtlError::usage("template", format!("template {} is not a valid pool definition: {e}", path.display()))
    })
}

/// Writes the template atomically: a temporary file beside it, synced, then moved into place
/// (renamed over the old file with `overwrite`, else hard-linked, which fails if the name exists),
/// then the directory synced. A template never carries `force`.
pub(crate) fn save_template(spec: &PoolSpec, path: &Path, overwrite: bool) -> Result<(), CtlError> {
    let failed = |what: &str, e: io::Error| {
        let code =
            if e.kind() == io::ErrorKind::AlreadyExists { ErrorCode::AlreadyExists } else { ErrorCode::Internal };
        CtlError::failed(code, format!("cannot {what} {}: {e}", path.display()))
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| CtlError::usage("save_template", format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let spec = PoolSpec { force: false, ..spec.clone() };
    let mut text = serde_json::to_string_pretty(&spec)
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot encode the template: {e}")))?;
    text.push('\n');

    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write the template next to", e));
    }
    let placed = if overwrite {
        std::fs::rename(&tmp, path)
    } else {
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        linked
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Err(CtlError::failed(
                ErrorCode::AlreadyExists,
                format!("template {} exists: add --force to replace it", path.display()),
            ));
        }
        return Err(failed("write the template", e));
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| failed("sync the directory of", e))
}

pub(crate) fn save_template_report(
    spec: &PoolSpec,
    path: &Path,
    overwrite: bool,
    dry_run: bool,
) -> Result<Report, CtlError> {
    let what = pool_spec_text(spec);
    let json = |saved: bool| {
        json!({ "dry_run": dry_run, "saved": saved, "template": path.to_string_lossy(), "spec": PoolSpec { force: false, ..spec.clone() } })
            .to_string()
    };
    if dry_run {
        let human = format!("dry run: nothing written; would save the template {}:\n{what}", path.display());
        return Ok(Report::ok(printable_lines(&human).into_owned(), json(false)));
    }
    save_template(spec, path, overwrite)?;
    let human = format!(
        "saved the template {}:\n{what}`corenas-ctl storage create --template {}` creates the pool\n",
        path.display(),
        path.display()
    );
    Ok(Report::ok(printable_lines(&human).into_owned(), json(true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::dev;
    use crate::testing::parse;
    use crate::testing::try_parse;
    use crate::testing::usage_field_and_message;

    use corenas_proto::storage::Compression;

    use crate::commands::storage::args::{PoolCreateArgs, StorageCommand};
    use crate::error::CtlError;
    use crate::values::validation_error;

    fn create_args(args: &[&str]) -> PoolCreateArgs {
        let mut argv = vec!["storage", "create"];
        argv.extend_from_slice(args);
        let StorageCommand::Create(a) = parse(&argv) else { panic!("wrong command") };
        a
    }

    fn spec(args: &[&str]) -> Result<PoolSpec, CtlError> {
        pool_spec(&create_args(args), None)
    }

    #[test]
    fn zfs_flags_become_a_zfs_layout() {
        let s = spec(&[
            "tank",
            "--type",
            "zfs",
            "--device",
            "/dev/sdb",
            "--device",
            "/dev/disk/by-id/ata-WDC_WD40EFRX_WD-1",
            "--device",
            "/dev/sdd",
            "--layout",
            "raidz1",
            "--ashift",
            "12",
            "--property",
            "atime=off",
            "--property",
            "recordsize=1M",
            "--compression",
            "zstd",
            "--force",
        ])
        .unwrap();
        assert_eq!(s.name.as_str(), "tank");
        assert_eq!(s.devices, [dev("/dev/sdb"), dev("/dev/disk/by-id/ata-WDC_WD40EFRX_WD-1"), dev("/dev/sdd")]);
        assert!(s.force);
        let PoolLayout::Zfs { layout, ashift, properties } = s.layout else { panic!("{:?}", s.layout) };
        assert_eq!((layout, ashift), (ZfsLayout::Raidz1, Some(12)));
        let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
        assert_eq!(props, ["atime=off", "recordsize=1048576", "compression=zstd"]);

        // One device needs no --layout: a stripe is all it can be.
        let s = spec(&["tank", "--type", "zfs", "--device", "/dev/loop3"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Zfs { layout: ZfsLayout::Stripe, ashift: None, properties: vec![] });
        assert!(!s.force);
    }

    #[test]
    fn btrfs_and_single_flags_take_the_tools_defaults() {
        let s = spec(&["data", "--type", "btrfs", "--device", "/dev/vdb"]).unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs { data: BtrfsProfile::Single, metadata: BtrfsProfile::Dup, compression: None }
        );
        let s = spec(&["data", "--type", "btrfs", "--device", "/dev/vdb", "--device", "/dev/vdc"]).unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs { data: BtrfsProfile::Single, metadata: BtrfsProfile::Raid1, compression: None }
        );
        let s = spec(&[
            "data",
            "--type",
            "btrfs",
            "--device",
            "/dev/vdb",
            "--device",
            "/dev/vdc",
            "--device",
            "/dev/vdd",
            "--data-profile",
            "raid1c3",
            "--metadata-profile",
            "raid1c3",
            "--compression",
            "zstd",
        ])
        .unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs {
                data: BtrfsProfile::Raid1c3,
                metadata: BtrfsProfile::Raid1c3,
                compression: Some(Compression::Zstd)
            }
        );

        let s = spec(&["usb", "--type", "single", "--device", "/dev/sdx"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Single { fs: DiskFs::Ext4 });
        let s = spec(&["usb", "--type", "single", "--device", "/dev/sdx", "--fs", "xfs"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Single { fs: DiskFs::Xfs });
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        let one = ["tank", "--device", "/dev/sdb"];
        let with = |extra: &[&'static str]| {
            let mut v = one.to_vec();
            v.extend_from_slice(extra);
            v
        };
        for (args, field, says) in [
            (with(&["--type", "lvm"]), "type", "cannot be created with this command yet"),
            (with(&["--type", "mdadm"]), "type", "VM tier"),
            (with(&["--type", "btrfs", "--layout", "mirror"]), "layout", "--layout is for --type zfs only"),
            (with(&["--type", "single", "--ashift", "12"]), "ashift", "--type zfs only"),
            (with(&["--type", "btrfs", "--property", "atime=off"]), "property", "--type zfs only"),
            (with(&["--type", "zfs", "--data-profile", "raid1"]), "profile", "--type btrfs only"),
            (with(&["--type", "single", "--compression", "zstd"]), "compression", "--type zfs or --type btrfs"),
            (with(&["--type", "zfs", "--fs", "xfs"]), "fs", "--type single only"),
            (with(&["--type", "zfs", "--compression", "lzo"]), "compression", "ZFS compression 'lzo'"),
            (with(&["--type", "btrfs", "--compression", "lz4"]), "compression", "btrfs compression 'lz4'"),
            (
                with(&["--type", "zfs", "--compression", "lz4", "--property", "compression=zstd"]),
                "compression",
                "given twice",
            ),
            (with(&["--type", "zfs", "--property", "atime=on", "--property", "atime=off"]), "property", "twice"),
            (with(&["--type", "zfs", "--device", "/dev/sdc"]), "layout", "needs --layout"),
            (with(&["--type", "zfs", "--layout", "mirror"]), "devices", "at least 2 devices"),
            (with(&["--type", "zfs", "--device", "/dev/sdb", "--layout", "mirror"]), "devices", "listed twice"),
            (with(&["--type", "single", "--device", "/dev/sdc"]), "devices", "exactly one device"),
            (with(&["--type", "btrfs", "--device", "/dev/sdc", "--data-profile", "dup"]), "profile", "one device only"),
            (vec!["tank", "--type", "zfs"], "devices", "at least one --device"),
        ] {
            let (f, message) = usage_field_and_message(spec(&args));
            assert_eq!(f, field, "{args:?}: {message}");
            assert!(message.contains(says), "{args:?}: {message}");
        }
    }

    #[test]
    fn bad_values_are_refused_by_clap_naming_the_field() {
        for (args, field) in [
            (vec!["storage", "create", "Tank", "--type", "zfs", "--device", "/dev/sdb"], "name"),
            (vec!["storage", "create", "mirror", "--type", "zfs", "--device", "/dev/sdb"], "name"),
            (vec!["storage", "create", "t", "--type", "ceph", "--device", "/dev/sdb"], "type"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/mem"], "device"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--layout", "raid5"], "layout"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--ashift", "8"], "ashift"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--ashift", "1e1"], "ashift"),
            (
                vec![
                    "storage",
                    "create",
                    "t",
                    "--type",
                    "zfs",
                    "--device",
                    "/dev/sdb",
                    "--property",
                    "mountpoint=/etc",
                ],
                "property",
            ),
            (
                vec!["storage", "create", "t", "--type", "btrfs", "--device", "/dev/sdb", "--data-profile", "raid5"],
                "profile",
            ),
            (vec!["storage", "create", "t", "--type", "single", "--device", "/dev/sdb", "--fs", "ntfs"], "fs"),
            (
                vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--compression", "xz"],
                "compression",
            ),
            (vec!["storage", "wizard", "--type", "raid"], "type"),
            (vec!["storage", "show", "-rf"], "name"),
            (vec!["storage", "dataset", "create", "tank"], "dataset"),
            (vec!["storage", "dataset", "create", "tank/../x"], "dataset"),
            (vec!["storage", "dataset", "set", "tank/a", "sharenfs=on"], "property"),
            (vec!["storage", "snapshot", "create", "tank/a", "--name", "a@b"], "snapshot"),
            (vec!["storage", "snapshot", "rollback", "tank/a", "-r"], "snapshot"),
            (vec!["storage", "snapshot", "schedule", "tank/a", "--daily", "-1"], "keep"),
            (vec!["storage", "snapshot", "schedule", "tank/a", "--daily", "1001"], "keep"),
            (vec!["storage", "job", "show", "../x"], "id"),
            (vec!["device", "show", "/dev/mem"], "device"),
            (vec!["device", "smart", "/dev/sda", "--history", "--limit", "0"], "limit"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "shred"], "method"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "zero", "--samples", "-1"], "samples"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "zero", "--samples", "1025"], "samples"),
        ] {
            let mut argv = vec!["corenas-ctl"];
            argv.extend_from_slice(&args);
            let err = try_parse(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}");
        }
        for args in [
            &["storage", "create", "t", "--device", "/dev/sdb"][..],
            &["storage", "scrub", "t", "--stop", "--wait"],
            &["storage", "snapshot", "schedule", "tank/a"],
            &["storage", "dataset", "set", "tank/a"],
            &["storage", "wizard", "--force"],
            &["device", "smart", "/dev/sda", "--limit", "5"],
            &["device", "wipe", "/dev/sdb"],
            &["device", "list", "/dev/sdb"],
            &["device", "selftest", "--long"],
        ] {
            let mut argv = vec!["corenas-ctl"];
            argv.extend_from_slice(args);
            assert_eq!(try_parse(&argv).expect_err("accepted").exit_code(), 2, "{args:?}");
        }
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("corenas-ctl-test-{}-{name}.json", std::process::id()))
    }

    #[test]
    fn a_template_round_trips_and_flags_override_it() {
        let path = temp_path("template");
        let _ = std::fs::remove_file(&path);
        let original = spec(&[
            "tank",
            "--type",
            "zfs",
            "--device",
            "/dev/sdb",
            "--device",
            "/dev/sdc",
            "--layout",
            "mirror",
            "--property",
            "atime=off",
            "--compression",
            "lz4",
        ])
        .unwrap();
        save_template(&PoolSpec { force: true, ..original.clone() }, &path, false).unwrap();
        let loaded = load_template(&path).unwrap();
        assert_eq!(loaded, original, "saved without force, read back the same");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"force\": false") && text.contains("\"mirror\""), "{text}");

        // Never overwritten without --force; nothing is left behind.
        let err = save_template(&original, &path, false).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::AlreadyExists);
        assert!(err.to_string().contains("add --force to replace it"), "{err}");
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(&format!("template.json.tmp-{}", std::process::id())))
            .count();
        assert_eq!(leftovers, 0);

        // The flags given replace the template's parts; the rest is kept.
        let a = create_args(&["--template", path.to_str().unwrap(), "--layout", "stripe", "--property", "atime=on"]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!(s.name.as_str(), "tank");
        assert_eq!(s.devices, original.devices);
        let PoolLayout::Zfs { layout, properties, .. } = &s.layout else { panic!() };
        assert_eq!(*layout, ZfsLayout::Stripe);
        let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
        assert_eq!(props, ["compression=lz4", "atime=on"]);
        let a = create_args(&[
            "other",
            "--template",
            path.to_str().unwrap(),
            "--device",
            "/dev/sdx",
            "--device",
            "/dev/sdy",
        ]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!((s.name.as_str(), s.devices.clone()), ("other", vec![dev("/dev/sdx"), dev("/dev/sdy")]));
        // Another type starts from that type's defaults.
        let a = create_args(&["--template", path.to_str().unwrap(), "--type", "btrfs"]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!(s.layout.backend(), Backend::Btrfs);

        // --force replaces the file, and a template never carries force.
        let single = spec(&["usb", "--type", "single", "--device", "/dev/sdz", "--force"]).unwrap();
        assert!(single.force);
        save_template(&single, &path, true).unwrap();
        assert_eq!(load_template(&path).unwrap(), PoolSpec { force: false, ..single });
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_bad_template_is_refused_naming_the_field() {
        let path = temp_path("badtemplate");
        for (text, says) in [
            ("{", "not a valid pool definition"),
            (r#"{"name":"Tank","layout":{"single":{"fs":"ext4"}},"devices":["/dev/sdb"]}"#, "pool name 'Tank'"),
            (r#"{"name":"t","layout":{"single":{"fs":"ext4"}},"devices":["/dev/mem"]}"#, "device '/dev/mem'"),
            (r#"{"name":"t","layout":{"single":{"fs":"ext4"}},"devices":[],"extra":1}"#, "unknown field"),
        ] {
            std::fs::write(&path, text).unwrap();
            let (field, message) = usage_field_and_message(load_template(&path));
            assert_eq!(field, "template");
            assert!(message.contains(says), "{text}: {message}");
        }
        std::fs::write(&path, vec![b' '; 70_000]).unwrap();
        assert!(usage_field_and_message(load_template(&path)).1.contains("larger than"));
        let _ = std::fs::remove_file(&path);
        assert!(usage_field_and_message(load_template(&path)).1.contains("cannot read template"));
    }
}
