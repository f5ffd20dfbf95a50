//! Accounts: users and groups of the host that CoreNAS manages. `plan.rs` decides (ids, names,
//! what may change) and turns a request into helper operations; `store.rs` keeps the record of
//! what CoreNAS created and the ids it retired; this file runs a request: plan, run through the
//! helper, record, answer. It takes the daemon context, never the RPC layer.

pub mod plan;
pub mod store;

use crate::daemon::Daemon;
use corenas_proto::api::{Change, GroupAdd, GroupInfo, UserAdd, UserInfo, UserMod};
use corenas_proto::helper::HelperOp;
use corenas_proto::names::{GroupName, ManagedGid, UserName};
use corenas_proto::{ErrorCode, WireError};

pub async fn add_user(
    shared: &Daemon,
    req: &UserAdd,
    channel: plan::Channel,
    dry_run: bool,
) -> Result<Change<UserInfo>, WireError> {
    if req.password.is_some() && req.generate_password {
        return Err(WireError::invalid("password", "give a password or ask for a generated one, not both"));
    }
    let generated = if req.generate_password { Some(plan::generate_password()?) } else { None };
    let password = req.password.clone().or_else(|| generated.clone());
    let h = shared.helper.connect().await?;
    let acc = h.accounts().await?;
    let retired = shared.with_state(|s| store::retired_ids(s.conn()))?;
    let op = plan::user_add_ops(&acc, req, password, &retired, channel)?;
    let HelperOp::UserCreate(new_user) = &op else {
        return Err(WireError::internal("user add planned something other than a user creation"));
    };
    let uid = new_user.uid.get();
    let steps = h.run_ops(vec![op], dry_run).await?;
    let result = if dry_run {
        None
    } else {
        shared.with_state(|s| store::record(s.conn(), req.name.as_str(), false, req.kind.as_str(), uid))?;
        plan::user_info(&h.accounts().await?, req.name.as_str())
    };
    let mut change = Change::planned(dry_run, steps, result);
    // Shown once, to the caller who asked for it; never stored.
    change.generated_password = if dry_run { None } else { generated };
    Ok(change)
}

pub async fn delete_user(
    shared: &Daemon,
    name: &UserName,
    remove_home: bool,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    let h = shared.helper.connect().await?;
    let ops = plan::user_del_ops(&h.accounts().await?, name, remove_home)?;
    let steps = h.run_ops(ops, dry_run).await?;
    if !dry_run {
        shared.with_state(|s| store::forget(s.conn(), name.as_str(), false).map(|_| ()))?;
        // A deleted account keeps no web session, key or row for a later owner of the name.
        shared.with_state(|s| crate::web::end_access(s.conn(), &shared.web, name.as_str(), true))?;
    }
    Ok(Change::planned(dry_run, steps, None))
}

pub async fn modify_user(
    shared: &Daemon,
    name: &UserName,
    m: &UserMod,
    channel: plan::Channel,
    dry_run: bool,
) -> Result<Change<UserInfo>, WireError> {
    let h = shared.helper.connect().await?;
    let ops = plan::user_mod_ops(&h.accounts().await?, name, m, channel)?;
    let steps = h.run_ops(ops, dry_run).await?;
    if m.lock == Some(true) && !dry_run {
        // Locking offboards: the web sessions and API keys end too, not only the password.
        shared.with_state(|s| crate::web::end_access(s.conn(), &shared.web, name.as_str(), false))?;
    }
    let result = if dry_run { None } else { plan::user_info(&h.accounts().await?, name.as_str()) };
    Ok(Change::planned(dry_run, steps, result))
}

pub async fn users(shared: &Daemon) -> Result<Vec<UserInfo>, WireError> {
    let h = shared.helper.connect().await?;
    Ok(plan::users(&h.accounts().await?))
}

pub async fn user(shared: &Daemon, name: &UserName) -> Result<UserInfo, WireError> {
    let h = shared.helper.connect().await?;
    let acc = h.accounts().await?;
    plan::user_info(&acc, name.as_str()).ok_or_else(|| plan::unmanaged_user(&acc, name.as_str()))
}

pub async fn add_group(shared: &Daemon, req: &GroupAdd, dry_run: bool) -> Result<Change<GroupInfo>, WireError> {
    let h = shared.helper.connect().await?;
    let acc = h.accounts().await?;
    if acc.groups.iter().any(|g| g.name == req.name.as_str()) {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("group '{}' already exists", req.name)));
    }
    let retired = shared.with_state(|s| store::retired_ids(s.conn()))?;
    let gid = plan::choose_id(&acc, req.kind, req.gid.map(ManagedGid::get), &retired, "gid")?;
    let gid = ManagedGid::try_from(gid)?;
    let steps = h.run_ops(vec![HelperOp::GroupCreate { name: req.name.clone(), gid }], dry_run).await?;
    let result = if dry_run {
        None
    } else {
        shared.with_state(|s| store::record(s.conn(), req.name.as_str(), true, req.kind.as_str(), gid.get()))?;
        plan::group_info(&h.accounts().await?, req.name.as_str())
    };
    Ok(Change::planned(dry_run, steps, result))
}

pub async fn delete_group(shared: &Daemon, name: &GroupName, dry_run: bool) -> Result<Change<()>, WireError> {
    let h = shared.helper.connect().await?;
    let steps = h.run_ops(vec![HelperOp::GroupDelete { name: name.clone() }], dry_run).await?;
    if !dry_run {
        shared.with_state(|s| store::forget(s.conn(), name.as_str(), true).map(|_| ()))?;
    }
    Ok(Change::planned(dry_run, steps, None))
}

pub async fn modify_group(
    shared: &Daemon,
    name: &GroupName,
    add: &[UserName],
    remove: &[UserName],
    dry_run: bool,
) -> Result<Change<GroupInfo>, WireError> {
    let h = shared.helper.connect().await?;
    let ops = plan::group_mod_ops(&h.accounts().await?, name, add, remove)?;
    let steps = h.run_ops(ops, dry_run).await?;
    let result = if dry_run { None } else { plan::group_info(&h.accounts().await?, name.as_str()) };
    Ok(Change::planned(dry_run, steps, result))
}

pub async fn groups(shared: &Daemon) -> Result<Vec<GroupInfo>, WireError> {
    let h = shared.helper.connect().await?;
    Ok(plan::groups(&h.accounts().await?))
}
