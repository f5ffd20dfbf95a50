//! Datasets: ZFS datasets and btrfs subvolumes (snapshot folders left out), listed from the
//! tools; create, set ZFS properties, destroy (which forgets the dataset's snapshot schedule).
//! Single-disk pools have none. Must not: snapshot (snapshots.rs) or change pool records.

use super::pools::{backend_of, query};
use super::{btrfs, change, zfs};
use crate::daemon::Daemon;
use crate::state::sql;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_proto::names::{DatasetName, PoolName};
use corenas_proto::storage::{Backend, DatasetInfo, DatasetSpec, ZfsProperty};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::params;

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

pub(super) async fn dataset_info(shared: &Daemon, name: &DatasetName) -> Result<Option<DatasetInfo>, WireError> {
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
