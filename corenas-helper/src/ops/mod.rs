//! The helper's operations. Each `HelperOp` is first turned into a plan (validated against the
//! system: ranges, existence, paths), and the plan is what runs; a dry run returns the same plan
//! without running it, so the two cannot drift apart.

pub mod accounts;
pub mod acl;
pub mod backup;
pub mod config_restore;
pub mod device;
pub mod files;
pub mod login;
pub mod mounts;
pub mod shares;
pub mod smb;
pub mod storage;

use crate::exec::{self, Invocation};
use crate::paths::Paths;
use corenas_proto::WireError;
use corenas_proto::helper::{HelperOp, OpReport, Step};

pub struct Ctx {
    pub paths: Paths,
    /// Share roots as the managed system sees them (e.g. `/storage`).
    pub share_roots: Vec<String>,
    /// corenasd's uid: device read grants for imaging go to this user only.
    pub daemon_uid: Option<u32>,
    /// Lab/test only (`--systemd-reads-prefix`): the systemd in the helper's mount namespace reads
    /// the unit directories under the root prefix, so it manages the units written there.
    pub systemd_reads_prefix: bool,
    /// PAM in production, the prefix's shadow file in the lab.
    pub login_check: login::LoginCheck,
    /// Lab/CI only: mounts pools where no systemd runs (`--lab-mounts`).
    pub lab_mounter: Option<crate::lab_mounts::LabMounter>,
    /// One mutating operation at a time: the account files and samba's passdb are shared.
    pub write_lock: tokio::sync::Mutex<()>,
}

/// One thing a plan does.
pub enum Action {
    Exec(Invocation),
    /// Put the hash printed by the previous `Exec` into the shadow file for `user`.
    ShadowHashFromPrevious {
        user: String,
    },
    Acl(acl::AclPlan),
    Device(device::DevicePlan),
    ShareDir(shares::DirPlan),
    Publish(shares::PublishPlan),
    Mount(mounts::MountPlan),
    /// Run `cmd` only if `group` still exists (after a step that may have removed it).
    ExecIfGroupExists {
        group: String,
        cmd: Invocation,
    },
    /// Refuse if any of these devices is in an imported ZFS pool (zfs-fuse does not claim its
    /// devices exclusively, so only zpool can say).
    CheckNotZfsMember(Vec<device::Device>),
    /// Refuse if any device is in use now (after an unmount earlier in the plan).
    CheckFree(Vec<device::Device>),
    /// Refuse an md array or LVM group CoreNAS did not create or that backs `/` (issue 18, L9).
    CheckOwned(storage::owned::Owned),
    /// Wait (briefly) for the kernel to create a partition's device node.
    WaitForNode(std::path::PathBuf),
    /// Remove a directory if it exists and is empty (a destroyed pool's mount point).
    RemoveEmptyDir(std::path::PathBuf),
    /// Lab only (`--lab-mounts`): unmount everything mounted beneath this path, deepest first,
    /// before a tool that would unmount it itself (the sandbox forbids umount(2) to its children).
    LabUnmountBeneath(std::path::PathBuf),
    /// Run a command that fails while another process briefly holds the object ("pool is
    /// busy": any `zpool status`, ours included, takes a reference); try again for up to 5 s.
    ExecWhileBusy(Invocation),
    /// Lab only: wait until ZFS reports no dataset of this pool or dataset mounted. zfs-fuse
    /// learns of a FUSE unmount asynchronously; until then `zpool destroy` says "pool is busy".
    LabWaitZfsUnmounted(String),
    /// An ATA security erase: re-check, set the temporary password, erase, clean up on failure.
    AtaSecurityErase(storage::wipe::AtaErasePlan),
    /// Storage work that needs the system's answers while it runs (an import's datasets, btrfs
    /// subvolume ids, a just-made `.snapshots`).
    Storage(storage::pool::Checked),
    /// A command that may run long (a firmware erase), killed only after `timeout`.
    ExecLong {
        cmd: Invocation,
        timeout: std::time::Duration,
    },
    /// Long tool work as a transient systemd unit that outlives the helper (transient.rs).
    Transient(crate::transient::TransientPlan),
    /// Says something about how the plan runs (which runner), in the steps and the log only.
    Note(String),
    /// A backup's snapshot and runner, or its end (ops/backup).
    Backup(backup::Plan),
    /// Configuration restore: set a user's password field to the archived one (checked again).
    RestoreShadowHash {
        user: String,
        hash: String,
    },
    /// Configuration restore: import a user's archived passdb entry (config_restore.rs).
    RestorePassdb {
        user: String,
        uid: u32,
        entry: corenas_proto::config_backup::SmbEntry,
    },
    /// Write zeros over a byte range, through an exclusive open.
    ZeroRange {
        dev: device::Device,
        offset: u64,
        length: u64,
    },
}

impl Action {
    fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        match self {
            Action::Exec(c) => vec![c.step()],
            Action::ShadowHashFromPrevious { user } => {
                vec![Step::UpdateShadow { file: ctx.paths.shadow().display().to_string(), user: user.clone() }]
            }
            Action::RestoreShadowHash { user, .. } => {
                vec![Step::UpdateShadow { file: ctx.paths.shadow().display().to_string(), user: user.clone() }]
            }
            Action::RestorePassdb { user, .. } => config_restore::passdb_steps(ctx, user),
            Action::Acl(p) => vec![p.step()],
            Action::Device(p) => vec![p.step()],
            Action::ShareDir(p) => p.steps(),
            Action::Publish(p) => p.steps(ctx),
            Action::Mount(p) => p.steps(),
            Action::AtaSecurityErase(plan) => plan.steps(),
            Action::Transient(plan) => plan.steps(),
            Action::Backup(plan) => plan.steps(ctx),
            Action::Note(what) => vec![Step::Check { what: what.clone() }],
            Action::Storage(p) => p.steps(),
            Action::ExecIfGroupExists { cmd, .. } | Action::ExecWhileBusy(cmd) | Action::ExecLong { cmd, .. } => {
                vec![cmd.step()]
            }
            Action::CheckNotZfsMember(devs) | Action::CheckFree(devs) => {
                let what = if matches!(self, Action::CheckFree(_)) { "in use" } else { "in an imported ZFS pool" };
                let names: Vec<String> = devs.iter().map(|d| d.path.display().to_string()).collect();
                vec![Step::Check { what: format!("refuse if {what}: {}", names.join(" ")) }]
            }
            Action::CheckOwned(o) => vec![Step::Check { what: o.describe() }],
            Action::WaitForNode(p) => vec![Step::Check { what: format!("wait for {}", p.display()) }],
            Action::RemoveEmptyDir(p) => vec![Step::RemoveFile { path: p.display().to_string() }],
            Action::LabUnmountBeneath(p) if ctx.lab_mounter.is_some() => {
                vec![Step::Check { what: format!("lab: unmount everything beneath {}", p.display()) }]
            }
            Action::LabUnmountBeneath(_) | Action::LabWaitZfsUnmounted(_) => Vec::new(),
            Action::ZeroRange { dev, offset, length } => vec![Step::Exec {
                program: "(in-process, exclusive open) write zeros".into(),
                args: vec![dev.path.display().to_string(), format!("offset={offset}"), format!("length={length}")],
                stdin: corenas_proto::helper::StdinPlan::Nothing,
            }],
        }
    }
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    match op {
        HelperOp::AclSet { .. } | HelperOp::AclRemove { .. } => acl::plan(ctx, op),
        HelperOp::DeviceGrantRead { .. } | HelperOp::DeviceRevokeRead { .. } | HelperOp::DeviceEject { .. } => {
            device::plan(ctx, op)
        }
        HelperOp::ShareDirPrepare { .. } => Ok(vec![Action::ShareDir(shares::plan_dir(ctx, op)?)]),
        HelperOp::SharesPublish { set } => Ok(vec![Action::Publish(shares::plan_publish(ctx, set)?)]),
        HelperOp::MountWrite { def } => {
            mounts::check_request(ctx, def)?;
            Ok(vec![Action::Mount(mounts::plan(ctx, op)?)])
        }
        HelperOp::MountRemove { .. } | HelperOp::MountStart { .. } => Ok(vec![Action::Mount(mounts::plan(ctx, op)?)]),
        HelperOp::PoolCreate { .. }
        | HelperOp::PoolDestroy { .. }
        | HelperOp::PoolImport { .. }
        | HelperOp::PoolExport { .. }
        | HelperOp::ScrubStart { .. }
        | HelperOp::ScrubStop { .. }
        | HelperOp::DatasetCreate { .. }
        | HelperOp::DatasetDestroy { .. }
        | HelperOp::DatasetSet { .. }
        | HelperOp::SnapshotCreate { .. }
        | HelperOp::SnapshotDestroy { .. }
        | HelperOp::SnapshotRollback { .. } => storage::pool::plan(ctx, op),
        HelperOp::WipeSignatures { .. }
        | HelperOp::WipeRange { .. }
        | HelperOp::SmartSelfTest { .. }
        | HelperOp::FirmwareErase { .. } => storage::wipe::plan(ctx, op),
        HelperOp::MdCreate { .. } | HelperOp::MdMember { .. } | HelperOp::MdDestroy { .. } => {
            storage::mdadm::plan(ctx, op)
        }
        HelperOp::VgCreate { .. }
        | HelperOp::VgRemove { .. }
        | HelperOp::LvCreate { .. }
        | HelperOp::LvExtend { .. }
        | HelperOp::LvRemove { .. } => storage::lvm::plan(ctx, op),
        HelperOp::BackupRun(_) | HelperOp::BackupFinish { .. } | HelperOp::BackupRestore { .. } => {
            backup::plan(ctx, op)
        }
        HelperOp::SmbSetPassword { .. }
        | HelperOp::SmbEnable { .. }
        | HelperOp::SmbDisable { .. }
        | HelperOp::SmbDelete { .. } => smb::plan(ctx, op),
        HelperOp::UserRestore(u) => config_restore::plan(ctx, u),
        _ => accounts::plan(ctx, op),
    }
}

async fn execute(ctx: &Ctx, actions: Vec<Action>) -> Result<Vec<String>, WireError> {
    let mut warnings = Vec::new();
    let mut last_stdout = Vec::new();
    for action in actions {
        match action {
            Action::Exec(cmd) => last_stdout = exec::run(&cmd).await?.stdout,
            Action::ExecLong { cmd, timeout } => last_stdout = exec::run_with_timeout(&cmd, timeout).await?.stdout,
            Action::AtaSecurityErase(plan) => plan.run().await?,
            Action::Transient(plan) => plan.start().await?,
            Action::Backup(plan) => warnings.extend(plan.run(ctx).await?),
            Action::Note(what) => tracing::info!("{what}"),
            Action::Storage(p) => warnings.extend(p.run(ctx).await?),
            Action::ExecWhileBusy(cmd) => {
                let mut attempt = 0;
                loop {
                    match exec::run(&cmd).await {
                        Err(e) if e.message.contains("is busy") && attempt < 25 => {
                            attempt += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        r => {
                            r?;
                            break;
                        }
                    }
                }
            }
            Action::ShadowHashFromPrevious { user } => {
                let hash = String::from_utf8_lossy(&last_stdout).trim().to_owned();
                let shadow = ctx.paths.shadow();
                // Blocking file work (it may wait for the shadow lock): off the runtime thread.
                tokio::task::spawn_blocking(move || files::replace_shadow_hash(&shadow, &user, &hash))
                    .await
                    .map_err(|e| WireError::internal(format!("shadow update failed: {e}")))??;
            }
            Action::RestoreShadowHash { user, hash } => {
                let ctx_shadow = ctx.paths.shadow();
                tokio::task::spawn_blocking(move || {
                    config_restore::check_hash(&hash)?;
                    files::set_shadow_field(&ctx_shadow, &user, &hash)
                })
                .await
                .map_err(|e| WireError::internal(format!("shadow update failed: {e}")))??;
            }
            Action::RestorePassdb { user, uid, entry } => {
                config_restore::import_passdb(ctx, &user, uid, &entry).await?;
            }
            Action::ExecIfGroupExists { group, cmd } => {
                if accounts::Accounts::load(ctx)?.group(&group).is_some() {
                    exec::run(&cmd).await?;
                }
            }
            Action::Device(p) => p.apply()?,
            Action::CheckNotZfsMember(devs) => {
                let members = storage::query::zfs_members().await.map_err(|e| {
                    let names: Vec<String> = devs.iter().map(|d| d.path.display().to_string()).collect();
                    WireError::new(
                        corenas_proto::ErrorCode::Busy,
                        format!(
                            "cannot tell whether {} is in an imported ZFS pool, so it counts as in use: {}",
                            names.join(", "),
                            e.message
                        ),
                    )
                })?;
                if let Some(d) = devs.iter().find(|d| members.contains(&d.name)) {
                    return Err(WireError::new(
                        corenas_proto::ErrorCode::Busy,
                        format!("device {} is a member of an imported ZFS pool", d.path.display()),
                    ));
                }
            }
            Action::CheckOwned(o) => o.check().await?,
            Action::CheckFree(devs) => {
                for d in &devs {
                    let reasons = device::in_use(d);
                    if !reasons.is_empty() {
                        return Err(WireError::new(
                            corenas_proto::ErrorCode::Busy,
                            format!("device {} is in use: {}", d.path.display(), reasons.join("; ")),
                        ));
                    }
                }
            }
            Action::WaitForNode(p) => {
                for _ in 0..50 {
                    if p.exists() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                if !p.exists() {
                    return Err(WireError::new(
                        corenas_proto::ErrorCode::ToolFailed,
                        format!(
                            "{} did not appear after partitioning (is partition scanning on for this device?)",
                            p.display()
                        ),
                    ));
                }
            }
            Action::RemoveEmptyDir(p) => match std::fs::remove_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warnings.push(format!("{} was left in place: {e}", p.display())),
            },
            Action::LabUnmountBeneath(p) => lab_unmount_beneath(ctx, &p)?,
            Action::LabWaitZfsUnmounted(name) if ctx.lab_mounter.is_some() => {
                storage::query::wait_zfs_unmounted(&name).await?;
            }
            Action::LabWaitZfsUnmounted(_) => {}
            Action::ZeroRange { dev, offset, length } => {
                tokio::task::spawn_blocking(move || storage::wipe::zero_range(&dev, offset, length))
                    .await
                    .map_err(|e| WireError::internal(format!("wipe task failed: {e}")))??;
            }
            Action::ShareDir(p) => p.apply(ctx)?,
            Action::Publish(p) => warnings.extend(p.apply(ctx).await?),
            Action::Mount(p) => warnings.extend(p.apply(ctx).await?),
            // One path is a handful of syscalls; only a tree walk is moved off the runtime thread.
            Action::Acl(p) if !p.is_recursive() => p.apply()?,
            Action::Acl(p) => {
                tokio::task::spawn_blocking(move || p.apply())
                    .await
                    .map_err(|e| WireError::internal(format!("ACL task failed: {e}")))??;
            }
        }
    }
    Ok(warnings)
}

pub async fn perform(ctx: &Ctx, op: &HelperOp, dry_run: bool) -> Result<OpReport, WireError> {
    let _serialized = ctx.write_lock.lock().await;
    let actions = plan(ctx, op)?;
    let steps = actions.iter().flat_map(|a| a.steps(ctx)).collect();
    let warnings = if dry_run { Vec::new() } else { execute(ctx, actions).await? };
    let acl = match op {
        HelperOp::AclSet { path, .. } | HelperOp::AclRemove { path, .. } if !dry_run => Some(acl::get(ctx, path)?),
        _ => None,
    };
    Ok(OpReport { op: op.name().to_owned(), dry_run, steps, acl, warnings })
}

/// Lab only: unmounts everything at or beneath `base`, deepest first (`Action::LabUnmountBeneath`,
/// and storage steps that run several tools).
pub(crate) fn lab_unmount_beneath(ctx: &Ctx, base: &std::path::Path) -> Result<(), WireError> {
    let Some(m) = &ctx.lab_mounter else { return Ok(()) };
    let base = base.to_string_lossy().into_owned();
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|t| *t == base || t.starts_with(&format!("{base}/")))
        .collect();
    points.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in points {
        m.unmount(std::path::Path::new(&t))?;
    }
    Ok(())
}
