//! `/metrics` benchmark (issue 19), through the real nginx (TLS) to the real corenas-web and
//! corenasd, with a populated health cache (64 disks, 200 datasets):
//! - scrape latency: wrk with one connection (a Prometheus server scrapes one request at a time)
//!   on `/metrics` with the metrics key, against a static file from corenas-web
//!   (`/static/app.css`, no corenasd call) as the baseline, alternating, in the same run; p50, p99;
//! - corenasd's RSS with the lab's own small cache and with the populated one, each after the
//!   same warm-up of scrapes, and the difference (goal: < 5 MiB); and the size of one scrape.
//!
//! How the cache is filled: 64 disks with SMART data cannot be made from loop devices (they
//! have no SMART, no WWN, no serial), so the benchmark writes them where corenasd keeps its
//! health cache between runs: the `disks` and `datasets` rows of `monitor_cache` in state.db,
//! in the format the collectors store (the proto types as JSON), with `last_run` = now. corenasd
//! is stopped for the write and started again; at start it loads the cache as it does after
//! any restart, and the collectors, whose intervals (30 and 5 minutes) are not up, leave those
//! parts alone for the length of the run. No code path exists for the benchmark alone.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-metrics`
//! Writes target/bench-metrics.json. Needs wrk, nginx, curl.

use corenas_proto::monitor::{AttributeSample, DatasetSample, DiskSample, PowerState};
use corenas_tests::web::WebStack;
use corenas_tests::{Lab, LabOptions, rss_kib, run, workspace};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DISKS: u32 = 64;
const DATASETS: u32 = 200;

/// wrk's latency line (`99%    1.23ms`) in milliseconds.
fn percentile(out: &str, p: &str) -> f64 {
    let line =
        out.lines().find(|l| l.trim_start().starts_with(p)).unwrap_or_else(|| panic!("no {p} in wrk output:\n{out}"));
    let v = line.split_whitespace().nth(1).unwrap_or("0");
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(0.0);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => n,
    }
}

fn requests_per_sec(out: &str) -> f64 {
    out.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0)
}

/// One connection, one thread: the latency a single scraper sees.
fn wrk(url: &str, key: &str, secs: u32) -> (f64, f64, f64) {
    let out = Command::new("wrk")
        .args(["-t1", "-c1", &format!("-d{secs}s"), "--latency", "-H", &format!("Authorization: Bearer {key}"), url])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    (percentile(&text, "50%"), percentile(&text, "99%"), requests_per_sec(&text))
}

fn scrape(web: &WebStack, key: &str) -> (u16, String) {
    let out = run(Command::new("curl")
        .args(["-sk", "--max-time", "30", "-w", "\n%{http_code}", "-H", &format!("Authorization: Bearer {key}")])
        .arg(format!("{}/metrics", web.base)));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The same scrapes before each RSS reading, so the figures differ only by the cache.
fn warm_up(web: &WebStack, key: &str) {
    for _ in 0..50 {
        let (code, body) = scrape(web, key);
        assert_eq!(code, 200, "{body}\n{}", web.log());
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Disks as a full shelf reports them: WWN, serial, model and firmware text, every curated
/// attribute, a temperature, and a few NVMe drives.
fn disks(t: i64) -> Vec<DiskSample> {
    (0..DISKS)
        .map(|i| {
            let nvme = i % 16 == 15;
            DiskSample {
                dev: if nvme {
                    format!("nvme{}n1", i / 16)
                } else {
                    format!("sd{}", char::from_u32(u32::from('a') + i % 26).unwrap_or('a'))
                },
                id: format!("0x5000c500{:08x}", 0xa1b2_0000u32 + i),
                wwn: Some(format!("0x5000c500{:08x}", 0xa1b2_0000u32 + i)),
                serial: Some(format!("ZL2{i:05}XK")),
                model: Some(if nvme { "Samsung SSD 990 PRO 2TB".into() } else { "ST16000NM001G-2KK103".into() }),
                firmware: Some("SN03".into()),
                rotational: Some(!nvme),
                power: if i % 3 == 0 { PowerState::Standby } else { PowerState::Active },
                smart_healthy: Some(true),
                temperature_c: Some(30 + i64::from(i % 15)),
                power_on_hours: Some(20_000 + u64::from(i)),
                attributes: [5u16, 9, 187, 188, 194, 197, 198, 199]
                    .into_iter()
                    .map(|id| AttributeSample { id, raw: u64::from(id) * 3 + u64::from(i) })
                    .collect(),
                nvme_percentage_used: nvme.then_some(4),
                nvme_available_spare: nvme.then_some(100),
                nvme_media_errors: nvme.then_some(0),
                smart_last_success: Some(t),
                last_error: None,
            }
        })
        .collect()
}

fn datasets(pools: &[String]) -> Vec<DatasetSample> {
    (0..DATASETS)
        .map(|i| {
            let pool = pools[i as usize % pools.len()].clone();
            DatasetSample {
                name: format!("{pool}/projects/team{:02}/share{i:03}", i % 20),
                pool,
                used_bytes: Some((u64::from(i) + 1) << 30),
                available_bytes: Some(40 << 40),
            }
        })
        .collect()
}

/// Writes the populated parts into corenasd's cache table (corenasd is stopped).
fn fill_cache(lab: &Lab) {
    let db = lab.dir.join("state/state.db");
    let conn = rusqlite::Connection::open(&db).expect("open state db");
    let t = now();
    let pools = ["tank".to_owned(), "backup".to_owned(), "scratch".to_owned()];
    let parts = [
        ("disks", serde_json::to_string(&disks(t)).expect("json")),
        ("datasets", serde_json::to_string(&datasets(&pools)).expect("json")),
    ];
    for (name, data) in parts {
        conn.execute(
            "INSERT INTO monitor_cache(collector, data, last_run, last_success, last_error, runs, failures)
             VALUES (?1, ?2, ?3, ?3, NULL, 1, 0)
             ON CONFLICT(collector) DO UPDATE SET data = ?2, last_run = ?3, last_success = ?3, last_error = NULL",
            rusqlite::params![name, data, t],
        )
        .expect("write monitor_cache");
    }
}

fn series(text: &str, name: &str) -> usize {
    text.lines().filter(|l| l.split(['{', ' ']).next() == Some(name)).count()
}

fn main() {
    let secs = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10u32);
    let mut lab = Lab::start("bench-metrics", LabOptions::default());
    let web = WebStack::start(&lab);
    let key = lab.ctl_json(&["web", "api-key", "create", "--label", "bench", "--role", "metrics", "--days", "1"]);
    let key = key["key"].as_str().expect("the key, shown once").to_owned();
    // The first round of the collectors (all are due at start) fills the lab's own small cache.
    std::thread::sleep(Duration::from_secs(3));
    let (_, small) = scrape(&web, &key);
    warm_up(&web, &key);
    let small_kib = rss_kib(lab.daemon_pid().expect("corenasd pid"));

    lab.terminate_daemon();
    fill_cache(&lab);
    lab.restart_daemon();
    // corenas-web finds corenasd gone on its next call and connects again on the one after.
    for _ in 0..50 {
        if scrape(&web, &key).0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, big) = scrape(&web, &key);
    assert_eq!(code, 200, "{big}");
    let (disk_series, dataset_series) = (series(&big, "corenas_disk_info"), series(&big, "corenas_dataset_used_bytes"));
    assert!(
        disk_series == DISKS as usize && dataset_series == DATASETS as usize,
        "the cache was not filled: {disk_series} disks, {dataset_series} datasets"
    );
    warm_up(&web, &key);
    let big_kib = rss_kib(lab.daemon_pid().expect("corenasd pid"));

    // Alternating, twice each; the worse of the two runs is reported.
    let mut base = (0.0f64, 0.0f64, f64::MAX);
    let mut metrics = (0.0f64, 0.0f64, f64::MAX);
    let worst = |a: (f64, f64, f64), b: (f64, f64, f64)| (a.0.max(b.0), a.1.max(b.1), a.2.min(b.2));
    for _ in 0..2 {
        base = worst(base, wrk(&format!("{}/static/app.css", web.base), &key, secs));
        metrics = worst(metrics, wrk(&format!("{}/metrics", web.base), &key, secs));
    }
    let samples = big.lines().filter(|l| !l.starts_with('#')).count();

    println!("\n/metrics through nginx (TLS) with {DISKS} disks and {DATASETS} datasets in the cache");
    println!(
        "one scrape: {} KiB, {samples} samples (the lab's own cache: {} KiB)",
        big.len() / 1024,
        small.len() / 1024
    );
    println!("wrk -t1 -c1, {secs} s each, twice, alternating (the worse run shown)");
    println!("{:<34} {:>9} {:>9} {:>10}", "request", "p50 ms", "p99 ms", "req/s");
    println!("{:<34} {:>9.2} {:>9.2} {:>10.0}", "GET /static/app.css (baseline)", base.0, base.1, base.2);
    println!("{:<34} {:>9.2} {:>9.2} {:>10.0}", "GET /metrics", metrics.0, metrics.1, metrics.2);
    let added = big_kib as f64 - small_kib as f64;
    println!(
        "\ncorenasd RSS after 50 scrapes: lab cache {:.1} MiB, populated cache {:.1} MiB: {:+.1} MiB (goal < 5 MiB)",
        small_kib as f64 / 1024.0,
        big_kib as f64 / 1024.0,
        added / 1024.0
    );
    println!("goal p99 < 50 ms: {}", if metrics.1 < 50.0 { "met" } else { "NOT met" });
    let json = serde_json::json!({
        "disks": DISKS, "datasets": DATASETS, "wrk_seconds": secs,
        "scrape_bytes": big.len(), "samples": samples,
        "static_baseline": { "p50_ms": base.0, "p99_ms": base.1, "rps": base.2 },
        "metrics": { "p50_ms": metrics.0, "p99_ms": metrics.1, "rps": metrics.2, "p99_ratio": metrics.1 / base.1.max(0.001) },
        "corenasd_rss_kib": { "lab_cache": small_kib, "populated": big_kib, "added": big_kib as i64 - small_kib as i64 },
    });
    let path = workspace().join("target/bench-metrics.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write bench-metrics.json");
    println!("results: {}", path.display());
}
