//! Mounts: the requests that add, remove and reload mounts, and their status. systemd does the
//! mounting (the helper writes and starts the units); their state comes from systemd over D-Bus
//! (`crate::systemd::units`), not from the helper; the definitions are in `store.rs`, and
//! `watch.rs` keeps watch over permanent mounts that are down.

pub mod store;
pub mod watch;

use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::HelperOp;
use corenas_proto::mounts::{MountDef, MountInfo, MountSource, UnitState};
use corenas_proto::names::MountTarget;
use corenas_proto::{ErrorCode, WireError};
use store::{Row, get, list, record_attempt, remove, save};

fn unit_file(def: &MountDef) -> String {
    let dir = if def.temporary { "/run/systemd/system" } else { "/etc/systemd/system" };
    format!("{dir}/{}", def.unit_name())
}

fn info(row: &Row, state: Result<UnitState, String>) -> MountInfo {
    MountInfo {
        unit: row.def.unit_name(),
        unit_file: unit_file(&row.def),
        def: row.def.clone(),
        state,
        retries: row.retries,
        last_error: row.last_error.clone(),
        created: row.created.clone(),
    }
}

/// What systemd says about each row's mount unit, read unprivileged over D-Bus and cached
/// (systemd/units.rs): no helper is asked, so reading state never wakes one.
pub(crate) async fn states(shared: &Daemon, rows: &[Row]) -> Vec<Result<UnitState, String>> {
    let units: Vec<String> = rows.iter().map(|r| r.def.unit_name()).collect();
    shared.units.states(&units).await
}

pub async fn list_infos(shared: &Daemon) -> Result<Vec<MountInfo>, WireError> {
    let rows = shared.with_state(|s| list(s.conn()))?;
    let states = states(shared, &rows).await;
    Ok(rows.iter().zip(states).map(|(r, s)| info(r, s)).collect())
}

pub async fn status(shared: &Daemon, target: &MountTarget) -> Result<MountInfo, WireError> {
    let row = load(shared, target)?;
    let state = states(shared, std::slice::from_ref(&row)).await.pop().unwrap_or_else(|| Err("no answer".into()));
    Ok(info(&row, state))
}

fn load(shared: &Daemon, target: &MountTarget) -> Result<Row, WireError> {
    shared
        .with_state(|s| get(s.conn(), target.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("no mount at {target}")))
}

fn change<T>(
    dry_run: bool,
    steps: Vec<corenas_proto::helper::Step>,
    result: Option<T>,
    warnings: Vec<String>,
) -> Change<T> {
    Change { warnings, ..Change::planned(dry_run, steps, result) }
}

pub async fn add(shared: &Daemon, def: &MountDef, dry_run: bool) -> Result<Change<MountInfo>, WireError> {
    let _one_at_a_time = shared.mounts_lock.lock().await;
    corenas_proto::mounts::check_timeout(def.timeout_secs)?;
    if shared.with_state(|s| get(s.conn(), def.target.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("a mount at {} already exists", def.target)));
    }
    let mut warnings = Vec::new();
    let h = shared.helper.connect().await?;
    match &def.source {
        MountSource::Cifs { server, .. } if server.as_str().contains(':') => {
            return Err(WireError::invalid(
                "source",
                "for CIFS use a host name or an IPv4 address (mount.cifs takes IPv6 only through ip=)",
            ));
        }
        MountSource::Cifs { credentials: None, .. } => {
            warnings.push(format!(
                "{} is mounted as a guest (no user): the server decides what a guest may do",
                def.target
            ));
        }
        MountSource::Local { device, .. } => {
            // A disk that is mounted, the system disk, swap or a pool member is refused here.
            let probe = h.device_probe(device.clone()).await?;
            if !probe.in_use.is_empty() {
                return Err(WireError::new(
                    ErrorCode::Busy,
                    format!("device {device} is in use: {}", probe.in_use.join("; ")),
                ));
            }
        }
        MountSource::Zfs { .. } => {
            return Err(WireError::invalid(
                "source",
                "ZFS datasets are mounted with their pool: use `storage dataset create`, not a mount",
            ));
        }
        MountSource::Bind { source } if def.target.as_str() == source.as_str() => {
            return Err(WireError::invalid("source", "a bind mount's source and target must differ"));
        }
        _ => {}
    }
    if def.temporary {
        warnings.push(format!("{} is temporary: it is not mounted again after a reboot", def.target));
    }
    let (steps, w) = h.run_ops_reporting(vec![HelperOp::MountWrite { def: def.clone() }], dry_run).await?;
    warnings.extend(w);
    let result = if dry_run {
        None
    } else {
        shared.with_state(|s| save(s.conn(), def))?;
        Some(status(shared, &def.target).await?)
    };
    Ok(change(dry_run, steps, result, warnings))
}

pub async fn remove_mount(shared: &Daemon, target: &MountTarget, dry_run: bool) -> Result<Change<()>, WireError> {
    let _one_at_a_time = shared.mounts_lock.lock().await;
    let row = load(shared, target)?;
    let h = shared.helper.connect().await?;
    let (steps, warnings) = h.run_ops_reporting(vec![HelperOp::MountRemove { def: row.def }], dry_run).await?;
    if !dry_run {
        shared.with_state(|s| remove(s.conn(), target.as_str()))?;
    }
    Ok(change(dry_run, steps, None, warnings))
}

pub async fn reload(shared: &Daemon, dry_run: bool) -> Result<Change<Vec<MountInfo>>, WireError> {
    let _one_at_a_time = shared.mounts_lock.lock().await;
    let rows = shared.with_state(|s| list(s.conn()))?;
    let targets: Vec<MountTarget> = rows.iter().filter(|r| !r.def.temporary).map(|r| r.def.target.clone()).collect();
    if targets.is_empty() {
        return Ok(change(dry_run, Vec::new(), (!dry_run).then(Vec::new), vec!["no permanent mounts".into()]));
    }
    let h = shared.helper.connect().await?;
    let r = h.run_ops_reporting(vec![HelperOp::MountStart { targets: targets.clone() }], dry_run).await;
    if !dry_run {
        for t in &targets {
            let error = r.as_ref().err().map(|e| e.message.clone());
            shared.with_state(|s| record_attempt(s.conn(), t.as_str(), error.as_deref(), 0, None))?;
        }
    }
    let (steps, warnings) = r?;
    let result = if dry_run { None } else { Some(list_infos(shared).await?) };
    Ok(change(dry_run, steps, result, warnings))
}
