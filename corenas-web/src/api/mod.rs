//! The REST API (`/api/v1/...`): JSON for what the UI shows, errors as
//! `{"error": {"code", "message", "field"}}` with the stable codes, the event stream, image
//! downloads with HTTP Range, and the OpenAPI document built from the route table. The imaging
//! and system resources follow the shapes of the specification (`imaging.rs`).

pub mod alerts;
pub mod backups;
pub mod imaging;
pub mod metrics;

use crate::app::AppState;
use crate::http::{self, Caller, api_error};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use corenas_proto::api::{ARCHIVE_READ_MAX, UserAdd};
use corenas_proto::imaging::{JobState, LIST_MAX};
use corenas_proto::names::AccountKind;
use corenas_proto::web::Role;
use corenas_proto::{ErrorCode, WireError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339_of(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

pub fn reply<T: Serialize>(r: Result<T, WireError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(&e),
    }
}

pub fn created<T: Serialize>(r: Result<T, WireError>) -> Response {
    match r {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => api_error(&e),
    }
}

/// A JSON body, or a 4xx naming what was wrong with it (axum's own rejection is plain text).
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::invalid("body", format!("the request body is not valid: {e}")))
}

/// The UI's own scripts send the CSRF token in a header; API keys need none.
pub fn csrf(caller: &Caller, headers: &HeaderMap) -> Result<(), WireError> {
    http::require_csrf(caller, headers.get(http::CSRF_HEADER).and_then(|v| v.to_str().ok()))
}

#[derive(Debug, Serialize)]
struct Dashboard {
    user: String,
    role: Role,
    active_jobs: Vec<corenas_proto::imaging::JobInfo>,
    queued_jobs: u64,
    drives: Vec<corenas_proto::imaging::DeviceInfo>,
    pools: Vec<corenas_proto::storage::PoolInfo>,
}

pub async fn dashboard(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let run = async {
        let jobs =
            crate::daemon!(app.gate, &caller.cred, ImageList { query: crate::pages::dashboard::active_query() })?;
        let drives = crate::daemon!(app.gate, &caller.cred, DeviceList {})?;
        let pools = crate::daemon!(app.gate, &caller.cred, PoolList {})?;
        let queued = jobs.jobs.iter().filter(|j| j.status == JobState::Queued).count() as u64;
        Ok(Dashboard {
            user: caller.session.user.clone(),
            role: caller.session.role,
            active_jobs: jobs.jobs.into_iter().filter(|j| crate::pages::dashboard::is_active(j.status)).collect(),
            queued_jobs: queued,
            drives,
            pools,
        })
    };
    reply(run.await)
}

/// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` (one range), within `size`.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().ok()?, size - 1),
        (s, e) => (s.parse().ok()?, e.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

/// The image file, streamed from corenasd in pieces, with Range support and a file name made
/// by CoreNAS (never the disc's label).
pub async fn archive_download(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let info = match crate::daemon!(app.gate, &caller.cred, ArchiveShow { id: id.clone() }) {
        Ok(i) => i,
        Err(e) => return api_error(&e),
    };
    let size = info.size_bytes;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (start, end, status) = match range {
        None => (0, size.saturating_sub(1), StatusCode::OK),
        Some(r) => match parse_range(r, size) {
            Some((s, e)) => (s, e, StatusCode::PARTIAL_CONTENT),
            None => {
                let mut res =
                    api_error(&WireError::invalid("range", format!("the range is not satisfiable (size {size})")));
                *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                res.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{size}")).unwrap_or(HeaderValue::from_static("bytes */0")),
                );
                return res;
            }
        },
    };
    let length = if size == 0 { 0 } else { end - start + 1 };
    let cred = caller.cred.clone();
    let stream = futures::stream::unfold((start, length), move |(offset, left)| {
        let (app, cred, id) = (Arc::clone(&app), cred.clone(), id.clone());
        async move {
            if left == 0 {
                return None;
            }
            let want = u32::try_from(left.min(u64::from(ARCHIVE_READ_MAX))).unwrap_or(ARCHIVE_READ_MAX);
            match crate::daemon!(app.gate, &cred, ArchiveRead { id, offset, length: want }) {
                Ok(bytes) if !bytes.is_empty() => {
                    let n = bytes.len() as u64;
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(bytes)), (offset + n, left.saturating_sub(n))))
                }
                // The file got shorter, or corenasd failed mid-way: end the body short, so the
                // client sees an incomplete download rather than wrong bytes.
                Ok(_) => None,
                Err(e) => Some((Err(std::io::Error::other(e.message)), (offset, 0))),
            }
        }
    });
    let safe_name: String =
        info.filename.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&length.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    // RFC 6266: an ASCII fallback for old clients, and the name itself percent-encoded.
    let encoded = http::url_encode(&info.filename);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\"; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.checksums.sha256)) {
        h.insert(header::ETAG, v);
    }
    res
}

pub async fn users(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, UserList {}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    /// Absent: CoreNAS generates one and answers it once.
    #[serde(default)]
    password: Option<String>,
}

pub async fn user_create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let req = csrf(&caller, &headers).and_then(|()| body::<NewUser>(&raw)).and_then(|u| {
        let kind = match u.kind.as_deref() {
            None | Some("share") => AccountKind::ShareUser,
            Some("admin") => AccountKind::Admin,
            Some(_) => return Err(WireError::invalid("kind", "kind is invalid: use share or admin")),
        };
        let password = u.password.map(|p| p.parse()).transpose()?;
        Ok(UserAdd {
            name: u.name.parse()?,
            kind,
            uid: None,
            full_name: u.full_name.filter(|f| !f.is_empty()).map(|f| f.parse()).transpose()?,
            shell: None,
            create_home: kind == AccountKind::Admin,
            groups: vec![],
            generate_password: password.is_none(),
            password,
        })
    });
    let r = match req {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, UserAdd { req, dry_run: false }),
        Err(e) => Err(e),
    };
    // The generated password is redacted in every JSON rendering of its type; this answer is
    // the one place it is shown.
    created(r.map(|c| {
        serde_json::json!({ "user": c.result, "generated_password": c.generated_password.as_ref().map(|p| p.expose()) })
    }))
}

/// Every daemon method by name, as JSON: the body is `{"Method": {arguments}}` exactly as the
/// daemon API (`proto/src/api.rs`) declares it, e.g. `{"UserList": {}}` or
/// `{"PoolCreate": {"spec": {...}, "dry_run": true}}`; the answer is the method's result, or the
/// error with its stable code. The same role check and audit as every other path apply; the
/// typed arguments validate while they are decoded.
pub async fn call(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let run = async {
        csrf(&caller, &headers)?;
        let request: corenas_proto::api::CorenasRequest = serde_json::from_slice(&raw).map_err(|e| {
            WireError::invalid("body", format!("the request is not a daemon method with valid arguments: {e}"))
        })?;
        app.gate.call(&caller.cred, request).await
    };
    let response = match run.await {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    // {"Method": {"Ok": value}} or {"Method": {"Err": error}}
    let value = serde_json::to_value(&response).unwrap_or_default();
    let inner = value.as_object().and_then(|m| m.values().next()).cloned().unwrap_or_default();
    match (inner.get("Ok"), inner.get("Err")) {
        (Some(ok), _) => Json(ok.clone()).into_response(),
        (_, Some(err)) => match serde_json::from_value::<WireError>(err.clone()) {
            Ok(e) => api_error(&e),
            Err(_) => api_error(&WireError::internal("an answer that is not an error")),
        },
        _ => Json(inner).into_response(),
    }
}

pub async fn sessions(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let cred = caller.cred.clone();
    reply(app.gate.with(|g| async move { g.session_list(crate::gate::ctx(), cred).await }).await)
}

/// Ends one session (own; administrators: anyone's), as the settings page does.
pub async fn session_delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(e) = csrf(&caller, &headers) {
        return api_error(&e);
    }
    let cred = caller.cred.clone();
    reply(
        app.gate
            .with(|g| async move { g.session_revoke(crate::gate::ctx(), cred, id).await })
            .await
            .map(|()| serde_json::json!({ "revoked": true })),
    )
}

/// Server-sent events: `job` (progress of active jobs, whenever a job's version changes) and
/// `device` (hotplug events, id = corenasd's event number, so `Last-Event-ID` resumes after it).
pub async fn events(State(app): State<Arc<AppState>>, caller: Caller, headers: HeaderMap) -> Response {
    let after: u64 =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    // Resuming or not, the client learns where device events stand; 0 means "from now".
    let start = if after == 0 {
        match crate::daemon!(app.gate, &caller.cred, DeviceEvents { after: u64::MAX, wait_ms: 0 }) {
            Ok(ev) => ev.next,
            Err(e) => return api_error(&e),
        }
    } else {
        after
    };
    struct Follow {
        app: Arc<AppState>,
        cred: corenas_proto::web::Credential,
        after: u64,
        seen: std::collections::HashMap<String, u64>,
        /// Backup jobs: what was last told of each.
        backup_seen: std::collections::HashMap<String, String>,
        queue: std::collections::VecDeque<Event>,
        /// Pools that are not online, as last told; `None` until the first look.
        unhealthy: Option<Vec<(String, String)>>,
        /// The active alerts as last seen (`alerts::alert_marker`); `None` until the first look.
        alerts: Option<Vec<(String, corenas_proto::monitor::AlertLevel, bool, bool)>>,
        ticks: u64,
    }
    let follow = Follow {
        app,
        cred: caller.cred,
        after: start,
        seen: Default::default(),
        backup_seen: Default::default(),
        queue: Default::default(),
        unhealthy: None,
        alerts: None,
        ticks: 0,
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(ev) = f.queue.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(ev), f));
            }
            // The device long poll (up to 1 s) is also the stream's clock for job progress.
            // `watch`: the stream's own reads do not count as the user being active.
            match crate::daemon!(watch f.app.gate, &f.cred, DeviceEvents { after: f.after, wait_ms: 1000 }) {
                Ok(d) => {
                    // The daemon keeps the newest events only: a client that resumed too late
                    // is told to read the current state rather than trust its picture.
                    if d.missed > 0 {
                        let data = serde_json::json!({ "missed": d.missed }).to_string();
                        f.queue.push_back(Event::default().event("resync").id(d.next.to_string()).data(data));
                    }
                    for e in d.events {
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        f.queue.push_back(Event::default().event("device").id(e.seq.to_string()).data(data));
                    }
                    f.after = d.next;
                }
                // The session ended (logout, expiry, revoke): the stream ends with it.
                Err(e) if matches!(e.code, ErrorCode::Unauthenticated | ErrorCode::NotAllowed) => {
                    let data = serde_json::json!({ "code": e.code.as_str(), "message": e.message }).to_string();
                    f.queue.push_back(Event::default().event("end").data(data));
                    let ev = f.queue.pop_front()?;
                    f.after = u64::MAX;
                    return Some((Ok(ev), f));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
            if f.after == u64::MAX {
                return None;
            }
            // Alerts: pools that are not online, looked at every 10 s (the pool list is shared
            // by concurrent callers in corenasd) and told when the set changes; the first look
            // tells only what is wrong already.
            if f.ticks % 10 == 0
                && let Ok(pools) = crate::daemon!(watch f.app.gate, &f.cred, PoolList {})
            {
                let bad: Vec<(String, String)> =
                    pools.into_iter().filter(|p| p.health != "online").map(|p| (p.name, p.health)).collect();
                if f.unhealthy.as_ref() != Some(&bad) && (f.unhealthy.is_some() || !bad.is_empty()) {
                    let list: Vec<_> = bad
                        .iter()
                        .map(|(name, health)| serde_json::json!({ "pool": name, "health": health }))
                        .collect();
                    let data = serde_json::json!({ "alerts": list }).to_string();
                    f.queue.push_back(Event::default().event("alert").id(f.after.to_string()).data(data));
                }
                f.unhealthy = Some(bad);
            }
            // The alert engine's alerts (raised, dismissed, silenced, resolved): told when they change.
            if f.ticks % 10 == 0
                && let Some(marker) = alerts::alert_marker(&f.app, &f.cred).await
            {
                if f.alerts.as_ref().is_some_and(|m| *m != marker) {
                    let data = serde_json::json!({ "alerts_changed": marker.len() }).to_string();
                    f.queue.push_back(Event::default().event("alert").id(f.after.to_string()).data(data));
                }
                f.alerts = Some(marker);
            }
            f.ticks += 1;
            if let Ok(list) =
                crate::daemon!(watch f.app.gate, &f.cred, ImageList { query: crate::pages::dashboard::active_query() })
            {
                for j in list.jobs {
                    if f.seen.get(&j.id) != Some(&j.version) {
                        f.seen.insert(j.id.clone(), j.version);
                        let data = serde_json::json!({
                            "id": j.id, "status": j.status, "percent": j.progress.percent,
                            "rate_bps": j.progress.rate_bps, "eta_seconds": j.progress.eta_seconds,
                            "rescued_bytes": j.progress.rescued_bytes, "domain_bytes": j.progress.domain_bytes,
                            "archive_id": j.archive_id,
                        });
                        f.queue.push_back(Event::default().event("job").id(f.after.to_string()).data(data.to_string()));
                    }
                }
            }
            // Backup jobs, the same way (the newest ones: a job page rendered while its job ran
            // learns that it ended even if it ended before the stream connected).
            if let Ok(list) = backups::calls::job_list_watch(&f.app, &f.cred, 20).await {
                for j in list {
                    // What the event tells, as the job's marker (a job's version would do, but an
                    // ended job's answer is built from the store each time).
                    let marker = format!(
                        "{}:{}:{}:{}",
                        crate::pages::backups::state_str(j.state),
                        j.progress.percent.to_bits(),
                        j.progress.bytes_done,
                        j.progress.files_done
                    );
                    if f.backup_seen.get(j.id.as_str()) != Some(&marker) {
                        f.backup_seen.insert(j.id.to_string(), marker);
                        let data = serde_json::json!({
                            "id": j.id, "status": crate::pages::backups::state_str(j.state),
                            "percent": j.progress.percent, "rate_bps": j.progress.rate_bps,
                            "eta_seconds": j.progress.eta_seconds, "task": j.task, "kind": j.kind,
                        });
                        f.queue.push_back(Event::default().event("job").id(f.after.to_string()).data(data.to_string()));
                    }
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// What the OpenAPI document says about each API route (the paths come from the route table):
/// a summary, query parameters and the request body's schema.
fn describe(method: &str, path: &str) -> (&'static str, serde_json::Value, Option<serde_json::Value>) {
    use serde_json::json;
    let q = |name: &str, schema: serde_json::Value| json!({ "name": name, "in": "query", "required": false, "schema": schema });
    let int = |min: u64, max: u64| json!({ "type": "integer", "minimum": min, "maximum": max });
    let page = || vec![q("limit", int(1, u64::from(LIST_MAX))), q("offset", int(0, 1_000_000))];
    if let Some(d) = alerts::describe(method, path).or_else(|| backups::openapi::describe(method, path)) {
        return d;
    }
    let none = json!([]);
    match (method, path) {
        ("GET", "/api/v1/jobs") => {
            let mut p = vec![
                q(
                    "status",
                    json!({ "type": "string", "enum": JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() }),
                ),
                q("sort", json!({ "type": "string", "enum": ["created", "updated", "name"] })),
            ];
            p.extend(page());
            ("List imaging jobs", json!(p), None)
        }
        ("POST", "/api/v1/jobs") => (
            "Queue an imaging job",
            none,
            Some(
                json!({ "type": "object", "required": ["name", "device"], "additionalProperties": false, "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 64 },
                "device": { "type": "string", "pattern": "^/dev/" },
                "options": { "type": "object", "additionalProperties": false, "properties": {
                    "read_attempts": { "type": "integer", "minimum": 0, "maximum": 5 },
                    "verify": { "type": "boolean" },
                    "checksums": { "type": "array", "items": { "type": "string", "enum": ["md5", "sha256"] } },
                    "priority": { "type": "string", "enum": ["low", "normal", "high"] } } } } }),
            ),
        ),
        ("PATCH", "/api/v1/jobs/{id}") => (
            "Pause, resume, cancel or retry a job, or change its priority",
            none,
            Some(json!({ "type": "object", "additionalProperties": false, "properties": {
                "action": { "type": "string", "enum": ["pause", "resume", "cancel", "retry"] },
                "priority": { "type": "string", "enum": ["low", "normal", "high"] } } })),
        ),
        ("GET", "/api/v1/archives") => {
            let mut p = vec![
                q("search", json!({ "type": "string", "maxLength": 100 })),
                q("tag", json!({ "type": "string", "maxLength": 32 })),
                q("sort", json!({ "type": "string", "enum": ["created", "name", "size"] })),
                q("order", json!({ "type": "string", "enum": ["asc", "desc"] })),
            ];
            p.extend(page());
            ("Search the archive", json!(p), None)
        }
        ("PATCH", "/api/v1/archives/{id}") => (
            "Set an archive's tags and notes",
            none,
            Some(json!({ "type": "object", "required": ["metadata"], "additionalProperties": false, "properties": {
                "metadata": { "type": "object", "additionalProperties": false, "properties": {
                    "tags": { "type": "array", "items": { "type": "string", "maxLength": 32 } },
                    "notes": { "type": "string", "maxLength": 2000 } } } } })),
        ),
        ("PATCH", "/api/v1/system/config") => (
            "Set the imaging policy",
            none,
            Some(json!({ "type": "object", "required": ["auto_start"], "additionalProperties": false, "properties": {
                "auto_start": { "type": "boolean" },
                "watch": { "type": "array", "items": { "type": "string", "pattern": "^/dev/" } } } })),
        ),
        ("POST", "/api/v1/users") => (
            "Create a user",
            none,
            Some(json!({ "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 32 },
                "kind": { "type": "string", "enum": ["share", "admin"] },
                "full_name": { "type": "string", "maxLength": 64 },
                "password": { "type": "string", "minLength": 12, "maxLength": 128 } } })),
        ),
        ("GET", "/api/v1/logs") => (
            "The audit log, newest first",
            json!([
                q("level", json!({ "type": "string", "enum": ["debug", "info", "warning", "error"] })),
                q("since", json!({ "type": "string", "format": "date-time" })),
                q("until", json!({ "type": "string", "format": "date-time" })),
                q("before", int(0, i64::MAX as u64)),
                q("limit", int(1, u64::from(corenas_proto::api::AUDIT_PAGE_MAX))),
                q("action", json!({ "type": "string", "maxLength": 64 })),
                q("principal", json!({ "type": "string", "maxLength": 160 })),
                q("result", json!({ "type": "string", "enum": corenas_proto::api::AUDIT_RESULTS })),
            ]),
            None,
        ),
        ("GET", "/api/v1/system/status") => ("Health, versions, resources and services", none, None),
        ("GET", "/api/v1/system/config") => ("The imaging policy", none, None),
        ("GET", "/api/v1/dashboard") => ("Active jobs, drives and pools", none, None),
        ("GET", "/api/v1/jobs/{id}") => ("One imaging job", none, None),
        ("DELETE", "/api/v1/jobs/{id}") => ("Cancel a job and remove what it wrote", none, None),
        ("GET", "/api/v1/archives/{id}") => ("One archived image", none, None),
        ("DELETE", "/api/v1/archives/{id}") => ("Delete an archived image", none, None),
        ("POST", "/api/v1/archives/{id}/verify") => ("Verify an image against its checksums (a job)", none, None),
        ("GET", "/api/v1/archives/{id}/download") => ("Download an image (HTTP Range)", none, None),
        ("GET", "/api/v1/devices") => ("Drives for imaging, with media", none, None),
        ("POST", "/api/v1/devices/{device}/eject") => ("Eject the medium", none, None),
        ("GET", "/api/v1/users") => ("Users in the managed ranges", none, None),
        ("GET", "/api/v1/sessions") => ("Open sessions (own; administrators: all)", none, None),
        ("DELETE", "/api/v1/sessions/{id}") => ("End a session (own; administrators: any)", none, None),
        ("GET", "/api/v1/events") => (
            "Server-sent events: job (the state of each active imaging job and of the newest backup jobs; all of them again on every connection), device (hotplug; resumable with Last-Event-ID), resync (events were missed: read the current state), alert (pools that are not online, when that set changes; or the active alerts changed: data {alerts_changed: count})",
            none,
            None,
        ),
        ("GET", "/api/v1/openapi.json") => ("This document", none, None),
        ("POST", "/api/v1/call") => (
            "Any daemon method by name (`{\"Method\": {arguments}}`, as proto/src/api.rs declares it)",
            none,
            Some(json!({ "type": "object", "minProperties": 1, "maxProperties": 1 })),
        ),
        _ => ("", none, None),
    }
}

pub fn openapi_document() -> serde_json::Value {
    use serde_json::json;
    let mut paths = serde_json::Map::new();
    for r in crate::routes::table().into_iter().filter(|r| r.path.starts_with("/api/")) {
        let (summary, mut params, body) = describe(r.method, r.path);
        for name in ["id", "device", "name"] {
            if r.path.contains(&format!("{{{name}}}")) {
                if let Some(list) = params.as_array_mut() {
                    list.push(json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } }));
                }
            }
        }
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": { "description": "the answer, as JSON" },
                "201": { "description": "created" },
                "4XX": { "description": "refused: {\"error\": {\"code\", \"message\", \"field\"}}" },
            },
        });
        if let Some(schema) = body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "CoreNAS API", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": {
            "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
            "session": { "type": "apiKey", "in": "cookie", "name": crate::cookies::SESSION_COOKIE } } },
        "security": [{ "apiKey": [] }, { "session": [] }],
        "paths": paths,
    })
}

pub async fn openapi(_caller: Caller) -> Response {
    Json(openapi_document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=0-5000", 1000), Some((0, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }

    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let doc = openapi_document();
        for r in crate::routes::table().into_iter().filter(|r| r.path.starts_with("/api/")) {
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", r.method, r.path);
            assert!(!op["summary"].as_str().unwrap_or("").is_empty(), "{} {} has no summary", r.method, r.path);
        }
    }
}
