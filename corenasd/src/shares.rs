//! Shares: the stored definitions (the desired state), the policy a share must pass, and the
//! helper operations that make it real. The database is the truth: every change renders the
//! whole set again, so a crash between the helper's write and the database's is repaired by the
//! next change or by `share apply`.

use crate::daemon::Daemon;
use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::acl::AclEntry;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::names::{ShareName, StoragePath};
use corenas_proto::shares::{
    AccessTemplate, FileMode, ShareConfig, ShareCreate, ShareDef, ShareInfo, ShareModify, ShareSet,
};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, OptionalExtension, params};

const HOMES_KEY: &str = "shares.homes";
/// More shares than this is a mistake or an attack on the renderer, not a NAS.
pub const MAX_SHARES: usize = 5000;

fn corrupt(what: String) -> StateError {
    StateError::Corrupt { detail: what }
}

fn row_info(
    name: String,
    def: String,
    access: Option<String>,
    created: String,
    modified: String,
) -> Result<ShareInfo, StateError> {
    let def: ShareDef =
        serde_json::from_str(&def).map_err(|e| corrupt(format!("share {name}: stored definition unreadable: {e}")))?;
    let access = match access {
        Some(a) => Some(
            serde_json::from_str(&a).map_err(|e| corrupt(format!("share {name}: stored access unreadable: {e}")))?,
        ),
        None => None,
    };
    Ok(ShareInfo { def, access, created, modified })
}

pub fn list(conn: &Connection) -> Result<Vec<ShareInfo>, StateError> {
    let mut stmt = conn
        .prepare("SELECT name, def, access, created, modified FROM shares ORDER BY name")
        .map_err(sql("listing shares"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(sql("listing shares"))?;
    let mut out = Vec::new();
    for row in rows {
        let (n, d, a, c, m) = row.map_err(sql("reading a share"))?;
        out.push(row_info(n, d, a, c, m)?);
    }
    Ok(out)
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<ShareInfo>, StateError> {
    let row: Option<(String, String, Option<String>, String, String)> = conn
        .query_row("SELECT name, def, access, created, modified FROM shares WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
        .map_err(sql("reading a share"))?;
    row.map(|(n, d, a, c, m)| row_info(n, d, a, c, m)).transpose()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v).map_err(|e| corrupt(format!("cannot encode: {e}")))
}

pub fn save(conn: &Connection, def: &ShareDef, access: Option<&AccessTemplate>) -> Result<(), StateError> {
    let now = now_rfc3339()?;
    conn.execute(
        "INSERT INTO shares(name, def, access, created, modified) VALUES(?1, ?2, ?3, ?4, ?4)
         ON CONFLICT(name) DO UPDATE SET def = excluded.def, access = excluded.access, modified = excluded.modified",
        params![def.name.as_str(), to_json(def)?, access.map(to_json).transpose()?, now],
    )
    .map_err(sql("saving a share"))?;
    Ok(())
}

pub fn remove(conn: &Connection, name: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM shares WHERE name = ?1", [name]).map_err(sql("deleting a share"))?;
    Ok(())
}

fn homes(conn: &Connection) -> Result<bool, StateError> {
    Ok(crate::state::setting(conn, HOMES_KEY)?.as_deref() == Some("1"))
}

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

fn entries(text: &[&str]) -> Result<Vec<AclEntry>, WireError> {
    text.iter()
        .map(|t| t.parse::<AclEntry>().map_err(|e| WireError::internal(format!("template ACL {t}: {}", e.message))))
        .collect()
}

/// The template as one helper operation: owner, group, mode and ACL entries of the directory.
/// Default entries make new files and directories inherit the same rights.
pub fn prepare_dir(path: &StoragePath, access: Option<&AccessTemplate>) -> Result<HelperOp, WireError> {
    let (owner, group, mode, setgid, acl) = match access {
        None => (None, None, 0o755, false, Vec::new()),
        Some(AccessTemplate::Private { user }) => {
            (Some(user.clone()), None, 0o700, false, entries(&["d:u::rwx", "d:g::---", "d:o::---"])?)
        }
        Some(AccessTemplate::GroupReadWrite { group }) => {
            let g = group.as_str();
            (
                None,
                Some(group.clone()),
                0o770,
                true,
                entries(&[&format!("g:{g}:rwx"), "d:u::rwx", "d:g::rwx", &format!("d:g:{g}:rwx"), "d:o::---"])?,
            )
        }
        Some(AccessTemplate::PublicRead { writers }) => match writers {
            Some(group) => {
                let g = group.as_str();
                (
                    None,
                    Some(group.clone()),
                    0o775,
                    true,
                    entries(&[&format!("g:{g}:rwx"), "d:u::rwx", "d:g::rwx", &format!("d:g:{g}:rwx"), "d:o::r-x"])?,
                )
            }
            None => (None, None, 0o755, false, entries(&["d:u::rwx", "d:g::r-x", "d:o::r-x"])?),
        },
    };
    Ok(HelperOp::ShareDirPrepare { path: path.clone(), owner, group, mode: FileMode::new_unchecked(mode), setgid, acl })
}

/// CoreNAS's rules for a share definition, with the warnings an admin must see.
fn check(
    shared: &Daemon,
    def: &ShareDef,
    access: Option<&AccessTemplate>,
    force: bool,
) -> Result<Vec<String>, WireError> {
    let mut warnings = Vec::new();
    if def.smb.is_none() && def.nfs.is_none() {
        return Err(WireError::invalid("protocol", "a share needs SMB, NFS or both"));
    }
    if let Some(nfs) = &def.nfs {
        if nfs.rules.is_empty() {
            return Err(WireError::invalid(
                "client",
                "an NFS share needs at least one client (address, network or host)",
            ));
        }
        if nfs.rules.len() > 64 {
            return Err(WireError::invalid("client", "at most 64 NFS clients per share"));
        }
        for r in nfs.rules.iter().filter(|r| r.no_root_squash) {
            warnings.push(format!(
                "NFS client {} of share {} is not root-squashed: root on that machine is root on the share",
                r.client, def.name
            ));
        }
    }
    if let Some(smb) = &def.smb {
        if smb.valid_users.len() + smb.valid_groups.len() + smb.admin_users.len() > 256 {
            return Err(WireError::invalid("user", "at most 256 users and groups per share"));
        }
        if smb.guest_ok {
            let world_writable = !smb.read_only;
            if world_writable && !force {
                return Err(WireError::not_allowed(format!(
                    "share {}: a writable guest share lets anyone on the network fill or wipe it; make it read-only or add --force",
                    def.name
                )));
            }
            warnings.push(format!(
                "guest access is on for share {}: anyone who reaches the server can {} it without a password (samba also needs 'map to guest = bad user' in smb.conf)",
                def.name,
                if world_writable { "read and write" } else { "read" }
            ));
        }
        if let Some(nfs) = &def.nfs {
            // One definition, the same rights both ways: both protocols end in the same POSIX
            // ACLs, so only the protocol-level switches can differ, and they must not.
            if smb.read_only {
                if let Some(r) = nfs.rules.iter().find(|r| !r.read_only) {
                    return Err(WireError::invalid(
                        "read_only",
                        format!(
                            "share {} is read-only over SMB but writable over NFS for {}; make both read-only or both writable",
                            def.name, r.client
                        ),
                    ));
                }
            }
            if !smb.admin_users.is_empty() {
                warnings.push(format!(
                    "share {}: admin users act as root over SMB only; over NFS they have their ordinary rights",
                    def.name
                ));
            }
            if (!smb.valid_users.is_empty() || !smb.valid_groups.is_empty()) && access.is_none() {
                warnings.push(format!(
                    "share {}: valid users limit SMB only; NFS access follows the directory's ACLs (use an access template so both protocols grant the same)",
                    def.name
                ));
            }
        }
    }
    // Two shares on one path must agree on the directory's rights (they are the same ACLs).
    let others = shared.with_state(|s| list(s.conn()))?;
    if others.len() >= MAX_SHARES && !others.iter().any(|o| o.def.name == def.name) {
        return Err(WireError::new(ErrorCode::OutOfRange, format!("at most {MAX_SHARES} shares")));
    }
    for o in others.iter().filter(|o| o.def.name != def.name) {
        if o.def.path == def.path && o.access.as_ref() != access {
            return Err(WireError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "share {} already serves {} with different access rules ({}); use the same access template or another path",
                    o.def.name,
                    def.path,
                    o.access.as_ref().map_or_else(|| "none".to_owned(), AccessTemplate::describe)
                ),
            ));
        }
    }
    Ok(warnings)
}

fn change<T>(dry_run: bool, steps: Vec<Step>, result: Option<T>, warnings: Vec<String>) -> Change<T> {
    Change { dry_run, steps, result, generated_password: None, warnings }
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

pub async fn create(shared: &Daemon, req: &ShareCreate, dry_run: bool) -> Result<Change<ShareInfo>, WireError> {
    let _one_at_a_time = shared.shares_lock.lock().await;
    if shared.with_state(|s| get(s.conn(), req.name.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("share {} already exists", req.name)));
    }
    let path = req.path.clone().unwrap_or_else(|| StoragePath::for_share(&req.name));
    let def = ShareDef { name: req.name.clone(), path: path.clone(), smb: req.smb.clone(), nfs: req.nfs.clone() };
    let mut warnings = check(shared, &def, req.access.as_ref(), req.force)?;
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
    let mut warnings = check(shared, &def, access.as_ref(), m.force)?;
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
        shared.with_state(|s| crate::state::set_setting(s.conn(), HOMES_KEY, if enabled { "1" } else { "0" }))?;
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
