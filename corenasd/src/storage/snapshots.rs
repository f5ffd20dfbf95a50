//! Snapshots (list, create, destroy, ZFS rollback) and the schedules that take and prune them:
//! a stored retention per dataset, run once on request (`schedule_run`) or every interval by
//! `schedule_loop`, corenasd's own timer (no cron). Snapshot names and what to prune come from
//! retention.rs. Must not: create or destroy datasets or pools.

use super::datasets::dataset_info;
use super::pools::{backend_of, mount_path, query};
use super::store::schedules;
use super::{btrfs, change, retention, zfs};
use crate::daemon::Daemon;
use crate::state::{now_rfc3339, sql};
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_proto::names::{DatasetName, SnapshotName};
use corenas_proto::storage::{Backend, Retention, ScheduleInfo, SnapshotInfo};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::params;
use std::sync::Arc;
use std::time::Duration;

pub async fn snapshot_list(shared: &Daemon, dataset: &DatasetName) -> Result<Vec<SnapshotInfo>, WireError> {
    match backend_of(shared, &dataset.pool())? {
        Backend::Zfs => {
            let out = query(shared, StorageQuery::ZfsSnapshots { dataset: dataset.clone() }).await?;
            if out.code != Some(0) {
                return Err(WireError::new(ErrorCode::ToolFailed, format!("zfs: {}", out.stderr.trim())));
            }
            Ok(zfs::snapshots(&zfs::parse_get(&out.stdout), dataset.as_str()))
        }
        Backend::Btrfs => {
            let out = query(shared, StorageQuery::BtrfsSubvolumes { pool: dataset.pool() }).await?;
            let prefix = format!("{}/.snapshots/", dataset.relative());
            let base = mount_path(shared, dataset.pool().as_str());
            refuse_foreign_snapshots_dir(&base.join(dataset.relative()).join(".snapshots"))?;
            let mut snaps: Vec<SnapshotInfo> = btrfs::parse_subvolumes(&out.stdout)
                .into_iter()
                .filter_map(|p| {
                    let name = p.strip_prefix(&prefix)?;
                    (!name.contains('/')).then(|| SnapshotInfo {
                        dataset: dataset.to_string(),
                        name: name.to_owned(),
                        created: std::fs::symlink_metadata(base.join(&p))
                            .ok()
                            .and_then(|m| std::os::unix::fs::MetadataExt::mtime(&m).into()),
                        used_bytes: None,
                    })
                })
                .collect();
            snaps.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
            Ok(snaps)
        }
        b => Err(WireError::invalid("dataset", format!("{b} pools have no snapshots"))),
    }
}

/// Issue 18 M1: a `.snapshots` a share user owns (or a link) may hold planted entries and fake
/// "Previous Versions"; say so instead of listing it. The helper refuses to snapshot or delete
/// there on its own; this only makes the listing agree. Unreadable (corenasd is not root and a
/// dataset may be closed to it) is not a refusal: the list comes from btrfs, not the directory.
fn refuse_foreign_snapshots_dir(dir: &std::path::Path) -> Result<(), WireError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() || m.uid() != 0 || m.mode() & 0o022 != 0 => Err(WireError::not_allowed(format!(
            "{} is not a directory owned and writable only by root (owner uid {}, mode {:o}); its snapshots \
             are not trusted. Check what is in it, then make it root:root 0755",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        ))),
        _ => Ok(()),
    }
}

pub async fn snapshot_create(
    shared: &Daemon,
    dataset: &DatasetName,
    name: Option<SnapshotName>,
    dry_run: bool,
) -> Result<Change<SnapshotInfo>, WireError> {
    let backend = backend_of(shared, &dataset.pool())?;
    let snapshot = match name {
        Some(n) => n,
        None => retention::name_for(time::OffsetDateTime::now_utc()).parse().map_err(WireError::from)?,
    };
    let h = shared.helper.storage().await?;
    let op = HelperOp::SnapshotCreate { dataset: dataset.clone(), snapshot: snapshot.clone(), backend };
    let (steps, w) = h.run_ops_reporting(vec![op], dry_run).await?;
    let info = if dry_run {
        None
    } else {
        snapshot_list(shared, dataset).await?.into_iter().find(|s| s.name == snapshot.as_str())
    };
    Ok(change(dry_run, steps, w, info))
}

pub async fn snapshot_destroy(
    shared: &Daemon,
    dataset: &DatasetName,
    name: &SnapshotName,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    let backend = backend_of(shared, &dataset.pool())?;
    let h = shared.helper.storage().await?;
    let op = HelperOp::SnapshotDestroy { dataset: dataset.clone(), snapshot: name.clone(), backend };
    let (steps, w) = h.run_ops_reporting(vec![op], dry_run).await?;
    Ok(change(dry_run, steps, w, None))
}

pub async fn snapshot_rollback(
    shared: &Daemon,
    dataset: &DatasetName,
    name: &SnapshotName,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    if backend_of(shared, &dataset.pool())? != Backend::Zfs {
        return Err(WireError::invalid(
            "dataset",
            format!(
                "rollback is for ZFS; on btrfs, copy files back from {}/{}/.snapshots/{name} (read-only)",
                dataset.pool().mount_target(),
                dataset.relative()
            ),
        ));
    }
    let h = shared.helper.storage().await?;
    let op = HelperOp::SnapshotRollback { dataset: dataset.clone(), snapshot: name.clone() };
    let (steps, w) = h.run_ops_reporting(vec![op], dry_run).await?;
    Ok(change(dry_run, steps, w, None))
}

// ----- schedules -----

pub fn schedule_list(shared: &Daemon) -> Result<Vec<ScheduleInfo>, WireError> {
    shared.with_state(|s| schedules(s.conn()))
}

pub async fn schedule_set(
    shared: &Daemon,
    dataset: &DatasetName,
    keep: Retention,
    dry_run: bool,
) -> Result<Change<ScheduleInfo>, WireError> {
    if !matches!(backend_of(shared, &dataset.pool())?, Backend::Zfs | Backend::Btrfs) {
        return Err(WireError::invalid("dataset", "snapshot schedules are for ZFS datasets and btrfs subvolumes"));
    }
    if dataset_info(shared, dataset).await?.is_none() {
        return Err(WireError::not_found(format!("no dataset {dataset}")));
    }
    if [keep.hourly, keep.daily, keep.weekly, keep.monthly].iter().any(|n| *n > 1000) {
        return Err(WireError::invalid("keep", "keep at most 1000 snapshots per period"));
    }
    let info = ScheduleInfo { dataset: dataset.to_string(), keep, last_run: None, last_result: None };
    if !dry_run {
        let json = serde_json::to_string(&keep).map_err(|e| WireError::internal(e.to_string()))?;
        shared.with_state(|s| {
            if keep.is_empty() {
                s.conn().execute("DELETE FROM snapshot_schedules WHERE dataset = ?1", params![dataset.as_str()])
            } else {
                s.conn().execute(
                    "INSERT INTO snapshot_schedules(dataset, keep) VALUES (?1, ?2)
                     ON CONFLICT(dataset) DO UPDATE SET keep = ?2",
                    params![dataset.as_str(), json],
                )
            }
            .map_err(sql("saving a schedule"))
        })?;
    }
    Ok(change(dry_run, Vec::new(), Vec::new(), Some(info)))
}

/// Runs every schedule once: a snapshot where one is due, then pruning. Returns what was done
/// (`created pool/ds@name`, `destroyed ...`); each schedule's result is stored.
pub async fn schedule_run(shared: &Daemon, dry_run: bool) -> Result<Change<Vec<String>>, WireError> {
    let all = schedule_list(shared)?;
    let mut done = Vec::new();
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    for s in all {
        let Ok(ds) = s.dataset.parse::<DatasetName>() else { continue };
        let result: Result<Vec<String>, WireError> = async {
            let mut did = Vec::new();
            let existing: Vec<String> = snapshot_list(shared, &ds).await?.into_iter().map(|x| x.name).collect();
            let now = time::OffsetDateTime::now_utc();
            let mut names = existing.clone();
            if retention::due(&s.keep, &existing, now) {
                let c = snapshot_create(shared, &ds, None, dry_run).await?;
                steps.extend(c.steps);
                let n = retention::name_for(now);
                did.push(format!("created {ds}@{n}"));
                names.push(n);
            }
            for old in retention::prune(&s.keep, &names) {
                let Ok(snap) = old.parse::<SnapshotName>() else { continue };
                let c = snapshot_destroy(shared, &ds, &snap, dry_run).await?;
                steps.extend(c.steps);
                did.push(format!("destroyed {ds}@{old}"));
            }
            Ok(did)
        }
        .await;
        let (text, list) = match result {
            Ok(d) => (if d.is_empty() { "nothing due".to_owned() } else { d.join("; ") }, d),
            Err(e) => {
                warnings.push(format!("{ds}: {}", e.message));
                (format!("failed: {}", e.message), Vec::new())
            }
        };
        done.extend(list);
        if !dry_run {
            let now = now_rfc3339().map_err(WireError::from)?;
            shared.with_state(|st| {
                st.conn()
                    .execute(
                        "UPDATE snapshot_schedules SET last_run = ?1, last_result = ?2 WHERE dataset = ?3",
                        params![now, text, ds.as_str()],
                    )
                    .map_err(sql("recording a schedule run"))
            })?;
        }
    }
    Ok(change(dry_run, steps, warnings, Some(done)))
}

/// Runs the schedules every `interval` (corenasd's own timer; no cron).
pub async fn schedule_loop(shared: Arc<Daemon>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match schedule_run(&shared, false).await {
            Ok(c) => {
                let did = c.result.unwrap_or_default();
                if !did.is_empty() {
                    let args = serde_json::json!({ "done": did, "warnings": c.warnings });
                    let rec = crate::audit::AuditRecord {
                        principal: "corenasd",
                        channel: "schedule",
                        peer_uid: rustix::process::getuid().as_raw(),
                        action: "snapshot.schedule",
                        args: &args,
                        result: if c.warnings.is_empty() { "ok" } else { "failed" },
                        error_code: None,
                    };
                    let _ = shared.audit(&rec);
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "snapshot schedules failed"),
        }
    }
}
