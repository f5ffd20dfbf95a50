//! Scheduled health work for real, as root: a scrub schedule due now starts one scrub job on a
//! btrfs pool on a loop device, exactly once (also across a corenasd restart), audited as
//! corenasd's own; a self-test schedule on a device that cannot self-test is a failure to start,
//! audited once; bad schedules are refused naming their field with nothing stored.
//!
//! corenasd runs with CORENAS_SCHEDULE_SECS=1 (a tick a second). The hour is the machine's local
//! hour, read with `date` as corenasd reads it (localtime).

use corenas_proto::monitor::{Cadence, HealthScheduleSpec, HealthWork};
use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{
    Lab, LabOptions, block_on, ctx, daemon_client, require_root, run, stderr, stdout, wait_for, workspace,
};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed:\n{}\n{}", stdout(o), stderr(o));
}

/// A lab whose corenasd looks at its schedules every second.
fn lab(name: &str) -> Lab {
    // SAFETY: nextest runs each test in a process of its own, and this runs before any thread
    // the test starts; the daemon inherits it.
    unsafe { std::env::set_var("CORENAS_SCHEDULE_SECS", "1") };
    Lab::start(name, LabOptions { lab_mounts: true, ..LabOptions::default() })
}

/// The local hour now, waiting out the last two minutes of an hour so that setting the schedule
/// and the daemon's first look fall in the same hour.
fn local_hour() -> String {
    loop {
        let out = run(Command::new("date").arg("+%H %M"));
        let text = stdout(&out);
        let (h, m) = text.trim().split_once(' ').expect("date +%H %M");
        if m.parse::<u32>().expect("minute") < 58 {
            return h.trim_start_matches('0').parse::<u32>().unwrap_or(0).to_string();
        }
        std::thread::sleep(Duration::from_secs(20));
    }
}

fn scrub_jobs(lab: &Lab, pool: &str) -> Vec<Value> {
    let jobs = lab.ctl_json(&["storage", "job", "list"]);
    jobs.as_array()
        .unwrap_or_else(|| panic!("{jobs}"))
        .iter()
        .filter(|j| j["kind"] == "scrub" && j["target"] == pool)
        .cloned()
        .collect()
}

fn audited(lab: &Lab, action: &str) -> Vec<Value> {
    let log = lab.ctl_json(&["log", "view", "--limit", "500"]);
    log.as_array().unwrap_or_else(|| panic!("{log}")).iter().filter(|e| e["action"] == action).cloned().collect()
}

fn schedule_of(lab: &Lab, kind: &str, target: &str) -> Option<Value> {
    let all = lab.ctl_json(&["monitor", "schedules"]);
    all.as_array()
        .unwrap_or_else(|| panic!("{all}"))
        .iter()
        .find(|s| {
            s["work"]["work"] == kind && {
                let t = if kind == "scrub" { &s["work"]["pool"] } else { &s["work"]["device"] };
                t == target
            }
        })
        .cloned()
}

#[test]
fn loop_scrub_schedule_due_now_starts_one_audited_scrub_even_across_a_restart() {
    if !require_root("loop_scrub_schedule") {
        return;
    }
    let scratch = ScratchDir::new("health-scrub");
    let disk = LoopDisk::sparse(&scratch.path, "a", 256 << 20);
    let dev = disk.dev.display().to_string();
    let mut lab = lab("health-scrub");
    let pool = "hs";
    ok(&lab.ctl(&["storage", "create", pool, "--type", "btrfs", "--device", &dev]), "btrfs create");

    // monitor status shows the pool at a glance, with its schedule, once the collectors ran.
    ok(&lab.ctl(&["monitor", "run"]), "monitor run");
    let status = stdout(&lab.ctl(&["monitor", "status"]));
    let pools = status.split("\nPOOLS\n").nth(1).unwrap_or_else(|| panic!("{status}"));
    assert!(pools.lines().nth(1).is_some_and(|l| l.starts_with("hs ") && l.contains("btrfs")), "{status}");
    let schedules = status.split("\nSCHEDULES\n").nth(1).unwrap_or_else(|| panic!("{status}"));
    assert!(schedules.lines().any(|l| l.starts_with("scrub") && l.contains("hs") && l.contains("monthly")), "{status}");

    // Every pool has the monthly default until an admin says otherwise.
    let s = schedule_of(&lab, "scrub", pool).expect("a default scrub schedule");
    assert_eq!(
        (s["every"].as_str(), s["hour"].as_u64(), s["default"].as_bool()),
        (Some("monthly"), Some(3), Some(true)),
        "{s}"
    );
    assert!(s["next_run"].as_i64().is_some() && s["last_run"].is_null(), "{s}");

    let hour = local_hour();
    // A dry run stores nothing.
    let o = lab.ctl(&["--dry-run", "storage", "scrub-schedule", pool, "--every", "daily", "--hour", &hour]);
    ok(&o, "dry-run scrub-schedule");
    assert!(stdout(&o).contains("dry run"), "{}", stdout(&o));
    assert_eq!(schedule_of(&lab, "scrub", pool).unwrap()["default"], true);
    assert!(scrub_jobs(&lab, pool).is_empty(), "a dry run started nothing");

    let set = lab.ctl_json(&["storage", "scrub-schedule", pool, "--every", "daily", "--hour", &hour]);
    assert_eq!(
        (set["result"]["every"].as_str(), set["result"]["default"].as_bool()),
        (Some("daily"), Some(false)),
        "{set}"
    );

    // The next tick starts it: one scrub job, which finishes.
    wait_for(|| !scrub_jobs(&lab, pool).is_empty(), "the scheduled scrub to start");
    wait_for(|| scrub_jobs(&lab, pool).iter().all(|j| j["state"] != "running"), "the scheduled scrub to end");
    let jobs = scrub_jobs(&lab, pool);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["state"], "done", "{jobs:?}");
    let job_id = jobs[0]["id"].as_str().unwrap().to_owned();

    let s = schedule_of(&lab, "scrub", pool).unwrap();
    assert_eq!(s["last_job"].as_str(), Some(job_id.as_str()), "{s}");
    let (last, next) = (s["last_run"].as_i64().unwrap(), s["next_run"].as_i64().unwrap());
    assert!(next > last + 3600, "the next run is tomorrow's: {s}");

    // Several more ticks, then a restart (the run is remembered): still exactly one.
    std::thread::sleep(Duration::from_secs(4));
    lab.kill_and_restart_daemon();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(scrub_jobs(&lab, pool).len(), 1, "{:?}", scrub_jobs(&lab, pool));

    let entries = audited(&lab, "health.scrub");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(
        (e["principal"].as_str(), e["channel"].as_str(), e["result"].as_str()),
        (Some("corenasd"), Some("schedule"), Some("ok")),
        "{e}"
    );
    assert!(e["args"].as_str().unwrap().contains(&job_id), "{e}");
    // The admin's change is audited too (the rpc layer), the dry run as a dry run.
    let sets = audited(&lab, "health.schedule_set");
    assert_eq!(sets.iter().map(|e| e["result"].as_str().unwrap()).collect::<Vec<_>>(), ["ok", "dry-run"], "{sets:?}");

    // Off for a pool is stored as off (the monthly default does not come back) and never runs.
    let off = lab.ctl_json(&["storage", "scrub-schedule", pool, "--every", "off"]);
    assert!(off["result"]["next_run"].is_null(), "{off}");
    let s = schedule_of(&lab, "scrub", pool).unwrap();
    assert_eq!((s["every"].as_str(), s["default"].as_bool()), (Some("off"), Some(false)), "{s}");

    ok(&lab.ctl(&["storage", "destroy", pool, "--force"]), "destroy");
    // A pool CoreNAS no longer knows has no schedule.
    assert!(schedule_of(&lab, "scrub", pool).is_none());
}

#[test]
fn loop_a_self_test_that_cannot_start_is_audited_once_as_a_failure() {
    if !require_root("loop_selftest_schedule") {
        return;
    }
    let scratch = ScratchDir::new("health-selftest");
    let disk = LoopDisk::sparse(&scratch.path, "t", 16 << 20);
    let dev = disk.dev.display().to_string();
    let lab = lab("health-selftest");
    let hour = local_hour();
    // A loop device has no SMART: the start fails, once per period, and says so.
    let set = lab.ctl_json(&["device", "selftest-schedule", &dev, "--short", "--every", "weekly", "--hour", &hour]);
    assert_eq!(set["result"]["work"]["work"], "smart_short", "{set}");
    // Weekly runs on Sundays: due now only on a Sunday. Daily makes it due today.
    let set = lab.ctl_json(&["device", "selftest-schedule", &dev, "--short", "--every", "daily", "--hour", &hour]);
    assert_eq!(set["result"]["every"], "daily", "{set}");
    wait_for(|| !audited(&lab, "health.selftest").is_empty(), "the failed self-test start to be audited");
    std::thread::sleep(Duration::from_secs(4));
    let entries = audited(&lab, "health.selftest");
    assert_eq!(entries.len(), 1, "one attempt per period, not one per tick: {entries:?}");
    let e = &entries[0];
    assert_eq!(
        (e["principal"].as_str(), e["channel"].as_str(), e["result"].as_str()),
        (Some("corenasd"), Some("schedule"), Some("failed")),
        "{e}"
    );
    assert!(e["error_code"].as_str().is_some_and(|c| c.starts_with("E_")), "{e}");
    let s = schedule_of(&lab, "smart_short", &dev).expect("the schedule");
    assert!(s["last_run"].as_i64().is_some() && s["last_job"].is_null(), "{s}");

    // Off removes a self-test schedule.
    ok(&lab.ctl(&["device", "selftest-schedule", &dev, "--short", "--every", "off"]), "off");
    assert!(schedule_of(&lab, "smart_short", &dev).is_none());
}

#[test]
fn bad_schedules_are_refused_naming_the_field_and_nothing_is_stored() {
    if !require_root("bad_schedules") {
        return;
    }
    let lab = lab("health-bad");
    let before = lab.ctl_json(&["monitor", "schedules"]);
    for (args, exit, field) in [
        (&["storage", "scrub-schedule", "nosuchpool", "--every", "daily"][..], 1, "pool"),
        (&["storage", "scrub-schedule", "Bad!", "--every", "daily"], 2, "name"),
        (&["storage", "scrub-schedule", "tank", "--every", "hourly"], 2, "every"),
        (&["storage", "scrub-schedule", "tank", "--every", "daily", "--hour", "24"], 2, "hour"),
        (&["storage", "scrub-schedule", "tank", "--every", "daily", "--hour", "-1"], 2, "hour"),
        (
            &["device", "selftest-schedule", "/dev/disk/by-id/corenas-no-such-disk", "--long", "--every", "monthly"],
            1,
            "device",
        ),
        (&["device", "selftest-schedule", "/etc/passwd", "--long", "--every", "monthly"], 2, "device"),
        (&["device", "selftest-schedule", "/dev/null", "--short", "--every", "daily"], 2, "device"),
    ] {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = lab.ctl(&all);
        assert_eq!(o.status.code(), Some(exit), "{args:?}: {}{}", stdout(&o), stderr(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
        assert_eq!(doc["error"]["field"], field, "{args:?}: {doc}");
    }
    // Two kinds of test at once, or none, is a usage error.
    assert_eq!(
        lab.ctl(&["device", "selftest-schedule", "/dev/null", "--short", "--long", "--every", "daily"]).status.code(),
        Some(2)
    );
    assert_eq!(lab.ctl(&["device", "selftest-schedule", "/dev/null", "--every", "daily"]).status.code(), Some(2));
    // At corenasd itself, past the CLI: the types allow an hour of 24 and any known-good name.
    let refused = block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let mut fields = Vec::new();
        for spec in [
            HealthScheduleSpec {
                work: HealthWork::Scrub { pool: "tank".parse().unwrap() },
                every: Cadence::Daily,
                hour: 24,
            },
            HealthScheduleSpec {
                work: HealthWork::Scrub { pool: "tank".parse().unwrap() },
                every: Cadence::Daily,
                hour: 3,
            },
            HealthScheduleSpec {
                work: HealthWork::SmartLong { device: "/dev/loop199".parse().unwrap() },
                every: Cadence::Weekly,
                hour: 255,
            },
        ] {
            let e = d.health_schedule_set(ctx(), spec, false).await.expect("transport").expect_err("accepted");
            fields.push(e.field.unwrap_or_default());
        }
        fields
    });
    assert_eq!(refused, ["hour", "pool", "hour"]);
    assert_eq!(lab.ctl_json(&["monitor", "schedules"]), before);
}

/// The pool and device entries of the bad-input corpus (the shared one, else the repository's
/// copy, plus our own), as schedule targets: each is refused naming its field, nothing stored.
/// `/dev/sda` is left out: a SMART self-test of the boot disk is a legitimate schedule (the
/// corpus refuses it for destructive verbs).
#[test]
fn corpus_pools_and_devices_are_refused_as_schedule_targets() {
    if !require_root("corpus_schedule_targets") {
        return;
    }
    let shared = workspace().parent().map(|p| p.join("shared/corpus/bad-inputs.json"));
    let files = [
        shared.filter(|p| p.exists()).unwrap_or_else(|| workspace().join("tests/corpus/bad-inputs.json")),
        workspace().join("tests/corpus/own-bad-inputs.json"),
    ];
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let list: Vec<Value> = serde_json::from_str(&text).expect("corpus JSON");
        for e in list {
            let (field, input) = (e["field"].as_str().unwrap_or_default(), e["input"].as_str().unwrap_or_default());
            if (field == "pool" || field == "device") && input != "/dev/sda" {
                cases.push((e["id"].as_str().unwrap_or("?").to_owned(), field.to_owned(), input.to_owned()));
            }
        }
    }
    assert!(cases.len() >= 5, "the corpus applies: {cases:?}");
    let lab = lab("health-corpus");
    let before = lab.ctl_json(&["monitor", "schedules"]);
    for (id, field, input) in &cases {
        let args: Vec<&str> = if field == "pool" {
            vec!["--json", "storage", "scrub-schedule", input, "--every", "daily"]
        } else {
            vec!["--json", "device", "selftest-schedule", input, "--short", "--every", "daily"]
        };
        let o = lab.ctl(&args);
        assert!(!o.status.success(), "{id} {input:?} was accepted: {}", stdout(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{id}: {e}: {}", stdout(&o)));
        let named = doc["error"]["field"].as_str().unwrap_or_default();
        let expected: &[&str] = if field == "pool" { &["name", "pool"] } else { &["device"] };
        assert!(expected.contains(&named), "{id} {input:?}: {doc}");
    }
    assert_eq!(lab.ctl_json(&["monitor", "schedules"]), before);
    let log = lab.ctl_json(&["log", "view"]);
    let stored = log.as_array().unwrap().iter().filter(|e| e["action"] == "health.schedule_set" && e["result"] == "ok");
    assert_eq!(stored.count(), 0, "{log}");
}
