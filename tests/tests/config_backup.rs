//! Configuration backup and restore of CoreNAS itself, end to end as root: a configured lab
//! (a share user with an SMB password, an SMB share, a web admin with a second factor) is
//! backed up by `corenas-ctl config backup`, restored into a fresh lab without restarting
//! anything, and the restored box serves the share to the user over a real smbd and lets the
//! admin log in to the web UI with password and TOTP. Refusals: a wrong passphrase, a tampered
//! archive, an archive from a newer schema; a compromised corenasd's restore entries at the
//! helper.

use corenas_proto::config_backup::{ArchivePassphrase, RestoreUser, SmbEntry};
use corenas_proto::helper::HelperOp;
use corenas_proto::{ErrorCode, WireError};
use corenas_tests::web::{ADMIN_PASSWORD, WebStack, set_up_admin, totp};
use corenas_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SAM_PW: &str = "Sam-Secret-4242";
const PASSPHRASE: &str = "correct horse battery staple";

fn passphrase_file(lab: &Lab) -> PathBuf {
    let p = lab.dir.join("passphrase");
    std::fs::write(&p, format!("{PASSPHRASE}\n")).unwrap();
    p
}

fn backup(lab: &Lab, out: &Path) {
    let pf = passphrase_file(lab);
    let o =
        lab.ctl(&["config", "backup", "--output", out.to_str().unwrap(), "--passphrase-file", pf.to_str().unwrap()]);
    ok(&o, "config backup");
}

fn restore(lab: &Lab, file: &Path, dry_run: bool) -> std::process::Output {
    let pf = passphrase_file(lab);
    let mut args =
        vec!["--json", "config", "restore", file.to_str().unwrap(), "--passphrase-file", pf.to_str().unwrap()];
    if dry_run {
        args.push("--dry-run");
    }
    lab.ctl(&args)
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

fn area<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["result"]["areas"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["area"] == name))
        .unwrap_or_else(|| panic!("no area {name} in {doc}"))
}

#[test]
fn a_configured_box_is_restored_into_a_fresh_one_without_a_restart() {
    if !require_root("a_configured_box_is_restored_into_a_fresh_one_without_a_restart") {
        return;
    }
    // The configured box.
    let a = Lab::start("cfgbak-a", LabOptions::default());
    ok(&a.ctl(&["user", "add", "sam", "--kind", "share", "--no-home"]), "user add");
    ok(&a.ctl_stdin(&["user", "set-smb-password", "sam", "--password-stdin"], Some(&format!("{SAM_PW}\n"))), "smb pw");
    ok(&a.ctl(&["share", "create", "team", "--smb", "--valid-user", "sam"]), "share create");
    let (secret, mut used) = {
        let web = WebStack::start(&a);
        let (_b, secret, used) = set_up_admin(&a, &web, "wadmin");
        (secret, used)
    };
    let file = a.dir.join("box.cnbak");
    backup(&a, &file);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the archive is written for its owner only");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "an age file");
    assert!(!bytes.windows(4).any(|w| w == b"team"), "nothing readable without the passphrase");
    let audit = stdout(&a.ctl(&["log", "export"]));
    assert!(audit.contains("config.backup"), "the backup is audited");
    assert!(!audit.contains(PASSPHRASE), "the passphrase is not in the audit");

    // A fresh box: the preview changes nothing and says what would change.
    let b = Lab::start("cfgbak-b", LabOptions::default());
    let before = b.snapshot();
    let o = restore(&b, &file, true);
    ok(&o, "restore --dry-run");
    let doc = json(&o);
    assert!(area(&doc, "accounts")["added"].as_array().unwrap().iter().any(|n| n == "sam"), "{doc}");
    assert!(area(&doc, "accounts")["added"].as_array().unwrap().iter().any(|n| n == "wadmin"), "{doc}");
    assert!(area(&doc, "shares")["added"].as_array().unwrap().iter().any(|n| n == "team"), "{doc}");
    assert!(area(&doc, "web admins")["added"].as_array().unwrap().iter().any(|n| n == "wadmin"), "{doc}");
    assert_unchanged(&before, &b.snapshot());
    assert!(b.ctl_json(&["share", "list"]).as_array().unwrap().is_empty(), "a dry run restores nothing");
    let human = b.ctl(&[
        "config",
        "restore",
        file.to_str().unwrap(),
        "--passphrase-file",
        passphrase_file(&b).to_str().unwrap(),
        "--dry-run",
    ]);
    ok(&human, "restore --dry-run (human)");
    assert!(stdout(&human).contains("would change:") && stdout(&human).contains("add    team"), "{}", stdout(&human));

    // The data comes back on its own (a pool, a data restore): the share's directory, owned by
    // sam's uid.
    let uid: u32 = a
        .read("etc/passwd")
        .lines()
        .find(|l| l.starts_with("sam:"))
        .and_then(|l| l.split(':').nth(2)?.parse().ok())
        .unwrap();
    let dir = b.storage.join("team");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();

    // Restore for real, with corenasd and the helper running all along.
    let daemon = b.daemon_pid();
    let o = restore(&b, &file, false);
    ok(&o, "restore");
    assert_eq!(b.daemon_pid(), daemon, "no restart");
    assert!(b.read("etc/passwd").contains("sam:x:"), "{}", b.read("etc/passwd"));
    assert!(b.read("etc/samba/corenas.conf").contains("[team]"), "published: {}", b.read("etc/samba/corenas.conf"));
    let shares = b.ctl_json(&["share", "list"]);
    assert!(shares.to_string().contains("\"team\""), "{shares}");

    // sam logs in over SMB with the password set on the first box (its NT hash came along).
    let work = b.dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("hello.txt"), "hi\n").unwrap();
    let _smbd = b.start_smbd();
    let o = b.smbclient("team", Some(("sam", SAM_PW)), "put hello.txt; ls", &work);
    ok(&o, "smbclient as sam on the restored box");
    assert!(b.storage.join("team/hello.txt").exists());
    let o = b.smbclient("team", Some(("sam", "Wrong-Secret-42")), "ls", &work);
    assert!(!o.status.success(), "a wrong SMB password is still refused");

    // The web admin logs in with the first box's password and second factor.
    let web = WebStack::start(&b);
    let br = web.browser("wadmin");
    let r = br.post("/login", &[("user", "wadmin"), ("password", ADMIN_PASSWORD)]);
    assert!(r.body.contains("name=\"code\""), "asks for the second factor: {}", r.body);
    let r = br.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(r.status, 303, "logged in with the restored TOTP secret: {}", r.body);

    // The restore is audited, without the passphrase or a hash.
    let audit = stdout(&b.ctl(&["log", "export"]));
    assert!(audit.contains("config.restore"), "{audit}");
    assert!(!audit.contains(PASSPHRASE) && !audit.contains("$y$"), "no secret in the audit");
    // Restoring the same archive again changes nothing.
    let again = json(&restore(&b, &file, true));
    assert!(
        again["result"]["areas"].as_array().unwrap().iter().all(|a| a["area"] != "shares" && a["area"] != "accounts"),
        "{again}"
    );
}

#[test]
fn bad_archives_are_refused_with_clear_errors() {
    if !require_root("bad_archives_are_refused_with_clear_errors") {
        return;
    }
    let lab = Lab::start("cfgbak-bad", LabOptions::default());
    ok(&lab.ctl(&["share", "create", "docs", "--smb", "--read-only"]), "share create");
    let file = lab.dir.join("box.cnbak");
    backup(&lab, &file);
    let before = lab.snapshot();
    let error = |o: &std::process::Output| -> serde_json::Value {
        assert!(!o.status.success(), "must fail: {}", stdout(o));
        json(o)["error"].clone()
    };

    // A wrong passphrase.
    let wrong = lab.dir.join("wrong");
    std::fs::write(&wrong, "not the passphrase at all\n").unwrap();
    let o =
        lab.ctl(&["--json", "config", "restore", file.to_str().unwrap(), "--passphrase-file", wrong.to_str().unwrap()]);
    let e = error(&o);
    assert_eq!(e["field"], "passphrase", "{e}");
    assert!(e["message"].as_str().unwrap().contains("passphrase does not open"), "{e}");

    // One byte changed in the sealed payload.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x40;
    let tampered = lab.dir.join("tampered.cnbak");
    std::fs::write(&tampered, &bytes).unwrap();
    let e = error(&restore(&lab, &tampered, false));
    assert!(e["message"].as_str().unwrap().contains("damaged or was altered"), "{e}");

    // An archive from a newer CoreNAS (a state database of a schema this build does not know),
    // sealed properly with the right passphrase.
    let pass = ArchivePassphrase::new(PASSPHRASE.into()).unwrap();
    let opened = corenasd::config_backup::archive::open(&std::fs::read(&file).unwrap(), &pass).unwrap();
    let mut m = opened.manifest.clone();
    m.schema_version = 999;
    m.corenas_version = "9.9.9".into();
    let (_, sealed) = corenasd::config_backup::archive::seal(m, &opened.sections, &pass).unwrap();
    let newer = lab.dir.join("newer.cnbak");
    std::fs::write(&newer, sealed).unwrap();
    let e = error(&restore(&lab, &newer, true));
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("schema version 999") && msg.contains("9.9.9"), "names the archive's versions: {msg}");
    assert!(msg.contains(&format!("up to {}", corenasd::schema::schema_version())), "names this build's: {msg}");

    // Not an archive at all.
    let junk = lab.dir.join("junk.cnbak");
    std::fs::write(&junk, b"hello").unwrap();
    let e = error(&restore(&lab, &junk, true));
    assert!(e["message"].as_str().unwrap().contains("not a CoreNAS configuration archive"), "{e}");

    assert_unchanged(&before, &lab.snapshot());
    let audit = stdout(&lab.ctl(&["log", "export"]));
    assert!(audit.contains("config.restore") && audit.contains("failed"), "refusals are audited: {audit}");
}

#[test]
fn an_older_archive_is_migrated_on_restore() {
    if !require_root("an_older_archive_is_migrated_on_restore") {
        return;
    }
    let lab = Lab::start("cfgbak-old", LabOptions::default());
    ok(&lab.ctl(&["share", "create", "old", "--smb"]), "share create");
    let file = lab.dir.join("box.cnbak");
    backup(&lab, &file);
    // The same archive as the CoreNAS of the previous schema version would have written it:
    // a state database made by the migrations up to that version, holding the share.
    let pass = ArchivePassphrase::new(PASSPHRASE.into()).unwrap();
    let opened = corenasd::config_backup::archive::open(&std::fs::read(&file).unwrap(), &pass).unwrap();
    let db_path = lab.dir.join("older.db");
    let known = corenasd::schema::schema_version();
    corenasd::state::create_at_version(&db_path, known - 1).unwrap();
    {
        let c = rusqlite::Connection::open(&db_path).unwrap();
        let def: String = rusqlite::Connection::open(lab.dir.join("state/state.db"))
            .unwrap()
            .query_row("SELECT def FROM shares WHERE name = 'old'", [], |r| r.get(0))
            .unwrap();
        c.execute("INSERT INTO shares(name, def, created, modified) VALUES ('old', ?1, 't', 't')", [def]).unwrap();
    }
    let mut sections = opened.sections.clone();
    for s in &mut sections {
        if s.0 == "state.db" {
            s.1 = std::fs::read(&db_path).unwrap();
        }
    }
    let mut m = opened.manifest.clone();
    m.schema_version = known - 1;
    let (_, sealed) = corenasd::config_backup::archive::seal(m, &sections, &pass).unwrap();
    let older = lab.dir.join("older.cnbak");
    std::fs::write(&older, sealed).unwrap();
    ok(&lab.ctl(&["share", "del", "old"]), "share del");
    let o = restore(&lab, &older, false);
    ok(&o, "restore of an older archive");
    let doc = json(&o);
    assert_eq!(doc["result"]["migrated_to"], known, "{doc}");
    assert!(lab.ctl_json(&["share", "list"]).to_string().contains("\"old\""), "the share is back");
}

/// A compromised corenasd talks to the helper directly: the helper refuses restore entries
/// outside the managed ranges, hashes that could add a field or a line, a bad NT hash, and an
/// account that would take another's uid; nothing changes on disk.
#[test]
fn the_helper_refuses_a_compromised_daemons_restore_entries() {
    if !require_root("the_helper_refuses_a_compromised_daemons_restore_entries") {
        return;
    }
    let lab = Lab::start("cfgbak-attack", LabOptions::default());
    ok(&lab.ctl(&["user", "add", "sam", "--kind", "share", "--no-home"]), "user add");
    let before = lab.snapshot();
    let entry = |name: &str, uid: u32, hash: &str, smb: Option<&str>| {
        HelperOp::UserRestore(RestoreUser {
            name: name.parse().unwrap(),
            uid,
            gecos: String::new(),
            shell: "/usr/sbin/nologin".into(),
            hash: hash.into(),
            smb: smb.map(|nt| SmbEntry { nt_hash: nt.into(), disabled: false }),
        })
    };
    let good_hash = "$y$j9T$abcdefghijklmnop$ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
    let cases: Vec<(HelperOp, ErrorCode, &str)> = vec![
        (entry("root2", 0, good_hash, None), ErrorCode::OutOfRange, "outside the managed ranges"),
        (entry("human", 1000, good_hash, None), ErrorCode::OutOfRange, "outside the managed ranges"),
        (entry("nobody2", 65534, good_hash, None), ErrorCode::OutOfRange, "outside the managed ranges"),
        (entry("eve", 50123, "$y$x:0:0:99999:7:::\nroot::0", None), ErrorCode::InvalidInput, "not a crypt(3) string"),
        (entry("eve", 50123, "$y$abc:19000", None), ErrorCode::InvalidInput, "not a crypt(3) string"),
        (entry("eve", 50123, "", None), ErrorCode::InvalidInput, "not a crypt(3) string"),
        (entry("eve", 50123, good_hash, Some("00:11")), ErrorCode::InvalidInput, "32 hex digits"),
        (
            entry("eve", 50123, good_hash, Some("0123456789abcdef0123456789abcdef\nx")),
            ErrorCode::InvalidInput,
            "32 hex digits",
        ),
        (entry("human", 50123, good_hash, None), ErrorCode::AlreadyExists, "renumber"),
    ];
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("helper");
        // The existing sam's uid given to another name.
        let sam_uid: u32 = lab
            .read("etc/passwd")
            .lines()
            .find(|l| l.starts_with("sam:"))
            .and_then(|l| l.split(':').nth(2)?.parse().ok())
            .unwrap();
        let mut all = cases;
        all.push((entry("eve", sam_uid, good_hash, None), ErrorCode::AlreadyExists, "is used by 'sam'"));
        for (op, code, needle) in all {
            for dry_run in [true, false] {
                let r: Result<_, WireError> = h.perform(ctx(), op.clone(), dry_run).await.expect("transport");
                let e = r.err().unwrap_or_else(|| panic!("{op:?} must be refused"));
                assert_eq!(e.code, code, "{op:?}: {e:?}");
                assert!(e.message.contains(needle), "{op:?}: {}", e.message);
                assert!(!e.message.contains("$y$j9T"), "the message does not echo a hash");
            }
        }
    });
    assert_unchanged(&before, &lab.snapshot());
    assert!(!lab.read("etc/passwd").contains("eve:"));
}
