//! systemd `.mount` and `.automount` units from a typed [`MountDef`]. Never fstab. Values are
//! validated types without spaces, quotes, backslashes or `%` (systemd's specifier character),
//! so they need no escaping; the unit name is the escaped mount point, as systemd requires.

use super::MANAGED_HEADER;
use corenas_proto::mounts::{MountDef, MountFlag, MountSource};
use std::fmt::Write;

/// Where CIFS credentials go (root-only directory, one 0600 file per mount).
pub const CREDENTIALS_DIR: &str = "/etc/corenas/credentials";

/// Named after the mount point with '/' as '~' (not a character of a plain path component, so
/// the name is unique, and it needs no escape in `Options=`, unlike the unit name's `\x2d`).
pub fn credentials_path(def: &MountDef) -> String {
    format!("{CREDENTIALS_DIR}/{}.cred", def.target.as_str()[1..].replace('/', "~"))
}

/// The directory for the unit files: permanent under /etc, temporary under /run (gone on reboot).
pub fn unit_dir(def: &MountDef) -> &'static str {
    if def.temporary { "/run/systemd/system" } else { "/etc/systemd/system" }
}

pub fn automount_name(def: &MountDef) -> String {
    format!("{}.automount", def.target.unit_stem())
}

/// The target whose `.wants/` enables the unit.
pub fn wanted_by(def: &MountDef) -> &'static str {
    if def.source.is_remote() { "remote-fs.target" } else { "local-fs.target" }
}

fn what(def: &MountDef) -> (String, &'static str) {
    match &def.source {
        MountSource::Local { device, fs } => (device.to_string(), fs.as_str()),
        MountSource::Bind { source } => (source.to_string(), "none"),
        MountSource::Nfs { server, export, .. } => {
            let host = server.as_str();
            let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
            (format!("{host}:{export}"), "nfs")
        }
        MountSource::Cifs { server, share, .. } => (format!("//{server}/{share}"), "cifs"),
        MountSource::Zfs { .. } => (def.source.zfs_name().unwrap_or_default(), "zfs"),
    }
}

pub fn options(def: &MountDef) -> String {
    let mut o: Vec<String> = Vec::new();
    match &def.source {
        MountSource::Bind { .. } => o.push("bind".into()),
        MountSource::Nfs { version, .. } => {
            o.push("_netdev".into());
            if let Some(v) = version {
                o.push(format!("vers={}", v.as_str()));
            }
        }
        MountSource::Cifs { credentials, .. } => {
            o.push("_netdev".into());
            o.push("iocharset=utf8".into());
            if credentials.is_some() {
                o.push(format!("credentials={}", credentials_path(def)));
            } else {
                o.push("guest".into());
            }
        }
        // The dataset's mountpoint property is not "legacy": zfsutil tells mount.zfs it may
        // mount it anyway (what `zfs mount` does).
        MountSource::Zfs { .. } => o.push("zfsutil".into()),
        MountSource::Local { .. } => {}
    }
    // nofail: a missing disk or server never blocks the boot; the retry policy remounts later.
    // (The wait for the device is bounded by JobTimeoutSec: `x-systemd.device-timeout` is read
    // only by the fstab generator, not from a unit's Options=.)
    o.push("nofail".into());
    // Forced, whatever corenasd asked for: a mounted filesystem (a USB disk, a remote server, a
    // crafted pool) must not bring a setuid-root binary or a device node onto the NAS, and a
    // remote one no program to run. An admin's flags only ever add to these.
    let mut flags = def.flags.clone();
    flags.extend([MountFlag::NoSuid, MountFlag::NoDev]);
    if def.source.is_remote() {
        flags.push(MountFlag::NoExec);
    }
    flags.sort();
    flags.dedup();
    o.extend(flags.iter().map(|f| f.as_str().to_owned()));
    o.join(",")
}

pub fn mount_unit(def: &MountDef) -> String {
    let (what, fstype) = what(def);
    let mut out = String::new();
    let _ = writeln!(out, "{MANAGED_HEADER}");
    let _ = writeln!(out, "[Unit]");
    let _ = writeln!(out, "Description=CoreNAS {} mount {}", def.source.kind(), def.target);
    if def.source.is_remote() {
        let _ = writeln!(out, "Wants=network-online.target");
        let _ = writeln!(out, "After=network-online.target");
    }
    // The whole start job, waiting for the device or network included.
    let _ = writeln!(out, "JobTimeoutSec={}", def.timeout_secs);
    if matches!(def.source, MountSource::Zfs { .. }) {
        // The pool is imported (zfs-import-cache.service) before its datasets are mounted.
        let _ = writeln!(out, "Wants=zfs-import.target");
        let _ = writeln!(out, "After=zfs-import.target");
    }
    if let MountSource::Bind { source } = &def.source {
        // The source's own mount first (a pool under /mnt/corenas).
        let _ = writeln!(out, "RequiresMountsFor={source}");
    }
    let _ = writeln!(out, "\n[Mount]");
    let _ = writeln!(out, "What={what}");
    let _ = writeln!(out, "Where={}", def.target);
    let _ = writeln!(out, "Type={fstype}");
    let _ = writeln!(out, "Options={}", options(def));
    let _ = writeln!(out, "TimeoutSec={}", def.timeout_secs);
    if !def.temporary && !def.automount {
        let _ = writeln!(out, "\n[Install]\nWantedBy={}", wanted_by(def));
    }
    out
}

pub fn automount_unit(def: &MountDef) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MANAGED_HEADER}");
    let _ = writeln!(out, "[Unit]");
    let _ = writeln!(out, "Description=CoreNAS automount {}", def.target);
    let _ = writeln!(out, "\n[Automount]");
    let _ = writeln!(out, "Where={}", def.target);
    let _ = writeln!(out, "TimeoutIdleSec=600");
    if !def.temporary {
        let _ = writeln!(out, "\n[Install]\nWantedBy={}", wanted_by(def));
    }
    out
}

/// The credentials file's content (never shown in a plan; 0600 root).
pub fn credentials(def: &MountDef) -> Option<String> {
    let MountSource::Cifs { credentials: Some(c), .. } = &def.source else { return None };
    let mut out = format!("username={}\npassword={}\n", c.user, c.password.expose());
    if let Some(d) = &c.domain {
        let _ = writeln!(out, "domain={d}");
    }
    Some(out)
}

/// The grammar of a rendered unit line.
pub fn line_is_expected(line: &str) -> bool {
    const KEYS: &[&str] = &[
        "Description",
        "Wants",
        "After",
        "JobTimeoutSec",
        "RequiresMountsFor",
        "What",
        "Where",
        "Type",
        "Options",
        "TimeoutSec",
        "WantedBy",
        "TimeoutIdleSec",
    ];
    if line.is_empty() || line.starts_with("# ") {
        return !line.contains(['\r', '\0']);
    }
    if ["[Unit]", "[Mount]", "[Automount]", "[Install]"].contains(&line) {
        return true;
    }
    let Some((k, v)) = line.split_once('=') else { return false };
    KEYS.contains(&k) && !v.is_empty() && !v.contains(['%', '\\', '"', '\'', '\r', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::mounts::{CifsCredentials, LocalFs, NfsVersion};

    fn def(source: MountSource, target: &str) -> MountDef {
        MountDef {
            source,
            target: target.parse().unwrap(),
            flags: vec![MountFlag::NoAtime],
            automount: false,
            temporary: false,
            timeout_secs: 30,
        }
    }

    #[test]
    fn local_nfs_cifs_and_bind_units() {
        let local =
            def(MountSource::Local { device: "/dev/sdb".parse().unwrap(), fs: LocalFs::Ext4 }, "/mnt/corenas/data");
        let u = mount_unit(&local);
        assert!(
            u.contains("What=/dev/sdb\nWhere=/mnt/corenas/data\nType=ext4\nOptions=nofail,noatime,nosuid,nodev\n"),
            "{u}"
        );
        assert!(u.ends_with("[Install]\nWantedBy=local-fs.target\n"));
        assert_eq!(local.unit_name(), "mnt-corenas-data.mount");

        // An OpenZFS dataset: mounted with zfsutil, after the pools are imported.
        let zfs = def(
            MountSource::Zfs { pool: "tank".parse().unwrap(), dataset: Some("tank/media".parse().unwrap()) },
            "/mnt/corenas/tank/media",
        );
        let u = mount_unit(&zfs);
        assert!(u.contains("Wants=zfs-import.target\nAfter=zfs-import.target\n"), "{u}");
        assert!(
            u.contains("What=tank/media\nWhere=/mnt/corenas/tank/media\nType=zfs\nOptions=zfsutil,nofail,noatime,nosuid,nodev\n"),
            "{u}"
        );
        assert!(u.lines().all(line_is_expected), "{u}");
        let root = def(MountSource::Zfs { pool: "tank".parse().unwrap(), dataset: None }, "/mnt/corenas/tank");
        assert!(mount_unit(&root).contains("What=tank\n"));

        let nfs = def(
            MountSource::Nfs {
                server: "fd00::1".parse().unwrap(),
                export: "/srv/x".parse().unwrap(),
                version: Some(NfsVersion::V42),
            },
            "/mnt/corenas/remote",
        );
        let u = mount_unit(&nfs);
        assert!(
            u.contains("What=[fd00::1]:/srv/x\n")
                && u.contains("Options=_netdev,vers=4.2,nofail,noatime,noexec,nosuid,nodev\n"),
            "{u}"
        );
        assert!(u.contains("After=network-online.target") && u.ends_with("WantedBy=remote-fs.target\n"));

        let cifs = def(
            MountSource::Cifs {
                server: "nas.lan".parse().unwrap(),
                share: "backup".parse().unwrap(),
                credentials: Some(CifsCredentials {
                    user: "bob".parse().unwrap(),
                    domain: None,
                    password: corenas_proto::secret::RemoteSecret::new("Secret-Pass-1".into()).unwrap(),
                }),
            },
            "/mnt/corenas/nasbackup",
        );
        let u = mount_unit(&cifs);
        assert!(u.contains("What=//nas.lan/backup\n"), "{u}");
        assert!(u.contains("credentials=/etc/corenas/credentials/mnt~corenas~nasbackup.cred"));
        assert!(!u.contains("Secret-Pass-1"));
        assert_eq!(credentials(&cifs).unwrap(), "username=bob\npassword=Secret-Pass-1\n");

        let bind = def(MountSource::Bind { source: "/mnt/corenas/tank/media".parse().unwrap() }, "/storage/media");
        let u = mount_unit(&bind);
        assert!(
            u.contains("RequiresMountsFor=/mnt/corenas/tank/media")
                && u.contains("Type=none\nOptions=bind,nofail,noatime,nosuid,nodev\n"),
            "{u}"
        );
        for text in [mount_unit(&local), mount_unit(&nfs), mount_unit(&cifs), mount_unit(&bind), automount_unit(&bind)]
        {
            assert!(text.lines().all(line_is_expected), "{text}");
        }
    }

    /// Played as a compromised corenasd (or a web admin): whatever flags a request carries (none
    /// at all here), no CoreNAS mount lets a setuid binary or a device node from the mounted
    /// filesystem work, and nothing on a remote server runs on the NAS.
    #[test]
    fn every_unit_is_nosuid_nodev_and_remote_ones_noexec() {
        let sources = [
            MountSource::Local { device: "/dev/sdb".parse().unwrap(), fs: LocalFs::Ext4 },
            MountSource::Local { device: "/dev/sdc1".parse().unwrap(), fs: LocalFs::Vfat },
            MountSource::Bind { source: "/mnt/corenas/tank/media".parse().unwrap() },
            MountSource::Zfs { pool: "tank".parse().unwrap(), dataset: Some("tank/media".parse().unwrap()) },
            MountSource::Nfs {
                server: "attacker.lan".parse().unwrap(),
                export: "/exp".parse().unwrap(),
                version: None,
            },
            MountSource::Cifs {
                server: "attacker.lan".parse().unwrap(),
                share: "x".parse().unwrap(),
                credentials: None,
            },
        ];
        for source in sources {
            let remote = source.is_remote();
            for flags in [vec![], vec![MountFlag::ReadOnly], vec![MountFlag::NoSuid, MountFlag::NoAtime]] {
                let d = MountDef { flags, ..def(source.clone(), "/mnt/corenas/x") };
                let unit = mount_unit(&d);
                let line = unit.lines().find_map(|l| l.strip_prefix("Options=")).expect("an Options= line");
                let opts: Vec<&str> = line.split(',').collect();
                for must in ["nosuid", "nodev"] {
                    assert_eq!(opts.iter().filter(|o| **o == must).count(), 1, "{must} once in {unit}");
                }
                assert_eq!(opts.contains(&"noexec"), remote, "noexec exactly for remote sources: {unit}");
                assert!(unit.lines().all(line_is_expected), "{unit}");
            }
        }
    }
}
