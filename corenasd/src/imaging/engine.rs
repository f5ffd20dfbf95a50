//! The imaging job engine: a persistent queue (SQLite), a scheduler (priority order, one job
//! per device, a global concurrency limit), and one runner task per job that drives ddrescue,
//! follows its mapfile for progress, hashes the image and files it in the archive.
//!
//! Who does what: the helper checks the device as root and grants corenasd's user read access
//! to the device node for the job; ddrescue then runs as `corenas` (decision 0009). Everything
//! read from the medium (volume descriptor, label) is parsed here, unprivileged.

use super::ddrescue::{MAPFILE_WRITE_ERROR, Run};
use super::mapfile::{self, MapSummary, RateWindow};
use super::registry::{Active, Request, signal};
use super::{iso9660, store};
use crate::daemon::Daemon;
use corenas_proto::helper::{DeviceProbe, HelperOp};
use corenas_proto::imaging::{Checksums, JobKind, JobState, Medium, Phase, Progress};
use corenas_proto::names::DevicePath;
use corenas_proto::{ErrorCode, WireError};
use sha2::Digest;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often the runner reads the mapfile; ddrescue saves it every second.
const POLL: Duration = Duration::from_millis(500);
/// Progress is written to the database this often while a job runs (and on every state change).
const PERSIST_EVERY: Duration = Duration::from_secs(10);
const HASH_CHUNK: usize = 1 << 20;

fn job_error(code: ErrorCode, message: impl Into<String>) -> WireError {
    WireError::new(code, message)
}

/// Loads, changes and saves one job row, then wakes waiters.
pub fn update(shared: &Daemon, id: &str, f: impl FnOnce(&mut store::JobRow)) -> Result<store::JobRow, WireError> {
    let row = shared.with_state(|s| {
        let mut row = store::job(s.conn(), id)?
            .ok_or_else(|| crate::state::StateError::InvalidRecord { detail: format!("job {id} vanished") })?;
        f(&mut row);
        store::save_job(s.conn(), &mut row)?;
        Ok(row)
    })?;
    shared.imaging.bump(id);
    Ok(row)
}

fn now() -> Option<String> {
    crate::state::now_rfc3339().ok()
}

/// Records a job's lifecycle event in the audit chain (principal `corenasd`, channel `job`).
fn audit_job(shared: &Daemon, action: &str, row: &store::JobRow) {
    let args = serde_json::json!({
        "job": row.id, "name": row.name, "device": row.device, "status": row.status.as_str(),
        "bad_bytes": row.progress.bad_bytes, "archive": row.archive_id, "error": row.error,
    });
    let result = if matches!(row.status, JobState::Failed) { "failed" } else { "ok" };
    let rec = crate::audit::AuditRecord {
        principal: "corenasd",
        channel: "job",
        peer_uid: rustix::process::getuid().as_raw(),
        action,
        args: &args,
        result,
        error_code: row.error_code.as_deref(),
    };
    if let Err(e) = shared.audit(&rec) {
        tracing::error!(job = %row.id, error = %e.message, "could not audit a job event");
    }
}

/// At start-up: jobs that were running when corenasd stopped go back to the queue (ddrescue
/// resumes from the mapfile); a ddrescue that outlived its corenasd is stopped first.
pub fn recover(shared: &Daemon) -> Result<(), WireError> {
    let rows = shared.with_state(|s| store::with_status(s.conn(), &[JobState::Running, JobState::Hashing]))?;
    for row in rows {
        if let Some(pid) = row.pid {
            stop_orphan(pid, &row.id);
        }
        update(shared, &row.id, |r| {
            r.status = JobState::Queued;
            r.pid = None;
        })?;
        tracing::info!(job = %row.id, "job requeued after a restart; it resumes from its mapfile");
    }
    Ok(())
}

fn stop_orphan(pid: u32, id: &str) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&format!("{id}.map"));
    if !ours {
        return;
    }
    signal(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// At start, before any job runs: a grant left by a corenasd that was killed ends now, also for
/// a job that will be cancelled before it runs again (a run grants afresh).
async fn revoke_stale_grants(shared: &Daemon) {
    let unfinished = [JobState::Queued, JobState::Paused, JobState::Running, JobState::Hashing];
    let rows = match shared.with_state(|s| store::with_status(s.conn(), &unfinished)) {
        Ok(rows) => rows,
        Err(e) => return tracing::warn!(error = %e.message, "could not list jobs to end stale grants"),
    };
    let mut devices: Vec<DevicePath> = rows.iter().filter_map(|r| r.device.as_deref()?.parse().ok()).collect();
    devices.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    devices.dedup();
    for dev in devices {
        release(shared, &dev).await;
    }
}

/// The scheduler: whenever something changes (or every two seconds), start queued jobs in
/// priority order while the concurrency limit allows, never two on one device.
pub async fn scheduler(shared: Arc<Daemon>) {
    revoke_stale_grants(&shared).await;
    loop {
        if let Err(e) = schedule_once(&shared) {
            tracing::warn!(error = %e.message, "scheduling failed");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), shared.imaging.wake.notified()).await;
    }
}

fn schedule_once(shared: &Arc<Daemon>) -> Result<(), WireError> {
    let queue = shared.with_state(|s| store::queued(s.conn()))?;
    for row in queue {
        let img = &shared.imaging;
        {
            let mut active = img.active.lock().map_err(|_| WireError::internal("job table poisoned"))?;
            if active.len() >= img.concurrency {
                return Ok(());
            }
            if let Some(dev) = &row.device {
                if active.values().any(|a| a.device.as_deref() == Some(dev.as_str())) {
                    continue;
                }
            }
            active.insert(row.id.clone(), Active { device: row.device.clone(), ..Active::default() });
        }
        let (shared, id) = (Arc::clone(shared), row.id.clone());
        tokio::spawn(async move {
            let row = row;
            let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run(&shared, &id))).await;
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(WireError::internal("the job runner failed unexpectedly (a bug); see the corenasd log")),
            };
            if let Some(e) = failure {
                tracing::warn!(job = %id, error = %e.message, "job failed");
                if let Ok(row) = update(&shared, &id, |r| {
                    r.status = JobState::Failed;
                    r.error = Some(e.message.clone());
                    r.error_code = Some(e.code.as_str().to_owned());
                    r.finished_at = now();
                    r.pid = None;
                }) {
                    audit_job(&shared, "image.job.failed", &row);
                }
            }
            // Whatever the run did (finished, paused, cancelled, failed, panicked, or found a
            // grant left by a run that crashed), the read grant ends with it: a grant that
            // outlives its job lets corenasd's user read the disk after it became a pool.
            // Revoking an absent grant is harmless; the device is still ours until `active`
            // forgets the job, so no other job's grant is touched.
            if let Some(dev) = row.device.as_deref().and_then(|d| d.parse::<DevicePath>().ok()) {
                release(&shared, &dev).await;
            }
            if let Ok(mut a) = shared.imaging.active.lock() {
                a.remove(&id);
            }
            if let Ok(mut l) = shared.imaging.live.lock() {
                l.remove(&id);
            }
            shared.imaging.bump(&id);
            shared.imaging.kick();
        });
    }
    Ok(())
}

async fn run(shared: &Arc<Daemon>, id: &str) -> Result<(), WireError> {
    let row = update(shared, id, |r| {
        r.status = JobState::Running;
        r.error = None;
        r.error_code = None;
        if r.started_at.is_none() {
            r.started_at = now();
        }
    })?;
    match row.kind {
        JobKind::Image => run_image(shared, row).await,
        JobKind::Verify => run_verify(shared, row).await,
    }
}

/// What the medium is, from the helper's raw bytes: the ISO 9660 volume when there is one.
pub struct MediumFacts {
    pub medium: Medium,
    pub domain: u64,
    pub sector_size: u32,
    pub iso: bool,
}

pub fn medium_facts(probe: &DeviceProbe) -> MediumFacts {
    let mut h = sha2::Sha256::new();
    h.update(probe.size_bytes.to_le_bytes());
    h.update(&probe.head);
    let fingerprint = hex::encode(h.finalize());
    let optical = probe.name.starts_with("sr");
    let pvd = probe.head.get(32768..34816).and_then(|s| iso9660::parse_pvd(s).ok());
    match pvd {
        Some(p)
            if p.logical_block_size == 2048 && p.image_size_bytes() > 0 && p.image_size_bytes() <= probe.size_bytes =>
        {
            let label = iso9660::display_label(&p.volume_id);
            MediumFacts {
                medium: Medium {
                    format: "iso9660".into(),
                    label: (!label.is_empty()).then_some(label),
                    size_bytes: p.image_size_bytes(),
                    fingerprint,
                },
                domain: p.image_size_bytes(),
                sector_size: 2048,
                iso: true,
            }
        }
        _ => MediumFacts {
            medium: Medium { format: "raw".into(), label: None, size_bytes: probe.size_bytes, fingerprint },
            domain: probe.size_bytes,
            sector_size: if optical { 2048 } else { probe.logical_sector.max(512) },
            iso: false,
        },
    }
}

/// Model and serial from sysfs (world-readable; parsed here, not in the helper).
pub fn sysfs_identity(name: &str) -> (Option<String>, Option<String>) {
    let read =
        |p: String| std::fs::read_to_string(p).ok().map(|s| iso9660::display_label(&s)).filter(|s| !s.is_empty());
    let model = read(format!("/sys/class/block/{name}/device/model"));
    let serial = read(format!("/sys/class/block/{name}/device/serial"))
        .or_else(|| read(format!("/sys/class/block/{name}/serial")))
        .or_else(|| read(format!("/sys/class/block/{name}/loop/backing_file")).map(|_| format!("{name}-lab")));
    (model, serial)
}

fn progress_from(map: &MapSummary, rate: &RateWindow) -> Progress {
    let remaining = map.domain.saturating_sub(map.rescued + map.bad);
    Progress {
        domain_bytes: map.domain,
        rescued_bytes: map.rescued,
        non_tried_bytes: map.non_tried,
        non_trimmed_bytes: map.non_trimmed,
        non_scraped_bytes: map.non_scraped,
        bad_bytes: map.bad,
        bad_areas: map.bad_areas,
        phase: Some(map.phase),
        pass: map.pass,
        percent: map.percent_done(),
        rate_bps: rate.rate_bps(),
        eta_seconds: rate.eta_secs(remaining),
    }
}

/// Reads the mapfile, retrying a few times if ddrescue is in the middle of rewriting it.
async fn read_map(path: &Path, domain: u64) -> Option<MapSummary> {
    for _ in 0..5 {
        // A few KiB at most: read in place rather than through a blocking-pool thread.
        match std::fs::read(path) {
            Ok(bytes) => match mapfile::parse_bytes(&bytes, domain) {
                Ok(m) => return Some(m),
                Err(_) => tokio::time::sleep(Duration::from_millis(40)).await,
            },
            Err(_) => return None,
        }
    }
    None
}

fn device_path(row: &store::JobRow) -> Result<DevicePath, WireError> {
    row.device
        .as_deref()
        .ok_or_else(|| WireError::internal("an imaging job without a device"))?
        .parse::<DevicePath>()
        .map_err(WireError::from)
}

/// Asks the helper to let corenasd's user read the device; `fixed_disk` only for a job an admin
/// created (the helper grants a fixed disk only then).
async fn grant(shared: &Daemon, dev: &DevicePath, fixed_disk: bool) -> Result<(), WireError> {
    let h = shared.helper.connect().await?;
    h.perform(HelperOp::DeviceGrantRead { device: dev.clone(), fixed_disk }, false).await.map(|_| ())
}

async fn revoke(shared: &Daemon, dev: &DevicePath) -> Result<(), WireError> {
    let h = shared.helper.connect().await?;
    h.perform(HelperOp::DeviceRevokeRead { device: dev.clone() }, false).await.map(|_| ())
}

async fn release(shared: &Daemon, dev: &DevicePath) {
    if let Err(e) = revoke(shared, dev).await {
        tracing::warn!(device = %dev, error = %e.message, "could not revoke the device read grant");
    }
}

fn free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

struct Exit {
    success: bool,
    output: String,
    asked_mapfile: bool,
}

async fn run_image(shared: &Arc<Daemon>, row: store::JobRow) -> Result<(), WireError> {
    let img = &shared.imaging;
    let id = row.id.clone();
    let dev = device_path(&row)?;
    let dir = img.job_dir(&id);
    let mapfile_path = dir.join(format!("{id}.map"));

    let h = shared.helper.connect().await?;
    let probe = h.device_probe(dev.clone()).await?;
    if !probe.in_use.is_empty() {
        return Err(job_error(ErrorCode::Busy, format!("device {dev} is in use: {}", probe.in_use.join("; "))));
    }
    if probe.size_bytes == 0 {
        return Err(job_error(ErrorCode::InvalidState, format!("device {dev} has no medium")));
    }
    let facts = medium_facts(&probe);
    // Resuming onto another disc would merge two media into one image.
    if let Some(old) = &row.medium {
        if old.fingerprint != facts.medium.fingerprint {
            let label = old.label.clone().unwrap_or_else(|| "without a label".into());
            let row = update(shared, &id, |r| {
                r.status = JobState::Paused;
                r.error = Some(format!(
                    "the medium in {dev} is not the one this job started on (label {label}); insert it again and resume, or cancel"
                ));
                r.error_code = Some(ErrorCode::InvalidState.as_str().into());
            })?;
            audit_job(shared, "image.job.paused", &row);
            return Ok(());
        }
    }
    let (model, serial) = sysfs_identity(&probe.name);
    let ext = if facts.iso { "iso" } else { "img" };
    let image_path = dir.join(format!("{id}.{ext}"));
    let row = update(shared, &id, |r| {
        r.medium = Some(facts.medium.clone());
        r.source_model = model.clone();
        r.source_serial = serial.clone();
        r.output_file = Some(image_path.display().to_string());
    })?;
    // 0750: images are readable by corenasd's user and group only, not by every local user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&dir)
        .map_err(|e| job_error(ErrorCode::Internal, format!("creating {}: {e}", dir.display())))?;

    // Known from the medium before ddrescue writes its first mapfile.
    let mut start = row.progress.clone();
    start.domain_bytes = facts.domain;
    start.phase = start.phase.or(Some(Phase::Copying));
    img.set_live(&id, start);
    let existing = read_map(&mapfile_path, facts.domain).await;
    let done_before = existing.as_ref().is_some_and(|m| m.non_tried + m.non_trimmed + m.non_scraped == 0);
    let map = if done_before && !row.retry_direct {
        existing
    } else {
        grant(shared, &dev, row.fixed_disk_allowed).await?;
        let run = Run {
            device: PathBuf::from(&probe.path),
            image: image_path.clone(),
            mapfile: mapfile_path.clone(),
            sector_size: facts.sector_size,
            domain: facts.domain,
            retry_passes: if row.retry_direct { row.options.retries.get().max(1) } else { row.options.retries.get() },
            direct: row.retry_direct,
            max_rate: row.options.max_rate,
        };
        let exit = drive(shared, &id, &run).await;
        let request = img.active.lock().ok().and_then(|a| a.get(&id).and_then(|j| j.request));
        let exit = match exit {
            Ok(e) => e,
            Err(e) => {
                release(shared, &dev).await;
                return Err(e);
            }
        };
        let map = read_map(&mapfile_path, facts.domain).await;
        match request {
            Some(Request::Pause) => {
                release(shared, &dev).await;
                let progress = map.as_ref().map(|m| progress_from(m, &RateWindow::default()));
                let row = update(shared, &id, |r| {
                    r.status = JobState::Paused;
                    r.pid = None;
                    if let Some(p) = progress {
                        r.progress = p;
                    }
                })?;
                audit_job(shared, "image.job.paused", &row);
                return Ok(());
            }
            Some(Request::Cancel { delete }) => {
                release(shared, &dev).await;
                return finish_cancel(shared, &id, delete);
            }
            None => {}
        }
        let complete = map.as_ref().is_some_and(|m| m.non_tried + m.non_trimmed + m.non_scraped == 0);
        if !complete || !exit.success {
            release(shared, &dev).await;
            let full = exit.asked_mapfile
                || exit.output.contains("No space left")
                || free_bytes(&dir).is_some_and(|f| f < u64::from(facts.sector_size));
            if full {
                return Err(job_error(
                    ErrorCode::NoSpace,
                    format!(
                        "no space left on the image filesystem ({}); free space, then resume the job (image resume {id})",
                        img.images_root.display()
                    ),
                ));
            }
            if complete {
                // ddrescue finished the domain but said something went wrong: trust the
                // mapfile for the data, keep its words for the operator.
                tracing::warn!(job = %id, output = %exit.output, "ddrescue exited non-zero with a complete mapfile");
            } else {
                let tail: String = exit.output.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                return Err(job_error(ErrorCode::ToolFailed, format!("ddrescue stopped before the end: {tail}")));
            }
        }
        map
    };
    let map = map.ok_or_else(|| job_error(ErrorCode::Internal, "the mapfile could not be read after ddrescue"))?;
    let final_progress = progress_from(&map, &RateWindow::default());
    update(shared, &id, |r| {
        r.progress = final_progress.clone();
        r.pid = None;
        r.retry_direct = false;
    })?;
    hash_and_archive(shared, &id, &dev, &facts, &image_path, map.bad).await
}

/// Runs ddrescue and follows its mapfile until it exits.
async fn drive(shared: &Arc<Daemon>, id: &str, run: &Run) -> Result<Exit, WireError> {
    let img = &shared.imaging;
    let mut child = run.spawn(&img.ddrescue).map_err(|e| {
        job_error(ErrorCode::ToolFailed, format!("{} could not be started: {e}", img.ddrescue.display()))
    })?;
    let pid = child.id();
    if let Ok(mut a) = img.active.lock() {
        if let Some(j) = a.get_mut(id) {
            j.pid = pid;
            // A pause or cancel that arrived while the job was starting.
            if j.request.is_some() {
                if let Some(p) = pid {
                    signal(p, rustix::process::Signal::INT);
                }
            }
        }
    }
    update(shared, id, |r| r.pid = pid)?;
    tracing::info!(job = %id, argv = ?run.argv(), "ddrescue started");

    let mut stdin = child.stdin.take();
    let output = Arc::new(Mutex::new(String::new()));
    let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let (output, asked) = (Arc::clone(&output), Arc::clone(&asked));
        readers.push(tokio::spawn(async move {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.contains(MAPFILE_WRITE_ERROR) {
                    asked.store(true, Ordering::SeqCst);
                }
                if let Ok(mut o) = output.lock() {
                    o.push_str(&text);
                    // Keep the tail only: ddrescue redraws its status every second.
                    if o.len() > 16 * 1024 {
                        let cut = o.len() - 8 * 1024;
                        let cut = (cut..o.len()).find(|i| o.is_char_boundary(*i)).unwrap_or(o.len());
                        o.drain(..cut);
                    }
                }
            }
        }));
    }

    let mut rate = RateWindow::default();
    let started = Instant::now();
    let mut last_persist = Instant::now();
    let mut answered = false;
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = tokio::time::sleep(POLL) => {}
        }
        if asked.load(Ordering::SeqCst) && !answered {
            // "Fix the problem and press ENTER to retry, or E+ENTER for an emergency save and
            // exit, or Q+ENTER to abort": quit; the job fails as "no space" and can resume.
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(b"q\n").await;
            }
            answered = true;
        }
        if let Some(map) = read_map(&run.mapfile, run.domain).await {
            rate.push(started.elapsed().as_secs_f64(), map.rescued);
            let p = progress_from(&map, &rate);
            img.set_live(id, p.clone());
            if last_persist.elapsed() >= PERSIST_EVERY {
                last_persist = Instant::now();
                let _ = update(shared, id, |r| r.progress = p);
            }
        }
    };
    drop(stdin);
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    let status = status.map_err(|e| job_error(ErrorCode::ToolFailed, format!("waiting for ddrescue: {e}")))?;
    let output = output.lock().map(|o| o.replace('\r', "\n")).unwrap_or_default();
    tracing::info!(job = %id, status = %status, "ddrescue exited");
    Ok(Exit { success: status.success(), output, asked_mapfile: asked.load(Ordering::SeqCst) })
}

fn finish_cancel(shared: &Daemon, id: &str, delete: bool) -> Result<(), WireError> {
    if delete {
        let dir = shared.imaging.job_dir(id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(job = %id, error = %e, "could not delete the partial image");
            }
        }
    }
    let row = update(shared, id, |r| {
        r.status = JobState::Cancelled;
        r.finished_at = now();
        r.pid = None;
        if delete {
            r.output_file = None;
        }
    })?;
    audit_job(shared, "image.job.cancelled", &row);
    Ok(())
}

/// Hashes a file (SHA-256, MD5 on request) off the runtime thread, reporting bytes done.
async fn hash_file(path: PathBuf, limit: Option<u64>, md5: bool, done: Arc<AtomicU64>) -> Result<Checksums, WireError> {
    tokio::task::spawn_blocking(move || -> Result<Checksums, WireError> {
        let fail = |e: std::io::Error| job_error(ErrorCode::ToolFailed, format!("reading {}: {e}", path.display()));
        let f = std::fs::File::open(&path).map_err(fail)?;
        let mut reader: Box<dyn Read> = match limit {
            Some(n) => Box::new(f.take(n)),
            None => Box::new(f),
        };
        let mut sha = sha2::Sha256::new();
        let mut md = md5.then(md5::Md5::new);
        let mut buf = vec![0u8; HASH_CHUNK];
        loop {
            let n = reader.read(&mut buf).map_err(fail)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            if let Some(m) = md.as_mut() {
                m.update(&buf[..n]);
            }
            done.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(Checksums { sha256: hex::encode(sha.finalize()), md5: md.map(|m| hex::encode(m.finalize())) })
    })
    .await
    .map_err(|e| WireError::internal(format!("hashing failed: {e}")))?
}

/// Hashes with live progress under `phase`.
async fn hash_with_progress(
    shared: &Daemon,
    id: &str,
    path: PathBuf,
    size: u64,
    limit: Option<u64>,
    md5: bool,
    phase: Phase,
) -> Result<Checksums, WireError> {
    let done = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(hash_file(path, limit, md5, Arc::clone(&done)));
    let started = Instant::now();
    let mut rate = RateWindow::default();
    let base = shared.imaging.live.lock().ok().and_then(|m| m.get(id).cloned()).unwrap_or_default();
    let mut task = task;
    loop {
        tokio::select! {
            r = &mut task => return r.map_err(|e| WireError::internal(format!("hashing failed: {e}")))?,
            _ = tokio::time::sleep(POLL) => {
                let d = done.load(Ordering::Relaxed);
                rate.push(started.elapsed().as_secs_f64(), d);
                let mut p = base.clone();
                p.phase = Some(phase);
                p.percent = if size == 0 { 100.0 } else { d as f64 * 100.0 / size as f64 };
                p.rate_bps = rate.rate_bps();
                p.eta_seconds = rate.eta_secs(size.saturating_sub(d));
                shared.imaging.set_live(id, p);
            }
        }
    }
}

async fn eject(shared: &Daemon, dev: &DevicePath) {
    match shared.helper.connect().await {
        Ok(h) => {
            if let Err(e) = h.perform(HelperOp::DeviceEject { device: dev.clone() }, false).await {
                tracing::warn!(device = %dev, error = %e.message, "eject failed");
            }
        }
        Err(e) => tracing::warn!(device = %dev, error = %e.message, "eject failed"),
    }
}

fn write_sidecar(image: &Path, algo: &str, hex: &str) -> Result<(), WireError> {
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let side = image.with_file_name(format!("{name}.{algo}"));
    let tmp = image.with_file_name(format!(".{name}.{algo}.tmp"));
    let text = format!("{hex}  {name}\n");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &side))
        .map_err(|e| job_error(ErrorCode::Internal, format!("writing {}: {e}", side.display())))
}

async fn hash_and_archive(
    shared: &Arc<Daemon>,
    id: &str,
    dev: &DevicePath,
    facts: &MediumFacts,
    image: &Path,
    bad: u64,
) -> Result<(), WireError> {
    let row = update(shared, id, |r| r.status = JobState::Hashing)?;
    let opts = row.options.clone();
    if opts.eject && !opts.verify {
        release(shared, dev).await;
        eject(shared, dev).await;
    }
    // ddrescue may leave the image longer than the domain only if it existed before; the
    // image is exactly the domain.
    let sums =
        hash_with_progress(shared, id, image.to_path_buf(), facts.domain, Some(facts.domain), opts.md5, Phase::Hashing)
            .await?;
    let mut verify_note = None;
    if opts.verify {
        let src = hash_with_progress(
            shared,
            id,
            PathBuf::from(format!("/dev/{}", dev_name(dev))),
            facts.domain,
            Some(facts.domain),
            false,
            Phase::Verifying,
        )
        .await;
        verify_note = Some(match src {
            Ok(s) if s.sha256 == sums.sha256 => ("ok", "the source read again matches the image".to_owned()),
            Ok(s) => ("mismatch", format!("source SHA-256 {} differs from the image's", s.sha256)),
            Err(e) => ("failed", e.message),
        });
    }
    // Otherwise the drive was released (and ejected) when hashing started.
    if !opts.eject || opts.verify {
        release(shared, dev).await;
        if opts.eject {
            eject(shared, dev).await;
        }
    }
    write_sidecar(image, "sha256", &sums.sha256)?;
    if let Some(m) = &sums.md5 {
        write_sidecar(image, "md5", m)?;
    }
    let filename = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = image.display().to_string();
    let archive_id = shared.with_state(|s| {
        let row = store::job(s.conn(), id)?
            .ok_or_else(|| crate::state::StateError::InvalidRecord { detail: format!("job {id} vanished") })?;
        let aid = store::insert_archive(
            s.conn(),
            &store::NewArchive {
                job: &row,
                filename: &filename,
                path: &path,
                size: facts.domain,
                checksums: &sums,
                bad_bytes: bad,
            },
        )?;
        // A retry replaces the entry the earlier pass filed for the same image.
        if let Some(old) = &row.archive_id {
            store::supersede_archive(s.conn(), old, &aid)?;
        }
        if let Some((result, detail)) = &verify_note {
            store::add_verification(s.conn(), &aid, result, detail)?;
        }
        Ok(aid)
    })?;
    let mismatch = verify_note.as_ref().is_some_and(|(r, _)| *r != "ok");
    let row = update(shared, id, |r| {
        r.archive_id = Some(archive_id.clone());
        r.finished_at = now();
        r.status = if bad > 0 || mismatch { JobState::CompletedWithErrors } else { JobState::Completed };
        r.progress.phase = Some(Phase::Finished);
        if mismatch {
            r.error = verify_note.as_ref().map(|(_, d)| d.clone());
        } else if bad > 0 {
            r.error = Some(format!("{bad} bytes could not be read; `image retry {id}` tries them again"));
        }
    })?;
    audit_job(shared, "image.job.finished", &row);
    Ok(())
}

fn dev_name(dev: &DevicePath) -> String {
    match dev.kernel_name() {
        Some(n) => n.to_owned(),
        None => std::fs::canonicalize(dev.as_str())
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    }
}

async fn run_verify(shared: &Arc<Daemon>, row: store::JobRow) -> Result<(), WireError> {
    let id = row.id.clone();
    let aid = row.target_archive.clone().ok_or_else(|| WireError::internal("a verify job without an archive"))?;
    let a = shared
        .with_state(|s| store::archive(s.conn(), &aid))?
        .ok_or_else(|| WireError::not_found(format!("archive entry {aid} no longer exists")))?;
    let path = PathBuf::from(&a.path);
    let r =
        hash_with_progress(shared, &id, path, a.size_bytes, None, a.checksums.md5.is_some(), Phase::Verifying).await;
    let (result, detail) = match &r {
        Ok(s) if s.sha256 == a.checksums.sha256 && s.md5 == a.checksums.md5 => ("ok", "checksums match".to_owned()),
        Ok(s) => ("mismatch", format!("SHA-256 now {} (stored {})", s.sha256, a.checksums.sha256)),
        Err(e) => ("failed", e.message.clone()),
    };
    shared.with_state(|s| store::add_verification(s.conn(), &aid, result, &detail))?;
    let row = update(shared, &id, |r| {
        r.finished_at = now();
        r.archive_id = Some(aid.clone());
        r.progress.percent = 100.0;
        r.progress.phase = Some(Phase::Finished);
        if result == "ok" {
            r.status = JobState::Completed;
        } else {
            r.status = JobState::Failed;
            r.error = Some(detail.clone());
            r.error_code = Some(if result == "mismatch" {
                "E_CHECKSUM_MISMATCH".into()
            } else {
                ErrorCode::ToolFailed.as_str().into()
            });
        }
    })?;
    audit_job(shared, "archive.verify.finished", &row);
    Ok(())
}
