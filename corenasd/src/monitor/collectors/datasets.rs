//! Dataset capacity (ZFS filesystems, btrfs subvolumes) of the pools the pools collector found.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{DatasetSample, PoolSample};
use corenas_proto::names::PoolName;
use corenas_proto::storage::Backend;

/// Datasets reported at most (the metric set targets 200; room beyond it).
const MAX_DATASETS: usize = 2000;

pub async fn collect(d: &Daemon, pools: &[PoolSample]) -> Result<Vec<DatasetSample>, WireError> {
    let mut out = Vec::new();
    let mut first_error = None;
    let mut read_any = false;
    for p in pools.iter().filter(|p| matches!(p.backend, Backend::Zfs | Backend::Btrfs)) {
        let Ok(name) = p.name.parse::<PoolName>() else { continue };
        // An unavailable pool has nothing to list; the pools collector already says so.
        match crate::storage::datasets::dataset_list(d, &name).await {
            Ok(list) => {
                read_any = true;
                out.extend(list.into_iter().map(|ds| DatasetSample {
                    name: ds.name,
                    pool: p.name.clone(),
                    used_bytes: ds.used_bytes,
                    available_bytes: ds.available_bytes,
                }));
            }
            Err(e) => {
                tracing::debug!(pool = %p.name, error = %e.message, "monitor: datasets not read");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if !read_any => Err(e),
        _ => {
            out.truncate(MAX_DATASETS);
            Ok(out)
        }
    }
}
