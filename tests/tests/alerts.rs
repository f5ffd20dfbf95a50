//! The alert engine for real, as root: a zfs-fuse mirror on loop devices goes degraded under a
//! lab's corenasd whose collectors run every second; across many rounds and a corenasd restart
//! there is exactly one pool_degraded alert and exactly one message to a real webhook receiver
//! on loopback (no second queued delivery); repaired (zpool replace, clear, scrub), the alert
//! resolves. And the attacker: a disk whose firmware reports a hostile model and serial (a
//! fixture smartctl bound over the helper's) yields an alert whose texts are one bounded line;
//! hostile silence subjects are refused at the CLI and at corenasd, with nothing stored.

use corenas_proto::api::CorenasRequest;
use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, AlertState, ChannelKind, ChannelSpec, SilenceSpec};
use corenas_proto::wire::{Service, client_hello};
use corenas_tests::media::{LoopDisk, PoolGuard, ScratchDir};
use corenas_tests::{
    Lab, LabOptions, block_on, ctx, daemon_client, ok, require_program, require_root, require_zfs_fuse, stderr,
    wait_for,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A webhook receiver on loopback: answers every POST with 200 and keeps its body.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::start_on(0)
    }

    fn start_on(port: u16) -> Receiver {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut r = BufReader::new(&stream);
                let mut len = 0usize;
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len.min(1 << 20)];
                if r.read_exact(&mut body).is_ok() {
                    kept.lock().expect("bodies").push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Receiver { port, bodies }
    }

    /// The messages that mention `needle` with the status `status` ("firing"/"resolved").
    fn count(&self, needle: &str, status: &str) -> usize {
        let bodies = self.bodies.lock().expect("bodies");
        bodies.iter().filter(|b| b.contains(needle) && b.contains(&format!("\"status\":\"{status}\""))).count()
    }
}

fn alerts(lab: &Lab, include_resolved: bool) -> Vec<Alert> {
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        d.alert_list(ctx(), include_resolved).await.expect("rpc").expect("alert list")
    })
}

fn degraded_alerts(lab: &Lab, pool: &str) -> Vec<Alert> {
    alerts(lab, true).into_iter().filter(|a| a.class == AlertClass::PoolDegraded && a.subject == pool).collect()
}

/// How many rounds the pools collector has run (the health cache's count).
fn pool_rounds(lab: &Lab) -> i64 {
    let c = rusqlite::Connection::open_with_flags(
        lab.dir.join("state/state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("state.db");
    c.query_row("SELECT runs FROM monitor_cache WHERE collector = 'pools'", [], |r| r.get(0)).unwrap_or(0)
}

/// The outbox rows of one alert: (channel, event, delivered).
fn outbox_rows(lab: &Lab, alert_id: &str) -> Vec<(String, String, bool)> {
    let c = rusqlite::Connection::open_with_flags(
        lab.dir.join("state/state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("state.db");
    let mut st =
        c.prepare("SELECT channel, event, delivered_at IS NOT NULL FROM outbox WHERE alert_id = ?1").expect("q");
    st.query_map([alert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Adds a channel through corenasd.
fn add_channel(lab: &Lab, spec: ChannelSpec) {
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        d.channel_add(ctx(), spec, false).await.expect("rpc").expect("channel add");
    });
}

fn wait_rounds(lab: &Lab, n: i64) {
    let start = pool_rounds(lab);
    wait_for(|| pool_rounds(lab) >= start + n, "collector rounds");
}

#[test]
fn loop_zfs_degraded_pool_raises_one_alert_survives_a_restart_and_resolves() {
    if !require_root("loop_zfs_alert") || !require_zfs_fuse("loop_zfs_alert") {
        return;
    }
    let scratch = ScratchDir::new("alerts-zfs");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 128 << 20);
    let c = LoopDisk::sparse(&scratch.path, "c", 128 << 20);
    let (da, db, dc) = (a.dev.display().to_string(), b.dev.display().to_string(), c.dev.display().to_string());
    let pool = format!("za{}", std::process::id() % 100_000);
    let _guard = PoolGuard(pool.clone());
    let mut lab =
        Lab::start("alerts-zfs", LabOptions { lab_mounts: true, monitor_secs: Some(1), ..LabOptions::default() });
    let hook = Receiver::start();
    let spec = ChannelSpec {
        name: "hook".parse().expect("name"),
        kind: ChannelKind::Webhook { url: format!("http://127.0.0.1:{}/alerts", hook.port).parse().expect("url") },
        min_level: AlertLevel::Warning,
    };
    add_channel(&lab, spec);
    ok(
        &lab.ctl(&[
            "storage", "create", &pool, "--type", "zfs", "--layout", "mirror", "--device", &da, "--device", &db,
        ]),
        "zfs pool create",
    );
    wait_rounds(&lab, 2);
    assert!(degraded_alerts(&lab, &pool).is_empty(), "a healthy pool raises nothing");

    // Overwrite member b whole (labels included) and scrub: zfs-fuse finds it "corrupted data".
    let f = std::fs::OpenOptions::new().write(true).open(&b.backing).expect("open b");
    let junk: Vec<u8> = (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0]).collect();
    for i in 0..128u64 {
        std::os::unix::fs::FileExt::write_all_at(&f, &junk, i << 20).expect("overwrite b");
    }
    f.sync_all().expect("sync");
    drop(f);
    let change = lab.ctl_json(&["storage", "scrub", &pool]);
    let id = change["result"]["id"].as_str().unwrap_or_else(|| panic!("no job: {change}")).to_owned();
    wait_for(|| lab.ctl_json(&["storage", "job", "show", &id])["state"] != "running", "the scrub to end");

    wait_for(|| !degraded_alerts(&lab, &pool).is_empty(), "the pool_degraded alert");
    wait_for(|| hook.count(&pool, "firing") >= 1, "the webhook to get the alert");
    wait_rounds(&lab, 4);
    let found = degraded_alerts(&lab, &pool);
    assert_eq!(found.len(), 1, "one alert across rounds: {found:?}");
    let alert = found[0].clone();
    assert_eq!((alert.state, alert.level), (AlertState::Active, AlertLevel::Error), "{alert:?}");
    let b_name = db.trim_start_matches("/dev/");
    assert!(alert.summary.contains(b_name), "the bad member is named: {}", alert.summary);
    assert!(!alert.action.is_empty());
    assert_eq!(hook.count(&pool, "firing"), 1, "one message");
    assert_eq!(outbox_rows(&lab, &alert.id), vec![("hook".to_owned(), "firing".to_owned(), true)]);

    // A restart neither forgets nor re-sends.
    lab.terminate_daemon().expect("corenasd stops");
    lab.restart_daemon();
    wait_rounds(&lab, 4);
    let found = degraded_alerts(&lab, &pool);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].id.as_str(), found[0].first_seen), (alert.id.as_str(), alert.first_seen));
    assert_eq!(outbox_rows(&lab, &alert.id).len(), 1, "no second queued delivery");
    assert_eq!(hook.count(&pool, "firing"), 1, "no second message");

    // Repaired: a new disk replaces b, the pool resilvers and scrubs clean; the alert resolves.
    ok(&Command::new("zpool").args(["replace", "-f", &pool, &db, &dc]).output().expect("zpool"), "zpool replace");
    wait_for(
        || {
            let s = Command::new("zpool").args(["status", &pool]).output().expect("zpool");
            let text = String::from_utf8_lossy(&s.stdout).to_string();
            !text.contains("in progress") && !text.contains("replacing")
        },
        "the resilver to end",
    );
    ok(&Command::new("zpool").args(["clear", &pool]).output().expect("zpool"), "zpool clear");
    let change = lab.ctl_json(&["storage", "scrub", &pool]);
    let scrub = change["result"]["id"].as_str().unwrap_or_else(|| panic!("no job: {change}")).to_owned();
    wait_for(
        || degraded_alerts(&lab, &pool).first().is_some_and(|a| a.state == AlertState::Resolved),
        "the alert to resolve",
    );
    let found = degraded_alerts(&lab, &pool);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, alert.id);
    assert!(found[0].resolved_at.is_some());
    // The resolution is queued for the channel that heard of it (held back for the flap window).
    let rows = outbox_rows(&lab, &alert.id);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[1].1.as_str(), rows[1].2), ("resolved", false), "{rows:?}");
    wait_for(|| lab.ctl_json(&["storage", "job", "show", &scrub])["state"] != "running", "the scrub to end");
    ok(&lab.ctl(&["storage", "destroy", &pool, "--force"]), "destroy");
}

/// Sends one raw request frame; true if corenasd answered it (a frame that does not decode
/// must get no answer: the connection closes).
async fn send_raw(sock: &std::path::Path, payload: Vec<u8>) -> bool {
    let mut s = tokio::net::UnixStream::connect(sock).await.expect("connect");
    client_hello(&mut s, Service::Daemon).await.expect("hello");
    let mut frame = u32::try_from(payload.len()).expect("len").to_be_bytes().to_vec();
    frame.extend(payload);
    s.write_all(&frame).await.expect("write");
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => false,
        Ok(Ok(_)) => true,
        Err(_) => panic!("corenasd neither answered nor closed the connection"),
    }
}

/// A silence request whose subject is `subject`, encoded as the wire carries it (the typed
/// client cannot even build a bad one: the placeholder is patched in the bytes).
fn silence_frame(subject: &str) -> Vec<u8> {
    const PLACEHOLDER: &str = "qqqqqqqq";
    let spec =
        SilenceSpec { class: None, subject: Some(PLACEHOLDER.parse().expect("subject")), minutes: 5, reason: None };
    let msg = tarpc::ClientMessage::Request(tarpc::Request {
        context: ctx(),
        id: 1,
        message: CorenasRequest::AlertSilence { spec, dry_run: false },
    });
    let encoded = postcard::to_stdvec(&msg).expect("encode");
    let mut needle = vec![u8::try_from(PLACEHOLDER.len()).expect("short")];
    needle.extend_from_slice(PLACEHOLDER.as_bytes());
    let at = encoded.windows(needle.len()).position(|w| w == needle).expect("placeholder");
    let mut out = encoded[..at].to_vec();
    out.extend(postcard::to_stdvec(&subject.to_owned()).expect("encode"));
    out.extend_from_slice(&encoded[at + needle.len()..]);
    out
}

/// Silences: hostile subjects are refused at the CLI naming the field, and a frame carrying one
/// is not answered by corenasd; an empty matcher and a bad duration name their field; nothing
/// but the valid silence is stored.
#[test]
fn hostile_silence_subjects_are_refused_and_nothing_is_stored() {
    if !require_root("alert_silence_attacker") {
        return;
    }
    let lab = Lab::start("alerts-silence", LabOptions::default());
    let long = "x".repeat(129);
    for bad in ["a\nb", "\u{1b}[2J", long.as_str()] {
        let o = lab.ctl(&["alert", "silence", "--subject", bad, "--for", "1h"]);
        assert!(!o.status.success(), "silence --subject {bad:?} was accepted");
        assert!(stderr(&o).contains("subject"), "the error names the field: {}", stderr(&o));
        assert!(
            !block_on(send_raw(&lab.daemon_sock, silence_frame(bad))),
            "corenasd answered a hostile subject {bad:?}"
        );
    }
    assert!(block_on(send_raw(&lab.daemon_sock, silence_frame("tank"))), "a valid frame is answered");
    let (empty, zero, listed) = block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let empty = SilenceSpec { class: None, subject: None, minutes: 5, reason: None };
        let zero = SilenceSpec { class: Some(AlertClass::MountDown), subject: None, minutes: 0, reason: None };
        (
            d.alert_silence(ctx(), empty, false).await.expect("rpc"),
            d.alert_silence(ctx(), zero, false).await.expect("rpc"),
            d.silence_list(ctx()).await.expect("rpc").expect("list"),
        )
    });
    assert_eq!(empty.expect_err("empty matcher").field.as_deref(), Some("class"));
    assert_eq!(zero.expect_err("zero minutes").field.as_deref(), Some("minutes"));
    assert_eq!(listed.len(), 1, "only the valid silence was stored: {listed:?}");
    assert_eq!(listed[0].subject.as_deref(), Some("tank"));
}

/// A smartctl that reports one loop device (made non-rotating, so it is read) with hostile
/// firmware texts and a failed SMART verdict.
fn hostile_smartctl(dir: &std::path::Path) -> std::path::PathBuf {
    let fixture =
        corenas_tests::workspace().join("corenasd/src/devices/fixtures/smartctl-ata-ssd-samsung-mz7wd240.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("fixture json");
    v["model_name"] = format!("EVIL\r\nBcc: victim@example.org\u{1b}[2J{}", "M".repeat(600)).into();
    v["serial_number"] = format!("S\n\u{7}X-Injected: yes{}", "9".repeat(400)).into();
    v["smart_status"]["passed"] = false.into();
    if let Some(o) = v.as_object_mut() {
        o.remove("wwn");
    }
    std::fs::write(dir.join("disk.json"), v.to_string()).expect("write fixture");
    let script = format!("#!/bin/sh\ncat {}/disk.json\nexit 8\n", dir.display());
    let path = dir.join("smartctl");
    std::fs::write(&path, script).expect("write the fixture");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn loop_hostile_firmware_texts_become_one_bounded_line() {
    if !require_root("loop_alert_attacker")
        || !require_program("loop_alert_attacker", "/usr/sbin/smartctl", "smartmontools")
    {
        return;
    }
    let scratch = ScratchDir::new("alerts-attacker");
    let disk = LoopDisk::sparse(&scratch.path, "d", 64 << 20);
    let dev = disk.dev.display().to_string();
    let name = dev.trim_start_matches("/dev/").to_owned();
    std::fs::write(format!("/sys/block/{name}/queue/rotational"), "0").expect("non-rotating");
    // Under /tmp: the sandboxed helper may read and run it there.
    let fix = std::path::PathBuf::from(format!("/tmp/corenas-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fix);
    std::fs::create_dir_all(&fix).expect("fixture dir");
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(fix.clone());
    let script = hostile_smartctl(&fix);
    let lab = Lab::start(
        "alerts-attacker",
        LabOptions {
            monitor_secs: Some(1),
            replace_programs: vec![("/usr/sbin/smartctl", script)],
            ..LabOptions::default()
        },
    );

    wait_for(
        || alerts(&lab, false).iter().any(|a| a.class == AlertClass::DiskFailing),
        "the disk_failing alert from the hostile disk",
    );
    for a in alerts(&lab, false).iter().filter(|a| a.class == AlertClass::DiskFailing) {
        for text in [&a.subject, &a.summary, &a.action] {
            assert!(!text.chars().any(char::is_control), "a control character got through: {text:?}");
        }
        assert!(a.subject.len() <= 128 && a.summary.len() <= 300, "{a:?}");
        assert_eq!(a.level, AlertLevel::Critical);
        // The subject can be silenced as shown (it fits the silence matcher's type).
        let change = block_on(async {
            let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
            let spec = SilenceSpec {
                class: None,
                subject: Some(a.subject.parse().expect("subject")),
                minutes: 5,
                reason: None,
            };
            d.alert_silence(ctx(), spec, true).await.expect("rpc")
        });
        assert!(change.is_ok_and(|c| c.dry_run), "a shown subject can be silenced");
    }
}

/// The durable outbox against a channel that is down: the message waits (with backoff), the
/// failure is told on the other channel only, and once the server is up the message arrives
/// exactly once and the failure alert resolves.
#[test]
fn loop_a_channel_that_is_down_gets_its_message_once_when_it_comes_back() {
    if !require_root("loop_alert_outbox")
        || !require_program("loop_alert_outbox", "/usr/sbin/smartctl", "smartmontools")
    {
        return;
    }
    let scratch = ScratchDir::new("alerts-outbox");
    let disk = LoopDisk::sparse(&scratch.path, "d", 64 << 20);
    let name = disk.dev.display().to_string().trim_start_matches("/dev/").to_owned();
    std::fs::write(format!("/sys/block/{name}/queue/rotational"), "0").expect("non-rotating");
    let fix = std::path::PathBuf::from(format!("/tmp/corenas-alerts-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fix);
    std::fs::create_dir_all(&fix).expect("fixture dir");
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(fix.clone());
    let script = hostile_smartctl(&fix);
    // A port with nothing listening yet (taken and let go).
    let down = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    // SAFETY: set before the lab starts any thread of ours; corenasd inherits it (first retry
    // after 1 s instead of 60, doubling).
    unsafe { std::env::set_var("CORENAS_OUTBOX_RETRY_SECS", "1") };
    let lab = Lab::start(
        "alerts-outbox",
        LabOptions {
            monitor_secs: Some(1),
            replace_programs: vec![("/usr/sbin/smartctl", script)],
            ..LabOptions::default()
        },
    );
    let hook = Receiver::start();
    let url = |port: u16| format!("http://127.0.0.1:{port}/alerts").parse().expect("url");
    add_channel(
        &lab,
        ChannelSpec {
            name: "hook".parse().expect("name"),
            kind: ChannelKind::Webhook { url: url(hook.port) },
            min_level: AlertLevel::Warning,
        },
    );
    add_channel(
        &lab,
        ChannelSpec {
            name: "late".parse().expect("name"),
            kind: ChannelKind::Webhook { url: url(down) },
            min_level: AlertLevel::Warning,
        },
    );

    // Every disk the fixture answers for fails (the lab's loop disk and any other): follow ours.
    let dev = format!("({name})");
    wait_for(
        || alerts(&lab, false).iter().any(|a| a.class == AlertClass::DiskFailing && a.summary.contains(&dev)),
        "the disk_failing alert of the loop disk",
    );
    let ours = alerts(&lab, false)
        .into_iter()
        .find(|a| a.class == AlertClass::DiskFailing && a.summary.contains(&dev))
        .expect("our disk's alert");
    let needle = format!("\"subject\":\"{}\"", ours.subject);
    wait_for(|| hook.count(&needle, "firing") >= 1, "the working channel to get the alert");
    wait_for(|| hook.count("delivery_failed", "firing") >= 1, "the working channel to hear of the failing one");
    let failed = alerts(&lab, false)
        .into_iter()
        .find(|a| a.class == AlertClass::DeliveryFailed)
        .expect("a delivery_failed alert");
    assert_eq!(failed.subject, "late", "{failed:?}");

    let late = Receiver::start_on(down);
    wait_for(|| late.count(&needle, "firing") >= 1, "the message to arrive once the channel is up");
    wait_for(
        || alerts(&lab, true).iter().any(|a| a.id == failed.id && a.state == AlertState::Resolved),
        "the delivery_failed alert to resolve",
    );
    wait_rounds(&lab, 3);
    assert_eq!(late.count(&needle, "firing"), 1, "delivered exactly once");
    assert_eq!(hook.count(&needle, "firing"), 1, "and once on the working channel");
    assert_eq!(late.count("delivery_failed", "firing"), 0, "a channel is not told of its own failure");
    assert_eq!(hook.count("delivery_failed", "firing"), 1);
}

/// Writes the fixture smartctl's answer: the SSD capture with attribute 5's raw value set.
fn write_reallocated(dir: &std::path::Path, raw: u64) {
    let fixture =
        corenas_tests::workspace().join("corenasd/src/devices/fixtures/smartctl-ata-ssd-samsung-mz7wd240.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("fixture json");
    let table = v["ata_smart_attributes"]["table"].as_array_mut().expect("attribute table");
    let five = table.iter_mut().find(|a| a["id"] == 5).expect("attribute 5");
    five["raw"] = serde_json::json!({ "value": raw, "string": raw.to_string() });
    // Written aside and renamed: the fixture never reads half a file.
    std::fs::write(dir.join("disk.json.new"), v.to_string()).expect("write fixture");
    std::fs::rename(dir.join("disk.json.new"), dir.join("disk.json")).expect("rename fixture");
}

/// SMART on attribute changes, not only the verdict: the first value read is the baseline; a
/// rise raises disk_attribute_rising (a warning naming the attribute and both values);
/// dismissing it moves the baseline up, so it resolves; a further rise is a new alert.
#[test]
fn loop_a_rising_attribute_warns_and_a_dismissal_moves_the_baseline() {
    if !require_root("loop_alert_rising")
        || !require_program("loop_alert_rising", "/usr/sbin/smartctl", "smartmontools")
    {
        return;
    }
    let scratch = ScratchDir::new("alerts-rising");
    let disk = LoopDisk::sparse(&scratch.path, "d", 64 << 20);
    let name = disk.dev.display().to_string().trim_start_matches("/dev/").to_owned();
    std::fs::write(format!("/sys/block/{name}/queue/rotational"), "0").expect("non-rotating");
    let fix = std::path::PathBuf::from(format!("/tmp/corenas-alerts-rising-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fix);
    std::fs::create_dir_all(&fix).expect("fixture dir");
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(fix.clone());
    write_reallocated(&fix, 0);
    let script = fix.join("smartctl");
    std::fs::write(&script, format!("#!/bin/sh\ncat {}/disk.json\nexit 0\n", fix.display())).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let lab = Lab::start(
        "alerts-rising",
        LabOptions {
            monitor_secs: Some(1),
            replace_programs: vec![("/usr/sbin/smartctl", script)],
            ..LabOptions::default()
        },
    );
    let dev = format!("({name})");
    let rising = |lab: &Lab| -> Vec<Alert> {
        alerts(lab, true)
            .into_iter()
            .filter(|a| a.class == AlertClass::DiskAttributeRising && a.summary.contains(&dev))
            .collect()
    };
    let disk_rounds = |lab: &Lab| -> i64 {
        let c = rusqlite::Connection::open_with_flags(
            lab.dir.join("state/state.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("state.db");
        c.query_row("SELECT runs FROM monitor_cache WHERE collector = 'disks'", [], |r| r.get(0)).unwrap_or(0)
    };
    wait_for(|| disk_rounds(&lab) >= 3, "three reads of the disks");
    assert!(rising(&lab).is_empty(), "the first value is the baseline, not a rise");

    write_reallocated(&fix, 12);
    wait_for(|| !rising(&lab).is_empty(), "disk_attribute_rising");
    let first = rising(&lab).remove(0);
    assert_eq!((first.level, first.state), (AlertLevel::Warning, AlertState::Active), "{first:?}");
    assert!(first.summary.contains("5 Reallocated_Sector_Ct 0 → 12"), "{}", first.summary);

    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let dry = d.alert_dismiss(ctx(), first.id.clone(), true).await.expect("rpc").expect("dry dismiss");
        assert!(dry.dry_run && dry.result.is_some_and(|a| a.dismissed_by.is_some()));
        let shown = d.alert_show(ctx(), first.id.clone()).await.expect("rpc").expect("show");
        assert_eq!(shown.dismissed_at, None, "a dry run dismisses nothing");
        d.alert_dismiss(ctx(), first.id.clone(), false).await.expect("rpc").expect("dismiss");
    });
    wait_for(
        || rising(&lab).iter().any(|a| a.id == first.id && a.state == AlertState::Resolved),
        "the dismissed alert to resolve on its new baseline",
    );
    let before = disk_rounds(&lab);
    wait_for(|| disk_rounds(&lab) >= before + 2, "two more reads");
    assert!(rising(&lab).iter().all(|a| a.state == AlertState::Resolved), "12 is the baseline now");

    write_reallocated(&fix, 13);
    wait_for(|| rising(&lab).iter().any(|a| a.state == AlertState::Active), "a new rise");
    let again: Vec<Alert> = rising(&lab).into_iter().filter(|a| a.state == AlertState::Active).collect();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0].id, first.id, "a new alert");
    assert!(again[0].summary.contains("12 → 13") && again[0].dismissed_at.is_none(), "{:?}", again[0]);
}
