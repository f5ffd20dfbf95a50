//! Imaging read grants against a compromised corenasd (issue 18 item 7, review M4): raw helper
//! requests corenasd itself would not send, refused on the helper's own checks; and a grant left
//! on a disk does not survive the disk becoming storage. Which devices count as media (optical,
//! removable, loop) and the admin-only fixed disk are unit-tested in the helper's `device.rs` and
//! corenasd's `imaging/api.rs`: this machine has no fixed disk but the system disk.

use corenas_proto::ErrorCode;
use corenas_proto::helper::HelperOp;
use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn getfacl(p: &Path) -> String {
    stdout(&Command::new("getfacl").args(["-c", "-p"]).arg(p).output().unwrap())
}

/// Whether the listing grants corenasd's user anything (by name or by uid).
fn daemon_entry(acl: &str, uid: u32) -> bool {
    acl.lines().any(|l| l.starts_with("user:corenas:") || l.starts_with(&format!("user:{uid}:")))
}

fn perform(lab: &Lab, op: HelperOp, dry_run: bool) -> Result<(), corenas_proto::WireError> {
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        h.perform(ctx(), op, dry_run).await.expect("rpc").map(|_| ())
    })
}

/// The block device `/` lives on (a partition or a whole disk), when it is one.
fn system_device() -> Option<PathBuf> {
    let st = rustix::fs::stat("/").ok()?;
    let link =
        std::fs::read_link(format!("/sys/dev/block/{}:{}", rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev)))
            .ok()?;
    let name = link.file_name()?.to_str()?.to_owned();
    let dev = PathBuf::from(format!("/dev/{name}"));
    dev.exists().then_some(dev)
}

/// A compromised corenasd asks for a read grant on the system disk and says an admin allowed a
/// fixed disk: refused because it is the system disk (not merely because it is mounted; an
/// unused system-disk partition is refused the same way, unit-tested in `device.rs`).
#[test]
fn grant_on_the_system_disk_is_refused_even_with_fixed_disk() {
    if !require_root("grant_on_the_system_disk_is_refused_even_with_fixed_disk") {
        return;
    }
    let Some(dev) = system_device() else {
        eprintln!("skipped: / is not on a block device here");
        return;
    };
    let Ok(device) = dev.display().to_string().parse::<corenas_proto::names::DevicePath>() else {
        eprintln!("skipped: the system device {} is not a disk name CoreNAS accepts", dev.display());
        return;
    };
    let lab = Lab::start("grant-sys", LabOptions::default());
    let before = getfacl(&dev);
    for dry_run in [true, false] {
        let e = perform(&lab, HelperOp::DeviceGrantRead { device: device.clone(), fixed_disk: true }, dry_run)
            .expect_err("a grant on the system disk must be refused");
        assert_eq!(e.code, ErrorCode::NotAllowed, "{e:?}");
        assert!(e.message.contains("system disk") && e.message.contains("never granted"), "{e:?}");
    }
    assert_eq!(getfacl(&dev), before, "the system disk's ACL is unchanged");
    assert!(!daemon_entry(&getfacl(&dev), lab.daemon_uid));
}

/// A disk granted to corenasd (a job's grant that was never released: a crash, a compromised
/// corenasd) then becomes a pool: the pool's creation takes corenasd's entry off the device node,
/// so corenasd cannot read the pool's raw blocks behind every file permission.
#[test]
fn loop_a_granted_disk_loses_the_grant_when_it_becomes_a_pool() {
    if !require_root("loop_a_granted_disk_loses_the_grant_when_it_becomes_a_pool") {
        return;
    }
    let scratch = ScratchDir::new("grantpool");
    let disk = LoopDisk::sparse(&scratch.path, "a", 256 << 20);
    let shown = disk.dev.display().to_string();
    let lab = Lab::start("grant-pool", LabOptions { lab_mounts: true, split_helpers: true, ..LabOptions::default() });
    perform(&lab, HelperOp::DeviceGrantRead { device: shown.parse().unwrap(), fixed_disk: false }, false)
        .expect("a loop device (the lab's drive) is granted");
    let acl = getfacl(&disk.dev);
    assert!(daemon_entry(&acl, lab.daemon_uid), "the control: the grant is there: {acl}");

    let pool = format!("gp{}", std::process::id() % 100_000);
    let o = lab.ctl(&["storage", "create", &pool, "--type", "btrfs", "--device", &shown]);
    assert!(o.status.success(), "btrfs create: {}\n{}", stdout(&o), stderr(&o));
    let acl = getfacl(&disk.dev);
    let stripped = !daemon_entry(&acl, lab.daemon_uid);
    let d = lab.ctl(&["storage", "destroy", &pool, "--force"]);
    assert!(stripped, "a pool member keeps corenasd's read grant: {acl}");
    assert!(d.status.success(), "destroy: {}\n{}", stdout(&d), stderr(&d));
}
