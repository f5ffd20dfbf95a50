//! Backups over REST (`/api/v1/backup/...`): targets (secrets posted once, never answered),
//! tasks with their keep policy, the retention preview, snapshots and browsing one, and the jobs
//! (run, restore, progress). Every argument is checked here by the contract's validators, so bad
//! input is a 422 naming the field before anything is sent; corenasd checks roles, validates
//! again and audits. Changes honour `?dry_run=true` and answer the change (`dry_run`, `steps`,
//! `result`).
//!
//! - `calls.rs`: the one place that names corenasd's backup requests.
//! - `input.rs`: targets, tasks, keep policies and restores from forms and JSON bodies.
//! - `openapi.rs`: these routes in the OpenAPI document.

pub mod calls;
pub mod input;
pub mod openapi;

use super::alerts::flag;
use super::{csrf, reply};
use crate::app::AppState;
use crate::http::{Caller, api_error};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::backup::{BackupJobId, BackupName, ResticSnapshotId, SnapshotPath};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

type Q = Query<HashMap<String, String>>;

/// A change's answer: 200 with the change, or 201 when it made something for real.
fn change<T: Serialize>(r: Result<Change<T>, WireError>, creates: bool) -> Response {
    match r {
        Ok(c) if creates && !c.dry_run => (StatusCode::CREATED, axum::Json(c)).into_response(),
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => api_error(&e),
    }
}

pub fn name(s: &str) -> Result<BackupName, WireError> {
    s.parse::<BackupName>().map_err(|e| WireError::invalid("name", e.message))
}

pub fn job_id(s: &str) -> Result<BackupJobId, WireError> {
    s.parse::<BackupJobId>().map_err(|e| WireError::invalid("id", e.message))
}

// ---- Targets ----

pub async fn targets(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(calls::target_list(&app, &caller.cred).await)
}

pub async fn target_create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| {
        let fields = input::target_fields_of_json(&input::parse_body(&raw)?)?;
        Ok((input::target(&fields)?, flag(&q, "dry_run")?))
    });
    let r = match args {
        Ok((spec, dry_run)) => calls::target_create(&app, &caller.cred, spec, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, true)
}

pub async fn target(State(app): State<Arc<AppState>>, caller: Caller, Path(n): Path<String>) -> Response {
    let r = match name(&n) {
        Ok(n) => calls::target_show(&app, &caller.cred, &n).await,
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn target_delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match csrf(&caller, &headers).and_then(|()| Ok((name(&n)?, flag(&q, "dry_run")?))) {
        Ok((n, dry_run)) => calls::target_delete(&app, &caller.cred, &n, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, false)
}

// ---- Tasks ----

pub async fn tasks(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(calls::task_list(&app, &caller.cred).await)
}

pub async fn task_create(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| {
        let fields = input::task_fields_of_json(&input::parse_body(&raw)?)?;
        Ok((input::task(&fields)?, flag(&q, "dry_run")?))
    });
    let r = match args {
        Ok((spec, dry_run)) => calls::task_create(&app, &caller.cred, &spec, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, true)
}

pub async fn task(State(app): State<Arc<AppState>>, caller: Caller, Path(n): Path<String>) -> Response {
    let r = match name(&n) {
        Ok(n) => calls::task_show(&app, &caller.cred, &n).await,
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn task_modify(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers)
        .and_then(|()| Ok((name(&n)?, input::task_modify_of_json(&input::parse_body(&raw)?)?, flag(&q, "dry_run")?)));
    let r = match args {
        Ok((n, m, dry_run)) => calls::task_modify(&app, &caller.cred, &n, &m, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, false)
}

pub async fn task_delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match csrf(&caller, &headers).and_then(|()| Ok((name(&n)?, flag(&q, "dry_run")?))) {
        Ok((n, dry_run)) => calls::task_delete(&app, &caller.cred, &n, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, false)
}

/// What `forget` would keep (with restic's reasons) and remove under a keep policy (the body),
/// changing nothing.
pub async fn preview(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers)
        .and_then(|()| Ok((name(&n)?, input::keep(&input::keep_fields_of_json(&input::parse_body(&raw)?)?)?)));
    let r = match args {
        Ok((n, keep)) => calls::retention_preview(&app, &caller.cred, &n, &keep).await,
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn snapshots(State(app): State<Arc<AppState>>, caller: Caller, Path(n): Path<String>) -> Response {
    let r = match name(&n) {
        Ok(n) => calls::snapshots(&app, &caller.cred, &n).await,
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn ls(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((n, id)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    let args = (|| {
        let snapshot: ResticSnapshotId =
            id.parse().map_err(|e: corenas_proto::error::ValidationError| WireError::invalid("id", e.message))?;
        let path: SnapshotPath = q
            .get("path")
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .parse()
            .map_err(|e: corenas_proto::error::ValidationError| WireError::invalid("path", e.message))?;
        Ok::<_, WireError>((name(&n)?, snapshot, path))
    })();
    let r = match args {
        Ok((n, snapshot, path)) => calls::ls(&app, &caller.cred, &n, &snapshot, &path).await,
        Err(e) => Err(e),
    };
    reply(r)
}

// ---- Jobs ----

pub async fn run(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match csrf(&caller, &headers).and_then(|()| Ok((name(&n)?, flag(&q, "dry_run")?))) {
        Ok((n, dry_run)) => calls::run(&app, &caller.cred, &n, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, true)
}

pub async fn restore(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(n): Path<String>,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| {
        let task = name(&n)?;
        Ok((input::restore_of_json(&task, &input::parse_body(&raw)?)?, flag(&q, "dry_run")?))
    });
    let r = match args {
        Ok((spec, dry_run)) => calls::restore(&app, &caller.cred, &spec, dry_run).await,
        Err(e) => Err(e),
    };
    change(r, true)
}

/// Most jobs one list answers.
pub const JOB_LIST_MAX: u32 = 500;

pub async fn jobs(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Q) -> Response {
    let args = (|| {
        let task = q
            .get("task")
            .filter(|t| !t.is_empty())
            .map(|t| name(t).map_err(|e| WireError::invalid("task", e.message)))
            .transpose()?;
        let limit = match q.get("limit").map(String::as_str) {
            None | Some("") => 50,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=JOB_LIST_MAX).contains(l))
                .ok_or_else(|| WireError::invalid("limit", format!("limit is invalid: use 1 to {JOB_LIST_MAX}")))?,
        };
        Ok::<_, WireError>((task, limit))
    })();
    let r = match args {
        Ok((task, limit)) => calls::job_list(&app, &caller.cred, task.as_ref(), limit).await,
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn job(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    let r = match job_id(&id) {
        Ok(id) => calls::job_show(&app, &caller.cred, &id).await,
        Err(e) => Err(e),
    };
    reply(r)
}
