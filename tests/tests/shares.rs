//! Shares end to end, as root: corenas-ctl → corenasd → helper renders the SMB include file and
//! the exports; a real smbd on a loopback port serves it to a real smbclient.

use corenas_tests::*;
use std::path::Path;

const ALICE_PW: &str = "Alice-Secret-42";
const BOB_PW: &str = "Bob-Secret-4242";

fn share_user(lab: &Lab, name: &str, pw: &str) {
    ok(&lab.ctl(&["user", "add", name, "--kind", "share", "--no-home"]), "user add");
    ok(
        &lab.ctl_stdin(&["user", "set-smb-password", name, "--password-stdin"], Some(&format!("{pw}\n"))),
        "smb password",
    );
}

fn scratch(lab: &Lab, name: &str) -> std::path::PathBuf {
    let d = lab.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn smb_shares_served_by_a_real_smbd() {
    if !require_root("smb_shares_served_by_a_real_smbd") {
        return;
    }
    let lab = Lab::start("smb", LabOptions::default());
    share_user(&lab, "alice", ALICE_PW);
    share_user(&lab, "bob", BOB_PW);
    ok(
        &lab.ctl(&["share", "create", "team", "--smb", "--valid-user", "alice", "--private", "alice", "--recycle"]),
        "create team",
    );
    ok(&lab.ctl(&["share", "create", "docs", "--smb", "--read-only", "--public-read"]), "create docs");
    std::fs::write(lab.storage.join("docs/readme.txt"), "read me\n").unwrap();

    // The directory got the template's owner, mode and default ACL.
    let meta = std::fs::metadata(lab.storage.join("team")).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
    assert_eq!(meta.uid(), 50000, "owned by alice");

    let conf = lab.read("etc/samba/corenas.conf");
    assert!(conf.contains("[team]") && conf.contains("valid users = alice"), "{conf}");
    assert!(
        lab.read("etc/samba/smb.conf")
            .contains(&format!("include = {}", lab.root.join("etc/samba/corenas.conf").display()))
    );

    let smbd = lab.start_smbd();
    let work = scratch(&lab, "client");
    std::fs::write(work.join("hello.txt"), "hello over SMB\n").unwrap();

    // alice writes and reads back.
    let o = lab.smbclient("team", Some(("alice", ALICE_PW)), "put hello.txt; get hello.txt back.txt", &work);
    ok(&o, "alice put/get");
    assert_eq!(std::fs::read_to_string(work.join("back.txt")).unwrap(), "hello over SMB\n");
    assert_eq!(std::fs::metadata(lab.storage.join("team/hello.txt")).unwrap().uid(), 50000);

    // bob has a valid SMB password but no rights on team.
    let o = lab.smbclient("team", Some(("bob", BOB_PW)), "ls", &work);
    assert!(!o.status.success(), "bob must be refused: {}", stdout(&o));
    assert!(
        format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_ACCESS_DENIED"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // A wrong password is refused.
    let o = lab.smbclient("team", Some(("alice", "Wrong-Secret-42")), "ls", &work);
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_LOGON_FAILURE"), "{}", stdout(&o));

    // Read-only: bob can read docs but not write.
    let o = lab.smbclient("docs", Some(("bob", BOB_PW)), "get readme.txt r.txt", &work);
    ok(&o, "bob reads docs");
    let o = lab.smbclient("docs", Some(("bob", BOB_PW)), "put hello.txt", &work);
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_ACCESS_DENIED"), "{}", stdout(&o));
    assert!(!lab.storage.join("docs/hello.txt").exists());

    // Guest off: anonymous is refused.
    let o = lab.smbclient("docs", None, "ls", &work);
    assert!(!o.status.success(), "anonymous must be refused: {}", stdout(&o));

    // Recycle bin: a delete lands in .recycle/alice/.
    ok(&lab.smbclient("team", Some(("alice", ALICE_PW)), "del hello.txt", &work), "alice deletes");
    assert!(!lab.storage.join("team/hello.txt").exists());
    assert_eq!(std::fs::read_to_string(lab.storage.join("team/.recycle/alice/hello.txt")).unwrap(), "hello over SMB\n");

    // A change is served after the reload without restarting smbd: bob joins team.
    ok(&lab.ctl(&["share", "mod", "team", "--valid-user", "alice", "--valid-user", "bob"]), "mod team");
    // Still denied by the directory's ACL (private to alice): SMB and the filesystem agree.
    let o = lab.smbclient("team", Some(("bob", BOB_PW)), "ls", &work);
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_ACCESS_DENIED"), "{}", stdout(&o));

    // Deleting the share stops serving it and keeps the data.
    ok(&lab.ctl(&["share", "del", "docs"]), "del docs");
    let o = lab.smbclient("docs", Some(("bob", BOB_PW)), "ls", &work);
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_BAD_NETWORK_NAME"), "{}", stdout(&o));
    assert!(lab.storage.join("docs/readme.txt").exists());
    drop(smbd);
}

#[test]
fn group_shares_and_homes() {
    if !require_root("group_shares_and_homes") {
        return;
    }
    let lab = Lab::start("smbgroup", LabOptions::default());
    share_user(&lab, "alice", ALICE_PW);
    share_user(&lab, "bob", BOB_PW);
    share_user(&lab, "carol", "Carol-Secret-42");
    ok(&lab.ctl(&["group", "add", "staff", "--kind", "share"]), "group add");
    ok(&lab.ctl(&["group", "mod", "staff", "--add-member", "alice", "--add-member", "bob"]), "members");
    ok(&lab.ctl(&["share", "create", "projects", "--smb", "--valid-group", "staff", "--group-rw", "staff"]), "create");
    let smbd = lab.start_smbd();
    let work = scratch(&lab, "client");
    std::fs::write(work.join("plan.txt"), "plan\n").unwrap();
    ok(&lab.smbclient("projects", Some(("alice", ALICE_PW)), "put plan.txt", &work), "alice writes");
    // bob, in the same group, may change alice's file (default ACL: group rwx).
    ok(&lab.smbclient("projects", Some(("bob", BOB_PW)), "get plan.txt p.txt; del plan.txt", &work), "bob changes");
    // carol is not in staff.
    let o = lab.smbclient("projects", Some(("carol", "Carol-Secret-42")), "ls", &work);
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains("NT_STATUS_ACCESS_DENIED"), "{}", stdout(&o));
    drop(smbd);
}

#[test]
fn policy_refusals_name_the_problem() {
    if !require_root("policy_refusals_name_the_problem") {
        return;
    }
    let lab = Lab::start("sharepolicy", LabOptions::default());
    share_user(&lab, "alice", ALICE_PW);
    let before = lab.read("etc/samba/smb.conf");
    let refused = |args: &[&str], needle: &str| {
        let o = lab.ctl(args);
        assert!(!o.status.success(), "{args:?} must be refused");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    };
    refused(&["share", "create", "global", "--smb"], "reserved");
    refused(&["share", "create", "homes", "--smb"], "reserved");
    refused(&["share", "create", "a[b]", "--smb"], "name");
    refused(&["share", "create", "x", "--smb", "--path", "/etc"], "path");
    refused(&["share", "create", "x", "--smb", "--path", "/storage/a b"], "path");
    refused(&["share", "create", "x"], "protocol");
    refused(&["share", "create", "open", "--smb", "--guest"], "--force");
    refused(&["share", "create", "x", "--nfs", "--nfs-client", "10.0.0.0/33"], "client");
    // A symlink planted in the share root is not followed.
    std::os::unix::fs::symlink("/etc", lab.storage.join("evil")).unwrap();
    refused(&["share", "create", "evil", "--smb"], "symbolic link");
    assert!(!lab.root.join("etc/samba/corenas.conf").exists(), "nothing was published");
    assert_eq!(lab.read("etc/samba/smb.conf"), before);

    ok(&lab.ctl(&["share", "create", "media", "--smb", "--public-read"]), "create media");
    refused(&["share", "create", "media", "--smb"], "already exists");
    // A second share on the same path must agree on the directory's rights.
    refused(
        &["share", "create", "media2", "--smb", "--path", "/storage/media", "--private", "alice"],
        "different access",
    );
    ok(
        &lab.ctl(&["share", "create", "media2", "--smb", "--path", "/storage/media", "--public-read", "--read-only"]),
        "same rules",
    );
    // Read-only over SMB but writable over NFS is one definition with two different rights.
    refused(&["share", "create", "mixed", "--smb", "--read-only", "--nfs", "--nfs-client", "10.0.0.0/8"], "read-only");

    // A guest share with --force: allowed, warned and audited.
    let o = lab.ctl(&["share", "create", "open", "--smb", "--guest", "--read-only"]);
    ok(&o, "guest share");
    assert!(stdout(&o).contains("warning: guest access is on"), "{}", stdout(&o));
    let log = lab.ctl_json(&["log", "view", "--limit", "5"]);
    let audited = log.as_array().unwrap().iter().any(|e| {
        let args: serde_json::Value = serde_json::from_str(e["args"].as_str().unwrap_or("{}")).unwrap();
        e["action"] == "share.create" && e["result"] == "ok" && args["smb"]["guest_ok"] == true
    });
    assert!(audited, "the guest share must be audited with guest_ok: {log}");
}

#[test]
fn dry_run_shows_the_diff_and_changes_nothing() {
    if !require_root("dry_run_shows_the_diff_and_changes_nothing") {
        return;
    }
    let lab = Lab::start("sharedry", LabOptions::default());
    let o = lab.ctl(&["--dry-run", "share", "create", "media", "--smb", "--recycle"]);
    ok(&o, "dry run");
    let out = stdout(&o);
    assert!(out.contains("+[media]") && out.contains("+\trecycle:repository = .recycle/%U"), "{out}");
    assert!(out.contains("/usr/bin/testparm -s --suppress-prompt"), "{out}");
    assert!(!lab.storage.join("media").exists());
    assert!(!lab.root.join("etc/samba/corenas.conf").exists());
    let list = lab.ctl_json(&["share", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

#[test]
fn nfs_exports_are_checked_by_exportfs() {
    if !require_root("nfs_exports_are_checked_by_exportfs") {
        return;
    }
    if !Path::new("/usr/sbin/exportfs").exists() {
        panic!("exportfs is missing: install nfs-kernel-server (.ci/run does)");
    }
    let lab = Lab::start("nfs", LabOptions { nfs_namespace: true, ..LabOptions::default() });
    let o = lab.ctl(&[
        "share",
        "create",
        "backup",
        "--nfs",
        "--nfs-client",
        "192.168.10.0/24",
        "--nfs-client",
        "10.1.2.3:ro:no_root_squash",
    ]);
    ok(&o, "nfs share");
    assert!(stdout(&o).contains("not root-squashed"), "{}", stdout(&o));
    let exports = lab.read("etc/exports.d/corenas.exports");
    let path = lab.storage.join("backup").display().to_string();
    // A plain directory, not a whole filesystem: nfsd checks every handle against the subtree.
    assert!(
        exports.contains(&format!(
            "{path} 192.168.10.0/24(rw,sync,root_squash,subtree_check,sec=sys) 10.1.2.3(ro,sync,no_root_squash,subtree_check,sec=sys)"
        )),
        "{exports}"
    );
    // exportfs read the file (in the lab's namespace) and reports both clients.
    let cfg = lab.ctl_json(&["share", "config"]);
    let exported = cfg["nfs_exported"]["Ok"].as_array().unwrap_or_else(|| panic!("{cfg}"));
    assert!(exported.iter().any(|l| l.as_str().unwrap().starts_with(&format!("{path} 192.168.10.0/24("))), "{cfg}");
    assert!(
        exported
            .iter()
            .any(|l| l.as_str().unwrap().contains("10.1.2.3(") && l.as_str().unwrap().contains("no_root_squash")),
        "{cfg}"
    );
    // The etab is the lab's, not the host's.
    assert!(lab.read("var/lib/nfs/etab").contains(&path));
    let host_etab = std::fs::read_to_string("/var/lib/nfs/etab").unwrap_or_default();
    assert!(!host_etab.contains(&path), "the host's NFS state was touched");

    // Multi-protocol: one definition, both servers.
    ok(&lab.ctl(&["share", "mod", "backup", "--smb"]), "add smb");
    assert!(lab.read("etc/samba/corenas.conf").contains("[backup]"));
    ok(&lab.ctl(&["share", "del", "backup"]), "del");
    let cfg = lab.ctl_json(&["share", "config"]);
    assert_eq!(cfg["nfs_exported"]["Ok"].as_array().map(Vec::len), Some(0), "{cfg}");
}

/// The helper is killed while it publishes: corenas.conf is always a complete file (the old
/// one or the new one), never half, and the next publish repairs the rest.
#[test]
fn killing_the_helper_mid_publish_never_leaves_half_a_file() {
    if !require_root("killing_the_helper_mid_publish_never_leaves_half_a_file") {
        return;
    }
    let mut lab = Lab::start("sharecrash", LabOptions::default());
    // Many shares make the file large and testparm slow enough to be hit mid-way.
    for i in 0..40 {
        ok(&lab.ctl(&["share", "create", &format!("s{i:03}"), "--smb", "--recycle", "--audit"]), "create");
    }
    // The file as it is with s000 read-only or not: the only two complete files there can be.
    let with_s000 = |text: &str, ro: bool| {
        let (head, tail) = text.split_once("[s000]\n").unwrap();
        let (line, rest) = tail.split_once("\tread only = ").unwrap();
        let rest = rest.split_once('\n').unwrap().1;
        format!("{head}[s000]\n{line}\tread only = {}\n{rest}", if ro { "yes" } else { "no" })
    };
    let mut seen_new = 0;
    for round in 0..12 {
        let before = lab.read("etc/samba/corenas.conf");
        let flag = if round % 2 == 0 { "--read-only" } else { "--writable" };
        let mut child = std::process::Command::new(lab.bin.join("corenas-ctl"))
            .args(["--socket".as_ref(), lab.daemon_sock.as_os_str()])
            .args(["share", "mod", "s000", flag])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20 + 15 * round));
        lab.kill_and_restart_helper();
        let _ = child.wait();
        let now = lab.read("etc/samba/corenas.conf");
        let complete = now == with_s000(&before, true) || now == with_s000(&before, false);
        assert!(complete, "round {round}: neither the old nor the new file:\n{now}");
        if now != before {
            seen_new += 1;
        }
        let check = std::process::Command::new("testparm")
            .args(["-s", "--suppress-prompt"])
            .arg(lab.root.join("etc/samba/corenas.conf"))
            .output()
            .unwrap();
        assert!(check.status.success() && !stderr(&check).contains("Unknown parameter"), "{}", stderr(&check));
    }
    // Stale temporary files are swept by the next write, and the stored state wins.
    ok(&lab.ctl(&["share", "apply"]), "apply");
    let conf = lab.read("etc/samba/corenas.conf");
    let list = lab.ctl_json(&["share", "show", "s000"]);
    let ro = list["def"]["smb"]["read_only"].as_bool().unwrap();
    let section = conf.split("[s000]").nth(1).unwrap();
    assert!(section.contains(if ro { "read only = yes" } else { "read only = no" }), "{section}");
    assert!(!lab.root.join("etc/samba/.corenas.conf.corenas-new").exists());
    eprintln!("{seen_new} of 12 rounds finished before the kill");
}

/// Previous versions: a btrfs snapshot named the CoreNAS way appears to an SMB client as a
/// previous version of the file (vfs_shadow_copy2 with CoreNAS's format).
#[test]
fn btrfs_snapshots_are_previous_versions_over_smb() {
    if !require_root("btrfs_snapshots_are_previous_versions_over_smb") {
        return;
    }
    let lab = Lab::start("shadow", LabOptions::default());
    share_user(&lab, "alice", ALICE_PW);
    let disk = corenas_tests::media::LoopDisk::sparse(&lab.dir, "btrfs", 128 << 20);
    let mkfs = std::process::Command::new("mkfs.btrfs").args(["-q", "-f"]).arg(&disk.dev).output().unwrap();
    ok(&mkfs, "mkfs.btrfs");
    let mnt = lab.storage.join("pv");
    std::fs::create_dir_all(&mnt).unwrap();
    // The share lives on a filesystem CoreNAS mounts (`mount add` writes the unit; the helper
    // works only on mounts it made). The lab has no PID 1 systemd to start the unit: the test
    // mounts it as systemd would.
    let dev = disk.dev.display().to_string();
    ok(&lab.ctl(&["mount", "add", "--target", "/storage/pv", "--type", "btrfs", "--source", &dev]), "mount add");
    ok(&std::process::Command::new("mount").arg(&disk.dev).arg(&mnt).output().unwrap(), "mount btrfs");
    let result = std::panic::catch_unwind(|| {
        ok(
            &lab.ctl(&["share", "create", "pv", "--smb", "--previous-versions", "btrfs", "--private", "alice"]),
            "create",
        );
        std::fs::write(mnt.join("report.txt"), "version 1\n").unwrap();
        // Alice's file, as if she had written it (the share is private to her).
        std::os::unix::fs::chown(mnt.join("report.txt"), Some(50000), None).unwrap();
        // Traversable by share users (the share's default ACL would make a new directory 0700
        // root): the storage module must create .snapshots the same way.
        std::fs::create_dir_all(mnt.join(".snapshots")).unwrap();
        std::fs::set_permissions(mnt.join(".snapshots"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let snap = std::process::Command::new("btrfs")
            .args(["subvolume", "snapshot", "-r"])
            .arg(&mnt)
            .arg(mnt.join(".snapshots/auto-2026-11-24_10-00"))
            .output()
            .unwrap();
        ok(&snap, "btrfs snapshot");
        std::fs::write(mnt.join("report.txt"), "version 2\n").unwrap();
        let smbd = lab.start_smbd();
        let work = scratch(&lab, "client");
        let o = lab.smbclient("pv", Some(("alice", ALICE_PW)), "allinfo report.txt", &work);
        drop(smbd);
        ok(&o, "allinfo");
        let smbd_log = lab.log("smbd.log");
        assert!(
            stdout(&o).contains("@GMT-2026.11.24-10.00.00"),
            "no previous version listed:\n{}\nsmbd:\n{smbd_log}",
            stdout(&o)
        );
    });
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
