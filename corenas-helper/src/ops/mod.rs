//! The helper's operations. Each `HelperOp` is first turned into a plan (validated against the
//! system: ranges, existence, paths), and the plan is what runs; a dry run returns the same plan
//! without running it, so the two cannot drift apart.

pub mod accounts;
pub mod acl;
pub mod device;
pub mod files;
pub mod mounts;
pub mod shares;
pub mod smb;

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
}

impl Action {
    fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        match self {
            Action::Exec(c) => vec![c.step()],
            Action::ShadowHashFromPrevious { user } => {
                vec![Step::UpdateShadow { file: ctx.paths.shadow().display().to_string(), user: user.clone() }]
            }
            Action::Acl(p) => vec![p.step()],
            Action::Device(p) => vec![p.step()],
            Action::ShareDir(p) => p.steps(),
            Action::Publish(p) => p.steps(ctx),
            Action::Mount(p) => p.steps(),
            Action::ExecIfGroupExists { cmd, .. } => vec![cmd.step()],
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
        HelperOp::MountWrite { .. } | HelperOp::MountRemove { .. } | HelperOp::MountStart { .. } => {
            Ok(vec![Action::Mount(mounts::plan(ctx, op)?)])
        }
        HelperOp::SmbSetPassword { .. }
        | HelperOp::SmbEnable { .. }
        | HelperOp::SmbDisable { .. }
        | HelperOp::SmbDelete { .. } => smb::plan(ctx, op),
        _ => accounts::plan(ctx, op),
    }
}

async fn execute(ctx: &Ctx, actions: Vec<Action>) -> Result<Vec<String>, WireError> {
    let mut warnings = Vec::new();
    let mut last_stdout = Vec::new();
    for action in actions {
        match action {
            Action::Exec(cmd) => last_stdout = exec::run(&cmd).await?.stdout,
            Action::ShadowHashFromPrevious { user } => {
                let hash = String::from_utf8_lossy(&last_stdout).trim().to_owned();
                let shadow = ctx.paths.shadow();
                // Blocking file work (it may wait for the shadow lock): off the runtime thread.
                tokio::task::spawn_blocking(move || files::replace_shadow_hash(&shadow, &user, &hash))
                    .await
                    .map_err(|e| WireError::internal(format!("shadow update failed: {e}")))??;
            }
            Action::ExecIfGroupExists { group, cmd } => {
                if accounts::Accounts::load(ctx)?.group(&group).is_some() {
                    exec::run(&cmd).await?;
                }
            }
            Action::Device(p) => p.apply()?,
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
