//! Mounts: stored definitions, the checks a mount must pass, and the retry policy. systemd does
//! the mounting (the helper writes and starts the units); corenasd keeps watch: a permanent
//! mount that is not active (a server that was down at boot, a disk that came late) is started
//! again after 30 s, 1, 2, 5, 10 and then every 30 minutes, each attempt audited.

use crate::audit::AuditRecord;
use crate::daemon::Daemon;
use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::api::Change;
use corenas_proto::helper::HelperOp;
use corenas_proto::mounts::{MountDef, MountInfo, MountSource, UnitState};
use corenas_proto::names::MountTarget;
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, OptionalExtension, params};
use std::time::Duration;

/// Seconds to wait before retry number `n` (0-based) of a mount that is down.
pub fn backoff(n: u32) -> u64 {
    const STEPS: [u64; 5] = [30, 60, 120, 300, 600];
    STEPS.get(n as usize).copied().unwrap_or(1800)
}

/// How often corenasd looks at the mounts (the default of the hidden `--mount-watch-secs`).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(30);

/// [`backoff`] scaled to the watch interval: as is at the default 30 s, so that tests with a
/// 1 s interval see the first retry after 1 s, then 2, 4, 10, 20 and 60 s.
fn scaled_backoff(n: u32, interval: Duration) -> i64 {
    let secs = backoff(n).saturating_mul(interval.as_secs()) / WATCH_INTERVAL.as_secs();
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

pub struct Row {
    pub def: MountDef,
    pub retries: u32,
    pub last_error: Option<String>,
    /// Unix seconds of the next retry (None: not scheduled).
    pub next_retry: Option<i64>,
    pub created: String,
}

fn decode(target: &str, def: &str) -> Result<MountDef, StateError> {
    serde_json::from_str(def)
        .map_err(|e| StateError::Corrupt { detail: format!("mount {target}: stored definition unreadable: {e}") })
}

type RawRow = (String, String, u32, Option<String>, Option<String>, String);

fn to_row(r: RawRow) -> Result<Row, StateError> {
    Ok(Row {
        def: decode(&r.0, &r.1)?,
        retries: r.2,
        last_error: r.3,
        next_retry: r.4.and_then(|t| t.parse().ok()),
        created: r.5,
    })
}

const COLUMNS: &str = "target, def, retries, last_error, next_retry, created";

pub fn list(conn: &Connection) -> Result<Vec<Row>, StateError> {
    let mut stmt =
        conn.prepare(&format!("SELECT {COLUMNS} FROM mounts ORDER BY target")).map_err(sql("listing mounts"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .map_err(sql("listing mounts"))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(to_row(r.map_err(sql("reading a mount"))?)?);
    }
    Ok(out)
}

pub fn get(conn: &Connection, target: &str) -> Result<Option<Row>, StateError> {
    let raw: Option<RawRow> = conn
        .query_row(&format!("SELECT {COLUMNS} FROM mounts WHERE target = ?1"), [target], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()
        .map_err(sql("reading a mount"))?;
    raw.map(to_row).transpose()
}

/// Stored without the CIFS password: that lives only in the helper's root-only credentials
/// file. A stored definition is never sent back to be written (MountWrite).
fn stored(def: &MountDef) -> Result<String, StateError> {
    serde_json::to_string(def).map_err(|e| StateError::Corrupt { detail: format!("cannot encode a mount: {e}") })
}

pub fn save(conn: &Connection, def: &MountDef) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO mounts(target, def, retries, created) VALUES(?1, ?2, 0, ?3)",
        params![def.target.as_str(), stored(def)?, now_rfc3339()?],
    )
    .map_err(sql("saving a mount"))?;
    Ok(())
}

pub fn remove(conn: &Connection, target: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM mounts WHERE target = ?1", [target]).map_err(sql("deleting a mount"))?;
    Ok(())
}

pub fn record_attempt(
    conn: &Connection,
    target: &str,
    error: Option<&str>,
    retries: u32,
    next: Option<i64>,
) -> Result<(), StateError> {
    conn.execute(
        "UPDATE mounts SET retries = ?2, last_error = ?3, next_retry = ?4 WHERE target = ?1",
        params![target, retries, error, next.map(|n| n.to_string())],
    )
    .map_err(sql("recording a mount attempt"))?;
    Ok(())
}

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

async fn states(shared: &Daemon, rows: &[Row]) -> Result<Vec<Result<UnitState, String>>, WireError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let h = shared.helper.connect().await?;
    let targets: Vec<MountTarget> = rows.iter().map(|r| r.def.target.clone()).collect();
    h.mount_states(targets).await
}

pub async fn list_infos(shared: &Daemon) -> Result<Vec<MountInfo>, WireError> {
    let rows = shared.with_state(|s| list(s.conn()))?;
    let states = states(shared, &rows).await?;
    Ok(rows.iter().zip(states).map(|(r, s)| info(r, s)).collect())
}

pub async fn status(shared: &Daemon, target: &MountTarget) -> Result<MountInfo, WireError> {
    let row = load(shared, target)?;
    let state = states(shared, std::slice::from_ref(&row)).await?.pop().unwrap_or_else(|| Err("no answer".into()));
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
    Change { dry_run, steps, result, generated_password: None, warnings }
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

/// Whether a permanent mount needs starting: systemd knows it and it is neither active nor on
/// its way (an automount's mount is inactive until first access: its automount unit is watched).
pub fn is_down(state: &UnitState) -> bool {
    state.load_state == "loaded" && matches!(state.active_state.as_str(), "failed" | "inactive")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One round of the retry policy (run every `interval`); returns the number of start attempts
/// made.
pub async fn watch_once(shared: &Daemon, interval: Duration) -> Result<usize, WireError> {
    let rows = shared.with_state(|s| list(s.conn()))?;
    let rows: Vec<Row> = rows.into_iter().filter(|r| !r.def.temporary && !r.def.automount).collect();
    let states = states(shared, &rows).await?;
    let now = unix_now();
    let mut attempts = 0;
    for (row, state) in rows.iter().zip(states) {
        // Err: systemd cannot say (not PID 1, or the lab); nothing to retry against.
        let Ok(state) = state else { continue };
        if !is_down(&state) {
            if row.retries > 0 || row.last_error.is_some() {
                shared.with_state(|s| record_attempt(s.conn(), row.def.target.as_str(), None, 0, None))?;
            }
            continue;
        }
        let due = row.next_retry.unwrap_or(now + scaled_backoff(0, interval));
        if row.next_retry.is_none() {
            shared.with_state(|s| {
                record_attempt(s.conn(), row.def.target.as_str(), row.last_error.as_deref(), row.retries, Some(due))
            })?;
            continue;
        }
        if due > now {
            continue;
        }
        attempts += 1;
        let h = shared.helper.connect().await?;
        let r = h.perform(HelperOp::MountStart { targets: vec![row.def.target.clone()] }, false).await;
        let (word, error) = match &r {
            Ok(_) => ("ok", None),
            Err(e) => ("failed", Some(e.message.clone())),
        };
        let retries = row.retries.saturating_add(1);
        let next = error.as_ref().map(|_| now + scaled_backoff(retries, interval));
        shared.with_state(|s| {
            record_attempt(
                s.conn(),
                row.def.target.as_str(),
                error.as_deref(),
                if error.is_some() { retries } else { 0 },
                next,
            )
        })?;
        let args = serde_json::json!({ "target": row.def.target, "attempt": retries, "state": state.active_state });
        let code = r.as_ref().err().map(|e| e.code.as_str());
        let _ = shared.audit(&AuditRecord {
            principal: "corenasd",
            channel: "retry-policy",
            peer_uid: rustix::process::getuid().as_raw(),
            action: "mount.retry",
            args: &args,
            result: word,
            error_code: code,
        });
    }
    Ok(attempts)
}

/// The retry policy's loop, for the daemon's lifetime.
pub async fn watch(shared: std::sync::Arc<Daemon>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = watch_once(&shared, interval).await {
            tracing::debug!(error = %e.message, "mount watch round skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_stays_at_half_an_hour() {
        let steps: Vec<u64> = (0..8).map(backoff).collect();
        assert_eq!(steps, [30, 60, 120, 300, 600, 1800, 1800, 1800]);
        let at = |secs| (0..6).map(|n| scaled_backoff(n, Duration::from_secs(secs))).collect::<Vec<_>>();
        assert_eq!(at(30), [30, 60, 120, 300, 600, 1800], "the default interval keeps the policy");
        assert_eq!(at(1), [1, 2, 4, 10, 20, 60]);
    }

    #[test]
    fn what_counts_as_down() {
        let s = |load: &str, active: &str| UnitState {
            unit: "x.mount".into(),
            load_state: load.into(),
            active_state: active.into(),
            sub_state: String::new(),
            result: String::new(),
        };
        assert!(is_down(&s("loaded", "failed")));
        assert!(is_down(&s("loaded", "inactive")));
        assert!(!is_down(&s("loaded", "active")));
        assert!(!is_down(&s("loaded", "activating")));
        assert!(!is_down(&s("not-found", "inactive")));
    }
}
