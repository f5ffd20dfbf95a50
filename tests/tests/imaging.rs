//! Disc and disk imaging end to end, as root: real loop devices (an ISO made by genisoimage, a
//! FUSE-backed disk that returns real EIO), the real helper granting corenasd's user read access,
//! real GNU ddrescue run by the unprivileged corenasd, and corenas-ctl as the admin uses it.

use corenas_tests::media::{self, FaultyDisk, LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, require_root, stderr, stdout, wait_for};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const TERMINAL: [&str; 4] = ["completed", "completed_with_errors", "failed", "cancelled"];

fn create(lab: &Lab, name: &str, dev: &Path, extra: &[&str]) -> String {
    let dev = dev.display().to_string();
    let mut args = vec!["image", "create", name, "--device", dev.as_str()];
    args.extend_from_slice(extra);
    let v = lab.ctl_json(&args);
    v["result"]["id"].as_str().unwrap_or_else(|| panic!("no job id in {v}")).to_owned()
}

fn show(lab: &Lab, id: &str) -> Value {
    lab.ctl_json(&["image", "show", id])
}

/// Polls the job until `done` holds (a harness wait with a generous limit, not a timing test).
fn wait_job(lab: &Lab, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = show(lab, id);
        if done(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} never reached {what}: {j}\n{}", lab.log("corenasd.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_end(lab: &Lab, id: &str) -> Value {
    wait_job(lab, id, "an end state", |j| TERMINAL.contains(&j["status"].as_str().unwrap_or("")))
}

fn status(j: &Value) -> &str {
    j["status"].as_str().unwrap_or("?")
}

fn acl_of(dev: &Path) -> String {
    let out = Command::new("getfacl").arg("-cp").arg(dev).output().expect("getfacl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn archive_of(lab: &Lab, job: &Value) -> Value {
    let id = job["archive_id"].as_str().unwrap_or_else(|| panic!("no archive for {job}"));
    lab.ctl_json(&["archive", "show", id])
}

/// corenas-ctl run with `TZ` set, its output captured (a pipe, not a terminal).
fn ctl_in_zone(lab: &Lab, tz: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(lab.bin.join("corenas-ctl"))
        .env("TZ", tz)
        .arg("--socket")
        .arg(&lab.daemon_sock)
        .args(args)
        .output()
        .expect("corenas-ctl");
    assert!(out.status.success(), "{args:?}: {}{}", stdout(&out), stderr(&out));
    out
}

/// Following through a pipe gives plain lines (the in-place progress line is for terminals
/// only); human times are local with their offset, in the zone TZ names; JSON keeps UTC.
fn ctl_output_is_plain_when_piped_and_local_in_time(lab: &Lab, id: &str, job: &Value) {
    let followed = ctl_in_zone(lab, "Europe/Berlin", &["image", "follow", id]);
    let text = format!("{}{}", stdout(&followed), stderr(&followed));
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "no carriage return, no escape code: {text:?}");
    assert!(stdout(&followed).lines().any(|l| l.contains("completed")), "{text}");

    let created = |tz: &str| {
        let human = stdout(&ctl_in_zone(lab, tz, &["image", "show", id]));
        human.lines().find(|l| l.starts_with("created")).unwrap_or_else(|| panic!("{human}")).to_owned()
    };
    // Kolkata has one offset all year; Berlin's depends on the season.
    assert!(created("Asia/Kolkata").ends_with(" +05:30"), "{}", created("Asia/Kolkata"));
    let berlin = created("Europe/Berlin");
    assert!(berlin.ends_with(" +01:00") || berlin.ends_with(" +02:00"), "{berlin}");
    assert!(created("UTC").ends_with(" +00:00"), "{}", created("UTC"));

    let json: Value =
        serde_json::from_slice(&ctl_in_zone(lab, "Asia/Kolkata", &["--json", "image", "show", id]).stdout)
            .expect("JSON");
    assert_eq!(json["created_at"], job["created_at"], "JSON is corenasd's UTC, whatever TZ says");
    assert!(json["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");
}

#[test]
fn an_iso_is_imaged_byte_for_byte_with_the_volume_as_domain() {
    if !require_root("an_iso_is_imaged_byte_for_byte_with_the_volume_as_domain") {
        return;
    }
    let scratch = ScratchDir::new("iso");
    let iso = media::make_iso(&scratch.path, "TESTDISC_2026", 3 << 20, 7);
    let volume = media::iso_volume_bytes(&iso);
    let want = media::sha256_hex(&iso, Some(volume));
    // The "drive" is bigger than the disc's volume: the domain must still be the volume.
    media::pad_file(&iso, 1 << 20);
    let disc = LoopDisk::attach_read_only(&iso);
    assert!(media::blockdev_size(&disc.dev) > volume);
    let lab = Lab::start("img-iso", LabOptions::default());

    let dry = lab.ctl_json(&["--dry-run", "image", "create", "disc1", "--device", &disc.dev.display().to_string()]);
    let steps = dry["steps"].to_string();
    assert!(steps.contains("/usr/bin/ddrescue") && steps.contains(&format!("--size={volume}")), "{dry}");
    assert!(steps.contains("--sector-size=2048"), "{dry}");
    assert_eq!(lab.ctl_json(&["image", "list"])["total"], 0, "a dry run queued a job");

    let id = create(&lab, "disc1", &disc.dev, &["--md5"]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed", "{job}\n{}", lab.log("corenasd.log"));
    assert_eq!(job["progress"]["domain_bytes"], volume);
    assert_eq!(job["progress"]["rescued_bytes"], volume);
    assert_eq!(job["progress"]["bad_bytes"], 0);
    assert_eq!(job["medium"]["format"], "iso9660");
    assert_eq!(job["medium"]["label"], "TESTDISC_2026");
    ctl_output_is_plain_when_piped_and_local_in_time(&lab, &id, &job);

    let image = Path::new(job["output_file"].as_str().expect("output file")).to_owned();
    assert!(image.starts_with(lab.images.join(&id)), "server-generated path: {}", image.display());
    assert_eq!(std::fs::metadata(&image).expect("image").len(), volume);
    assert_eq!(media::sha256_hex(&image, None), want, "the image is byte-identical to the disc's volume");
    let arch = archive_of(&lab, &job);
    assert_eq!(arch["checksums"]["sha256"], want.as_str());
    assert!(arch["checksums"]["md5"].as_str().is_some_and(|m| m.len() == 32), "{arch}");
    let sidecar = std::fs::read_to_string(image.with_extension("iso.sha256")).expect("sidecar");
    assert_eq!(sidecar, format!("{want}  {id}.iso\n"));
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(image.with_extension("iso.sha256"))
        .current_dir(lab.images.join(&id))
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "sha256sum -c: {}", String::from_utf8_lossy(&check.stdout));

    // The device grant lasted as long as the job, no longer.
    assert!(
        !acl_of(&disc.dev).contains(&format!("user:{}:", lab.daemon_uid))
            && !acl_of(&disc.dev).contains("user:corenas:"),
        "{}",
        acl_of(&disc.dev)
    );
    // The job's life is in the audit chain, and the chain holds.
    let log = lab.ctl_json(&["log", "view", "--limit", "50"]).to_string();
    assert!(log.contains("image.create") && log.contains("image.job.finished"), "{log}");
    assert!(lab.ctl(&["log", "verify"]).status.success());

    // Archive: search, verify as a job with history, tag, export.
    let found = lab.ctl_json(&["archive", "list", "--search", "testdisc"]);
    assert_eq!(found["total"], 1, "{found}");
    let v = lab.ctl_json(&["archive", "verify", arch["id"].as_str().unwrap()]);
    let vid = v["result"]["id"].as_str().expect("verify job").to_owned();
    assert_eq!(status(&wait_end(&lab, &vid)), "completed");
    let arch = lab.ctl_json(&["archive", "show", arch["id"].as_str().unwrap()]);
    assert_eq!(arch["verifications"][0]["result"], "ok", "{arch}");
    lab.ctl_json(&["archive", "tag", arch["id"].as_str().unwrap(), "--add", "movies", "--notes", "first disc"]);
    assert_eq!(lab.ctl_json(&["archive", "list", "--tag", "movies"])["total"], 1);
    // A damaged image fails verification.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&image).expect("open image");
        f.write_all_at(b"X", 40_000).expect("damage");
    }
    let v = lab.ctl_json(&["archive", "verify", arch["id"].as_str().unwrap()]);
    let bad = wait_end(&lab, v["result"]["id"].as_str().unwrap());
    assert_eq!(status(&bad), "failed", "{bad}");
    assert_eq!(bad["error_code"], "E_CHECKSUM_MISMATCH");
}

#[test]
fn read_errors_are_counted_and_a_retry_rescues_what_became_readable() {
    if !require_root("read_errors_are_counted_and_a_retry_rescues_what_became_readable") {
        return;
    }
    let scratch = ScratchDir::new("faulty");
    let bad = (1 << 20, (1 << 20) + 65536);
    let disk = FaultyDisk::new(&scratch.path, 4 << 20, &[bad], 11);
    let lab = Lab::start("img-faulty", LabOptions::default());
    let id = create(&lab, "scratched", &disk.dev, &["--retries", "0"]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed_with_errors", "{job}\n{}", lab.log("corenasd.log"));
    assert_eq!(job["progress"]["bad_bytes"], 65536, "{job}");
    assert_eq!(job["progress"]["bad_areas"], 1, "{job}");
    assert_eq!(archive_of(&lab, &job)["bad_bytes"], 65536);

    let first = archive_of(&lab, &job);
    lab.ctl_json(&["archive", "tag", first["id"].as_str().unwrap(), "--add", "scratched", "--notes", "2nd pass due"]);

    disk.set_bad_ranges(&[]);
    lab.ctl_json(&["image", "retry", &id]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed", "{job}\n{}", lab.log("corenasd.log"));
    assert_eq!(job["progress"]["bad_bytes"], 0);
    let image = Path::new(job["output_file"].as_str().unwrap()).to_owned();
    assert!(media::files_identical(&image, &disk.backing), "after the retry the image equals the healthy disk");
    assert_eq!(lab.ctl_json(&["archive", "list"])["total"], 1, "a retry replaces the archive entry");
    let second = archive_of(&lab, &job);
    assert_eq!(second["bad_bytes"], 0);
    assert_eq!(second["tags"], serde_json::json!(["scratched"]), "tags survive a retry: {second}");
    assert_eq!(second["notes"], "2nd pass due");
}

#[test]
fn pause_resume_and_a_daemon_kill_still_give_an_identical_image() {
    if !require_root("pause_resume_and_a_daemon_kill_still_give_an_identical_image") {
        return;
    }
    let scratch = ScratchDir::new("pause");
    let disk = LoopDisk::sparse(&scratch.path, "src", 16 << 20);
    disk.write_pattern(23);
    let mut lab = Lab::start("img-pause", LabOptions::default());
    // 4 MB/s: about four seconds of copying, long enough to interrupt twice.
    let id = create(&lab, "slow", &disk.dev, &["--max-rate", "4000000"]);
    let rescued = |j: &Value| j["progress"]["rescued_bytes"].as_u64().unwrap_or(0);
    wait_job(&lab, &id, "2 MiB copied", |j| rescued(j) >= 2 << 20);
    let paused = lab.ctl_json(&["image", "pause", &id]);
    assert_eq!(paused["result"]["status"], "paused", "{paused}");
    assert!(!acl_of(&disk.dev).contains("user:corenas:"), "a paused job releases the drive");
    let at_pause = rescued(&show(&lab, &id));
    assert!(at_pause < 16 << 20, "paused before the end");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rescued(&show(&lab, &id)), at_pause, "nothing is copied while paused");

    lab.ctl_json(&["image", "resume", &id]);
    wait_job(&lab, &id, "progress after resume", |j| status(j) == "running" && rescued(j) > at_pause + (1 << 20));
    // kill -9 of corenasd mid-copy: ddrescue saves its mapfile (parent-death signal), the new
    // corenasd requeues the job and it resumes from the mapfile.
    lab.kill_and_restart_daemon();
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed", "{job}\n{}", lab.log("corenasd.log"));
    let image = Path::new(job["output_file"].as_str().unwrap()).to_owned();
    assert!(media::files_identical(&image, &disk.dev), "the image equals the source after pause, resume and kill -9");
    assert!(lab.ctl(&["log", "verify"]).status.success());
}

/// A read grant must not outlive its job. corenasd is killed mid-copy (the grant stays on the
/// device), another medium is in the drive when it comes back: the requeued job stops at the
/// fingerprint check, before it would grant again, and the crashed run's grant must still end.
#[test]
fn a_grant_left_by_a_crashed_run_ends_with_the_job() {
    if !require_root("a_grant_left_by_a_crashed_run_ends_with_the_job") {
        return;
    }
    let scratch = ScratchDir::new("grant");
    let disk = LoopDisk::sparse(&scratch.path, "src", 16 << 20);
    disk.write_pattern(41);
    let mut lab = Lab::start("img-grant", LabOptions::default());
    let id = create(&lab, "crash", &disk.dev, &["--max-rate", "4000000"]);
    let rescued = |j: &Value| j["progress"]["rescued_bytes"].as_u64().unwrap_or(0);
    wait_job(&lab, &id, "1 MiB copied", |j| rescued(j) >= 1 << 20);
    assert!(
        acl_of(&disk.dev).contains("user:corenas:") || acl_of(&disk.dev).contains(&format!("user:{}:", lab.daemon_uid)),
        "the control: a running job holds a grant: {}",
        acl_of(&disk.dev)
    );
    lab.kill_daemon();
    disk.write_pattern(42);
    lab.restart_daemon();
    let j = wait_job(&lab, &id, "paused on the other medium", |j| status(j) == "paused" && j["error"].is_string());
    assert!(j["error"].as_str().unwrap().contains("not the one this job started on"), "{j}");
    let acl = acl_of(&disk.dev);
    assert!(
        !acl.contains("user:corenas:") && !acl.contains(&format!("user:{}:", lab.daemon_uid)),
        "the crashed run's grant is gone: {acl}"
    );
}

#[test]
fn a_full_image_filesystem_fails_clearly_and_the_job_resumes_after_space_is_freed() {
    if !require_root("a_full_image_filesystem_fails_clearly_and_the_job_resumes_after_space_is_freed") {
        return;
    }
    let scratch = ScratchDir::new("full");
    let disk = LoopDisk::sparse(&scratch.path, "src", 8 << 20);
    disk.write_pattern(5);
    let lab = Lab::start("img-full", LabOptions { images_tmpfs: Some("4m".into()), ..LabOptions::default() });
    let id = create(&lab, "toolarge", &disk.dev, &[]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "failed", "{job}");
    assert_eq!(job["error_code"], "E_NO_SPACE", "{job}\n{}", lab.log("corenasd.log"));
    assert!(job["error"].as_str().unwrap_or("").contains("no space"), "{job}");
    // No process spins: ddrescue is gone. Job ids restart in every lab, so match this lab's
    // own mapfile path, not a bare `job_000001.map` that a parallel test's ddrescue also has.
    let mapfile = lab.images.join(&id).join(format!("{id}.map"));
    let spinning = Command::new("pgrep").arg("-f").arg(&mapfile).status().expect("pgrep").success();
    assert!(!spinning, "ddrescue is still running after the failure");

    let remount = Command::new("mount").args(["-o", "remount,size=32m"]).arg(&lab.images).status().expect("remount");
    assert!(remount.success());
    lab.ctl_json(&["image", "resume", &id]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed", "{job}\n{}", lab.log("corenasd.log"));
    assert!(media::files_identical(Path::new(job["output_file"].as_str().unwrap()), &disk.dev));
}

#[test]
fn the_queue_runs_by_priority_one_job_per_device() {
    if !require_root("the_queue_runs_by_priority_one_job_per_device") {
        return;
    }
    let scratch = ScratchDir::new("queue");
    let a = LoopDisk::sparse(&scratch.path, "a", 2 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 2 << 20);
    a.write_pattern(1);
    b.write_pattern(2);
    let lab = Lab::start("img-queue", LabOptions { imaging_concurrency: 2, ..LabOptions::default() });
    let slow = ["--max-rate", "1000000"];
    let block_a = create(&lab, "block-a", &a.dev, &slow);
    let block_b = create(&lab, "block-b", &b.dev, &slow);
    wait_job(&lab, &block_b, "running", |j| status(j) == "running");
    let a_low = create(&lab, "a-low", &a.dev, &["--priority", "low", "--max-rate", "4000000"]);
    let b_normal = create(&lab, "b-normal", &b.dev, &["--max-rate", "4000000"]);
    let a_high = create(&lab, "a-high", &a.dev, &["--priority", "high", "--max-rate", "4000000"]);
    // Queue positions follow priority, then arrival.
    let pos = |id: &str| show(&lab, id)["position"].as_u64();
    assert_eq!((pos(&a_high), pos(&b_normal), pos(&a_low)), (Some(1), Some(2), Some(3)));

    let jobs: Vec<Value> =
        [&block_a, &block_b, &a_low, &b_normal, &a_high].iter().map(|id| wait_end(&lab, id)).collect();
    for j in &jobs {
        assert_eq!(status(j), "completed", "{j}");
    }
    let t = |j: &Value, k: &str| j[k].as_str().unwrap_or("").to_owned();
    let (ba, al, ah) = (&jobs[0], &jobs[2], &jobs[4]);
    // On device a: block-a, then a-high, then a-low, never overlapping.
    assert!(t(ah, "started_at") >= t(ba, "finished_at"), "{ah} {ba}");
    assert!(t(al, "started_at") >= t(ah, "finished_at"), "{al} {ah}");
    let (bb, bn) = (&jobs[1], &jobs[3]);
    assert!(t(bn, "started_at") >= t(bb, "finished_at"), "{bn} {bb}");
}

#[test]
fn duplicate_media_events_start_one_job_and_the_medium_shows_in_the_device_list() {
    if !require_root("duplicate_media_events_start_one_job_and_the_medium_shows_in_the_device_list") {
        return;
    }
    let scratch = ScratchDir::new("events");
    let iso = media::make_iso(&scratch.path, "AUTODISC", 1 << 20, 3);
    let lab = Lab::start("img-events", LabOptions::default());
    let disc = LoopDisk::attach_read_only(&iso);
    let dev = disc.dev.display().to_string();
    let name = disc.dev.file_name().unwrap().to_string_lossy().into_owned();

    let devices = lab.ctl_json(&["device", "media"]);
    let me = devices.as_array().expect("list").iter().find(|d| d["path"] == dev.as_str()).cloned();
    let me = me.unwrap_or_else(|| panic!("{dev} not in {devices}"));
    assert_eq!(me["medium"]["label"], "AUTODISC", "{me}");
    assert_eq!(me["kind"], "loop");

    lab.ctl_json(&["image", "policy", "--auto-start", "on", "--watch", &dev]);
    // Three "media changed" events in a burst, then three more later: one medium, one job.
    let trigger = || std::fs::write(format!("/sys/block/{name}/uevent"), "change").expect("uevent");
    for _ in 0..3 {
        trigger();
    }
    let jobs_for_dev = || {
        let l = lab.ctl_json(&["image", "list"]);
        l["jobs"].as_array().unwrap().iter().filter(|j| j["device"] == dev.as_str()).cloned().collect::<Vec<_>>()
    };
    wait_for(|| !jobs_for_dev().is_empty(), "an auto-started job");
    let first = jobs_for_dev()[0]["id"].as_str().unwrap().to_owned();
    wait_end(&lab, &first);
    for _ in 0..3 {
        trigger();
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(jobs_for_dev().len(), 1, "duplicate events made a second job: {:?}", jobs_for_dev());
    let log = lab.ctl_json(&["log", "view", "--limit", "20"]).to_string();
    assert!(log.contains("auto_start"), "the policy's job is audited: {log}");
}

#[test]
fn devices_in_use_and_hostile_inputs_are_refused() {
    if !require_root("devices_in_use_and_hostile_inputs_are_refused") {
        return;
    }
    let scratch = ScratchDir::new("refuse");
    let disk = LoopDisk::sparse(&scratch.path, "fs", 16 << 20);
    let lab = Lab::start("img-refuse", LabOptions::default());
    assert!(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&disk.dev).status().unwrap().success());
    let mnt = scratch.path.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(Command::new("mount").arg(&disk.dev).arg(&mnt).status().unwrap().success());
    let dev = disk.dev.display().to_string();
    let out = lab.ctl(&["--json", "image", "create", "x", "--device", &dev]);
    let _ = Command::new("umount").arg(&mnt).status();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("E_BUSY") && stdout(&out).contains("mounted at"), "{}", stdout(&out));

    // The disk holding / (when it is a plain disk here).
    let root_src = Command::new("findmnt").args(["-no", "SOURCE", "/"]).output().unwrap();
    let root_src = String::from_utf8_lossy(&root_src.stdout).trim().to_owned();
    if root_src.starts_with("/dev/") && root_src.parse::<corenas_proto::names::DevicePath>().is_ok() {
        let out = lab.ctl(&["--json", "image", "create", "sys", "--device", &root_src]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(stdout(&out).contains("E_BUSY"), "{}", stdout(&out));
    }
    // Hostile values never reach corenasd (exit 2) and nothing is queued.
    for args in [
        vec!["image", "create", "--fill-mode=+", "--device", "/dev/loop0"],
        vec!["image", "create", "x", "--device", "/dev/fd/3"],
        vec!["image", "create", "x", "--device", "/proc/self/fd/0"],
        vec!["image", "create", "x", "--device", "/dev/mem"],
        vec!["image", "create", "x", "--device", "/dev/sdb --assume-clean"],
        vec!["image", "create", "x", "--device", &dev, "--retries", "-1"],
        vec!["image", "create", "x", "--device", &dev, "--retries", "99999999999999999999"],
        vec!["image", "list", "--sort", "name); DROP TABLE jobs;--"],
    ] {
        let out = lab.ctl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(lab.ctl_json(&["image", "list"])["total"], 0);
}

#[test]
fn a_hostile_disc_label_is_display_text_only() {
    if !require_root("a_hostile_disc_label_is_display_text_only") {
        return;
    }
    let scratch = ScratchDir::new("label");
    // ISO 9660 volume ids are 32 bytes; genisoimage keeps what it is given.
    let iso = media::make_iso(&scratch.path, "-rf ../../etc/cron.d/x", 64 << 10, 9);
    let disc = LoopDisk::attach_read_only(&iso);
    let lab = Lab::start("img-label", LabOptions::default());
    let id = create(&lab, "label", &disc.dev, &["--eject"]);
    let job = wait_end(&lab, &id);
    assert_eq!(status(&job), "completed", "{job}");
    assert_eq!(job["medium"]["label"], "-rf ../../etc/cron.d/x");
    assert_eq!(
        job["output_file"].as_str().unwrap(),
        lab.images.join(&id).join(format!("{id}.iso")).display().to_string()
    );
    assert!(!Path::new("/etc/cron.d/x").exists());
    // --eject: the lab's loop "drive" was detached when hashing started.
    let name = disc.dev.file_name().unwrap().to_string_lossy().into_owned();
    let iso = std::fs::canonicalize(&iso).unwrap();
    wait_for(
        || {
            std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
                .map_or(true, |b| Path::new(b.trim()) != iso)
        },
        "the loop device to be ejected",
    );
    std::mem::forget(disc); // detached by the eject; see the note in the test above
}

#[test]
fn resume_checks_the_medium_and_cancel_keeps_or_deletes_the_partial_image() {
    if !require_root("resume_checks_the_medium_and_cancel_keeps_or_deletes_the_partial_image") {
        return;
    }
    let scratch = ScratchDir::new("swap");
    let disk = LoopDisk::sparse(&scratch.path, "src", 16 << 20);
    disk.write_pattern(31);
    let lab = Lab::start("img-swap", LabOptions::default());
    let rescued = |j: &Value| j["progress"]["rescued_bytes"].as_u64().unwrap_or(0);
    let id = create(&lab, "swap", &disk.dev, &["--max-rate", "4000000"]);
    wait_job(&lab, &id, "1 MiB copied", |j| rescued(j) >= 1 << 20);
    lab.ctl_json(&["image", "pause", &id]);
    // Another "disc" in the drive: resuming would merge two media into one image.
    disk.write_pattern(32);
    lab.ctl_json(&["image", "resume", &id]);
    let j = wait_job(&lab, &id, "paused again", |j| status(j) == "paused" && j["error"].is_string());
    assert!(j["error"].as_str().unwrap().contains("not the one this job started on"), "{j}");
    // The original disc back: the job resumes and the image is identical.
    disk.write_pattern(31);
    lab.ctl_json(&["image", "resume", &id]);
    let j = wait_end(&lab, &id);
    assert_eq!(status(&j), "completed", "{j}\n{}", lab.log("corenasd.log"));
    assert!(media::files_identical(Path::new(j["output_file"].as_str().unwrap()), &disk.dev));

    // Cancel with --keep-partial keeps the job directory; the default deletes it.
    for (flag, kept) in [("--keep-partial", true), ("--delete-partial", false)] {
        let id = create(&lab, "cancelme", &disk.dev, &["--max-rate", "2000000"]);
        wait_job(&lab, &id, "copying", |j| rescued(j) > 0);
        let c = lab.ctl_json(&["image", "cancel", &id, flag]);
        assert_eq!(c["result"]["status"], "cancelled", "{c}");
        assert_eq!(lab.images.join(&id).exists(), kept, "{flag}");
        assert!(!acl_of(&disk.dev).contains("user:corenas:"), "a cancelled job releases the drive");
    }

    // Archive export (CSV and JSON) and delete.
    let arch = archive_of(&lab, &show(&lab, &id));
    let csv = scratch.path.join("archive.csv");
    assert!(
        lab.ctl(&["archive", "export", "--format", "csv", "--output", &csv.display().to_string()]).status.success()
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.lines().count() == 2 && text.contains(arch["checksums"]["sha256"].as_str().unwrap()), "{text}");
    let dry = lab.ctl(&["--dry-run", "archive", "delete", arch["id"].as_str().unwrap()]);
    assert!(dry.status.success() && lab.images.join(&id).exists(), "a dry run deletes nothing");
    assert!(lab.ctl(&["archive", "delete", arch["id"].as_str().unwrap(), "--force"]).status.success());
    assert!(!lab.images.join(&id).exists(), "the image and its sidecars are gone");
    assert_eq!(lab.ctl_json(&["archive", "list"])["total"], 0);

    // Eject on request: the lab's loop "drive" is detached (refused while a job uses it).
    let dev = disk.dev.display().to_string();
    let dry = lab.ctl_json(&["--dry-run", "device", "eject", &dev]);
    assert!(dry["steps"].to_string().contains("LOOP_CLR_FD"), "{dry}");
    assert!(lab.ctl(&["device", "eject", &dev]).status.success());
    let name = disk.dev.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        !Path::new(&format!("/sys/block/{name}/loop/backing_file")).exists() || media::blockdev_size(&disk.dev) == 0
    );
    // Already detached: the fixture must not detach that number again (a parallel test may
    // own it by now). The scratch directory removes the backing file.
    std::mem::forget(disk);
}
