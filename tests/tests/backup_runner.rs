//! The storage helper's backup runner, driven directly (bypassing corenasd, as a compromised
//! corenasd could): a btrfs dataset on a loop device backed up into a local repository by
//! restic running as corenasd's user with CAP_DAC_READ_SEARCH only, from a read-only snapshot
//! that BackupFinish destroys; and the helper's refusals of what an attacker would ask.

use corenas_proto::ErrorCode;
use corenas_proto::backup::{
    BackupRunSpec, RepoAccess, RestoreDestination, RestoreMode, SnapshotSource, TargetLocation, TargetSecrets,
};
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::{Lab, LabOptions, block_on, ctx, helper_client, ok, require_program, require_root, wait_for};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "repo-pass-Of-the-test-42";

fn repo(path: &str) -> RepoAccess {
    RepoAccess {
        target: "local1".parse().unwrap(),
        location: TargetLocation::Local { path: path.parse().unwrap() },
        secrets: TargetSecrets {
            repository_password: PASSWORD.parse().unwrap(),
            rest_password: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
        },
        host_key: None,
    }
}

fn spec(job: &str, source: SnapshotSource, subpath: Option<&str>, repo_path: &str) -> BackupRunSpec {
    BackupRunSpec {
        job: job.parse().unwrap(),
        task: "nightly".parse().unwrap(),
        source,
        subpath: subpath.map(|s| s.parse().unwrap()),
        excludes: vec!["/tmp".parse().unwrap()],
        repo: repo(repo_path),
        parent: None,
    }
}

fn restic(repo: &Path, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()
        .expect("run restic")
}

fn runner_state(lab: &Lab, job: &str) -> String {
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("helper");
        let q = StorageQuery::BackupRunner { job: job.parse().unwrap() };
        h.storage_query(ctx(), q).await.expect("rpc").expect("runner state").stdout.trim().to_owned()
    })
}

fn perform(
    lab: &Lab,
    op: HelperOp,
    dry_run: bool,
) -> Result<corenas_proto::helper::OpReport, corenas_proto::WireError> {
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("helper");
        h.perform(ctx(), op, dry_run).await.expect("rpc")
    })
}

fn chown_r(p: &Path, uid: u32) {
    ok(&Command::new("chown").arg("-R").arg(format!("{uid}:{uid}")).arg(p).output().unwrap(), "chown");
}

#[test]
fn loop_backup_runner_reads_a_snapshot_with_only_dac_read_search_and_refuses_attackers() {
    let name = "loop_backup_runner";
    if !require_root(name)
        || !require_program(name, "/usr/bin/restic", "restic")
        || !require_program(name, "/usr/sbin/mkfs.btrfs", "btrfs-progs")
    {
        return;
    }
    let scratch = ScratchDir::new("backup-runner");
    let disk = LoopDisk::sparse(&scratch.path, "a", 512 << 20);
    let lab = Lab::start("backup-runner", LabOptions { lab_mounts: true, ..LabOptions::default() });
    let dev = disk.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", "bk", "--type", "btrfs", "--device", &dev]), "btrfs pool");
    ok(&lab.ctl(&["storage", "dataset", "create", "bk/data"]), "dataset");
    let mnt = lab.root.join("mnt/corenas/bk");
    let data = mnt.join("data");
    std::fs::create_dir_all(data.join("docs")).unwrap();
    std::fs::write(data.join("docs/a.txt"), "alpha\n").unwrap();
    std::fs::create_dir_all(data.join("tmp")).unwrap();
    std::fs::write(data.join("tmp/junk"), "excluded\n").unwrap();
    // Root's alone: the runner reads it only through CAP_DAC_READ_SEARCH.
    std::fs::create_dir(data.join("private")).unwrap();
    std::fs::write(data.join("private/key.txt"), "root only\n").unwrap();
    std::fs::set_permissions(data.join("private/key.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    std::fs::set_permissions(data.join("private"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("etc-link")).unwrap();

    // The repository on the same pool, outside the source, corenasd's (restic init is corenasd's
    // work; here the test does it).
    let repo_dir = mnt.join("repo");
    let o = restic(&repo_dir, &["init"]);
    ok(&o, "restic init");
    chown_r(&repo_dir, lab.daemon_uid);

    // --- Attackers (a compromised corenasd): each refused, nothing made. ---
    let runs = lab.root.join("run/corenas-backup");
    let refused = |op: HelperOp, code: ErrorCode, needle: &str| {
        for dry_run in [true, false] {
            let e = perform(&lab, op.clone(), dry_run).expect_err("must be refused");
            assert_eq!(e.code, code, "{}: {}", op.name(), e.message);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    };
    let ds = |s: &str| SnapshotSource::Dataset(s.parse().unwrap());
    let refused_run = |s: BackupRunSpec, needle: &str| {
        let e = perform(&lab, HelperOp::BackupRun(s), false).expect_err("must be refused");
        assert_eq!(e.code, ErrorCode::NotAllowed, "{}", e.message);
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    };
    refused(
        HelperOp::BackupRun(spec("bkp_000091", ds("bk/data"), None, "/etc/restic")),
        ErrorCode::NotAllowed,
        "beneath /mnt/corenas",
    );
    refused(
        HelperOp::BackupRun(spec("bkp_000092", ds("bk/data"), None, "/mnt/corenas/bk/data/repo")),
        ErrorCode::NotAllowed,
        "inside the backup's source",
    );
    refused_run(spec("bkp_000093", ds("bk/data"), Some("etc-link"), "/mnt/corenas/bk/repo"), "symbolic link");
    refused_run(
        spec("bkp_000094", SnapshotSource::Pool("etc".parse().unwrap()), None, "/mnt/corenas/bk/repo"),
        "refusing",
    );
    refused_run(spec("bkp_000095", ds("bk/nothing"), None, "/mnt/corenas/bk/repo"), "refusing");
    std::os::unix::fs::symlink("/etc", mnt.join("evil-repo")).unwrap();
    refused_run(spec("bkp_000096", ds("bk/data"), None, "/mnt/corenas/bk/evil-repo"), "symbolic link");
    let made: Vec<_> =
        std::fs::read_dir(&runs).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(made.is_empty(), "a refused run leaves no job directory: {made:?}");
    assert!(!mnt.join(".corenas-backup/bkp_000093").exists(), "no snapshot for a refused run");

    // --- A real run. ---
    let job = "bkp_000001";
    let report = perform(&lab, HelperOp::BackupRun(spec(job, ds("bk/data"), None, "/mnt/corenas/bk/repo")), true)
        .expect("dry run");
    let shown: Vec<String> = report.steps.iter().map(ToString::to_string).collect();
    let all = shown.join("\n");
    assert!(all.contains("/usr/bin/restic backup --json --tag corenas-task=nightly"), "{all}");
    assert!(!all.contains(PASSWORD), "no secret in a plan: {all}");
    assert!(!runs.join(job).exists(), "a dry run makes nothing");

    perform(&lab, HelperOp::BackupRun(spec(job, ds("bk/data"), None, "/mnt/corenas/bk/repo")), false)
        .expect("backup run");
    let mut state = String::new();
    wait_for(
        || {
            state = runner_state(&lab, job);
            state.starts_with("exited")
        },
        "the runner to end",
    );
    let stderr_log = std::fs::read_to_string(runs.join(job).join("stderr.log")).unwrap_or_default();
    assert_eq!(state, "exited status=0", "{stderr_log}");
    let status = std::fs::read_to_string(runs.join(job).join("status.jsonl")).unwrap();
    assert!(!status.contains(PASSWORD) && !stderr_log.contains(PASSWORD));
    let summary: serde_json::Value = status
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary line: {status}"));
    let id = summary["snapshot_id"].as_str().unwrap().to_owned();
    // The status files are corenasd's to read (an ACL entry), root's to change, in a
    // directory only root changes.
    let status_path = runs.join(job).join("status.jsonl");
    let as_daemon = Command::new("setpriv")
        .args([format!("--reuid={}", lab.daemon_uid), format!("--regid={}", lab.daemon_uid), "--clear-groups".into()])
        .arg("cat")
        .arg(&status_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&as_daemon.stdout),
        status,
        "corenasd's user reads the status: {}",
        String::from_utf8_lossy(&as_daemon.stderr)
    );
    assert_eq!(std::fs::symlink_metadata(&status_path).unwrap().uid(), 0);
    assert_eq!(std::fs::symlink_metadata(runs.join(job)).unwrap().uid(), 0);

    // Paths are relative to the source's root; the root-only file is there; the exclude held.
    let ls = restic(&repo_dir, &["ls", &id]);
    ok(&ls, "restic ls");
    let listed = String::from_utf8_lossy(&ls.stdout).into_owned();
    for want in ["/docs/a.txt", "/private/key.txt", "/etc-link"] {
        assert!(listed.lines().any(|l| l == want), "{want} in {listed}");
    }
    assert!(!listed.contains("/tmp/junk"), "excluded: {listed}");
    let snaps = restic(&repo_dir, &["snapshots", "--json"]);
    let snaps = String::from_utf8_lossy(&snaps.stdout).into_owned();
    assert!(snaps.contains("corenas-task=nightly") && snaps.contains("corenas-job=bkp_000001"), "{snaps}");
    // Written by corenasd's user, not root.
    let owners: Vec<u32> =
        std::fs::read_dir(repo_dir.join("snapshots")).unwrap().flatten().map(|e| e.metadata().unwrap().uid()).collect();
    assert!(!owners.is_empty() && owners.iter().all(|u| *u == lab.daemon_uid), "{owners:?}");

    // The source snapshot is read-only, and the runner cannot write to it anyway.
    let snap = mnt.join(".corenas-backup").join(job);
    let ro = Command::new("btrfs").args(["property", "get", "-ts"]).arg(&snap).arg("ro").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ro.stdout).trim(), "ro=true");
    assert!(std::fs::write(snap.join("new.txt"), "x").is_err(), "read-only even for root");

    // Finish: the snapshot and the job's files go; again is fine.
    perform(&lab, HelperOp::BackupFinish { job: job.parse().unwrap(), source: ds("bk/data") }, false).expect("finish");
    assert!(!snap.exists(), "the snapshot is destroyed");
    assert!(!runs.join(job).exists(), "credentials and status are gone");
    perform(&lab, HelperOp::BackupFinish { job: job.parse().unwrap(), source: ds("bk/data") }, false)
        .expect("finish is idempotent");

    // --- Restores from that snapshot. ---
    let restore = |job: &str, paths: &[&str], subpath: Option<&str>, mode: RestoreMode| HelperOp::BackupRestore {
        job: job.parse().unwrap(),
        repo: repo("/mnt/corenas/bk/repo"),
        snapshot: id.parse().unwrap(),
        paths: paths.iter().map(|p| p.parse().unwrap()).collect(),
        destination: RestoreDestination { source: ds("bk/data"), subpath: subpath.map(|s| s.parse().unwrap()) },
        mode,
    };
    std::fs::write(data.join("docs/a.txt"), "changed\n").unwrap();
    std::fs::remove_dir_all(data.join("private")).unwrap();
    let plan = perform(&lab, restore("bkp_000003", &["/docs/a.txt", "/private"], None, RestoreMode::InPlace), true)
        .expect("restore dry run");
    let all: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    assert!(all.contains("--target /proc/self/fd/0") && all.contains("--include /docs/a.txt"), "{all}");
    assert!(!all.contains(PASSWORD) && !data.join(".corenas-restore-bkp_000003").exists(), "{all}");
    perform(&lab, restore("bkp_000003", &["/docs/a.txt", "/private"], None, RestoreMode::InPlace), false)
        .expect("restore in place");
    assert_eq!(std::fs::read_to_string(data.join("docs/a.txt")).unwrap(), "alpha\n");
    assert_eq!(std::fs::read_to_string(data.join("docs/a.txt.before-restore-bkp_000003")).unwrap(), "changed\n");
    let key = std::fs::symlink_metadata(data.join("private/key.txt")).unwrap();
    assert_eq!((key.uid(), key.mode() & 0o777), (0, 0o600), "owner and mode restored");
    assert!(!data.join(".corenas-restore-bkp_000003").exists(), "the restore folder is gone");
    assert!(!runs.join("bkp_000003").exists(), "its credentials are gone");

    perform(&lab, restore("bkp_000004", &["/"], None, RestoreMode::NewFolder), false).expect("restore to a new folder");
    let folder = data.join("restore-bkp_000004");
    assert_eq!(std::fs::read_to_string(folder.join("docs/a.txt")).unwrap(), "alpha\n");
    assert!(!folder.join("tmp").exists(), "what the backup excluded is not there");
    let (f, d) = (std::fs::metadata(&folder).unwrap(), std::fs::metadata(&data).unwrap());
    assert_eq!((f.uid(), f.gid(), f.mode()), (d.uid(), d.gid(), d.mode()), "the folder is as its destination");

    // Attackers: a destination that is a link planted by a share user, or a link where the
    // fresh folder would go: refused, nothing written through them.
    std::os::unix::fs::symlink(&scratch.path, data.join("share-link")).unwrap();
    let e = perform(&lab, restore("bkp_000005", &["/docs"], Some("share-link"), RestoreMode::NewFolder), false)
        .expect_err("a link as destination");
    assert_eq!(e.code, ErrorCode::NotAllowed, "{}", e.message);
    assert!(e.message.contains("symbolic link"), "{}", e.message);
    assert!(!scratch.path.join("restore-bkp_000005").exists());
    std::os::unix::fs::symlink(&scratch.path, data.join("restore-bkp_000006")).unwrap();
    let e = perform(&lab, restore("bkp_000006", &["/docs"], None, RestoreMode::NewFolder), false)
        .expect_err("a link where the folder goes");
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{}", e.message);
    assert!(!scratch.path.join("docs").exists(), "nothing restored through the link");

    // No CAP_DAC_OVERRIDE: a repository only root may write fails with "permission denied".
    let root_repo = mnt.join("root-repo");
    ok(&restic(&root_repo, &["init"]), "restic init (root's)");
    let job2 = "bkp_000002";
    perform(&lab, HelperOp::BackupRun(spec(job2, ds("bk/data"), Some("docs"), "/mnt/corenas/bk/root-repo")), false)
        .expect("backup run 2 starts");
    // restic retries a failing backend for minutes: it says why in stderr.log meanwhile.
    let log2 = runs.join(job2).join("stderr.log");
    wait_for(
        || std::fs::read_to_string(&log2).is_ok_and(|t| t.to_lowercase().contains("permission denied")),
        "the runner to be refused writing the root-only repository",
    );
    state = runner_state(&lab, job2);
    let pid: i32 = state.strip_prefix("running pid=").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{state}"));
    // The runner itself: corenasd's uid, CAP_DAC_READ_SEARCH (bit 2) and nothing else, in
    // every set, and no_new_privs.
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        proc_status.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or_else(|| panic!("{k}")).to_owned()
    };
    assert!(field("Uid:").split_whitespace().all(|u| u == lab.daemon_uid.to_string()), "{proc_status}");
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(field(set), "0000000000000004", "{set} {proc_status}");
    }
    assert_eq!(field("NoNewPrivs:"), "1");
    // Ending it is corenasd's to do (same uid); the helper records how it ended.
    ok(&Command::new("kill").arg(pid.to_string()).output().unwrap(), "kill the runner");
    wait_for(
        || {
            state = runner_state(&lab, job2);
            state.starts_with("exited")
        },
        "the second runner to end",
    );
    assert_ne!(state, "exited status=0");
    // Finish refuses nothing now and cleans up.
    perform(&lab, HelperOp::BackupFinish { job: job2.parse().unwrap(), source: ds("bk/data") }, false)
        .expect("finish 2");

    ok(&lab.ctl(&["storage", "destroy", "bk", "--force"]), "destroy");
}
