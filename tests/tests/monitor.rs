//! Monitoring for real, as root: the collectors of a lab's corenasd (every 2 to 4 seconds
//! instead of minutes) see a zfs-fuse mirror on loop devices go from online to degraded when
//! one member's file is overwritten and a scrub runs, and keep that in the SQLite health cache;
//! the history gets its points. And the disk-wake rule: with a fixture smartctl bound over
//! /usr/sbin/smartctl in the helper's mount namespace (it answers "in standby" to `-n standby`
//! for one loop device and counts every call), a rotating disk in standby is never read in
//! full however many rounds run or how often `monitor run` is asked, while a non-rotating disk
//! is read.

use corenas_proto::monitor::{HealthSnapshot, HistoryRange, PoolState, PowerState};
use corenas_tests::media::{LoopDisk, PoolGuard, ScratchDir};
use corenas_tests::{
    Lab, LabOptions, block_on, ctx, daemon_client, ok, require_program, require_root, require_zfs_fuse, wait_for,
};
use std::os::unix::fs::PermissionsExt;

/// `monitor run`: every collector now, awaited.
fn run_now(lab: &Lab) {
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let r = d.monitor_run(ctx(), false).await.expect("rpc").expect("monitor run");
        let ran = r.result.expect("collector statuses");
        assert!(!r.dry_run && ran.len() == 9, "every collector ran: {ran:?}");
    });
}

/// The snapshot as `monitor status` hands it out.
fn status(lab: &Lab) -> HealthSnapshot {
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        d.monitor_status(ctx()).await.expect("rpc").expect("monitor status").snapshot
    })
}

fn part<T: serde::de::DeserializeOwned>(name: &str, data: &str) -> T {
    serde_json::from_str(data).unwrap_or_else(|e| panic!("cached {name} does not read ({e}): {data}"))
}

/// The snapshot as the SQLite health cache keeps it (what a restart starts from): every
/// collector's part and bookkeeping.
/// A collector's bookkeeping row: name, last success, last error, runs.
type Book = (String, Option<i64>, Option<String>, i64);

fn cached(lab: &Lab) -> (HealthSnapshot, Vec<Book>) {
    let c = rusqlite::Connection::open_with_flags(
        lab.dir.join("state/state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("state.db");
    let mut stmt =
        c.prepare("SELECT collector, data, last_success, last_error, runs FROM monitor_cache").expect("cache query");
    let rows: Vec<(Option<String>, Book)> = stmt
        .query_map([], |r| Ok((r.get(1)?, (r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?))))
        .expect("cache rows")
        .collect::<Result<_, _>>()
        .expect("cache rows");
    let mut snap = HealthSnapshot::default();
    let mut book = Vec::new();
    for (data, (name, ok, err, runs)) in rows {
        let data = data.unwrap_or_else(|| "null".into());
        match name.as_str() {
            "pools" => snap.pools = part(&name, &data),
            "datasets" => snap.datasets = part(&name, &data),
            "disks" => snap.disks = part(&name, &data),
            "helper" => snap.helper = part(&name, &data),
            _ => {}
        }
        book.push((name, ok, err, runs));
    }
    (snap, book)
}

#[test]
fn loop_zfs_mirror_goes_degraded_in_the_health_cache() {
    if !require_root("loop_zfs_monitor") || !require_zfs_fuse("loop_zfs_monitor") {
        return;
    }
    let scratch = ScratchDir::new("monitor-zfs");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 128 << 20);
    let (da, db) = (a.dev.display().to_string(), b.dev.display().to_string());
    let pool = format!("zm{}", std::process::id() % 100_000);
    let _guard = PoolGuard(pool.clone());
    let lab =
        Lab::start("monitor-zfs", LabOptions { lab_mounts: true, monitor_secs: Some(2), ..LabOptions::default() });
    ok(
        &lab.ctl(&[
            "storage", "create", &pool, "--type", "zfs", "--layout", "mirror", "--device", &da, "--device", &db,
        ]),
        "zfs pool create",
    );

    let ds = format!("{pool}/data");
    ok(&lab.ctl(&["storage", "dataset", "create", &ds]), "dataset create");
    run_now(&lab);
    let (snap, book) = cached(&lab);
    let p = snap.pools.iter().find(|p| p.name == pool).unwrap_or_else(|| panic!("pool not collected: {snap:?}"));
    assert_eq!((p.state, p.bad_members.len()), (PoolState::Online, 0), "{p:?}");
    assert!(p.size_bytes.is_some_and(|s| s > 0) && p.allocated_bytes.is_some(), "{p:?}");
    let pools = book.iter().find(|c| c.0 == "pools").expect("pools collector");
    assert!(pools.1.is_some() && pools.2.is_none(), "{pools:?}");
    let data = snap.datasets.iter().find(|d| d.name == ds).unwrap_or_else(|| panic!("datasets: {:?}", snap.datasets));
    assert!(data.pool == pool && data.used_bytes.is_some() && data.available_bytes.is_some(), "{data:?}");
    // The monitor's own rounds cause no helper failures (no md or LVM query where none exists).
    assert!(snap.helper.iter().all(|h| h.result == "ok"), "helper failures: {:?}", snap.helper);

    // Overwrite member b whole (labels included) and scrub: zfs-fuse finds it "corrupted data".
    let f = std::fs::OpenOptions::new().write(true).open(&b.backing).expect("open b");
    let junk: Vec<u8> = (0..(1u32 << 20)).map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2]).collect();
    for i in 0..128u64 {
        std::os::unix::fs::FileExt::write_all_at(&f, &junk, i << 20).expect("overwrite b");
    }
    f.sync_all().expect("sync");
    drop(f);
    let change = lab.ctl_json(&["storage", "scrub", &pool]);
    let id = change["result"]["id"].as_str().unwrap_or_else(|| panic!("no job: {change}")).to_owned();
    wait_for(|| lab.ctl_json(&["storage", "job", "show", &id])["state"] != "running", "the scrub to end");

    run_now(&lab);
    let (snap, _) = cached(&lab);
    let p = snap.pools.iter().find(|p| p.name == pool).expect("pool still collected");
    let b_name = db.trim_start_matches("/dev/");
    assert_eq!(p.state, PoolState::Degraded, "{p:?}");
    assert!(p.bad_members.iter().any(|m| m.starts_with(b_name)), "bad member {b_name} named: {p:?}");
    assert!(p.scrub_last_end.is_some() && !p.scrub_running, "the finished scrub's end: {p:?}");

    // History: the pool's used ratio and the CPU (two system samples make one ratio).
    let series = block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let pool_series =
            d.monitor_history(ctx(), format!("pool_used_ratio:{pool}"), HistoryRange::Day).await.expect("rpc");
        let cpu = d.monitor_history(ctx(), "cpu_busy_ratio".into(), HistoryRange::Day).await.expect("rpc");
        let hostile = d.monitor_history(ctx(), "pool\n\u{7}".into(), HistoryRange::Week).await.expect("rpc");
        (pool_series, cpu, hostile)
    });
    let pool_series = series.0.expect("history");
    assert_eq!(pool_series.len(), 1, "{pool_series:?}");
    assert!(pool_series[0].points.len() >= 2 && pool_series[0].points.iter().all(|p| (0.0..=1.0).contains(&p.1)));
    assert!(series.1.expect("history").first().is_some_and(|s| !s.points.is_empty()), "CPU history");
    assert_eq!(series.2.expect_err("control characters refused").field.as_deref(), Some("prefix"));

    ok(&lab.ctl(&["storage", "destroy", &pool, "--force"]), "destroy");
}

/// The fixture smartctl: "-n standby" on the sleepy device gets the standby answer (exit 3);
/// anything else gets a full SMART answer from a real capture. Every call is one line in the
/// count file: "check DEV" or "full DEV".
fn fixture_smartctl(dir: &std::path::Path, sleepy: &str) -> std::path::PathBuf {
    let fixtures = corenas_tests::workspace().join("corenasd/src/devices/fixtures");
    std::fs::copy(fixtures.join("smartctl-ata-hdd-wd140edfz.json"), dir.join("hdd.json")).expect("hdd fixture");
    std::fs::copy(fixtures.join("smartctl-ata-ssd-samsung-mz7wd240.json"), dir.join("ssd.json")).expect("ssd fixture");
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
standby=0
dev=
for a in "$@"; do
  case "$a" in
    standby,3) standby=1 ;;
    /dev/*) dev="$a" ;;
  esac
done
if [ "$dev" = "{sleepy}" ] && [ "$standby" = 1 ]; then
  echo "check $dev" >> {d}/calls
  printf '%s' '{{"json_format_version":[1,0],"smartctl":{{"version":[7,3],"exit_status":3,"messages":[{{"string":"Device is in STANDBY mode, exit(3)","severity":"information"}}]}}}}'
  exit 3
fi
echo "full $dev" >> {d}/calls
if [ "$dev" = "{sleepy}" ]; then cat {d}/hdd.json; else cat {d}/ssd.json; fi
exit 0
"#
    );
    let path = dir.join("smartctl");
    std::fs::write(&path, script).expect("write the fixture");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.join("calls"), "").expect("calls");
    std::fs::set_permissions(dir.join("calls"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

fn calls(dir: &std::path::Path, what: &str, dev: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    text.lines().filter(|l| *l == format!("{what} {dev}")).count()
}

fn set_rotational(dev: &str, rotational: bool) {
    let name = dev.trim_start_matches("/dev/");
    std::fs::write(format!("/sys/block/{name}/queue/rotational"), if rotational { "1" } else { "0" })
        .unwrap_or_else(|e| panic!("set {name} rotational: {e}"));
}

#[test]
fn loop_a_disk_in_standby_is_never_read_but_an_ssd_is() {
    if !require_root("loop_disk_standby")
        || !require_program("loop_disk_standby", "/usr/sbin/smartctl", "smartmontools")
    {
        return;
    }
    let scratch = ScratchDir::new("monitor-disks");
    let hdd = LoopDisk::sparse(&scratch.path, "hdd", 64 << 20);
    let ssd = LoopDisk::sparse(&scratch.path, "ssd", 64 << 20);
    let (dh, ds) = (hdd.dev.display().to_string(), ssd.dev.display().to_string());
    set_rotational(&dh, true);
    set_rotational(&ds, false);
    // The fixture lives under /tmp: the sandboxed helper may read, run and write there.
    let fix = std::path::PathBuf::from(format!("/tmp/corenas-monitor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fix);
    std::fs::create_dir_all(&fix).expect("fixture dir");
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(fix.clone());
    let script = fixture_smartctl(&fix, &dh);
    let mut lab = Lab::start(
        "monitor-disks",
        LabOptions {
            monitor_secs: Some(3),
            replace_programs: vec![("/usr/sbin/smartctl", script)],
            ..LabOptions::default()
        },
    );

    // corenasd binds its socket before it opens state.db: once it answers, the cache exists.
    status(&lab);
    // Several rounds of the collector loop on its own.
    wait_for(|| cached(&lab).1.iter().any(|c| c.0 == "disks" && c.3 >= 4), "four rounds of the disks collector");
    let checks = calls(&fix, "check", &dh);
    assert!(checks >= 3, "the rotating disk is asked with -n standby each round: {checks}");
    assert_eq!(calls(&fix, "full", &dh), 0, "a disk in standby is never read in full");
    assert!(calls(&fix, "full", &ds) >= 3, "the SSD is read each round");

    let (s, _) = cached(&lab);
    let sleepy = s.disks.iter().find(|d| d.dev == dh.trim_start_matches("/dev/")).expect("the rotating disk");
    assert_eq!((sleepy.power, sleepy.rotational), (PowerState::Standby, Some(true)), "{sleepy:?}");
    assert!(sleepy.smart_last_success.is_none() && sleepy.last_error.is_none(), "asleep is not an error: {sleepy:?}");
    let awake = s.disks.iter().find(|d| d.dev == ds.trim_start_matches("/dev/")).expect("the SSD");
    assert_eq!((awake.power, awake.rotational, awake.smart_healthy), (PowerState::Active, Some(false), Some(true)));
    assert!(awake.smart_last_success.is_some() && awake.attributes.iter().any(|a| a.id == 9), "{awake:?}");
    assert!(
        s.helper.iter().any(|h| h.op == "query.SmartIfAwake" && h.result == "ok" && h.count >= 3),
        "helper requests are counted: {:?}",
        s.helper
    );

    // The attacker hammers `monitor run`: every collector runs each time, but no disk is asked
    // more often than its interval (3 s here), so a burst cannot keep disks from sleeping or
    // wear them with SMART reads.
    let before = calls(&fix, "full", &ds);
    let started = std::time::Instant::now();
    for _ in 0..6 {
        run_now(&lab);
    }
    let secs = started.elapsed().as_secs();
    let during = calls(&fix, "full", &ds) - before;
    // Whole-second clock: two reads are at least 2 s apart (3 s interval). Without the rule,
    // each of the six runs would read it.
    eprintln!("{during} SSD reads in {secs} s of hammering");
    assert!(during < 6 && during as u64 <= secs / 2 + 2, "{during} SSD reads in {secs} s of hammering");
    assert_eq!(calls(&fix, "full", &dh), 0, "still never read in full");

    // The helper itself refuses a path that is no disk before anything runs.
    let checks = calls(&fix, "check", &dh);
    let r = block_on(async {
        let h = corenas_tests::helper_client(&lab.helper_sock).await.expect("helper");
        let dev: corenas_proto::names::DevicePath = "/dev/sdzz".parse().expect("a valid-looking name");
        h.storage_query(ctx(), corenas_proto::helper::StorageQuery::SmartIfAwake { device: dev }).await.expect("rpc")
    });
    assert!(r.is_err(), "a device that does not exist is refused: {r:?}");
    assert_eq!(calls(&fix, "check", &dh), checks);
    let text = std::fs::read_to_string(fix.join("calls")).unwrap_or_default();
    assert!(!text.contains("/dev/sdzz"), "smartctl never ran for it: {text}");

    hostile_devices_never_reach_smartctl(&lab, &fix, &dh);

    // A restart starts from the SQLite cache: the first answer already has the disks, and the
    // collectors' counts go on from where they were (a fresh start would say 0 or 1 run).
    let runs = |s: &HealthSnapshot| s.collectors.iter().find(|c| c.name == "disks").map_or(0, |c| c.runs);
    let before = cached(&lab).1.iter().find(|c| c.0 == "disks").map_or(0, |c| u64::try_from(c.3).unwrap_or(0));
    lab.terminate_daemon();
    lab.restart_daemon();
    let s = status(&lab);
    assert!(runs(&s) >= before && before >= 4, "{} runs after the restart, {before} before", runs(&s));
    let sleepy = s.disks.iter().find(|d| d.dev == dh.trim_start_matches("/dev/")).expect("the rotating disk, cached");
    assert_eq!(sleepy.power, PowerState::Standby, "{sleepy:?}");
    assert_eq!(calls(&fix, "full", &dh), 0, "not even after a restart");
}

/// `monitor status` must reach a client whatever the snapshot holds: with a pool there is a
/// default scrub schedule in it, and every type on the wire must survive the binary codec.
#[test]
fn loop_zfs_monitor_status_with_a_pool_crosses_the_wire() {
    if !require_root("loop_zfs_monitor_wire") || !require_zfs_fuse("loop_zfs_monitor_wire") {
        return;
    }
    let scratch = ScratchDir::new("monitor-wire");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let pool = format!("zw{}", std::process::id() % 100_000);
    let _guard = PoolGuard(pool.clone());
    let lab =
        Lab::start("monitor-wire", LabOptions { lab_mounts: true, monitor_secs: Some(2), ..LabOptions::default() });
    let da = a.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", &pool, "--type", "zfs", "--layout", "stripe", "--device", &da]), "create");
    run_now(&lab);
    let s = status(&lab);
    assert!(s.pools.iter().any(|p| p.name == pool && p.state == PoolState::Online), "{:?}", s.pools);
    ok(&lab.ctl(&["storage", "destroy", &pool, "--force"]), "destroy");
}

/// The corpus's hostile device strings, put straight into a `SmartIfAwake` frame to the
/// helper (around corenasd and the CLI): each frame is refused undecoded and smartctl never
/// runs. Control: the same frame with a real device is answered, and the fixture counts it.
fn hostile_devices_never_reach_smartctl(lab: &Lab, fix: &std::path::Path, real: &str) {
    use corenas_proto::helper::{HelperRequest, StorageQuery};
    use corenas_proto::wire::{Service, client_hello};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PLACEHOLDER: &str = "/dev/disk/by-id/qqqqqqqq";
    let shared = corenas_tests::workspace().parent().map(|p| p.join("shared/corpus/bad-inputs.json"));
    let files = [
        shared
            .filter(|p| p.exists())
            .unwrap_or_else(|| corenas_tests::workspace().join("tests/corpus/bad-inputs.json")),
        corenas_tests::workspace().join("tests/corpus/own-bad-inputs.json"),
    ];
    let mut inputs = Vec::new();
    for f in files {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
                .expect("corpus JSON");
        inputs.extend(
            list.iter()
                .filter(|e| e["field"] == "device")
                .filter_map(|e| e["input"].as_str().map(str::to_owned))
                .filter(|i| i.parse::<corenas_proto::names::DevicePath>().is_err()),
        );
    }
    // And smartctl's own ways in: options where a device goes, traversal, a line break.
    for own in
        ["-n", "--scan-open", "-d", "/dev/../etc/shadow", "/dev/disk/by-id/../../sda", "/dev/sda\n", "/dev/sd a", ""]
    {
        assert!(own.parse::<corenas_proto::names::DevicePath>().is_err(), "{own:?} is a valid device");
        inputs.push(own.to_owned());
    }
    assert!(inputs.len() >= 10, "the corpus has hostile devices: {inputs:?}");
    let frame = |device: &str| {
        let msg = tarpc::ClientMessage::Request(tarpc::Request {
            context: ctx(),
            id: 1,
            message: HelperRequest::StorageQuery {
                query: StorageQuery::SmartIfAwake { device: device.parse().expect("valid") },
            },
        });
        postcard::to_stdvec(&msg).expect("encode")
    };
    let patched = |bad: &str| {
        let encoded = frame(PLACEHOLDER);
        let mut needle = vec![u8::try_from(PLACEHOLDER.len()).expect("short")];
        needle.extend_from_slice(PLACEHOLDER.as_bytes());
        let at = encoded.windows(needle.len()).position(|w| w == needle).expect("placeholder in the frame");
        let mut out = encoded[..at].to_vec();
        out.extend(postcard::to_stdvec(&bad.to_owned()).expect("encode"));
        out.extend_from_slice(&encoded[at + needle.len()..]);
        out
    };
    let send = |payload: Vec<u8>| {
        block_on(async {
            let mut s = tokio::net::UnixStream::connect(&lab.helper_sock).await.expect("connect");
            client_hello(&mut s, Service::Helper).await.expect("hello");
            let mut buf = u32::try_from(payload.len()).expect("len").to_be_bytes().to_vec();
            buf.extend(payload);
            s.write_all(&buf).await.expect("write");
            let mut answer = [0u8; 64];
            match tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut answer)).await {
                Ok(Ok(0) | Err(_)) => false,
                Ok(Ok(_)) => true,
                Err(_) => panic!("the helper neither answered nor closed the connection"),
            }
        })
    };
    let before = std::fs::read_to_string(fix.join("calls")).unwrap_or_default().lines().count();
    for bad in &inputs {
        assert!(!send(patched(bad)), "the helper answered a SmartIfAwake for {bad:?}");
    }
    // The collector loop keeps polling the lab's disks meanwhile: every new call must be one
    // of those (a kernel name), none a hostile string.
    let text = std::fs::read_to_string(fix.join("calls")).unwrap_or_default();
    for line in text.lines().skip(before) {
        let dev = line.split_once(' ').map_or("", |(_, d)| d);
        let kernel_name = dev
            .strip_prefix("/dev/")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert!(kernel_name && !inputs.iter().any(|i| i == dev), "smartctl ran for {line:?}");
    }
    let checks = calls(fix, "check", real);
    assert!(send(frame(real)), "a valid frame is answered");
    wait_for(|| calls(fix, "check", real) > checks, "the control request's smartctl run");
}
