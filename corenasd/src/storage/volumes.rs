//! md arrays and LVM volume groups and volumes: the requests, answered from the tools' raw
//! output (the storage helper runs them, this module parses them unprivileged). The system is
//! the record: nothing about arrays or groups is stored in state.db. An md sync (a new array's
//! resync, a rebuild onto an added member) is a storage job followed through `mdadm --detail`.

use super::{change, finish, jobs, lvm, mdadm};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, LvmReport, StorageQuery, ToolOutput};
use corenas_proto::lvm::{LvCreateSpec, LvExtendSpec, LvInfo, LvName, LvmListing, VgCreateSpec, VgInfo, VgName};
use corenas_proto::names::DevicePath;
use corenas_proto::raid::{MdArrayInfo, MdChange, MdCreateSpec, MdMemberOp, MdMemberState, MdName, MdSyncAction};
use corenas_proto::storage::StorageJob;
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;
use std::time::Duration;

/// How often a sync job reads the array's state.
const POLL: Duration = Duration::from_secs(2);

async fn query(shared: &Daemon, q: StorageQuery) -> Result<ToolOutput, WireError> {
    shared.helper.storage().await?.storage_query(q).await
}

/// One storage operation (or its dry run) through the storage helper: its steps and warnings.
async fn run_one(
    shared: &Daemon,
    op: HelperOp,
    dry_run: bool,
) -> Result<(Vec<corenas_proto::helper::Step>, Vec<String>), WireError> {
    let h = shared.helper.storage().await?;
    h.run_ops_reporting(vec![op], dry_run).await
}

fn failed(what: &str, out: &ToolOutput) -> WireError {
    let why = out.stderr.trim();
    WireError::new(ErrorCode::ToolFailed, format!("{what} failed: {}", if why.is_empty() { "no message" } else { why }))
}

// ---- md ------------------------------------------------------------------------------------

pub async fn md_show(shared: &Daemon, name: &MdName) -> Result<MdArrayInfo, WireError> {
    let out = query(shared, StorageQuery::MdDetail { name: name.clone() }).await?;
    if out.code != Some(0) {
        if out.stderr.contains("No such file") || out.stderr.contains("cannot open") {
            return Err(WireError::not_found(format!("no array {}", name.dev_path())));
        }
        return Err(failed("mdadm --detail", &out));
    }
    Ok(mdadm::parse_detail(&out.stdout)?)
}

/// The arrays that have a `/dev/md/<name>` (every array CoreNAS creates has one).
pub async fn md_list(shared: &Daemon) -> Result<Vec<MdArrayInfo>, WireError> {
    let out = query(shared, StorageQuery::MdScan).await?;
    if out.code != Some(0) {
        return Err(failed("mdadm --detail --scan", &out));
    }
    let mut arrays = Vec::new();
    for a in mdadm::parse_detail_scan(&out.stdout)? {
        if let Some(name) = a.device.strip_prefix("/dev/md/").and_then(|n| n.parse::<MdName>().ok()) {
            arrays.push(md_show(shared, &name).await?);
        }
    }
    Ok(arrays)
}

fn rebuilding(info: &MdArrayInfo) -> bool {
    info.count(MdMemberState::Rebuilding) > 0
}

/// The job kind for the sync an array runs, if any.
fn sync_kind(info: &MdArrayInfo) -> Option<&'static str> {
    match info.sync.as_ref().map(|s| s.action) {
        Some(MdSyncAction::Resync) => Some("md-resync"),
        Some(MdSyncAction::Recovery) => Some("md-rebuild"),
        Some(MdSyncAction::Reshape) => Some("md-reshape"),
        Some(MdSyncAction::Check | MdSyncAction::Repair) => Some("md-check"),
        None if rebuilding(info) => Some("md-rebuild"),
        None => None,
    }
}

fn job_target(name: &MdName) -> String {
    format!("md/{name}")
}

/// Starts a job that follows the array's sync, if one runs (or the running job already does).
fn follow_sync(shared: &Arc<Daemon>, name: &MdName, info: &MdArrayInfo) -> Option<StorageJob> {
    let kind = sync_kind(info)?;
    let target = job_target(name);
    if let Some(j) = shared.storage_jobs.live().into_iter().find(|j| j.target == target && j.state == "running") {
        return Some(j);
    }
    let (job, cancel) = shared.storage_jobs.start(kind, &target).ok()?;
    let _ = shared.with_state(|s| jobs::save(s.conn(), &job));
    let (shared2, id, name) = (Arc::clone(shared), job.id.clone(), name.clone());
    tokio::spawn(async move { follow_md(shared2, id, name, cancel).await });
    Some(job)
}

/// Polls the array until its sync ends. Cancelling stops the following, not the kernel's sync
/// (an interrupted rebuild leaves the array degraded for longer: never what anyone wants).
async fn follow_md(shared: Arc<Daemon>, id: String, name: MdName, cancel: tokio_util::sync::CancellationToken) {
    let mut errors = 0u32;
    let mut idle_polls = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                finish(&shared, &id, "cancelled", Some("no longer followed; md goes on syncing in the kernel".into()));
                return;
            }
            () = tokio::time::sleep(POLL) => {}
        }
        let info = match md_show(&shared, &name).await {
            Ok(i) => i,
            Err(e) => {
                errors += 1;
                if errors >= 5 || e.code == ErrorCode::NotFound {
                    finish(&shared, &id, "failed", Some(format!("cannot read the array: {}", e.message)));
                    return;
                }
                continue;
            }
        };
        errors = 0;
        if let Some(sync) = &info.sync {
            let percent = sync.progress.as_ref().map(|p| p.percent).or(sync.percent);
            let mut msg = format!("{} of {}", sync.action.as_str(), name.dev_path());
            if let Some(w) = &sync.waiting {
                msg.push_str(&format!(" ({w})"));
            }
            if let Some(p) = &sync.progress {
                if let Some(s) = p.speed_kib_s {
                    msg.push_str(&format!(", {} KiB/s", s));
                }
            }
            shared.storage_jobs.update(&id, |j| {
                j.percent = percent.or(j.percent);
                j.message = Some(msg);
            });
            continue;
        }
        if rebuilding(&info) {
            continue;
        }
        if info.degraded {
            // md may take a moment to pick up an added spare; three looks, then say so.
            idle_polls += 1;
            if idle_polls < 3 {
                continue;
            }
            let msg = format!(
                "{} is degraded and nothing is rebuilding: add a device (raid add) to restore redundancy",
                name.dev_path()
            );
            finish(&shared, &id, "failed", Some(msg));
            return;
        }
        let state = info.state_text.clone().unwrap_or_else(|| "clean".into());
        finish(&shared, &id, "done", Some(format!("{} is {state}", name.dev_path())));
        return;
    }
}

pub async fn md_create(
    shared: &Arc<Daemon>,
    spec: &MdCreateSpec,
    dry_run: bool,
) -> Result<Change<MdChange>, WireError> {
    spec.validate()?;
    let (steps, mut warnings) = run_one(shared, HelperOp::MdCreate { spec: spec.clone() }, dry_run).await?;
    if spec.level.redundancy() == 0 {
        warnings.push(format!("{} has no redundancy: one failed disk loses the array", spec.level));
    }
    if dry_run {
        return Ok(change(true, steps, warnings, None));
    }
    let array = md_show(shared, &spec.name).await?;
    let job = follow_sync(shared, &spec.name, &array);
    Ok(change(false, steps, warnings, Some(MdChange { array, job })))
}

pub async fn md_member(
    shared: &Arc<Daemon>,
    name: &MdName,
    device: &DevicePath,
    op: &MdMemberOp,
    dry_run: bool,
) -> Result<Change<MdChange>, WireError> {
    op.validate(device)?;
    let helper_op = HelperOp::MdMember { name: name.clone(), device: device.clone(), op: op.clone() };
    let (steps, mut warnings) = run_one(shared, helper_op, dry_run).await?;
    if dry_run {
        return Ok(change(true, steps, warnings, None));
    }
    let array = md_show(shared, name).await?;
    if matches!(op, MdMemberOp::Fail) && array.degraded {
        warnings.push(format!(
            "{} is degraded: remove {device} (raid remove) and add a replacement (raid add)",
            name.dev_path()
        ));
    }
    let job = follow_sync(shared, name, &array);
    Ok(change(false, steps, warnings, Some(MdChange { array, job })))
}

pub async fn md_destroy(shared: &Daemon, name: &MdName, confirm: &str, dry_run: bool) -> Result<Change<()>, WireError> {
    if confirm != name.as_str() {
        return Err(WireError::invalid(
            "confirm",
            format!(
                "destroying stops the array and erases its members' md superblocks: confirm with its name ({name})"
            ),
        ));
    }
    let (steps, warnings) = run_one(shared, HelperOp::MdDestroy { name: name.clone() }, dry_run).await?;
    if !dry_run {
        let target = job_target(name);
        for j in shared.storage_jobs.live().into_iter().filter(|j| j.target == target && j.state == "running") {
            let _ = shared.storage_jobs.cancel(&j.id);
        }
    }
    Ok(change(dry_run, steps, warnings, None))
}

// ---- LVM -----------------------------------------------------------------------------------

async fn report(shared: &Daemon, report: LvmReport) -> Result<String, WireError> {
    let out = query(shared, StorageQuery::LvmReport { report }).await?;
    if out.code != Some(0) {
        return Err(failed("the LVM report", &out));
    }
    Ok(out.stdout)
}

pub async fn lvm_list(shared: &Daemon) -> Result<LvmListing, WireError> {
    Ok(LvmListing {
        pvs: lvm::parse_pvs(&report(shared, LvmReport::Pvs).await?)?,
        vgs: lvm::parse_vgs(&report(shared, LvmReport::Vgs).await?)?,
        lvs: lvm::parse_lvs(&report(shared, LvmReport::Lvs).await?)?,
    })
}

async fn vg_info(shared: &Daemon, vg: &VgName) -> Result<VgInfo, WireError> {
    lvm::parse_vgs(&report(shared, LvmReport::Vgs).await?)?
        .into_iter()
        .find(|g| g.name == vg.as_str())
        .ok_or_else(|| WireError::not_found(format!("no volume group {vg}")))
}

async fn lv_info(shared: &Daemon, vg: &VgName, lv: &LvName) -> Result<LvInfo, WireError> {
    lvm::parse_lvs(&report(shared, LvmReport::Lvs).await?)?
        .into_iter()
        .find(|v| v.vg == vg.as_str() && v.name == lv.as_str())
        .ok_or_else(|| WireError::not_found(format!("no volume {vg}/{lv}")))
}

pub async fn vg_create(shared: &Daemon, spec: &VgCreateSpec, dry_run: bool) -> Result<Change<VgInfo>, WireError> {
    spec.validate()?;
    let (steps, warnings) = run_one(shared, HelperOp::VgCreate { spec: spec.clone() }, dry_run).await?;
    let info = if dry_run { None } else { Some(vg_info(shared, &spec.name).await?) };
    Ok(change(dry_run, steps, warnings, info))
}

pub async fn vg_remove(shared: &Daemon, vg: &VgName, dry_run: bool) -> Result<Change<()>, WireError> {
    let listing = lvm_list(shared).await?;
    if !listing.vgs.iter().any(|g| g.name == vg.as_str()) {
        return Err(WireError::not_found(format!("no volume group {vg}")));
    }
    let held: Vec<&str> = listing.lvs.iter().filter(|l| l.vg == vg.as_str()).map(|l| l.name.as_str()).collect();
    if !held.is_empty() {
        return Err(WireError::new(
            ErrorCode::InvalidState,
            format!("volume group {vg} still holds volumes ({}): remove them first (lvm lv-remove)", held.join(", ")),
        ));
    }
    let devices = listing
        .pvs
        .iter()
        .filter(|p| p.vg.as_deref() == Some(vg.as_str()))
        .map(|p| p.device.parse::<DevicePath>().map_err(WireError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let (steps, warnings) = run_one(shared, HelperOp::VgRemove { vg: vg.clone(), devices }, dry_run).await?;
    Ok(change(dry_run, steps, warnings, None))
}

pub async fn lv_create(shared: &Daemon, spec: &LvCreateSpec, dry_run: bool) -> Result<Change<LvInfo>, WireError> {
    spec.validate()?;
    vg_info(shared, &spec.vg).await?;
    let (steps, warnings) = run_one(shared, HelperOp::LvCreate { spec: spec.clone() }, dry_run).await?;
    let info = if dry_run { None } else { Some(lv_info(shared, &spec.vg, &spec.name).await?) };
    Ok(change(dry_run, steps, warnings, info))
}

pub async fn lv_extend(shared: &Daemon, spec: &LvExtendSpec, dry_run: bool) -> Result<Change<LvInfo>, WireError> {
    lv_info(shared, &spec.vg, &spec.name).await?;
    let (steps, warnings) = run_one(shared, HelperOp::LvExtend { spec: spec.clone() }, dry_run).await?;
    let info = if dry_run { None } else { Some(lv_info(shared, &spec.vg, &spec.name).await?) };
    Ok(change(dry_run, steps, warnings, info))
}

pub async fn lv_remove(
    shared: &Daemon,
    vg: &VgName,
    lv: &LvName,
    confirm: &str,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    if confirm != format!("{vg}/{lv}") {
        return Err(WireError::invalid(
            "confirm",
            format!("removing a volume loses its data: confirm with its full name ({vg}/{lv})"),
        ));
    }
    lv_info(shared, vg, lv).await?;
    let (steps, warnings) = run_one(shared, HelperOp::LvRemove { vg: vg.clone(), lv: lv.clone() }, dry_run).await?;
    Ok(change(dry_run, steps, warnings, None))
}
