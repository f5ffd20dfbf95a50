//! The web UI in a real browser: Debian's Chromium, driven by playwright-core
//! (tests/browser/flows.mjs), against the real corenas-web behind the real nginx in front of a
//! real lab. First-run setup with the token, TOTP enrollment, login with generated codes, a
//! share user with an SMB password, an imaging job on a loop-device disc watched to 100 %, the
//! download compared by checksum, the alerts page with a silence and the dashboard's health and
//! charts (collectors every 5 s), backups (a local target on a btrfs pool, a task on its dataset
//! previewed before it is saved, a backup followed live to done, its snapshot browsed, a file
//! restored into a new folder and compared here byte for byte), logout; the same flows again with JavaScript off (the charts
//! are drawn by the server). Screenshots of every page at 390 and 1440 px land in
//! target/screenshots (CI keeps them).

use corenas_tests::media::{self, LoopDisk, ScratchDir};
use corenas_tests::web::WebStack;
use corenas_tests::{Lab, LabOptions, ok, require_root, workspace};
use std::process::Command;

#[test]
fn browser_flows_with_and_without_javascript() {
    if !require_root("browser_flows_with_and_without_javascript") {
        return;
    }
    let flows = workspace().join("tests/browser");
    assert!(
        flows.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (.ci/run does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed (apt-get install chromium)"
    );
    let scratch = ScratchDir::new("browser-iso");
    let iso = media::make_iso(&scratch.path, "BROWSERDISC", 3 << 20, 5);
    let sha = media::sha256_hex(&iso, Some(media::iso_volume_bytes(&iso)));
    let disc = LoopDisk::attach_read_only(&iso);
    // A free disk for the storage wizard (a single-disk pool, mounted by the lab's mounter).
    let spare = LoopDisk::sparse_partscan(&scratch.path, "spare", 320 << 20);
    let lab =
        Lab::start("web-browser", LabOptions { lab_mounts: true, monitor_secs: Some(5), ..LabOptions::default() });
    // Backups: a btrfs pool with a dataset holding a file, and a directory beneath the pool,
    // outside the dataset, for a local repository that corenasd (its own user) makes.
    let backup_disk = LoopDisk::sparse(&scratch.path, "backup", 320 << 20);
    let dev = backup_disk.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", "bk", "--type", "btrfs", "--device", &dev]), "btrfs pool");
    ok(&lab.ctl(&["storage", "dataset", "create", "bk/data"]), "dataset");
    let bk = lab.root.join("mnt/corenas/bk");
    std::fs::create_dir_all(bk.join("data/docs")).expect("mkdir");
    let file_bytes = b"the bytes a restore must bring back\n\x00\xff";
    std::fs::write(bk.join("data/docs/a.txt"), file_bytes).expect("write");
    std::fs::create_dir_all(bk.join("backups")).expect("mkdir");
    std::os::unix::fs::chown(bk.join("backups"), Some(lab.daemon_uid), Some(lab.daemon_uid)).expect("chown");
    let web = WebStack::start(&lab);
    let token = lab.ctl_json(&["system", "setup-token"])["token"].as_str().expect("setup token").to_owned();
    let shots = corenas_tests::target_dir().join("../../screenshots");
    let out = Command::new("node")
        .arg(flows.join("flows.mjs"))
        .env("CORENAS_URL", &web.base)
        .env("CORENAS_SETUP_TOKEN", &token)
        .env("CORENAS_DISC", &disc.dev)
        .env("CORENAS_DISC_SHA256", &sha)
        .env("CORENAS_SPARE_DISK", &spare.dev)
        .env("CORENAS_BACKUP_REPO", "/mnt/corenas/bk/backups/restic")
        .env("CORENAS_SHOTS", &shots)
        .output()
        .expect("node");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser flows failed:\n{log}\n--- corenas-web / nginx ---\n{}", web.log());
    // What the browser did is what the system recorded.
    assert!(lab.read("etc/passwd").contains("bob:") && lab.read("etc/passwd").contains("carol:"));
    let jobs = lab.ctl_json(&["image", "list"]);
    assert_eq!(jobs["total"], 2, "{jobs}");
    assert!(lab.ctl(&["log", "verify"]).status.success());
    // The pool the wizard made is real, and goes again (the test's disk is detached after).
    assert_eq!(lab.ctl_json(&["storage", "show", "webpool"])["health"], "online");
    assert!(lab.ctl(&["storage", "destroy", "webpool", "--force"]).status.success());
    // The target the browser added is a restic repository; a file the browser restored into a
    // new folder has the original's bytes.
    assert!(bk.join("backups/restic/config").exists(), "the browser's target made a repository");
    if let Some(job) = log.lines().find_map(|l| l.strip_prefix("restored: ")) {
        let restored = bk.join(format!("data/restore-{job}/docs/a.txt"));
        assert_eq!(std::fs::read(&restored).ok().as_deref(), Some(&file_bytes[..]), "{}", restored.display());
    }
    eprintln!("{log}screenshots in {}", shots.display());
}
