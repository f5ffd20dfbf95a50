//! Storage for real, as root: zfs-fuse pools on loop devices (mirror, datasets with properties,
//! snapshots, rollback, scrub jobs, damage), btrfs raid1 with subvolumes and snapshots, single
//! disks with ext4 and xfs, each mounted (the lab-only fallback mounts btrfs and single disks;
//! zfs-fuse mounts its own datasets), written, and destroyed; wipes with verification; and the
//! helper's refusals of devices that are in use.

use corenas_tests::media::{LoopDisk, PoolGuard, ScratchDir};
use corenas_tests::{Lab, LabOptions, ok, require_program, require_root, require_zfs_fuse, stderr, stdout, wait_for};
use std::process::Command;

fn lab(name: &str) -> Lab {
    Lab::start(name, LabOptions { lab_mounts: true, ..LabOptions::default() })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 100_000)
}

fn job_done(lab: &Lab, change: &serde_json::Value) -> serde_json::Value {
    let id = change["result"]["id"].as_str().unwrap_or_else(|| panic!("no job id in {change}")).to_owned();
    let mut job = serde_json::Value::Null;
    wait_for(
        || {
            job = lab.ctl_json(&["storage", "job", "show", &id]);
            job["state"] != "running"
        },
        "the storage job to end",
    );
    job
}

#[test]
fn loop_zfs_mirror_datasets_snapshots_rollback_scrub_and_damage() {
    if !require_root("loop_zfs_mirror") || !require_zfs_fuse("loop_zfs_mirror") {
        return;
    }
    let scratch = ScratchDir::new("zfs");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 128 << 20);
    let (da, db) = (a.dev.display().to_string(), b.dev.display().to_string());
    let pool = unique("zt");
    let _guard = PoolGuard(pool.clone());
    let lab = lab("zfs");

    // Dry run: the exact zpool argv, nothing created.
    let dry = lab.ctl_json(&[
        "--dry-run",
        "storage",
        "create",
        &pool,
        "--type",
        "zfs",
        "--layout",
        "mirror",
        "--device",
        &da,
        "--device",
        &db,
    ]);
    let plan = dry["steps"].to_string();
    assert!(plan.contains("/usr/sbin/zpool") && plan.contains("mirror") && plan.contains(&da), "{dry}");
    assert!(!Command::new("zpool").args(["list", &pool]).output().unwrap().status.success());

    let o =
        lab.ctl(&["storage", "create", &pool, "--type", "zfs", "--layout", "mirror", "--device", &da, "--device", &db]);
    ok(&o, "zfs pool create");
    let show = lab.ctl_json(&["storage", "show", &pool]);
    assert_eq!(show["health"], "online", "{show}");
    assert_eq!(show["members"].as_array().map(Vec::len), Some(2), "{show}");
    assert!(show["mounted"].as_bool().unwrap(), "{show}");

    // The inventory knows the loops are pool members now, and wipe/create refuse them.
    let inv = lab.ctl_json(&["device", "list"]);
    let me = inv.as_array().unwrap().iter().find(|d| d["path"] == da.as_str()).cloned().expect("loop in inventory");
    assert!(me["uses"].to_string().contains(&pool), "{me}");
    let o = lab.ctl(&["device", "wipe", &da, "--method", "quick", "--force"]);
    assert!(!o.status.success() && (stderr(&o).contains("in use") || stderr(&o).contains("member")), "{}", stderr(&o));

    let ds = format!("{pool}/data");
    ok(
        &lab.ctl(&["storage", "dataset", "create", &ds, "--property", "compression=gzip", "--property", "atime=off"]),
        "dataset create",
    );
    // Issue 18 H3: no setuid binary or device node works on a pool or dataset CoreNAS made.
    for fs in [pool.as_str(), ds.as_str()] {
        assert_eq!(zfs_props(fs, "setuid,devices"), ["off", "off"], "{fs}");
    }
    let list = lab.ctl_json(&["storage", "dataset", "list", &pool]);
    let d = list.as_array().unwrap().iter().find(|d| d["name"] == ds.as_str()).cloned().expect("dataset listed");
    assert!(d["properties"].to_string().contains("gzip"), "{d}");
    ok(&lab.ctl(&["storage", "dataset", "set", &ds, "quota=64M"]), "dataset set");
    let mnt = std::path::PathBuf::from(d["mountpoint"].as_str().unwrap());
    std::fs::write(mnt.join("file.txt"), "version 1\n").expect("write to the dataset");

    ok(&lab.ctl(&["storage", "snapshot", "create", &ds, "--name", "before"]), "snapshot");
    std::fs::write(mnt.join("file.txt"), "version 2\n").unwrap();
    let snaps = lab.ctl_json(&["storage", "snapshot", "list", &ds]);
    assert!(snaps.to_string().contains("\"before\""), "{snaps}");
    let o = lab.ctl(&["storage", "snapshot", "rollback", &ds, "before"]);
    assert!(!o.status.success(), "rollback without --force must be refused");
    ok(&lab.ctl(&["storage", "snapshot", "rollback", &ds, "before", "--force"]), "rollback");
    assert_eq!(std::fs::read_to_string(mnt.join("file.txt")).unwrap(), "version 1\n");

    // Export and import: the pool goes away and comes back with its data.
    ok(&lab.ctl(&["storage", "export", &pool]), "export");
    assert!(!Command::new("zpool").args(["list", &pool]).output().unwrap().status.success(), "exported");
    ok(&lab.ctl(&["storage", "import", &pool]), "import");
    assert_eq!(lab.ctl_json(&["storage", "show", &pool])["health"], "online");
    assert_eq!(std::fs::read_to_string(mnt.join("file.txt")).unwrap(), "version 1\n");

    // Scheduled snapshots: one now, none again within the hour; old ones pruned by retention,
    // the admin's own names never.
    ok(&lab.ctl(&["storage", "snapshot", "schedule", &ds, "--hourly", "2", "--daily", "1"]), "schedule");
    for old in ["auto-2020-01-01_00-00", "auto-2020-01-02_00-00"] {
        ok(&lab.ctl(&["storage", "snapshot", "create", &ds, "--name", old]), "old scheduled snapshot");
    }
    let run = lab.ctl_json(&["storage", "snapshot", "run-schedules"]);
    let did = run["result"].to_string();
    assert!(did.contains("created") && did.contains("destroyed") && did.contains("auto-2020-01-01_00-00"), "{run}");
    let names = lab.ctl_json(&["storage", "snapshot", "list", &ds]).to_string();
    assert!(names.contains("auto-2020-01-02_00-00") && !names.contains("auto-2020-01-01_00-00"), "{names}");
    assert!(names.contains("\"before\""), "a snapshot with the admin's own name is never pruned: {names}");
    let again = lab.ctl_json(&["storage", "snapshot", "run-schedules"]);
    assert_eq!(again["result"], serde_json::json!([]), "nothing is due twice in one hour: {again}");
    let schedules = lab.ctl_json(&["storage", "snapshot", "schedules"]);
    assert!(schedules.to_string().contains("nothing due"), "{schedules}");

    // Scrub as a job, to completion.
    let change = lab.ctl_json(&["storage", "scrub", &pool]);
    let job = job_done(&lab, &change);
    assert_eq!(job["state"], "done", "{job}");

    // Damage one side of the mirror (past the front labels), scrub again: ZFS notices.
    let data = vec![0x5au8; 32 << 20];
    let f = std::fs::OpenOptions::new().write(true).open(&b.backing).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &data, 8 << 20).unwrap();
    drop(f);
    let change = lab.ctl_json(&["storage", "scrub", &pool]);
    let job = job_done(&lab, &change);
    let show = lab.ctl_json(&["storage", "show", &pool]);
    eprintln!("after damage: job {job}\nshow {show}");
    let member_b =
        show["members"].as_array().unwrap().iter().find(|m| db.ends_with(m["device"].as_str().unwrap())).cloned();
    if let Some(m) = member_b {
        let counters = m["errors"].to_string();
        let noticed =
            counters != "[0,0,0]" || job["message"].to_string().contains("repaired") || show["health"] != "online";
        assert!(noticed, "zfs-fuse repaired or counted the damage: {m} {job}");
    }
    // The data is intact (the other side of the mirror).
    assert_eq!(std::fs::read_to_string(mnt.join("file.txt")).unwrap(), "version 1\n");

    let o = lab.ctl(&["storage", "destroy", &pool]);
    assert!(!o.status.success(), "destroy without --force must be refused");
    ok(&lab.ctl(&["storage", "destroy", &pool, "--force"]), "destroy");
    assert!(!Command::new("zpool").args(["list", &pool]).output().unwrap().status.success());
}

#[test]
fn loop_btrfs_raid1_subvolumes_snapshots_scrub() {
    if !require_root("loop_btrfs") {
        return;
    }
    let scratch = ScratchDir::new("btrfs");
    let a = LoopDisk::sparse(&scratch.path, "a", 256 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 256 << 20);
    let (da, db) = (a.dev.display().to_string(), b.dev.display().to_string());
    let lab = lab("btrfs");
    let pool = "bt";
    let o = lab.ctl(&[
        "storage",
        "create",
        pool,
        "--type",
        "btrfs",
        "--data-profile",
        "raid1",
        "--metadata-profile",
        "raid1",
        "--device",
        &da,
        "--device",
        &db,
    ]);
    ok(&o, "btrfs create");
    assert!(stdout(&o).contains("lab"), "the lab fallback says it mounted: {}", stdout(&o));
    let mnt = lab.root.join("mnt/corenas/bt");
    let show = lab.ctl_json(&["storage", "show", pool]);
    assert_eq!(show["health"], "online", "{show}");
    assert!(show["size_bytes"].as_u64().unwrap() > 100 << 20, "{show}");
    // The unit was rendered and verified even though the lab mounted it.
    let unit = lab.read("etc/systemd/system/mnt-corenas-bt.mount");
    assert!(unit.contains("What=") && unit.contains("Type=btrfs") && unit.contains("nofail"), "{unit}");

    ok(&lab.ctl(&["storage", "dataset", "create", "bt/media"]), "subvolume");
    std::fs::write(mnt.join("media/a.txt"), "one\n").unwrap();
    let o = lab.ctl_json(&["storage", "snapshot", "create", "bt/media"]);
    let name = o["result"]["name"].as_str().unwrap_or_else(|| panic!("{o}")).to_owned();
    assert!(name.starts_with("auto-"), "{name}");
    let snap_dir = mnt.join("media/.snapshots").join(&name);
    assert_eq!(std::fs::read_to_string(snap_dir.join("a.txt")).unwrap(), "one\n");
    assert!(std::fs::write(snap_dir.join("x"), "y").is_err(), "snapshots are read-only");
    let o = lab.ctl(&["storage", "snapshot", "rollback", "bt/media", &name, "--force"]);
    assert!(
        !o.status.success() && stderr(&o).contains(".snapshots"),
        "btrfs rollback says how instead: {}",
        stderr(&o)
    );
    let datasets = lab.ctl_json(&["storage", "dataset", "list", pool]);
    assert_eq!(datasets.as_array().map(Vec::len), Some(1), "snapshots are not datasets: {datasets}");

    let change = lab.ctl_json(&["storage", "scrub", pool]);
    // No systemd as PID 1 here: btrfs's own detached process, and the change says so.
    assert!(change.to_string().contains("runner: a detached process"), "{change}");
    let job = job_done(&lab, &change);
    assert_eq!(job["state"], "done", "{job}");

    ok(&lab.ctl(&["storage", "snapshot", "destroy", "bt/media", &name]), "snapshot destroy");
    ok(&lab.ctl(&["storage", "destroy", pool, "--force"]), "destroy");
    assert!(!mnt.exists() || std::fs::read_dir(&mnt).unwrap().next().is_none());
    let blkid = Command::new("blkid").args(["-p", &da]).output().unwrap();
    assert!(!blkid.status.success(), "signatures are gone: {}", String::from_utf8_lossy(&blkid.stdout));
}

#[test]
fn loop_single_disk_ext4_and_xfs() {
    if !require_root("loop_single_disk") {
        return;
    }
    let scratch = ScratchDir::new("single");
    let lab = lab("single");
    for fs in ["ext4", "xfs"] {
        if fs == "xfs" && !require_program("loop_single_disk (xfs)", "/usr/sbin/mkfs.xfs", "xfsprogs") {
            continue;
        }
        let d = LoopDisk::sparse_partscan(&scratch.path, fs, 320 << 20);
        let dev = d.dev.display().to_string();
        let pool = format!("single-{fs}");
        ok(&lab.ctl(&["storage", "create", &pool, "--type", "single", "--fs", fs, "--device", &dev]), "single create");
        let mnt = lab.root.join(format!("mnt/corenas/{pool}"));
        std::fs::write(mnt.join("hello"), fs).unwrap();
        let show = lab.ctl_json(&["storage", "show", &pool]);
        assert_eq!(show["health"], "online", "{show}");
        let blkid =
            Command::new("blkid").args(["-p", "-o", "value", "-s", "TYPE", &format!("{dev}p1")]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&blkid.stdout).trim(), fs);
        ok(&lab.ctl(&["storage", "destroy", &pool, "--force"]), "destroy");
        let blkid = Command::new("blkid").args(["-p", &dev]).output().unwrap();
        assert!(!blkid.status.success(), "{}", String::from_utf8_lossy(&blkid.stdout));
    }
}

fn write_random(dev: &str, len: usize) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let buf: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect();
    std::fs::write(dev, buf).unwrap();
}

#[test]
fn loop_wipe_methods_verify_and_audit() {
    if !require_root("loop_wipe") {
        return;
    }
    let scratch = ScratchDir::new("wipe");
    let lab = lab("wipe");
    let d = LoopDisk::sparse(&scratch.path, "w", 96 << 20);
    let dev = d.dev.display().to_string();

    // SMART: a loop device has none, and says so rather than failing.
    let smart = lab.ctl_json(&["device", "smart", &dev]);
    assert_eq!(smart["available"], false, "{smart}");
    assert!(smart["message"].as_str().is_some_and(|m| !m.is_empty()), "{smart}");
    let o = lab.ctl(&["device", "selftest", &dev]);
    assert!(!o.status.success(), "no self-test on a loop device: {}", stdout(&o));

    // Quick: an ext4 signature goes.
    assert!(Command::new("mkfs.ext4").args(["-q", "-F", &dev]).status().unwrap().success());
    let o = lab.ctl(&["device", "wipe", &dev, "--method", "quick"]);
    assert!(!o.status.success() && stderr(&o).contains("--force"), "{}", stderr(&o));
    let dry = lab.ctl_json(&["--dry-run", "device", "wipe", &dev, "--method", "quick", "--force"]);
    assert!(dry["steps"].to_string().contains("wipefs"), "{dry}");
    let change = lab.ctl_json(&["device", "wipe", &dev, "--method", "quick", "--force"]);
    let job = job_done(&lab, &change);
    assert_eq!(job["state"], "done", "{job}");
    assert!(!Command::new("blkid").args(["-p", &dev]).output().unwrap().status.success());

    for method in ["zero", "discard"] {
        write_random(&dev, 96 << 20);
        let change = lab.ctl_json(&["device", "wipe", &dev, "--method", method, "--force", "--samples", "32"]);
        let job = job_done(&lab, &change);
        assert_eq!(job["state"], "done", "{method}: {job}");
        let all = std::fs::read(&dev).unwrap();
        assert!(all.iter().all(|b| *b == 0), "{method}: the whole device reads zeros");
    }
    // A loop device has no firmware erase, and `erase-options` says so without asking a tool.
    let opts = lab.ctl_json(&["device", "erase-options", &dev]);
    assert_eq!(
        (opts["offered"].as_array().map(Vec::len), &opts["chosen"]),
        (Some(0), &serde_json::Value::Null),
        "{opts}"
    );
    assert!(opts["notes"].to_string().contains("neither an NVMe namespace nor a disk on an ATA port"), "{opts}");
    let human = stdout(&lab.ctl(&["device", "erase-options", &dev]));
    assert!(human.contains("offered:   none") && human.contains("blkdiscard --secure"), "{human}");
    // Directly at the helper: a firmware erase of a loop device is refused by kind, and an
    // unbounded run time is refused before anything else.
    use corenas_proto::helper::HelperOp;
    use corenas_proto::storage::FirmwareErase;
    corenas_tests::block_on(async {
        let h = corenas_tests::helper_client(&lab.helper_sock).await.expect("connect as root");
        for (erase, minutes, says) in [
            (FirmwareErase::NvmeSanitizeCrypto, 5, "is not an NVMe namespace"),
            (FirmwareErase::NvmeFormatUserData, 5, "is not an NVMe namespace"),
            (FirmwareErase::AtaEnhancedErase, 30, "not a whole disk on an ATA port"),
            (FirmwareErase::AtaErase, 0, "minutes"),
            (FirmwareErase::AtaErase, 100_000, "minutes"),
        ] {
            let op = HelperOp::FirmwareErase { device: dev.parse().unwrap(), erase, minutes };
            let e = h.perform(corenas_tests::ctx(), op, false).await.unwrap().expect_err("refused");
            assert!(e.message.contains(says), "{erase} {minutes}: {}", e.message);
        }
        for q in [
            corenas_proto::helper::StorageQuery::NvmeIdCtrl { device: dev.parse().unwrap() },
            corenas_proto::helper::StorageQuery::AtaIdentify { device: dev.parse().unwrap() },
        ] {
            let e = h.storage_query(corenas_tests::ctx(), q).await.unwrap().expect_err("refused");
            assert!(e.message.contains("is not an"), "{}", e.message);
        }
    });
    // Regions must be whole: 1-byte reads would tell what a disk holds, byte by byte.
    corenas_tests::block_on(async {
        let h = corenas_tests::helper_client(&lab.helper_sock).await.expect("connect as root");
        for regions in [vec![(0u64, 1u32)], vec![(1, 65536)]] {
            let e = h.region_fingerprints(corenas_tests::ctx(), dev.parse().unwrap(), regions.clone()).await.unwrap();
            assert!(e.expect_err("refused").message.contains("4096-aligned"), "{regions:?}");
        }
        let ok = h.region_fingerprints(corenas_tests::ctx(), dev.parse().unwrap(), vec![(0, 65536)]).await.unwrap();
        assert_eq!(ok.expect("a whole region").len(), 1);
    });
    // So --method secure falls back to a secure discard, which a loop device does not have:
    // the job fails, saying why.
    let change = lab.ctl_json(&["device", "wipe", &dev, "--method", "secure", "--force"]);
    let job = job_done(&lab, &change);
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["message"].as_str().unwrap_or("").contains("blkdiscard"), "{job}");

    // Every wipe left a wipe record in the audit log, with the verification result.
    let log = lab.ctl_json(&["log", "view", "--limit", "50"]);
    let records: Vec<&serde_json::Value> =
        log.as_array().unwrap().iter().filter(|e| e["action"] == "device.wipe.record").collect();
    assert_eq!(records.len(), 4, "{log}");
    let args: Vec<serde_json::Value> =
        records.iter().map(|r| serde_json::from_str(r["args"].as_str().unwrap_or("{}")).unwrap()).collect();
    assert_eq!(args.iter().filter(|a| a["verified"] == true).count(), 3, "{args:?}");
    assert!(args.iter().all(|a| a["device"] == dev.as_str() && a["method"].is_string()), "{args:?}");
}

#[test]
fn loop_helper_refuses_devices_in_use() {
    if !require_root("loop_refusals") {
        return;
    }
    let scratch = ScratchDir::new("refuse");
    let lab = lab("refuse");
    let d = LoopDisk::sparse(&scratch.path, "m", 64 << 20);
    let dev = d.dev.display().to_string();
    assert!(Command::new("mkfs.ext4").args(["-q", "-F", &dev]).status().unwrap().success());
    let mnt = scratch.path.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(Command::new("mount").arg(&dev).arg(&mnt).status().unwrap().success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _u = Unmount(mnt.clone());

    for args in [
        vec!["device", "wipe", dev.as_str(), "--method", "zero", "--force"],
        vec!["storage", "create", "busy", "--type", "btrfs", "--device", dev.as_str(), "--force"],
        vec!["storage", "create", "busy", "--type", "single", "--fs", "ext4", "--device", dev.as_str(), "--force"],
    ] {
        let o = lab.ctl(&args);
        assert!(!o.status.success(), "{args:?} must be refused");
        assert!(stderr(&o).contains("in use") || stderr(&o).contains("mounted"), "{args:?}: {}", stderr(&o));
    }
    // Directly at the helper (bypassing corenasd): the same refusal.
    use corenas_proto::helper::HelperOp;
    corenas_tests::block_on(async {
        let h = corenas_tests::helper_client(&lab.helper_sock).await.expect("connect as root");
        for op in [
            HelperOp::WipeSignatures { device: dev.parse().unwrap() },
            HelperOp::WipeRange {
                device: dev.parse().unwrap(),
                method: corenas_proto::storage::WipeMethod::Zero,
                offset: 0,
                length: 1 << 20,
            },
        ] {
            let r = h.perform(corenas_tests::ctx(), op, false).await.unwrap();
            let e = r.expect_err("the helper refuses a mounted device");
            assert!(e.message.contains("in use") && e.message.contains("mounted"), "{}", e.message);
        }
        // Reading regions back (wipe verification) is for free devices only, in whole 64 KiB
        // pieces: never a way to read a disk in use byte by byte.
        let e = h.wipe_check(corenas_tests::ctx(), dev.parse().unwrap(), vec![(0, 65536)]).await.unwrap();
        assert!(e.expect_err("refused").message.contains("in use"));
        let e = h.region_fingerprints(corenas_tests::ctx(), dev.parse().unwrap(), vec![(0, 65536)]).await.unwrap();
        assert!(e.expect_err("refused").message.contains("in use"));
    });
    // The filesystem on it is untouched.
    assert!(Command::new("blkid").args(["-p", &dev]).output().unwrap().status.success());
}

#[test]
fn loop_the_wizard_builds_a_pool_step_by_step_through_the_real_daemon() {
    if !require_root("loop_wizard") {
        return;
    }
    let scratch = ScratchDir::new("wizard");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 192 << 20);
    let name = |d: &LoopDisk| d.dev.file_name().unwrap().to_string_lossy().into_owned();
    let lab = lab("wizard");
    // Devices by name (numbers would shift if another disk appeared), then Enter for the
    // recommended profiles and compression, the pool's name, and yes.
    let answers = format!("{},{}\n\n\n\nwiz\ny\n", name(&a), name(&b));
    let o = lab.ctl_stdin(&["storage", "wizard", "--type", "btrfs"], Some(&answers));
    let text = stdout(&o);
    ok(&o, "wizard");
    assert!(text.contains(&name(&a)) && text.contains("Devices to use"), "the devices were listed:\n{text}");
    assert!(text.to_lowercase().contains("size"), "mixed sizes are warned about:\n{text}");
    assert!(text.contains("mkfs.btrfs"), "the dry-run plan was shown before creating:\n{text}");
    let show = lab.ctl_json(&["storage", "show", "wiz"]);
    assert_eq!(show["health"], "online", "{show}");
    assert_eq!(show["layout"]["btrfs"]["data"], "raid1", "{show}");
    ok(&lab.ctl(&["storage", "destroy", "wiz", "--force"]), "destroy");
}

/// Production's two helpers (corenas-helper --role accounts, corenas-storage --role storage):
/// corenasd sends each request to its helper, each helper refuses the other's work and keeps
/// only its own capabilities, and the md and LVM plans name the checked kernel nodes and refuse a
/// device in use (md and device-mapper themselves run in the VM tier: vm/guest-test).
#[test]
fn two_helpers_split_the_work_and_refuse_each_others() {
    if !require_root("two_helpers") {
        return;
    }
    let scratch = ScratchDir::new("split");
    let a = LoopDisk::sparse_partscan(&scratch.path, "a", 320 << 20);
    let b = LoopDisk::sparse(&scratch.path, "b", 64 << 20);
    let (da, db) = (a.dev.display().to_string(), b.dev.display().to_string());
    let lab = Lab::start("split", LabOptions { lab_mounts: true, split_helpers: true, ..LabOptions::default() });

    // Accounts work goes to the accounts helper, storage work to the storage helper.
    ok(&lab.ctl(&["group", "add", "splitgrp", "--kind", "share"]), "group add");
    ok(&lab.ctl(&["storage", "create", "splitpool", "--type", "single", "--fs", "ext4", "--device", &da]), "create");
    assert!(lab.root.join("mnt/corenas/splitpool/lost+found").is_dir(), "the pool is not mounted");
    ok(&lab.ctl(&["storage", "destroy", "splitpool", "--force"]), "destroy");
    let accounts_log = lab.log("helper.log");
    let storage_log = lab.log("storage-helper.log");
    assert!(accounts_log.contains("group.create") && !accounts_log.contains("pool.create"), "{accounts_log}");
    assert!(storage_log.contains("pool.create") && !storage_log.contains("group.create"), "{storage_log}");

    // md and LVM plans: mdadm and lvm get the kernel nodes the helper checked.
    let dry =
        lab.ctl_json(&["--dry-run", "raid", "create", "sm", "--level", "raid1", "--device", &da, "--device", &db]);
    let steps = dry["steps"].to_string();
    assert!(
        steps.contains("--create") && steps.contains("/dev/md/sm") && steps.contains(&da) && steps.contains(&db),
        "{dry}"
    );
    assert!(steps.contains("--bitmap=internal"), "{dry}");
    let dry = lab.ctl_json(&["--dry-run", "lvm", "vg-create", "svg", "--device", &da]);
    let steps = dry["steps"].to_string();
    assert!(steps.contains("pvcreate") && steps.contains("vgcreate") && steps.contains(&da), "{dry}");

    // A mounted device is refused for an array, naming why.
    ok(&Command::new("mkfs.ext4").args(["-q", &db]).output().unwrap(), "mkfs");
    let m = ScratchDir::new("split-mnt");
    ok(&Command::new("mount").arg(&db).arg(&m.path).output().unwrap(), "mount");
    let out = lab.ctl(&["--dry-run", "raid", "create", "sm", "--level", "raid1", "--device", &da, "--device", &db]);
    let _ = Command::new("umount").arg(&m.path).status();
    assert!(!out.status.success(), "a mounted device was accepted");
    assert!(stderr(&out).contains("in use") && stderr(&out).contains("mounted"), "{}", stderr(&out));

    // Each helper refuses the other's requests and keeps only its own capabilities.
    corenas_tests::block_on(async {
        use corenas_proto::helper::{HelperOp, StorageQuery};
        let acc = corenas_tests::helper_client(&lab.helper_sock).await.expect("accounts helper");
        let st = corenas_tests::helper_client(&lab.storage_sock).await.expect("storage helper");
        let op = HelperOp::WipeSignatures { device: da.parse().unwrap() };
        let e = acc.perform(corenas_tests::ctx(), op, true).await.expect("rpc").expect_err("refused");
        assert_eq!(e.code, corenas_proto::ErrorCode::NotAllowed, "{}", e.message);
        assert!(e.message.contains("storage helper"), "{}", e.message);
        let e = acc.storage_query(corenas_tests::ctx(), StorageQuery::MdScan).await.expect("rpc").expect_err("refused");
        assert!(e.message.contains("storage helper"), "{}", e.message);
        let op = HelperOp::GroupDelete { name: "splitgrp".parse().unwrap() };
        let e = st.perform(corenas_tests::ctx(), op, true).await.expect("rpc").expect_err("refused");
        assert!(e.message.contains("accounts helper"), "{}", e.message);
        let e = st.accounts(corenas_tests::ctx()).await.expect("rpc").expect_err("refused");
        assert!(e.message.contains("accounts helper"), "{}", e.message);
        let caps = acc.status(corenas_tests::ctx()).await.expect("rpc").bounding_set;
        assert!(caps.contains(&"cap_chown".to_owned()) && !caps.contains(&"cap_sys_admin".to_owned()), "{caps:?}");
        let caps = st.status(corenas_tests::ctx()).await.expect("rpc").bounding_set;
        assert!(caps.contains(&"cap_sys_admin".to_owned()) && !caps.contains(&"cap_chown".to_owned()), "{caps:?}");
    });
}

fn zfs_props(fs: &str, props: &str) -> Vec<String> {
    let o = Command::new("zfs").args(["get", "-H", "-o", "value", props, fs]).output().unwrap();
    ok(&o, "zfs get");
    stdout(&o).lines().map(str::to_owned).collect()
}

fn zfs_filesystems(pool: &str) -> Vec<String> {
    let o = Command::new("zfs").args(["list", "-H", "-r", "-o", "name", "-t", "filesystem", pool]).output().unwrap();
    ok(&o, "zfs list");
    stdout(&o).lines().map(str::to_owned).collect()
}

/// Issue 18 M5, the attacker's side: a pool crafted elsewhere (a USB disk) with a mount point
/// outside CoreNAS's tree, setuid and device nodes on and canmount=on. Imported through CoreNAS,
/// none of that may be honoured, now or at the next boot.
#[test]
fn loop_zfs_import_of_a_crafted_pool_honours_none_of_its_properties() {
    if !require_root("loop_zfs_import_crafted") || !require_zfs_fuse("loop_zfs_import_crafted") {
        return;
    }
    let scratch = ScratchDir::new("zfs-crafted");
    let a = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let da = a.dev.display().to_string();
    let pool = unique("zc");
    let _guard = PoolGuard(pool.clone());
    let evil = scratch.path.join("evil");
    let evil_root = scratch.path.join("evilroot");
    // Crafted outside CoreNAS, as the attacker would.
    let zp = |args: &[&str]| ok(&Command::new("zpool").args(args).output().unwrap(), &format!("zpool {args:?}"));
    let zf = |args: &[&str]| ok(&Command::new("zfs").args(args).output().unwrap(), &format!("zfs {args:?}"));
    zp(&["create", "-m", evil_root.to_str().unwrap(), "-O", "setuid=on", "-O", "devices=on", &pool, &da]);
    let child = format!("{pool}/cron");
    zf(&["create", &child]);
    zf(&["set", &format!("mountpoint={}", evil.display()), &child]);
    zf(&["set", "canmount=on", &child]);
    zf(&["create", &format!("{child}/deeper")]);
    zp(&["export", &pool]);
    for d in [evil.join("deeper"), evil.clone(), evil_root.clone()] {
        let _ = std::fs::remove_dir(d);
    }

    let lab = lab("zfs-crafted");
    ok(&lab.ctl(&["storage", "import", &pool]), "import of the crafted pool");
    let base = lab.root.join("mnt/corenas").join(&pool);
    let all = zfs_filesystems(&pool);
    assert_eq!(all.len(), 3, "{all:?}");
    for fs in &all {
        let v = zfs_props(fs, "setuid,devices,canmount,mountpoint");
        assert_eq!(&v[..3], ["off", "off", "noauto"], "{fs}: {v:?}");
        let mp = std::path::Path::new(&v[3]);
        assert!(mp.starts_with(&base), "{fs} mounts at {} (outside {})", mp.display(), base.display());
    }
    // Nothing of the pool is mounted anywhere else (the crafted places stay untouched).
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mounts.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let source = l.split(" - ").nth(1).and_then(|r| r.split(' ').nth(1)).unwrap_or("");
        if source == pool || source.starts_with(&format!("{pool}/")) {
            assert!(std::path::Path::new(f[4]).starts_with(&base), "{source} mounted at {}", f[4]);
        }
    }
    assert!(!evil.exists() && !evil_root.exists(), "the crafted mount points were not created");
    // CoreNAS mounted it as it mounts its own pools, the children too, and left no import scaffolding.
    for fs in &all {
        assert_eq!(zfs_props(fs, "mounted"), ["yes"], "{fs} is mounted beneath {}", base.display());
    }
    let scaffold = lab.root.join(format!("mnt/corenas/.import-{pool}"));
    assert!(!scaffold.exists(), "{} was removed", scaffold.display());
    ok(&lab.ctl(&["storage", "export", &pool]), "export");
}

/// Issue 18 M1, the attacker's side: a share user owns a dataset's `.snapshots` and plants a
/// symbolic link to another dataset there. Neither a snapshot destroy nor a recursive dataset
/// destroy may follow it; the other dataset survives.
#[test]
fn loop_btrfs_snapshots_dir_planted_by_a_share_user_cannot_destroy_another_dataset() {
    if !require_root("loop_btrfs_snapshots_attack") {
        return;
    }
    let scratch = ScratchDir::new("btrfs-snapattack");
    let a = LoopDisk::sparse(&scratch.path, "a", 256 << 20);
    let da = a.dev.display().to_string();
    let lab = lab("btrfs-snapattack");
    let pool = "bs";
    ok(&lab.ctl(&["storage", "create", pool, "--type", "btrfs", "--device", &da]), "btrfs create");
    let mnt = lab.root.join("mnt/corenas/bs");
    ok(&lab.ctl(&["storage", "dataset", "create", "bs/victim"]), "victim subvolume");
    std::fs::write(mnt.join("victim/precious.txt"), "keep me\n").unwrap();

    // A new dataset gets a root-owned 0755 `.snapshots` with it.
    ok(&lab.ctl(&["storage", "dataset", "create", "bs/share"]), "share subvolume");
    let snaps = mnt.join("share/.snapshots");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(&snaps).expect(".snapshots is created with the dataset");
    assert!(m.is_dir() && m.uid() == 0 && m.mode() & 0o7777 == 0o755, "uid {} mode {:o}", m.uid(), m.mode());

    // The share user's version (a dataset from before the fix, or a race): they own it.
    std::fs::remove_dir(&snaps).unwrap();
    std::fs::create_dir(&snaps).unwrap();
    std::os::unix::fs::chown(&snaps, Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::symlink(mnt.join("victim"), snaps.join("evil")).unwrap();
    std::os::unix::fs::lchown(snaps.join("evil"), Some(1000), Some(1000)).unwrap();

    let survives = |when: &str| {
        assert_eq!(
            std::fs::read_to_string(mnt.join("victim/precious.txt")).ok().as_deref(),
            Some("keep me\n"),
            "the other dataset survives {when}"
        );
    };
    let o = lab.ctl(&["storage", "snapshot", "destroy", "bs/share", "evil"]);
    survives("a snapshot destroy through the planted link");
    assert!(!o.status.success() && stderr(&o).contains(".snapshots"), "refused, naming .snapshots: {}", stderr(&o));
    let o = lab.ctl(&["storage", "snapshot", "list", "bs/share"]);
    assert!(!o.status.success() && stderr(&o).contains(".snapshots"), "listing refused: {}", stderr(&o));
    let o = lab.ctl(&["storage", "snapshot", "create", "bs/share"]);
    assert!(!o.status.success() && stderr(&o).contains(".snapshots"), "snapshot refused: {}", stderr(&o));
    let o = lab.ctl(&["storage", "dataset", "destroy", "bs/share", "--recursive", "--force"]);
    survives("a recursive destroy of the dataset holding the link");
    assert!(!o.status.success() && stderr(&o).contains(".snapshots"), "refused: {}", stderr(&o));

    // Even in a root-owned `.snapshots` (say root chowned it back without looking inside), an
    // entry that is not a snapshot subvolume of this dataset is never deleted.
    std::os::unix::fs::lchown(&snaps, Some(0), Some(0)).unwrap();
    let o = lab.ctl(&["storage", "snapshot", "destroy", "bs/share", "evil"]);
    survives("a snapshot destroy of a link in a root-owned .snapshots");
    assert!(!o.status.success(), "a link is not a snapshot: {}", stdout(&o));
    ok(&lab.ctl(&["storage", "dataset", "destroy", "bs/share", "--recursive", "--force"]), "recursive destroy");
    survives("the recursive destroy of the dataset holding the link");
    assert!(!mnt.join("share").exists(), "the share dataset itself is gone");

    ok(&lab.ctl(&["storage", "destroy", pool, "--force"]), "destroy");
}
