//! The resources of the specification (seed 001, "REST API"): jobs, archives, devices, system
//! status and configuration, logs, in the shapes it gives, mapped onto corenasd's calls. Fields
//! CoreNAS knows beyond the specification's are added, never renamed.

use super::{body, created, csrf, reply};
use crate::app::AppState;
use crate::http::{Caller, api_error};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveQuery, ArchiveSort, DeviceInfo, ImageCreate, JobInfo, JobOptions, JobQuery,
    JobSort, JobState, LIST_MAX, Priority, RetryPasses,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A job as the specification lists it: `progress` is the percentage, `speed_bps` and
/// `eta_seconds` are top-level; the full progress counters are in `detail`.
#[derive(Debug, Serialize)]
pub struct ApiJob {
    id: String,
    name: String,
    kind: corenas_proto::imaging::JobKind,
    status: JobState,
    progress: f64,
    created_at: String,
    updated_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    device: Option<String>,
    output_file: Option<String>,
    size_bytes: u64,
    speed_bps: Option<u64>,
    eta_seconds: Option<u64>,
    priority: Priority,
    position: Option<u32>,
    archive_id: Option<String>,
    error: Option<String>,
    error_code: Option<String>,
    medium: Option<corenas_proto::imaging::Medium>,
    options: JobOptions,
    detail: corenas_proto::imaging::Progress,
}

impl From<JobInfo> for ApiJob {
    fn from(j: JobInfo) -> Self {
        ApiJob {
            progress: (j.progress.percent * 10.0).round() / 10.0,
            size_bytes: j.progress.domain_bytes,
            speed_bps: j.progress.rate_bps,
            eta_seconds: j.progress.eta_seconds,
            id: j.id,
            name: j.name,
            kind: j.kind,
            status: j.status,
            created_at: j.created_at,
            updated_at: j.updated_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            device: j.device,
            output_file: j.output_file,
            priority: j.priority,
            position: j.position,
            archive_id: j.archive_id,
            error: j.error,
            error_code: j.error_code,
            medium: j.medium,
            options: j.options,
            detail: j.progress,
        }
    }
}

#[derive(Debug, Serialize)]
struct Page<T> {
    #[serde(flatten)]
    items: T,
    total: u64,
    limit: u32,
    offset: u32,
}

#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
    sort: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn limit_of(limit: Option<u32>) -> Result<u32, WireError> {
    match limit.unwrap_or(50) {
        l @ 1..=LIST_MAX => Ok(l),
        _ => Err(WireError::invalid("limit", format!("limit is invalid: use 1-{LIST_MAX}"))),
    }
}

fn job_query(q: &JobsQuery) -> Result<JobQuery, WireError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            WireError::invalid("status", format!("status is invalid: use one of {}", names.join(", ")))
        })?),
    };
    let sort = match q.sort.as_deref() {
        None | Some("") | Some("created") => JobSort::Created,
        Some("updated") => JobSort::Updated,
        Some("name") => JobSort::Name,
        Some(_) => return Err(WireError::invalid("sort", "sort is invalid: use created, updated or name")),
    };
    Ok(JobQuery { status, sort, limit: limit_of(q.limit)?, offset: q.offset.unwrap_or(0) })
}

pub async fn jobs(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<JobsQuery>) -> Response {
    let r = match job_query(&q) {
        Ok(query) => crate::daemon!(app.gate, &caller.cred, ImageList { query }),
        Err(e) => Err(e),
    };
    reply(r.map(|l| Page {
        items: serde_json::json!({ "jobs": l.jobs.into_iter().map(ApiJob::from).collect::<Vec<_>>() }),
        total: l.total,
        limit: l.limit,
        offset: l.offset,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewJobOptions {
    /// Retry passes over bad areas (0-5).
    #[serde(default)]
    read_attempts: Option<u8>,
    #[serde(default)]
    verify: bool,
    /// SHA-256 is always computed; "md5" adds MD5.
    #[serde(default)]
    checksums: Vec<String>,
    #[serde(default)]
    priority: Option<Priority>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewJob {
    name: String,
    device: String,
    #[serde(default)]
    options: Option<NewJobOptions>,
}

fn image_create(j: NewJob) -> Result<ImageCreate, WireError> {
    let mut options = JobOptions::default();
    if let Some(o) = j.options {
        if let Some(n) = o.read_attempts {
            options.retries = RetryPasses::try_from(i64::from(n))
                .map_err(|e| WireError::invalid("options.read_attempts", e.message))?;
        }
        options.verify = o.verify;
        for c in &o.checksums {
            match c.as_str() {
                "sha256" => {}
                "md5" => options.md5 = true,
                _ => {
                    return Err(WireError::invalid(
                        "options.checksums",
                        "checksums are invalid: use md5 and/or sha256",
                    ));
                }
            }
        }
        options.priority = o.priority.unwrap_or_default();
    }
    Ok(ImageCreate { name: j.name.parse()?, device: j.device.parse()?, options })
}

pub async fn job_create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let req = csrf(&caller, &headers).and_then(|()| body::<NewJob>(&raw)).and_then(image_create);
    let r = match req {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, ImageCreate { req, dry_run: false }),
        Err(e) => Err(e),
    };
    created(r.and_then(|c| c.result.ok_or_else(|| WireError::internal("no job in the answer"))).map(
        |j| serde_json::json!({ "id": j.id, "status": j.status, "created_at": j.created_at, "position": j.position }),
    ))
}

pub async fn job(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, ImageShow { id }).map(ApiJob::from))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobPatch {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    priority: Option<Priority>,
}

pub async fn job_patch(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Response {
    let patch = match csrf(&caller, &headers).and_then(|()| body::<JobPatch>(&raw)) {
        Ok(p) => p,
        Err(e) => return api_error(&e),
    };
    let cred = &caller.cred;
    let mut answer = None;
    if let Some(priority) = patch.priority {
        match crate::daemon!(app.gate, cred, ImagePriority { id: id.clone(), priority, dry_run: false }) {
            Ok(c) => answer = c.result,
            Err(e) => return api_error(&e),
        }
    }
    let r = match patch.action.as_deref() {
        None if answer.is_some() => Ok(answer),
        None => Err(WireError::invalid("action", "give an action (pause, resume, cancel, retry) or a priority")),
        Some("pause") => crate::daemon!(app.gate, cred, ImagePause { id, dry_run: false }).map(|c| c.result),
        Some("resume") => crate::daemon!(app.gate, cred, ImageResume { id, dry_run: false }).map(|c| c.result),
        Some("cancel") => {
            crate::daemon!(app.gate, cred, ImageCancel { id, delete_partial: None, dry_run: false }).map(|c| c.result)
        }
        Some("retry") => crate::daemon!(app.gate, cred, ImageRetry { id, dry_run: false }).map(|c| c.result),
        Some(_) => Err(WireError::invalid("action", "action is invalid: use pause, resume, cancel or retry")),
    };
    reply(r.map(|j| j.map(ApiJob::from)))
}

/// Cancels the job and removes what it wrote so far.
pub async fn job_delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = csrf(&caller, &headers) {
        return api_error(&e);
    }
    let r = crate::daemon!(app.gate, &caller.cred, ImageCancel { id, delete_partial: Some(true), dry_run: false });
    reply(r.map(|c| c.result.map(ApiJob::from)))
}

/// An archive entry in the specification's shape (`metadata` holds label, tags and notes).
#[derive(Debug, Serialize)]
pub struct ApiArchive {
    id: String,
    job_id: String,
    name: String,
    filename: String,
    path: String,
    size_bytes: u64,
    created_at: String,
    checksums: corenas_proto::imaging::Checksums,
    metadata: serde_json::Value,
    bad_bytes: u64,
    source: serde_json::Value,
    verifications: Vec<corenas_proto::imaging::Verification>,
}

impl From<ArchiveInfo> for ApiArchive {
    fn from(a: ArchiveInfo) -> Self {
        ApiArchive {
            metadata: serde_json::json!({ "label": a.label, "tags": a.tags, "notes": a.notes }),
            source: serde_json::json!({ "device": a.source_device, "model": a.source_model, "serial": a.source_serial }),
            id: a.id,
            job_id: a.job_id,
            name: a.name,
            filename: a.filename,
            path: a.path,
            size_bytes: a.size_bytes,
            created_at: a.created_at,
            checksums: a.checksums,
            bad_bytes: a.bad_bytes,
            verifications: a.verifications,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ArchivesQuery {
    pub search: Option<String>,
    pub tag: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

pub fn archive_query(q: &ArchivesQuery) -> Result<ArchiveQuery, WireError> {
    let opt = |s: &Option<String>| s.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(ArchiveQuery {
        search: opt(&q.search).map(|s| s.parse()).transpose()?,
        tag: opt(&q.tag).map(|s| s.parse()).transpose()?,
        sort: opt(&q.sort).map(|s| s.parse::<ArchiveSort>()).transpose()?.unwrap_or_default(),
        descending: match q.order.as_deref() {
            None | Some("") | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(WireError::invalid("order", "order is invalid: use asc or desc")),
        },
        limit: limit_of(q.limit)?,
        offset: q.offset.unwrap_or(0),
    })
}

pub async fn archives(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<ArchivesQuery>) -> Response {
    let r = match archive_query(&q) {
        Ok(query) => crate::daemon!(app.gate, &caller.cred, ArchiveList { query }),
        Err(e) => Err(e),
    };
    reply(r.map(|l| Page {
        items: serde_json::json!({ "archives": l.archives.into_iter().map(ApiArchive::from).collect::<Vec<_>>() }),
        total: l.total,
        limit: l.limit,
        offset: l.offset,
    }))
}

pub async fn archive(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, ArchiveShow { id }).map(ApiArchive::from))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataPatch {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    notes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchivePatch {
    metadata: MetadataPatch,
}

/// Tags are set as a whole (the difference to the current ones is sent); the label is the
/// disc's own and stays as read.
pub async fn archive_patch(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Response {
    let patch = match csrf(&caller, &headers).and_then(|()| body::<ArchivePatch>(&raw)) {
        Ok(p) => p.metadata,
        Err(e) => return api_error(&e),
    };
    let run = async {
        if patch.label.is_some() {
            return Err(WireError::invalid(
                "metadata.label",
                "the label is read from the medium and cannot be changed; use notes or tags",
            ));
        }
        let current = crate::daemon!(app.gate, &caller.cred, ArchiveShow { id: id.clone() })?;
        let mut edit = ArchiveEdit { add_tags: vec![], remove_tags: vec![], notes: None };
        if let Some(tags) = &patch.tags {
            for t in tags {
                if !current.tags.contains(t) {
                    edit.add_tags.push(t.parse()?);
                }
            }
            for t in &current.tags {
                if !tags.contains(t) {
                    edit.remove_tags.push(t.parse()?);
                }
            }
        }
        if let Some(n) = &patch.notes {
            edit.notes = Some(n.parse()?);
        }
        let c = crate::daemon!(app.gate, &caller.cred, ArchiveEdit { id, edit, dry_run: false })?;
        c.result.map(ApiArchive::from).ok_or_else(|| WireError::internal("no archive in the answer"))
    };
    reply(run.await)
}

pub async fn archive_verify(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = match csrf(&caller, &headers) {
        Ok(()) => crate::daemon!(app.gate, &caller.cred, ArchiveVerify { id, dry_run: false }),
        Err(e) => Err(e),
    };
    created(r.map(|c| c.result.map(ApiJob::from)))
}

pub async fn archive_delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = match csrf(&caller, &headers) {
        Ok(()) => crate::daemon!(app.gate, &caller.cred, ArchiveDelete { id: id.clone(), dry_run: false }),
        Err(e) => Err(e),
    };
    reply(r.map(|_| serde_json::json!({ "deleted": id })))
}

/// A drive as the specification lists it.
#[derive(Debug, Serialize)]
pub struct ApiDevice {
    path: String,
    vendor: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    /// "idle", "imaging" (a job uses it) or "busy" (mounted, held, the system disk).
    status: &'static str,
    has_media: bool,
    media_type: Option<String>,
    media_size_bytes: Option<u64>,
    kind: String,
    label: Option<String>,
    in_use: Vec<String>,
    job: Option<String>,
}

impl From<DeviceInfo> for ApiDevice {
    fn from(d: DeviceInfo) -> Self {
        let status = if d.job.is_some() {
            "imaging"
        } else if !d.in_use.is_empty() {
            "busy"
        } else {
            "idle"
        };
        ApiDevice {
            status,
            has_media: d.has_media,
            media_type: d.medium.as_ref().map(|m| m.format.clone()),
            media_size_bytes: d.medium.as_ref().map(|m| m.size_bytes).or(d.has_media.then_some(d.size_bytes)),
            label: d.medium.as_ref().and_then(|m| m.label.clone()),
            vendor: None,
            path: d.path,
            model: d.model,
            serial: d.serial,
            kind: d.kind,
            in_use: d.in_use,
            job: d.job,
        }
    }
}

pub async fn devices(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(
        crate::daemon!(app.gate, &caller.cred, DeviceList {})
            .map(|l| serde_json::json!({ "devices": l.into_iter().map(ApiDevice::from).collect::<Vec<_>>() })),
    )
}

/// `{device}` is the kernel name (`sr0`), as in the specification's `/devices/{device}/eject`.
pub async fn device_eject(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> Response {
    let run = async {
        csrf(&caller, &headers)?;
        let device = format!("/dev/{device}").parse()?;
        crate::daemon!(app.gate, &caller.cred, DeviceEject { device, dry_run: false })
    };
    reply(run.await.map(|_| serde_json::json!({ "ejected": true })))
}

/// Memory used and total, in bytes: `/proc/meminfo` where it is readable (MemAvailable counts
/// reclaimable cache as free), else sysinfo(2), which needs no /proc: the shipped unit's
/// `ProcSubset=pid` hides /proc/meminfo.
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    if let (Some(total), Some(available)) = (kib("MemTotal:"), kib("MemAvailable:")) {
        return (total.saturating_sub(available), total);
    }
    let info = rustix::system::sysinfo();
    let unit = u64::from(info.mem_unit.max(1));
    let total = info.totalram * unit;
    (total.saturating_sub((info.freeram + info.bufferram) * unit), total)
}

pub async fn system_status(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let run = async {
        let s = crate::daemon!(app.gate, &caller.cred, SystemStatus {})?;
        let pools = crate::daemon!(app.gate, &caller.cred, PoolList {}).unwrap_or_default();
        let degraded = pools.iter().any(|p| p.health != "online");
        let helper = match &s.helper {
            Ok(_) => "running",
            // Socket activation: a helper that idled out starts on the next call.
            Err(e) if e.code == corenas_proto::ErrorCode::HelperUnavailable => "unavailable",
            Err(_) => "error",
        };
        let (used, total) = memory();
        let info = rustix::system::sysinfo();
        // The kernel's load averages are fixed point with 16 fractional bits.
        let load = |i: usize| (info.loads[i] as f64 / 65536.0 * 100.0).round() / 100.0;
        let storage_total: u64 = pools.iter().filter_map(|p| p.size_bytes).sum();
        let storage_used: u64 = pools.iter().filter_map(|p| p.used_bytes).sum();
        Ok(serde_json::json!({
            "status": if helper == "error" || degraded { "degraded" } else { "healthy" },
            "version": s.version,
            "uptime_seconds": info.uptime.max(0),
            "resources": {
                "memory_used_bytes": used, "memory_total_bytes": total,
                "storage_used_bytes": storage_used, "storage_total_bytes": storage_total,
                "load_average": [load(0), load(1), load(2)], "cpus": std::thread::available_parallelism().map_or(1, usize::from),
            },
            "services": { "corenasd": "running", "corenas-helper": helper, "corenas-web": "running" },
            "audit": { "entries": s.audit_entries, "head": s.audit_head },
            "protocol": s.protocol,
        }))
    };
    reply(run.await)
}

/// The imaging policy: start a job when a medium arrives, and which drives to watch.
pub async fn system_config(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(
        crate::daemon!(app.gate, &caller.cred, ImagingPolicy { set: None, dry_run: true })
            .and_then(|c| c.result.ok_or_else(|| WireError::internal("no policy in the answer"))),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    auto_start: bool,
    #[serde(default)]
    watch: Vec<String>,
}

pub async fn system_config_patch(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let run = async {
        csrf(&caller, &headers)?;
        let p: ConfigPatch = body(&raw)?;
        let watch = p.watch.iter().map(|d| d.parse()).collect::<Result<Vec<_>, _>>()?;
        let c =
            crate::daemon!(app.gate, &caller.cred, ImagingPolicy { set: Some((p.auto_start, watch)), dry_run: false })?;
        c.result.ok_or_else(|| WireError::internal("no policy in the answer"))
    };
    reply(run.await)
}

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    level: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
    action: Option<String>,
    principal: Option<String>,
    result: Option<String>,
}

/// The audit log's result as a log level: failures are errors, refusals warnings.
fn level_of(result: &str) -> &'static str {
    match result {
        "failed" => "error",
        "refused" => "warning",
        "dry-run" => "debug",
        _ => "info",
    }
}

const LEVELS: [&str; 4] = ["debug", "info", "warning", "error"];

/// An RFC 3339 time with any offset as the audit filter's UTC bound (`YYYY-MM-DDTHH:MM:SS`).
fn utc_bound(field: &'static str, v: Option<&str>) -> Result<Option<String>, WireError> {
    let Some(v) = v.filter(|v| !v.is_empty()) else { return Ok(None) };
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(|_| {
        WireError::invalid(field, format!("{field} is invalid: use an RFC 3339 time such as 2026-12-04T10:00:00Z"))
    })?;
    let t = t.to_offset(time::UtcOffset::UTC);
    Ok(Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )))
}

/// The audit log, newest first, filtered by level (at least), time, action prefix, principal
/// and result.
pub async fn logs(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<LogsQuery>) -> Response {
    let run = async {
        let limit = q.limit.unwrap_or(100);
        if limit == 0 || limit > corenas_proto::api::AUDIT_PAGE_MAX {
            return Err(WireError::invalid(
                "limit",
                format!("limit is invalid: use 1-{}", corenas_proto::api::AUDIT_PAGE_MAX),
            ));
        }
        let min_level = match q.level.as_deref() {
            None | Some("") => 0,
            Some(l) => LEVELS
                .iter()
                .position(|x| *x == l)
                .ok_or_else(|| WireError::invalid("level", "level is invalid: use debug, info, warning or error"))?,
        };
        let since = utc_bound("since", q.since.as_deref())?;
        let until = utc_bound("until", q.until.as_deref())?;
        let mut filter = corenas_proto::api::AuditFilter {
            action: q.action.clone().filter(|a| !a.is_empty()),
            principal: q.principal.clone().filter(|p| !p.is_empty()),
            results: q.result.iter().filter(|r| !r.is_empty()).cloned().collect(),
            since,
            until,
            mentions: None,
        };
        filter.validate()?;
        // A level means "at least": only results whose level is that or higher.
        let at_level = |r: &str| LEVELS.iter().position(|x| *x == level_of(r)).unwrap_or(0) >= min_level;
        if filter.results.is_empty() {
            filter.results =
                corenas_proto::api::AUDIT_RESULTS.iter().filter(|r| at_level(r)).map(|r| (*r).to_owned()).collect();
        } else {
            filter.results.retain(|r| at_level(r));
            if filter.results.is_empty() {
                return Ok(serde_json::json!({ "logs": [] }));
            }
        }
        let entries =
            crate::daemon!(app.gate, &caller.cred, LogSearch { filter, before: q.before, after: None, limit })?;
        let out: Vec<serde_json::Value> = entries
            .into_iter()
            .map(|e| {
                let mut v = serde_json::to_value(&e).unwrap_or_default();
                v["level"] = serde_json::Value::from(level_of(&e.result));
                v
            })
            .collect();
        Ok(serde_json::json!({ "logs": out }))
    };
    reply(run.await)
}
