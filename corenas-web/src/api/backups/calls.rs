//! The backups' requests to corenasd, in one place. The pages and the REST API call these and
//! nothing else of corenasd's backup methods.
//!
//! Seam: the methods the contract has are called typed (`daemon!`). The job methods (run, list,
//! show, restore) are named here and sent as `CorenasRequest` decoded from their JSON form
//! (`{"Method": {arguments}}`, exactly what `/api/v1/call` takes), so corenas-web builds while
//! they land (issue 21): one this corenasd does not offer yet answers E_INVALID_STATE naming it
//! instead of failing the build. None of them carries a secret.

use crate::app::AppState;
use corenas_proto::api::{Change, CorenasRequest};
use corenas_proto::backup::{
    BackupJobId, BackupJobInfo, BackupName, KeepPolicy, ResticSnapshotId, RestoreSpec, RetentionPreview, SnapshotInfo,
    SnapshotListing, SnapshotPath, TargetInfo, TargetSpec, TaskChange, TaskInfo, TaskModify, TaskSpec,
};
use corenas_proto::web::Credential;
use corenas_proto::{ErrorCode, WireError};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Whether this corenasd (this build's contract) has the method at all.
pub fn offered(method: &str) -> bool {
    // An empty object is enough to tell an unknown variant from missing arguments.
    match serde_json::from_value::<CorenasRequest>(json!({ method: {} })) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown variant"),
    }
}

fn not_offered(method: &str) -> WireError {
    WireError::new(
        ErrorCode::InvalidState,
        format!("this CoreNAS does not offer {method} yet (backups are being built: issue 21)"),
    )
}

/// Sends one method with its arguments and decodes the answer's `Ok` value.
pub async fn call<T: DeserializeOwned>(
    app: &AppState,
    cred: &Credential,
    method: &str,
    args: Value,
) -> Result<T, WireError> {
    send(app, cred, method, args, false).await
}

/// `watch`: a read the page makes by itself (the event stream), which does not keep the session
/// alive; corenasd serves only reads marked for pages that way.
async fn send<T: DeserializeOwned>(
    app: &AppState,
    cred: &Credential,
    method: &str,
    args: Value,
    watch: bool,
) -> Result<T, WireError> {
    if !offered(method) {
        return Err(not_offered(method));
    }
    let request: CorenasRequest = serde_json::from_value(json!({ method: args }))
        .map_err(|e| WireError::internal(format!("{method}: the request did not match the contract: {e}")))?;
    let response = if watch { app.gate.watch(cred, request).await? } else { app.gate.call(cred, request).await? };
    // {"Method": {"Ok": value}} or {"Method": {"Err": error}}
    let value = serde_json::to_value(&response).map_err(|e| WireError::internal(e.to_string()))?;
    let inner = value.as_object().and_then(|m| m.values().next()).cloned().unwrap_or_default();
    if let Some(err) = inner.get("Err") {
        return Err(serde_json::from_value::<WireError>(err.clone())
            .unwrap_or_else(|_| WireError::internal(format!("{method}: an error that is not one"))));
    }
    let ok = inner.get("Ok").cloned().ok_or_else(|| WireError::internal(format!("{method}: no answer")))?;
    serde_json::from_value(ok).map_err(|e| WireError::internal(format!("{method}: an answer of another shape: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

pub const RUN: &str = "BackupRun";
pub const JOB_LIST: &str = "BackupJobList";
pub const JOB_SHOW: &str = "BackupJobShow";
pub const RESTORE: &str = "BackupRestore";

pub async fn target_list(app: &AppState, cred: &Credential) -> Result<Vec<TargetInfo>, WireError> {
    crate::daemon!(app.gate, cred, BackupTargetList {})
}

pub async fn target_show(app: &AppState, cred: &Credential, name: &BackupName) -> Result<TargetInfo, WireError> {
    crate::daemon!(app.gate, cred, BackupTargetShow { name: name.clone() })
}

pub async fn target_create(
    app: &AppState,
    cred: &Credential,
    spec: TargetSpec,
    dry_run: bool,
) -> Result<Change<TargetInfo>, WireError> {
    crate::daemon!(app.gate, cred, BackupTargetCreate { spec, dry_run })
}

pub async fn target_delete(
    app: &AppState,
    cred: &Credential,
    name: &BackupName,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    crate::daemon!(app.gate, cred, BackupTargetDelete { name: name.clone(), dry_run })
}

// ---- Tasks, retention, snapshots (corenasd/src/backups/tasks.rs) ----

pub async fn task_list(app: &AppState, cred: &Credential) -> Result<Vec<TaskInfo>, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskList {})
}

pub async fn task_show(app: &AppState, cred: &Credential, name: &BackupName) -> Result<TaskInfo, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskShow { name: name.clone() })
}

pub async fn task_create(
    app: &AppState,
    cred: &Credential,
    spec: &TaskSpec,
    dry_run: bool,
) -> Result<Change<TaskChange>, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskCreate { spec: spec.clone(), dry_run })
}

pub async fn task_modify(
    app: &AppState,
    cred: &Credential,
    name: &BackupName,
    change: &TaskModify,
    dry_run: bool,
) -> Result<Change<TaskChange>, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskModify { name: name.clone(), change: change.clone(), dry_run })
}

pub async fn task_delete(
    app: &AppState,
    cred: &Credential,
    name: &BackupName,
    dry_run: bool,
) -> Result<Change<()>, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskDelete { name: name.clone(), dry_run })
}

pub async fn retention_preview(
    app: &AppState,
    cred: &Credential,
    task: &BackupName,
    keep: &KeepPolicy,
) -> Result<RetentionPreview, WireError> {
    crate::daemon!(app.gate, cred, BackupTaskPreview { name: task.clone(), keep: *keep })
}

pub async fn snapshots(app: &AppState, cred: &Credential, task: &BackupName) -> Result<Vec<SnapshotInfo>, WireError> {
    crate::daemon!(app.gate, cred, BackupSnapshots { task: task.clone() })
}

pub async fn ls(
    app: &AppState,
    cred: &Credential,
    task: &BackupName,
    snapshot: &ResticSnapshotId,
    path: &SnapshotPath,
) -> Result<SnapshotListing, WireError> {
    crate::daemon!(app.gate, cred, BackupLs { task: task.clone(), snapshot: snapshot.clone(), path: path.clone() })
}

// ---- Jobs and restore (corenasd/src/backups/{jobs,run}.rs): sent by their JSON form until the
// contract has them (see the module's comment) ----

pub async fn run(
    app: &AppState,
    cred: &Credential,
    task: &BackupName,
    dry_run: bool,
) -> Result<Change<BackupJobInfo>, WireError> {
    call(app, cred, RUN, json!({ "task": task, "dry_run": dry_run })).await
}

pub async fn job_list(
    app: &AppState,
    cred: &Credential,
    task: Option<&BackupName>,
    limit: u32,
) -> Result<Vec<BackupJobInfo>, WireError> {
    call(app, cred, JOB_LIST, json!({ "task": task, "limit": limit })).await
}

/// The newest jobs for the event stream (a watch: it does not keep the session alive).
pub async fn job_list_watch(app: &AppState, cred: &Credential, limit: u32) -> Result<Vec<BackupJobInfo>, WireError> {
    send(app, cred, JOB_LIST, json!({ "task": null, "limit": limit }), true).await
}

pub async fn job_show(app: &AppState, cred: &Credential, id: &BackupJobId) -> Result<BackupJobInfo, WireError> {
    call(app, cred, JOB_SHOW, json!({ "id": id })).await
}

pub async fn restore(
    app: &AppState,
    cred: &Credential,
    spec: &RestoreSpec,
    dry_run: bool,
) -> Result<Change<BackupJobInfo>, WireError> {
    call(app, cred, RESTORE, json!({ "spec": to_json(spec), "dry_run": dry_run })).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_the_contract_lacks_is_told_apart_from_one_it_has() {
        assert!(offered("UserList"));
        assert!(offered("PoolCreate"), "missing arguments are not a missing method");
        assert!(!offered("NoSuchMethodAtAll"));
    }
}
