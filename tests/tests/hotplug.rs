//! Hotplug through the real daemon, as root: attaching and detaching a loop device makes the
//! kernel send uevents (detaching sends a burst of two), the lab's corenasd receives them
//! unprivileged, coalesces each burst into one event, and `device events` (one answer, or
//! `--follow`) shows exactly that; the inventory follows the device in and out.

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, require_root, stderr, stdout};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The event kinds for `device` from `after` on, until one of kind `until` arrived (long polls
/// of up to 5 s, for at most 30 s in all: a harness wait, not a timing assertion), and the
/// sequence number of that last one.
fn kinds_until(lab: &Lab, after: &mut u64, device: &str, until: &str) -> (Vec<String>, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kinds = Vec::new();
    while Instant::now() < deadline {
        let got = lab.ctl_json(&["device", "events", "--after", &after.to_string(), "--wait-ms", "5000"]);
        assert_eq!(got["missed"], 0, "no event may be lost here: {got}");
        *after = got["next"].as_u64().unwrap_or_else(|| panic!("no next in {got}"));
        for e in got["events"].as_array().into_iter().flatten() {
            if e["device"] == device {
                let kind = e["kind"].as_str().unwrap_or_default().to_owned();
                let done = kind == until;
                kinds.push(kind);
                if done {
                    return (kinds, e["seq"].as_u64().unwrap_or_default());
                }
            }
        }
    }
    panic!("no '{until}' event for {device} within 30 s; saw {kinds:?}");
}

fn listed(lab: &Lab, name: &str) -> Option<serde_json::Value> {
    let inv = lab.ctl_json(&["device", "list"]);
    inv.as_array().into_iter().flatten().find(|d| d["name"] == name).cloned()
}

#[test]
fn loop_attach_and_detach_are_one_event_each_and_the_inventory_follows() {
    if !require_root("loop_attach_and_detach_are_one_event_each") {
        return;
    }
    let lab = Lab::start("hotplug", LabOptions::default());
    let scratch = ScratchDir::new("hotplug");

    // Where the log stands now; other tests attach loop devices at the same time, so only
    // this test's device is looked at.
    let start = lab.ctl_json(&["device", "events"]);
    let mut after = start["next"].as_u64().unwrap_or_else(|| panic!("no next in {start}"));

    let disk = LoopDisk::sparse(&scratch.path, "hot", 64 << 20);
    let name = disk.dev.file_name().and_then(|n| n.to_str()).expect("loop name").to_owned();
    let (kinds, added_seq) = kinds_until(&lab, &mut after, &name, "added");
    assert_eq!(kinds, ["added"], "{name} attached");
    let info = listed(&lab, &name).unwrap_or_else(|| panic!("{name} is in the inventory after 'added'"));
    assert_eq!(info["size_bytes"], 64 << 20, "{info}");
    assert_eq!(info["backing_file"], disk.backing.display().to_string(), "{info}");

    // Detaching sends two uevents (a change, then a media change): one 'removed'.
    disk.detach();
    assert_eq!(kinds_until(&lab, &mut after, &name, "removed").0, ["removed"], "{name} detached");
    let gone = listed(&lab, &name);
    assert!(
        gone.is_none() || gone.as_ref().is_some_and(|d| d["size_bytes"] == 0),
        "{name} left the inventory: {gone:?}"
    );

    // The human form names the device and the event, and says where to continue.
    let human = lab.ctl(&["device", "events", "--after", &start["next"].to_string()]);
    assert!(human.status.success(), "{}", stderr(&human));
    let text = stdout(&human);
    assert!(text.contains(&name) && text.contains("added") && text.contains("removed"), "{text}");
    assert!(text.contains(&format!("--after {after}")) || text.contains("next: "), "{text}");

    // --follow stops at --count: from just before our 'added', that one event.
    let out =
        lab.ctl(&["--json", "device", "events", "--follow", "--count", "1", "--after", &(added_seq - 1).to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON document a line")).collect();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(
        (&printed[0]["device"], &printed[0]["kind"], &printed[0]["seq"]),
        (&name.as_str().into(), &"added".into(), &added_seq.into())
    );

    // --follow prints events as they happen: a device attached while it waits shows up.
    let mut follow = Command::new(lab.bin.join("corenas-ctl"))
        .arg("--socket")
        .arg(&lab.daemon_sock)
        .args(["--json", "device", "events", "--follow", "--after", &after.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corenas-ctl device events --follow");
    let second = LoopDisk::sparse(&scratch.path, "hot2", 32 << 20);
    let second_name = second.dev.file_name().and_then(|n| n.to_str()).expect("loop name").to_owned();
    // Other tests' devices may come first: read until ours, for at most 30 s (a reader thread,
    // so that a follower that prints nothing cannot hang the test).
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::io::BufReader::new(follow.stdout.take().expect("stdout"));
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ours = None;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let ev: serde_json::Value = serde_json::from_str(&line).expect("a JSON event");
        assert!(ev["seq"].as_u64() > Some(after) && ev["at"].is_string(), "{ev}");
        if ev["device"] == second_name.as_str() {
            ours = Some(ev);
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(ours.as_ref().map(|e| e["kind"].clone()), Some("added".into()), "{second_name}: {ours:?}");
    drop(second);

    // A bad sequence number is refused by corenas-ctl, naming the field.
    let bad = lab.ctl(&["device", "events", "--after", "-1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("sequence number '-1' is invalid"), "{}", stderr(&bad));
}
