//! Imaging benchmark (issue "Disc and disk imaging"):
//! 1. throughput: a CoreNAS imaging job (corenas-ctl → corenasd → helper grant → ddrescue as
//!    corenas, mapfile followed every 500 ms) against bare `ddrescue` with the same options on the
//!    same source, alternating, page cache warm for both (the source is read once first); the
//!    job is timed from `image create` until the copy is done (status hashing or later);
//! 2. progress overhead: corenasd's CPU time (utime + stime from /proc) during a rate-limited
//!    job, scaled to one job-hour.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-imaging [-- ROUNDS SIZE_MIB]`

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12) // utime, stime (fields 14 and 15 of the whole line)
}

fn clk_tck() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn job(lab: &Lab, id: &str) -> Value {
    lab.ctl_json(&["image", "show", id])
}

/// Blocks until the job's copy is done (status hashing or later), via `image_wait`.
fn copy_done(lab: &Lab, id: &str) {
    corenas_tests::block_on(async {
        use corenas_proto::imaging::JobState;
        let c = corenas_tests::daemon_client(&lab.daemon_sock).await.expect("connect");
        let mut version = 0;
        loop {
            let j = c.image_wait(corenas_tests::ctx(), id.to_owned(), version, 5000).await.expect("rpc").expect("job");
            match j.status {
                JobState::Hashing | JobState::Completed => return,
                JobState::Failed | JobState::Cancelled | JobState::CompletedWithErrors => {
                    panic!("job ended {:?}: {:?}", j.status, j.error)
                }
                _ => version = j.version,
            }
        }
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let size_mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    corenas_tests::exit_unless_root("corenas-bench-imaging");
    let scratch = ScratchDir::new("bench-imaging");
    let disk = LoopDisk::sparse(&scratch.path, "src", size_mib << 20);
    disk.write_pattern(99);
    let lab = Lab::start("bench-img", LabOptions { imaging_concurrency: 1, ..LabOptions::default() });
    let size = size_mib << 20;
    // Warm the page cache for both contenders.
    let _ = Command::new("cat").arg(&disk.dev).stdout(std::process::Stdio::null()).status();

    let (mut bare, mut corenas) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let out = scratch.path.join(format!("bare-{round}"));
        std::fs::create_dir_all(&out).expect("dir");
        let t = Instant::now();
        let st = Command::new("/usr/bin/ddrescue")
            .args(["--sector-size=512", &format!("--size={size}"), "--retry-passes=1", "--mapfile-interval=1,30", "--"])
            .arg(&disk.dev)
            .arg(out.join("img"))
            .arg(out.join("map"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("ddrescue");
        assert!(st.success());
        bare.push(size as f64 / t.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&out);

        let t = Instant::now();
        let v =
            lab.ctl_json(&["image", "create", &format!("bench{round}"), "--device", &disk.dev.display().to_string()]);
        let id = v["result"]["id"].as_str().expect("job id").to_owned();
        // corenasd's long poll: one connection, no busy polling that would take CPU from
        // ddrescue on this two-core machine.
        copy_done(&lab, &id);
        corenas.push(size as f64 / t.elapsed().as_secs_f64());
        // Wait for hashing to end before the next bare round, and free the space.
        while job(&lab, &id)["status"] != "completed" {
            std::thread::sleep(Duration::from_millis(50));
        }
        let arch = job(&lab, &id)["archive_id"].as_str().unwrap_or("").to_owned();
        let _ = lab.ctl(&["archive", "delete", &arch, "--force"]);
    }
    let (b, c) = (median(bare.clone()), median(corenas.clone()));
    let mib = |x: f64| x / (1 << 20) as f64;

    // Progress overhead: a job held at 16 MB/s (16 s for the default 256 MiB).
    let pid = lab.daemon_pid().expect("corenasd");
    let rate = 16_000_000u64;
    let before = cpu_ticks(pid);
    let t = Instant::now();
    let v = lab.ctl_json(&[
        "image",
        "create",
        "overhead",
        "--device",
        &disk.dev.display().to_string(),
        "--max-rate",
        &rate.to_string(),
    ]);
    let id = v["result"]["id"].as_str().expect("job").to_owned();
    copy_done(&lab, &id);
    let secs = t.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - before) as f64 / clk_tck();
    let per_hour = cpu / secs * 3600.0;

    println!("imaging benchmark: {size_mib} MiB source (loop device, page cache warm), {rounds} alternating rounds");
    println!(
        "bare ddrescue        median {:>8.1} MiB/s   runs {:?}",
        mib(b),
        bare.iter().map(|x| (mib(*x) * 10.0).round() / 10.0).collect::<Vec<_>>()
    );
    println!(
        "corenas imaging job  median {:>8.1} MiB/s   runs {:?}",
        mib(c),
        corenas.iter().map(|x| (mib(*x) * 10.0).round() / 10.0).collect::<Vec<_>>()
    );
    println!("ratio (median): {:.3}  (target >= 0.95)", c / b);
    println!(
        "corenasd CPU while following a {secs:.1} s job: {cpu:.3} s = {per_hour:.1} CPU-s per job-hour (followed by long poll)"
    );
    let json = serde_json::json!({
        "size_mib": size_mib, "rounds": rounds,
        "bare_bps": bare, "corenas_bps": corenas, "ratio_median": c / b,
        "overhead": { "job_secs": secs, "corenasd_cpu_secs": cpu, "cpu_secs_per_job_hour": per_hour },
    });
    let out = std::env::var("CORENAS_BENCH_OUT").unwrap_or_else(|_| "target/bench-imaging.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("json")).expect("write results");
    println!("results: {out}");
}
