//! Mount units started by a real systemd: the lab's helper runs inside a private systemd (PID 1
//! of its own namespaces, see `corenas_tests::systemd_ns`) whose unit path holds the lab root's
//! unit directories. `mount add` then really mounts a loop disk, `mount status` reports what
//! systemd says, a failing mount is reported as failing, corenasd's retry policy remounts what
//! went down, and `mount remove` unmounts. The mounts exist only in the private mount namespace:
//! the host never sees them.

use corenas_tests::media::LoopDisk;
use corenas_tests::systemd_ns::PrivateSystemd;
use corenas_tests::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DATA: &str = "/mnt/corenas/data";
const DATA_UNIT: &str = "mnt-corenas-data.mount";

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed:\nstdout: {}\nstderr: {}", stdout(o), stderr(o));
}

fn mkfs(dev: &str) {
    let o = run(Command::new("mkfs.ext4").args(["-q", "-F", dev]));
    ok(&o, "mkfs.ext4");
}

fn mounted_on_host(target: &str) -> bool {
    run(Command::new("findmnt").args(["-n", "--mountpoint", target])).status.success()
}

/// `mount status TARGET --json`: systemd's state (`state.Ok`) and the retry bookkeeping.
fn status(lab: &Lab, target: &str) -> serde_json::Value {
    lab.ctl_json(&["mount", "status", target])
}

fn active(st: &serde_json::Value) -> (String, String) {
    let s = &st["state"]["Ok"];
    (s["active_state"].as_str().unwrap_or("?").to_owned(), s["sub_state"].as_str().unwrap_or("?").to_owned())
}

/// Waits (at most `secs`) until `cond` holds for the mount's status; returns that status.
fn wait_status(
    lab: &Lab,
    sd: &PrivateSystemd,
    secs: u64,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = status(lab, DATA);
        if cond(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}; last status: {st}\njournal:\n{}\ncorenasd.log:\n{}",
            sd.journal(DATA_UNIT),
            lab.log("corenasd.log")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn systemd_starts_corenas_mount_units_and_reports_their_state() {
    if !require_root("systemd_starts_corenas_mount_units_and_reports_their_state") {
        return;
    }
    let t0 = Instant::now();
    let host_systemd = Path::new("/run/systemd/system").exists();
    // The retry policy looks every second (and backs off from 1 s) instead of every 30 s.
    // SAFETY: set before this test starts any thread or process that reads the environment; this
    // file holds one test, so no other test thread of this process reads it concurrently.
    unsafe { std::env::set_var("CORENAS_MOUNT_WATCH_SECS", "1") };
    let lab = Lab::start("mounts_systemd", LabOptions { private_systemd: true, ..LabOptions::default() });
    let disk = LoopDisk::sparse(&lab.dir, "disk", 16 << 20);
    let blank = LoopDisk::sparse(&lab.dir, "blank", 16 << 20);
    // Declared after the disks: dropped before them, so that nothing holds them when detached.
    let sd = systemd_ns::take(&lab);
    eprintln!("lab with private systemd up after {} ms", t0.elapsed().as_millis());
    let dev = disk.dev.display().to_string();
    mkfs(&dev);

    // A local disk: written, started by systemd, mounted inside the namespaces only.
    let t = Instant::now();
    let o = lab.ctl(&["mount", "add", "--target", DATA, "--type", "ext4", "--source", &dev]);
    ok(&o, "mount add");
    eprintln!("mount add took {} ms", t.elapsed().as_millis());
    assert!(
        !stdout(&o).contains("nothing was mounted") && !stderr(&o).contains("nothing was mounted"),
        "{}",
        stdout(&o)
    );
    let st = status(&lab, DATA);
    assert_eq!(active(&st), ("active".into(), "mounted".into()), "{st}");
    assert_eq!(st["state"]["Ok"]["load_state"], "loaded", "{st}");
    assert_eq!(sd.findmnt(DATA).as_deref(), Some(format!("{dev} ext4").as_str()), "mounted inside");
    assert!(!mounted_on_host(DATA), "the host must not see the private mount");

    // A device that does not exist: refused before any unit is written (corenasd has the helper
    // probe the device first), so systemd is never asked.
    let missing = "/dev/disk/by-id/corenas-missing-disk";
    let o = lab.ctl(&[
        "mount",
        "add",
        "--target",
        "/mnt/corenas/missing",
        "--type",
        "ext4",
        "--source",
        missing,
        "--timeout",
        "5",
    ]);
    assert!(!o.status.success(), "a missing device must be refused: {}", stdout(&o));
    assert!(stderr(&o).contains("cannot be resolved") && stderr(&o).contains("device"), "{}", stderr(&o));
    assert!(!lab.root.join("etc/systemd/system/mnt-corenas-missing.mount").exists(), "no unit for a missing device");
    let o = lab.ctl(&["mount", "status", "/mnt/corenas/missing"]);
    assert!(!o.status.success() && stderr(&o).contains("no mount at"), "{}", stderr(&o));

    // A device without a filesystem: systemd runs mount(8), which fails; `systemctl restart`
    // fails with it (at once: with /sys read-only there are no device units to wait for), and
    // so does `mount add`, which takes the unit away again; systemd's journal keeps the reason.
    let blank_dev = blank.dev.display().to_string();
    let t = Instant::now();
    let o = lab.ctl(&[
        "mount",
        "add",
        "--target",
        "/mnt/corenas/blank",
        "--type",
        "ext4",
        "--source",
        &blank_dev,
        "--timeout",
        "5",
    ]);
    eprintln!("mount add of a blank device failed after {} ms: {}", t.elapsed().as_millis(), stderr(&o));
    assert!(!o.status.success(), "mounting a blank device must fail: {}", stdout(&o));
    assert!(
        stderr(&o).contains("mnt-corenas-blank.mount did not start, so it was removed again")
            && stderr(&o).contains("Job failed"),
        "{}",
        stderr(&o)
    );
    let o = lab.ctl(&["mount", "status", "/mnt/corenas/blank"]);
    assert!(!o.status.success() && stderr(&o).contains("no mount at"), "{}", stderr(&o));
    // All or nothing: no unit, no enable link is left to be tried at every boot.
    let blank_unit = "mnt-corenas-blank.mount";
    assert!(!lab.root.join("etc/systemd/system").join(blank_unit).exists());
    assert!(!lab.root.join("etc/systemd/system/local-fs.target.wants").join(blank_unit).exists());
    let shown = sd.show(blank_unit, "LoadState");
    assert!(shown.contains(&("LoadState".into(), "not-found".into())), "{shown:?}");
    assert!(sd.journal(blank_unit).contains("wrong fs type"), "{}", sd.journal(blank_unit));
    assert_eq!(sd.findmnt("/mnt/corenas/blank"), None);

    // The retry policy (corenasd looks every second here): a mount taken away behind systemd's
    // back is mounted again.
    let t = Instant::now();
    ok(&sd.run(&["umount", DATA]), "umount inside");
    // systemd reports the mount before corenasd has recorded its own success (the state is read
    // live): wait for both, or the reset below races the watcher.
    let settled = |s: &serde_json::Value| active(s).1 == "mounted" && s["retries"].as_u64() == Some(0);
    let st = wait_status(&lab, &sd, 20, "the retry policy to remount", settled);
    eprintln!("remounted by the retry policy after {} ms", t.elapsed().as_millis());
    assert_eq!((st["retries"].as_u64(), st["last_error"].as_str()), (Some(0), None), "{st}");
    assert_eq!(sd.findmnt(DATA).as_deref(), Some(format!("{dev} ext4").as_str()));

    // A disk that fails to mount: counted and recorded, retried with backoff, until it works.
    let t = Instant::now();
    ok(&sd.run(&["umount", DATA]), "umount inside");
    ok(&run(Command::new("wipefs").args(["-a", "-q", &dev])), "wipefs");
    let st = wait_status(&lab, &sd, 20, "failed retries", |s| s["retries"].as_u64() >= Some(2));
    eprintln!("two failed retries after {} ms: {st}", t.elapsed().as_millis());
    assert_eq!(active(&st).0, "failed", "{st}");
    let err = st["last_error"].as_str().unwrap_or_default();
    assert!(err.contains(DATA_UNIT) && err.contains("systemctl"), "last_error must name the unit: {st}");
    mkfs(&dev);
    let t = Instant::now();
    let st = wait_status(&lab, &sd, 30, "the healed disk to be remounted and the retries reset", settled);
    eprintln!("healed disk remounted after {} ms", t.elapsed().as_millis());
    assert_eq!((st["retries"].as_u64(), st["last_error"].as_str()), (Some(0), None), "a success resets: {st}");
    let log = lab.ctl_json(&["log", "view", "--limit", "100"]);
    let retries: Vec<&str> = log
        .as_array()
        .map(|a| a.iter().filter(|e| e["action"] == "mount.retry").filter_map(|e| e["result"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        retries.contains(&"ok") && retries.iter().filter(|r| **r == "failed").count() >= 2,
        "audited: {retries:?}\n{log}"
    );

    // Remove: unmounted, unit and its enabling link gone, systemd no longer knows it.
    ok(&lab.ctl(&["mount", "remove", DATA]), "mount remove");
    assert_eq!(sd.findmnt(DATA), None, "unmounted inside");
    let units = lab.root.join("etc/systemd/system");
    assert!(!units.join(DATA_UNIT).exists() && !units.join("local-fs.target.wants").join(DATA_UNIT).exists());
    assert!(sd.show(DATA_UNIT, "LoadState").contains(&("LoadState".into(), "not-found".into())));
    assert!(!mounted_on_host(DATA));

    // Teardown leaves nothing: no process, cgroup or mount of the private systemd, no loop device.
    let (pid, cgroup, dir) = (sd.pid, sd.cgroup().to_path_buf(), lab.dir.clone());
    drop(sd);
    assert!(!process_alive(pid), "PID 1 of the namespaces is gone");
    assert!(!cgroup.exists(), "{} is removed", cgroup.display());
    let (disk_dev, blank_dev) = (disk.dev.clone(), blank.dev.clone());
    drop(blank);
    drop(disk);
    drop(lab);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&dir.display().to_string()), "no mount left under the lab");
    for d in [disk_dev, blank_dev] {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        assert!(!loop_backs(&name, &dir), "{name} detached");
    }
    assert_eq!(Path::new("/run/systemd/system").exists(), host_systemd, "the host's /run is untouched");
    eprintln!("whole test: {} ms", t0.elapsed().as_millis());
}

/// Whether loop device `name` is backed by a file under `dir` (it may have been reused since).
fn loop_backs(name: &str, dir: &Path) -> bool {
    std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
        .is_ok_and(|f| f.starts_with(&dir.display().to_string()))
}
