//! The storage commands (`storage ...`) and the storage side of `device` (inventory, SMART,
//! self-tests, wipe). Requests are built from values clap already parsed into their proto types;
//! what only makes sense in combination (a ZFS flag with `--type btrfs`, `--force` for what
//! destroys data) is checked here, before anything is sent. Policy is corenasd's; the answers
//! are rendered by `output`.
//!
//! `storage wizard` is [`wizard`], a function of the device inventory and the answer lines, so it
//! can be tested without a terminal or a daemon; the command around it only does the I/O.

use crate::cli::{
    BlockDeviceCommand, DatasetCommand, DeviceWipeArgs, PoolCreateArgs, SnapshotCommand, StorageCommand,
    StorageJobCommand, WizardArgs,
};
use crate::client::{Daemon, call};
use crate::error::{CtlError, EXIT_FAILED};
use crate::imaging;
use crate::output::{self, Report};
use corenas_proto::ErrorCode;
use corenas_proto::ValidationError;
use corenas_proto::api::{Change, DeviceWipe};
use corenas_proto::devices::{DeviceInfo, DeviceKind};
use corenas_proto::names::{DevicePath, PoolName};
use corenas_proto::storage::{
    Backend, BtrfsProfile, Compression, DatasetSpec, DiskFs, PoolLayout, PoolSpec, Redundancy, Retention, StorageJob,
    ZfsLayout, ZfsProperty,
};
use serde_json::json;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How long one `storage_job_wait` may wait for a change before corenasd answers with the job as is.
const WAIT_MS: u32 = 5000;
/// A template is a few hundred bytes; anything much larger is not one.
const TEMPLATE_MAX: u64 = 64 * 1024;

pub async fn storage(cmd: StorageCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    match cmd {
        StorageCommand::Create(a) => create(a, socket, dry_run).await,
        StorageCommand::Wizard(a) => wizard_command(a, socket, dry_run, json).await,
        StorageCommand::List => {
            let pools = call!(socket => pool_list())?;
            Ok(Report::ok(output::pools_table(&pools), output::to_json(&pools)?))
        }
        StorageCommand::Show { name } => {
            let pool = call!(socket => pool_show(name))?;
            Ok(Report::ok(output::pool_block(&pool), output::to_json(&pool)?))
        }
        StorageCommand::Destroy { name, force } => {
            needs_force(
                force,
                dry_run,
                format!("storage destroy removes pool {name} and every file, dataset and snapshot on it"),
                "destroy it",
            )?;
            let d = Daemon::connect(socket).await?;
            let confirm = name.to_string();
            let change = call!(d, pool_destroy(name, confirm, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        StorageCommand::Import { name } => {
            let change = call!(socket => pool_import(name, dry_run))?;
            output::change_report(&change, output::pool_block)
        }
        StorageCommand::Export { name } => {
            let change = call!(socket => pool_export(name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        StorageCommand::Scrub { name, stop: true, .. } => {
            let change = call!(socket => pool_scrub_stop(name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        StorageCommand::Scrub { name, stop: false, wait } => {
            let d = Daemon::connect(socket).await?;
            let change = call!(d, pool_scrub(name, dry_run))?;
            job_started(&d, change, wait, json, "").await
        }
        StorageCommand::Dataset(cmd) => dataset(cmd, socket, dry_run).await,
        StorageCommand::Snapshot(cmd) => snapshot(cmd, socket, dry_run).await,
        StorageCommand::Job(cmd) => job(cmd, socket, dry_run, json).await,
    }
}

pub async fn device(cmd: BlockDeviceCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    match cmd {
        BlockDeviceCommand::Imaging(cmd) => imaging::device(cmd, socket, dry_run).await,
        BlockDeviceCommand::List => {
            let devices = call!(socket => device_inventory())?;
            Ok(Report::ok(output::device_inventory_table(&devices), output::to_json(&devices)?))
        }
        BlockDeviceCommand::Show { device } => {
            let info = call!(socket => device_show(device))?;
            Ok(Report::ok(output::device_block(&info), output::to_json(&info)?))
        }
        BlockDeviceCommand::Smart { device, history: false, .. } => {
            let report = call!(socket => device_smart(device))?;
            Ok(Report::ok(output::smart_block(&report), output::to_json(&report)?))
        }
        BlockDeviceCommand::Smart { device, history: true, limit } => {
            let reports = call!(socket => device_smart_history(device, limit))?;
            Ok(Report::ok(output::smart_history_table(&reports), output::to_json(&reports)?))
        }
        BlockDeviceCommand::EraseOptions { device } => {
            let support = call!(socket => device_erase_support(device))?;
            Ok(Report::ok(output::erase_support_block(&support), output::to_json(&support)?))
        }
        BlockDeviceCommand::Events { after, wait_ms, follow: false, .. } => {
            let got = call!(socket => device_events(after, wait_ms))?;
            Ok(Report::ok(output::device_events_table(&got), output::to_json(&got)?))
        }
        BlockDeviceCommand::Events { after, follow: true, count, .. } => {
            let d = Daemon::connect(socket).await?;
            follow_device_events(&d, after, count, json).await
        }
        BlockDeviceCommand::Selftest { device, long, wait } => {
            let d = Daemon::connect(socket).await?;
            let change = call!(d, device_selftest(device, long, dry_run))?;
            job_started(&d, change, wait, json, "").await
        }
        BlockDeviceCommand::Wipe(a) => {
            // Refused before connecting: a real wipe needs --force; a dry run shows what would happen.
            needs_force(a.force, dry_run, format!("device wipe destroys all data on {}", a.device), "wipe it")?;
            let d = Daemon::connect(socket).await?;
            wipe(&d, a, dry_run, json).await
        }
    }
}

/// `device events --follow`: long polls corenasd and prints each event as it arrives (a JSON
/// document a line with --json), until `count` events were printed or forever.
async fn follow_device_events(d: &Daemon, mut after: u64, count: Option<u32>, json: bool) -> Result<Report, CtlError> {
    let mut left = count.map(u64::from);
    loop {
        let got = call!(d, device_events(after, corenas_proto::devices::MAX_EVENT_WAIT_MS))?;
        after = got.next;
        if got.missed > 0 {
            // Said on stderr so that a script reading the events still gets one kind of line.
            eprintln!("corenas-ctl: {} device events were missed: read the inventory again", got.missed);
        }
        for ev in &got.events {
            let line = if json { output::to_json(ev)? } else { output::device_event_line(ev) };
            output::print_stdout(&format!("{line}\n"));
            if let Some(n) = left.as_mut() {
                *n -= 1;
                if *n == 0 {
                    return Ok(Report::Written);
                }
            }
        }
    }
}

/// `device wipe`: the device is read first, so the confirmation corenasd requires (its serial,
/// or its kernel name when it has none) is the one of the disk the kernel sees under that path.
async fn wipe(d: &Daemon, a: DeviceWipeArgs, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    let info = call!(d, device_show(a.device.clone()))?;
    let req = DeviceWipe { device: a.device, method: a.method, confirm: wipe_confirmation(&info), samples: a.samples };
    let change = call!(d, device_wipe(req, dry_run))?;
    job_started(d, change, a.wait, json, &output::device_line(&info)).await
}

/// What `DeviceWipe::confirm` repeats: the serial number as the device reports it, or the
/// kernel name when it reports none (corenasd compares exactly this).
fn wipe_confirmation(info: &DeviceInfo) -> String {
    info.serial.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| info.name.clone())
}

/// Exit 2 before anything is sent when a destructive command lacks `--force` (a dry run needs
/// none: it changes nothing and shows what would happen).
pub(crate) fn needs_force(force: bool, dry_run: bool, what: String, verb: &str) -> Result<(), CtlError> {
    if force || dry_run {
        return Ok(());
    }
    Err(CtlError::usage("force", format!("{what}: add --force to {verb} (or --dry-run to see what would happen)")))
}

/// A job was started (scrub, self-test, wipe): `about` (a line naming what it works on, or
/// nothing), the change, then with `--wait` its progress until it ends. A dry run started
/// nothing, so there is nothing to follow.
async fn job_started(
    d: &Daemon,
    change: Change<StorageJob>,
    wait: bool,
    json: bool,
    about: &str,
) -> Result<Report, CtlError> {
    let started = match output::change_report(&change, output::storage_job_line)? {
        Report::Answer { human, json, exit } => Report::Answer { human: format!("{about}{human}"), json, exit },
        other => other,
    };
    if !wait || change.dry_run {
        return Ok(started);
    }
    let job = change.result.ok_or_else(|| CtlError::failed(ErrorCode::Protocol, "corenasd started no job"))?;
    if let (false, Report::Answer { human, .. }) = (json, &started) {
        output::print_stdout(human);
    }
    let end = follow(d, job.id, output::progress_printer(json, output::storage_progress_line)).await?;
    job_end_report(&end)
}

/// Whether a job is still at work; every other state is an end.
fn is_running(job: &StorageJob) -> bool {
    job.state == "running"
}

/// Follows a job until it is no longer running, calling `on_change` once per new version (the
/// first answer included). Returns the job as it was last seen.
pub(crate) async fn follow(
    d: &Daemon,
    id: String,
    mut on_change: impl FnMut(&StorageJob),
) -> Result<StorageJob, CtlError> {
    // A job that already ended answers at once, without a long poll.
    let mut job = call!(d, storage_job_show(id.clone()))?;
    on_change(&job);
    while is_running(&job) {
        let seen = job.version;
        job = call!(d, storage_job_wait(id.clone(), seen, WAIT_MS))?;
        if job.version != seen || !is_running(&job) {
            on_change(&job);
        }
    }
    Ok(job)
}

/// The end of a followed job: exit 0 only when it is done.
pub(crate) fn job_end_report(job: &StorageJob) -> Result<Report, CtlError> {
    let exit = if job.state == "done" { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human: output::storage_job_end(job), json: output::to_json(job)?, exit })
}

async fn dataset(cmd: DatasetCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let DatasetCommand::Destroy { name, force, recursive } = &cmd {
        let what = if *recursive {
            format!("storage dataset destroy removes {name}, the datasets beneath it and their snapshots")
        } else {
            format!("storage dataset destroy removes {name} and every file and snapshot in it")
        };
        needs_force(*force, dry_run, what, "destroy it")?;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        DatasetCommand::Create { name, properties } => {
            let change = call!(d, dataset_create(DatasetSpec { name, properties }, dry_run))?;
            output::change_report(&change, output::dataset_block)
        }
        DatasetCommand::List { pool } => {
            let datasets = call!(d, dataset_list(pool))?;
            Ok(Report::ok(output::datasets_table(&datasets), output::to_json(&datasets)?))
        }
        DatasetCommand::Set { name, properties } => {
            let change = call!(d, dataset_set(name, properties, dry_run))?;
            output::change_report(&change, output::dataset_block)
        }
        DatasetCommand::Destroy { name, recursive, .. } => {
            let change = call!(d, dataset_destroy(name, recursive, dry_run))?;
            output::change_report(&change, output::nothing)
        }
    }
}

async fn snapshot(cmd: SnapshotCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let SnapshotCommand::Rollback { dataset, name, force } = &cmd {
        let what = format!(
            "storage snapshot rollback returns {dataset} to {name}: what changed since is lost, and (ZFS) every \
             later snapshot is destroyed"
        );
        needs_force(*force, dry_run, what, "roll back")?;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        SnapshotCommand::Create { dataset, name } => {
            let change = call!(d, snapshot_create(dataset, name, dry_run))?;
            output::change_report(&change, output::snapshot_line)
        }
        SnapshotCommand::List { dataset } => {
            let snapshots = call!(d, snapshot_list(dataset))?;
            Ok(Report::ok(output::snapshots_table(&snapshots), output::to_json(&snapshots)?))
        }
        SnapshotCommand::Destroy { dataset, name } => {
            let change = call!(d, snapshot_destroy(dataset, name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        SnapshotCommand::Rollback { dataset, name, .. } => {
            let change = call!(d, snapshot_rollback(dataset, name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        SnapshotCommand::Schedule { dataset, hourly, daily, weekly, monthly } => {
            let keep = Retention {
                hourly: hourly.unwrap_or(0),
                daily: daily.unwrap_or(0),
                weekly: weekly.unwrap_or(0),
                monthly: monthly.unwrap_or(0),
            };
            let change = call!(d, schedule_set(dataset, keep, dry_run))?;
            output::change_report(&change, output::schedule_block)
        }
        SnapshotCommand::Schedules => {
            let schedules = call!(d, schedule_list())?;
            Ok(Report::ok(output::schedules_table(&schedules), output::to_json(&schedules)?))
        }
        SnapshotCommand::RunSchedules => {
            let change = call!(d, schedule_run(dry_run))?;
            output::change_report(&change, |done| output::schedule_run_text(done))
        }
    }
}

async fn job(cmd: StorageJobCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        StorageJobCommand::List => {
            let jobs = call!(d, storage_job_list())?;
            Ok(Report::ok(output::storage_jobs_table(&jobs), output::to_json(&jobs)?))
        }
        StorageJobCommand::Show { id } => {
            let job = call!(d, storage_job_show(id.into()))?;
            Ok(Report::ok(output::storage_job_block(&job), output::to_json(&job)?))
        }
        StorageJobCommand::Wait { id } => {
            let end = follow(&d, id.into(), output::progress_printer(json, output::storage_progress_line)).await?;
            job_end_report(&end)
        }
        StorageJobCommand::Cancel { id } => {
            let change = call!(d, storage_job_cancel(id.into(), dry_run))?;
            output::change_report(&change, output::storage_job_line)
        }
    }
}

// ---- storage create ----------------------------------------------------------------------

async fn create(a: PoolCreateArgs, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    // Everything is checked, and the template read, before connecting.
    let template = a.template.as_deref().map(load_template).transpose()?;
    let spec = pool_spec(&a, template)?;
    if let Some(path) = &a.save_template {
        return save_template_report(&spec, path, a.force, dry_run);
    }
    let change = call!(socket => pool_create(spec, dry_run))?;
    output::change_report(&change, output::pool_block)
}

/// Only these can be created here; lvm and mdadm parse (so they get this message) but their real
/// runs need the VM tier, which has device-mapper and md.
fn creatable(kind: Backend) -> Result<(), CtlError> {
    match kind {
        Backend::Zfs | Backend::Btrfs | Backend::Single => Ok(()),
        Backend::Lvm | Backend::Mdadm => Err(CtlError::usage(
            "type",
            format!(
                "storage type {kind} cannot be created with this command yet (LVM and mdadm pools run for real only \
                 in the VM tier): use --type zfs, btrfs or single"
            ),
        )),
    }
}

fn invalid(e: ValidationError) -> CtlError {
    CtlError::usage(e.field, e.message)
}

/// A flag that belongs to another pool type is refused, naming the flag and its type.
fn only_for(given: bool, field: &str, flag: &str, kinds: &[Backend], kind: Backend) -> Result<(), CtlError> {
    if given && !kinds.contains(&kind) {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        return Err(CtlError::usage(
            field,
            format!("{flag} is for --type {} only, not {kind}", names.join(" or --type ")),
        ));
    }
    Ok(())
}

/// `storage create`: the flags on top of the template (if any), with the defaults the help
/// names, checked by `PoolSpec::validate`. The template's `force` is never used: `--force` is
/// given on the command line or not at all.
pub(crate) fn pool_spec(a: &PoolCreateArgs, template: Option<PoolSpec>) -> Result<PoolSpec, CtlError> {
    let kind = match (a.kind, &template) {
        (Some(k), _) => k,
        (None, Some(t)) => t.layout.backend(),
        (None, None) => return Err(CtlError::usage("type", "give --type zfs, btrfs or single (or --template FILE)")),
    };
    creatable(kind)?;
    let name = match (&a.name, &template) {
        (Some(n), _) => n.clone(),
        (None, Some(t)) => t.name.clone(),
        (None, None) => return Err(CtlError::usage("name", "give the pool's name (or --template FILE)")),
    };
    let devices = match (&template, a.devices.is_empty()) {
        (Some(t), true) => t.devices.clone(),
        _ => a.devices.clone(),
    };
    if devices.is_empty() {
        return Err(CtlError::usage("devices", "give at least one --device, e.g. --device /dev/sdb"));
    }
    use Backend::{Btrfs, Single, Zfs};
    only_for(a.layout.is_some(), "layout", "--layout", &[Zfs], kind)?;
    only_for(a.ashift.is_some(), "ashift", "--ashift", &[Zfs], kind)?;
    only_for(!a.properties.is_empty(), "property", "--property", &[Zfs], kind)?;
    only_for(a.data_profile.is_some(), "profile", "--data-profile", &[Btrfs], kind)?;
    only_for(a.metadata_profile.is_some(), "profile", "--metadata-profile", &[Btrfs], kind)?;
    only_for(a.compression.is_some(), "compression", "--compression", &[Zfs, Btrfs], kind)?;
    only_for(a.fs.is_some(), "fs", "--fs", &[Single], kind)?;

    let base = template.map(|t| t.layout).filter(|l| l.backend() == kind);
    let n = devices.len();
    let layout = match kind {
        Zfs => {
            let (layout, ashift, mut properties) = match base {
                Some(PoolLayout::Zfs { layout, ashift, properties }) => (Some(layout), ashift, properties),
                _ => (None, None, Vec::new()),
            };
            // A key given on the command line replaces the template's; keys given twice on the
            // command line are left for validate() to name.
            properties.retain(|p| !a.properties.iter().any(|q| q.key() == p.key()));
            properties.extend(a.properties.iter().copied());
            if let Some(c) = a.compression {
                if a.properties.iter().any(|p| p.key() == "compression") {
                    return Err(CtlError::usage(
                        "compression",
                        "compression is given twice: use --compression or --property compression=..., not both",
                    ));
                }
                if !c.zfs_ok() {
                    return Err(CtlError::usage(
                        "compression",
                        format!("ZFS compression '{c}' is invalid: use off, on, lz4, gzip, zstd, lzjb or zle"),
                    ));
                }
                properties.retain(|p| p.key() != "compression");
                properties.push(ZfsProperty::Compression(c));
            }
            let layout = match (a.layout.or(layout), n) {
                (Some(l), _) => l,
                (None, 1) => ZfsLayout::Stripe,
                (None, _) => {
                    return Err(CtlError::usage(
                        "layout",
                        format!(
                            "ZFS with {n} devices needs --layout: mirror, raidz1, raidz2, raidz3, or stripe (no \
                             redundancy)"
                        ),
                    ));
                }
            };
            PoolLayout::Zfs { layout, ashift: a.ashift.or(ashift), properties }
        }
        Btrfs => {
            let (data, metadata, compression) = match base {
                Some(PoolLayout::Btrfs { data, metadata, compression }) => (Some(data), Some(metadata), compression),
                _ => (None, None, None),
            };
            // mkfs.btrfs's own defaults.
            let metadata_default = if n == 1 { BtrfsProfile::Dup } else { BtrfsProfile::Raid1 };
            PoolLayout::Btrfs {
                data: a.data_profile.or(data).unwrap_or(BtrfsProfile::Single),
                metadata: a.metadata_profile.or(metadata).unwrap_or(metadata_default),
                compression: a.compression.or(compression),
            }
        }
        _ => {
            let fs = match base {
                Some(PoolLayout::Single { fs }) => Some(fs),
                _ => None,
            };
            PoolLayout::Single { fs: a.fs.or(fs).unwrap_or(DiskFs::Ext4) }
        }
    };
    // With --save-template, --force is about the file, and a template never carries force.
    let spec = PoolSpec { name, layout, devices, force: a.force && a.save_template.is_none() };
    spec.validate().map_err(invalid)?;
    Ok(spec)
}

/// A template as `--save-template` wrote it (or by hand): a `PoolSpec` in JSON.
pub(crate) fn load_template(path: &Path) -> Result<PoolSpec, CtlError> {
    let unreadable =
        |e: io::Error| CtlError::usage("template", format!("cannot read template {}: {e}", path.display()));
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(TEMPLATE_MAX + 1).read_to_string(&mut text)).map_err(unreadable)?;
    if text.len() as u64 > TEMPLATE_MAX {
        return Err(CtlError::usage(
            "template",
            format!("template {} is larger than {TEMPLATE_MAX} bytes; it is not a pool definition", path.display()),
        ));
    }
    serde_json::from_str::<PoolSpec>(&text).map_err(|e| {
        CtlError::usage("template", format!("template {} is not a valid pool definition: {e}", path.display()))
    })
}

/// Writes the template atomically: a temporary file beside it, synced, then moved into place
/// (renamed over the old file with `overwrite`, else hard-linked, which fails if the name exists),
/// then the directory synced. A template never carries `force`.
pub(crate) fn save_template(spec: &PoolSpec, path: &Path, overwrite: bool) -> Result<(), CtlError> {
    let failed = |what: &str, e: io::Error| {
        let code =
            if e.kind() == io::ErrorKind::AlreadyExists { ErrorCode::AlreadyExists } else { ErrorCode::Internal };
        CtlError::failed(code, format!("cannot {what} {}: {e}", path.display()))
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| CtlError::usage("save_template", format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let spec = PoolSpec { force: false, ..spec.clone() };
    let mut text = serde_json::to_string_pretty(&spec)
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot encode the template: {e}")))?;
    text.push('\n');

    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write the template next to", e));
    }
    let placed = if overwrite {
        std::fs::rename(&tmp, path)
    } else {
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        linked
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Err(CtlError::failed(
                ErrorCode::AlreadyExists,
                format!("template {} exists: add --force to replace it", path.display()),
            ));
        }
        return Err(failed("write the template", e));
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| failed("sync the directory of", e))
}

fn save_template_report(spec: &PoolSpec, path: &Path, overwrite: bool, dry_run: bool) -> Result<Report, CtlError> {
    let what = output::pool_spec_text(spec);
    let json = |saved: bool| {
        json!({ "dry_run": dry_run, "saved": saved, "template": path.to_string_lossy(), "spec": PoolSpec { force: false, ..spec.clone() } })
            .to_string()
    };
    if dry_run {
        let human = format!("dry run: nothing written; would save the template {}:\n{what}", path.display());
        return Ok(Report::ok(output::printable_lines(&human).into_owned(), json(false)));
    }
    save_template(spec, path, overwrite)?;
    let human = format!(
        "saved the template {}:\n{what}`corenas-ctl storage create --template {}` creates the pool\n",
        path.display(),
        path.display()
    );
    Ok(Report::ok(output::printable_lines(&human).into_owned(), json(true)))
}

// ---- storage wizard ----------------------------------------------------------------------

/// Where the wizard's questions go: stdout for people, stderr with `--json` (stdout then carries
/// only the final document). Written and flushed as it comes, so a question shows before its
/// answer is read.
struct Live {
    json: bool,
}

impl fmt::Write for Live {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let written = if self.json {
            let mut e = io::stderr().lock();
            e.write_all(s.as_bytes()).and_then(|()| e.flush())
        } else {
            let mut o = io::stdout().lock();
            o.write_all(s.as_bytes()).and_then(|()| o.flush())
        };
        written.map_err(|_| fmt::Error)
    }
}

async fn wizard_command(a: WizardArgs, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    if let Some(kind) = a.kind {
        creatable(kind)?;
    }
    let d = Daemon::connect(socket).await?;
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines().map_while(Result::ok);
    wizard_session(&d, &a, dry_run, &mut lines, &mut Live { json }).await
}

/// The wizard against corenasd: the inventory, the questions, corenasd's dry-run plan, the last
/// question, then the pool created (or the template saved).
pub(crate) async fn wizard_session(
    d: &Daemon,
    a: &WizardArgs,
    dry_run: bool,
    answers: &mut dyn Iterator<Item = String>,
    out: &mut dyn fmt::Write,
) -> Result<Report, CtlError> {
    let inventory = call!(d, device_inventory())?;
    let spec = wizard(&inventory, a.kind, answers, out)?;

    let plan = call!(d, pool_create(spec.clone(), true))?;
    if let Report::Answer { human, .. } = output::change_report(&plan, |_| String::new())? {
        let _ = write!(out, "\n{human}");
    }
    if dry_run {
        return Ok(Report::ok("dry run: nothing was created\n".to_owned(), output::to_json(&plan)?));
    }
    let question = match &a.save_template {
        Some(path) => format!("Save the template {}? [y/N]", output::printable(&path.display().to_string())),
        None => "Create? [y/N]".to_owned(),
    };
    if !yes(&ask(out, answers, &question)?) {
        let human = "not created: nothing was changed\n".to_owned();
        return Ok(Report::Answer { human, json: output::to_json(&plan)?, exit: EXIT_FAILED });
    }
    if let Some(path) = &a.save_template {
        return save_template_report(&spec, path, a.force, false);
    }
    let change = call!(d, pool_create(spec, false))?;
    output::change_report(&change, output::pool_block)
}

fn yes(answer: &str) -> bool {
    matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints the question, then takes the next answer line (trimmed). The end of the answers ends
/// the wizard: nothing has been created.
fn ask(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    question: &str,
) -> Result<String, CtlError> {
    let _ = write!(out, "{question} ");
    match answers.next() {
        Some(line) => Ok(line.trim().to_owned()),
        None => {
            let _ = writeln!(out);
            Err(CtlError::usage(
                "answer",
                format!("the answers ended before the wizard was done (at \"{question}\"); nothing was created"),
            ))
        }
    }
}

/// One of `choices` (a name and what it means), by number or by name; Enter takes `default`.
/// Anything else is asked again.
fn choose<T: Copy>(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    question: &str,
    choices: &[(T, &str, String)],
    default: Option<usize>,
) -> Result<T, CtlError> {
    let _ = writeln!(out, "{question}");
    let w = choices.iter().map(|(_, name, _)| name.len()).max().unwrap_or(0);
    for (i, (_, name, about)) in choices.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}) {name:w$}  {about}", i + 1);
    }
    let hint = match default {
        Some(i) => format!("[1-{}, or Enter for {}]:", choices.len(), choices[i].1),
        None => format!("[1-{}]:", choices.len()),
    };
    loop {
        let answer = ask(out, answers, &hint)?;
        if answer.is_empty() {
            if let Some(i) = default {
                return Ok(choices[i].0);
            }
        }
        let by_number = number(&answer).and_then(|n| n.checked_sub(1)).and_then(|i| choices.get(i));
        let by_name = choices.iter().find(|(_, name, _)| name.eq_ignore_ascii_case(&answer));
        match by_number.or(by_name) {
            Some((choice, _, _)) => return Ok(*choice),
            None => {
                let _ = writeln!(
                    out,
                    "  '{}' is not one of the choices: answer with a number from 1 to {} or a name",
                    output::printable(&answer),
                    choices.len()
                );
            }
        }
    }
}

/// A device of the inventory the wizard may offer, with what it needs to say about it.
struct Candidate<'a> {
    info: &'a DeviceInfo,
    /// Why it cannot be chosen, or None when it can.
    busy: Option<String>,
}

/// The path the pool is built from: the stable /dev/disk/by-id link where there is one.
fn stable_path(info: &DeviceInfo) -> Result<DevicePath, CtlError> {
    if let Some(by_id) = info.by_id.iter().find_map(|p| p.parse::<DevicePath>().ok()) {
        return Ok(by_id);
    }
    info.path.parse::<DevicePath>().map_err(invalid)
}

fn media_kind(info: &DeviceInfo) -> &'static str {
    if info.rotational { "HDD" } else { "SSD" }
}

/// `storage wizard` without the I/O: asks the questions on `out`, takes the answers from
/// `answers`, and returns the pool to create. `inventory` is `device_inventory`'s answer.
pub(crate) fn wizard(
    inventory: &[DeviceInfo],
    kind: Option<Backend>,
    answers: &mut dyn Iterator<Item = String>,
    out: &mut dyn fmt::Write,
) -> Result<PoolSpec, CtlError> {
    let kind = match kind {
        Some(k) => {
            creatable(k)?;
            k
        }
        None => choose(
            out,
            answers,
            "Pool type:",
            &[
                (Backend::Zfs, "zfs", "ZFS pool: checksums, snapshots, compression, mirror or RAID-Z".to_owned()),
                (Backend::Btrfs, "btrfs", "btrfs filesystem: checksums, snapshots, compression, RAID1".to_owned()),
                (Backend::Single, "single", "one disk with ext4 or xfs".to_owned()),
            ],
            Some(0),
        )?,
    };

    // Devices: every one is listed; only free ones get a number.
    let candidates: Vec<Candidate<'_>> =
        inventory.iter().filter(|d| wizard_lists(d)).map(|info| Candidate { info, busy: busy_reason(info) }).collect();
    let free: Vec<&Candidate<'_>> = candidates.iter().filter(|c| c.busy.is_none()).collect();
    if free.is_empty() {
        return Err(CtlError::failed(
            ErrorCode::Busy,
            "no free device to build a pool from: every device is in use (see `corenas-ctl device list`)",
        ));
    }
    let _ = writeln!(out, "\nDevices (those in use cannot be chosen):");
    let mut table = output::Table::new(&["#", "DEVICE", "SIZE", "TYPE", "MODEL", "SERIAL", "STATE"]);
    let mut number = 0;
    for c in &candidates {
        let label = match &c.busy {
            None => {
                number += 1;
                number.to_string()
            }
            Some(_) => "-".to_owned(),
        };
        let state = match (&c.busy, contents(c.info)) {
            (Some(why), _) => format!("in use: {why}"),
            (None, Some(what)) => format!("free; {what}"),
            (None, None) => "free".to_owned(),
        };
        table.row([
            label,
            c.info.name.clone(),
            output::size(c.info.size_bytes),
            media_kind(c.info).to_owned(),
            c.info.model.clone().unwrap_or_else(|| "-".to_owned()),
            c.info.serial.clone().unwrap_or_else(|| "-".to_owned()),
            state,
        ]);
    }
    for line in table.render().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let chosen: Vec<&DeviceInfo> = loop {
        let reply = ask(out, answers, "Devices to use (numbers or names, comma separated, e.g. 1,2):")?;
        let names: Vec<&str> = free.iter().map(|c| c.info.name.as_str()).collect();
        match pick(&reply, &names) {
            Ok(picked) if kind == Backend::Single && picked.len() != 1 => {
                let _ = writeln!(out, "  a single-disk pool takes exactly one device: give one number");
            }
            Ok(picked) => break picked.into_iter().map(|i| free[i].info).collect(),
            Err(why) => {
                let _ = writeln!(out, "  {why}");
            }
        }
    };
    let n = chosen.len();
    let smallest = chosen.iter().map(|d| d.size_bytes).min().unwrap_or(0);
    let largest = chosen.iter().map(|d| d.size_bytes).max().unwrap_or(0);

    // Layout, with what each gives from these devices.
    let capacity = |r: &dyn Redundancy| {
        format!("{} usable, {} may fail: {}", output::size(r.usable_bytes(n, smallest)), r.tolerates(n), r.explain())
    };
    let _ = writeln!(out);
    let mut notes: Vec<String> = Vec::new();
    let layout = match kind {
        Backend::Zfs => {
            let layouts: Vec<ZfsLayout> = ZfsLayout::ALL.iter().copied().filter(|l| l.min_devices() <= n).collect();
            let choices: Vec<(ZfsLayout, &str, String)> =
                layouts.iter().map(|l| (*l, l.as_str(), capacity(l))).collect();
            let recommended = match n {
                1 => ZfsLayout::Stripe,
                2 => ZfsLayout::Mirror,
                3..=5 => ZfsLayout::Raidz1,
                _ => ZfsLayout::Raidz2,
            };
            let default = layouts.iter().position(|l| *l == recommended);
            let layout = choose(out, answers, &format!("Layout {}:", devices_note(n, smallest)), &choices, default)?;
            if layout.tolerates(n) == 0 {
                notes.push(no_redundancy(layout.as_str(), layout.explain()));
            }
            let compression = ask_compression(out, answers, Compression::zfs_ok, Compression::Lz4)?;
            PoolLayout::Zfs { layout, ashift: None, properties: vec![ZfsProperty::Compression(compression)] }
        }
        Backend::Btrfs => {
            let profiles = |data: bool| -> Vec<BtrfsProfile> {
                BtrfsProfile::ALL
                    .iter()
                    .copied()
                    .filter(|p| p.min_devices() <= n && !(data && *p == BtrfsProfile::Dup && n > 1))
                    .collect()
            };
            let data_profiles = profiles(true);
            let choices: Vec<(BtrfsProfile, &str, String)> =
                data_profiles.iter().map(|p| (*p, p.as_str(), capacity(p))).collect();
            let recommended = if n == 1 { BtrfsProfile::Single } else { BtrfsProfile::Raid1 };
            let default = data_profiles.iter().position(|p| *p == recommended);
            let question = format!("Data profile {}:", devices_note(n, smallest));
            let data = choose(out, answers, &question, &choices, default)?;
            let meta_profiles = profiles(false);
            let choices: Vec<(BtrfsProfile, &str, String)> = meta_profiles
                .iter()
                .map(|p| (*p, p.as_str(), format!("{} may fail: {}", p.tolerates(n), p.explain())))
                .collect();
            let recommended = match (n, data) {
                (1, _) => BtrfsProfile::Dup,
                (_, BtrfsProfile::Raid1c3) => BtrfsProfile::Raid1c3,
                _ => BtrfsProfile::Raid1,
            };
            let default = meta_profiles.iter().position(|p| *p == recommended);
            let _ = writeln!(out);
            let metadata = choose(out, answers, "Metadata profile:", &choices, default)?;
            if data.tolerates(n) == 0 {
                notes.push(no_redundancy(&format!("data {data}"), data.explain()));
            } else if metadata.tolerates(n) == 0 {
                notes.push(format!(
                    "no redundancy for metadata ({metadata}): a failed disk can lose the whole filesystem"
                ));
            }
            let compression = ask_compression(out, answers, Compression::btrfs_ok, Compression::Zstd)?;
            PoolLayout::Btrfs { data, metadata, compression: Some(compression) }
        }
        _ => {
            let fs = choose(
                out,
                answers,
                "Filesystem:",
                &[
                    (DiskFs::Ext4, "ext4", "the common Linux filesystem".to_owned()),
                    (DiskFs::Xfs, "xfs", "fast with large files; cannot be shrunk".to_owned()),
                ],
                Some(0),
            )?;
            notes.push("no redundancy: a single-disk pool is lost with its disk".to_owned());
            PoolLayout::Single { fs }
        }
    };

    let _ = writeln!(out);
    let name = loop {
        match ask(out, answers, "Pool name (mounted at /mnt/corenas/NAME):")?.parse::<PoolName>() {
            Ok(name) => break name,
            Err(e) => {
                let _ = writeln!(out, "  {}", e.message);
            }
        }
    };

    // What the admin should know before saying yes.
    if n > 1 && smallest != largest {
        let unused: u64 = chosen.iter().map(|d| d.size_bytes - smallest).sum();
        notes.push(format!(
            "the devices differ in size ({} to {}): each counts as the smallest, so {} of the larger ones stays unused",
            output::size(smallest),
            output::size(largest),
            output::size(unused)
        ));
    }
    if chosen.iter().any(|d| d.rotational) && chosen.iter().any(|d| !d.rotational) {
        let of = |rotational: bool| {
            chosen.iter().filter(|d| d.rotational == rotational).map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
        };
        notes.push(format!(
            "SSDs ({}) and HDDs ({}) are mixed: the pool works at the pace of the slowest device",
            of(false),
            of(true)
        ));
    }
    let holding: Vec<String> =
        chosen.iter().filter_map(|d| contents(d).map(|what| format!("{} {what}", d.name))).collect();

    let devices = chosen.iter().map(|d| stable_path(d)).collect::<Result<Vec<_>, _>>()?;
    let mut spec = PoolSpec { name, layout, devices, force: false };
    let _ = writeln!(out, "\nSummary:");
    let summary = output::pool_spec_text(&spec);
    let usable = usable_bytes(&spec.layout, n, smallest);
    for line in summary.lines().chain(std::iter::once(format!("usable:      about {}", output::size(usable)).as_str()))
    {
        let _ = writeln!(out, "  {line}");
    }
    for note in &notes {
        let _ = writeln!(out, "warning: {}", output::printable(note));
    }
    if !holding.is_empty() {
        let _ = writeln!(out, "warning: {}; creating the pool erases it", output::printable(&holding.join(", ")));
        if !yes(&ask(out, answers, "Erase what is on these devices? [y/N]")?) {
            return Err(CtlError::failed(
                ErrorCode::InvalidInput,
                "not created: the devices hold data that was not to be erased; nothing was changed",
            ));
        }
        spec.force = true;
    }
    spec.validate().map_err(invalid)?;
    Ok(spec)
}

/// The warning for a layout that survives no failed device.
fn no_redundancy(layout: &str, explain: &str) -> String {
    format!("no redundancy ({layout}): {}", explain.strip_prefix("no redundancy: ").unwrap_or(explain))
}

/// "for 3 devices (each counted as 1.0 GiB, the smallest)", for the layout questions.
fn devices_note(n: usize, smallest: u64) -> String {
    if n == 1 {
        "for 1 device".to_owned()
    } else {
        format!("for {n} devices (each counted as {}, the smallest)", output::size(smallest))
    }
}

fn usable_bytes(layout: &PoolLayout, n: usize, smallest: u64) -> u64 {
    match layout {
        PoolLayout::Zfs { layout, .. } => layout.usable_bytes(n, smallest),
        PoolLayout::Btrfs { data, .. } => data.usable_bytes(n, smallest),
        PoolLayout::Single { .. } => smallest,
    }
}

fn ask_compression(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    fits: fn(Compression) -> bool,
    default: Compression,
) -> Result<Compression, CtlError> {
    let choices: Vec<(Compression, &str, String)> = Compression::ALL
        .iter()
        .copied()
        .filter(|c| fits(*c))
        .map(|c| {
            let about = match c {
                Compression::Off => "none",
                Compression::Lz4 => "fast, the usual choice for ZFS",
                Compression::Zstd => "smaller files, a little more CPU",
                Compression::On => "the backend's default algorithm",
                Compression::Gzip | Compression::Zlib => "small files, slow",
                Compression::Lzo | Compression::Lzjb | Compression::Zle => "fast, compresses less",
            };
            (c, c.as_str(), about.to_owned())
        })
        .collect();
    let default = choices.iter().position(|(c, _, _)| *c == default);
    let _ = writeln!(out);
    choose(out, answers, "Compression:", &choices, default)
}

/// Which inventory entries the wizard lists: whole disks (and loop devices) that could hold a
/// pool; partitions and optical drives cannot.
fn wizard_lists(d: &DeviceInfo) -> bool {
    matches!(d.kind, DeviceKind::Disk | DeviceKind::Loop) && d.size_bytes > 0
}

/// Why a device cannot be chosen, or None.
fn busy_reason(d: &DeviceInfo) -> Option<String> {
    if d.in_use() {
        let uses = d.all_uses();
        return Some(if uses.is_empty() { "in use".to_owned() } else { uses.join("; ") });
    }
    if d.read_only {
        return Some("read-only".to_owned());
    }
    None
}

/// What is on a device that creating a pool erases ("holds ext4", "has 2 partitions"), or None
/// when it looks empty.
fn contents(d: &DeviceInfo) -> Option<String> {
    let fs = |fs: &str, label: Option<&str>| match label {
        Some(l) => format!("{fs} \"{l}\""),
        None => fs.to_owned(),
    };
    if let Some(t) = d.fs_type.as_deref() {
        return Some(format!("holds {}", fs(t, d.fs_label.as_deref())));
    }
    match d.partitions.len() {
        0 => None,
        n => {
            let found: Vec<String> = d
                .partitions
                .iter()
                .filter_map(|p| p.fs_type.as_deref().map(|t| fs(t, p.fs_label.as_deref())))
                .collect();
            let plural = if n == 1 { "" } else { "s" };
            Some(if found.is_empty() {
                format!("has {n} partition{plural}")
            } else {
                format!("has {n} partition{plural} ({})", found.join(", "))
            })
        }
    }
}

/// A choice's number: digits only ("+1" and " 1" are not numbers here).
fn number(s: &str) -> Option<usize> {
    corenas_proto::names::parse_decimal(s).and_then(|n| usize::try_from(n).ok())
}

/// Device numbers from `1,3, 4`: each within 1..=count, each once, at least one. Returns
/// 0-based indexes in the order given.
/// The devices chosen by number (as listed) or by kernel name (`sdb`, `/dev/sdb`): names do not
/// shift when a disk is plugged in between listing and answering.
fn pick(reply: &str, names: &[&str]) -> Result<Vec<usize>, String> {
    let count = names.len();
    let mut picked = Vec::new();
    for part in reply.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let by_number = number(part).filter(|n| (1..=count).contains(n)).map(|n| n - 1);
        let by_name = names.iter().position(|n| *n == part.trim_start_matches("/dev/"));
        let i = by_number.or(by_name).ok_or_else(|| {
            format!(
                "'{}' is not a device number or the name of a free device: use numbers from 1 to {count} or names",
                output::printable(part)
            )
        })?;
        if picked.contains(&i) {
            return Err(format!("device {} is given twice", names[i]));
        }
        picked.push(i);
    }
    if picked.is_empty() {
        return Err(format!("give at least one device number from 1 to {count}"));
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use corenas_proto::devices::{DeviceUse, PartitionInfo};

    fn parse(args: &[&str]) -> Command {
        let mut argv = vec!["corenas-ctl"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}")).command
    }

    fn create_args(args: &[&str]) -> PoolCreateArgs {
        let mut argv = vec!["storage", "create"];
        argv.extend_from_slice(args);
        let Command::Storage(StorageCommand::Create(a)) = parse(&argv) else { panic!("wrong command") };
        a
    }

    fn spec(args: &[&str]) -> Result<PoolSpec, CtlError> {
        pool_spec(&create_args(args), None)
    }

    fn usage_field<T: std::fmt::Debug>(r: Result<T, CtlError>) -> (String, String) {
        match r {
            Err(CtlError::Usage(e)) => (e.field.unwrap_or_default(), e.message),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn dev(s: &str) -> DevicePath {
        s.parse().unwrap()
    }

    #[test]
    fn zfs_flags_become_a_zfs_layout() {
        let s = spec(&[
            "tank",
            "--type",
            "zfs",
            "--device",
            "/dev/sdb",
            "--device",
            "/dev/disk/by-id/ata-WDC_WD40EFRX_WD-1",
            "--device",
            "/dev/sdd",
            "--layout",
            "raidz1",
            "--ashift",
            "12",
            "--property",
            "atime=off",
            "--property",
            "recordsize=1M",
            "--compression",
            "zstd",
            "--force",
        ])
        .unwrap();
        assert_eq!(s.name.as_str(), "tank");
        assert_eq!(s.devices, [dev("/dev/sdb"), dev("/dev/disk/by-id/ata-WDC_WD40EFRX_WD-1"), dev("/dev/sdd")]);
        assert!(s.force);
        let PoolLayout::Zfs { layout, ashift, properties } = s.layout else { panic!("{:?}", s.layout) };
        assert_eq!((layout, ashift), (ZfsLayout::Raidz1, Some(12)));
        let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
        assert_eq!(props, ["atime=off", "recordsize=1048576", "compression=zstd"]);

        // One device needs no --layout: a stripe is all it can be.
        let s = spec(&["tank", "--type", "zfs", "--device", "/dev/loop3"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Zfs { layout: ZfsLayout::Stripe, ashift: None, properties: vec![] });
        assert!(!s.force);
    }

    #[test]
    fn btrfs_and_single_flags_take_the_tools_defaults() {
        let s = spec(&["data", "--type", "btrfs", "--device", "/dev/vdb"]).unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs { data: BtrfsProfile::Single, metadata: BtrfsProfile::Dup, compression: None }
        );
        let s = spec(&["data", "--type", "btrfs", "--device", "/dev/vdb", "--device", "/dev/vdc"]).unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs { data: BtrfsProfile::Single, metadata: BtrfsProfile::Raid1, compression: None }
        );
        let s = spec(&[
            "data",
            "--type",
            "btrfs",
            "--device",
            "/dev/vdb",
            "--device",
            "/dev/vdc",
            "--device",
            "/dev/vdd",
            "--data-profile",
            "raid1c3",
            "--metadata-profile",
            "raid1c3",
            "--compression",
            "zstd",
        ])
        .unwrap();
        assert_eq!(
            s.layout,
            PoolLayout::Btrfs {
                data: BtrfsProfile::Raid1c3,
                metadata: BtrfsProfile::Raid1c3,
                compression: Some(Compression::Zstd)
            }
        );

        let s = spec(&["usb", "--type", "single", "--device", "/dev/sdx"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Single { fs: DiskFs::Ext4 });
        let s = spec(&["usb", "--type", "single", "--device", "/dev/sdx", "--fs", "xfs"]).unwrap();
        assert_eq!(s.layout, PoolLayout::Single { fs: DiskFs::Xfs });
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        let one = ["tank", "--device", "/dev/sdb"];
        let with = |extra: &[&'static str]| {
            let mut v = one.to_vec();
            v.extend_from_slice(extra);
            v
        };
        for (args, field, says) in [
            (with(&["--type", "lvm"]), "type", "cannot be created with this command yet"),
            (with(&["--type", "mdadm"]), "type", "VM tier"),
            (with(&["--type", "btrfs", "--layout", "mirror"]), "layout", "--layout is for --type zfs only"),
            (with(&["--type", "single", "--ashift", "12"]), "ashift", "--type zfs only"),
            (with(&["--type", "btrfs", "--property", "atime=off"]), "property", "--type zfs only"),
            (with(&["--type", "zfs", "--data-profile", "raid1"]), "profile", "--type btrfs only"),
            (with(&["--type", "single", "--compression", "zstd"]), "compression", "--type zfs or --type btrfs"),
            (with(&["--type", "zfs", "--fs", "xfs"]), "fs", "--type single only"),
            (with(&["--type", "zfs", "--compression", "lzo"]), "compression", "ZFS compression 'lzo'"),
            (with(&["--type", "btrfs", "--compression", "lz4"]), "compression", "btrfs compression 'lz4'"),
            (
                with(&["--type", "zfs", "--compression", "lz4", "--property", "compression=zstd"]),
                "compression",
                "given twice",
            ),
            (with(&["--type", "zfs", "--property", "atime=on", "--property", "atime=off"]), "property", "twice"),
            (with(&["--type", "zfs", "--device", "/dev/sdc"]), "layout", "needs --layout"),
            (with(&["--type", "zfs", "--layout", "mirror"]), "devices", "at least 2 devices"),
            (with(&["--type", "zfs", "--device", "/dev/sdb", "--layout", "mirror"]), "devices", "listed twice"),
            (with(&["--type", "single", "--device", "/dev/sdc"]), "devices", "exactly one device"),
            (with(&["--type", "btrfs", "--device", "/dev/sdc", "--data-profile", "dup"]), "profile", "one device only"),
            (vec!["tank", "--type", "zfs"], "devices", "at least one --device"),
        ] {
            let (f, message) = usage_field(spec(&args));
            assert_eq!(f, field, "{args:?}: {message}");
            assert!(message.contains(says), "{args:?}: {message}");
        }
    }

    #[test]
    fn bad_values_are_refused_by_clap_naming_the_field() {
        for (args, field) in [
            (vec!["storage", "create", "Tank", "--type", "zfs", "--device", "/dev/sdb"], "name"),
            (vec!["storage", "create", "mirror", "--type", "zfs", "--device", "/dev/sdb"], "name"),
            (vec!["storage", "create", "t", "--type", "ceph", "--device", "/dev/sdb"], "type"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/mem"], "device"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--layout", "raid5"], "layout"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--ashift", "8"], "ashift"),
            (vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--ashift", "1e1"], "ashift"),
            (
                vec![
                    "storage",
                    "create",
                    "t",
                    "--type",
                    "zfs",
                    "--device",
                    "/dev/sdb",
                    "--property",
                    "mountpoint=/etc",
                ],
                "property",
            ),
            (
                vec!["storage", "create", "t", "--type", "btrfs", "--device", "/dev/sdb", "--data-profile", "raid5"],
                "profile",
            ),
            (vec!["storage", "create", "t", "--type", "single", "--device", "/dev/sdb", "--fs", "ntfs"], "fs"),
            (
                vec!["storage", "create", "t", "--type", "zfs", "--device", "/dev/sdb", "--compression", "xz"],
                "compression",
            ),
            (vec!["storage", "wizard", "--type", "raid"], "type"),
            (vec!["storage", "show", "-rf"], "name"),
            (vec!["storage", "dataset", "create", "tank"], "dataset"),
            (vec!["storage", "dataset", "create", "tank/../x"], "dataset"),
            (vec!["storage", "dataset", "set", "tank/a", "sharenfs=on"], "property"),
            (vec!["storage", "snapshot", "create", "tank/a", "--name", "a@b"], "snapshot"),
            (vec!["storage", "snapshot", "rollback", "tank/a", "-r"], "snapshot"),
            (vec!["storage", "snapshot", "schedule", "tank/a", "--daily", "-1"], "keep"),
            (vec!["storage", "snapshot", "schedule", "tank/a", "--daily", "1001"], "keep"),
            (vec!["storage", "job", "show", "../x"], "id"),
            (vec!["device", "show", "/dev/mem"], "device"),
            (vec!["device", "smart", "/dev/sda", "--history", "--limit", "0"], "limit"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "shred"], "method"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "zero", "--samples", "-1"], "samples"),
            (vec!["device", "wipe", "/dev/sdb", "--method", "zero", "--samples", "1025"], "samples"),
        ] {
            let mut argv = vec!["corenas-ctl"];
            argv.extend_from_slice(&args);
            let err = Cli::try_parse_from(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = crate::cli::validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}");
        }
        for args in [
            &["storage", "create", "t", "--device", "/dev/sdb"][..],
            &["storage", "scrub", "t", "--stop", "--wait"],
            &["storage", "snapshot", "schedule", "tank/a"],
            &["storage", "dataset", "set", "tank/a"],
            &["storage", "wizard", "--force"],
            &["device", "smart", "/dev/sda", "--limit", "5"],
            &["device", "wipe", "/dev/sdb"],
            &["device", "list", "/dev/sdb"],
            &["device", "selftest", "--long"],
        ] {
            let mut argv = vec!["corenas-ctl"];
            argv.extend_from_slice(args);
            assert_eq!(Cli::try_parse_from(&argv).expect_err("accepted").exit_code(), 2, "{args:?}");
        }
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("corenas-ctl-test-{}-{name}.json", std::process::id()))
    }

    #[test]
    fn a_template_round_trips_and_flags_override_it() {
        let path = temp_path("template");
        let _ = std::fs::remove_file(&path);
        let original = spec(&[
            "tank",
            "--type",
            "zfs",
            "--device",
            "/dev/sdb",
            "--device",
            "/dev/sdc",
            "--layout",
            "mirror",
            "--property",
            "atime=off",
            "--compression",
            "lz4",
        ])
        .unwrap();
        save_template(&PoolSpec { force: true, ..original.clone() }, &path, false).unwrap();
        let loaded = load_template(&path).unwrap();
        assert_eq!(loaded, original, "saved without force, read back the same");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"force\": false") && text.contains("\"mirror\""), "{text}");

        // Never overwritten without --force; nothing is left behind.
        let err = save_template(&original, &path, false).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::AlreadyExists);
        assert!(err.to_string().contains("add --force to replace it"), "{err}");
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(&format!("template.json.tmp-{}", std::process::id())))
            .count();
        assert_eq!(leftovers, 0);

        // The flags given replace the template's parts; the rest is kept.
        let a = create_args(&["--template", path.to_str().unwrap(), "--layout", "stripe", "--property", "atime=on"]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!(s.name.as_str(), "tank");
        assert_eq!(s.devices, original.devices);
        let PoolLayout::Zfs { layout, properties, .. } = &s.layout else { panic!() };
        assert_eq!(*layout, ZfsLayout::Stripe);
        let props: Vec<String> = properties.iter().map(ZfsProperty::assignment).collect();
        assert_eq!(props, ["compression=lz4", "atime=on"]);
        let a = create_args(&[
            "other",
            "--template",
            path.to_str().unwrap(),
            "--device",
            "/dev/sdx",
            "--device",
            "/dev/sdy",
        ]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!((s.name.as_str(), s.devices.clone()), ("other", vec![dev("/dev/sdx"), dev("/dev/sdy")]));
        // Another type starts from that type's defaults.
        let a = create_args(&["--template", path.to_str().unwrap(), "--type", "btrfs"]);
        let s = pool_spec(&a, Some(load_template(&path).unwrap())).unwrap();
        assert_eq!(s.layout.backend(), Backend::Btrfs);

        // --force replaces the file, and a template never carries force.
        let single = spec(&["usb", "--type", "single", "--device", "/dev/sdz", "--force"]).unwrap();
        assert!(single.force);
        save_template(&single, &path, true).unwrap();
        assert_eq!(load_template(&path).unwrap(), PoolSpec { force: false, ..single });
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_bad_template_is_refused_naming_the_field() {
        let path = temp_path("badtemplate");
        for (text, says) in [
            ("{", "not a valid pool definition"),
            (r#"{"name":"Tank","layout":{"single":{"fs":"ext4"}},"devices":["/dev/sdb"]}"#, "pool name 'Tank'"),
            (r#"{"name":"t","layout":{"single":{"fs":"ext4"}},"devices":["/dev/mem"]}"#, "device '/dev/mem'"),
            (r#"{"name":"t","layout":{"single":{"fs":"ext4"}},"devices":[],"extra":1}"#, "unknown field"),
        ] {
            std::fs::write(&path, text).unwrap();
            let (field, message) = usage_field(load_template(&path));
            assert_eq!(field, "template");
            assert!(message.contains(says), "{text}: {message}");
        }
        std::fs::write(&path, vec![b' '; 70_000]).unwrap();
        assert!(usage_field(load_template(&path)).1.contains("larger than"));
        let _ = std::fs::remove_file(&path);
        assert!(usage_field(load_template(&path)).1.contains("cannot read template"));
    }

    fn disk(name: &str, gib: u64, rotational: bool) -> DeviceInfo {
        DeviceInfo {
            name: name.into(),
            path: format!("/dev/{name}"),
            by_id: vec![format!("/dev/disk/by-id/ata-Disk_{name}")],
            model: Some(format!("Disk {name}")),
            serial: Some(format!("SN-{name}")),
            vendor: None,
            size_bytes: gib << 30,
            logical_sector: 512,
            physical_sector: 4096,
            rotational,
            transport: Some("sata".into()),
            removable: false,
            read_only: false,
            kind: DeviceKind::Disk,
            backing_file: None,
            partitions: vec![],
            fs_type: None,
            fs_label: None,
            fs_uuid: None,
            uses: vec![],
        }
    }

    fn run_wizard(
        inventory: &[DeviceInfo],
        kind: Option<Backend>,
        answers: &[&str],
    ) -> (Result<PoolSpec, CtlError>, String) {
        let mut lines = answers.iter().map(|a| (*a).to_owned());
        let mut out = String::new();
        let r = wizard(inventory, kind, &mut lines, &mut out);
        assert!(lines.next().is_none() || r.is_err(), "answers left over:\n{out}");
        (r, out)
    }

    #[test]
    fn the_wizard_builds_a_zfs_pool_and_explains_the_layouts() {
        let inventory = [disk("sdb", 4096, true), disk("sdc", 4096, true), disk("sdd", 4096, true)];
        // Type by number, three devices, the suggested layout and compression, a name.
        let (spec, out) = run_wizard(&inventory, None, &["1", "1, 2,3", "", "", "tank"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(spec.name.as_str(), "tank");
        assert_eq!(spec.devices[0], dev("/dev/disk/by-id/ata-Disk_sdb"), "the stable path");
        assert_eq!(
            spec.layout,
            PoolLayout::Zfs {
                layout: ZfsLayout::Raidz1,
                ashift: None,
                properties: vec![ZfsProperty::Compression(Compression::Lz4)]
            }
        );
        assert!(!spec.force);
        assert!(out.contains("Layout for 3 devices (each counted as 4.0 TiB, the smallest):"), "{out}");
        assert!(out.contains("stripe  12.0 TiB usable, 0 may fail: no redundancy"), "{out}");
        assert!(out.contains("raidz1  8.0 TiB usable, 1 may fail: one disk's worth of parity"), "{out}");
        assert!(!out.contains("raidz2"), "raidz2 needs 4 devices:\n{out}");
        assert!(out.contains("usable:      about 8.0 TiB"), "{out}");
        assert!(!out.contains("warning:"), "{out}");
    }

    #[test]
    fn the_wizard_warns_about_stripes_mixed_sizes_and_mixed_media() {
        let inventory = [disk("sdb", 1024, true), disk("nvme0n1", 512, false)];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Zfs), &["1,2", "stripe", "off", "scratch"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(matches!(spec.layout, PoolLayout::Zfs { layout: ZfsLayout::Stripe, .. }));
        assert!(out.contains("warning: no redundancy (stripe): one failed disk loses the whole pool\n"), "{out}");
        assert!(
            out.contains(
                "warning: the devices differ in size (512.0 GiB to 1.0 TiB): each counts as the smallest, so 512.0 \
                 GiB of the larger ones stays unused\n"
            ),
            "{out}"
        );
        assert!(out.contains("warning: SSDs (nvme0n1) and HDDs (sdb) are mixed"), "{out}");
    }

    #[test]
    fn the_wizard_asks_again_until_the_answer_fits() {
        let mut busy = disk("sda", 256, false);
        busy.partitions.push(PartitionInfo {
            name: "sda1".into(),
            path: "/dev/sda1".into(),
            size_bytes: 256 << 30,
            number: 1,
            fs_type: Some("ext4".into()),
            fs_label: None,
            fs_uuid: None,
            uses: vec![DeviceUse::Mounted { at: "/".into() }, DeviceUse::SystemDisk],
        });
        let mut optical = disk("sr0", 4, false);
        optical.kind = DeviceKind::Optical;
        let inventory = [busy, disk("sdb", 100, true), optical, disk("sdc", 100, true)];
        let (spec, out) = run_wizard(
            &inventory,
            None,
            &["lvm", "7", "zfs", "", "0", "abc", "1,1", "3", "1,2", "raidz9", "2", "", "Tank", "tank"],
        );
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        // In-use devices are listed without a number; free ones are numbered from 1.
        assert!(out.contains("-  sda "), "{out}");
        assert!(out.contains("in use: sda1: mounted at /; sda1: system disk"), "{out}");
        assert!(out.contains("1  sdb ") && out.contains("2  sdc "), "{out}");
        assert!(!out.contains("sr0"), "optical drives are not offered:\n{out}");
        assert_eq!(spec.devices, [dev("/dev/disk/by-id/ata-Disk_sdb"), dev("/dev/disk/by-id/ata-Disk_sdc")]);
        assert!(matches!(spec.layout, PoolLayout::Zfs { layout: ZfsLayout::Mirror, .. }));
        for says in [
            "'lvm' is not one of the choices",
            "'7' is not one of the choices",
            "'0' is not a device number or the name of a free device: use numbers from 1 to 2 or names",
            "'abc' is not a device number",
            "device sdb is given twice",
            "'3' is not a device number",
            "'raidz9' is not one of the choices",
            "pool name 'Tank' is invalid",
        ] {
            assert!(out.contains(says), "{says}:\n{out}");
        }
    }

    #[test]
    fn the_wizard_builds_btrfs_and_single_disk_pools() {
        let inventory = [disk("vdb", 8, false), disk("vdc", 8, false)];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Btrfs), &["1,2", "", "", "", "data"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(
            spec.layout,
            PoolLayout::Btrfs {
                data: BtrfsProfile::Raid1,
                metadata: BtrfsProfile::Raid1,
                compression: Some(Compression::Zstd)
            }
        );
        assert!(out.contains("raid1   8.0 GiB usable, 1 may fail"), "{out}");
        let data_question = out.split("Metadata profile:").next().unwrap();
        assert!(!data_question.contains(" dup "), "dup data is for one device:\n{out}");

        let (spec, out) = run_wizard(&inventory, Some(Backend::Btrfs), &["1,2", "raid0", "single", "lzo", "fast"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(matches!(spec.layout, PoolLayout::Btrfs { compression: Some(Compression::Lzo), .. }));
        assert!(out.contains("warning: no redundancy (data raid0)"), "{out}");

        let (spec, out) = run_wizard(&inventory, Some(Backend::Single), &["1,2", "2", "xfs", "usb"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(spec.layout, PoolLayout::Single { fs: DiskFs::Xfs });
        assert_eq!(spec.devices, [dev("/dev/disk/by-id/ata-Disk_vdc")]);
        assert!(out.contains("a single-disk pool takes exactly one device"), "{out}");
        assert!(out.contains("warning: no redundancy: a single-disk pool is lost with its disk"), "{out}");
    }

    #[test]
    fn the_wizard_asks_before_erasing_what_is_on_a_device() {
        let mut used = disk("loop3", 1, false);
        used.by_id.clear();
        used.kind = DeviceKind::Loop;
        used.fs_type = Some("ext4".into());
        used.fs_label = Some("old\u{1b}[2J".into());
        let inventory = [used];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Single), &["1", "", "t", "y"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(spec.force, "the admin agreed to erase it");
        assert_eq!(spec.devices, [dev("/dev/loop3")], "no by-id link: the kernel path");
        assert!(out.contains("free; holds ext4 \"old\\u{1b}[2J\""), "{out}");
        assert!(out.contains("warning: loop3 holds ext4 \"old\\u{1b}[2J\"; creating the pool erases it"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");

        let (r, _) = run_wizard(&inventory, Some(Backend::Single), &["1", "", "t", ""]);
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.message.contains("not created")));
    }

    #[test]
    fn the_wizard_stops_when_the_answers_end_or_nothing_is_free() {
        let (r, out) = run_wizard(&[disk("sdb", 1, true)], None, &["zfs", "1"]);
        let (field, message) = usage_field(r);
        assert_eq!(field, "answer");
        assert!(message.contains("nothing was created"), "{message}\n{out}");

        let mut busy = disk("sda", 1, true);
        busy.uses.push(DeviceUse::PoolMember { pool: "tank".into(), backend: "zfs".into() });
        let (r, _) = run_wizard(&[busy], Some(Backend::Zfs), &[]);
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::Busy));
        assert_eq!(usage_field(run_wizard(&[disk("sdb", 1, true)], Some(Backend::Lvm), &[]).0).0, "type");
    }

    #[test]
    fn device_numbers_are_checked() {
        let names = ["sda", "sdb", "loop3"];
        assert_eq!(pick("2", &names), Ok(vec![1]));
        assert_eq!(pick(" 3 , 1,", &names), Ok(vec![2, 0]));
        assert_eq!(pick("loop3,/dev/sda", &names), Ok(vec![2, 0]));
        assert!(pick("sdb,2", &names).is_err(), "the same device twice");
        for bad in ["", ",", "0", "4", "-1", "1;2", "1 2", "+1", "1,1"] {
            assert!(pick(bad, &names).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_wipe_confirms_with_the_serial_or_the_kernel_name() {
        let mut d = disk("sdb", 1, true);
        assert_eq!(wipe_confirmation(&d), "SN-sdb");
        d.serial = Some(String::new());
        assert_eq!(wipe_confirmation(&d), "sdb");
        d.serial = Some(" WD 1 ".into());
        assert_eq!(wipe_confirmation(&d), " WD 1 ", "exactly as the device reports it");
        d.serial = None;
        assert_eq!(wipe_confirmation(&d), "sdb");
    }
}
