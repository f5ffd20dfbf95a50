//! `raid ...`: md arrays. What destroys data needs `--force` here and the name repeated to
//! corenasd; a sync an array change starts is a storage job, followed with `--wait`.
//!
//! Imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::follow::{follow_storage_job, job_end_report, progress_printer, storage_job_line, storage_progress_line};
use crate::report::{Report, change_report, print_stdout, to_json};
use crate::text::{Table, key_values, percent_or_dash, printable, size};
use crate::values::{invalid, needs_force};
use clap::Subcommand;
use corenas_proto::names::DevicePath;
use corenas_proto::raid::{MdArrayInfo, MdChange, MdCreateSpec, MdMemberOp};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum RaidCommand {
    /// List the arrays (those with a /dev/md/NAME) with their state and members.
    List,
    /// Show one array: state, members, sync progress.
    Show {
        /// The array name (/dev/md/NAME).
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
    },
    /// Create an array from free devices (metadata 1.2; redundant levels get a write-intent
    /// bitmap). A job follows the initial resync; --wait prints its progress.
    Create {
        /// The array name: 1-32 of a-z, 0-9, '_', '-', starting with a letter (/dev/md/NAME).
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        /// raid0, raid1, raid5, raid6 or raid10.
        #[arg(long)]
        level: corenas_proto::raid::RaidLevel,
        /// A data member (/dev/sdX or /dev/disk/by-id/...); repeat for each, in slot order.
        #[arg(long = "device", required = true)]
        devices: Vec<DevicePath>,
        /// A hot spare; repeat for each.
        #[arg(long = "spare")]
        spares: Vec<DevicePath>,
        /// Chunk size in KiB for raid0/5/6/10 (a power of two, 4-1024).
        #[arg(long)]
        chunk_kib: Option<u32>,
        /// Follow the resync job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Add a device: it becomes a spare, or is rebuilt into a missing slot at once (a job).
    Add {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
        /// Follow the rebuild job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Mark a member faulty (the array runs degraded until it is replaced).
    Fail {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
    },
    /// Remove a failed member or a spare from the array.
    Remove {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        device: DevicePath,
    },
    /// Stop an array nothing uses and erase its members' md superblocks; needs --force.
    Destroy {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::raid::MdName,
        /// Really destroy.
        #[arg(long)]
        force: bool,
    },
}

pub async fn raid(cmd: RaidCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    if let RaidCommand::Destroy { name, force } = &cmd {
        let what = format!("raid destroy stops {} and erases its members' md superblocks", name.dev_path());
        needs_force(*force, dry_run, what, "destroy it")?;
    }
    // Every spec is checked before connecting: a refused request costs no round trip.
    if let RaidCommand::Create { name, level, devices, spares, chunk_kib, wait } = cmd {
        let spec = MdCreateSpec { name, level, devices, spares, chunk_kib };
        spec.validate().map_err(invalid)?;
        let d = Daemon::connect(socket).await?;
        let change = call!(d, raid_create(spec, dry_run))?;
        return synced(&d, change, wait, json).await;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        RaidCommand::List => {
            let arrays = call!(d, raid_list())?;
            Ok(Report::ok(arrays_table(&arrays), to_json(&arrays)?))
        }
        RaidCommand::Show { name } => {
            let a = call!(d, raid_show(name))?;
            Ok(Report::ok(array_block(&a), to_json(&a)?))
        }
        RaidCommand::Create { .. } => unreachable!("answered above"),
        RaidCommand::Add { name, device, wait } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Add, dry_run))?;
            synced(&d, change, wait, json).await
        }
        RaidCommand::Fail { name, device } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Fail, dry_run))?;
            change_report(&change, change_text)
        }
        RaidCommand::Remove { name, device } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Remove, dry_run))?;
            change_report(&change, change_text)
        }
        RaidCommand::Destroy { name, .. } => {
            let confirm = name.to_string();
            let change = call!(d, raid_destroy(name, confirm, dry_run))?;
            change_report(&change, |()| String::new())
        }
    }
}

/// An array change; with `--wait`, then the progress of the sync job it started until it ends.
pub(crate) async fn synced(
    d: &Daemon,
    change: corenas_proto::api::Change<MdChange>,
    wait: bool,
    json: bool,
) -> Result<Report, CtlError> {
    let report = change_report(&change, change_text)?;
    let job = change.result.as_ref().and_then(|c| c.job.clone());
    let (true, Some(job)) = (wait && !change.dry_run, job) else { return Ok(report) };
    if let (false, Report::Answer { human, .. }) = (json, &report) {
        print_stdout(human);
    }
    let end = follow_storage_job(d, job.id, progress_printer(json, storage_progress_line)).await?;
    job_end_report(&end)
}

pub(crate) fn change_text(c: &MdChange) -> String {
    let mut out = array_block(&c.array);
    if let Some(j) = &c.job {
        out.push_str(&storage_job_line(j));
    }
    out
}

/// An enum's wire word (`in-sync`, `spare`), as `--json` shows it.
pub(crate) fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|j| j.as_str().map(str::to_owned)).unwrap_or_else(|| "?".to_owned())
}

pub(crate) fn state_text(a: &MdArrayInfo) -> String {
    a.state_text.clone().unwrap_or_else(|| word(&a.state))
}

pub(crate) fn sync_text(a: &MdArrayInfo) -> String {
    match &a.sync {
        None => "-".to_owned(),
        Some(s) => {
            let p = s.progress.as_ref().map(|p| p.percent).or(s.percent);
            match &s.waiting {
                Some(w) => format!("{} {}", s.action.as_str(), w),
                None => format!("{} {}", s.action.as_str(), percent_or_dash(p)),
            }
        }
    }
}

pub(crate) fn arrays_table(arrays: &[MdArrayInfo]) -> String {
    let mut t = Table::new(&["NAME", "LEVEL", "STATE", "SIZE", "MEMBERS", "SYNC"]);
    for a in arrays {
        t.row([
            a.name.clone().unwrap_or_else(|| a.device.clone()),
            a.level_text.clone(),
            state_text(a),
            a.size_bytes.map_or_else(|| "-".to_owned(), size),
            a.members.len().to_string(),
            sync_text(a),
        ]);
    }
    t.render()
}

pub(crate) fn array_block(a: &MdArrayInfo) -> String {
    let mut out = key_values(&[
        ("device", a.device.clone()),
        ("name", a.name.clone().unwrap_or_else(|| "-".into())),
        ("level", a.level_text.clone()),
        ("state", state_text(a)),
        ("degraded", if a.degraded { "yes" } else { "no" }.to_owned()),
        ("size", a.size_bytes.map_or_else(|| "-".to_owned(), size)),
        ("sync", sync_text(a)),
        ("uuid", a.uuid.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string)),
    ]);
    out.push_str("members:\n");
    for m in &a.members {
        let slot = m.slot.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let _ = writeln!(out, "  {}  slot {slot}  {}  {}", printable(&m.device), word(&m.role), word(&m.state));
    }
    out
}
