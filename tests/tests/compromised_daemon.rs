//! The root helper against a compromised corenasd (issue 18, review H1 and H2): raw helper
//! requests that corenasd itself would never send, each refused by the helper on its own
//! checks, with nothing changed. Plus the legitimate cases the same checks must keep working:
//! a disk CoreNAS mounted beneath the share root is crossed, a whole filesystem is exported
//! without `subtree_check`.

use corenas_proto::ErrorCode;
use corenas_proto::helper::HelperOp;
use corenas_proto::mounts::{MountDef, MountSource};
use corenas_proto::shares::{NfsOptions, NfsRule, ShareDef, ShareSet};
use corenas_tests::media::LoopDisk;
use corenas_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Unmounts (lazily) when dropped, so a failing test leaves no mount behind.
struct Mounted(PathBuf);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) -> Mounted {
    std::fs::create_dir_all(at).unwrap();
    let o = Command::new("mount").args(args).arg(at).output().unwrap();
    assert!(o.status.success(), "mount {args:?} {}: {}", at.display(), stderr(&o));
    Mounted(at.to_owned())
}

fn getfacl(p: &Path) -> String {
    stdout(&Command::new("getfacl").args(["-n", "-p"]).arg(p).output().unwrap())
}

/// Whether an ACL listing has a named user or group entry.
fn has_named_entry(acl: &str) -> bool {
    acl.lines().any(|l| {
        (l.starts_with("group:") && !l.starts_with("group::")) || (l.starts_with("user:") && !l.starts_with("user::"))
    })
}

fn mount_def(source: MountSource, target: &str) -> MountDef {
    MountDef {
        source,
        target: target.parse().unwrap(),
        flags: Vec::new(),
        automount: false,
        temporary: false,
        timeout_secs: 10,
    }
}

/// No unit for `/storage/<name>` anywhere the helper writes units.
fn assert_no_unit(lab: &Lab, stem: &str) {
    for dir in ["etc/systemd/system", "run/systemd/system"] {
        let unit = lab.root.join(dir).join(format!("{stem}.mount"));
        assert!(!unit.exists(), "{} was written", unit.display());
    }
    let wants = lab.root.join("etc/systemd/system/local-fs.target.wants").join(format!("{stem}.mount"));
    assert!(std::fs::symlink_metadata(&wants).is_err(), "{} was written", wants.display());
}

fn refused(lab: &Lab, op: HelperOp) -> corenas_proto::WireError {
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        let mut last = None;
        for dry_run in [true, false] {
            let e = h.perform(ctx(), op.clone(), dry_run).await.expect("rpc").expect_err("must be refused");
            last = Some(e);
        }
        last.unwrap()
    })
}

/// H2: corenasd asks the helper to mount a device that is already mounted (the system disk is
/// the real attack: mounted again under /storage, every file on it is reachable by share and
/// ACL operations). The helper re-checks the device itself.
#[test]
fn helper_refuses_to_mount_an_in_use_device_for_a_compromised_daemon() {
    if !require_root("helper_refuses_to_mount_an_in_use_device_for_a_compromised_daemon") {
        return;
    }
    let lab = Lab::start("attack-mount-busy", LabOptions::default());
    let disk = LoopDisk::sparse(&lab.dir, "busy", 16 << 20);
    let o = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&disk.dev).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let elsewhere = mount(&[disk.dev.to_str().unwrap()], &lab.dir.join("elsewhere"));
    std::fs::write(elsewhere.0.join("marker"), "mounted elsewhere").unwrap();

    let mut devices = vec![disk.dev.display().to_string()];
    // The disk holding / on this machine, when it is a block device the helper accepts.
    if let Ok(st) = rustix::fs::stat("/") {
        let numbers = format!("{}:{}", rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
        if let Ok(link) = std::fs::read_link(format!("/sys/dev/block/{numbers}")) {
            let name = link.file_name().unwrap().to_string_lossy().into_owned();
            if format!("/dev/{name}").parse::<corenas_proto::names::DevicePath>().is_ok() {
                devices.push(format!("/dev/{name}"));
            }
        }
    }
    for dev in &devices {
        let def = mount_def(
            MountSource::Local { device: dev.parse().unwrap(), fs: corenas_proto::mounts::LocalFs::Ext4 },
            "/storage/sys",
        );
        let e = refused(&lab, HelperOp::MountWrite { def });
        assert_eq!(e.field.as_deref(), Some("source"), "{dev}: {}", e.message);
        assert!(matches!(e.code, ErrorCode::Busy | ErrorCode::InvalidInput), "{dev}: {:?} {}", e.code, e.message);
        assert!(
            (e.message.contains("in use") || e.message.contains("is on the system disk"))
                && e.message.contains("not the system disk"),
            "{dev}: {}",
            e.message
        );
    }
    assert_no_unit(&lab, "storage-sys");
    assert!(!lab.storage.join("sys/marker").exists(), "nothing may be mounted at /storage/sys");
    drop(elsewhere);
}

/// H2: a bind mount whose source goes through a symbolic link a share user planted (NFS and
/// SMB clients can create links) would bind `/etc` under /storage.
#[test]
fn helper_refuses_a_bind_source_through_a_symlink_for_a_compromised_daemon() {
    if !require_root("helper_refuses_a_bind_source_through_a_symlink_for_a_compromised_daemon") {
        return;
    }
    let lab = Lab::start("attack-bind-link", LabOptions::default());
    std::fs::create_dir_all(lab.storage.join("team/real")).unwrap();
    std::os::unix::fs::symlink("/etc", lab.storage.join("team/evil")).unwrap();
    std::os::unix::fs::symlink(lab.storage.join("team"), lab.storage.join("teamlink")).unwrap();
    for source in ["/storage/team/evil", "/storage/team/evil/ssh", "/storage/teamlink/real", "/storage/team/none"] {
        let def = mount_def(MountSource::Bind { source: source.parse().unwrap() }, "/storage/sys");
        let e = refused(&lab, HelperOp::MountWrite { def });
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidInput, Some("source")), "{source}: {}", e.message);
        assert!(e.message.contains("bind source") && e.message.contains("existing directory"), "{}", e.message);
    }
    assert_no_unit(&lab, "storage-sys");
    // The plain directory is accepted (and in this lab only written, not mounted).
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect");
        let def = mount_def(MountSource::Bind { source: "/storage/team/real".parse().unwrap() }, "/storage/sys");
        h.perform(ctx(), HelperOp::MountWrite { def }, true).await.expect("rpc").expect("a plain source is planned");
    });
}

/// H2: with a foreign filesystem mounted beneath the share root (here the lab's own /etc,
/// standing for the system disk), an ACL request must not cross into it: `RESOLVE_BENEATH`
/// alone crosses mount points, and the ACL would land on `/etc/shadow`.
#[test]
fn helper_refuses_acls_across_a_foreign_mount_under_the_share_root() {
    if !require_root("helper_refuses_acls_across_a_foreign_mount_under_the_share_root") {
        return;
    }
    let lab = Lab::start("attack-acl-xdev", LabOptions::default());
    let out = lab.ctl(&["group", "add", "crew", "--kind", "share"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let etc = lab.root.join("etc");
    let sys = mount(&["--bind", etc.to_str().unwrap()], &lab.storage.join("sys"));
    std::fs::create_dir_all(lab.storage.join("team")).unwrap();
    let nested = mount(&["--bind", etc.to_str().unwrap()], &lab.storage.join("team/etc"));
    let shadow_before = getfacl(&etc.join("shadow"));
    let etc_before = getfacl(&etc);

    for (path, recursive) in
        [("/storage/sys/shadow", false), ("/storage/sys", false), ("/storage/team/etc/shadow", false)]
    {
        let op =
            HelperOp::AclSet { path: path.parse().unwrap(), entries: vec!["g:crew:rw".parse().unwrap()], recursive };
        let e = refused(&lab, op);
        assert_eq!(e.code, ErrorCode::NotAllowed, "{path}: {}", e.message);
        assert!(e.message.contains("mount point CoreNAS did not make"), "{path}: {}", e.message);
    }
    // A recursive walk over a tree with the foreign mount inside stops at it, and says so.
    let e = block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect");
        let op = HelperOp::AclSet {
            path: "/storage/team".parse().unwrap(),
            entries: vec!["g:crew:rw".parse().unwrap()],
            recursive: true,
        };
        h.perform(ctx(), op, false).await.expect("rpc").expect_err("the foreign mount is reported")
    });
    assert!(e.message.contains("/storage/team/etc: a mount point CoreNAS did not make"), "{}", e.message);
    assert_eq!(getfacl(&etc.join("shadow")), shadow_before, "the ACL must not land on the real file");
    assert_eq!(getfacl(&etc), etc_before);
    assert!(!has_named_entry(&getfacl(&etc.join("passwd"))), "{}", getfacl(&etc.join("passwd")));
    drop(nested);
    drop(sys);

    // A disk CoreNAS mounted there itself (a unit it wrote; this lab has no systemd, so the test
    // mounts it as systemd would) is crossed as before.
    let disk = LoopDisk::sparse(&lab.dir, "data", 16 << 20);
    let o = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&disk.dev).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dev = disk.dev.display().to_string();
    let out = lab.ctl(&["mount", "add", "--target", "/storage/data", "--type", "ext4", "--source", &dev]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let _data = mount(&[&dev], &lab.storage.join("data"));
    std::fs::create_dir_all(lab.storage.join("data/docs")).unwrap();
    let out = lab.ctl(&["acl", "set", "/storage/data/docs", "g:crew:rwx"]);
    assert!(out.status.success(), "a CoreNAS mount is crossed: {}\n{}", stdout(&out), stderr(&out));
    let docs = getfacl(&lab.storage.join("data/docs"));
    assert!(has_named_entry(&docs), "{docs}");
}

fn nfs_share(name: &str, path: &str) -> ShareDef {
    ShareDef {
        name: name.parse().unwrap(),
        path: path.parse().unwrap(),
        smb: None,
        nfs: Some(NfsOptions {
            rules: vec![NfsRule {
                client: "192.168.10.0/24".parse().unwrap(),
                read_only: false,
                no_root_squash: false,
            }],
        }),
    }
}

/// H1: a plain directory (here on the share root's filesystem) exported with
/// `no_subtree_check` lets an NFS client forge a handle for any inode of that filesystem. The
/// helper renders `subtree_check` for it; a whole filesystem CoreNAS mounted keeps
/// `no_subtree_check`; a foreign mount is refused.
#[test]
fn helper_exports_plain_directories_with_subtree_check_only() {
    if !require_root("helper_exports_plain_directories_with_subtree_check_only") {
        return;
    }
    let lab = Lab::start("attack-nfs", LabOptions::default());
    std::fs::create_dir_all(lab.storage.join("plain")).unwrap();
    let disk = LoopDisk::sparse(&lab.dir, "whole", 16 << 20);
    let o = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&disk.dev).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dev = disk.dev.display().to_string();
    let out = lab.ctl(&["mount", "add", "--target", "/storage/whole", "--type", "ext4", "--source", &dev]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let _whole = mount(&[&dev], &lab.storage.join("whole"));

    let exports = lab.root.join("etc/exports.d/corenas.exports");
    let set = ShareSet {
        shares: vec![nfs_share("plain", "/storage/plain"), nfs_share("whole", "/storage/whole")],
        homes: false,
    };
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect");
        h.perform(ctx(), HelperOp::SharesPublish { set }, false).await.expect("rpc").expect("published");
    });
    let text = std::fs::read_to_string(&exports).unwrap();
    let line = |p: &str| {
        let host = lab.storage.join(p).display().to_string();
        text.lines().find(|l| l.starts_with(&format!("{host} "))).unwrap_or_else(|| panic!("{p}: {text}")).to_owned()
    };
    assert!(line("plain").contains("(rw,sync,root_squash,subtree_check,sec=sys)"), "{text}");
    assert!(line("whole").contains("(rw,sync,root_squash,no_subtree_check,sec=sys)"), "{text}");

    // A foreign filesystem mounted where a share is: refused, and the exports stay as they were.
    let _foreign = mount(&["-t", "tmpfs", "corenas-foreign"], &lab.storage.join("foreign"));
    let set = ShareSet { shares: vec![nfs_share("foreign", "/storage/foreign")], homes: false };
    // (Directories are checked when the files are written; a dry run of a new share comes first.)
    let e = block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect");
        h.perform(ctx(), HelperOp::SharesPublish { set }, false).await.expect("rpc").expect_err("refused")
    });
    assert!(e.message.contains("mount point CoreNAS did not make"), "{}", e.message);
    assert_eq!(std::fs::read_to_string(&exports).unwrap(), text, "nothing changes on refusal");
}
