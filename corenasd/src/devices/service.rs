//! The device API: inventory with pool membership, SMART now and its history, self-tests and
//! wipes as jobs. The helper re-checks every device it touches; the checks here give the
//! caller a clear answer first.

use crate::daemon::Daemon;
use crate::state::{StateError, now_rfc3339};
use crate::storage::{change, finish, pools};
use corenas_proto::api::{Change, DeviceWipe};
use corenas_proto::devices::{DeviceInfo, EraseSupport, SmartReport};
use corenas_proto::helper::{HelperOp, StorageQuery};
use corenas_proto::names::DevicePath;
use corenas_proto::storage::{FirmwareErase, StorageJob, WipeMethod};
use corenas_proto::{ErrorCode, WireError};
use rusqlite::params;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One wipe call covers this much; progress and cancellation happen between calls.
const WIPE_CHUNK: u64 = 64 << 20;
const CHECK_LEN: u32 = 64 << 10;

/// The kernel name a device path stands for (by-id links are followed; reading a link needs no
/// privilege).
pub fn kernel_name(dev: &str) -> Option<String> {
    if let Some(n) = dev.strip_prefix("/dev/").filter(|n| !n.contains('/')) {
        return Some(n.to_owned());
    }
    let target = std::fs::read_link(dev).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

async fn members(shared: &Daemon) -> Result<HashMap<String, (String, String)>, WireError> {
    let mut out = HashMap::new();
    for (dev, pool, backend) in pools::member_devices(shared)? {
        if let Some(n) = kernel_name(dev.as_str()) {
            out.insert(n, (pool, backend.to_string()));
        }
    }
    // ZFS pools imported outside CoreNAS: their members as zpool names them.
    if let Ok(h) = shared.helper.storage().await {
        if let Ok(out_status) = h.storage_query(StorageQuery::ZpoolStatus { pool: None }).await {
            for p in crate::storage::zfs::parse_status(&out_status.stdout) {
                for m in p.members {
                    let name = m.device.trim_start_matches("/dev/").to_owned();
                    out.entry(name).or_insert_with(|| (p.name.clone(), "zfs".into()));
                }
            }
        }
    }
    Ok(out)
}

pub async fn inventory(shared: &Daemon) -> Result<Vec<DeviceInfo>, WireError> {
    let members = members(shared).await?;
    let sources = super::inventory::Sources::default();
    tokio::task::spawn_blocking(move || super::inventory::inventory(&sources, &members))
        .await
        .map_err(|e| WireError::internal(format!("inventory failed: {e}")))
}

/// One device, with what `blkid -p` finds on it and its partitions (where udev's database is
/// missing, the list alone cannot say which filesystem a disk holds).
pub async fn show(shared: &Daemon, device: &DevicePath) -> Result<DeviceInfo, WireError> {
    let name = kernel_name(device.as_str());
    let mut d = inventory(shared)
        .await?
        .into_iter()
        .find(|d| {
            Some(&d.name) == name.as_ref() || d.path == device.as_str() || d.by_id.iter().any(|b| b == device.as_str())
        })
        .ok_or_else(|| WireError::not_found(format!("no device {device}")))?;
    let h = shared.helper.storage().await?;
    let mut names = vec![d.name.clone()];
    names.extend(d.partitions.iter().map(|p| p.name.clone()));
    for n in names {
        let Ok(dev) = format!("/dev/{n}").parse::<DevicePath>() else { continue };
        if let Ok(out) = h.storage_query(StorageQuery::Blkid { device: dev }).await {
            if out.code == Some(0) {
                super::inventory::apply_blkid(&mut d, &n, &super::inventory::parse_blkid_export(&out.stdout));
            }
        }
    }
    Ok(d)
}

fn save_report(shared: &Daemon, r: &SmartReport) -> Result<(), WireError> {
    let json = serde_json::to_string(r).map_err(|e| WireError::internal(e.to_string()))?;
    let now = now_rfc3339().map_err(WireError::from)?;
    shared.with_state(|s| {
        s.conn()
            .execute(
                "INSERT INTO smart_reports(device, time, report) VALUES (?1, ?2, ?3)",
                params![r.device, now, json],
            )
            .map_err(StateError::sqlite("storing a SMART report"))?;
        Ok(())
    })
}

async fn read_smart(shared: &Daemon, device: &DevicePath) -> Result<SmartReport, WireError> {
    let out = shared.helper.storage().await?.storage_query(StorageQuery::Smart { device: device.clone() }).await?;
    Ok(super::smart::parse_smartctl(device.as_str(), out.stdout.as_bytes(), out.code))
}

pub async fn smart(shared: &Daemon, device: &DevicePath) -> Result<SmartReport, WireError> {
    let r = read_smart(shared, device).await?;
    if r.available {
        save_report(shared, &r)?;
    }
    Ok(r)
}

pub fn smart_history(shared: &Daemon, device: &DevicePath, limit: u32) -> Result<Vec<SmartReport>, WireError> {
    let limit = limit.clamp(1, 1000);
    let rows: Vec<String> = shared.with_state(|s| {
        let mut stmt = s
            .conn()
            .prepare("SELECT report FROM smart_reports WHERE device = ?1 ORDER BY time DESC LIMIT ?2")
            .map_err(StateError::sqlite("reading SMART history"))?;
        let rows = stmt
            .query_map(params![device.as_str(), limit], |r| r.get(0))
            .map_err(StateError::sqlite("reading SMART history"))?;
        rows.collect::<Result<Vec<String>, _>>().map_err(StateError::sqlite("reading SMART history"))
    })?;
    Ok(rows.iter().filter_map(|r| serde_json::from_str(r).ok()).collect())
}

pub async fn selftest(
    shared: &Arc<Daemon>,
    device: &DevicePath,
    long: bool,
    dry_run: bool,
) -> Result<Change<StorageJob>, WireError> {
    let h = shared.helper.storage().await?;
    let op = HelperOp::SmartSelfTest { device: device.clone(), long };
    if dry_run {
        let (steps, w) = h.run_ops_reporting(vec![op], true).await?;
        return Ok(change(true, steps, w, None));
    }
    let (job, cancel) = shared.storage_jobs.start("selftest", device.as_str())?;
    let (steps, w) = match h.run_ops_reporting(vec![op], false).await {
        Ok(r) => r,
        Err(e) => {
            finish(shared, &job.id, "failed", Some(e.message.clone()));
            return Err(e);
        }
    };
    let (s2, id, dev) = (Arc::clone(shared), job.id.clone(), device.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => { finish(&s2, &id, "cancelled", Some("stopped following; the drive may still be testing".into())); return; }
                () = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            match read_smart(&s2, &dev).await {
                Ok(r) => {
                    let st = r.self_test.clone();
                    match st {
                        Some(t) if t.in_progress => {
                            s2.storage_jobs
                                .update(&id, |j| j.percent = t.percent_remaining.map(|p| f64::from(100 - p.min(100))));
                        }
                        _ => {
                            let _ = save_report(&s2, &r);
                            let last = r.self_test_log.first();
                            let (state, msg) = match last {
                                Some(e) if e.passed => ("done", format!("{}: {}", e.kind, e.status)),
                                Some(e) => ("failed", format!("{}: {}", e.kind, e.status)),
                                None => ("done", "self-test finished".to_owned()),
                            };
                            finish(&s2, &id, state, Some(msg));
                            return;
                        }
                    }
                }
                Err(e) => {
                    finish(&s2, &id, "failed", Some(e.message));
                    return;
                }
            }
        }
    });
    Ok(change(false, steps, w, shared.storage_jobs.get(&job.id)))
}

/// What the admin must type to confirm a wipe: the serial, or the kernel name without one.
pub fn confirmation_for(d: &DeviceInfo) -> String {
    d.serial.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| d.name.clone())
}

/// Sampled regions: the first and last 64 KiB and `n` spread evenly between (aligned).
pub fn sample_regions(size: u64, n: u16) -> Vec<(u64, u32)> {
    let len = u64::from(CHECK_LEN).min(size);
    if len == 0 {
        return Vec::new();
    }
    let mut out = vec![(0, len)];
    let span = size - len;
    for i in 1..=u64::from(n) {
        let off = span / (u64::from(n) + 1) * i / 4096 * 4096;
        out.push((off, len));
    }
    out.push((span / 4096 * 4096, len.min(size - span / 4096 * 4096)));
    out.sort_unstable();
    out.dedup();
    #[allow(clippy::cast_possible_truncation)]
    out.into_iter().map(|(o, l)| (o, l as u32)).collect()
}

/// What the device's firmware offers to erase itself, asked through the helper (`nvme id-ctrl`,
/// `hdparm -I`) and parsed here. Devices that are neither NVMe namespaces nor ATA disks (loop,
/// USB, SAS, virtio) are told so without asking anything.
pub async fn erase_support(shared: &Daemon, device: &DevicePath) -> Result<EraseSupport, WireError> {
    let info = show(shared, device).await?;
    let mut support = EraseSupport {
        device: info.path.clone(),
        offered: Vec::new(),
        chosen: None,
        estimate_minutes: None,
        notes: Vec::new(),
    };
    let ask = |q: StorageQuery| async move {
        let h = shared.helper.storage().await?;
        h.storage_query(q).await
    };
    match info.transport.as_deref() {
        Some("nvme") => match corenas_proto::devices::nvme_topology(std::path::Path::new("/sys"), &info.name) {
            Err(e) => support.notes.push(e),
            Ok(t) if t.namespaces != 1 || t.subsystem_controllers != 1 => support.notes.push(format!(
                "controller {} has {} namespace(s) and its subsystem {} controller(s): sanitize and format would reach beyond this disk, so none is offered",
                t.controller, t.namespaces, t.subsystem_controllers
            )),
            Ok(t) => match ask(StorageQuery::NvmeIdCtrl { device: device.clone() }).await {
                Ok(out) => match super::erase::parse_nvme_caps(&out.stdout) {
                    Some(caps) => {
                        let (offered, notes) = super::erase::nvme_offers(&caps, true);
                        support.offered = offered;
                        support.notes.extend(notes);
                    }
                    None => support.notes.push(format!(
                        "nvme id-ctrl {} gave no answer CoreNAS understands (exit {:?}): {}",
                        t.controller,
                        out.code,
                        super::clean_text(&out.stderr, 200).unwrap_or_default()
                    )),
                },
                Err(e) => support.notes.push(format!("cannot ask {}: {}", t.controller, e.message)),
            },
        },
        Some("sata") if info.kind == corenas_proto::devices::DeviceKind::Disk => {
            match ask(StorageQuery::AtaIdentify { device: device.clone() }).await {
                Ok(out) => match super::erase::parse_ata_security(&out.stdout) {
                    Some(sec) => {
                        let (offered, estimate, notes) = super::erase::ata_offers(&sec);
                        support.offered = offered;
                        support.estimate_minutes = estimate;
                        support.notes.extend(notes);
                    }
                    None => support.notes.push("the drive reports no ATA security feature set".into()),
                },
                Err(e) => support.notes.push(format!("cannot ask the drive: {}", e.message)),
            }
        }
        other => support.notes.push(format!(
            "{} ({}) is neither an NVMe namespace nor a disk on an ATA port: it has no firmware erase CoreNAS can use",
            info.path,
            other.unwrap_or("unknown transport")
        )),
    }
    support.chosen = support.offered.first().copied();
    if support.chosen.is_none() {
        support.notes.push(
            "wipe --method secure falls back to a secure discard (blkdiscard --secure), which few devices support; zero works everywhere"
                .into(),
        );
    }
    Ok(support)
}

/// How long the helper may let a firmware erase run: twice the device's estimate plus ten
/// minutes (an hour without one), within the helper's cap. A sanitize returns at once.
fn erase_time_limit(erase: FirmwareErase, estimate: Option<u32>) -> u32 {
    if erase.runs_in_background() {
        return 5;
    }
    estimate
        .map_or(60, |m| m.saturating_mul(2).saturating_add(10))
        .min(corenas_proto::storage::MAX_FIRMWARE_ERASE_MINUTES)
}

pub async fn wipe(shared: &Arc<Daemon>, req: DeviceWipe, dry_run: bool) -> Result<Change<StorageJob>, WireError> {
    let info = show(shared, &req.device).await?;
    let expected = confirmation_for(&info);
    if req.confirm != expected {
        return Err(WireError::invalid(
            "confirm",
            format!("wiping destroys everything on {}: confirm with the device's serial ({expected})", info.path),
        ));
    }
    if info.in_use() {
        let uses: Vec<String> = info.uses.iter().map(ToString::to_string).collect();
        return Err(WireError::new(ErrorCode::Busy, format!("device {} is in use: {}", info.path, uses.join("; "))));
    }
    if req.samples > 1024 {
        return Err(WireError::invalid("samples", "use at most 1024 sampled regions"));
    }
    let device = req.device.clone();
    if req.method == WipeMethod::Secure {
        let support = erase_support(shared, &device).await?;
        if let Some(erase) = support.chosen {
            return firmware_wipe(shared, info, req, erase, support.estimate_minutes, dry_run).await;
        }
    }
    let first_op = match req.method {
        WipeMethod::Quick => HelperOp::WipeSignatures { device: device.clone() },
        m => HelperOp::WipeRange {
            device: device.clone(),
            method: m,
            offset: 0,
            length: WIPE_CHUNK.min(info.size_bytes),
        },
    };
    let h = shared.helper.storage().await?;
    if dry_run {
        let (mut steps, w) = h.run_ops_reporting(vec![first_op], true).await?;
        if req.method != WipeMethod::Quick && info.size_bytes > WIPE_CHUNK {
            steps.push(corenas_proto::helper::Step::Check {
                what: format!("… and so on in pieces of {WIPE_CHUNK} bytes up to {} bytes", info.size_bytes),
            });
        }
        steps.push(corenas_proto::helper::Step::Check {
            what: format!(
                "read back {} sampled regions; each must be zeros",
                sample_regions(info.size_bytes, req.samples).len()
            ),
        });
        return Ok(change(true, steps, w, None));
    }
    let (job, cancel) = shared.storage_jobs.start("wipe", &info.path)?;
    let _ = shared.with_state(|s| crate::storage::jobs::save(s.conn(), &job));
    let (s2, id) = (Arc::clone(shared), job.id.clone());
    let serial = info.serial.clone();
    tokio::spawn(async move {
        let r = run_wipe(&s2, &id, &device, req.method, info.size_bytes, req.samples, &cancel).await;
        let (state, msg, verified) = match &r {
            Ok(v) => {
                ("done", format!("wiped ({}) and verified: {v} sampled regions read back as zeros", req.method), true)
            }
            Err(e) if cancel.is_cancelled() => ("cancelled", format!("cancelled: {}", e.message), false),
            Err(e) => ("failed", e.message.clone(), false),
        };
        record_wipe(&s2, &device, serial, req.method.as_str(), &id, verified, &msg, state == "done");
        finish(&s2, &id, state, Some(msg));
    });
    Ok(change(false, Vec::new(), Vec::new(), shared.storage_jobs.get(&job.id)))
}

/// `wipe --method secure` with the device's own erase: one helper call (a sanitize returns at
/// once and is followed in `nvme sanitize-log`), then the verification: zeros where the erase
/// leaves zeros, otherwise every sampled region that was not zero must have changed.
async fn firmware_wipe(
    shared: &Arc<Daemon>,
    info: DeviceInfo,
    req: DeviceWipe,
    erase: FirmwareErase,
    estimate: Option<u32>,
    dry_run: bool,
) -> Result<Change<StorageJob>, WireError> {
    let minutes = erase_time_limit(erase, estimate);
    let op = HelperOp::FirmwareErase { device: req.device.clone(), erase, minutes };
    let regions = sample_regions(info.size_bytes, req.samples);
    if dry_run {
        let h = shared.helper.storage().await?;
        let check = |what: String| corenas_proto::helper::Step::Check { what };
        let mut steps = vec![check(format!("read {} sampled regions before the erase", regions.len()))];
        let (planned, w) = h.run_ops_reporting(vec![op], true).await?;
        steps.extend(planned);
        if erase.runs_in_background() {
            steps.push(check("follow nvme sanitize-log until the controller reports the sanitize done".into()));
        }
        steps.push(check(if erase.leaves_zeros() {
            format!("read back {} sampled regions; each must be zeros", regions.len())
        } else {
            format!("read back {} sampled regions; each must be zeros or differ from before", regions.len())
        }));
        return Ok(change(true, steps, w, None));
    }
    let (job, _cancel) = shared.storage_jobs.start("wipe", &info.path)?;
    shared.storage_jobs.update(&job.id, |j| {
        j.message = Some(format!("{erase}: a firmware erase cannot be stopped once the device has started it"));
    });
    let _ = shared.with_state(|s| crate::storage::jobs::save(s.conn(), &job));
    let (s2, id, device, serial) = (Arc::clone(shared), job.id.clone(), req.device.clone(), info.serial.clone());
    tokio::spawn(async move {
        let r = run_firmware_erase(&s2, &id, op, erase, estimate, regions).await;
        let (state, msg, verified) = match &r {
            Ok(n) => {
                ("done", format!("erased by the device ({erase}) and verified: {n} sampled regions checked"), true)
            }
            Err(e) => ("failed", e.message.clone(), false),
        };
        record_wipe(&s2, &device, serial, &format!("secure ({erase})"), &id, verified, &msg, state == "done");
        finish(&s2, &id, state, Some(msg));
    });
    Ok(change(false, Vec::new(), Vec::new(), shared.storage_jobs.get(&job.id)))
}

async fn run_firmware_erase(
    shared: &Daemon,
    id: &str,
    op: HelperOp,
    erase: FirmwareErase,
    estimate: Option<u32>,
    regions: Vec<(u64, u32)>,
) -> Result<usize, WireError> {
    let HelperOp::FirmwareErase { device, minutes, .. } = &op else {
        return Err(WireError::internal("not a firmware erase"));
    };
    let (device, limit) = (device.clone(), Duration::from_secs(u64::from(*minutes) * 60 + 60));
    let h = shared.helper.storage().await?;
    let before = h.region_fingerprints(device.clone(), regions.clone()).await?;
    if erase.runs_in_background() {
        h.perform(op, false).await?;
        follow_sanitize(shared, id, &device).await?;
    } else {
        let started = std::time::Instant::now();
        let run = h.perform_long(op, limit);
        tokio::pin!(run);
        loop {
            tokio::select! {
                r = &mut run => { r?; break; }
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    // The drive reports no progress: the share of its own estimate gone by.
                    if let Some(m) = estimate.filter(|m| *m > 0) {
                        #[allow(clippy::cast_precision_loss)]
                        let pct = started.elapsed().as_secs_f64() / (f64::from(m) * 60.0) * 100.0;
                        shared.storage_jobs.update(id, |j| j.percent = Some(pct.min(99.0)));
                    }
                }
            }
        }
    }
    if erase.leaves_zeros() {
        return verify(&h, &device, regions).await;
    }
    let zero = h.wipe_check(device.clone(), regions.clone()).await?;
    let after = h.region_fingerprints(device.clone(), regions.clone()).await?;
    let unchanged: Vec<String> = regions
        .iter()
        .zip(zero.iter().zip(before.iter().zip(&after)))
        .filter(|(_, (z, (b, a)))| !**z && b == a)
        .map(|((o, l), _)| format!("{o}+{l}"))
        .collect();
    if unchanged.is_empty() {
        Ok(regions.len())
    } else {
        Err(WireError::new(
            ErrorCode::ToolFailed,
            format!("verification failed: unchanged after the erase at {}", unchanged.join(", ")),
        ))
    }
}

/// Follows an NVMe sanitize in the controller's log until it ends (every 2 s; a controller
/// that still reports no sanitize after a minute did not start one; one still running after
/// 24 h is reported as stuck: the job ends, the controller may go on).
async fn follow_sanitize(shared: &Daemon, id: &str, device: &DevicePath) -> Result<(), WireError> {
    use super::erase::Sanitize;
    let mut not_started = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(24 * 3600);
    loop {
        if std::time::Instant::now() > deadline {
            return Err(WireError::new(
                ErrorCode::ToolTimeout,
                "the controller still reports the sanitize running after 24 h: see nvme sanitize-log",
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let h = shared.helper.storage().await?;
        let out = h.storage_query(StorageQuery::NvmeSanitizeLog { device: device.clone() }).await?;
        match super::erase::parse_sanitize_log(&out.stdout) {
            Some(Sanitize::Running(f)) => {
                shared.storage_jobs.update(id, |j| j.percent = Some((f * 100.0).min(99.9)));
            }
            Some(Sanitize::Done) => return Ok(()),
            Some(Sanitize::Failed) => {
                return Err(WireError::new(ErrorCode::ToolFailed, "the controller reports the sanitize failed"));
            }
            Some(Sanitize::Never) if not_started < 30 => not_started += 1,
            Some(Sanitize::Never) => {
                return Err(WireError::new(
                    ErrorCode::ToolFailed,
                    "the controller never reported the sanitize as started",
                ));
            }
            None => {
                return Err(WireError::new(
                    ErrorCode::ToolFailed,
                    format!("nvme sanitize-log gave no answer CoreNAS understands (exit {:?})", out.code),
                ));
            }
        }
    }
}

/// The wipe record in the audit log: which disk (serial), how, and whether it verified.
#[allow(clippy::too_many_arguments)]
fn record_wipe(
    shared: &Daemon,
    device: &DevicePath,
    serial: Option<String>,
    method: &str,
    job: &str,
    verified: bool,
    result: &str,
    ok: bool,
) {
    let args = serde_json::json!({
        "device": device, "serial": serial, "method": method, "job": job,
        "verified": verified, "result": result,
    });
    let rec = crate::audit::AuditRecord {
        principal: "corenasd",
        channel: "job",
        peer_uid: rustix::process::getuid().as_raw(),
        action: "device.wipe.record",
        args: &args,
        result: if ok { "ok" } else { "failed" },
        error_code: None,
    };
    if let Err(e) = shared.audit(&rec) {
        tracing::error!(error = %e.message, "could not audit the wipe record");
    }
}

async fn run_wipe(
    shared: &Daemon,
    id: &str,
    device: &DevicePath,
    method: WipeMethod,
    size: u64,
    samples: u16,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<usize, WireError> {
    let h = shared.helper.storage().await?;
    if method == WipeMethod::Quick {
        h.run_ops(vec![HelperOp::WipeSignatures { device: device.clone() }], false).await?;
        let blkid = h.storage_query(StorageQuery::Blkid { device: device.clone() }).await?;
        // blkid -p exits 2 when it finds nothing to report.
        if blkid.code != Some(2) && !blkid.stdout.trim().is_empty() {
            return Err(WireError::new(
                ErrorCode::ToolFailed,
                format!("signatures remain after the wipe: {}", blkid.stdout.trim()),
            ));
        }
        let edges: Vec<(u64, u32)> = sample_regions(size, 0);
        return verify(&h, device, edges).await;
    }
    let mut offset = 0u64;
    while offset < size {
        if cancel.is_cancelled() {
            return Err(WireError::new(ErrorCode::InvalidState, format!("stopped at {offset} of {size} bytes")));
        }
        let length = WIPE_CHUNK.min(size - offset);
        h.run_ops(vec![HelperOp::WipeRange { device: device.clone(), method, offset, length }], false).await?;
        offset += length;
        #[allow(clippy::cast_precision_loss)]
        let pct = offset as f64 / size as f64 * 100.0;
        shared.storage_jobs.update(id, |j| j.percent = Some(pct.min(99.9)));
    }
    verify(&h, device, sample_regions(size, samples)).await
}

async fn verify(
    h: &crate::helper_link::HelperConn,
    device: &DevicePath,
    regions: Vec<(u64, u32)>,
) -> Result<usize, WireError> {
    let n = regions.len();
    let zero = h.wipe_check(device.clone(), regions.clone()).await?;
    let bad: Vec<String> =
        regions.iter().zip(&zero).filter(|(_, z)| !**z).map(|((o, l), _)| format!("{o}+{l}")).collect();
    if bad.is_empty() {
        Ok(n)
    } else {
        Err(WireError::new(ErrorCode::ToolFailed, format!("verification failed: not zero at {}", bad.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_cover_both_ends_and_stay_inside() {
        let size = 100 << 20;
        let r = sample_regions(size, 8);
        assert_eq!(r.first(), Some(&(0, CHECK_LEN)));
        let last = r.last().unwrap();
        assert!(last.0 + u64::from(last.1) <= size && last.0 + u64::from(last.1) > size - 4096 - u64::from(CHECK_LEN));
        assert!(r.len() >= 9);
        assert!(r.iter().all(|(o, l)| o % 4096 == 0 && o + u64::from(*l) <= size));
        assert_eq!(sample_regions(0, 8), vec![]);
        assert!(sample_regions(10_000, 4).iter().all(|(o, l)| o + u64::from(*l) <= 10_000));
    }
}
