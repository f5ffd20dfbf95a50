//! Faults, as root: corenasd's state filesystem full or gone read-only, SIGTERM while changes
//! are under way, and tools that are not installed. Afterwards the database opens, the audit
//! chain verifies, nothing acknowledged is lost, and no change happened that the audit log does
//! not record.

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, StateFs, process_alive, require_root, stderr, stdout, wait_for};
use std::process::Command;

fn state_lab(name: &str) -> Lab {
    Lab::start(name, LabOptions { state_fs: Some(StateFs::Tmpfs("16m".into())), ..LabOptions::default() })
}

fn groups(lab: &Lab) -> Vec<String> {
    lab.read("etc/group").lines().filter_map(|l| l.split(':').next()).map(str::to_owned).collect()
}

fn verify_chain(lab: &Lab) {
    let v = lab.ctl(&["log", "verify"]);
    assert!(v.status.success(), "the audit chain verifies: {}{}", stdout(&v), stderr(&v));
}

#[test]
fn state_disk_full_refuses_changes_before_anything_runs_and_recovers() {
    if !require_root("state_disk_full") {
        return;
    }
    let lab = state_lab("statefull");
    let ok = lab.ctl(&["group", "add", "before", "--kind", "share"]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let filler = corenas_tests::fill_filesystem(&lab.dir.join("state"));
    let o = lab.ctl(&["group", "add", "during", "--kind", "share"]);
    assert!(!o.status.success(), "a change with no room for its audit entry is refused");
    assert!(stderr(&o).contains("no space"), "the error says why: {}", stderr(&o));
    assert!(!groups(&lab).contains(&"during".to_owned()), "nothing was changed: {:?}", groups(&lab));
    assert!(lab.daemon_pid().is_some_and(process_alive), "corenasd survives");
    // Reads still answer.
    let list = lab.ctl(&["group", "list"]);
    assert!(list.status.success() && stdout(&list).contains("before"), "{}", stderr(&list));
    assert!(lab.ctl(&["log", "view", "--limit", "5"]).status.success());

    std::fs::remove_file(&filler).expect("free the space");
    let o = lab.ctl(&["group", "add", "after", "--kind", "share"]);
    assert!(o.status.success(), "works again once there is room: {}", stderr(&o));
    assert!(groups(&lab).contains(&"after".to_owned()));
    verify_chain(&lab);
}

/// The state filesystem turns read-only under corenasd's open database, as ext4 does on an
/// error with `errors=remount-ro` (the kernel's own trigger for that error).
#[test]
fn state_filesystem_gone_read_only_refuses_changes_before_anything_runs() {
    if !require_root("state_read_only") {
        return;
    }
    let scratch = ScratchDir::new("statero");
    let disk = LoopDisk::sparse(&scratch.path, "state", 32 << 20);
    let lab =
        Lab::start("statero", LabOptions { state_fs: Some(StateFs::Ext4(disk.dev.clone())), ..LabOptions::default() });
    let ok = lab.ctl(&["group", "add", "before", "--kind", "share"]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let name = disk.dev.file_name().and_then(|n| n.to_str()).expect("loop name").to_owned();
    std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "corenas fault test")
        .expect("trigger an ext4 error");
    let o = lab.ctl(&["group", "add", "during", "--kind", "share"]);
    assert!(!o.status.success(), "a change that cannot be audited is refused");
    assert!(stderr(&o).contains("read-only"), "the error says why: {}", stderr(&o));
    assert!(!groups(&lab).contains(&"during".to_owned()), "nothing was changed: {:?}", groups(&lab));
    assert!(lab.daemon_pid().is_some_and(process_alive), "corenasd survives");
    let list = lab.ctl(&["group", "list"]);
    assert!(list.status.success() && stdout(&list).contains("before"), "reads still answer: {}", stderr(&list));
    drop(lab);
    drop(disk);
}

#[test]
fn sigterm_while_changes_are_under_way_loses_nothing_acknowledged() {
    if !require_root("sigterm_during_changes") {
        return;
    }
    let mut lab = Lab::start("sigterm", LabOptions::default());
    let writer = corenas_tests::spawn_group_writer(&lab, "t", 80);
    wait_for(|| lab.read("etc/group").matches("\nt").count() >= 10, "some groups to be added");
    let status = lab.terminate_daemon().expect("corenasd exits on SIGTERM within 30 s");
    assert!(status.success(), "corenasd exits cleanly on SIGTERM: {status}");
    let acknowledged = writer.join().expect("writer");
    assert!(acknowledged.len() < 80, "the stop must have interrupted the writer");

    lab.restart_daemon();
    verify_chain(&lab);
    let export = stdout(&lab.ctl(&["log", "export"]));
    let audited_ok = |name: &str| corenas_tests::group_add_audited(&export, name);
    let present = groups(&lab);
    for name in &acknowledged {
        assert!(audited_ok(name), "acknowledged group {name} has an audit entry");
        assert!(present.contains(name), "acknowledged group {name} exists");
    }
    // Nothing happened behind the log's back: every group that exists was audited.
    for name in present.iter().filter(|g| g.starts_with('t') && g[1..].bytes().all(|b| b.is_ascii_digit())) {
        assert!(audited_ok(name), "group {name} exists but its change was not audited");
    }
}

/// A program every operation may need (useradd) missing: the helper refuses to start, naming
/// it and its package. An optional one (smartctl) missing: the helper starts and says so, and
/// each call that needs it fails naming the package, while everything else works.
#[test]
fn a_missing_tool_is_named_at_start_and_per_call() {
    if !require_root("a_missing_tool") {
        return;
    }
    let lab = Lab::start("missing", LabOptions { hide_programs: vec!["/usr/sbin/smartctl"], ..LabOptions::default() });
    let scratch = ScratchDir::new("missing");
    let disk = LoopDisk::sparse(&scratch.path, "m", 16 << 20);
    let o = lab.ctl(&["device", "smart", &disk.dev.display().to_string()]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success() || all.contains("smartmontools"), "{all}");
    assert!(all.contains("smartmontools"), "the call names the package to install: {all}");
    assert!(
        lab.log("helper.log").contains("smartctl"),
        "the helper's start-up log names it: {}",
        lab.log("helper.log")
    );
    let ok = lab.ctl(&["group", "add", "unaffected", "--kind", "share"]);
    assert!(ok.status.success(), "other operations still work: {}", stderr(&ok));

    let (uid, gid) = corenas_tests::daemon_account();
    let mut cmd = Command::new(lab.bin.join("corenas-helper"));
    // An idle timeout of 1 s: should a regression let it start, it exits and the test fails
    // rather than waiting for a helper that never ends.
    cmd.args(lab.helper_args(uid, gid, 1)).arg("--listen").arg(lab.dir.join("run/missing.sock"));
    corenas_tests::hide_programs(&mut cmd, &["/usr/sbin/useradd"]);
    let out = cmd.output().expect("run the helper");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the helper must not start without useradd");
    assert!(err.contains("/usr/sbin/useradd") && err.contains("missing"), "it names the tool: {err}");
}
