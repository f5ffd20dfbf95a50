//! Mount units, as root in the lab: rendered by the helper from typed data, checked with
//! `systemd-analyze verify` (by the helper, and here again independently), enabled by link,
//! credentials in a 0600 file and never in the unit. The plain lab has no systemd reading its
//! units, and says so instead of pretending; tests/tests/mounts_systemd.rs starts them under a
//! private systemd (PID 1 in its own namespaces).

use corenas_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn verify(path: &std::path::Path) {
    let o = Command::new("systemd-analyze").arg("verify").arg(path).output().unwrap();
    assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
    assert!(!stderr(&o).contains("Unknown"), "{}: {}", path.display(), stderr(&o));
}

#[test]
fn every_kind_of_mount_renders_a_unit_systemd_accepts() {
    if !require_root("every_kind_of_mount_renders_a_unit_systemd_accepts") {
        return;
    }
    let lab = Lab::start("mounts", LabOptions::default());
    let disk = corenas_tests::media::LoopDisk::sparse(&lab.dir, "disk", 16 << 20);
    let dev = disk.dev.display().to_string();
    let units = lab.root.join("etc/systemd/system");

    let o = lab.ctl(&[
        "mount",
        "add",
        "--target",
        "/mnt/corenas/data",
        "--type",
        "ext4",
        "--source",
        &dev,
        "--option",
        "noatime",
    ]);
    ok(&o, "local");
    assert!(stdout(&o).contains("nothing was mounted"), "the lab must say it did not mount: {}", stdout(&o));
    let unit = units.join("mnt-corenas-data.mount");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(&format!("What={dev}\nWhere=/mnt/corenas/data\nType=ext4\n")), "{text}");
    verify(&unit);
    let link = units.join("local-fs.target.wants/mnt-corenas-data.mount");
    assert_eq!(std::fs::read_link(&link).unwrap().display().to_string(), "../mnt-corenas-data.mount");

    ok(
        &lab.ctl(&[
            "mount",
            "add",
            "--target",
            "/mnt/corenas/remote",
            "--type",
            "nfs",
            "--source",
            "nas.example.lan:/srv/export",
            "--nfs-version",
            "4.2",
            "--automount",
        ]),
        "nfs",
    );
    verify(&units.join("mnt-corenas-remote.mount"));
    verify(&units.join("mnt-corenas-remote.automount"));
    assert!(units.join("remote-fs.target.wants/mnt-corenas-remote.automount").exists());

    let o = lab.ctl_stdin(
        &[
            "mount",
            "add",
            "--target",
            "/mnt/corenas/win-backup",
            "--type",
            "cifs",
            "--source",
            "//fileserver/backup$",
            "--user",
            "backup",
            "--password-stdin",
        ],
        Some("remote pass 1\n"),
    );
    ok(&o, "cifs");
    let unit = units.join("mnt-corenas-win\\x2dbackup.mount");
    let text = std::fs::read_to_string(&unit).unwrap();
    verify(&unit);
    assert!(!text.contains("remote pass 1"), "the password must not be in the unit");
    let cred = lab.root.join("etc/corenas/credentials/mnt~corenas~win-backup.cred");
    assert_eq!(std::fs::read_to_string(&cred).unwrap(), "username=backup\npassword=remote pass 1\n");
    assert_eq!(std::fs::metadata(&cred).unwrap().permissions().mode() & 0o777, 0o600);
    let log = lab.ctl_json(&["log", "view", "--limit", "3"]).to_string();
    assert!(!log.contains("remote pass 1"), "the audit log must not hold the password");

    // The helper opens a bind source itself (no links, no foreign mounts): it must exist.
    std::fs::create_dir_all(lab.root.join("mnt/corenas/data/media")).unwrap();
    ok(
        &lab.ctl(&[
            "mount",
            "add",
            "--target",
            "/storage/media",
            "--type",
            "bind",
            "--source",
            "/mnt/corenas/data/media",
            "--temporary",
        ]),
        "bind",
    );
    let tmp = lab.root.join("run/systemd/system/storage-media.mount");
    verify(&tmp);
    assert!(!std::fs::read_to_string(&tmp).unwrap().contains("[Install]"), "a temporary mount is not enabled");

    // Status comes from systemd, and here says why it cannot.
    let list = lab.ctl_json(&["mount", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(4), "{list}");
    assert!(list[0]["state"]["Err"].as_str().unwrap().contains("lab"), "{list}");

    // Refusals name the field; nothing is written.
    for (args, field) in [
        (vec!["mount", "add", "--target", "/etc/x", "--type", "ext4", "--source", &dev], "target"),
        (vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "ext4", "--source", "/dev/mem"], "source"),
        (vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "host;reboot:/x"], "source"),
        (vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "host:/x%n"], "source"),
        (
            vec![
                "mount",
                "add",
                "--target",
                "/mnt/corenas/x",
                "--type",
                "ext4",
                "--source",
                &dev,
                "--option",
                "exec,suid",
            ],
            "option",
        ),
        (vec!["mount", "add", "--target", "/mnt/corenas/data", "--type", "ext4", "--source", &dev], "already exists"),
    ] {
        let o = lab.ctl(&args);
        assert!(!o.status.success(), "{args:?} must be refused");
        assert!(stderr(&o).contains(field), "{args:?}: {}", stderr(&o));
    }
    assert!(!units.join("mnt-corenas-x.mount").exists());

    // A mounted device is refused by the helper.
    let mnt = lab.dir.join("busy");
    std::fs::create_dir_all(&mnt).unwrap();
    let mkfs = Command::new("mkfs.ext4").args(["-q", &dev]).output().unwrap();
    assert!(mkfs.status.success(), "{}", stderr(&mkfs));
    must_mount(&dev, &mnt);
    let o = lab.ctl(&["mount", "add", "--target", "/mnt/corenas/busy", "--type", "ext4", "--source", &dev]);
    let _ = Command::new("umount").arg(&mnt).status();
    assert!(!o.status.success() && stderr(&o).contains("in use"), "{}", stderr(&o));

    // Remove takes the unit, its link and its credentials away.
    ok(&lab.ctl(&["mount", "remove", "/mnt/corenas/win-backup"]), "remove");
    assert!(!unit.exists() && !cred.exists());
    ok(&lab.ctl(&["mount", "remove", "/mnt/corenas/data"]), "remove");
    assert!(!link.exists() && !units.join("mnt-corenas-data.mount").exists());
}

fn must_mount(dev: &str, at: &std::path::Path) {
    let o = Command::new("mount").arg(dev).arg(at).output().unwrap();
    assert!(o.status.success(), "mount: {}", stderr(&o));
}
