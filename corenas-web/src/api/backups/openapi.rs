//! The OpenAPI description of the backup routes (summary, query parameters, request body).

use serde_json::{Value, json};

fn q(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema })
}

fn backup_name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$" })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": 65535 })
}

fn keep() -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": {
        "last": count(), "hourly": count(), "daily": count(), "weekly": count(), "monthly": count(), "yearly": count() } })
}

fn secret() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[ -~]+$", "writeOnly": true })
}

fn target() -> Value {
    let url = json!({ "type": "string", "minLength": 8, "maxLength": 2048, "pattern": "^https?://" });
    let plain =
        json!({ "type": "string", "maxLength": 512, "pattern": "^/?[A-Za-z0-9._+@=,-]+(/[A-Za-z0-9._+@=,-]+)*$" });
    json!({ "type": "object", "required": ["name", "kind", "repository_password"], "additionalProperties": false,
        "description": "Secrets are sent here once and never answered by any read",
        "properties": {
            "name": backup_name(),
            "kind": { "type": "string", "enum": super::input::TARGET_KINDS },
            "path": plain,
            "host": { "type": "string", "maxLength": 253 },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
            "user": { "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$" },
            "url": url.clone(),
            "append_only": { "type": "boolean" },
            "endpoint": url,
            "bucket": { "type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" },
            "prefix": plain,
            "region": { "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$" },
            "host_key": { "type": "string", "maxLength": 2100, "description": "SFTP: the server's host key as in known_hosts (type and base64)" },
            "repository_password": secret(),
            "rest_password": secret(),
            "s3_access_key_id": secret(),
            "s3_secret_access_key": secret() } })
}

fn task(create: bool) -> Value {
    let mut props = json!({
        "target": backup_name(),
        "every": { "type": "string", "enum": ["off", "daily", "weekly", "monthly"] },
        "hour": { "type": "integer", "minimum": 0, "maximum": 23 },
        "keep": keep(),
        "excludes": { "type": "array", "maxItems": 100, "items": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^-\\n]" } },
        "check_subset": count(),
        "sample_files": count(),
        "live": { "type": "boolean" } });
    if create {
        props["name"] = backup_name();
        props["source"] = json!({ "type": "string", "pattern": "^(pool|dataset|share):.+$", "description": "pool:NAME, dataset:POOL/NAME or share:NAME" });
        json!({ "type": "object", "required": ["name", "source", "target"], "additionalProperties": false, "properties": props })
    } else {
        json!({ "type": "object", "additionalProperties": false, "properties": props })
    }
}

fn restore() -> Value {
    json!({ "type": "object", "required": ["snapshot", "paths"], "additionalProperties": false, "properties": {
        "snapshot": { "type": "string", "pattern": "^[0-9a-f]{8,64}$" },
        "paths": { "type": "array", "minItems": 1, "maxItems": 100, "items": { "type": "string", "pattern": "^/", "maxLength": 4096 } },
        "mode": { "type": "string", "enum": ["in_place", "new_folder"] } } })
}

pub fn describe(method: &str, path: &str) -> Option<(&'static str, Value, Option<Value>)> {
    let dry = || json!([q("dry_run", json!({ "type": "boolean" }))]);
    let none = || json!([]);
    Some(match (method, path) {
        ("GET", "/api/v1/backup/targets") => ("Backup targets (secrets are never shown)", none(), None),
        ("POST", "/api/v1/backup/targets") => (
            "Add a backup target (administrator): a new restic repository is made there, or an existing one opened",
            dry(),
            Some(target()),
        ),
        ("GET", "/api/v1/backup/targets/{name}") => ("One backup target (secrets are never shown)", none(), None),
        ("DELETE", "/api/v1/backup/targets/{name}") => {
            ("Forget a backup target (the repository stays where it is)", dry(), None)
        }
        ("GET", "/api/v1/backup/tasks") => {
            ("Backup tasks with the last backup, check and sample restore, and the next run", none(), None)
        }
        ("POST", "/api/v1/backup/tasks") => ("Add a backup task (administrator)", dry(), Some(task(true))),
        ("GET", "/api/v1/backup/tasks/{name}") => ("One backup task", none(), None),
        ("PUT", "/api/v1/backup/tasks/{name}") => {
            ("Change a backup task: each field given replaces that part", dry(), Some(task(false)))
        }
        ("DELETE", "/api/v1/backup/tasks/{name}") => {
            ("Remove a backup task (its snapshots stay in the repository)", dry(), None)
        }
        ("POST", "/api/v1/backup/tasks/{name}/preview") => (
            "Retention preview: which snapshots a keep policy would keep (with restic's reasons) and remove; changes nothing",
            none(),
            Some(keep()),
        ),
        ("GET", "/api/v1/backup/tasks/{name}/snapshots") => ("A task's snapshots in its repository", none(), None),
        ("GET", "/api/v1/backup/tasks/{name}/snapshots/{id}/ls") => (
            "One directory of a snapshot (path: a path in the snapshot, / by default)",
            json!([q("path", json!({ "type": "string", "pattern": "^/", "maxLength": 4096 }))]),
            None,
        ),
        ("POST", "/api/v1/backup/tasks/{name}/run") => ("Back a task up now (a job)", dry(), None),
        ("POST", "/api/v1/backup/tasks/{name}/restore") => (
            "Restore files, folders or everything (/) of a snapshot, in place (what was there is kept beside it) or into a new folder (a job)",
            dry(),
            Some(restore()),
        ),
        ("GET", "/api/v1/backup/jobs") => (
            "Backup, check, sample-restore and restore jobs, newest first",
            json!([
                q("task", backup_name()),
                q("limit", json!({ "type": "integer", "minimum": 1, "maximum": super::JOB_LIST_MAX }))
            ]),
            None,
        ),
        ("GET", "/api/v1/backup/jobs/{id}") => ("One backup job with its progress", none(), None),
        _ => return None,
    })
}
