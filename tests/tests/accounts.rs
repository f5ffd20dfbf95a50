//! Accounts, SMB passwords and ACLs end to end: corenas-ctl → corenasd → corenas-helper → the
//! real shadow tools, smbpasswd and the kernel's ACLs, checked with the real readers (the
//! prefixed passwd/group/shadow files, pdbedit, getfacl).

use corenas_tests::*;
use std::process::Command;

const PW: &str = "Correct-Horse-9x\n";

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
}

fn passwd_line(lab: &Lab, name: &str) -> Option<Vec<String>> {
    lab.read("etc/passwd")
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .map(|l| l.split(':').map(str::to_owned).collect())
}

fn getfacl(path: &std::path::Path) -> String {
    let out = run(Command::new("getfacl").args(["-n", "-p"]).arg(path));
    assert!(out.status.success(), "getfacl: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn users_and_groups_round_trip_through_the_real_tools() {
    if !require_root("users_and_groups_round_trip_through_the_real_tools") {
        return;
    }
    let lab = Lab::start("accounts", LabOptions::default());
    ok(&lab.ctl(&["group", "add", "staff", "--kind", "share"]));
    let staff =
        lab.read("etc/group").lines().find(|l| l.starts_with("staff:")).expect("staff in group file").to_owned();
    let gid: u32 = staff.split(':').nth(2).unwrap().parse().unwrap();
    assert!((50_000..=100_000).contains(&gid), "{staff}");

    ok(&lab.ctl_stdin(
        &[
            "user",
            "add",
            "alice",
            "--kind",
            "share",
            "--full-name",
            "Alice Example",
            "--group",
            "staff",
            "--password-stdin",
        ],
        Some(PW),
    ));
    let alice = passwd_line(&lab, "alice").expect("alice in passwd");
    let uid: u32 = alice[2].parse().unwrap();
    assert!((50_000..=100_000).contains(&uid), "{alice:?}");
    assert_eq!(alice[4], "Alice Example");
    assert_eq!(alice[6], "/usr/sbin/nologin");
    let shadow = lab.read("etc/shadow");
    let hash =
        shadow.lines().find(|l| l.starts_with("alice:")).expect("shadow entry").split(':').nth(1).unwrap().to_owned();
    assert!(hash.starts_with("$y$"), "yescrypt hash expected: {hash}");
    assert!(!shadow.contains("Correct-Horse"), "no plaintext");
    assert!(lab.read("etc/group").lines().any(|l| l.starts_with("staff:") && l.ends_with(":alice")));

    ok(&lab.ctl(&["user", "add", "root2", "--kind", "admin", "--no-home"]));
    let admin_uid: u32 = passwd_line(&lab, "root2").unwrap()[2].parse().unwrap();
    assert!((10_000..=20_000).contains(&admin_uid));
    assert_eq!(passwd_line(&lab, "root2").unwrap()[6], "/usr/sbin/nologin", "no login shell unless chosen");

    // JSON listing shows exactly the managed users.
    let list = lab.ctl_json(&["user", "list"]);
    let names: Vec<&str> = list.as_array().expect("array").iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "root2"]);

    ok(&lab.ctl(&["user", "mod", "alice", "--lock", "--shell", "/bin/bash"]));
    assert!(lab.read("etc/shadow").lines().any(|l| l.starts_with("alice:!")), "locked");
    assert_eq!(passwd_line(&lab, "alice").unwrap()[6], "/bin/bash");
    let show = lab.ctl_json(&["user", "show", "alice"]);
    assert_eq!(show["locked"], true);
    ok(&lab.ctl(&["user", "mod", "alice", "--unlock", "--remove-group", "staff"]));
    assert!(!lab.read("etc/shadow").lines().any(|l| l.starts_with("alice:!")));
    assert!(lab.read("etc/group").lines().any(|l| l == format!("staff:x:{gid}:")));

    ok(&lab.ctl(&["group", "mod", "staff", "--add-member", "alice", "--add-member", "root2"]));
    assert!(lab.read("etc/group").lines().any(|l| l == format!("staff:x:{gid}:alice,root2")));

    ok(&lab.ctl(&["user", "del", "alice"]));
    assert!(passwd_line(&lab, "alice").is_none());
    assert!(!lab.read("etc/group").lines().any(|l| l.starts_with("alice:")), "the user's own group goes too");
    // A new user never inherits a deleted user's id (files and ACLs are numeric).
    ok(&lab.ctl(&["user", "add", "erin", "--kind", "share", "--no-home"]));
    let erin: u32 = passwd_line(&lab, "erin").unwrap()[2].parse().unwrap();
    assert_ne!(erin, uid, "uid {uid} of the deleted alice must not be reused");
    // Not even when the name comes back, nor when asked for explicitly.
    ok(&lab.ctl(&["user", "add", "alice", "--kind", "share", "--no-home"]));
    let alice2: u32 = passwd_line(&lab, "alice").unwrap()[2].parse().unwrap();
    assert!(alice2 != uid && alice2 != erin, "{alice2}");
    ok(&lab.ctl(&["user", "add", "frank", "--kind", "share", "--no-home"]));
    let frank: u32 = passwd_line(&lab, "frank").unwrap()[2].parse().unwrap();
    assert!(![uid, erin, alice2].contains(&frank), "{frank}");
    let out = lab.ctl(&["user", "add", "gina", "--kind", "share", "--uid", &uid.to_string(), "--no-home"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("deleted account"), "{}", stderr(&out));
    ok(&lab.ctl(&["group", "mod", "staff", "--remove-member", "root2"]));
    ok(&lab.ctl(&["group", "del", "staff"]));
    assert!(!lab.read("etc/group").contains("staff:"));
}

/// Share ids skip Debian's reserved band (60000-65535): an explicit one is refused, naming the
/// field and the ranges; an account that already has one (made by an older CoreNAS) stays
/// managed and keeps its id.
#[test]
fn share_ids_skip_debians_reserved_band() {
    if !require_root("share_ids_skip_debians_reserved_band") {
        return;
    }
    let lab = Lab::start("debianids", LabOptions::default());
    let append = |rel: &str, line: &str| {
        let path = lab.root.join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{line}\n")).unwrap();
    };
    append("etc/passwd", "legacy:x:61000:61000::/home/legacy:/usr/sbin/nologin");
    append("etc/group", "legacy:x:61000:");
    append("etc/shadow", "legacy:!:19000:0:99999:7:::");
    append("etc/gshadow", "legacy:!::");

    for (what, args) in [
        ("uid", ["user", "add", "gina", "--kind", "share", "--uid", "61000"]),
        ("gid", ["group", "add", "team", "--kind", "share", "--gid", "62000"]),
    ] {
        let out = lab.ctl(&[&["--json"][..], &args[..]].concat());
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let e: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("a JSON error");
        assert_eq!(e["error"]["field"], what, "{e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("Debian reserves") && msg.contains("50000-59999 or 65536-100000"), "{msg}");
    }
    assert!(passwd_line(&lab, "gina").is_none());
    assert!(!lab.read("etc/group").contains("team:"));

    // The existing account: listed, editable, never renumbered.
    let list = lab.ctl_json(&["user", "list"]);
    assert!(list.as_array().unwrap().iter().any(|u| u["name"] == "legacy" && u["uid"] == 61000), "{list}");
    ok(&lab.ctl(&["user", "mod", "legacy", "--full-name", "Old Account"]));
    let legacy = passwd_line(&lab, "legacy").unwrap();
    assert_eq!((legacy[2].as_str(), legacy[4].as_str()), ("61000", "Old Account"));

    // New share accounts come from 50000-59999 (and 65536-100000 once that is full).
    ok(&lab.ctl(&["user", "add", "hugo", "--kind", "share", "--no-home"]));
    let hugo: u32 = passwd_line(&lab, "hugo").unwrap()[2].parse().unwrap();
    assert!((50_000..=59_999).contains(&hugo), "{hugo}");
    ok(&lab.ctl(&["user", "add", "ida", "--kind", "share", "--uid", "65536", "--no-home"]));
    assert_eq!(passwd_line(&lab, "ida").unwrap()[2], "65536");
}

#[test]
fn smb_password_lands_in_the_passdb() {
    if !require_root("smb_password_lands_in_the_passdb") {
        return;
    }
    let lab = Lab::start("smb", LabOptions::default());
    ok(&lab.ctl(&["user", "add", "bob", "--kind", "share", "--no-home"]));
    ok(&lab.ctl_stdin(&["user", "set-smb-password", "bob", "--password-stdin"], Some(PW)));
    let pdb = lab.pdbedit();
    assert!(pdb.contains("Unix username:        bob"), "{pdb}");
    assert!(lab.ctl_json(&["user", "show", "bob"])["smb"] == "Enabled");
    ok(&lab.ctl(&["user", "smb", "bob", "disable"]));
    assert!(lab.pdbedit().contains("[DU"), "{}", lab.pdbedit());
    ok(&lab.ctl(&["user", "mod", "bob", "--unlock"]));
    assert!(!lab.pdbedit().contains("[DU"), "unlocking re-enables SMB");
    ok(&lab.ctl(&["user", "del", "bob"]));
    assert!(!lab.pdbedit().contains("bob"), "deleting the user deletes its SMB account");
}

#[test]
fn acls_are_set_read_and_removed() {
    if !require_root("acls_are_set_read_and_removed") {
        return;
    }
    let lab = Lab::start("acl", LabOptions::default());
    ok(&lab.ctl(&["group", "add", "team", "--kind", "share", "--gid", "50500"]));
    ok(&lab.ctl(&["user", "add", "carol", "--kind", "share", "--uid", "50400", "--no-home"]));
    let proj = lab.storage.join("proj");
    std::fs::create_dir_all(proj.join("sub")).unwrap();
    std::fs::write(proj.join("sub/file"), b"x").unwrap();

    ok(&lab.ctl(&["acl", "set", "/storage/proj", "u:carol:rwx", "d:g:team:r-x", "--recursive"]));
    let top = getfacl(&proj);
    assert!(top.contains("user:50400:rwx"), "{top}");
    assert!(top.contains("default:group:50500:r-x"), "{top}");
    assert!(top.contains("mask::rwx"), "{top}");
    let file = getfacl(&proj.join("sub/file"));
    assert!(file.contains("user:50400:rwx") && !file.contains("default:"), "{file}");

    let listing = lab.ctl_json(&["acl", "get", "/storage/proj"]);
    assert!(listing.to_string().contains("carol"), "names are resolved from the prefixed files: {listing}");

    // As setfacl: changing default entries leaves the access mask alone (no widening).
    let narrow = lab.storage.join("narrow");
    std::fs::create_dir_all(&narrow).unwrap();
    ok(&lab.ctl(&["acl", "set", "/storage/narrow", "u:50400:rwx", "m::r--"]));
    ok(&lab.ctl(&["acl", "set", "/storage/narrow", "d:u:50400:rwx"]));
    assert!(getfacl(&narrow).contains("\nmask::r--"), "{}", getfacl(&narrow));

    ok(&lab.ctl(&["acl", "remove", "/storage/proj", "u:carol", "d:g:team", "--recursive"]));
    let top = getfacl(&proj);
    assert!(!top.contains("50400") && !top.contains("50500"), "{top}");
    assert!(!getfacl(&proj.join("sub/file")).contains("50400"));
}

/// L7, played by an NFS client (nfsd's LINK does not apply `protected_hardlinks`): it links a
/// file from outside the share into it, and waits for an admin's `acl set -R` on the share to
/// grant the share's users that file. The walk now leaves files with other names alone and says
/// so; the old walk changed the outside file's ACL. (The lab's share root is a tmpfs, so the
/// "outside" file lies beside the share on it, as `/etc/shadow` lies beside `/storage` on `/`.)
#[test]
fn acl_recursive_walk_skips_hard_linked_files() {
    if !require_root("acl_recursive_walk_skips_hard_linked_files") {
        return;
    }
    let lab = Lab::start("acllink", LabOptions::default());
    ok(&lab.ctl(&["user", "add", "carol", "--kind", "share", "--uid", "50400", "--no-home"]));
    let share = lab.storage.join("pub");
    let outside = lab.storage.join("private");
    std::fs::create_dir_all(share.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"root only").unwrap();
    std::fs::set_permissions(outside.join("secret"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(share.join("sub/own"), b"x").unwrap();
    std::fs::hard_link(outside.join("secret"), share.join("sub/planted")).unwrap();
    let before = getfacl(&outside.join("secret"));

    let out = lab.ctl(&["acl", "set", "/storage/pub", "u:carol:rwx", "--recursive"]);
    assert!(getfacl(&share.join("sub/own")).contains("user:50400:rwx"), "the share's own files are changed");
    assert_eq!(getfacl(&outside.join("secret")), before, "the linked file outside the share was changed");
    assert!(!out.status.success(), "the skip is reported: {}", stdout(&out));
    assert!(
        stderr(&out).contains("/storage/pub/sub/planted") && stderr(&out).contains("hard link"),
        "the report names the file and why: {}",
        stderr(&out)
    );
    // Named on its own, the file is the admin's explicit choice and is changed.
    ok(&lab.ctl(&["acl", "set", "/storage/pub/sub/planted", "u:carol:r--"]));
    assert!(getfacl(&outside.join("secret")).contains("user:50400:r--"));
}

#[test]
fn acl_paths_cannot_escape_the_share_root() {
    if !require_root("acl_paths_cannot_escape_the_share_root") {
        return;
    }
    let lab = Lab::start("escape", LabOptions::default());
    // A share user plants a symlink to /etc inside a share.
    std::fs::create_dir_all(lab.storage.join("pub")).unwrap();
    std::os::unix::fs::symlink("/etc", lab.storage.join("pub/evil")).unwrap();
    std::os::unix::fs::symlink(lab.root.join("etc/shadow"), lab.storage.join("pub/shadow")).unwrap();
    let before = getfacl(&lab.root.join("etc"));
    for path in [
        "/storage/pub/evil",
        "/storage/pub/evil/passwd",
        "/storage/pub/shadow",
        "/etc/passwd",
        "/storage",
        "/srv/pools/tank",
    ] {
        let out = lab.ctl(&["acl", "set", path, "u:50001:rwx"]);
        assert_eq!(out.status.code(), Some(1), "{path}: {}", stdout(&out));
        assert!(stderr(&out).contains("path"), "{path}: {}", stderr(&out));
    }
    assert_eq!(before, getfacl(&lab.root.join("etc")));
    assert!(!getfacl(&lab.root.join("etc/shadow")).contains("50001"));
    assert!(!getfacl(std::path::Path::new("/etc/passwd")).contains("50001"));
}

#[test]
fn dry_runs_show_the_exact_commands_and_change_nothing() {
    if !require_root("dry_runs_show_the_exact_commands_and_change_nothing") {
        return;
    }
    let lab = Lab::start("dryrun", LabOptions::default());
    std::fs::create_dir_all(lab.storage.join("d")).unwrap();
    let before = lab.snapshot();
    let facl = getfacl(&lab.storage.join("d"));
    let out = lab.ctl_stdin(&["--dry-run", "user", "add", "dave", "--kind", "share", "--password-stdin"], Some(PW));
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("/usr/sbin/groupadd") && text.contains("/usr/sbin/useradd") && text.contains("/usr/bin/mkpasswd"),
        "{text}"
    );
    assert!(text.contains("-- dave"), "{text}");
    assert!(!text.contains("Correct-Horse"), "never the secret: {text}");
    let json = lab.ctl_json(&["--dry-run", "acl", "set", "/storage/d", "u:50001:r"]);
    assert_eq!(json["dry_run"], true);
    assert!(json["steps"].to_string().contains("setfacl"), "{json}");
    assert_unchanged(&before, &lab.snapshot());
    assert_eq!(facl, getfacl(&lab.storage.join("d")));
    // Dry runs are audited as such.
    let log = lab.ctl_json(&["log", "view"]).to_string();
    assert!(log.contains("\"result\":\"dry-run\""), "{log}");
}

#[test]
fn audit_chain_detects_tampering() {
    if !require_root("audit_chain_detects_tampering") {
        return;
    }
    let lab = Lab::start("audit", LabOptions::default());
    for g in ["ga", "gb", "gc", "gd", "ge"] {
        ok(&lab.ctl(&["group", "add", g, "--kind", "share"]));
    }
    ok(&lab.ctl(&["log", "verify"]));
    let export = lab.ctl(&["log", "export"]);
    ok(&export);
    // The five changes, and the export itself (L4: exports are audited, once each).
    let lines: Vec<String> = stdout(&export).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines[5].contains("\"action\":\"log.export\""), "{}", lines[5]);
    let db = lab.dir.join("state/state.db");
    let tamper = |sql: &str| {
        let conn = rusqlite::Connection::open(&db).expect("open state db");
        conn.execute_batch(sql).expect("tamper");
    };
    let verify = || {
        let out = lab.ctl(&["log", "verify"]);
        assert_eq!(out.status.code(), Some(1), "verify must fail: {}", stdout(&out));
        format!("{}{}", stdout(&out), stderr(&out))
    };
    tamper("UPDATE audit SET args = '{\"name\":\"evil\"}' WHERE seq = 2");
    let report = verify();
    assert!(report.contains("entry 2") && report.contains("edited"), "{report}");
    tamper("DELETE FROM audit WHERE seq = 4");
    let report = verify();
    assert!(report.contains("entry 4") && report.contains("deleted"), "{report}");
    // Swap the contents of entries 1 and 3 (a reordering).
    tamper(
        "UPDATE audit SET seq = -1 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;",
    );
    let report = verify();
    assert!(report.contains("entry 1") && report.contains("entry 3"), "{report}");
}
