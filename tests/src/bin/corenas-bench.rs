//! Boundary benchmark (issue #2): `corenas-ctl acl set` end to end (ctl → corenasd → helper,
//! including the audit fsync) against bare `setfacl -m` on the same file, alternating in one
//! run; plus idle RSS of the helper and corenasd. Prints a table and writes JSON.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench [-- ITERATIONS]`
//! (it uses the binaries of the profile it was built with).

use corenas_tests::{Lab, LabOptions, run};
use std::process::Command;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Nearest-rank percentiles: index = percent of (len - 1), in integers.
    let at = |percent: usize| ms(v[(v.len() - 1) * percent / 100]);
    (at(50), at(10), at(90))
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = run(cmd);
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    if !corenas_tests::require_root("corenas-bench") {
        std::process::exit(1);
    }
    let lab = Lab::start("bench", LabOptions::default());
    std::fs::create_dir_all(lab.storage.join("bench")).expect("dir");
    let file = lab.storage.join("bench/f");
    std::fs::write(&file, b"x").expect("file");
    assert!(lab.ctl(&["user", "add", "benchuser", "--kind", "share", "--uid", "50001", "--no-home"]).status.success());
    // Idle: after start-up and one request each, nothing running.
    std::thread::sleep(Duration::from_millis(500));
    let (helper_pid, daemon_pid) = (lab.helper_pid().expect("helper"), lab.daemon_pid().expect("daemon"));
    let idle = (rss_kib(helper_pid), rss_kib(daemon_pid));

    let ctl = lab.bin.join("corenas-ctl");
    let (mut bare, mut boundary) = (Vec::new(), Vec::new());
    for i in 0..iterations + 10 {
        let perms = if i % 2 == 0 { "rwx" } else { "r-x" };
        let b = timed(Command::new("setfacl").args(["-m", &format!("u:50001:{perms}"), "--"]).arg(&file));
        let c = timed(Command::new(&ctl).arg("--socket").arg(&lab.daemon_sock).args([
            "acl",
            "set",
            "/storage/bench/f",
            &format!("u:50001:{perms}"),
        ]));
        if i >= 10 {
            bare.push(b);
            boundary.push(c);
        }
    }
    let peak = (rss_kib(helper_pid), rss_kib(daemon_pid));
    let (b50, b10, b90) = stats(bare);
    let (c50, c10, c90) = stats(boundary);
    let ratio = c50 / b50;
    println!("corenas boundary benchmark ({iterations} alternating iterations)");
    println!("{:<34} {:>9} {:>9} {:>9}", "", "median", "p10", "p90");
    println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "setfacl -m (bare tool)", b50, b10, b90);
    println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "corenas-ctl acl set (end to end)", c50, c10, c90);
    println!("ratio (median): {ratio:.2}x  (target <= 2.5x)");
    println!("idle RSS: helper {} KiB (target <= 8192), corenasd {} KiB (target <= 20480)", idle.0, idle.1);
    println!("RSS after the run: helper {} KiB, corenasd {} KiB", peak.0, peak.1);
    let json = serde_json::json!({
        "iterations": iterations,
        "setfacl_ms": { "median": b50, "p10": b10, "p90": b90 },
        "ctl_acl_set_ms": { "median": c50, "p10": c10, "p90": c90 },
        "ratio_median": ratio,
        "idle_rss_kib": { "helper": idle.0, "corenasd": idle.1 },
        "after_rss_kib": { "helper": peak.0, "corenasd": peak.1 },
    });
    let out = std::env::var("CORENAS_BENCH_OUT").unwrap_or_else(|_| "target/bench-boundary.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("json")).expect("write results");
    println!("results: {out}");
}
