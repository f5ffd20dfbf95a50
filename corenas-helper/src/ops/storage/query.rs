//! Read-only questions to the storage tools. The argv is built here from typed values; the
//! output goes back raw, for corenasd to parse unprivileged.

use super::super::Ctx;
use super::super::device;
use crate::exec::{self, Invocation, Program};
use corenas_proto::WireError;
use corenas_proto::helper::{StorageQuery, ToolOutput};
use std::time::Duration;

const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// CoreNAS's ZFS properties, read back for `storage dataset list/show`.
pub const ZFS_PROPERTIES: &str =
    "used,available,referenced,mountpoint,compression,atime,quota,reservation,recordsize,readonly,creation";

/// smartctl's `-n POWERMODE[,STATUS]`: skip a disk in standby (or sleep) and exit with 3.
pub const STANDBY_CHECK: &str = "standby,3";

fn invocation(ctx: &Ctx, q: &StorageQuery) -> Result<Invocation, WireError> {
    let mnt =
        |pool: &corenas_proto::names::PoolName| ctx.paths.inside(pool.mount_target().as_str()).display().to_string();
    let of = Invocation::of;
    Ok(match q {
        StorageQuery::ZpoolStatus { pool } => of(Program::Zpool).arg("status").args(pool.iter().map(|p| p.to_string())),
        StorageQuery::ZpoolList => of(Program::Zpool).args(["list", "-H", "-o", "name,health"]),
        StorageQuery::ZfsProperties { pool } => of(Program::Zfs)
            .args(["get", "-H", "-p", "-r", "-o", "name,property,value", ZFS_PROPERTIES, "--"])
            .arg(pool.to_string()),
        // zfs-fuse's `zfs list` has no -p and `zfs get` no -t: snapshots are the names with '@'.
        StorageQuery::ZfsSnapshots { dataset } => of(Program::Zfs)
            .args(["get", "-H", "-p", "-r", "-o", "name,property,value", "used,creation", "--"])
            .arg(dataset.to_string()),
        StorageQuery::BtrfsShow { pool } => {
            of(Program::Btrfs).args(["filesystem", "show", "--raw", "--"]).arg(mnt(pool))
        }
        StorageQuery::BtrfsSubvolumes { pool } => of(Program::Btrfs).args(["subvolume", "list", "--"]).arg(mnt(pool)),
        StorageQuery::BtrfsScrubStatus { pool } => {
            of(Program::Btrfs).args(["scrub", "status", "-R", "--"]).arg(mnt(pool))
        }
        StorageQuery::ScrubUnit { .. }
        | StorageQuery::BackupRunner { .. }
        | StorageQuery::BackupSampleHashes { .. } => {
            return Err(WireError::internal("a unit's state is read by transient::unit_status"));
        }
        StorageQuery::BtrfsDeviceStats { pool } => of(Program::Btrfs).args(["device", "stats", "--"]).arg(mnt(pool)),
        StorageQuery::Smart { device } => {
            let d = device::resolve(device)?;
            of(Program::Smartctl).args(["--json=c", "-x", "--"]).arg(d.path.display().to_string())
        }
        // -n standby,3: smartctl checks the power mode first and, in standby or sleep, exits 3
        // without sending a command that would spin the disk up. -H -i -A (health, identity,
        // attributes with temperature and power-on time) is all the monitor reads: `-x` adds
        // logs that on a disk with many errors pass the 64 KiB output cap, and a cut-off JSON
        // would read as a failed check.
        StorageQuery::SmartIfAwake { device } => {
            let d = device::resolve(device)?;
            of(Program::Smartctl)
                .args(["--json=c", "-H", "-i", "-A", "-n", STANDBY_CHECK, "--"])
                .arg(d.path.display().to_string())
        }
        StorageQuery::Blkid { device } => {
            let d = device::resolve(device)?;
            of(Program::Blkid).args(["-p", "-o", "export", "--"]).arg(d.path.display().to_string())
        }
        StorageQuery::NvmeIdCtrl { device } => {
            of(Program::Nvme).args(["id-ctrl", "--output-format=json", "--"]).arg(nvme_controller_node(device)?)
        }
        StorageQuery::NvmeSanitizeLog { device } => {
            of(Program::Nvme).args(["sanitize-log", "--output-format=json", "--"]).arg(nvme_controller_node(device)?)
        }
        // hdparm takes no `--`; the node is a resolved /dev/sdX path.
        StorageQuery::AtaIdentify { device } => {
            let d = device::resolve(device)?;
            if !d.name.starts_with("sd") {
                return Err(WireError::invalid("device", format!("{} is not an ATA/SCSI disk", device.as_str())));
            }
            of(Program::Hdparm).arg("-I").arg(d.path.display().to_string())
        }
        StorageQuery::MdScan => of(Program::Mdadm).args(super::mdadm::detail_scan_args()),
        StorageQuery::MdDetail { name } => of(Program::Mdadm).args(super::mdadm::detail_args(name)),
        StorageQuery::LvmReport { report } => of(Program::Lvm).args(super::lvm::report_args(*report)),
    })
}

/// The controller node (`/dev/nvmeC`) of an NVMe namespace, checked as for an erase.
fn nvme_controller_node(device: &corenas_proto::names::DevicePath) -> Result<String, WireError> {
    super::wipe::nvme_sole_namespace(&device::resolve(device)?)
}

pub async fn run(ctx: &Ctx, q: &StorageQuery) -> Result<ToolOutput, WireError> {
    if let StorageQuery::BackupRunner { job } = q {
        return super::super::backup::runner_state(ctx, job).await;
    }
    if let StorageQuery::BackupSampleHashes { job, source, subpath, paths } = q {
        return super::super::backup::sample::hashes(ctx, job, source, subpath.as_ref(), paths).await;
    }
    if let StorageQuery::ScrubUnit { pool } = q {
        let target = crate::transient::Target::Pool(pool);
        return crate::transient::unit_status(crate::transient::Kind::Scrub, target).await;
    }
    let cmd = invocation(ctx, q)?;
    let (code, out) = exec::run_raw(&cmd, QUERY_TIMEOUT).await?;
    Ok(ToolOutput {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Where zfs-fuse listens (Debian's build uses the first; `/var/run` is a link to `/run`).
const ZFS_FUSE_SOCKETS: [&str; 2] = ["/run/zfs/zfs_socket", "/var/run/zfs/zfs_socket"];

/// Whether zfs-fuse (not the kernel module) serves ZFS here: its devices are not claimed
/// exclusively, so only `zpool status` tells whether a device is a pool member.
pub fn zfs_fuse_running() -> bool {
    zfs_fuse_listens(&ZFS_FUSE_SOCKETS)
}

/// True when a zfs-fuse socket accepts a connection, or when that cannot be told (fails
/// closed). A socket file alone proves nothing: zfs-fuse leaves it behind when it dies or is
/// killed (a fresh Debian install does, when the package's start fails), and a dead zfs-fuse
/// holds no pool, since its pools live in its process. So only "no such file" and "connection
/// refused" count as not running.
fn zfs_fuse_listens(sockets: &[&str]) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, NotFound};
    sockets.iter().any(|p| match std::os::unix::net::UnixStream::connect(p) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), NotFound | ConnectionRefused),
    })
}

/// Kernel names of the devices in imported ZFS pools. Fails closed: an error (the caller then
/// counts the devices as possibly in use) when ZFS is running but `zpool status` fails or its
/// output reaches the output cap, where a pool's member list may have been cut off. Empty only
/// when no pool can be imported: zpool is not installed, or neither the kernel module
/// (`/dev/zfs`) nor a listening zfs-fuse is there.
pub async fn zfs_members() -> Result<Vec<String>, WireError> {
    let running = std::path::Path::new("/dev/zfs").symlink_metadata().is_ok() || zfs_fuse_running();
    if !Program::Zpool.is_installed() || !running {
        return Ok(Vec::new());
    }
    zfs_members_from(exec::run_raw(&Invocation::of(Program::Zpool).arg("status"), QUERY_TIMEOUT).await)
}

/// `zfs_members` on the outcome of `zpool status` (separate for the tests).
fn zfs_members_from(result: Result<(Option<i32>, exec::Output), WireError>) -> Result<Vec<String>, WireError> {
    let fail = |why: String| WireError::new(corenas_proto::ErrorCode::ToolFailed, format!("zpool status {why}"));
    let (code, out) = result.map_err(|e| fail(format!("could not run: {}", e.message)))?;
    if code != Some(0) {
        let code = code.map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
        return Err(fail(format!("exited with {code}: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    if out.stdout.len() >= exec::OUTPUT_CAP {
        return Err(fail(format!("printed {} bytes or more, so its pool list may be cut off", exec::OUTPUT_CAP)));
    }
    Ok(super::pool::zpool_members(&String::from_utf8_lossy(&out.stdout)))
}

/// Waits (up to 10 s) until `zfs get mounted` says no dataset under `name` is mounted.
pub async fn wait_zfs_unmounted(name: &str) -> Result<(), WireError> {
    let cmd = Invocation::of(Program::Zfs).args(["get", "-H", "-r", "-o", "value", "mounted", "--", name]);
    for _ in 0..100 {
        let (code, out) = exec::run_raw(&cmd, QUERY_TIMEOUT).await?;
        if code != Some(0) || !String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "yes") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(WireError::new(
        corenas_proto::ErrorCode::Busy,
        format!("{name}: ZFS still reports a dataset mounted 10 s after it was unmounted"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: String, stderr: &str) -> exec::Output {
        exec::Output { stdout: stdout.into_bytes(), stderr: stderr.as_bytes().to_vec() }
    }

    fn status(pools: usize) -> String {
        let mut s = String::new();
        for i in 0..pools {
            s.push_str(&format!(
                "  pool: p{i}\n state: ONLINE\nconfig:\n\n\tNAME        STATE     READ WRITE CKSUM\n\tp{i}          ONLINE       0     0     0\n\t  loop{i}     ONLINE       0     0     0\n\nerrors: No known data errors\n\n"
            ));
        }
        s
    }

    /// A socket file left by a dead zfs-fuse is not a running zfs-fuse (no pool can be imported),
    /// a listening one is, and one that cannot be reached is counted as running.
    #[test]
    fn only_a_listening_zfs_fuse_counts_as_running() {
        let dir = std::env::temp_dir().join(format!("corenas-zfs-fuse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stale = dir.join("stale");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let live = dir.join("live");
        let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
        let (stale, live) = (stale.to_str().unwrap(), live.to_str().unwrap());
        assert!(!zfs_fuse_listens(&[stale, "/nonexistent/zfs_socket"]));
        assert!(zfs_fuse_listens(&[stale, live]));
        let file = dir.join("file");
        std::fs::write(&file, b"").unwrap();
        let beneath_a_file = file.join("zfs_socket"); // ENOTDIR: neither missing nor refused
        assert!(zfs_fuse_listens(&[beneath_a_file.to_str().unwrap()]), "an odd error fails closed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The attacker needs the member check to say "not a member" for a device in a pool: enough
    /// imported pools push `zpool status` past the 64 KiB cap (the last pools' members are cut
    /// off), or zpool fails. Both must refuse, not answer "no members".
    #[test]
    fn zfs_members_fails_closed() {
        let m = zfs_members_from(Ok((Some(0), out(status(2), "")))).unwrap();
        assert!(m.contains(&"loop0".to_owned()) && m.contains(&"loop1".to_owned()), "{m:?}");
        let mut long = status(2000);
        long.truncate(exec::OUTPUT_CAP);
        let e = zfs_members_from(Ok((Some(0), out(long, "")))).unwrap_err();
        assert!(e.message.contains("cut off"), "{}", e.message);
        let e = zfs_members_from(Ok((Some(1), out(String::new(), "internal error: out of memory")))).unwrap_err();
        assert!(e.message.contains("status 1") && e.message.contains("out of memory"), "{}", e.message);
        assert!(zfs_members_from(Ok((None, out(status(1), "")))).is_err());
        assert!(zfs_members_from(Err(WireError::internal("timed out"))).is_err());
    }
}
