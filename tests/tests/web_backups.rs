//! Backups over the REST API and the web pages, end to end as root: the real corenas-web behind
//! the real nginx in front of the lab's real corenasd and storage helper, a btrfs pool on a loop
//! device as the source and a local restic repository (made by corenasd's own `restic init`).
//! Played by an administrator's API key, and by an operator's and a viewer's who try the
//! administrator's work. A repository password posted once must never come back: not from any
//! read of the API, not from a page, not from the audit log.

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::web::{Browser, WebStack};
use corenas_tests::{Lab, LabOptions, ok, require_program, require_root};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const REPO_PASSWORD: &str = "Repo-Secret-4711!";

fn key_browser(lab: &Lab, web: &WebStack, role: &str) -> Browser {
    let key = lab.ctl_json(&["web", "api-key", "create", "--label", role, "--role", role, "--days", "1"]);
    let key = key["key"].as_str().expect("the key").to_owned();
    let mut b = web.browser(role);
    b.extra = vec![format!("X-API-Key: {key}")];
    b
}

/// Posts JSON and expects a 422 naming `field`.
fn refused_naming(b: &Browser, path: &str, body: Value, field: &str) {
    let r = b.json("POST", path, None, &body.to_string());
    assert_eq!(r.status, 422, "{body}: {}", r.body);
    assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.body);
    assert_eq!(r.json()["error"]["code"], "E_INVALID_INPUT", "{}", r.body);
    assert!(!r.body.contains(REPO_PASSWORD), "a refusal repeats no secret: {}", r.body);
}

#[test]
fn web_backup_rest_keeps_secrets_refuses_other_roles_and_names_bad_fields() {
    let name = "web_backup_rest";
    if !require_root(name)
        || !require_program(name, "/usr/bin/restic", "restic")
        || !require_program(name, "/usr/sbin/mkfs.btrfs", "btrfs-progs")
    {
        return;
    }
    let scratch = ScratchDir::new("web-backup");
    let disk = LoopDisk::sparse(&scratch.path, "a", 512 << 20);
    let lab = Lab::start("web-backup", LabOptions { lab_mounts: true, ..LabOptions::default() });
    let dev = disk.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", "bk", "--type", "btrfs", "--device", &dev]), "btrfs pool");
    ok(&lab.ctl(&["storage", "dataset", "create", "bk/data"]), "dataset");
    let mnt = lab.root.join("mnt/corenas/bk");
    std::fs::create_dir_all(mnt.join("data/docs")).expect("mkdir");
    std::fs::write(mnt.join("data/docs/a.txt"), "alpha\n").expect("write");
    // Where the repository goes: beneath the pool, outside the source, corenasd's to write.
    let backups = mnt.join("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    std::os::unix::fs::chown(&backups, Some(lab.daemon_uid), Some(lab.daemon_uid)).expect("chown");

    let web = WebStack::start(&lab);
    let admin = key_browser(&lab, &web, "admin");
    let operator = key_browser(&lab, &web, "operator");
    let viewer = key_browser(&lab, &web, "viewer");
    let targets = "/api/v1/backup/targets";
    let target = json!({ "name": "usb", "kind": "local", "path": "/mnt/corenas/bk/backups/restic", "repository_password": REPO_PASSWORD });

    // Bad input names the field, before anything reaches corenasd.
    let with = |k: &str, v: Value| {
        let mut t = target.clone();
        t[k] = v;
        t
    };
    refused_naming(&admin, targets, with("name", json!("Bad Name!")), "name");
    refused_naming(&admin, targets, with("kind", json!("ftp")), "kind");
    refused_naming(&admin, targets, with("path", json!("relative/dir")), "path");
    refused_naming(&admin, targets, with("repository_password", json!("")), "repository_password");
    refused_naming(&admin, targets, with("password", json!("x")), "password");
    refused_naming(
        &admin,
        targets,
        json!({ "name": "s3", "kind": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "Bad_Bucket",
                "repository_password": REPO_PASSWORD, "s3_access_key_id": "k", "s3_secret_access_key": "s" }),
        "bucket",
    );
    // corenasd's own policy, named the same way: a local repository beneath a pool or disk.
    refused_naming(&admin, targets, with("path", json!("/srv/restic")), "path");

    // An operator's or a viewer's key may not add a target.
    for b in [&operator, &viewer] {
        let r = b.json("POST", targets, None, &target.to_string());
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "E_NOT_ALLOWED", "{}", r.body);
    }
    // A dry run makes nothing.
    let r = admin.json("POST", &format!("{targets}?dry_run=true"), None, &target.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dry_run"], true, "{}", r.body);
    assert!(!backups.join("restic/config").exists(), "a dry run made a repository");
    assert_eq!(admin.get(targets).json(), json!([]));

    let r = admin.json("POST", targets, None, &target.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains(REPO_PASSWORD), "{}", r.body);
    assert_eq!(r.json()["result"]["name"], "usb", "{}", r.body);
    assert!(backups.join("restic/config").exists(), "corenasd made a restic repository");
    // stock restic opens it with the password that was posted.
    let o = std::process::Command::new("restic")
        .args(["-r"])
        .arg(backups.join("restic"))
        .args(["cat", "config", "--no-cache"])
        .env("RESTIC_PASSWORD", REPO_PASSWORD)
        .output()
        .expect("restic");
    ok(&o, "restic cat config with the posted password");

    // Tasks: bad input names the field; then one on the dataset.
    let tasks = "/api/v1/backup/tasks";
    let task = json!({ "name": "docs", "source": "dataset:bk/data", "target": "usb", "every": "off",
                       "keep": { "last": 3 }, "check_subset": 0, "sample_files": 0 });
    let tw = |k: &str, v: Value| {
        let mut t = task.clone();
        t[k] = v;
        t
    };
    refused_naming(&admin, tasks, tw("hour", json!(24)), "hour");
    refused_naming(&admin, tasks, tw("source", json!("disk:sda")), "source");
    refused_naming(&admin, tasks, tw("every", json!("hourly")), "every");
    refused_naming(&admin, tasks, tw("keep", json!({ "daily": -1 })), "keep_daily");
    refused_naming(&admin, tasks, tw("excludes", json!(["--exclude=x"])), "excludes");
    let r = operator.json("POST", tasks, None, &task.to_string());
    assert_eq!(r.status, 403, "{}", r.body);
    let r = admin.json("POST", tasks, None, &task.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["result"]["task"]["spec"]["name"], "docs", "{}", r.body);
    let r = viewer.get(&format!("{tasks}/docs"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["spec"]["keep"]["last"], 3, "{}", r.body);
    let r =
        admin.json("PUT", &format!("{tasks}/docs"), None, &json!({ "keep": { "last": 5, "daily": 7 } }).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(admin.get(&format!("{tasks}/docs")).json()["spec"]["keep"]["daily"], 7);
    let r = admin.json("POST", &format!("{tasks}/docs/preview"), None, &json!({ "last": 1 }).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["remove"].is_array() && r.json()["keep"].is_array(), "{}", r.body);
    assert_eq!(admin.get(&format!("{tasks}/docs/snapshots")).json(), json!([]));
    let r = admin.get(&format!("{tasks}/docs/snapshots/zz/ls?path=/"));
    assert_eq!((r.status, r.json()["error"]["field"].clone()), (422, json!("id")), "{}", r.body);

    // A backup now, when this corenasd runs them: the job reaches done and its snapshot can be
    // browsed (an operator may; a viewer may not: a listing shows every name in the source).
    let r = admin.json("POST", &format!("{tasks}/docs/run"), None, "");
    if r.status == 409 && r.body.contains("does not offer") {
        eprintln!("this corenasd does not run backups yet: the run and the browsing are not tested: {}", r.body);
    } else {
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["result"]["id"].as_str().expect("a job id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(180);
        let job = loop {
            let j = admin.get(&format!("/api/v1/backup/jobs/{id}")).json();
            if j["state"] == "done" || j["state"] == "failed" || Instant::now() > deadline {
                break j;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(job["state"], "done", "{job}");
        let snaps = admin.get(&format!("{tasks}/docs/snapshots")).json();
        let snap = snaps[0]["id"].as_str().unwrap_or_else(|| panic!("a snapshot: {snaps}")).to_owned();
        let r = operator.get(&format!("{tasks}/docs/snapshots/{snap}/ls?path=/docs"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.json()["entries"].as_array().is_some_and(|e| e.iter().any(|e| e["path"] == "/docs/a.txt")),
            "{}",
            r.body
        );
        let r = viewer.get(&format!("{tasks}/docs/snapshots/{snap}/ls?path=/"));
        assert_eq!(r.status, 403, "{}", r.body);
        let r = admin.get("/api/v1/backup/jobs?task=docs&limit=5");
        assert!(r.json().as_array().is_some_and(|j| j.iter().any(|j| j["id"] == id.as_str())), "{}", r.body);
    }

    // No read gives the password back: the API, the pages, the audit log.
    for path in [
        targets.to_owned(),
        format!("{targets}/usb"),
        tasks.to_owned(),
        format!("{tasks}/docs"),
        "/api/v1/backup/jobs".to_owned(),
        "/api/v1/logs?limit=500".to_owned(),
        "/backups".to_owned(),
        "/backups/tasks/docs".to_owned(),
    ] {
        for b in [&admin, &viewer] {
            let r = b.get(&path);
            assert!(r.status == 200 || r.status == 403, "{path}: {} {}", r.status, r.body);
            assert!(!r.body.contains(REPO_PASSWORD), "{path} shows the repository password");
        }
    }
    let export = lab.dir.join("audit-export.jsonl");
    ok(&lab.ctl(&["log", "export", "--output", &export.display().to_string()]), "log export");
    let audit = std::fs::read_to_string(&export).expect("the export");
    assert!(audit.contains("backup.target.create"), "the target's creation is audited");
    assert!(!audit.contains(REPO_PASSWORD), "the audit log holds the password");

    // A target a task uses stays; without the task it goes, and the repository stays.
    let r = admin.json("DELETE", &format!("{targets}/usb"), None, "");
    assert!(r.status >= 400 && r.status < 500, "{}", r.body);
    let r = admin.json("DELETE", &format!("{tasks}/docs"), None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.json("DELETE", &format!("{targets}/usb"), None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(admin.get(targets).json(), json!([]));
    assert!(backups.join("restic/config").exists(), "the repository stays");
}
