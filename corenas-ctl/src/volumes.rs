//! `raid ...` (md arrays) and `lvm ...` (volume groups and volumes). Requests are built from
//! values clap already parsed into their proto types; what destroys data needs --force here and
//! the name repeated to corenasd. A sync an array change starts is a storage job: `--wait`
//! follows it like a scrub.

use crate::cli::{LvmCommand, RaidCommand};
use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::output::{self, Report, Table, key_values, percent_or_dash, printable, size};
use crate::storage::{follow, job_end_report, needs_force};
use corenas_proto::lvm::{LvCreateSpec, LvExtendSpec, LvInfo, LvKind, LvmListing, VgCreateSpec, VgInfo};
use corenas_proto::raid::{MdArrayInfo, MdChange, MdCreateSpec, MdMemberOp};
use std::fmt::Write as _;
use std::path::Path;

pub async fn raid(cmd: RaidCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    if let RaidCommand::Destroy { name, force } = &cmd {
        let what = format!("raid destroy stops {} and erases its members' md superblocks", name.dev_path());
        needs_force(*force, dry_run, what, "destroy it")?;
    }
    // Every spec is checked before connecting: a refused request costs no round trip.
    if let RaidCommand::Create { name, level, devices, spares, chunk_kib, wait } = cmd {
        let spec = MdCreateSpec { name, level, devices, spares, chunk_kib };
        spec.validate().map_err(usage)?;
        let d = Daemon::connect(socket).await?;
        let change = call!(d, raid_create(spec, dry_run))?;
        return synced(&d, change, wait, json).await;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        RaidCommand::List => {
            let arrays = call!(d, raid_list())?;
            Ok(Report::ok(arrays_table(&arrays), output::to_json(&arrays)?))
        }
        RaidCommand::Show { name } => {
            let a = call!(d, raid_show(name))?;
            Ok(Report::ok(array_block(&a), output::to_json(&a)?))
        }
        RaidCommand::Create { .. } => unreachable!("answered above"),
        RaidCommand::Add { name, device, wait } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Add, dry_run))?;
            synced(&d, change, wait, json).await
        }
        RaidCommand::Fail { name, device } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Fail, dry_run))?;
            output::change_report(&change, change_text)
        }
        RaidCommand::Remove { name, device } => {
            let change = call!(d, raid_member(name, device, MdMemberOp::Remove, dry_run))?;
            output::change_report(&change, change_text)
        }
        RaidCommand::Destroy { name, .. } => {
            let confirm = name.to_string();
            let change = call!(d, raid_destroy(name, confirm, dry_run))?;
            output::change_report(&change, |()| String::new())
        }
    }
}

fn usage(e: corenas_proto::ValidationError) -> CtlError {
    CtlError::usage(e.field, e.message)
}

/// An array change; with `--wait`, then the progress of the sync job it started until it ends.
async fn synced(
    d: &Daemon,
    change: corenas_proto::api::Change<MdChange>,
    wait: bool,
    json: bool,
) -> Result<Report, CtlError> {
    let report = output::change_report(&change, change_text)?;
    let job = change.result.as_ref().and_then(|c| c.job.clone());
    let (true, Some(job)) = (wait && !change.dry_run, job) else { return Ok(report) };
    if let (false, Report::Answer { human, .. }) = (json, &report) {
        output::print_stdout(human);
    }
    let end = follow(d, job.id, output::progress_printer(json, output::storage_progress_line)).await?;
    job_end_report(&end)
}

fn change_text(c: &MdChange) -> String {
    let mut out = array_block(&c.array);
    if let Some(j) = &c.job {
        out.push_str(&output::storage_job_line(j));
    }
    out
}

/// An enum's wire word (`in-sync`, `spare`), as `--json` shows it.
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|j| j.as_str().map(str::to_owned)).unwrap_or_else(|| "?".to_owned())
}

fn state_text(a: &MdArrayInfo) -> String {
    a.state_text.clone().unwrap_or_else(|| word(&a.state))
}

fn sync_text(a: &MdArrayInfo) -> String {
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

fn arrays_table(arrays: &[MdArrayInfo]) -> String {
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

fn array_block(a: &MdArrayInfo) -> String {
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

pub async fn lvm(cmd: LvmCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let LvmCommand::LvRemove { vg, name, force } = &cmd {
        needs_force(*force, dry_run, format!("lvm lv-remove deletes {vg}/{name} and its data"), "remove it")?;
    }
    // Specs are checked before connecting, as for raid create.
    match cmd {
        LvmCommand::VgCreate { name, devices, force } => {
            let spec = VgCreateSpec { name, devices, force };
            spec.validate().map_err(usage)?;
            let d = Daemon::connect(socket).await?;
            return output::change_report(&call!(d, vg_create(spec, dry_run))?, vg_text);
        }
        LvmCommand::LvCreate { vg, name, size } => {
            let spec = LvCreateSpec { vg, name, size, kind: LvKind::Linear };
            spec.validate().map_err(usage)?;
            let d = Daemon::connect(socket).await?;
            return output::change_report(&call!(d, lv_create(spec, dry_run))?, lv_text);
        }
        _ => {}
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        LvmCommand::List => {
            let l = call!(d, lvm_list())?;
            Ok(Report::ok(listing_text(&l), output::to_json(&l)?))
        }
        LvmCommand::VgCreate { .. } | LvmCommand::LvCreate { .. } => unreachable!("answered above"),
        LvmCommand::VgRemove { name } => {
            output::change_report(&call!(d, vg_remove(name, dry_run))?, |()| String::new())
        }
        LvmCommand::LvExtend { vg, name, size, resize_fs } => {
            let spec = LvExtendSpec { vg, name, grow: size, resize_fs };
            output::change_report(&call!(d, lv_extend(spec, dry_run))?, lv_text)
        }
        LvmCommand::LvRemove { vg, name, .. } => {
            let confirm = format!("{vg}/{name}");
            output::change_report(&call!(d, lv_remove(vg, name, confirm, dry_run))?, |()| String::new())
        }
    }
}

fn vg_text(g: &VgInfo) -> String {
    key_values(&[
        ("group", g.name.clone()),
        ("size", size(g.size_bytes)),
        ("free", size(g.free_bytes)),
        ("devices", g.pv_count.map_or_else(|| "-".to_owned(), |n| n.to_string())),
        ("volumes", g.lv_count.map_or_else(|| "-".to_owned(), |n| n.to_string())),
    ])
}

fn lv_text(v: &LvInfo) -> String {
    key_values(&[
        ("volume", format!("{}/{}", v.vg, v.name)),
        ("size", size(v.size_bytes)),
        ("path", v.path.clone().unwrap_or_else(|| "-".into())),
        ("attributes", v.attr_text.clone()),
    ])
}

fn listing_text(l: &LvmListing) -> String {
    let mut out = String::from("volume groups:\n");
    let mut t = Table::new(&["GROUP", "SIZE", "FREE", "DEVICES", "VOLUMES", "MISSING"]);
    for g in &l.vgs {
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        t.row([
            g.name.clone(),
            size(g.size_bytes),
            size(g.free_bytes),
            n(g.pv_count),
            n(g.lv_count),
            n(g.missing_pv_count),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nvolumes:\n");
    let mut t = Table::new(&["VOLUME", "SIZE", "PATH", "ATTR"]);
    for v in &l.lvs {
        t.row([
            format!("{}/{}", v.vg, v.name),
            size(v.size_bytes),
            v.path.clone().unwrap_or_default(),
            v.attr_text.clone(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nphysical volumes:\n");
    let mut t = Table::new(&["DEVICE", "GROUP", "SIZE", "FREE"]);
    for p in &l.pvs {
        t.row([p.device.clone(), p.vg.clone().unwrap_or_else(|| "-".into()), size(p.size_bytes), size(p.free_bytes)]);
    }
    out.push_str(&t.render());
    out
}
