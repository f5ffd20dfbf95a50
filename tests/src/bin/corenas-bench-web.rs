//! Web benchmark (issue #6), through the real nginx (TLS) to the real corenas-web and corenasd:
//! - wrk, 50 connections: the dashboard JSON (`/api/v1/dashboard`: three corenasd calls per
//!   request) against a static file from corenas-web (`/static/app.css`, no corenasd call) as
//!   the baseline, one after the other in the same run; p50, p99 and requests/s of each;
//! - 100 open event streams while two imaging jobs run: CPU time of corenas-web and corenasd
//!   over the same window, against the same window with no stream open (jobs running alike);
//! - RSS of corenas-web idle, after the wrk runs, and with 100 streams open.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-web`
//! Writes target/bench-web.json. Needs wrk, nginx, curl, genisoimage.

use corenas_tests::media::{self, LoopDisk, ScratchDir};
use corenas_tests::web::{WebStack, set_up_admin};
use corenas_tests::{Lab, LabOptions, rss_kib, workspace};
use std::process::{Command, Stdio};
use std::time::Duration;

/// wrk's latency line (`50%    1.23ms`) in milliseconds.
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

fn wrk(url: &str, cookie: &str, secs: u32) -> (f64, f64, f64, String) {
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c50",
            &format!("-d{secs}s"),
            "--latency",
            "-H",
            &format!("Cookie: corenas_session={cookie}"),
            url,
        ])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    (percentile(&text, "50%"), percentile(&text, "99%"), requests_per_sec(&text), text)
}

/// utime + stime of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let a = cpu_ticks(pid);
    std::thread::sleep(window);
    (cpu_ticks(pid) - a) as f64 / window.as_secs_f64()
}

fn main() {
    let scratch = ScratchDir::new("bench-web");
    // Two discs, read with a rate cap so the jobs run through both measurement windows.
    let discs: Vec<LoopDisk> = (0..2)
        .map(|i| LoopDisk::attach_read_only(&media::make_iso(&scratch.path, &format!("BENCH{i}"), 96 << 20, i)))
        .collect();
    let lab = Lab::start("bench-web", LabOptions::default());
    let web = WebStack::start(&lab);
    let pid = web.web_pid().expect("corenas-web pid");
    let daemon = lab.daemon_pid().expect("corenasd pid");
    std::thread::sleep(Duration::from_secs(1));
    let idle_kib = rss_kib(pid);
    let (browser, _, _) = set_up_admin(&lab, &web, "alice");
    let jar = std::fs::read_to_string(&browser.jar).expect("cookie jar");
    let cookie = jar
        .lines()
        .find(|l| l.contains("corenas_session"))
        .and_then(|l| l.split('\t').nth(6))
        .expect("session cookie")
        .to_owned();

    let secs = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10u32);
    let (base_p50, base_p99, base_rps, _) = wrk(&format!("{}/static/app.css", web.base), &cookie, secs);
    let (p50, p99, rps, text) = wrk(&format!("{}/api/v1/dashboard", web.base), &cookie, secs);
    println!("{text}");
    let after_wrk_kib = rss_kib(pid);

    // Two jobs running, rate-capped (2 MiB/s, 96 MiB each: ~48 s).
    for (i, d) in discs.iter().enumerate() {
        let dev = d.dev.display().to_string();
        let out = lab.ctl(&["image", "create", &format!("bench-{i}"), "--device", &dev, "--max-rate", "2097152"]);
        assert!(out.status.success(), "image create: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::thread::sleep(Duration::from_secs(2));
    let window = Duration::from_secs(10);
    let quiet = (cpu_percent(pid, window), cpu_percent(daemon, window));
    let stream_out = |i: usize| scratch.path.join(format!("stream-{i}.txt"));
    let mut streams: Vec<std::process::Child> = (0..100)
        .map(|i| {
            Command::new("curl")
                .args(["-sk", "-N", "-o"])
                .arg(stream_out(i))
                .args(["--max-time", "120", "-H", &format!("Cookie: corenas_session={cookie}")])
                .arg(format!("{}/api/v1/events", web.base))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("curl")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let streaming = (cpu_percent(pid, window), cpu_percent(daemon, window));
    let streams_kib = rss_kib(pid);
    // Every stream must have been served (job events while the jobs run); a refused stream
    // would make the CPU figure meaningless.
    let open = streams.iter_mut().map(|s| s.try_wait()).filter(|w| matches!(w, Ok(None))).count();
    for s in &mut streams {
        let _ = s.kill();
        let _ = s.wait();
    }
    let served =
        (0..100).filter(|i| std::fs::read_to_string(stream_out(*i)).unwrap_or_default().contains("event: job")).count();
    assert!(open == 100 && served == 100, "streams open {open}/100, with job events {served}/100");

    println!("\ncorenas-web through nginx (TLS), wrk -t2 -c50, {secs} s each");
    println!("{:<34} {:>9} {:>9} {:>10}", "request", "p50 ms", "p99 ms", "req/s");
    println!("{:<34} {:>9.2} {:>9.2} {:>10.0}", "GET /static/app.css (baseline)", base_p50, base_p99, base_rps);
    println!("{:<34} {:>9.2} {:>9.2} {:>10.0}", "GET /api/v1/dashboard", p50, p99, rps);
    println!("\nCPU (% of one core) over {} s with two imaging jobs running", window.as_secs());
    println!("{:<22} {:>12} {:>12}", "", "corenas-web", "corenasd");
    println!("{:<22} {:>12.1} {:>12.1}", "no event stream", quiet.0, quiet.1);
    println!("{:<22} {:>12.1} {:>12.1}", "100 event streams", streaming.0, streaming.1);
    println!("(all 100 streams stayed open and carried job events)");
    println!(
        "\ncorenas-web RSS: idle {:.1} MiB, after wrk {:.1} MiB, with 100 streams {:.1} MiB (goal idle <= 20 MiB)",
        idle_kib as f64 / 1024.0,
        after_wrk_kib as f64 / 1024.0,
        streams_kib as f64 / 1024.0
    );
    let json = serde_json::json!({
        "wrk_seconds": secs,
        "static_baseline": { "p50_ms": base_p50, "p99_ms": base_p99, "rps": base_rps },
        "dashboard": { "p50_ms": p50, "p99_ms": p99, "rps": rps, "p50_ratio": p50 / base_p50.max(0.001) },
        "cpu_percent": { "no_streams": { "web": quiet.0, "corenasd": quiet.1 }, "streams_100": { "web": streaming.0, "corenasd": streaming.1 } },
        "web_rss_kib": { "idle": idle_kib, "after_wrk": after_wrk_kib, "streams_100": streams_kib },
    });
    let path = workspace().join("target/bench-web.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write bench-web.json");
    println!("results: {}", path.display());
}
