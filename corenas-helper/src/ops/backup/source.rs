//! The source of a backup as the helper itself finds it: a btrfs pool CoreNAS mounted (by its own
//! mount unit) or one of its subvolumes, or a ZFS pool or dataset ZFS knows and mounts beneath
//! `/mnt/corenas`. Never a path from corenasd. Also where the job's snapshot lives (named from
//! the job id only) and the safe resolution of a path beneath a directory.

use crate::exec::{Invocation, Program};
use crate::ops::Ctx;
use corenas_proto::backup::{BackupJobId, RemotePath, SnapshotSource};
use corenas_proto::names::{DatasetName, PoolName};
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;
/// Every btrfs subvolume's root directory has this inode number.
const BTRFS_SUBVOL_INO: u64 = 256;
/// Where a btrfs pool keeps backup snapshots (root's, 0700), beside its datasets.
pub const BTRFS_DIR: &str = ".corenas-backup";

pub(crate) const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// A resolved source.
#[derive(Debug, Clone)]
pub enum Resolved {
    Btrfs {
        /// The pool's mount point on disk (its top-level subvolume).
        mnt: PathBuf,
        /// The subvolume to snapshot (the pool's top level or a dataset).
        subvol: PathBuf,
    },
    Zfs {
        /// `pool` or `pool/dataset`.
        name: String,
        /// Its mount point on disk.
        mnt: PathBuf,
    },
}

impl Resolved {
    pub fn snapshot_name(job: &BackupJobId) -> String {
        format!("corenas-backup-{job}")
    }

    /// The read-only snapshot's directory on disk.
    pub fn snapshot_dir(&self, job: &BackupJobId) -> PathBuf {
        match self {
            Resolved::Btrfs { mnt, .. } => mnt.join(BTRFS_DIR).join(job.as_str()),
            Resolved::Zfs { mnt, .. } => mnt.join(".zfs/snapshot").join(Self::snapshot_name(job)),
        }
    }

    /// The directory the source's own files are in (its root).
    pub fn live_dir(&self) -> &Path {
        match self {
            Resolved::Btrfs { subvol, .. } => subvol,
            Resolved::Zfs { mnt, .. } => mnt,
        }
    }
}

fn foreign(what: String) -> WireError {
    WireError::new(ErrorCode::NotAllowed, what)
}

fn pool_of(source: &SnapshotSource) -> PoolName {
    match source {
        SnapshotSource::Pool(p) => p.clone(),
        SnapshotSource::Dataset(d) => d.pool(),
    }
}

/// The btrfs mount unit CoreNAS wrote for the pool, if any (`Type=btrfs`, `Where=` its mount point).
fn btrfs_unit(ctx: &Ctx, pool: &PoolName) -> bool {
    let target = pool.mount_target();
    let unit = ctx.paths.inside(&format!("/etc/systemd/system/{}.mount", target.unit_stem()));
    let Ok(m) = std::fs::symlink_metadata(&unit) else { return false };
    let Ok(text) = std::fs::read_to_string(&unit) else { return false };
    m.file_type().is_file()
        && text.lines().any(|l| l.trim() == "Type=btrfs")
        && text.lines().any(|l| l.trim() == format!("Where={}", target.as_str()))
}

fn open_dir(path: &Path) -> Result<OwnedFd, WireError> {
    rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| WireError::not_found(format!("{}: {e}", path.display())))
}

/// Whether `fd` is the root of a btrfs subvolume.
fn is_btrfs_subvolume(fd: &OwnedFd) -> bool {
    let st = rustix::fs::fstat(fd).ok();
    let fs = rustix::fs::fstatfs(fd).ok();
    matches!((st, fs), (Some(st), Some(fs)) if st.st_ino == BTRFS_SUBVOL_INO && fs.f_type == BTRFS_SUPER_MAGIC)
}

/// Resolves the source from what the system says. btrfs is decided from files (so a dry run
/// refuses as the real run does); anything else must be a ZFS filesystem, asked of `zfs`.
pub async fn resolve(ctx: &Ctx, source: &SnapshotSource) -> Result<Resolved, WireError> {
    let pool = pool_of(source);
    let mnt = ctx.paths.inside(pool.mount_target().as_str());
    if btrfs_unit(ctx, &pool) {
        let top = open_dir(&mnt)?;
        if !is_btrfs_subvolume(&top) {
            return Err(foreign(format!("{} is not a mounted btrfs filesystem; refusing", mnt.display())));
        }
        let subvol = match source {
            SnapshotSource::Pool(_) => mnt.clone(),
            SnapshotSource::Dataset(d) => {
                let fd = rustix::fs::openat2(
                    &top,
                    d.relative(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    RESOLVE,
                )
                .map_err(|e| {
                    foreign(format!(
                        "dataset {d} cannot be opened in pool {pool}: {e} (links and other mounts are refused); refusing"
                    ))
                })?;
                if !is_btrfs_subvolume(&fd) {
                    return Err(foreign(format!("{d} is not a btrfs subvolume of pool {pool}; refusing")));
                }
                mnt.join(d.relative())
            }
        };
        return Ok(Resolved::Btrfs { mnt, subvol });
    }
    resolve_zfs(ctx, source).await
}

async fn resolve_zfs(ctx: &Ctx, source: &SnapshotSource) -> Result<Resolved, WireError> {
    let name = match source {
        SnapshotSource::Pool(p) => p.to_string(),
        SnapshotSource::Dataset(d) => d.to_string(),
    };
    let not_ours = || {
        foreign(format!(
            "{name} is neither a btrfs pool CoreNAS mounted nor a ZFS filesystem of a CoreNAS pool; refusing"
        ))
    };
    if !Program::Zfs.is_installed() {
        return Err(not_ours());
    }
    let q = Invocation::of(Program::Zfs).args(["get", "-H", "-o", "value", "type,mountpoint,mounted", "--"]).arg(&name);
    let (code, out) = crate::exec::run_raw(&q, std::time::Duration::from_secs(30)).await?;
    if code != Some(0) {
        return Err(not_ours());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let vals: Vec<&str> = text.lines().map(str::trim).collect();
    let expected = match source {
        SnapshotSource::Pool(p) => p.mount_target(),
        SnapshotSource::Dataset(d) => DatasetName::mount_target(d),
    };
    let mnt = ctx.paths.inside(expected.as_str());
    match vals.as_slice() {
        ["filesystem", mp, "yes"] if Path::new(mp) == mnt => Ok(Resolved::Zfs { name, mnt }),
        ["filesystem", mp, mounted] => Err(foreign(format!(
            "ZFS filesystem {name} is mounted at {mp} (mounted: {mounted}), not at {}; refusing",
            mnt.display()
        ))),
        _ => Err(not_ours()),
    }
}

/// Opens `sub` (plain components) beneath `dir` as a directory: no link, no other mount.
pub fn open_beneath(dir: &Path, sub: Option<&RemotePath>) -> Result<OwnedFd, WireError> {
    let base = open_dir(dir)?;
    let Some(sub) = sub else { return Ok(base) };
    let rel = sub.as_str().trim_start_matches('/');
    let refuse = |why: String| {
        let mut e = WireError::not_allowed(format!("subpath '{sub}' beneath {}: {why}; refusing", dir.display()));
        e.field = Some("subpath".into());
        e
    };
    // O_PATH|O_NOFOLLOW opens a final link as itself, so it is told apart from a non-directory.
    let fd = rustix::fs::openat2(&base, rel, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
        .map_err(|e| {
            refuse(match e {
                rustix::io::Errno::LOOP => "a symbolic link is on the way".to_owned(),
                rustix::io::Errno::XDEV => "another mount is on the way".to_owned(),
                e => e.to_string(),
            })
        })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| refuse(e.to_string()))?;
    match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Ok(fd),
        rustix::fs::FileType::Symlink => Err(refuse("it is a symbolic link".into())),
        _ => Err(refuse("it is not a directory".into())),
    }
}
