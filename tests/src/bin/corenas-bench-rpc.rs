//! RPC, start-up and memory benchmark (issue #8), alternating against a baseline in one run:
//! - the boundary's own cost: a client → corenasd → helper round trip (`system_status`, which
//!   asks the helper for its status) against a raw unix-socket echo of the same number of bytes
//!   (the physical floor), both in-process;
//! - cold start: the first request that needs the helper while it is not running (socket
//!   activation, `lab/activate.py`) against the same request warm;
//! - time from process start to READY (sd_notify) for corenasd and the helper;
//! - RSS of corenasd and the helper before and after 100,000 requests (a leak shows as growth).
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-rpc`
//! Writes target/bench-rpc.json.

use corenas_tests::{
    Activation, Lab, LabOptions, block_on, ctx, daemon_account, daemon_client, rss_kib, timing_stats, workspace,
};
use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns `cmd` with NOTIFY_SOCKET on a socket of ours and returns the time until READY=1.
fn until_ready(mut cmd: Command, dir: &std::path::Path) -> (Duration, std::process::Child) {
    let path = dir.join(format!("notify-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    // The daemon runs unprivileged and must be able to send to it.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).expect("chmod");
    cmd.env("NOTIFY_SOCKET", &path);
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut buf = [0u8; 4096];
    let ready = loop {
        match sock.recv(&mut buf) {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") => break Some(t.elapsed()),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    let _ = std::fs::remove_file(&path);
    match ready {
        Some(d) => (d, child),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no READY=1 within 30 s");
        }
    }
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    corenas_tests::exit_unless_root("corenas-bench-rpc");
    let mut report = serde_json::Map::new();

    // 1. Round trip against the raw floor, alternating.
    let mut lab = Lab::start("bench-rpc", LabOptions::default());
    let sock = lab.daemon_sock.clone();
    let (boundary, floor, size) = block_on(async move {
        let client = daemon_client(&sock).await.expect("connect");
        let status = client.system_status(ctx()).await.expect("rpc").expect("status");
        // The same number of bytes as the answer (postcard, as on the wire), echoed back.
        let size = postcard::to_stdvec(&status).expect("encode").len().max(64);
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        std::thread::spawn(move || {
            let mut buf = vec![0u8; size];
            while b.read_exact(&mut buf).is_ok() {
                if b.write_all(&buf).is_err() {
                    break;
                }
            }
        });
        let msg = vec![0x5au8; size];
        let mut back = vec![0u8; size];
        let (mut rpc, mut raw) = (Vec::new(), Vec::new());
        for i in 0..iterations + 50 {
            let t = Instant::now();
            client.system_status(ctx()).await.expect("rpc").expect("status");
            let d_rpc = t.elapsed();
            let t = Instant::now();
            a.write_all(&msg).expect("echo write");
            a.read_exact(&mut back).expect("echo read");
            let d_raw = t.elapsed();
            if i >= 50 {
                rpc.push(d_rpc);
                raw.push(d_raw);
            }
        }
        (timing_stats(rpc), timing_stats(raw), size)
    });
    println!("corenas RPC benchmark ({iterations} alternating iterations)");
    println!("{:<52} {:>9} {:>9} {:>9}", "", "median", "p10", "p90");
    let row = |name: &str, (m, p10, p90): (f64, f64, f64)| println!("{name:<52} {m:>7.3}ms {p10:>7.3}ms {p90:>7.3}ms");
    row(&format!("raw unix-socket echo, {size} bytes (floor)"), floor);
    row("client -> corenasd -> helper (system_status)", boundary);
    println!("ratio round trip / floor (median): {:.1}x", boundary.0 / floor.0);
    report.insert(
        "round_trip".into(),
        serde_json::json!({ "bytes": size, "floor_ms": floor, "rpc_ms": boundary, "ratio": boundary.0 / floor.0 }),
    );

    // 2. Memory before and after 100,000 requests (8 clients at once).
    let (daemon, helper) = (lab.daemon_pid().expect("daemon"), lab.helper_pid().expect("helper"));
    let before = (rss_kib(daemon), rss_kib(helper));
    let sock = lab.daemon_sock.clone();
    let t = Instant::now();
    block_on(async move {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let sock = sock.clone();
            tasks.push(tokio::spawn(async move {
                let client = daemon_client(&sock).await.expect("connect");
                for _ in 0..12_500 {
                    client.system_status(ctx()).await.expect("rpc").expect("status");
                }
            }));
        }
        for t in tasks {
            t.await.expect("client");
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let after = (rss_kib(daemon), rss_kib(helper));
    println!(
        "100,000 requests in {secs:.1} s: RSS corenasd {} -> {} KiB, helper {} -> {} KiB",
        before.0, after.0, before.1, after.1
    );
    report.insert(
        "memory_100k".into(),
        serde_json::json!({ "seconds": secs, "corenasd_kib": [before.0, after.0], "helper_kib": [before.1, after.1] }),
    );

    // 3. Time to READY: corenasd again on the same state, the helper on a scratch socket.
    lab.terminate_daemon();
    let _ = std::fs::remove_file(&lab.daemon_sock);
    let mut daemon_ready = Vec::new();
    for _ in 0..10 {
        let (d, mut child) = until_ready(lab.daemon_command(), &lab.dir);
        daemon_ready.push(d);
        corenas_tests::stop(&mut child);
        let _ = std::fs::remove_file(&lab.daemon_sock);
    }
    let (uid, gid) = daemon_account();
    let mut helper_ready = Vec::new();
    for i in 0..10 {
        let scratch_sock = lab.dir.join(format!("ready-{i}.sock"));
        let mut cmd = Command::new(lab.bin.join("corenas-helper"));
        cmd.args(lab.helper_args(uid, gid, 0))
            .arg("--listen")
            .arg(&scratch_sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (d, mut child) = until_ready(cmd, &lab.dir);
        helper_ready.push(d);
        corenas_tests::stop(&mut child);
        let _ = std::fs::remove_file(&scratch_sock);
    }
    lab.restart_daemon();
    row("corenasd: process start to READY", timing_stats(daemon_ready.clone()));
    row("corenas-helper: process start to READY (sandboxed)", timing_stats(helper_ready.clone()));
    report.insert(
        "ready_ms".into(),
        serde_json::json!({ "corenasd": timing_stats(daemon_ready), "helper": timing_stats(helper_ready) }),
    );
    drop(lab);

    // 4. Cold start (socket activation) against warm, alternating: the helper exits after 1 s
    // idle once corenasd has let go of its connection (5 s).
    let lab = Lab::start(
        "bench-cold",
        LabOptions { activation: Activation::OnDemand, idle_timeout: 1, ..LabOptions::default() },
    );
    std::fs::create_dir_all(lab.storage.join("cold")).expect("dir");
    let acl = |lab: &Lab| {
        let t = Instant::now();
        let out = lab.ctl(&["acl", "get", "/storage/cold"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed()
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    acl(&lab);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(7500));
        cold.push(acl(&lab));
        warm.push(acl(&lab));
    }
    row("acl get, helper not running (socket activation)", timing_stats(cold.clone()));
    row("acl get, helper warm", timing_stats(warm.clone()));
    report
        .insert("cold_start_ms".into(), serde_json::json!({ "cold": timing_stats(cold), "warm": timing_stats(warm) }));

    let out = workspace().join("target/bench-rpc.json");
    std::fs::write(&out, serde_json::to_string_pretty(&serde_json::Value::Object(report)).expect("json"))
        .expect("write");
    println!("results: {}", out.display());
}
