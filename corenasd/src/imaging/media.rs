//! Devices and media as corenasd sees them: the inventory (sysfs, plus the helper's in-use
//! check and raw first bytes), and media detection from kernel uevents, received unprivileged
//! on a raw netlink socket. Duplicate events are debounced, and a medium is identified by its
//! fingerprint, so one insertion never starts two jobs.

use super::engine::{medium_facts, sysfs_identity};
use super::store;
use crate::daemon::Daemon;
use crate::devices::hotplug;
use crate::devices::uevent;
use corenas_proto::WireError;
use corenas_proto::imaging::{DeviceInfo, ImageCreate, JobOptions, JobState};
use corenas_proto::names::{DevicePath, JobName, is_disk_name};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Events for one device closer together than this are one event.
const DEBOUNCE: Duration = Duration::from_millis(700);

pub const POLICY_AUTO_START: &str = "imaging.auto_start";
pub const POLICY_WATCH: &str = "imaging.watch";

fn kind_of(name: &str) -> &'static str {
    if name.starts_with("sr") {
        "optical"
    } else if name.starts_with("loop") {
        "loop"
    } else if name.starts_with("nvme") {
        "nvme"
    } else {
        "disk"
    }
}

fn read_sys(name: &str, rel: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/block/{name}/{rel}")).ok().map(|s| s.trim().to_owned())
}

/// Whole disks the kernel knows, by name (partitions and other block devices left out).
pub fn disks() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/block")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_disk_name(n) && read_sys(n, "partition").is_none())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The inventory: every disk with its identity, size, media and what keeps it busy.
pub async fn list(shared: &Daemon) -> Result<Vec<DeviceInfo>, WireError> {
    let h = shared.helper.connect().await?;
    let mut out = Vec::new();
    for name in disks() {
        let size = read_sys(&name, "size").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) * 512;
        // Detached loop devices are empty slots, not devices anyone can use.
        if name.starts_with("loop") && size == 0 {
            continue;
        }
        let path = format!("/dev/{name}");
        let (model, serial) = sysfs_identity(&name);
        let mut info = DeviceInfo {
            kind: kind_of(&name).to_owned(),
            model,
            serial,
            size_bytes: size,
            removable: read_sys(&name, "removable").as_deref() == Some("1") || name.starts_with("sr"),
            has_media: size > 0,
            medium: None,
            in_use: Vec::new(),
            job: shared.imaging.device_busy(&path),
            path,
        };
        if let Ok(dev) = info.path.parse::<DevicePath>() {
            match h.device_probe(dev).await {
                Ok(p) => {
                    info.in_use = p.in_use.clone();
                    // The helper asks an optical drive itself; sysfs keeps an ejected disc's size.
                    info.has_media = p.size_bytes > 0;
                    info.size_bytes = p.size_bytes;
                    if p.size_bytes > 0 && p.in_use.is_empty() {
                        info.medium = Some(medium_facts(&p).medium);
                    }
                }
                Err(e) => info.in_use.push(format!("not checked: {}", e.message)),
            }
        }
        out.push(info);
    }
    Ok(out)
}

/// Watches kernel uevents for media changes and keeps going whatever arrives.
pub async fn watch(shared: Arc<Daemon>) {
    let fd = match hotplug::uevent_socket() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "no uevent socket: media detection is off");
            return;
        }
    };
    // SAFETY: `fd` is an owned socket that nothing else closes or replaces while the AsyncFd
    // owns it.
    let Ok(afd) = (unsafe { tokio::io::unix::AsyncFd::register(fd) }) else {
        tracing::warn!("uevent socket not pollable: media detection is off");
        return;
    };
    let mut pending: HashMap<String, tokio::time::Instant> = HashMap::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let next = pending.values().min().copied();
        tokio::select! {
            ready = afd.readable() => {
                let Ok(mut guard) = ready else { continue };
                loop {
                    match hotplug::receive(afd.get_ref(), &mut buf) {
                        hotplug::Received::Event(ev) => {
                            if let Some(name) = interesting(&ev) {
                                pending.insert(name, tokio::time::Instant::now() + DEBOUNCE);
                            }
                        }
                        // Skipped: not the kernel's. Lost: an overrun; keep reading.
                        hotplug::Received::Skipped | hotplug::Received::Lost => {}
                        hotplug::Received::Empty => { guard.clear_ready(); break; }
                        hotplug::Received::Failed(e) => { tracing::warn!(error = %e, "uevent receive failed"); guard.clear_ready(); break; }
                    }
                }
            }
            _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                let now = tokio::time::Instant::now();
                let due: Vec<String> = pending.iter().filter(|(_, t)| **t <= now).map(|(n, _)| n.clone()).collect();
                for name in due {
                    pending.remove(&name);
                    if let Err(e) = medium_changed(&shared, &name).await {
                        tracing::warn!(device = %name, error = %e.message, "media change not handled");
                    }
                }
            }
        }
    }
}

fn interesting(ev: &uevent::Uevent) -> Option<String> {
    if ev.subsystem.as_deref() != Some("block") || ev.devtype.as_deref() != Some("disk") {
        return None;
    }
    let name = ev.devname.clone()?;
    is_disk_name(&name).then_some(name)
}

/// The medium in `name` may have changed: remember what is in the drive now, tell waiters,
/// and with the auto-start policy queue one job per new medium.
async fn medium_changed(shared: &Arc<Daemon>, name: &str) -> Result<(), WireError> {
    let path = format!("/dev/{name}");
    let watched = shared.with_state(|s| crate::state::setting(s.conn(), POLICY_WATCH))?;
    let watch: Vec<String> = watched.and_then(|w| serde_json::from_str(&w).ok()).unwrap_or_default();
    if !(name.starts_with("sr") || watch.contains(&path)) {
        return Ok(());
    }
    let dev: DevicePath = path.parse()?;
    let h = shared.helper.connect().await?;
    let probe = match h.device_probe(dev.clone()).await {
        Ok(p) => p,
        Err(e) if e.code == corenas_proto::ErrorCode::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    shared.imaging.note_medium(name, (probe.size_bytes > 0).then(|| medium_facts(&probe).medium));
    if probe.size_bytes == 0 || !probe.in_use.is_empty() {
        return Ok(());
    }
    let auto = shared.with_state(|s| crate::state::setting(s.conn(), POLICY_AUTO_START))?.as_deref() == Some("true");
    if !auto {
        return Ok(());
    }
    let facts = medium_facts(&probe);
    // One job per medium: an open or finished job for this fingerprint on this device means
    // this event is a duplicate (or the same disc put back).
    let seen = shared.with_state(|s| {
        let all = store::with_status(s.conn(), &JobState::ALL)?;
        Ok(all.iter().any(|j| {
            j.device.as_deref() == Some(path.as_str())
                && j.medium.as_ref().is_some_and(|m| m.fingerprint == facts.medium.fingerprint)
        }))
    })?;
    if seen {
        tracing::info!(device = %path, "medium already has a job; event ignored");
        return Ok(());
    }
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let name: JobName = format!("auto-{name}-{stamp}").parse()?;
    let req = ImageCreate { name, device: dev, options: JobOptions::default() };
    let row = shared.with_state(|s| {
        let mut row = store::insert_job(
            s.conn(),
            corenas_proto::imaging::JobKind::Image,
            req.name.as_str(),
            Some(req.device.as_str()),
            &req.options,
            None,
            // A watched device's media are optical or removable; no admin approved a fixed disk.
            false,
        )?;
        // Recorded now, so a second event for the same disc finds it.
        row.medium = Some(facts.medium.clone());
        store::save_job(s.conn(), &mut row)?;
        Ok(row)
    })?;
    let args =
        serde_json::json!({ "job": row.id, "device": path, "label": facts.medium.label, "policy": "auto_start" });
    let rec = crate::audit::AuditRecord {
        principal: "corenasd",
        channel: "policy",
        peer_uid: rustix::process::getuid().as_raw(),
        action: "image.create",
        args: &args,
        result: "ok",
        error_code: None,
    };
    shared.audit(&rec)?;
    shared.imaging.bump(&row.id);
    shared.imaging.kick();
    Ok(())
}
