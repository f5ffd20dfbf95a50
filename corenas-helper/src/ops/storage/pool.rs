//! Pools, datasets, snapshots and scrub for ZFS, btrfs and single disks: plans built from typed
//! values. Every device is resolved and checked free here; every path under a pool's mount point
//! is built from validated names and checked for symbolic links before a tool gets it.

use super::super::device::{self, Device};
use super::super::{Action, Ctx, mounts};
use crate::exec::{Invocation, Program};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::mounts::{LocalFs, MountDef, MountFlag, MountSource};
use corenas_proto::names::{DatasetName, DevicePath, MountTarget, PoolName, SnapshotName};
use corenas_proto::storage::{Backend, Compression, DiskFs, PoolLayout, PoolSpec, ZfsLayout};
use corenas_proto::{ErrorCode, WireError};
use std::path::{Path, PathBuf};

/// systemd's wait for a pool's devices at boot.
const MOUNT_TIMEOUT_SECS: u16 = 90;

fn exec(program: Program, args: Vec<String>) -> Action {
    Action::Exec(Invocation::of(program).args(args))
}

fn unsupported(backend: Backend, what: &str) -> WireError {
    WireError::new(ErrorCode::InvalidInput, format!("{what} is not available for {backend} pools"))
}

/// Resolves each device and refuses any that is in use (mounted, held, swap, the system disk).
/// ZFS membership is checked again when the plan runs (it needs zpool).
pub fn free_devices(devices: &[DevicePath]) -> Result<Vec<Device>, WireError> {
    devices
        .iter()
        .map(|d| {
            let dev = device::resolve(d)?;
            let reasons = device::in_use(&dev);
            if reasons.is_empty() {
                Ok(dev)
            } else {
                Err(WireError::new(ErrorCode::Busy, format!("device {d} is in use: {}", reasons.join("; "))))
            }
        })
        .collect()
}

fn node(d: &Device) -> String {
    d.path.display().to_string()
}

/// The pool's mount point as the managed system sees it and on disk (under the lab prefix).
fn mount_point(ctx: &Ctx, pool: &PoolName) -> (String, PathBuf) {
    let t = pool.mount_target();
    (t.as_str().to_owned(), ctx.paths.inside(t.as_str()))
}

/// `/mnt/corenas/<pool>/<rel>` on disk, refusing a symbolic link or non-directory on the way
/// (share users may write beneath a pool; a planted link must not redirect a root tool).
fn dataset_path(ctx: &Ctx, ds: &DatasetName, extra: &[&str]) -> Result<PathBuf, WireError> {
    let (_, mut p) = mount_point(ctx, &ds.pool());
    let parts: Vec<&str> = ds.relative().split('/').chain(extra.iter().copied()).collect();
    let last = parts.len() - 1;
    for (i, c) in parts.iter().enumerate() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(WireError::not_allowed(format!("{} is a symbolic link; refusing", p.display())));
            }
            Ok(m) if !m.is_dir() => {
                return Err(WireError::invalid("dataset", format!("{} is not a directory", p.display())));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && i == last => {}
            Err(e) => return Err(WireError::not_found(format!("{}: {e}", p.display()))),
        }
    }
    Ok(p)
}

fn partition_of(d: &Device, n: u32) -> PathBuf {
    let sep = if d.name.ends_with(|c: char| c.is_ascii_digit()) { "p" } else { "" };
    PathBuf::from(format!("/dev/{}{sep}{n}", d.name))
}

fn pool_mount_def(pool: &PoolName, device: &Path, fs: LocalFs) -> Result<MountDef, WireError> {
    let device: DevicePath = device.display().to_string().parse().map_err(WireError::from)?;
    Ok(MountDef {
        source: MountSource::Local { device, fs },
        target: pool.mount_target(),
        // The renderer forces these too; said here so a reader of this plan sees them.
        flags: vec![MountFlag::NoSuid, MountFlag::NoDev],
        automount: false,
        temporary: false,
        timeout_secs: MOUNT_TIMEOUT_SECS,
    })
}

/// OpenZFS (a kernel module), not zfs-fuse. OpenZFS datasets are created `canmount=noauto` and
/// mounted by systemd units (`MountSource::Zfs`): the helper may not mount (landlock), and a
/// mount made in its namespace would not be the host's. zfs-fuse's daemon mounts them itself.
fn openzfs() -> bool {
    Path::new("/sys/module/zfs").exists()
}

fn zfs_mount_def(pool: &PoolName, dataset: Option<&DatasetName>) -> MountDef {
    MountDef {
        source: MountSource::Zfs { pool: pool.clone(), dataset: dataset.cloned() },
        target: dataset.map_or_else(|| pool.mount_target(), DatasetName::mount_target),
        flags: vec![MountFlag::NoSuid, MountFlag::NoDev],
        automount: false,
        temporary: false,
        timeout_secs: MOUNT_TIMEOUT_SECS,
    }
}

/// The ZFS mount units CoreNAS wrote for `base` (a pool's or dataset's mount point) and for
/// everything beneath it, deepest first: what must be unmounted before a destroy or an export.
fn zfs_units_beneath(ctx: &Ctx, base: &MountTarget) -> Vec<MountDef> {
    let stem = base.unit_stem();
    let mut defs = Vec::new();
    for e in std::fs::read_dir(ctx.paths.inside("/etc/systemd/system")).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(s) = name.strip_suffix(".mount") else { continue };
        if s != stem && !s.starts_with(&format!("{stem}-")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(str::to_owned);
        if field("Type=").as_deref() != Some("zfs") {
            continue;
        }
        let Some(what) = field("What=") else { continue };
        let parsed = match what.split_once('/') {
            None => what.parse::<PoolName>().ok().map(|p| zfs_mount_def(&p, None)),
            Some(_) => what.parse::<DatasetName>().ok().map(|d| zfs_mount_def(&d.pool(), Some(&d))),
        };
        defs.extend(parsed.filter(|d| field("Where=").as_deref() == Some(d.target.as_str())));
    }
    defs.sort_by_key(|d| std::cmp::Reverse(d.target.as_str().len()));
    defs
}

/// Stop and remove those units (OpenZFS only; zfs-fuse has none).
fn unmount_zfs_beneath(ctx: &Ctx, base: &MountTarget) -> Result<Vec<Action>, WireError> {
    zfs_units_beneath(ctx, base)
        .into_iter()
        .map(|def| Ok(Action::Mount(mounts::plan(ctx, &HelperOp::MountRemove { def })?)))
        .collect()
}

fn create(ctx: &Ctx, spec: &PoolSpec) -> Result<Vec<Action>, WireError> {
    spec.validate()?;
    let devs = free_devices(&spec.devices)?;
    let nodes: Vec<String> = devs.iter().map(node).collect();
    let (_, mnt) = mount_point(ctx, &spec.name);
    refuse_non_empty(&mnt)?;
    let mut actions = vec![Action::CheckNotZfsMember(devs.clone())];
    // A disk becoming a pool member loses any imaging read grant corenasd's user still has.
    actions.extend(device::strip_daemon_read(ctx, &devs));
    match &spec.layout {
        PoolLayout::Zfs { layout, ashift, properties } => {
            let mut a = vec!["create".to_owned()];
            if spec.force {
                a.push("-f".into());
            }
            if let Some(s) = ashift {
                a.extend(["-o".into(), format!("ashift={s}")]);
            }
            for p in properties {
                a.extend(["-O".into(), p.assignment()]);
            }
            // No setuid binary or device node on a pool works (the admin cannot turn them on:
            // ZfsProperty offers neither); datasets inherit these.
            a.extend(["-O", "setuid=off", "-O", "devices=off"].map(str::to_owned));
            let open = openzfs();
            // OpenZFS: `zpool create` mounts the new root dataset itself even when it is
            // canmount=noauto, unless it has no mount point yet; it gets one right after.
            let m = if open { "none".to_owned() } else { mnt.display().to_string() };
            if open {
                a.extend(["-O".into(), "canmount=noauto".into()]);
            }
            a.extend(["-m".into(), m, "--".into(), spec.name.to_string()]);
            if *layout != ZfsLayout::Stripe {
                a.push(layout.as_str().to_owned());
            }
            a.extend(nodes);
            actions.push(exec(Program::Zpool, a));
            if open {
                // Not mounted by this (noauto, and not mounted before); datasets inherit it.
                let set = format!("mountpoint={}", mnt.display());
                actions.push(exec(Program::Zfs, vec!["set".into(), set, spec.name.to_string()]));
                let def = zfs_mount_def(&spec.name, None);
                actions.push(Action::Mount(mounts::plan(ctx, &HelperOp::MountWrite { def })?));
            }
        }
        PoolLayout::Btrfs { data, metadata, compression } => {
            let mut a = vec!["-L".to_owned(), spec.name.to_string(), "-d".into(), data.to_string()];
            a.extend(["-m".into(), metadata.to_string()]);
            if spec.force {
                a.push("-f".into());
            }
            a.push("--".into());
            a.extend(nodes.iter().cloned());
            actions.push(exec(Program::MkfsBtrfs, a));
            let def = pool_mount_def(&spec.name, &devs[0].path, LocalFs::Btrfs)?;
            actions.push(Action::Mount(mounts::plan(ctx, &HelperOp::MountWrite { def })?));
            if let Some(c) = compression.filter(|c| *c != Compression::Off) {
                let a = ["property", "set", "--"].map(str::to_owned).into_iter().chain([
                    mnt.display().to_string(),
                    "compression".into(),
                    c.to_string(),
                ]);
                actions.push(exec(Program::Btrfs, a.collect()));
            }
        }
        PoolLayout::Single { fs } => {
            let d = &devs[0];
            let part = partition_of(d, 1);
            let wipe = if spec.force { "--zap-all" } else { "--clear" };
            actions.push(exec(Program::Sgdisk, vec![wipe.into(), "--".into(), node(d)]));
            actions.push(exec(
                Program::Sgdisk,
                vec![
                    "--new=1:0:0".into(),
                    "--typecode=1:8300".into(),
                    format!("--change-name=1:corenas-{}", spec.name),
                    "--".into(),
                    node(d),
                ],
            ));
            // sgdisk asks the kernel to re-read the table; where that is not enough (loop devices
            // on some kernels report success and add nothing), partx adds what is missing.
            actions.push(exec(Program::Partx, vec!["--update".into(), "--".into(), node(d)]));
            actions.push(Action::WaitForNode(part.clone()));
            // Labels: ext4 takes 16 bytes, xfs 12; a longer pool name goes without a label.
            let (program, mut a, max_label, local) = match fs {
                DiskFs::Ext4 => (Program::MkfsExt4, vec!["-q".to_owned()], 16, LocalFs::Ext4),
                DiskFs::Xfs => (Program::MkfsXfs, vec!["-q".to_owned(), "-f".to_owned()], 12, LocalFs::Xfs),
            };
            if spec.name.as_str().len() <= max_label {
                a.extend(["-L".into(), spec.name.to_string()]);
            }
            a.extend(["--".into(), part.display().to_string()]);
            actions.push(exec(program, a));
            let def = pool_mount_def(&spec.name, &part, local)?;
            actions.push(Action::Mount(mounts::plan(ctx, &HelperOp::MountWrite { def })?));
        }
    }
    Ok(actions)
}

fn destroy(ctx: &Ctx, name: &PoolName, backend: Backend, devices: &[DevicePath]) -> Result<Vec<Action>, WireError> {
    match backend {
        Backend::Zfs => {
            let mut actions = unmount_zfs_beneath(ctx, &name.mount_target())?;
            actions.extend([
                Action::LabUnmountBeneath(mount_point(ctx, name).1),
                Action::LabWaitZfsUnmounted(name.to_string()),
                Action::ExecWhileBusy(Invocation::of(Program::Zpool).args(["destroy", "--", name.as_str()])),
            ]);
            if openzfs() {
                actions.push(Action::RemoveEmptyDir(mount_point(ctx, name).1));
            }
            Ok(actions)
        }
        Backend::Btrfs | Backend::Single => {
            let devs = devices.iter().map(device::resolve).collect::<Result<Vec<_>, _>>()?;
            let fs = if backend == Backend::Btrfs { LocalFs::Btrfs } else { LocalFs::Ext4 };
            let first = devs.first().ok_or_else(|| WireError::invalid("devices", "the pool's devices are needed"))?;
            let source = if backend == Backend::Single { partition_of(first, 1) } else { first.path.clone() };
            let def = pool_mount_def(name, &source, fs)?;
            let mut actions = vec![Action::Mount(mounts::plan(ctx, &HelperOp::MountRemove { def })?)];
            actions.push(Action::CheckFree(devs.clone()));
            let mut targets: Vec<String> = Vec::new();
            if backend == Backend::Single && source.exists() {
                targets.push(source.display().to_string());
            }
            targets.extend(devs.iter().map(node));
            actions.push(exec(Program::Wipefs, ["-a".to_owned(), "--".into()].into_iter().chain(targets).collect()));
            actions.push(Action::RemoveEmptyDir(mount_point(ctx, name).1));
            Ok(actions)
        }
        Backend::Lvm | Backend::Mdadm => Err(unsupported(backend, "destroy through this operation")),
    }
}

fn scrub(ctx: &Ctx, name: &PoolName, backend: Backend, start: bool) -> Result<Vec<Action>, WireError> {
    match backend {
        Backend::Zfs => {
            let mut a = vec!["scrub".to_owned()];
            if !start {
                a.push("-s".into());
            }
            a.extend(["--".into(), name.to_string()]);
            Ok(vec![exec(Program::Zpool, a)])
        }
        Backend::Btrfs if start => {
            let (_, mnt) = mount_point(ctx, name);
            let mnt = mnt.display().to_string();
            // The kernel scrubs while a btrfs process waits in the scrub ioctl (and writes the
            // progress `scrub status` reads). Under systemd that process runs in a transient
            // unit of its own, so the helper's idle exit (its unit's stop kills its cgroup)
            // does not abort the scrub; elsewhere `scrub start` forks it itself, detached.
            if crate::transient::systemd_is_pid1() {
                let work = Invocation::of(Program::Btrfs).args(["scrub", "start", "-B", "--", &mnt]);
                let sandbox = crate::transient::Sandbox {
                    // The scrub ioctl; the devices are read by the kernel, not by the tool.
                    capabilities: vec!["CAP_SYS_ADMIN"],
                    read_write: vec![mnt],
                    // /var/lib/btrfs: the scrub's status file and progress socket.
                    state_directory: Some("btrfs"),
                    devices: Vec::new(),
                    ..Default::default()
                };
                let target = crate::transient::Target::Pool(name);
                let plan = crate::transient::plan(crate::transient::Kind::Scrub, target, &work, &sandbox)?;
                Ok(vec![Action::Transient(plan)])
            } else {
                Ok(vec![
                    Action::Note("runner: a detached process (no systemd as PID 1 here)".into()),
                    exec(Program::Btrfs, vec!["scrub".into(), "start".into(), "--".into(), mnt]),
                ])
            }
        }
        // Cancelling through the kernel ends the scrub whichever process waits for it; the
        // unit's btrfs then exits and the unit ends.
        Backend::Btrfs => {
            let (_, mnt) = mount_point(ctx, name);
            Ok(vec![exec(
                Program::Btrfs,
                vec!["scrub".into(), "cancel".into(), "--".into(), mnt.display().to_string()],
            )])
        }
        _ => Err(unsupported(backend, "scrub")),
    }
}

fn snapshot_path(ctx: &Ctx, ds: &DatasetName, snap: &SnapshotName) -> Result<(PathBuf, PathBuf), WireError> {
    let dir = dataset_path(ctx, ds, &[".snapshots"])?;
    check_snapshots_dir(&dir)?;
    Ok((dir.clone(), dir.join(snap.as_str())))
}

/// A btrfs dataset's `.snapshots` must be a real directory only root can change (issue 18 M1):
/// a share user who owns it can rename snapshots away and plant links or fake "Previous
/// Versions". Missing is fine (no snapshot yet; it is created root-owned when needed).
pub fn check_snapshots_dir(dir: &Path) -> Result<(), WireError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WireError::not_found(format!("{}: {e}", dir.display()))),
        Ok(m) if m.is_dir() && !m.file_type().is_symlink() && m.uid() == 0 && m.mode() & 0o022 == 0 => Ok(()),
        Ok(m) => Err(WireError::not_allowed(format!(
            "{} is not a directory owned and writable only by root (owner uid {}, mode {:o}); refusing to work \
             with snapshots there. Check what is in it, then make it root:root 0755",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        ))),
    }
}

/// Work a storage plan can only do with the system's answer at run time: the datasets of a pool
/// being imported, the ids btrfs gives its subvolumes, a `.snapshots` made just before use.
pub enum Checked {
    Import(ImportPlan),
    /// Delete btrfs subvolumes found by btrfs's own list (never by following a path).
    BtrfsDelete(BtrfsDelete),
    /// Create `.snapshots` root-owned 0755 if missing, then refuse unless it is (checked again
    /// right before the snapshot, not only when planning).
    SnapshotsDir(PathBuf),
}

impl Checked {
    pub fn steps(&self) -> Vec<Step> {
        let check = |what: String| vec![Step::Check { what }];
        match self {
            Checked::Import(p) => p.steps(),
            Checked::BtrfsDelete(d) => {
                let what = match &d.snapshot {
                    Some(s) => format!("the snapshot subvolume {}/.snapshots/{s}", d.dataset),
                    None if d.recursive => format!("the snapshot subvolumes in {0}/.snapshots, then {0}", d.dataset),
                    None => format!("the subvolume {}", d.dataset),
                };
                check(format!(
                    "btrfs subvolume delete --subvolid <id> {}: {what}, by the id btrfs lists",
                    d.mnt.display()
                ))
            }
            Checked::SnapshotsDir(p) => vec![Step::PrepareDir {
                path: p.display().to_string(),
                owner: "root".into(),
                group: "root".into(),
                mode: "0755".into(),
            }],
        }
    }

    pub async fn run(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        match self {
            Checked::Import(p) => p.run(ctx).await,
            Checked::BtrfsDelete(d) => d.run().await.map(|()| Vec::new()),
            Checked::SnapshotsDir(p) => {
                use std::os::unix::fs::DirBuilderExt;
                match std::fs::DirBuilder::new().mode(0o755).create(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(WireError::internal(format!("cannot create {}: {e}", p.display()))),
                }
                // A residual race remains for the snapshot's creation only (a user who may write
                // the dataset's root can rename this directory and put a link in its place
                // between this check and btrfs's realpath()): it can only place a new read-only
                // snapshot elsewhere, never delete; deletes go by subvolume id.
                check_snapshots_dir(&p)?;
                Ok(Vec::new())
            }
        }
    }
}

/// Subvolume ids and paths (relative to the pool's top level) from `btrfs subvolume list`.
fn subvolumes(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .filter_map(|l| {
            let (head, path) = l.split_once(" path ")?;
            let id = head.strip_prefix("ID ")?.split_whitespace().next()?.parse().ok()?;
            Some((id, path.to_owned()))
        })
        .collect()
}

pub struct BtrfsDelete {
    /// The pool's mount point (its top-level subvolume).
    mnt: PathBuf,
    dataset: DatasetName,
    snapshot: Option<SnapshotName>,
    recursive: bool,
}

impl BtrfsDelete {
    /// `btrfs subvolume delete <path>` resolves links in its argument (realpath, then the ioctl
    /// on the parent), so a link planted in `.snapshots` deletes whatever it points at. Instead
    /// the ids come from btrfs's own list of this pool's subvolumes, where a path is where the
    /// subvolume really is (a link or plain directory is never listed), and the delete is by id
    /// on this pool's mount. Ids are never reused while mounted, so a rename in between cannot
    /// redirect the delete to another subvolume.
    async fn run(self) -> Result<(), WireError> {
        let mnt = self.mnt.display().to_string();
        let list = Invocation::of(Program::Btrfs).args(["subvolume", "list", "--"]).arg(mnt.clone());
        let listed = subvolumes(&String::from_utf8_lossy(&crate::exec::run(&list).await?.stdout));
        let rel = self.dataset.relative();
        let find = |path: &str| listed.iter().find(|(_, p)| p == path).map(|(id, _)| *id);
        let mut ids = Vec::new();
        match &self.snapshot {
            Some(s) => ids.push(find(&format!("{rel}/.snapshots/{s}")).ok_or_else(|| {
                WireError::not_found(format!("{}/.snapshots/{s} is not a snapshot subvolume of {}", self.dataset, mnt))
            })?),
            None => {
                let prefix = format!("{rel}/.snapshots/");
                let snaps: Vec<u64> = listed
                    .iter()
                    .filter(|(_, p)| p.strip_prefix(&prefix).is_some_and(|n| !n.contains('/')))
                    .map(|(id, _)| *id)
                    .collect();
                if !self.recursive && !snaps.is_empty() {
                    return Err(WireError::new(
                        ErrorCode::InvalidState,
                        format!("{} has snapshots; destroy them first or destroy recursively", self.dataset),
                    ));
                }
                ids.extend(snaps);
                ids.push(
                    find(rel)
                        .ok_or_else(|| WireError::not_found(format!("{} is not a subvolume of {mnt}", self.dataset)))?,
                );
            }
        }
        for id in ids {
            let del = Invocation::of(Program::Btrfs).args(["subvolume", "delete", "--subvolid"]).arg(id.to_string());
            crate::exec::run(&del.arg(mnt.clone())).await?;
        }
        Ok(())
    }
}

/// Importing a pool made elsewhere (issue 18 M5): its stored properties are the attacker's if
/// the disk is, e.g. `mountpoint=/etc/cron.d`, `setuid=on`, `canmount=on`, and a plain import
/// would mount it there now and, from the cache file, at every boot.
pub struct ImportPlan {
    name: PoolName,
    /// `/mnt/corenas/<name>` (on disk, under the lab prefix).
    mnt: PathBuf,
    /// `/mnt/corenas/.import-<name>`: pool names cannot start with '.', so never a pool's.
    altroot: PathBuf,
    openzfs: bool,
}

impl ImportPlan {
    fn first_import(&self) -> Invocation {
        // -R: every mount point is taken relative to the altroot, so whatever the pool says, its
        // mounts stay beneath it; cachefile=none: not remembered for the next boot. zfs-fuse has
        // no -N (it always mounts), so it mounts there; OpenZFS mounts nothing.
        let mut a = vec!["import".to_owned()];
        if self.openzfs {
            a.push("-N".into());
        }
        a.extend(["-o".into(), "cachefile=none".into(), "-R".into(), self.altroot.display().to_string()]);
        a.extend(["--".into(), self.name.to_string()]);
        Invocation::of(Program::Zpool).args(a)
    }

    fn final_import(&self) -> Invocation {
        let mut a = vec!["import".to_owned()];
        if self.openzfs {
            a.push("-N".into());
        }
        Invocation::of(Program::Zpool).args(a).args(["--", self.name.as_str()])
    }

    fn steps(&self) -> Vec<Step> {
        let n = &self.name;
        let mut s = vec![self.first_import().step()];
        s.push(Step::Check {
            what: format!(
                "on every filesystem of {n}: zfs set setuid=off, devices=off, canmount=noauto; \
                 zfs set mountpoint={} {n}; zfs inherit mountpoint on the others",
                self.mnt.display()
            ),
        });
        s.push(Invocation::of(Program::Zpool).args(["export", "--", n.as_str()]).step());
        s.push(self.final_import().step());
        s.push(Step::Check {
            what: if self.openzfs {
                format!("write and start a mount unit for every filesystem of {n}")
            } else {
                format!("zfs mount every filesystem of {n} not yet mounted")
            },
        });
        s.push(Step::RemoveFile { path: self.altroot.display().to_string() });
        s
    }

    async fn filesystems(&self) -> Result<Vec<String>, WireError> {
        let cmd = Invocation::of(Program::Zfs).args([
            "list",
            "-H",
            "-r",
            "-o",
            "name",
            "-t",
            "filesystem",
            self.name.as_str(),
        ]);
        let out = String::from_utf8_lossy(&crate::exec::run(&cmd).await?.stdout).into_owned();
        let n = self.name.as_str();
        // A crafted pool may hold names CoreNAS would not create; they are only ever one argv
        // item after the pool's own prefix (never an option), so they are still handled.
        Ok(out.lines().filter(|l| *l == n || l.starts_with(&format!("{n}/"))).map(str::to_owned).collect())
    }

    async fn zfs(&self, args: &[&str]) -> Result<(), WireError> {
        crate::exec::run(&Invocation::of(Program::Zfs).args(args.iter().copied())).await.map(|_| ())
    }

    /// Stored in the pool, so they hold at every later import and boot. One property per call
    /// (zfs-fuse); canmount is not inherited, so it is set on each filesystem.
    async fn sanitize(&self, ctx: &Ctx) -> Result<(), WireError> {
        let all = self.filesystems().await?;
        for fs in &all {
            for p in ["setuid=off", "devices=off", "canmount=noauto"] {
                self.zfs(&["set", p, fs]).await?;
            }
        }
        // zfs-fuse mounted everything under the altroot, and a new mount point remounts (an
        // umount the sandbox forbids to the tools): unmount first, as the export op does.
        // Unmounted and noauto, nothing mounts again until the final import.
        crate::ops::lab_unmount_beneath(ctx, &self.altroot)?;
        if ctx.lab_mounter.is_some() {
            super::query::wait_zfs_unmounted(self.name.as_str()).await?;
        }
        let root_mp = format!("mountpoint={}", self.mnt.display());
        self.zfs(&["set", &root_mp, self.name.as_str()]).await?;
        for fs in all.iter().filter(|f| *f != self.name.as_str()) {
            self.zfs(&["inherit", "mountpoint", fs]).await?;
        }
        export_while_busy(&self.name).await
    }

    async fn run(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        refuse_non_empty(&self.mnt)?;
        remove_empty_tree(&self.altroot);
        if self.altroot.exists() {
            return Err(WireError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "{} is left from an earlier import and is not empty; look at it, then remove it",
                    self.altroot.display()
                ),
            ));
        }
        crate::exec::run(&self.first_import()).await?;
        if let Err(e) = self.sanitize(ctx).await {
            // Leave it exported rather than imported with the pool's own properties (it is only
            // beneath the altroot and not cached, but an admin must see the failure).
            let _ = crate::ops::lab_unmount_beneath(ctx, &self.altroot);
            let _ = export_while_busy(&self.name).await;
            return Err(e);
        }
        // The first import leaves its mount points behind; a later import under the same
        // altroot would fail "directory is not empty" on them.
        remove_empty_tree(&self.altroot);
        let mut warnings = Vec::new();
        if self.altroot.exists() {
            warnings.push(format!("{} was left in place (not empty)", self.altroot.display()));
        }
        crate::exec::run(&self.final_import()).await?;
        // Mounted as CoreNAS mounts the pools it creates: OpenZFS by systemd units (the helper
        // may not mount), zfs-fuse by its daemon. Nothing mounts by itself at boot any more
        // (canmount=noauto): OpenZFS's units mount them; on zfs-fuse (the lab) an imported pool
        // is mounted again by importing it again.
        for fs in self.filesystems().await? {
            if self.openzfs {
                let Ok(ds) = fs.parse::<DatasetName>() else {
                    if fs == self.name.as_str() {
                        let def = zfs_mount_def(&self.name, None);
                        warnings.extend(mounts::plan(ctx, &HelperOp::MountWrite { def })?.apply(ctx).await?);
                    } else {
                        warnings.push(format!("{fs}: a name CoreNAS does not use; not mounted"));
                    }
                    continue;
                };
                let def = zfs_mount_def(&self.name, Some(&ds));
                warnings.extend(mounts::plan(ctx, &HelperOp::MountWrite { def })?.apply(ctx).await?);
            } else {
                // zfs-fuse mounts the root dataset on import even when canmount=noauto.
                let q = Invocation::of(Program::Zfs).args(["get", "-H", "-o", "value", "mounted", &fs]);
                let mounted = String::from_utf8_lossy(&crate::exec::run(&q).await?.stdout).trim() == "yes";
                if !mounted {
                    self.zfs(&["mount", &fs]).await?;
                }
            }
        }
        Ok(warnings)
    }
}

async fn export_while_busy(name: &PoolName) -> Result<(), WireError> {
    let cmd = Invocation::of(Program::Zpool).args(["export", "--", name.as_str()]);
    for _ in 0..25 {
        match crate::exec::run(&cmd).await {
            Err(e) if e.message.contains("is busy") => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            r => return r.map(|_| ()),
        }
    }
    crate::exec::run(&cmd).await.map(|_| ())
}

fn refuse_non_empty(mnt: &Path) -> Result<(), WireError> {
    if mnt.exists() && std::fs::read_dir(mnt).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(WireError::new(
            ErrorCode::AlreadyExists,
            format!("{} exists and is not empty; a pool is mounted only on an empty directory", mnt.display()),
        ));
    }
    Ok(())
}

/// Removes `dir` and the directories beneath it, deepest first, as long as each is empty; never
/// follows a link (only directories are descended into, by lstat). Leaves anything else.
fn remove_empty_tree(dir: &Path) {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        _ => return,
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    let zfs = |a: Vec<String>| Ok(vec![exec(Program::Zfs, a)]);
    match op {
        HelperOp::PoolCreate { spec } => create(ctx, spec),
        HelperOp::PoolDestroy { name, backend, devices } => destroy(ctx, name, *backend, devices),
        HelperOp::PoolImport { name } => {
            let (_, mnt) = mount_point(ctx, name);
            refuse_non_empty(&mnt)?;
            let altroot = ctx.paths.inside(&format!("/mnt/corenas/.import-{name}"));
            Ok(vec![Action::Storage(Checked::Import(ImportPlan {
                name: name.clone(),
                mnt,
                altroot,
                openzfs: openzfs(),
            }))])
        }
        HelperOp::PoolExport { name } => {
            let mut actions = unmount_zfs_beneath(ctx, &name.mount_target())?;
            actions.extend([
                Action::LabUnmountBeneath(mount_point(ctx, name).1),
                Action::LabWaitZfsUnmounted(name.to_string()),
                Action::ExecWhileBusy(Invocation::of(Program::Zpool).args(["export", "--", name.as_str()])),
            ]);
            Ok(actions)
        }
        HelperOp::ScrubStart { name, backend } => scrub(ctx, name, *backend, true),
        HelperOp::ScrubStop { name, backend } => scrub(ctx, name, *backend, false),
        HelperOp::DatasetCreate { spec, backend } => match backend {
            Backend::Zfs => {
                let mut a = vec!["create".to_owned()];
                for p in &spec.properties {
                    a.extend(["-o".into(), p.assignment()]);
                }
                // Also set here, not only inherited: the pool may be one CoreNAS imported.
                a.extend(["-o", "setuid=off", "-o", "devices=off"].map(str::to_owned));
                let open = openzfs();
                if open {
                    a.extend(["-o".into(), "canmount=noauto".into()]);
                }
                a.extend(["--".into(), spec.name.to_string()]);
                let mut actions = vec![exec(Program::Zfs, a)];
                if open {
                    let def = zfs_mount_def(&spec.name.pool(), Some(&spec.name));
                    actions.push(Action::Mount(mounts::plan(ctx, &HelperOp::MountWrite { def })?));
                }
                Ok(actions)
            }
            Backend::Btrfs => {
                if !spec.properties.is_empty() {
                    return Err(WireError::invalid("property", "btrfs subvolumes take no ZFS properties"));
                }
                let path = dataset_path(ctx, &spec.name, &[])?;
                Ok(vec![
                    exec(
                        Program::Btrfs,
                        vec!["subvolume".into(), "create".into(), "--".into(), path.display().to_string()],
                    ),
                    // Root's from the start, before any share user can make it theirs.
                    Action::Storage(Checked::SnapshotsDir(path.join(".snapshots"))),
                ])
            }
            _ => Err(unsupported(*backend, "datasets")),
        },
        HelperOp::DatasetDestroy { name, backend, recursive } => match backend {
            Backend::Zfs => {
                let mut a = vec!["destroy".to_owned()];
                if *recursive {
                    a.push("-r".into());
                }
                a.extend(["--".into(), name.to_string()]);
                let mut actions = unmount_zfs_beneath(ctx, &name.mount_target())?;
                actions.extend([
                    Action::LabUnmountBeneath(dataset_path(ctx, name, &[])?),
                    Action::LabWaitZfsUnmounted(name.to_string()),
                    Action::ExecWhileBusy(Invocation::of(Program::Zfs).args(a)),
                ]);
                Ok(actions)
            }
            Backend::Btrfs => {
                let path = dataset_path(ctx, name, &[])?;
                let snaps = path.join(".snapshots");
                check_snapshots_dir(&snaps)?;
                // Said when planning too, so a dry run refuses as the real one will.
                if !recursive && std::fs::read_dir(&snaps).is_ok_and(|mut rd| rd.next().is_some()) {
                    return Err(WireError::new(
                        ErrorCode::InvalidState,
                        format!("{name} has snapshots; destroy them first or destroy recursively"),
                    ));
                }
                Ok(vec![Action::Storage(Checked::BtrfsDelete(BtrfsDelete {
                    mnt: mount_point(ctx, &name.pool()).1,
                    dataset: name.clone(),
                    snapshot: None,
                    recursive: *recursive,
                }))])
            }
            _ => Err(unsupported(*backend, "datasets")),
        },
        HelperOp::DatasetSet { name, properties } => {
            // One property per call: zfs-fuse's `zfs set` takes one, and no `--` (the name is
            // validated and cannot start with '-').
            Ok(properties
                .iter()
                .map(|p| exec(Program::Zfs, vec!["set".into(), p.assignment(), name.to_string()]))
                .collect())
        }
        HelperOp::SnapshotCreate { dataset, snapshot, backend } => match backend {
            Backend::Zfs => zfs(vec!["snapshot".into(), "--".into(), format!("{dataset}@{snapshot}")]),
            Backend::Btrfs => {
                let source = dataset_path(ctx, dataset, &[])?;
                let (dir, target) = snapshot_path(ctx, dataset, snapshot)?;
                Ok(vec![
                    // 0755: samba's shadow_copy2 lists it for every share user.
                    Action::Storage(Checked::SnapshotsDir(dir)),
                    exec(
                        Program::Btrfs,
                        vec![
                            "subvolume".into(),
                            "snapshot".into(),
                            "-r".into(),
                            "--".into(),
                            source.display().to_string(),
                            target.display().to_string(),
                        ],
                    ),
                ])
            }
            _ => Err(unsupported(*backend, "snapshots")),
        },
        HelperOp::SnapshotDestroy { dataset, snapshot, backend } => match backend {
            Backend::Zfs => zfs(vec!["destroy".into(), "--".into(), format!("{dataset}@{snapshot}")]),
            Backend::Btrfs => {
                snapshot_path(ctx, dataset, snapshot)?;
                Ok(vec![Action::Storage(Checked::BtrfsDelete(BtrfsDelete {
                    mnt: mount_point(ctx, &dataset.pool()).1,
                    dataset: dataset.clone(),
                    snapshot: Some(snapshot.clone()),
                    recursive: false,
                }))])
            }
            _ => Err(unsupported(*backend, "snapshots")),
        },
        HelperOp::SnapshotRollback { dataset, snapshot } => {
            zfs(vec!["rollback".into(), "-r".into(), "--".into(), format!("{dataset}@{snapshot}")])
        }
        _ => Err(WireError::internal(format!("{} is not a storage operation", op.name()))),
    }
}

/// Device names a `zpool status` lists in its config sections (kernel names or paths).
pub fn zpool_members(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_config = false;
    for line in status.lines() {
        let t = line.trim();
        if t.starts_with("config:") {
            in_config = true;
            continue;
        }
        if t.starts_with("errors:") || t.starts_with("pool:") {
            in_config = false;
        }
        if !in_config || t.is_empty() || t.starts_with("NAME") {
            continue;
        }
        if let Some(first) = t.split_whitespace().next() {
            out.push(first.trim_start_matches("/dev/").to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subvolume_ids_and_real_paths_from_btrfs_list() {
        let out = "ID 256 gen 9 top level 5 path media\nID 258 gen 12 top level 256 path media/.snapshots/a b\n";
        assert_eq!(subvolumes(out), [(256, "media".to_owned()), (258, "media/.snapshots/a b".to_owned())]);
        assert!(subvolumes("garbage\nID x gen 1 top level 5 path y\n").is_empty());
    }

    #[test]
    fn members_from_zpool_status() {
        let s = "  pool: tpool\n state: ONLINE\n scrub: none requested\nconfig:\n\n\tNAME        STATE     READ WRITE CKSUM\n\ttpool       ONLINE       0     0     0\n\t  mirror-0  ONLINE       0     0     0\n\t    loop0   ONLINE       0     0     0\n\t    /dev/loop1   ONLINE       0     0     0\n\nerrors: No known data errors\n";
        let m = zpool_members(s);
        assert!(m.contains(&"loop0".to_owned()) && m.contains(&"loop1".to_owned()), "{m:?}");
    }
}
