//! Scale benchmark (issue #8): how cost grows from 1x to 10x size, in one run.
//! - `corenas-ctl --json user list` with 1,000 and 10,000 managed users (written straight
//!   into the lab's prefixed passwd/group/shadow, as useradd would leave them);
//! - rendering the SMB include and exports for 100 and 1,000 shares and checking every line
//!   (the helper's own renderer and grammar), and `testparm` validating the 100 and 1,000
//!   share files (what the helper runs before it publishes);
//! - verifying an audit chain of 100,000 and 1,000,000 entries (corenasd's verifier on a
//!   real state database).
//!
//! Run as root: `cargo build --release --bins && cargo run --release -p corenas-tests --bin corenas-bench-scale`
//! Writes target/bench-scale.json.

use corenas_proto::shares::{ShareDef, ShareSet, SmbOptions};
use corenas_tests::{Lab, LabOptions, run, workspace};
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn time_n(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// Appends share users `u<i>` (uid 50000 + i) to the lab's account files.
fn write_users(lab: &Lab, range: std::ops::Range<usize>) {
    let root = &lab.root;
    let mut passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let mut group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    let mut shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap_or_default();
    for i in range {
        let uid = 50_000 + i;
        let _ = writeln!(passwd, "u{i}:x:{uid}:{uid}:Scale User {i}:/nonexistent:/usr/sbin/nologin");
        let _ = writeln!(group, "u{i}:x:{uid}:");
        let _ = writeln!(shadow, "u{i}:!:20000:0:99999:7:::");
    }
    std::fs::write(root.join("etc/passwd"), passwd).expect("write passwd");
    std::fs::write(root.join("etc/group"), group).expect("write group");
    std::fs::write(root.join("etc/shadow"), shadow).expect("write shadow");
}

fn share_set(n: usize) -> ShareSet {
    let shares = (0..n)
        .map(|i| ShareDef {
            name: format!("s{i}").parse().expect("share name"),
            path: format!("/storage/s{i}").parse().expect("path"),
            smb: Some(SmbOptions {
                valid_users: vec![format!("u{}", i % 50).parse().expect("user")],
                ..SmbOptions::default()
            }),
            nfs: None,
        })
        .collect();
    ShareSet { shares, homes: false }
}

fn testparm_ms(dir: &std::path::Path, set: &ShareSet) -> f64 {
    let include = dir.join(format!("corenas-{}.conf", set.shares.len()));
    std::fs::write(&include, corenas_helper::render::smb::render(set, str::to_owned)).expect("include");
    let conf = dir.join(format!("smb-{}.conf", set.shares.len()));
    std::fs::write(&conf, format!("[global]\n  load printers = no\n  include = {}\n", include.display()))
        .expect("conf");
    time_n(5, || {
        let out = run(Command::new("testparm").args(["-s", "--suppress-prompt"]).arg(&conf));
        assert!(out.status.success(), "testparm: {}", String::from_utf8_lossy(&out.stderr));
    })
}

fn audit_verify_ms(dir: &std::path::Path, entries: usize) -> f64 {
    let db_dir = dir.join(format!("audit-{entries}"));
    std::fs::create_dir_all(&db_dir).expect("dir");
    let mut state = corenasd::state::State::open(&db_dir.join("state.db")).expect("state");
    // Building the chain is not what is measured: no fsync per entry while it grows.
    state.conn().execute_batch("PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY;").expect("pragmas");
    let args = serde_json::json!({ "path": "/storage/team", "entries": ["u:alice:rwx"], "recursive": false });
    for _ in 0..entries {
        let rec = corenasd::audit::AuditRecord {
            principal: "root@ctl",
            channel: "ctl",
            peer_uid: 0,
            action: "acl.set",
            args: &args,
            result: "ok",
            error_code: None,
        };
        corenasd::audit::append(state.conn_mut(), &rec).expect("append");
    }
    let ms = time_n(3, || {
        let v = corenasd::audit::verify(state.conn()).expect("verify");
        assert!(v.problems.is_empty() && v.entries == entries as u64, "{:?}", v.problems);
    });
    drop(state);
    let _ = std::fs::remove_dir_all(&db_dir);
    ms
}

fn main() {
    corenas_tests::exit_unless_root("corenas-bench-scale");
    let mut rows: Vec<(String, f64, f64)> = Vec::new();

    // Users: 1,000 then 10,000 (the second run adds 9,000 more to the same files).
    let lab = Lab::start("bench-scale", LabOptions::default());
    let list = |lab: &Lab| {
        time_n(5, || {
            let out = lab.ctl(&["--json", "user", "list"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        })
    };
    write_users(&lab, 0..1_000);
    let small = list(&lab);
    write_users(&lab, 1_000..10_000);
    let large = list(&lab);
    rows.push(("user list (1,000 -> 10,000 users), ms".into(), small, large));

    let dir = lab.dir.join("scale");
    std::fs::create_dir_all(&dir).expect("scale dir");
    let (s100, s1000) = (share_set(100), share_set(1_000));
    let render = |set: &ShareSet| time_n(20, || assert!(corenas_helper::render::share_outputs_problem(set).is_none()));
    rows.push(("render + grammar check (100 -> 1,000 shares), ms".into(), render(&s100), render(&s1000)));
    rows.push((
        "testparm on the include (100 -> 1,000 shares), ms".into(),
        testparm_ms(&dir, &s100),
        testparm_ms(&dir, &s1000),
    ));
    drop(lab);

    let scratch = std::env::temp_dir().join(format!("corenas-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let a = audit_verify_ms(&scratch, 100_000);
    let b = audit_verify_ms(&scratch, 1_000_000);
    let _ = std::fs::remove_dir_all(&scratch);
    rows.push(("audit verify (100,000 -> 1,000,000 entries), ms".into(), a, b));

    println!("corenas scale benchmark (medians; growth = cost at 10x / cost at 1x, linear = 10.0)");
    println!("{:<54} {:>10} {:>10} {:>8}", "", "1x", "10x", "growth");
    let mut json = Vec::new();
    for (name, one, ten) in &rows {
        println!("{name:<54} {one:>10.2} {ten:>10.2} {:>7.1}x", ten / one);
        json.push(serde_json::json!({ "what": name, "one_x_ms": one, "ten_x_ms": ten, "growth": ten / one }));
    }
    let out = workspace().join("target/bench-scale.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json).expect("json")).expect("write json");
    println!("results: {}", out.display());
}
