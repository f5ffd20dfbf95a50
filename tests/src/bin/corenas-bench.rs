//! Boundary benchmark (issues #2, #8): each `corenas-ctl` command end to end (ctl → corenasd →
//! helper, including the audit fsync) against the bare tool doing the same on the same files,
//! alternating in one run: `acl set` vs `setfacl -m`, `user add` vs `useradd --prefix`,
//! `user set-smb-password` vs `smbpasswd -s -a`, `storage snapshot create` vs `zfs snapshot`
//! (when zfs-fuse is installed); plus idle RSS of the helper and corenasd. Prints a table and
//! writes JSON.
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench [-- ITERATIONS]`
//! (it uses the binaries of the profile it was built with).

use corenas_tests::{Lab, LabOptions, rss_kib, run, timing_stats};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = run(cmd);
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    corenas_tests::exit_unless_root("corenas-bench");
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
    let others = other_tools(&lab, (iterations / 4).max(10));
    let peak = (rss_kib(helper_pid), rss_kib(daemon_pid));
    let (b50, b10, b90) = timing_stats(bare);
    let (c50, c10, c90) = timing_stats(boundary);
    let ratio = c50 / b50;
    println!("corenas boundary benchmark ({iterations} alternating iterations)");
    println!("{:<34} {:>9} {:>9} {:>9}", "", "median", "p10", "p90");
    println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "setfacl -m (bare tool)", b50, b10, b90);
    println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", "corenas-ctl acl set (end to end)", c50, c10, c90);
    println!("ratio (median): {ratio:.2}x  (target <= 2.5x)");
    for o in &others {
        println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", o.bare, o.bare_ms.0, o.bare_ms.1, o.bare_ms.2);
        println!("{:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms", o.ctl, o.ctl_ms.0, o.ctl_ms.1, o.ctl_ms.2);
        println!("ratio (median): {:.2}x  ({} alternating iterations)", o.ctl_ms.0 / o.bare_ms.0, o.n);
    }
    println!("idle RSS: helper {} KiB (target <= 8192), corenasd {} KiB (target <= 20480)", idle.0, idle.1);
    println!("RSS after the run: helper {} KiB, corenasd {} KiB", peak.0, peak.1);
    let json = serde_json::json!({
        "iterations": iterations,
        "setfacl_ms": { "median": b50, "p10": b10, "p90": b90 },
        "ctl_acl_set_ms": { "median": c50, "p10": c10, "p90": c90 },
        "ratio_median": ratio,
        "idle_rss_kib": { "helper": idle.0, "corenasd": idle.1 },
        "other_tools": others.iter().map(|o| serde_json::json!({
            "bare": o.bare, "ctl": o.ctl, "iterations": o.n,
            "bare_ms": { "median": o.bare_ms.0, "p10": o.bare_ms.1, "p90": o.bare_ms.2 },
            "ctl_ms": { "median": o.ctl_ms.0, "p10": o.ctl_ms.1, "p90": o.ctl_ms.2 },
            "ratio_median": o.ctl_ms.0 / o.bare_ms.0,
        })).collect::<Vec<_>>(),
        "after_rss_kib": { "helper": peak.0, "corenasd": peak.1 },
    });
    let out = std::env::var("CORENAS_BENCH_OUT").unwrap_or_else(|_| "target/bench-boundary.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("json")).expect("write results");
    println!("results: {out}");
}

/// One bare tool against the corenas-ctl command that does the same.
struct Pair {
    bare: &'static str,
    ctl: &'static str,
    n: usize,
    bare_ms: (f64, f64, f64),
    ctl_ms: (f64, f64, f64),
}

/// Alternates `bare(i)` and `ctl(i)` `n` times after 3 warm-up rounds.
fn pair(
    bare: &'static str,
    ctl: &'static str,
    n: usize,
    mut bare_cmd: impl FnMut(usize) -> (Command, Option<String>),
    mut ctl_cmd: impl FnMut(usize) -> (Command, Option<String>),
) -> Pair {
    let run = |(mut cmd, stdin): (Command, Option<String>)| match stdin {
        None => timed(&mut cmd),
        Some(text) => timed_stdin(&mut cmd, &text),
    };
    let (mut b, mut c) = (Vec::new(), Vec::new());
    for i in 0..n + 3 {
        let tb = run(bare_cmd(i));
        let tc = run(ctl_cmd(i));
        if i >= 3 {
            b.push(tb);
            c.push(tc);
        }
    }
    Pair { bare, ctl, n, bare_ms: timing_stats(b), ctl_ms: timing_stats(c) }
}

fn timed_stdin(cmd: &mut Command, stdin: &str) -> Duration {
    use std::io::Write;
    let t = Instant::now();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    d
}

fn other_tools(lab: &Lab, n: usize) -> Vec<Pair> {
    let ctl = |args: Vec<String>| {
        let mut c = Command::new(lab.bin.join("corenas-ctl"));
        c.arg("--socket").arg(&lab.daemon_sock).args(args);
        c
    };
    let root = lab.root.display().to_string();
    let mut out = Vec::new();
    // useradd into the same prefix (CoreNAS runs exactly this, plus its checks and the audit).
    out.push(pair(
        "useradd --prefix (bare tool)",
        "corenas-ctl user add (end to end)",
        n,
        |i| {
            let mut c = Command::new("useradd");
            c.args(["--prefix", &root, "-u", &(60_000 + i).to_string(), "-U", "-M", "-s", "/usr/sbin/nologin"])
                .arg(format!("bareu{i}"));
            (c, None)
        },
        |i| {
            (
                ctl(vec![
                    "user".into(),
                    "add".into(),
                    format!("ctlu{i}"),
                    "--kind".into(),
                    "share".into(),
                    "--no-home".into(),
                ]),
                None,
            )
        },
    ));
    // smbpasswd against the lab's passdb, the password on stdin both ways.
    let conf = lab.root.join("etc/samba/smb.conf").display().to_string();
    let nss = lab.nss_env();
    out.push(pair(
        "smbpasswd -s -a (bare tool)",
        "corenas-ctl user set-smb-password",
        n,
        |i| {
            // The password twice on stdin, as the helper gives it.
            let mut c = Command::new("smbpasswd");
            c.args(["-c", &conf, "-s", "-a"])
                .arg(format!("bareu{}", i % n.max(1)))
                .envs(nss.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            (c, Some("Bench-Pass-1234\nBench-Pass-1234\n".into()))
        },
        |i| {
            (
                ctl(vec![
                    "user".into(),
                    "set-smb-password".into(),
                    format!("ctlu{}", i % n.max(1)),
                    "--password-stdin".into(),
                ]),
                Some("Bench-Pass-1234\n".into()),
            )
        },
    ));
    out.extend(zfs_snapshots(lab, n));
    out
}

/// `zfs snapshot` against `storage snapshot create` on a zfs-fuse pool of two loop devices.
fn zfs_snapshots(lab: &Lab, n: usize) -> Option<Pair> {
    let up = Command::new(corenas_tests::workspace().join("lab/zfs-fuse-up")).status().ok()?;
    if !up.success() {
        eprintln!("zfs-fuse does not run: no zfs snapshot comparison");
        return None;
    }
    let scratch = corenas_tests::media::ScratchDir::new("bench-zfs");
    let disk = corenas_tests::media::LoopDisk::sparse(&scratch.path, "z", 128 << 20);
    let pool = format!("zb{}", std::process::id() % 100_000);
    let dev = disk.dev.display().to_string();
    let created = lab.ctl(&["storage", "create", &pool, "--type", "zfs", "--device", &dev, "--force"]);
    if !created.status.success() {
        eprintln!("no zfs pool for the snapshot comparison: {}", String::from_utf8_lossy(&created.stderr));
        return None;
    }
    let ds = format!("{pool}/b");
    let made = lab.ctl(&["storage", "dataset", "create", &ds]);
    if !made.status.success() {
        eprintln!("no zfs dataset for the snapshot comparison: {}", String::from_utf8_lossy(&made.stderr));
        let _ = Command::new("zpool").args(["destroy", "-f", &pool]).status();
        return None;
    }
    let p = pair(
        "zfs snapshot (bare tool)",
        "corenas-ctl storage snapshot create",
        n,
        |i| {
            let mut c = Command::new("zfs");
            c.arg("snapshot").arg(format!("{ds}@bare{i}"));
            (c, None)
        },
        |i| {
            let mut c = Command::new(lab.bin.join("corenas-ctl"));
            c.arg("--socket").arg(&lab.daemon_sock).args([
                "storage",
                "snapshot",
                "create",
                &ds,
                "--name",
                &format!("ctl{i}"),
            ]);
            (c, None)
        },
    );
    let _ = lab.ctl(&["storage", "destroy", &pool, "--force"]);
    let _ = Command::new("zpool").args(["destroy", "-f", &pool]).status();
    drop(disk);
    Some(p)
}
