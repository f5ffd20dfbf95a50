//! Pools, datasets, snapshots, schedules and scrub jobs: the records CoreNAS keeps (what it
//! created, with which layout and devices) and the helper operations that act. What the pools
//! look like now always comes from the tools, parsed here.

use super::jobs;
use super::{btrfs, retention, zfs};
use crate::daemon::Daemon;
use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StorageQuery, ToolOutput};
use corenas_proto::names::{DatasetName, DevicePath, PoolName, SnapshotName};
use corenas_proto::storage::{
    Backend, DatasetInfo, DatasetSpec, PoolInfo, PoolLayout, PoolMember, PoolSpec, Retention, ScheduleInfo,
    SnapshotInfo, StorageJob, ZfsProperty,
};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use std::time::Duration;

/// A pool CoreNAS created, as recorded.
#[derive(Debug, Clone)]
pub struct PoolRecord {
    pub spec: PoolSpec,
    pub created: String,
}

fn record(conn: &Connection, name: &str) -> Result<Option<PoolRecord>, StateError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT spec, created FROM pools WHERE name = ?1", params![name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql("reading a pool"))?;
    row.map(|(spec, created)| {
        let spec = serde_json::from_str(&spec)
            .map_err(|e| StateError::Corrupt { detail: format!("pool {name}: stored spec unreadable: {e}") })?;
        Ok(PoolRecord { spec, created })
    })
    .transpose()
}

pub fn records(conn: &Connection) -> Result<Vec<PoolRecord>, StateError> {
    let names: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pools ORDER BY name").map_err(sql("listing pools"))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(sql("listing pools"))?;
        rows.collect::<Result<_, _>>().map_err(sql("listing pools"))?
    };
    names.iter().filter_map(|n| record(conn, n).transpose()).collect()
}

fn pool_record(shared: &Daemon, name: &PoolName) -> Result<PoolRecord, WireError> {
    shared
        .with_state(|s| record(s.conn(), name.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("no pool {name} (storage list shows the pools CoreNAS manages)")))
}

async fn query(shared: &Daemon, q: StorageQuery) -> Result<ToolOutput, WireError> {
    shared.helper.storage().await?.storage_query(q).await
}

/// The pool's mount point as corenasd sees it (under the lab's root prefix).
fn mount_path(shared: &Daemon, name: &str) -> std::path::PathBuf {
    std::path::Path::new(&shared.root).join(format!("mnt/corenas/{name}"))
}

fn is_mounted(path: &std::path::Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| t.lines().any(|l| l.split(' ').nth(4) == Some(&*p)))
        .unwrap_or(false)
}

fn space(path: &std::path::Path) -> Option<(u64, u64, u64)> {
    let s = rustix::fs::statvfs(path).ok()?;
    let size = s.f_blocks.saturating_mul(s.f_frsize);
    let free = s.f_bavail.saturating_mul(s.f_frsize);
    let used = s.f_blocks.saturating_sub(s.f_bfree).saturating_mul(s.f_frsize);
    Some((size, used, free))
}

async fn zfs_info(shared: &Daemon, name: &str, rec: Option<&PoolRecord>) -> Result<PoolInfo, WireError> {
    let pool: PoolName = name.parse().map_err(WireError::from)?;
    let status = query(shared, StorageQuery::ZpoolStatus { pool: Some(pool.clone()) }).await?;
    let parsed = zfs::parse_status(&status.stdout).into_iter().find(|p| p.name == name);
    let props = query(shared, StorageQuery::ZfsProperties { pool }).await?;
    let get = zfs::parse_get(&props.stdout);
    let root = get.get(name);
    let n = |k: &str| root.and_then(|p| p.get(k)).and_then(|v| v.parse::<u64>().ok());
    let (used, avail) = (n("used"), n("available"));
    let mountpoint = root.and_then(|p| p.get("mountpoint")).cloned().unwrap_or_default();
    let mounted = is_mounted(std::path::Path::new(&mountpoint));
    Ok(match parsed {
        Some(p) => PoolInfo {
            name: name.to_owned(),
            backend: Backend::Zfs,
            layout: rec.map(|r| r.spec.layout.clone()),
            health: p.state,
            size_bytes: used.zip(avail).map(|(u, a)| u + a),
            used_bytes: used,
            free_bytes: avail,
            mountpoint,
            mounted,
            members: p.members,
            scrub: Some(p.scrub),
            notes: p.notes.into_iter().chain(p.errors).collect(),
            created: rec.map(|r| r.created.clone()),
        },
        None => PoolInfo {
            name: name.to_owned(),
            backend: Backend::Zfs,
            layout: rec.map(|r| r.spec.layout.clone()),
            health: "unavailable".into(),
            size_bytes: None,
            used_bytes: None,
            free_bytes: None,
            mountpoint,
            mounted: false,
            members: Vec::new(),
            scrub: None,
            notes: vec![format!("zpool does not list this pool: {}", status.stderr.trim())],
            created: rec.map(|r| r.created.clone()),
        },
    })
}

async fn local_info(shared: &Daemon, rec: &PoolRecord) -> Result<PoolInfo, WireError> {
    let name = rec.spec.name.to_string();
    let mnt = mount_path(shared, &name);
    let mounted = is_mounted(&mnt);
    let space = if mounted { space(&mnt) } else { None };
    let backend = rec.spec.layout.backend();
    let mut notes = Vec::new();
    let (members, scrub, missing) = if backend == Backend::Btrfs && mounted {
        let pool = rec.spec.name.clone();
        let show = btrfs::parse_show(&query(shared, StorageQuery::BtrfsShow { pool: pool.clone() }).await?.stdout);
        let stats = btrfs::parse_device_stats(
            &query(shared, StorageQuery::BtrfsDeviceStats { pool: pool.clone() }).await?.stdout,
        );
        let total = scrub_total(&rec.spec.layout, show.fs_bytes_used);
        let scrub = btrfs::parse_scrub(&query(shared, StorageQuery::BtrfsScrubStatus { pool }).await?.stdout, total);
        let mut members = stats;
        for (dev, _, _) in &show.devices {
            if !members.iter().any(|m| &m.device == dev) {
                members.push(PoolMember { device: dev.clone(), state: "online".into(), errors: None });
            }
        }
        (members, Some(scrub), show.missing)
    } else {
        let members = rec
            .spec
            .devices
            .iter()
            .map(|d| PoolMember {
                device: d.to_string(),
                state: if mounted { "online" } else { "unknown" }.into(),
                errors: None,
            })
            .collect();
        (members, None, false)
    };
    let errors = members.iter().any(|m| m.errors.is_some_and(|e| e.iter().any(|n| *n > 0)));
    let health = match (mounted, missing, errors) {
        (false, _, _) => {
            notes.push(format!("{} is not mounted", mnt.display()));
            "not mounted"
        }
        (true, true, _) => "degraded",
        (true, false, true) => "errors",
        (true, false, false) => "online",
    };
    Ok(PoolInfo {
        name,
        backend,
        layout: Some(rec.spec.layout.clone()),
        health: health.into(),
        size_bytes: space.map(|s| s.0),
        used_bytes: space.map(|s| s.1),
        free_bytes: space.map(|s| s.2),
        mountpoint: rec.spec.name.mount_target().to_string(),
        mounted,
        members,
        scrub,
        notes,
        created: Some(rec.created.clone()),
    })
}

fn scrub_total(layout: &PoolLayout, fs_used: Option<u64>) -> Option<u64> {
    match layout {
        PoolLayout::Btrfs { data, .. } => fs_used.map(|u| u.saturating_mul(btrfs::copies(*data))),
        _ => None,
    }
}

async fn info(shared: &Daemon, rec: &PoolRecord) -> Result<PoolInfo, WireError> {
    match rec.spec.layout.backend() {
        Backend::Zfs => zfs_info(shared, rec.spec.name.as_str(), Some(rec)).await,
        _ => local_info(shared, rec).await,
    }
}

pub async fn list(shared: &Daemon) -> Result<Vec<PoolInfo>, WireError> {
    let recs = shared.with_state(|s| records(s.conn()))?;
    let mut out = Vec::new();
    for r in &recs {
        out.push(info(shared, r).await?);
    }
    // Imported ZFS pools CoreNAS did not create are shown too (layout unknown).
    if let Ok(l) = query(shared, StorageQuery::ZpoolList).await {
        for (name, _) in zfs::parse_list(&l.stdout) {
            if !recs.iter().any(|r| r.spec.name.as_str() == name) && name.parse::<PoolName>().is_ok() {
                out.push(zfs_info(shared, &name, None).await?);
            }
        }
    }
    Ok(out)
}

pub async fn show(shared: &Daemon, name: &PoolName) -> Result<PoolInfo, WireError> {
    match shared.with_state(|s| record(s.conn(), name.as_str()))? {
        Some(r) => info(shared, &r).await,
        None => {
            let l = query(shared, StorageQuery::ZpoolList).await?;
            if zfs::parse_list(&l.stdout).iter().any(|(n, _)| n == name.as_str()) {
                zfs_info(shared, name.as_str(), None).await
            } else {
                Err(WireError::not_found(format!("no pool {name}")))
            }
        }
    }
}

/// A change report for storage and device requests.
pub(crate) fn change<T>(
    dry_run: bool,
    steps: Vec<corenas_proto::helper::Step>,
    warnings: Vec<String>,
    result: Option<T>,
) -> Change<T> {
    Change { dry_run, steps, result, generated_password: None, warnings }
}

pub async fn create(shared: &Daemon, spec: &PoolSpec, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
    spec.validate()?;
    if shared.with_state(|s| record(s.conn(), spec.name.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("pool {} already exists", spec.name)));
    }
    if let PoolLayout::Zfs { layout: corenas_proto::storage::ZfsLayout::Stripe, .. } = &spec.layout {
        tracing::info!(pool = %spec.name, "striped ZFS pool: no redundancy");
    }
    let h = shared.helper.storage().await?;
    let (steps, mut warnings) = h.run_ops_reporting(vec![HelperOp::PoolCreate { spec: spec.clone() }], dry_run).await?;
    if redundancy(&spec.layout) == 0 {
        warnings.push("this layout has no redundancy: one failed disk loses the pool".into());
    }
    if dry_run {
        return Ok(change(true, steps, warnings, None));
    }
    let created = now_rfc3339().map_err(WireError::from)?;
    let json = serde_json::to_string(spec).map_err(|e| WireError::internal(e.to_string()))?;
    shared.with_state(|s| {
        s.conn()
            .execute(
                "INSERT INTO pools(name, backend, spec, created) VALUES (?1, ?2, ?3, ?4)",
                params![spec.name.as_str(), spec.layout.backend().as_str(), json, created],
            )
            .map_err(sql("recording a pool"))
    })?;
    let rec = PoolRecord { spec: spec.clone(), created };
    Ok(change(false, steps, warnings, Some(info(shared, &rec).await?)))
}

fn redundancy(layout: &PoolLayout) -> usize {
    use corenas_proto::storage::Redundancy;
    match layout {
        PoolLayout::Zfs { layout, .. } => layout.tolerates(2),
        PoolLayout::Btrfs { data, metadata, .. } => data.tolerates(2).min(metadata.tolerates(2)),
        PoolLayout::Single { .. } => 0,
    }
}

pub async fn destroy(shared: &Daemon, name: &PoolName, confirm: &str, dry_run: bool) -> Result<Change<()>, WireError> {
    if confirm != name.as_str() {
        return Err(WireError::invalid(
            "confirm",
            format!("destroying erases every file in the pool: confirm with the pool's name ({name})"),
        ));
    }
    let rec = pool_record(shared, name)?;
    if let Some(j) = shared.storage_jobs.live().into_iter().find(|j| j.target == name.as_str() && j.state == "running")
    {
        return Err(WireError::new(ErrorCode::Busy, format!("pool {name} is busy with {} job {}", j.kind, j.id)));
    }
    let h = shared.helper.storage().await?;
    let op = HelperOp::PoolDestroy {
        name: name.clone(),
        backend: rec.spec.layout.backend(),
        devices: rec.spec.devices.clone(),
    };
    let (steps, warnings) = h.run_ops_reporting(vec![op], dry_run).await?;
    if !dry_run {
        shared.with_state(|s| {
            let c = s.conn();
            c.execute("DELETE FROM pools WHERE name = ?1", params![name.as_str()]).map_err(sql("forgetting a pool"))?;
            c.execute("DELETE FROM snapshot_schedules WHERE dataset LIKE ?1", params![format!("{}/%", name.as_str())])
                .map_err(sql("forgetting a pool's schedules"))?;
            Ok(())
        })?;
    }
    Ok(change(dry_run, steps, warnings, None))
}

pub async fn import(shared: &Daemon, name: &PoolName, dry_run: bool) -> Result<Change<PoolInfo>, WireError> {
    if backend_of(shared, name)? != Backend::Zfs {
        return Err(WireError::invalid("name", format!("{name} is not a ZFS pool: import and export are for ZFS")));
    }
    let h = shared.helper.storage().await?;
    let (steps, w) = h.run_ops_reporting(vec![HelperOp::PoolImport { name: name.clone() }], dry_run).await?;
    let info = if dry_run { None } else { Some(show(shared, name).await?) };
    Ok(change(dry_run, steps, w, info))
}

pub async fn export(shared: &Daemon, name: &PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
    if backend_of(shared, name)? != Backend::Zfs {
        return Err(WireError::invalid("name", format!("{name} is not a ZFS pool: import and export are for ZFS")));
    }
    if let Some(j) = shared.storage_jobs.live().into_iter().find(|j| j.target == name.as_str() && j.state == "running")
    {
        return Err(WireError::new(ErrorCode::Busy, format!("pool {name} is busy with {} job {}", j.kind, j.id)));
    }
    let h = shared.helper.storage().await?;
    let (steps, w) = h.run_ops_reporting(vec![HelperOp::PoolExport { name: name.clone() }], dry_run).await?;
    Ok(change(dry_run, steps, w, None))
}

fn backend_of(shared: &Daemon, pool: &PoolName) -> Result<Backend, WireError> {
    match shared.with_state(|s| record(s.conn(), pool.as_str()))? {
        Some(r) => Ok(r.spec.layout.backend()),
        // A ZFS pool imported outside CoreNAS is still ZFS.
        None => Ok(Backend::Zfs),
    }
}

pub async fn scrub(shared: &Arc<Daemon>, name: &PoolName, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
    let backend = backend_of(shared, name)?;
    let h = shared.helper.storage().await?;
    let op = HelperOp::ScrubStart { name: name.clone(), backend };
    if dry_run {
        let (steps, w) = h.run_ops_reporting(vec![op], true).await?;
        return Ok(change(true, steps, w, None));
    }
    let (job, cancel) = shared.storage_jobs.start("scrub", name.as_str())?;
    let (steps, w) = match h.run_ops_reporting(vec![op], false).await {
        Ok(r) => r,
        Err(e) => {
            finish(shared, &job.id, "failed", Some(e.message.clone()));
            return Err(e);
        }
    };
    let shared2 = Arc::clone(shared);
    let (id, pool) = (job.id.clone(), name.clone());
    tokio::spawn(async move { follow_scrub(shared2, id, pool, backend, cancel).await });
    Ok(change(false, steps, w, shared.storage_jobs.get(&job.id)))
}

/// Ends a job and stores it (a storage failure is logged, never lost silently).
pub fn finish(shared: &Daemon, id: &str, state: &str, message: Option<String>) {
    if let Some(j) = shared.storage_jobs.finish(id, state, message) {
        if let Err(e) = shared.with_state(|s| jobs::save(s.conn(), &j)) {
            tracing::error!(job = id, error = %e.message, "could not store the job's end");
        }
    }
}

async fn scrub_status(
    shared: &Daemon,
    pool: &PoolName,
    backend: Backend,
) -> Result<corenas_proto::storage::ScrubStatus, WireError> {
    let rec = shared.with_state(|s| record(s.conn(), pool.as_str()))?;
    let info = match rec {
        Some(r) => info(shared, &r).await?,
        None => zfs_info(shared, pool.as_str(), None).await?,
    };
    let _ = backend;
    info.scrub.ok_or_else(|| WireError::new(ErrorCode::ToolFailed, format!("no scrub status for {pool}")))
}

const POLL: Duration = Duration::from_millis(500);

async fn follow_scrub(
    shared: Arc<Daemon>,
    id: String,
    pool: PoolName,
    backend: Backend,
    cancel: tokio_util::sync::CancellationToken,
) {
    if let Some(j) = shared.storage_jobs.get(&id) {
        let _ = shared.with_state(|s| jobs::save(s.conn(), &j));
    }
    // The tool may report the previous scrub for a moment: wait for this one to be seen
    // running, or finished with a summary newer than the start, for a bounded time.
    let mut seen_running = false;
    let mut polls = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                let h = shared.helper.storage().await;
                let r = match h {
                    Ok(h) => h.run_ops_reporting(vec![HelperOp::ScrubStop { name: pool.clone(), backend }], false).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                let msg = match r { Ok(()) => "cancelled by request".to_owned(), Err(e) => format!("cancel requested; stopping the scrub failed: {}", e.message) };
                finish(&shared, &id, "cancelled", Some(msg));
                return;
            }
            () = tokio::time::sleep(POLL) => {}
        }
        polls += 1;
        match scrub_status(&shared, &pool, backend).await {
            Ok(s) if s.running => {
                seen_running = true;
                shared.storage_jobs.update(&id, |j| {
                    j.percent = s.percent;
                    j.message = s.summary.clone();
                });
            }
            Ok(s) if seen_running || polls > 4 => {
                let msg = s.summary.unwrap_or_else(|| "scrub finished".into());
                let state = if s.errors.unwrap_or(0) > 0 { "failed" } else { "done" };
                finish(&shared, &id, state, Some(msg));
                return;
            }
            Ok(_) => {}
            Err(e) if polls > 20 => {
                finish(&shared, &id, "failed", Some(e.message));
                return;
            }
            Err(_) => {}
        }
    }
}

pub async fn scrub_stop(shared: &Daemon, name: &PoolName, dry_run: bool) -> Result<Change<()>, WireError> {
    if !dry_run {
        if let Some(j) = shared
            .storage_jobs
            .live()
            .into_iter()
            .find(|j| j.target == name.as_str() && j.kind == "scrub" && j.state == "running")
        {
            shared.storage_jobs.cancel(&j.id)?;
            let done = shared.storage_jobs.wait(&j.id, u64::MAX, Duration::from_secs(30)).await;
            let _ = done;
            return Ok(change(false, Vec::new(), vec![format!("job {} cancelled", j.id)], None));
        }
    }
    let backend = backend_of(shared, name)?;
    let h = shared.helper.storage().await?;
    let (steps, w) = h.run_ops_reporting(vec![HelperOp::ScrubStop { name: name.clone(), backend }], dry_run).await?;
    Ok(change(dry_run, steps, w, None))
}

// ----- datasets -----

async fn datasets_of(shared: &Daemon, pool: &PoolName) -> Result<Vec<DatasetInfo>, WireError> {
    match backend_of(shared, pool)? {
        Backend::Zfs => {
            let out = query(shared, StorageQuery::ZfsProperties { pool: pool.clone() }).await?;
            if out.code != Some(0) {
                return Err(WireError::new(ErrorCode::ToolFailed, format!("zfs get: {}", out.stderr.trim())));
            }
            Ok(zfs::datasets(&zfs::parse_get(&out.stdout)).into_iter().filter(|d| d.name != pool.as_str()).collect())
        }
        Backend::Btrfs => {
            let out = query(shared, StorageQuery::BtrfsSubvolumes { pool: pool.clone() }).await?;
            if out.code != Some(0) {
                return Err(WireError::new(
                    ErrorCode::ToolFailed,
                    format!("btrfs subvolume list: {}", out.stderr.trim()),
                ));
            }
            Ok(btrfs::parse_subvolumes(&out.stdout)
                .into_iter()
                .filter(|p| !p.split('/').any(|c| c == ".snapshots"))
                .map(|p| DatasetInfo {
                    name: format!("{pool}/{p}"),
                    used_bytes: None,
                    available_bytes: None,
                    referenced_bytes: None,
                    mountpoint: format!("{}/{p}", pool.mount_target()),
                    properties: Vec::new(),
                })
                .collect())
        }
        b => Err(WireError::invalid("pool", format!("{b} pools have no datasets"))),
    }
}

pub async fn dataset_list(shared: &Daemon, pool: &PoolName) -> Result<Vec<DatasetInfo>, WireError> {
    datasets_of(shared, pool).await
}

async fn dataset_info(shared: &Daemon, name: &DatasetName) -> Result<Option<DatasetInfo>, WireError> {
    Ok(datasets_of(shared, &name.pool()).await?.into_iter().find(|d| d.name == name.as_str()))
}

pub async fn dataset_create(
    shared: &Daemon,
    spec: &DatasetSpec,
    dry_run: bool,
) -> Result<Change<DatasetInfo>, WireError> {
    let pool = spec.name.pool();
    let backend = backend_of(shared, &pool)?;
    let h = shared.helper.storage().await?;
    let (steps, w) =
        h.run_ops_reporting(vec![HelperOp::DatasetCreate { spec: spec.clone(), backend }], dry_run).await?;
    let info = if dry_run { None } else { dataset_info(shared, &spec.name).await? };
    Ok(change(dry_run, steps, w, info))
}

pub async fn dataset_set(
    shared: &Daemon,
    name: &DatasetName,
    props: &[ZfsProperty],
    dry_run: bool,
) -> Result<Change<DatasetInfo>, WireError> {
    if backend_of(shared, &name.pool())? != Backend::Zfs {
        return Err(WireError::invalid("property", "properties are set on ZFS datasets only"));
    }
    if props.is_empty() {
        return Err(WireError::invalid("property", format!("give at least one key=value ({})", ZfsProperty::KEYS)));
    }
    let h = shared.helper.storage().await?;
    let op = HelperOp::DatasetSet { name: name.clone(), properties: props.to_vec() };
    let (steps, w) = h.run_ops_reporting(vec![op], dry_run).await?;
    let info = if dry_run { None } else { dataset_info(shared, name).await? };
    Ok(change(dry_run, steps, w, info))
}

pub async fn dataset_destroy(
    shared: &Daemon,
    name: &DatasetName,
    recursive: bool,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    let backend = backend_of(shared, &name.pool())?;
    let h = shared.helper.storage().await?;
    let op = HelperOp::DatasetDestroy { name: name.clone(), backend, recursive };
    let (steps, w) = h.run_ops_reporting(vec![op], dry_run).await?;
    if !dry_run {
        shared.with_state(|s| {
            s.conn()
                .execute("DELETE FROM snapshot_schedules WHERE dataset = ?1", params![name.as_str()])
                .map_err(sql("forgetting a schedule"))
        })?;
    }
    Ok(change(dry_run, steps, w, None))
}

// ----- snapshots -----

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
            let mut snaps: Vec<SnapshotInfo> = btrfs::parse_subvolumes(&out.stdout)
                .into_iter()
                .filter_map(|p| {
                    let name = p.strip_prefix(&prefix)?;
                    (!name.contains('/')).then(|| SnapshotInfo {
                        dataset: dataset.to_string(),
                        name: name.to_owned(),
                        created: std::fs::metadata(base.join(&p))
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

fn schedules(conn: &Connection) -> Result<Vec<ScheduleInfo>, StateError> {
    let mut stmt = conn
        .prepare("SELECT dataset, keep, last_run, last_result FROM snapshot_schedules ORDER BY dataset")
        .map_err(sql("listing schedules"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)))
        .map_err(sql("listing schedules"))?;
    let mut out = Vec::new();
    for row in rows {
        let (dataset, keep, last_run, last_result) = row.map_err(sql("reading a schedule"))?;
        let keep: Retention = serde_json::from_str(&keep)
            .map_err(|e| StateError::Corrupt { detail: format!("schedule {dataset}: {e}") })?;
        out.push(ScheduleInfo { dataset, keep, last_run, last_result });
    }
    Ok(out)
}

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

/// Devices of every pool CoreNAS created, by device path, for the inventory's "pool member".
pub fn member_devices(shared: &Daemon) -> Result<Vec<(DevicePath, String, Backend)>, WireError> {
    let recs = shared.with_state(|s| records(s.conn()))?;
    Ok(recs
        .into_iter()
        .flat_map(|r| {
            let (name, b) = (r.spec.name.to_string(), r.spec.layout.backend());
            r.spec.devices.into_iter().map(move |d| (d, name.clone(), b))
        })
        .collect())
}
