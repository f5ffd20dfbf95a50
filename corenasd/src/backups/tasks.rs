//! Backup tasks: what is backed up (a share, dataset or pool), to which target, when, and how
//! long snapshots are kept. A retention policy is saved only after restic's own dry run of it
//! (the preview: which snapshots would go, and restic's reasons for those kept) was computed
//! against the target's repository; `--dry-run` shows only the preview.
//!
//! Sources resolve to what the storage helper snapshots: a pool or a dataset (ZFS dataset or
//! btrfs subvolume) and a directory inside it. A share is followed through its bind mount to the
//! pool path it shows. A source that cannot be snapshotted (a single-disk ext4/xfs pool, or a
//! filesystem on md or LVM) is refused unless the task says `live` (decision 0020).

use super::restic::ResticError;
use super::store;
use super::targets::{self, overlaps, repo_access};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::backup::{
    BackupName, BackupSource, KeepPolicy, RemotePath, ResticSnapshotId, RetentionPreview, SnapshotInfo,
    SnapshotListing, SnapshotPath, SnapshotSource, TargetLocation, TaskChange, TaskInfo, TaskModify, TaskSpec,
    task_tag,
};
use corenas_proto::helper::{StdinPlan, Step};
use corenas_proto::mounts::MountSource;
use corenas_proto::names::{DatasetName, PoolName, ShareName};
use corenas_proto::storage::Backend;
use corenas_proto::{ErrorCode, WireError};

/// Entries one `backup ls` answers (well inside a frame).
pub const LS_LIMIT: usize = 2000;
/// Bounds that keep a task's runs sane.
const MAX_EXCLUDES: usize = 100;
const MAX_CHECK_SUBSET: u16 = 1000;
const MAX_SAMPLE_FILES: u16 = 1000;

pub fn no_task(name: &str) -> WireError {
    let mut e = WireError::not_found(format!("no backup task '{name}': see `corenas-ctl backup task list`"));
    e.field = Some("task".into());
    e
}

/// A task's source as the storage helper takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSource {
    pub source: SnapshotSource,
    /// A directory inside it (a share below its dataset), plain components.
    pub subpath: Option<RemotePath>,
    pub backend: Backend,
    /// Where the source is, as the managed system sees it (`/mnt/corenas/...`).
    pub root: String,
}

impl ResolvedSource {
    /// Whether the helper can back it up from a read-only snapshot.
    pub fn snapshots(&self) -> bool {
        matches!(self.backend, Backend::Zfs | Backend::Btrfs)
    }
}

/// Where a source is, as the managed system sees it, without asking the helper: a pool or a
/// dataset by its mount point, a share by the pool path its bind mount shows (else its own
/// directory). Used to keep local repositories out of every source.
pub fn source_root(d: &Daemon, source: &BackupSource) -> String {
    match source {
        BackupSource::Pool(p) => p.mount_target().to_string(),
        BackupSource::Dataset(ds) => ds.mount_target().to_string(),
        BackupSource::Share(s) => share_pool_path(d, s).unwrap_or_else(|_| format!("/storage/{s}")),
    }
}

fn not_on_a_pool(share: &ShareName, path: &str) -> WireError {
    WireError::new(
        ErrorCode::InvalidState,
        format!(
            "share {share} ({path}) is not on a CoreNAS pool: a share can be backed up when its directory is a pool path bind-mounted at /storage/<name> (`corenas-ctl mount add`); otherwise back up the pool or dataset itself"
        ),
    )
}

/// The pool path (`/mnt/corenas/<pool>/...`) a share's directory shows, through the bind mount
/// at `/storage/<name>` (and at most a few bind mounts of `/storage` paths in between).
pub fn share_pool_path(d: &Daemon, share: &ShareName) -> Result<String, WireError> {
    let info = d
        .with_state(|s| crate::shares::store::get(s.conn(), share.as_str()))?
        .ok_or_else(|| WireError::invalid("source", format!("no share '{share}': see `corenas-ctl share list`")))?;
    let shown = info.def.path.to_string();
    let mut path = shown.clone();
    for _ in 0..4 {
        if path.starts_with("/mnt/corenas/") {
            return Ok(path);
        }
        let Some(rest) = path.strip_prefix("/storage/") else { break };
        let (first, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let mount = d.with_state(|s| crate::mounts::store::get(s.conn(), &format!("/storage/{first}")))?;
        let Some(MountSource::Bind { source }) = mount.map(|m| m.def.source) else { break };
        path = if sub.is_empty() { source.to_string() } else { format!("{source}/{sub}") };
    }
    Err(not_on_a_pool(share, &shown))
}

/// The dataset of `datasets` (names) that holds `path` (the deepest one), else the pool, and the
/// directory of `path` inside it.
pub fn locate(
    pool: &PoolName,
    datasets: &[String],
    path: &str,
) -> Result<(SnapshotSource, Option<RemotePath>), WireError> {
    let within = |root: &str| -> Option<String> {
        if path == root { Some(String::new()) } else { path.strip_prefix(&format!("{root}/")).map(str::to_owned) }
    };
    let best = datasets
        .iter()
        .filter_map(|d| d.parse::<DatasetName>().ok())
        .filter(|d| d.pool() == *pool)
        .filter_map(|d| within(d.mount_target().as_str()).map(|sub| (d, sub)))
        .max_by_key(|(d, _)| d.as_str().len());
    let (source, sub) = match best {
        Some((d, sub)) => (SnapshotSource::Dataset(d), sub),
        None => {
            let sub = within(pool.mount_target().as_str())
                .ok_or_else(|| WireError::internal(format!("{path} is not beneath pool {pool}'s mount point")))?;
            (SnapshotSource::Pool(pool.clone()), sub)
        }
    };
    let subpath = if sub.is_empty() {
        None
    } else {
        Some(sub.parse::<RemotePath>().map_err(|e| {
            WireError::invalid(
                "source",
                format!("the directory '{sub}' inside the source cannot be backed up by name: {}", e.message),
            )
        })?)
    };
    Ok((source, subpath))
}

/// A pool's backend: from CoreNAS's records, else (a ZFS pool imported, not created) from the
/// tools.
async fn backend_of(d: &Daemon, pool: &PoolName) -> Result<Backend, WireError> {
    let recorded = d.with_state(|s| crate::storage::store::records(s.conn()))?;
    if let Some(r) = recorded.iter().find(|r| r.spec.name == *pool) {
        return Ok(r.spec.layout.backend());
    }
    match crate::storage::pools::show(d, pool).await {
        Ok(p) => Ok(p.backend),
        Err(e) if e.code == ErrorCode::NotFound => {
            Err(WireError::invalid("source", format!("no pool '{pool}': see `corenas-ctl pool list`")))
        }
        Err(e) => Err(e),
    }
}

async fn dataset_names(d: &Daemon, pool: &PoolName, backend: Backend) -> Result<Vec<String>, WireError> {
    if !matches!(backend, Backend::Zfs | Backend::Btrfs) {
        return Ok(vec![]);
    }
    Ok(crate::storage::datasets::dataset_list(d, pool).await?.into_iter().map(|i| i.name).collect())
}

/// Resolves a task's source to what the helper snapshots (asking the helper for the pool's
/// datasets: a path inside a nested dataset is not in its parent's snapshot).
pub async fn resolve(d: &Daemon, source: &BackupSource) -> Result<ResolvedSource, WireError> {
    let (pool, path) = match source {
        BackupSource::Pool(p) => (p.clone(), p.mount_target().to_string()),
        BackupSource::Dataset(ds) => (ds.pool(), ds.mount_target().to_string()),
        BackupSource::Share(s) => {
            let path = share_pool_path(d, s)?;
            let pool = path.split('/').nth(3).unwrap_or_default();
            let pool: PoolName = pool.parse().map_err(|_| not_on_a_pool(s, &path))?;
            (pool, path)
        }
    };
    let backend = backend_of(d, &pool).await?;
    let datasets = dataset_names(d, &pool, backend).await?;
    if let BackupSource::Dataset(ds) = source
        && !datasets.iter().any(|n| n == ds.as_str())
    {
        return Err(WireError::invalid(
            "source",
            format!("no dataset '{ds}' in pool {pool}: see `corenas-ctl dataset list {pool}`"),
        ));
    }
    let (snapshot, subpath) = match source {
        BackupSource::Pool(p) => (SnapshotSource::Pool(p.clone()), None),
        BackupSource::Dataset(ds) => (SnapshotSource::Dataset(ds.clone()), None),
        BackupSource::Share(_) => locate(&pool, &datasets, &path)?,
    };
    Ok(ResolvedSource { source: snapshot, subpath, backend, root: path })
}

/// Refuses what the helper could not back up consistently, unless the task accepts a live tree.
pub fn check_consistency(r: &ResolvedSource, live: bool) -> Result<Vec<String>, WireError> {
    if r.snapshots() {
        return Ok(vec![]);
    }
    if live {
        return Ok(vec![format!(
            "the source ({}, a {} pool) cannot be snapshotted: each backup reads the live tree, so files changing meanwhile may be caught half-written",
            r.root, r.backend
        )]);
    }
    Err(WireError::invalid(
        "source",
        format!(
            "the source ({}) is on a {} pool, which cannot be snapshotted, so a backup would read the live tree; set live (--live) to accept that, or back up a ZFS or btrfs pool",
            r.root, r.backend
        ),
    ))
}

fn check_numbers(spec: &TaskSpec) -> Result<(), WireError> {
    if spec.hour > 23 {
        return Err(WireError::invalid("hour", format!("hour {} is invalid: use 0-23", spec.hour)));
    }
    if spec.excludes.len() > MAX_EXCLUDES {
        return Err(WireError::invalid("exclude", format!("at most {MAX_EXCLUDES} exclude patterns")));
    }
    if spec.check_subset > MAX_CHECK_SUBSET {
        return Err(WireError::invalid(
            "check_subset",
            format!("check subset 1/N: use N from 0 (structure only) to {MAX_CHECK_SUBSET}"),
        ));
    }
    if spec.sample_files > MAX_SAMPLE_FILES {
        return Err(WireError::invalid("sample_files", format!("use 0-{MAX_SAMPLE_FILES} sample files")));
    }
    Ok(())
}

/// What a task change answers and stores, checked against its target and source.
struct Checked {
    target: store::StoredTarget,
    warnings: Vec<String>,
}

async fn check_task(d: &Daemon, spec: &TaskSpec) -> Result<Checked, WireError> {
    check_numbers(spec)?;
    let target = d
        .with_state(|s| store::target(s.conn(), spec.target.as_str()))?
        .ok_or_else(|| targets::no_target(spec.target.as_str()))?;
    if let TargetLocation::Rest { append_only: true, .. } = target.location
        && !spec.keep.keeps_everything()
    {
        return Err(WireError::invalid(
            "keep",
            format!(
                "target {} is append-only: it refuses deletions, so no retention can run there; keep everything (no --keep-*) or use another target",
                spec.target
            ),
        ));
    }
    let resolved = resolve(d, &spec.source).await?;
    let mut warnings = check_consistency(&resolved, spec.live)?;
    if let TargetLocation::Local { path } = &target.location
        && overlaps(path.as_str(), &resolved.root)
    {
        return Err(WireError::invalid(
            "source",
            format!(
                "the source ({}) overlaps target {}'s repository ({path}): a backup would contain its own repository",
                resolved.root, spec.target
            ),
        ));
    }
    if let (SnapshotSource::Pool(p), Backend::Zfs | Backend::Btrfs) = (&resolved.source, resolved.backend) {
        let nested = dataset_names(d, p, resolved.backend).await.unwrap_or_default();
        if !nested.is_empty() {
            warnings.push(format!(
                "the datasets inside pool {p} ({}) are not part of a pool's snapshot: back each up with its own task",
                nested.join(", ")
            ));
        }
    }
    Ok(Checked { target, warnings })
}

/// restic's dry run of `keep` for the task (nothing when the policy keeps everything: no
/// forget will run).
async fn preview_of(
    d: &Daemon,
    target: &store::StoredTarget,
    task: &BackupName,
    keep: &KeepPolicy,
) -> Result<RetentionPreview, WireError> {
    let repo = repo_access(target);
    d.backups.restic.retention_preview(&repo, &task_tag(task), keep).await.map_err(|e| {
        let mut w = WireError::from(e);
        w.message = format!("the retention preview could not be computed, so the policy is not saved: {}", w.message);
        w
    })
}

fn preview_step(
    d: &Daemon,
    target: &store::StoredTarget,
    task: &BackupName,
    keep: &KeepPolicy,
) -> Result<Step, WireError> {
    let mut a: Vec<String> = ["--no-lock", "--json", "forget", "--dry-run"].iter().map(|s| (*s).to_owned()).collect();
    a.extend(super::restic::forget_selection(&task_tag(task), keep));
    let inv = d.backups.restic.invocation(&repo_access(target), &a).map_err(WireError::from)?;
    Ok(Step::Exec {
        program: inv.program.display().to_string(),
        args: inv.args,
        stdin: StdinPlan::Secret("repository password in the environment".into()),
    })
}

fn info_of(d: &Daemon, name: &str) -> Result<TaskInfo, WireError> {
    d.with_state(|s| store::task(s.conn(), name))?.ok_or_else(|| no_task(name))
}

/// Saves `spec` (new or changed) after its checks and, where the policy is new, its preview.
async fn save(
    d: &Daemon,
    spec: TaskSpec,
    created_at: Option<String>,
    keep_changed: bool,
    dry_run: bool,
) -> Result<Change<TaskChange>, WireError> {
    let checked = check_task(d, &spec).await?;
    let mut steps = vec![];
    let preview = if keep_changed && !spec.keep.keeps_everything() {
        steps.push(preview_step(d, &checked.target, &spec.name, &spec.keep)?);
        Some(preview_of(d, &checked.target, &spec.name, &spec.keep).await?)
    } else {
        None
    };
    steps.push(Step::Check { what: format!("store backup task {}", spec.name) });
    if !dry_run {
        d.with_state(|s| store::save_task(s.conn(), &spec))?;
    }
    let task = if dry_run {
        TaskInfo {
            spec: spec.clone(),
            created_at: created_at.unwrap_or_default(),
            last_backup: None,
            last_check: None,
            last_sample_restore: None,
            next_run: None,
        }
    } else {
        info_of(d, spec.name.as_str())?
    };
    let mut warnings = checked.warnings;
    if let Some(p) = &preview
        && !p.remove.is_empty()
    {
        warnings.push(format!(
            "{} snapshot(s) would be removed by this policy after the next successful backup",
            p.remove.len()
        ));
    }
    Ok(Change { warnings, ..Change::planned(dry_run, steps, Some(TaskChange { task, preview })) })
}

pub async fn create(d: &Daemon, spec: &TaskSpec, dry_run: bool) -> Result<Change<TaskChange>, WireError> {
    let _one_at_a_time = d.backups.lock.lock().await;
    if d.with_state(|s| store::task(s.conn(), spec.name.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("backup task {} already exists", spec.name)));
    }
    save(d, spec.clone(), None, true, dry_run).await
}

/// Applies a change to a task (the source stays); a new retention policy is previewed first.
pub fn apply(spec: &TaskSpec, m: &TaskModify) -> TaskSpec {
    let mut s = spec.clone();
    if let Some(t) = &m.target {
        s.target = t.clone();
    }
    if let Some(e) = m.every {
        s.every = e;
    }
    if let Some(h) = m.hour {
        s.hour = h;
    }
    if let Some(k) = m.keep {
        s.keep = k;
    }
    if let Some(x) = &m.excludes {
        s.excludes = x.clone();
    }
    if let Some(n) = m.check_subset {
        s.check_subset = n;
    }
    if let Some(n) = m.sample_files {
        s.sample_files = n;
    }
    if let Some(l) = m.live {
        s.live = l;
    }
    s
}

pub async fn modify(
    d: &Daemon,
    name: &BackupName,
    m: &TaskModify,
    dry_run: bool,
) -> Result<Change<TaskChange>, WireError> {
    let _one_at_a_time = d.backups.lock.lock().await;
    let old = info_of(d, name.as_str())?;
    let new = apply(&old.spec, m);
    let keep_changed = new.keep != old.spec.keep || new.target != old.spec.target;
    save(d, new, Some(old.created_at), keep_changed, dry_run).await
}

/// Removes a task; its snapshots stay in the target's repository.
pub async fn delete(d: &Daemon, name: &BackupName, dry_run: bool) -> Result<Change<()>, WireError> {
    let _one_at_a_time = d.backups.lock.lock().await;
    let t = info_of(d, name.as_str())?;
    let steps = vec![Step::Check { what: format!("forget backup task {name} (its snapshots are not touched)") }];
    if !dry_run {
        d.with_state(|s| store::delete_task(s.conn(), name.as_str()))?;
    }
    let warnings = vec![format!(
        "the snapshots of task {name} stay in target {}'s repository (tag {}); restic can still list and restore them",
        t.spec.target,
        task_tag(name)
    )];
    Ok(Change { warnings, ..Change::planned(dry_run, steps, None) })
}

pub fn list(d: &Daemon) -> Result<Vec<TaskInfo>, WireError> {
    d.with_state(|s| store::tasks(s.conn()))
}

pub fn show(d: &Daemon, name: &BackupName) -> Result<TaskInfo, WireError> {
    info_of(d, name.as_str())
}

fn task_and_target(d: &Daemon, name: &BackupName) -> Result<(TaskInfo, store::StoredTarget), WireError> {
    let t = info_of(d, name.as_str())?;
    let target = d
        .with_state(|s| store::target(s.conn(), t.spec.target.as_str()))?
        .ok_or_else(|| targets::no_target(t.spec.target.as_str()))?;
    Ok((t, target))
}

/// `backup task preview NAME --keep-*`: what the policy would do now (nothing is saved).
pub async fn preview(d: &Daemon, name: &BackupName, keep: &KeepPolicy) -> Result<RetentionPreview, WireError> {
    let (_, target) = task_and_target(d, name)?;
    preview_of(d, &target, name, keep).await
}

/// The task's snapshots, oldest first.
pub async fn snapshots(d: &Daemon, name: &BackupName) -> Result<Vec<SnapshotInfo>, WireError> {
    let (_, target) = task_and_target(d, name)?;
    Ok(d.backups.restic.snapshots(&repo_access(&target), Some(&task_tag(name))).await?)
}

/// One directory of one of the task's snapshots (another task's snapshot is not shown).
pub async fn ls(
    d: &Daemon,
    name: &BackupName,
    snapshot: &ResticSnapshotId,
    path: &SnapshotPath,
) -> Result<SnapshotListing, WireError> {
    let (_, target) = task_and_target(d, name)?;
    let listing = d.backups.restic.ls(&repo_access(&target), snapshot, path, LS_LIMIT).await.map_err(|e| match e {
        ResticError::Failed { stderr, .. }
            if stderr.contains("no matching ID found") || stderr.contains("invalid id") =>
        {
            let mut w = WireError::not_found(format!("no snapshot {snapshot} in target {}'s repository", target.name));
            w.field = Some("snapshot".into());
            w
        }
        e => e.into(),
    })?;
    if !listing.snapshot.tags.contains(&task_tag(name)) {
        let mut w = WireError::not_found(format!("snapshot {snapshot} is not one of task {name}'s"));
        w.field = Some("snapshot".into());
        return Err(w);
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolName {
        "tank".parse().unwrap()
    }

    #[test]
    fn a_share_path_lands_in_its_deepest_dataset() {
        let ds = vec!["tank".to_owned(), "tank/media".to_owned(), "tank/media/photos".to_owned(), "other/x".to_owned()];
        let (s, sub) = locate(&pool(), &ds, "/mnt/corenas/tank/media/photos/2026").unwrap();
        assert_eq!(s, SnapshotSource::Dataset("tank/media/photos".parse().unwrap()));
        assert_eq!(sub.map(|p| p.to_string()).as_deref(), Some("2026"));
        let (s, sub) = locate(&pool(), &ds, "/mnt/corenas/tank/media").unwrap();
        assert_eq!(s, SnapshotSource::Dataset("tank/media".parse().unwrap()));
        assert_eq!(sub, None);
        // Not a dataset by prefix of its name: media2 is inside the pool's root.
        let (s, sub) = locate(&pool(), &ds, "/mnt/corenas/tank/media2/a").unwrap();
        assert_eq!(s, SnapshotSource::Pool(pool()));
        assert_eq!(sub.map(|p| p.to_string()).as_deref(), Some("media2/a"));
        assert!(locate(&pool(), &ds, "/mnt/corenas/other/x").is_err(), "another pool's path");
    }

    #[test]
    fn a_source_that_cannot_be_snapshotted_needs_live() {
        let r = |backend| ResolvedSource {
            source: SnapshotSource::Pool(pool()),
            subpath: None,
            backend,
            root: "/mnt/corenas/tank".into(),
        };
        assert_eq!(check_consistency(&r(Backend::Zfs), false).unwrap(), Vec::<String>::new());
        assert!(check_consistency(&r(Backend::Btrfs), false).is_ok());
        let e = check_consistency(&r(Backend::Single), false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("source"));
        assert!(e.message.contains("cannot be snapshotted") && e.message.contains("live"), "{}", e.message);
        let w = check_consistency(&r(Backend::Single), true).unwrap();
        assert!(w[0].contains("live tree"), "{w:?}");
    }

    #[test]
    fn a_modification_replaces_only_what_it_names() {
        let spec: TaskSpec = serde_json::from_str(
            r#"{"name":"docs","source":{"share":"docs"},"target":"usb","every":"daily","hour":2,
                "keep":{"daily":7},"excludes":["*.tmp"],"check_subset":10,"sample_files":5}"#,
        )
        .unwrap();
        let m = TaskModify {
            hour: Some(4),
            keep: Some(KeepPolicy { last: 3, ..KeepPolicy::default() }),
            ..TaskModify::default()
        };
        let n = apply(&spec, &m);
        assert_eq!((n.hour, n.keep.last, n.keep.daily), (4, 3, 0));
        assert_eq!((n.excludes.len(), n.check_subset, n.source.clone()), (1, 10, spec.source.clone()));
        assert!(check_numbers(&TaskSpec { hour: 24, ..spec.clone() }).is_err());
        assert!(check_numbers(&TaskSpec { check_subset: 5000, ..spec }).is_err());
    }
}
