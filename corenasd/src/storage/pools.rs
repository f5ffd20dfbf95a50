//! Pools: what they look like now, always from the tools (zpool and zfs, btrfs show and device
//! stats, statvfs for a single disk) merged with what CoreNAS recorded, and create, destroy,
//! import and export through the storage helper. The other storage services use its lookups: a
//! pool's backend, its mount point as corenasd sees it, its info and the helper's read-only
//! queries. Must not: follow jobs (scrub.rs), touch datasets, snapshots or schedules (datasets.rs,
//! snapshots.rs) beyond forgetting a destroyed pool's schedules, or import those modules.

use super::store::{PoolRecord, record, records};
use super::{btrfs, change, zfs};
use crate::daemon::Daemon;
use crate::state::{now_rfc3339, sql};
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StorageQuery, ToolOutput};
use corenas_proto::names::{DevicePath, PoolName};
use corenas_proto::storage::{Backend, PoolInfo, PoolLayout, PoolMember, PoolSpec};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::params;

fn pool_record(shared: &Daemon, name: &PoolName) -> Result<PoolRecord, WireError> {
    shared
        .with_state(|s| record(s.conn(), name.as_str()))?
        .ok_or_else(|| WireError::not_found(format!("no pool {name} (storage list shows the pools CoreNAS manages)")))
}

pub(super) async fn query(shared: &Daemon, q: StorageQuery) -> Result<ToolOutput, WireError> {
    shared.helper.storage().await?.storage_query(q).await
}

/// The pool's mount point as corenasd sees it (under the lab's root prefix).
pub(super) fn mount_path(shared: &Daemon, name: &str) -> std::path::PathBuf {
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

pub(super) async fn zfs_info(shared: &Daemon, name: &str, rec: Option<&PoolRecord>) -> Result<PoolInfo, WireError> {
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

pub(super) async fn info(shared: &Daemon, rec: &PoolRecord) -> Result<PoolInfo, WireError> {
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

pub(super) fn backend_of(shared: &Daemon, pool: &PoolName) -> Result<Backend, WireError> {
    match shared.with_state(|s| record(s.conn(), pool.as_str()))? {
        Some(r) => Ok(r.spec.layout.backend()),
        // A ZFS pool imported outside CoreNAS is still ZFS.
        None => Ok(Backend::Zfs),
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

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::storage::{BtrfsProfile, DiskFs, ZfsLayout};

    fn zfs(layout: ZfsLayout) -> PoolLayout {
        PoolLayout::Zfs { layout, ashift: None, properties: Vec::new() }
    }

    fn btrfs(data: BtrfsProfile, metadata: BtrfsProfile) -> PoolLayout {
        PoolLayout::Btrfs { data, metadata, compression: None }
    }

    #[test]
    fn redundancy_is_the_disks_a_layout_survives_losing() {
        assert_eq!(redundancy(&zfs(ZfsLayout::Stripe)), 0);
        assert_eq!(redundancy(&zfs(ZfsLayout::Mirror)), 1);
        assert_eq!(redundancy(&zfs(ZfsLayout::Raidz2)), 2);
        assert_eq!(redundancy(&btrfs(BtrfsProfile::Raid1, BtrfsProfile::Raid1c3)), 1);
        assert_eq!(redundancy(&btrfs(BtrfsProfile::Raid1, BtrfsProfile::Single)), 0, "the weaker profile counts");
        assert_eq!(redundancy(&PoolLayout::Single { fs: DiskFs::Xfs }), 0);
    }

    #[test]
    fn a_btrfs_scrub_reads_every_copy_of_the_data() {
        assert_eq!(scrub_total(&btrfs(BtrfsProfile::Raid1, BtrfsProfile::Raid1), Some(10)), Some(20));
        assert_eq!(scrub_total(&btrfs(BtrfsProfile::Single, BtrfsProfile::Dup), Some(10)), Some(10));
        assert_eq!(scrub_total(&btrfs(BtrfsProfile::Raid1, BtrfsProfile::Raid1), None), None);
        assert_eq!(scrub_total(&zfs(ZfsLayout::Mirror), Some(10)), None, "zpool reports its own progress");
    }
}
