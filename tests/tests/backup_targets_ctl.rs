//! Backup targets and tasks through corenas-ctl against the real restic (corenasd's own
//! repository work: init or open, the retention preview, snapshots, ls, locks), on a btrfs pool
//! on a loop device. The snapshots a preview works on are made by stock restic with the task's
//! tag, the way the runner tags them, so this test does not depend on the runner.
//!
//! Attackers: the repository password never appears in a restic's argv (read from /proc while
//! corenasd's restic runs; it is in that restic's environment), in the audit log, in `--json`
//! output or in a dry run's plan; injection attempts in locations and names are refused by name
//! before anything runs; a wrong password stores nothing.

use corenas_tests::backup_targets::make_sample_tree;
use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, daemon_account, ok, require_program, require_root, stderr, stdout};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const PASSWORD: &str = "Repo-Password-For-Ctl-7f2";

fn ctl_json(lab: &Lab, args: &[&str]) -> serde_json::Value {
    lab.ctl_json(args)
}

/// A failed corenas-ctl --json: the error document.
fn ctl_err(lab: &Lab, args: &[&str]) -> (Output, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = lab.ctl(&all);
    assert!(!out.status.success(), "corenas-ctl {args:?} should fail: {}", stdout(&out));
    let doc = serde_json::from_slice(&out.stdout)
        .or_else(|_| serde_json::from_slice(&out.stderr))
        .unwrap_or_else(|_| serde_json::json!({ "raw": stdout(&out) + &stderr(&out) }));
    (out, doc)
}

fn field(doc: &serde_json::Value) -> String {
    doc["error"]["field"].as_str().unwrap_or_default().to_owned()
}

/// Stock restic backs `dir` up as the runner does (`backup .` inside it, as corenasd's user, so
/// the repository's files stay corenasd's) with the task's tag.
fn stock_backup(repo: &Path, dir: &Path, tag: &str, cache: &Path) {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = daemon_account();
    let out = Command::new("restic")
        .uid(uid)
        .gid(gid)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", cache)
        .env("RESTIC_PASSWORD", PASSWORD)
        .args(["-r"])
        .arg(repo)
        .args(["--cache-dir"])
        .arg(cache)
        .args(["backup", "--json", "--host", "corenas", "--tag", tag, "."])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("restic");
    ok(&out, "stock restic backup");
}

/// restic processes started by corenasd, seen in /proc while they ran: (argv, environment).
fn watch_restic(daemon: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<(String, String)>> {
    std::thread::spawn(move || {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut pids = std::collections::HashSet::new();
        while !stop.load(Ordering::SeqCst) {
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let ppid = stat
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid != Some(daemon) || pids.contains(&pid) {
                    continue;
                }
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let argv = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if !argv.split(' ').next().unwrap_or_default().ends_with("restic") {
                    continue;
                }
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                pids.insert(pid);
                seen.push((argv, String::from_utf8_lossy(&environ).replace('\0', "\n")));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        seen
    })
}

#[test]
fn loop_local_target_and_task_preview_snapshots_and_ls_through_ctl() {
    let name = "loop_local_target_and_task_preview";
    if !require_root(name)
        || !require_program(name, "/usr/sbin/mkfs.btrfs", "btrfs-progs")
        || !require_program(name, "/usr/bin/restic", "restic")
    {
        return;
    }
    let scratch = ScratchDir::new("backup-ctl");
    let disk = LoopDisk::sparse(&scratch.path, "a", 512 << 20);
    let lab = Lab::start("backup-ctl", LabOptions { lab_mounts: true, ..LabOptions::default() });
    let dev = disk.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", "bk", "--type", "btrfs", "--device", &dev]), "btrfs pool");
    ok(&lab.ctl(&["storage", "dataset", "create", "bk/data"]), "dataset");
    let data = lab.root.join("mnt/corenas/bk/data");
    make_sample_tree(&data);
    let pw = lab.dir.join("repo-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("password file");
    let pw = pw.display().to_string();

    // The pool's top is root's: corenasd cannot make a directory there, and says how to.
    let (_, e) = ctl_err(
        &lab,
        &["backup", "target", "add", "usb", "--local", "/mnt/corenas/bk/repos/r1", "--password-file", &pw],
    );
    assert!(e.to_string().contains("install -d"), "the refusal says how to make the directory: {e}");
    let (uid, gid) = daemon_account();
    let repos = lab.root.join("mnt/corenas/bk/repos");
    std::fs::create_dir(&repos).expect("repos dir");
    std::os::unix::fs::chown(&repos, Some(uid), Some(gid)).expect("chown repos");
    let repo = repos.join("r1");

    // A dry run plans restic (argv without the password) and makes nothing.
    let add = ["backup", "target", "add", "usb", "--local", "/mnt/corenas/bk/repos/r1", "--password-file", &pw];
    let mut dry = vec!["--dry-run"];
    dry.extend_from_slice(&add);
    let plan = ctl_json(&lab, &dry);
    assert_eq!(plan["dry_run"], true);
    assert!(!plan.to_string().contains(PASSWORD), "a plan shows no secret: {plan}");
    assert!(plan.to_string().contains("--repository-version"), "the plan names restic's init: {plan}");
    assert!(!repo.exists(), "a dry run made the directory");
    assert!(ctl_json(&lab, &["backup", "target", "list"]).as_array().is_some_and(Vec::is_empty));

    let made = ctl_json(&lab, &add);
    assert!(!made.to_string().contains(PASSWORD), "{made}");
    assert!(made["warnings"].to_string().contains("new restic repository"), "{made}");
    assert!(repo.join("config").is_file(), "restic init made the repository");
    let shown = ctl_json(&lab, &["backup", "target", "show", "usb"]);
    assert_eq!(shown["location"]["local"]["path"], "/mnt/corenas/bk/repos/r1");
    assert!(!shown.to_string().contains(PASSWORD));

    // The same repository under another name with a wrong password: refused, nothing stored.
    let wrong = lab.dir.join("wrong-password");
    std::fs::write(&wrong, "Not-The-Password-1\n").expect("wrong file");
    let (_, e) = ctl_err(
        &lab,
        &[
            "backup",
            "target",
            "add",
            "usb2",
            "--local",
            "/mnt/corenas/bk/repos/r1",
            "--password-file",
            &wrong.display().to_string(),
        ],
    );
    assert_eq!(field(&e), "repository_password", "{e}");
    assert!(e.to_string().contains("wrong password"), "{e}");
    let names: Vec<String> = ctl_json(&lab, &["backup", "target", "list"])
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["usb"], "the refused target is not stored");

    // A repository inside a source would back itself up.
    ok(
        &lab.ctl(&["backup", "task", "add", "t1", "--source", "dataset:bk/data", "--target", "usb", "--every", "off"]),
        "task t1",
    );
    let (_, e) = ctl_err(
        &lab,
        &["backup", "target", "add", "inside", "--local", "/mnt/corenas/bk/data/repo", "--password-file", &pw],
    );
    assert_eq!(field(&e), "path", "{e}");
    assert!(e.to_string().contains("overlaps the source of backup task t1"), "{e}");
    assert!(!data.join("repo").exists());

    // Snapshots as the runner tags them: three of t1, one of another task.
    let cache = lab.dir.join("stock-cache");
    std::fs::create_dir(&cache).expect("cache");
    std::os::unix::fs::chown(&cache, Some(uid), Some(gid)).expect("chown cache");
    for _ in 0..3 {
        stock_backup(&repo, &data, "corenas-task=t1", &cache);
    }
    stock_backup(&repo, &data, "corenas-task=other", &cache);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_restic(lab.daemon_pid().expect("corenasd pid"), Arc::clone(&stop));

    // A policy's preview: restic's own dry run, over t1's snapshots only.
    let dry = ctl_json(&lab, &["--dry-run", "backup", "task", "modify", "t1", "--keep-last", "2"]);
    let preview = &dry["result"]["preview"];
    assert_eq!(preview["keep"].as_array().map(Vec::len), Some(2), "{dry}");
    assert_eq!(preview["remove"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(ctl_json(&lab, &["backup", "task", "show", "t1"])["spec"]["keep"]["last"], 0, "a dry run saves nothing");
    let saved = ctl_json(&lab, &["backup", "task", "modify", "t1", "--keep-last", "2"]);
    assert_eq!(saved["result"]["task"]["spec"]["keep"]["last"], 2, "{saved}");
    let human = lab.ctl(&["backup", "task", "preview", "t1", "--keep-last", "1"]);
    ok(&human, "preview");
    let text = stdout(&human);
    assert!(text.contains("last snapshot") && text.contains("1 kept, 2 removed"), "{text}");

    let snaps = ctl_json(&lab, &["backup", "snapshots", "t1"]);
    let snaps = snaps.as_array().expect("snapshots");
    assert_eq!(snaps.len(), 3, "only t1's snapshots: {snaps:?}");
    assert!(snaps.iter().all(|s| s["tags"].to_string().contains("corenas-task=t1")));
    let id = snaps[2]["short_id"].as_str().expect("id").to_owned();
    let top = ctl_json(&lab, &["backup", "ls", "t1", &id]);
    let paths: Vec<&str> =
        top["entries"].as_array().expect("entries").iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(paths.contains(&"/a.txt") && paths.contains(&"/dir"), "{paths:?}");
    let dir = ctl_json(&lab, &["backup", "ls", "t1", &id, "/dir"]);
    assert!(dir["entries"].to_string().contains("/dir/random.bin"), "{dir}");

    let locks = ctl_json(&lab, &["backup", "target", "locks", "usb"]);
    assert_eq!(locks.as_array().map(Vec::len), Some(0), "{locks}");

    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().expect("watcher");
    assert!(!seen.is_empty(), "no restic of corenasd was seen running");
    for (argv, environ) in &seen {
        assert!(!argv.contains(PASSWORD), "the password is in restic's argv: {argv}");
        assert!(
            environ.contains(&format!("RESTIC_PASSWORD={PASSWORD}")),
            "restic got its password from the environment"
        );
        assert!(!environ.contains("SSH_AUTH_SOCK") && !environ.contains("CORENAS_"), "a clean environment: {environ}");
    }

    // Another task's snapshot is not shown through t1.
    let all = Command::new("restic")
        .env_clear()
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("HOME", &cache)
        .arg("-r")
        .arg(&repo)
        .args(["--cache-dir"])
        .arg(&cache)
        .args(["snapshots", "--json", "--tag", "corenas-task=other"])
        .output()
        .expect("restic");
    let other: serde_json::Value = serde_json::from_slice(&all.stdout).expect("json");
    let other_id = other[0]["short_id"].as_str().expect("other id").to_owned();
    let (_, e) = ctl_err(&lab, &["backup", "ls", "t1", &other_id]);
    assert!(e.to_string().contains("not one of task t1"), "{e}");

    // A target in use stays; once free it goes, and its repository stays.
    let (_, e) = ctl_err(&lab, &["backup", "target", "remove", "usb"]);
    assert!(e.to_string().contains("t1"), "{e}");
    ok(&lab.ctl(&["backup", "task", "remove", "t1"]), "task remove");
    let gone = ctl_json(&lab, &["backup", "target", "remove", "usb"]);
    assert!(gone["warnings"].to_string().contains("left in place"), "{gone}");
    assert!(repo.join("config").is_file(), "the repository stays");

    // The audit log has every change, and no secret.
    let log = lab.ctl(&["log", "export"]);
    ok(&log, "log export");
    let log = stdout(&log);
    assert!(!log.contains(PASSWORD) && !log.contains("Not-The-Password-1"), "a secret in the audit log");
    for action in ["backup.target.create", "backup.task.create", "backup.task.modify", "backup.target.delete"] {
        assert!(log.contains(&format!("\"{action}\"")), "{action} is audited");
    }
    assert!(log.contains("<redacted>"), "the audited arguments show the password redacted");
}

#[test]
fn bad_locations_and_names_are_refused_by_name_before_anything_runs() {
    let name = "bad_backup_locations_are_refused";
    if !require_root(name) {
        return;
    }
    let lab = Lab::start("backup-bad", LabOptions::default());
    let pw = lab.dir.join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("pw");
    let pw = pw.display().to_string();
    let add = |extra: &[&str]| {
        let mut a = vec!["backup", "target", "add"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--password-file", &pw]);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (add(&["x", "--local", "/mnt/corenas/x/../../etc"]), "path"),
        (add(&["x", "--local", "/mnt/corenas/x/r;rm -rf /"]), "path"),
        (add(&["-o", "--local", "/mnt/corenas/x/r"]), "name"),
        (add(&["x", "--sftp", "-oProxyCommand=sh@host:/r", "--host-key", key]), "user"),
        (add(&["x", "--sftp", "nas@-oProxyCommand=sh:/r", "--host-key", key]), "host"),
        (add(&["x", "--sftp", "nas@host:/r$(reboot)", "--host-key", key]), "path"),
        (add(&["x", "--sftp", "nas@host:/r", "--host-key", "ssh-ed25519 AAAA\nevil"]), "host_key"),
        (add(&["x", "--rest", "http://user:pw@127.0.0.1:8000/"]), "url"),
        (add(&["x", "--rest", "file:///etc"]), "url"),
        (add(&["x", "--s3", "http://127.0.0.1:9000", "--bucket", "A;b"]), "bucket"),
        (add(&["x", "--s3", "http://127.0.0.1:9000", "--bucket", "nas", "--prefix", "../x"]), "path"),
    ];
    for (args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab.ctl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", stdout(&out), stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("invalid") || said.contains("not accepted"), "{args:?}: {said}");
        let mut json = vec!["--json"];
        json.extend_from_slice(&args);
        let out = lab.ctl(&json);
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).or_else(|_| serde_json::from_slice(&out.stderr)).unwrap_or_default();
        assert_eq!(field(&doc), *want, "{args:?}: {doc}");
    }
    // Refused by corenasd itself (the CLI passed them on).
    let (_, e) =
        ctl_err(&lab, &["backup", "target", "add", "x", "--local", "/mnt/corenas/usb1", "--password-file", &pw]);
    assert_eq!(field(&e), "path", "{e}");
    let (_, e) =
        ctl_err(&lab, &["backup", "task", "add", "t", "--source", "share:nope", "--target", "none", "--every", "off"]);
    assert!(["target", "source"].contains(&field(&e).as_str()), "{e}");
    for bad in [
        &["backup", "task", "add", "t", "--source", "disk:/dev/sda", "--target", "x"][..],
        &["backup", "task", "add", "t", "--source", "pool:x", "--target", "x", "--exclude", "--password-command=sh"],
    ] {
        let out = lab.ctl(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    assert!(lab.ctl_json(&["backup", "target", "list"]).as_array().is_some_and(Vec::is_empty), "nothing was stored");
    assert!(std::fs::read_dir(lab.root.join("mnt/corenas")).expect("mnt").next().is_none(), "nothing was made");
}
