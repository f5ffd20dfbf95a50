//! Mount state without the root helper (issue 20): corenasd reads unit state from systemd over
//! D-Bus, unprivileged, so `mount list` and `mount status` never start a helper. The helper here
//! is activated on demand (lab/activate.py, as systemd's socket does in production) and exits
//! after 1 s without a connection; the activator logs every start. In the lab no systemd manages
//! the units, and each mount's state says so, as it did when the helper answered.

use corenas_tests::*;
use std::time::{Duration, Instant};

/// Helper starts and exits the activator has logged so far.
fn starts_and_exits(lab: &Lab) -> (usize, usize) {
    let log = lab.log("helper.log");
    let started = log.lines().filter(|l| l.contains("connection pending: started")).count();
    let ended = log.lines().filter(|l| l.contains(" exited with status ") || l.contains(" killed by signal ")).count();
    (started, ended)
}

/// Waits until no helper runs and none has started for 3 s; returns the number of starts.
fn settled(lab: &Lab) -> usize {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = (usize::MAX, 0);
    let mut since = Instant::now();
    loop {
        let now = starts_and_exits(lab);
        if now != last {
            last = now;
            since = Instant::now();
        } else if now.0 == now.1 && since.elapsed() >= Duration::from_secs(3) {
            return now.0;
        }
        assert!(Instant::now() < deadline, "the helper did not go idle: {now:?}\n{}", lab.log("helper.log"));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mount_state_is_read_without_starting_the_helper() {
    if !require_root("mount_state_is_read_without_starting_the_helper") {
        return;
    }
    let lab = Lab::start(
        "mount_state",
        LabOptions { activation: Activation::OnDemand, idle_timeout: 1, ..LabOptions::default() },
    );
    // A mount to report on: writing its unit is root work (the helper is started for it).
    std::fs::create_dir_all(lab.root.join("mnt/corenas/data/media")).expect("bind source");
    let args = ["--target", "/storage/media", "--type", "bind", "--source", "/mnt/corenas/data/media", "--temporary"];
    ok(&lab.ctl(&[&["mount", "add"][..], &args[..]].concat()), "mount add");
    let before = settled(&lab);
    assert!(before >= 1, "the helper was started for mount add:\n{}", lab.log("helper.log"));

    for _ in 0..5 {
        let list = lab.ctl_json(&["mount", "list"]);
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        let why = list[0]["state"]["Err"].as_str().unwrap_or_default();
        assert!(why.contains("lab") && why.contains("no systemd"), "the lab says why systemd cannot say: {list}");
    }
    let st = lab.ctl_json(&["mount", "status", "/storage/media"]);
    assert_eq!(st["unit"], "storage-media.mount", "{st}");
    assert!(st["state"]["Err"].as_str().is_some_and(|w| w.contains("lab")), "{st}");

    // Whatever a request would have started has had time to show in the log.
    std::thread::sleep(Duration::from_secs(2));
    let after = starts_and_exits(&lab);
    assert_eq!(after, (before, before), "reading mount state started the helper:\n{}", lab.log("helper.log"));
}
