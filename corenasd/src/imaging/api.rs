//! The imaging methods of the daemon API. The method table and `rpc/` authorize and audit; this
//! decides what a request may do to a job in its current state.

use super::ddrescue::Run;
use super::engine::{medium_facts, update};
use super::{media, store};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::helper::{HelperOp, StdinPlan, Step};
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, ImageCreate, ImagingPolicy, JobInfo, JobKind, JobList,
    JobOptions, JobQuery, JobState, LIST_MAX, Priority,
};
use corenas_proto::names::DevicePath;
use corenas_proto::web::Role;
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const MAX_TAGS: usize = 16;

fn invalid_state(id: &str, status: JobState, what: &str) -> WireError {
    WireError::new(ErrorCode::InvalidState, format!("job {id} is {}: {what}", status.as_str()))
}

fn load(shared: &Daemon, id: &str) -> Result<store::JobRow, WireError> {
    shared.with_state(|s| store::job(s.conn(), id))?.ok_or_else(|| WireError::not_found(format!("no job {id}")))
}

fn position(shared: &Daemon, id: &str) -> Result<Option<u32>, WireError> {
    let q = shared.with_state(|s| store::queued(s.conn()))?;
    Ok(q.iter().position(|r| r.id == id).and_then(|p| u32::try_from(p + 1).ok()))
}

pub fn info(shared: &Daemon, row: &store::JobRow) -> Result<JobInfo, WireError> {
    let pos = if row.status == JobState::Queued { position(shared, &row.id)? } else { None };
    Ok(shared.imaging.info(row, pos))
}

pub fn show(shared: &Daemon, id: &str) -> Result<JobInfo, WireError> {
    info(shared, &load(shared, id)?)
}

pub fn list(shared: &Daemon, q: &JobQuery) -> Result<JobList, WireError> {
    let limit = q.limit.clamp(1, LIST_MAX);
    let q = JobQuery { limit, ..q.clone() };
    let (rows, total) = shared.with_state(|s| store::list_jobs(s.conn(), &q))?;
    let queue = shared.with_state(|s| store::queued(s.conn()))?;
    let jobs = rows
        .iter()
        .map(|r| {
            let pos = queue.iter().position(|x| x.id == r.id).and_then(|p| u32::try_from(p + 1).ok());
            shared.imaging.info(r, pos)
        })
        .collect();
    Ok(JobList { jobs, total, limit, offset: q.offset })
}

/// Long poll for a change of the job.
pub async fn wait(shared: &Daemon, id: &str, after: u64, wait_ms: u32) -> Result<JobInfo, WireError> {
    let mut rx = shared.imaging.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(wait_ms.min(5000)));
    loop {
        let row = load(shared, id)?;
        if shared.imaging.version(id) > after || row.status.is_terminal() && after == 0 {
            return info(shared, &row);
        }
        if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            return info(shared, &row);
        }
    }
}

fn validate_options(o: &JobOptions) -> Result<(), WireError> {
    if o.max_rate == Some(0) {
        return Err(WireError::invalid("max_rate", "max_rate must be at least 1 byte/s, or absent for no cap"));
    }
    Ok(())
}

/// Whether the device is a fixed disk that `role` may image: `Ok(false)` for media (optical,
/// removable, lab loop devices), `Ok(true)` for a fixed disk and an admin, refused for a fixed
/// disk and anyone else. The helper decides what a fixed disk is (it reads sysfs as root) in a
/// dry run of the grant, which grants nothing.
async fn fixed_disk_for(
    h: &crate::helper_link::HelperConn,
    device: &DevicePath,
    role: Role,
) -> Result<bool, WireError> {
    let media_only = h.perform(HelperOp::DeviceGrantRead { device: device.clone(), fixed_disk: false }, true).await;
    fixed_disk_decision(media_only.map(|_| ()), device, role)
}

/// The rule behind [`fixed_disk_for`], given the helper's answer to a media-only grant.
fn fixed_disk_decision(media_only: Result<(), WireError>, device: &DevicePath, role: Role) -> Result<bool, WireError> {
    match media_only {
        Ok(()) => Ok(false),
        Err(e) if e.field.as_deref() == Some("fixed_disk") => {
            if role == Role::Admin {
                Ok(true)
            } else {
                Err(WireError {
                    field: Some("device".into()),
                    ..WireError::not_allowed(format!(
                        "device {device} is a fixed disk: only an admin may image it (operators image optical \
                         drives and removable media)"
                    ))
                })
            }
        }
        Err(e) => Err(e),
    }
}

pub async fn create(
    shared: &Arc<Daemon>,
    req: &ImageCreate,
    role: Role,
    dry_run: bool,
) -> Result<Change<JobInfo>, WireError> {
    validate_options(&req.options)?;
    let h = shared.helper.connect().await?;
    // The helper checks the device now, so an obvious refusal (system disk, mounted, not a
    // disk) is immediate; it checks again when the job starts.
    let probe = h.device_probe(req.device.clone()).await?;
    if !probe.in_use.is_empty() {
        return Err(WireError::new(
            ErrorCode::Busy,
            format!("device {} is in use: {}", req.device, probe.in_use.join("; ")),
        ));
    }
    let fixed_disk = fixed_disk_for(&h, &req.device, role).await?;
    if dry_run {
        let op = HelperOp::DeviceGrantRead { device: req.device.clone(), fixed_disk };
        let mut steps = h.perform(op, true).await?.steps;
        let facts = medium_facts(&probe);
        let dir = shared.imaging.job_dir("<job>");
        let run = Run {
            device: PathBuf::from(&probe.path),
            image: dir.join(if facts.iso { "<job>.iso" } else { "<job>.img" }),
            mapfile: dir.join("<job>.map"),
            sector_size: facts.sector_size,
            domain: facts.domain,
            retry_passes: req.options.retries.get(),
            direct: false,
            max_rate: req.options.max_rate,
        };
        steps.push(Step::Exec {
            program: shared.imaging.ddrescue.display().to_string(),
            args: run.argv(),
            stdin: StdinPlan::Nothing,
        });
        return Ok(Change::planned(true, steps, None));
    }
    let row = shared.with_state(|s| {
        let (name, device) = (req.name.as_str(), Some(req.device.as_str()));
        store::insert_job(s.conn(), JobKind::Image, name, device, &req.options, None, fixed_disk)
    })?;
    shared.imaging.bump(&row.id);
    shared.imaging.kick();
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

/// Waits (briefly) for a running job to leave `from` after a pause or cancel request.
async fn settle(shared: &Daemon, id: &str, from: JobState) -> Result<JobInfo, WireError> {
    let mut rx = shared.imaging.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = load(shared, id)?;
        if row.status != from && !shared.imaging.is_active(id) {
            return info(shared, &row);
        }
        if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            return info(shared, &row);
        }
    }
}

pub async fn pause(shared: &Arc<Daemon>, id: &str, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
    let row = load(shared, id)?;
    match row.status {
        JobState::Queued | JobState::Running if dry_run => {
            Ok(Change::planned(true, Vec::new(), Some(info(shared, &row)?)))
        }
        JobState::Queued => {
            let row = update(shared, id, |r| r.status = JobState::Paused)?;
            Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
        }
        JobState::Running if shared.imaging.request_pause(id) => {
            Ok(Change::planned(false, Vec::new(), Some(settle(shared, id, JobState::Running).await?)))
        }
        s => Err(invalid_state(id, s, "only queued or running jobs can be paused")),
    }
}

pub async fn resume(shared: &Arc<Daemon>, id: &str, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
    let row = load(shared, id)?;
    let resumable = row.status == JobState::Paused
        || row.status == JobState::Failed
            && row.kind == JobKind::Image
            && row.error_code.as_deref() != Some("E_INVALID_INPUT");
    if !resumable {
        return Err(invalid_state(id, row.status, "only paused (or failed) imaging jobs can be resumed"));
    }
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), Some(info(shared, &row)?)));
    }
    let row = update(shared, id, |r| {
        r.status = JobState::Queued;
        r.finished_at = None;
    })?;
    shared.imaging.kick();
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

pub async fn cancel(
    shared: &Arc<Daemon>,
    id: &str,
    delete_partial: Option<bool>,
    dry_run: bool,
) -> Result<Change<JobInfo>, WireError> {
    let row = load(shared, id)?;
    let delete = delete_partial.unwrap_or(!row.options.keep_partial_on_cancel);
    if row.status.is_terminal() {
        return Err(invalid_state(id, row.status, "it has already ended"));
    }
    if row.status == JobState::Hashing {
        return Err(invalid_state(
            id,
            row.status,
            "the image is complete and being hashed; delete it from the archive afterwards",
        ));
    }
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), Some(info(shared, &row)?)));
    }
    if row.status == JobState::Running && shared.imaging.request_cancel(id, delete) {
        return Ok(Change::planned(false, Vec::new(), Some(settle(shared, id, JobState::Running).await?)));
    }
    if delete && row.kind == JobKind::Image {
        let _ = std::fs::remove_dir_all(shared.imaging.job_dir(id));
    }
    let row = update(shared, id, |r| {
        r.status = JobState::Cancelled;
        r.finished_at = crate::state::now_rfc3339().ok();
        if delete {
            r.output_file = None;
        }
    })?;
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

pub async fn retry(shared: &Arc<Daemon>, id: &str, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
    let row = load(shared, id)?;
    if row.kind != JobKind::Image || !matches!(row.status, JobState::CompletedWithErrors | JobState::Failed) {
        return Err(invalid_state(id, row.status, "only imaging jobs that ended with errors or failed can be retried"));
    }
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), Some(info(shared, &row)?)));
    }
    let with_errors = row.status == JobState::CompletedWithErrors;
    let row = update(shared, id, |r| {
        r.status = JobState::Queued;
        r.retry_direct = with_errors;
        r.finished_at = None;
    })?;
    shared.imaging.kick();
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

pub async fn set_priority(
    shared: &Arc<Daemon>,
    id: &str,
    priority: Priority,
    dry_run: bool,
) -> Result<Change<JobInfo>, WireError> {
    let row = load(shared, id)?;
    if !matches!(row.status, JobState::Queued | JobState::Paused) {
        return Err(invalid_state(id, row.status, "priority can be changed while a job waits (queued or paused)"));
    }
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), Some(info(shared, &row)?)));
    }
    let row = update(shared, id, |r| {
        r.priority = priority;
        r.options.priority = priority;
    })?;
    shared.imaging.kick();
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

pub fn policy(shared: &Daemon) -> Result<ImagingPolicy, WireError> {
    let (auto, watch) = shared.with_state(|s| {
        Ok((
            crate::state::setting(s.conn(), media::POLICY_AUTO_START)?,
            crate::state::setting(s.conn(), media::POLICY_WATCH)?,
        ))
    })?;
    Ok(ImagingPolicy {
        auto_start: auto.as_deref() == Some("true"),
        watch: watch.and_then(|w| serde_json::from_str(&w).ok()).unwrap_or_default(),
    })
}

pub fn set_policy(
    shared: &Daemon,
    set: Option<(bool, Vec<DevicePath>)>,
    dry_run: bool,
) -> Result<Change<ImagingPolicy>, WireError> {
    if let Some((auto, watch)) = set.filter(|_| !dry_run) {
        let watch: Vec<String> = watch.iter().map(|d| d.as_str().to_owned()).collect();
        shared.with_state(|s| {
            crate::state::set_setting(s.conn(), media::POLICY_AUTO_START, if auto { "true" } else { "false" })?;
            crate::state::set_setting(s.conn(), media::POLICY_WATCH, &serde_json::to_string(&watch).unwrap_or_default())
        })?;
    }
    Ok(Change::planned(dry_run, Vec::new(), Some(policy(shared)?)))
}

fn load_archive(shared: &Daemon, id: &str) -> Result<ArchiveInfo, WireError> {
    shared
        .with_state(|s| store::archive(s.conn(), id))?
        .ok_or_else(|| WireError::not_found(format!("no archive entry {id}")))
}

pub fn archive_show(shared: &Daemon, id: &str) -> Result<ArchiveInfo, WireError> {
    load_archive(shared, id)
}

/// A piece of an archived image for a download. The path comes from corenasd's own archive
/// record (under the image directory), never from the caller.
pub fn read_image(info: &ArchiveInfo, offset: u64, length: u32) -> Result<Vec<u8>, WireError> {
    use std::os::unix::fs::FileExt;
    if length > corenas_proto::api::ARCHIVE_READ_MAX {
        return Err(WireError::invalid(
            "length",
            format!("read at most {} bytes at a time", corenas_proto::api::ARCHIVE_READ_MAX),
        ));
    }
    let file = std::fs::File::open(&info.path)
        .map_err(|e| WireError::not_found(format!("the image of archive {} cannot be opened: {e}", info.id)))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let want = usize::try_from(u64::from(length).min(size.saturating_sub(offset))).unwrap_or(0);
    let mut buf = vec![0u8; want];
    let mut done = 0;
    while done < want {
        let n = file
            .read_at(&mut buf[done..], offset + done as u64)
            .map_err(|e| WireError::internal(format!("reading the image of archive {}: {e}", info.id)))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    Ok(buf)
}

pub fn archive_list(shared: &Daemon, q: &ArchiveQuery) -> Result<ArchiveList, WireError> {
    let limit = q.limit.clamp(1, LIST_MAX);
    let q = ArchiveQuery { limit, ..q.clone() };
    let (archives, total) = shared.with_state(|s| store::list_archives(s.conn(), &q))?;
    Ok(ArchiveList { archives, total, limit, offset: q.offset })
}

pub fn archive_verify(shared: &Daemon, id: &str, dry_run: bool) -> Result<Change<JobInfo>, WireError> {
    let a = load_archive(shared, id)?;
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), None));
    }
    let opts = JobOptions { md5: a.checksums.md5.is_some(), ..JobOptions::default() };
    let row = shared
        .with_state(|s| store::insert_job(s.conn(), JobKind::Verify, &a.name, None, &opts, Some(&a.id), false))?;
    shared.imaging.bump(&row.id);
    shared.imaging.kick();
    Ok(Change::planned(false, Vec::new(), Some(info(shared, &row)?)))
}

pub fn archive_delete(shared: &Daemon, id: &str, dry_run: bool) -> Result<Change<()>, WireError> {
    let a = load_archive(shared, id)?;
    let busy = shared.with_state(|s| {
        store::with_status(s.conn(), &[JobState::Queued, JobState::Running, JobState::Hashing, JobState::Paused])
    })?;
    if let Some(j) = busy.iter().find(|j| j.target_archive.as_deref() == Some(id) || j.id == a.job_id) {
        return Err(WireError::new(ErrorCode::Busy, format!("archive entry {id} is in use by job {}", j.id)));
    }
    if dry_run {
        return Ok(Change::planned(true, Vec::new(), None));
    }
    // The job directory (image, mapfile, sidecars) is server-generated from the job id.
    let dir = shared.imaging.job_dir(&a.job_id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(WireError::new(ErrorCode::ToolFailed, format!("deleting {}: {e}", dir.display())));
        }
    }
    shared.with_state(|s| store::delete_archive(s.conn(), id))?;
    Ok(Change::planned(false, Vec::new(), None))
}

pub fn archive_edit(
    shared: &Daemon,
    id: &str,
    edit: &ArchiveEdit,
    dry_run: bool,
) -> Result<Change<ArchiveInfo>, WireError> {
    let mut a = load_archive(shared, id)?;
    for t in &edit.remove_tags {
        a.tags.retain(|x| x != t.as_str());
    }
    for t in &edit.add_tags {
        if !a.tags.iter().any(|x| x == t.as_str()) {
            a.tags.push(t.as_str().to_owned());
        }
    }
    if a.tags.len() > MAX_TAGS {
        return Err(WireError::invalid("tag", format!("an archive entry has at most {MAX_TAGS} tags")));
    }
    if let Some(n) = &edit.notes {
        a.notes = n.as_str().to_owned();
    }
    if !dry_run {
        shared.with_state(|s| store::save_archive_meta(s.conn(), &a))?;
    }
    Ok(Change::planned(dry_run, Vec::new(), Some(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_disk_refusal() -> WireError {
        WireError { field: Some("fixed_disk".into()), ..WireError::not_allowed("device /dev/sdb is a fixed disk") }
    }

    fn dev(s: &str) -> DevicePath {
        s.parse().unwrap()
    }

    /// An operator images media; a fixed disk is refused with a message naming the admin role,
    /// and no job row is made (the caller returns before inserting).
    #[test]
    fn an_operator_cannot_image_a_fixed_disk() {
        for role in [Role::Operator, Role::Viewer] {
            let e = fixed_disk_decision(Err(fixed_disk_refusal()), &dev("/dev/sdb"), role).unwrap_err();
            assert_eq!(e.code, ErrorCode::NotAllowed);
            assert_eq!(e.field.as_deref(), Some("device"));
            assert!(e.message.contains("/dev/sdb") && e.message.contains("only an admin"), "{e:?}");
        }
        assert!(!fixed_disk_decision(Ok(()), &dev("/dev/sr0"), Role::Operator).unwrap(), "media need no approval");
    }

    /// An admin's job may read a fixed disk, and says so on the job (the engine's grant carries it);
    /// an admin's job on media does not carry it.
    #[test]
    fn an_admin_may_image_a_fixed_disk_and_the_job_records_it() {
        assert!(fixed_disk_decision(Err(fixed_disk_refusal()), &dev("/dev/sdb"), Role::Admin).unwrap());
        assert!(!fixed_disk_decision(Ok(()), &dev("/dev/sr0"), Role::Admin).unwrap());
    }

    /// Any other refusal (system disk, in use) stands, for an admin too.
    #[test]
    fn other_refusals_stand_for_an_admin() {
        let busy = WireError::new(ErrorCode::Busy, "device /dev/sdb is in use");
        let e = fixed_disk_decision(Err(busy), &dev("/dev/sdb"), Role::Admin).unwrap_err();
        assert_eq!(e.code, ErrorCode::Busy);
        let system = WireError::not_allowed("device /dev/vda2 is on the system disk");
        assert!(fixed_disk_decision(Err(system), &dev("/dev/vda2"), Role::Admin).is_err());
    }
}
