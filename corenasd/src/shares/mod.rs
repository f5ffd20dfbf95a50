//! Shares: the stored definitions (the desired state, `store.rs`), the policy a share must pass
//! (`policy.rs`), and here the requests that change them and the helper operations that make
//! them real. The database is the truth: every change renders the
//! whole set again, so a crash between the helper's write and the database's is repaired by the
//! next change or by `share apply`.

pub mod policy;
pub mod store;

use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::names::{ShareName, StoragePath};
use corenas_proto::shares::{ShareConfig, ShareCreate, ShareDef, ShareInfo, ShareModify, ShareSet};
use corenas_proto::{ErrorCode, WireError};
use policy::{check, check_root_squash, prepare_dir};
use store::{get, homes, list, remove, save};

/// The stored set, with `change` applied: `Some(def)` adds or replaces, `None` leaves out.
fn set_with(
    shared: &Daemon,
    name: Option<&ShareName>,
    change: Option<&ShareDef>,
    homes_override: Option<bool>,
) -> Result<ShareSet, WireError> {
    let (infos, homes) = shared.with_state(|s| Ok((list(s.conn())?, homes(s.conn())?)))?;
    let mut shares: Vec<ShareDef> = infos.into_iter().map(|i| i.def).filter(|d| Some(&d.name) != name).collect();
    if let Some(def) = change {
        shares.push(def.clone());
        shares.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(ShareSet { shares, homes: homes_override.unwrap_or(homes) })
}

fn change<T>(dry_run: bool, steps: Vec<Step>, result: Option<T>, warnings: Vec<String>) -> Change<T> {
    Change { warnings, ..Change::planned(dry_run, steps, result) }
}

async fn publish(
    shared: &Daemon,
    set: ShareSet,
    before: Vec<HelperOp>,
    dry_run: bool,
) -> Result<(Vec<Step>, Vec<String>), WireError> {
    let h = shared.helper.connect().await?;
    let mut ops = before;
    ops.push(HelperOp::SharesPublish { set });
    h.run_ops_reporting(ops, dry_run).await
}

/// `from_ctl`: the caller is on the ctl channel (root at corenas-ctl), not the web tier.
pub async fn create(
    shared: &Daemon,
    req: &ShareCreate,
    from_ctl: bool,
    dry_run: bool,
) -> Result<Change<ShareInfo>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    if shared.with_state(|s| get(s.conn(), req.name.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("share {} already exists", req.name)));
    }
    let path = req.path.clone().unwrap_or_else(|| StoragePath::for_share(&req.name));
    let def = ShareDef { name: req.name.clone(), path: path.clone(), smb: req.smb.clone(), nfs: req.nfs.clone() };
    check_root_squash(&def, None, from_ctl)?;
    let mut warnings = check(&shared.with_state(|s| list(s.conn()))?, &def, req.access.as_ref(), req.force)?;
    let set = set_with(shared, Some(&req.name), Some(&def), None)?;
    let (steps, w) = publish(shared, set, vec![prepare_dir(&path, req.access.as_ref())?], dry_run).await?;
    warnings.extend(w);
    let result = if dry_run {
        None
    } else {
        shared.with_state(|s| save(s.conn(), &def, req.access.as_ref()))?;
        shared.with_state(|s| get(s.conn(), req.name.as_str()))?
    };
    Ok(change(dry_run, steps, result, warnings))
}

pub async fn modify(
    shared: &Daemon,
    name: &ShareName,
    m: &ShareModify,
    from_ctl: bool,
    dry_run: bool,
) -> Result<Change<ShareInfo>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    let current = shared
        .with_state(|s| get(s.conn(), name.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("share {name} does not exist")))?;
    let mut def = current.def.clone();
    if let Some(smb) = &m.smb {
        def.smb = smb.clone();
    }
    if let Some(nfs) = &m.nfs {
        def.nfs = nfs.clone();
    }
    let access = m.access.clone().or(current.access.clone());
    if def == current.def && access == current.access {
        return Err(WireError::invalid("change", "nothing to change: the share already looks like that"));
    }
    check_root_squash(&def, Some(&current.def), from_ctl)?;
    let mut warnings = check(&shared.with_state(|s| list(s.conn()))?, &def, access.as_ref(), m.force)?;
    let mut before = Vec::new();
    if m.access.is_some() && m.access != current.access {
        before.push(prepare_dir(&def.path, access.as_ref())?);
        warnings.push(format!(
            "the new access rules apply to {} itself and to what is created in it from now on; existing files keep their rights (corenas-ctl acl set --recursive changes them)",
            def.path
        ));
    }
    let set = set_with(shared, Some(name), Some(&def), None)?;
    let (steps, w) = publish(shared, set, before, dry_run).await?;
    warnings.extend(w);
    let result = if dry_run {
        None
    } else {
        shared.with_state(|s| save(s.conn(), &def, access.as_ref()))?;
        shared.with_state(|s| get(s.conn(), name.as_str()))?
    };
    Ok(change(dry_run, steps, result, warnings))
}

pub async fn delete(shared: &Daemon, name: &ShareName, dry_run: bool) -> Result<Change<()>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    let current = shared
        .with_state(|s| get(s.conn(), name.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("share {name} does not exist")))?;
    let set = set_with(shared, Some(name), None, None)?;
    let (steps, mut warnings) = publish(shared, set, Vec::new(), dry_run).await?;
    if !dry_run {
        shared.with_state(|s| remove(s.conn(), name.as_str()))?;
    }
    warnings.push(format!("{} and its data were kept; only the share is gone", current.def.path));
    Ok(change(dry_run, steps, None, warnings))
}

pub async fn set_homes(shared: &Daemon, enabled: bool, dry_run: bool) -> Result<Change<bool>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    let set = set_with(shared, None, None, Some(enabled))?;
    let (steps, warnings) = publish(shared, set, Vec::new(), dry_run).await?;
    if !dry_run {
        shared.with_state(|s| store::set_homes(s.conn(), enabled))?;
    }
    Ok(change(dry_run, steps, (!dry_run).then_some(enabled), warnings))
}

pub async fn apply(shared: &Daemon, dry_run: bool) -> Result<Change<()>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    let set = set_with(shared, None, None, None)?;
    let (steps, warnings) = publish(shared, set, Vec::new(), dry_run).await?;
    Ok(change(dry_run, steps, None, warnings))
}

pub async fn config(shared: &Daemon) -> Result<ShareConfig, WireError> {
    shared.helper.connect().await?.share_config().await
}

pub fn show(shared: &Daemon, name: &ShareName) -> Result<ShareInfo, WireError> {
    shared
        .with_state(|s| get(s.conn(), name.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("share {name} does not exist")))
}
