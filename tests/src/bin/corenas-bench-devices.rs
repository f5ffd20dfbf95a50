//! Device inventory benchmark (issue #3): with 64 loop devices attached, `corenas-ctl device
//! list --json` end to end (ctl → corenasd, which reads sysfs and /proc unprivileged and asks the
//! helper for ZFS membership) against `lsblk --json`, alternating in one run; and `corenas-ctl
//! storage list --json` for context. Prints a table and writes JSON.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-devices [-- ITERATIONS]`

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, run, timing_stats};
use std::process::Command;
use std::time::{Duration, Instant};

const LOOPS: usize = 64;

fn timed(cmd: &mut Command) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = run(cmd);
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    (d, out.stdout)
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    corenas_tests::exit_unless_root("corenas-bench-devices");
    let scratch = ScratchDir::new("bench-devices");
    // Growth: the same listing with a tenth of the devices first (1x), then all of them.
    let mut disks: Vec<LoopDisk> =
        (0..LOOPS / 10).map(|i| LoopDisk::sparse(&scratch.path, &format!("d{i}"), 16 << 20)).collect();
    let lab = Lab::start("bench-devices", LabOptions::default());
    let small: Vec<Duration> = (0..iterations + 3)
        .map(|_| {
            timed(
                Command::new(lab.bin.join("corenas-ctl"))
                    .arg("--socket")
                    .arg(&lab.daemon_sock)
                    .args(["--json", "device", "list"]),
            )
            .0
        })
        .skip(3)
        .collect();
    let (small50, _, _) = timing_stats(small);
    disks.extend((LOOPS / 10..LOOPS).map(|i| LoopDisk::sparse(&scratch.path, &format!("d{i}"), 16 << 20)));
    let ctl = lab.bin.join("corenas-ctl");
    let ctl_cmd = |args: &[&str]| {
        let mut c = Command::new(&ctl);
        c.arg("--socket").arg(&lab.daemon_sock).arg("--json").args(args);
        c
    };
    // Both must see every loop device: the comparison is only fair if the work is the same.
    let (_, out) = timed(&mut ctl_cmd(&["device", "list"]));
    let listed: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let seen = disks.iter().filter(|d| listed.to_string().contains(&format!("\"{}\"", d.dev.display()))).count();
    assert_eq!(seen, LOOPS, "corenas-ctl device list must show all {LOOPS} loop devices");

    let (mut lsblk, mut list, mut pools) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations + 3 {
        let a = timed(Command::new("lsblk").arg("--json")).0;
        let b = timed(&mut ctl_cmd(&["device", "list"])).0;
        let c = timed(&mut ctl_cmd(&["storage", "list"])).0;
        if i >= 3 {
            lsblk.push(a);
            list.push(b);
            pools.push(c);
        }
    }
    let (l50, l10, l90) = timing_stats(lsblk);
    let (d50, d10, d90) = timing_stats(list);
    let (s50, s10, s90) = timing_stats(pools);
    let ratio = d50 / l50;
    println!("corenas device inventory benchmark ({LOOPS} loop devices, {iterations} alternating iterations)");
    println!("{:<36} {:>9} {:>9} {:>9}", "", "median", "p10", "p90");
    println!("{:<36} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "lsblk --json (baseline)", l50, l10, l90);
    println!("{:<36} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "corenas-ctl --json device list", d50, d10, d90);
    println!("{:<36} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "corenas-ctl --json storage list", s50, s10, s90);
    println!("ratio device list / lsblk (median): {ratio:.2}x");
    println!(
        "growth: device list with {} loop devices {small50:.2}ms, with {LOOPS} {d50:.2}ms ({:.1}x)",
        LOOPS / 10,
        d50 / small50
    );
    let json = serde_json::json!({
        "loops": LOOPS,
        "iterations": iterations,
        "lsblk_json_ms": { "median": l50, "p10": l10, "p90": l90 },
        "ctl_device_list_ms": { "median": d50, "p10": d10, "p90": d90 },
        "ctl_storage_list_ms": { "median": s50, "p10": s10, "p90": s90 },
        "ratio_median": ratio,
        "growth": { "loops_small": LOOPS / 10, "small_median_ms": small50, "large_median_ms": d50, "ratio": d50 / small50 },
    });
    let out = std::env::var("CORENAS_BENCH_OUT").unwrap_or_else(|_| "target/bench-devices.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("json")).expect("write results");
    println!("results: {out}");
    drop(lab);
    drop(disks);
}
