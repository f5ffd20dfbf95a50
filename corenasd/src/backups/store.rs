//! The tables `backup_targets` and `backup_tasks` (schema.rs, migrate_11). SQL only.
//!
//! A target's location is stored as JSON and its secrets apart, in `secrets`, as JSON of the
//! plain values (the state database is 0600, owned by corenasd's user), the way the alert
//! channels keep an SMTP password. The proto types redact themselves when serialized as JSON,
//! so the secrets are written field by field here; nothing else ever reads that column.
//! A task's `last_*` columns hold a `RunSummary` as JSON, written by the jobs (engineer E's
//! part) and read back into `TaskInfo`.

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::backup::{BackupName, HostKey, RunSummary, TargetLocation, TargetSecrets, TaskInfo, TaskSpec};
use corenas_proto::secret::RemoteSecret;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

fn corrupt(detail: String) -> StateError {
    StateError::Corrupt { detail }
}

/// One stored target, with its secrets (for restic only: never returned by a read).
#[derive(Debug, Clone)]
pub struct StoredTarget {
    pub name: BackupName,
    pub location: TargetLocation,
    pub secrets: TargetSecrets,
    pub host_key: Option<HostKey>,
    /// SFTP: the private key's path and the public key's line.
    pub ssh_key: Option<String>,
    pub public_key: Option<String>,
    pub created: String,
}

/// The plain secrets as stored (never serialized anywhere else).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainSecrets {
    repository_password: String,
    rest_password: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
}

fn expose(s: &Option<RemoteSecret>) -> Option<String> {
    s.as_ref().map(|s| s.expose().to_owned())
}

fn secrets_json(s: &TargetSecrets) -> Result<String, StateError> {
    let plain = PlainSecrets {
        repository_password: s.repository_password.expose().to_owned(),
        rest_password: expose(&s.rest_password),
        s3_access_key_id: expose(&s.s3_access_key_id),
        s3_secret_access_key: expose(&s.s3_secret_access_key),
    };
    serde_json::to_string(&plain).map_err(|e| corrupt(format!("cannot encode a target's secrets: {e}")))
}

fn secrets_from(name: &str, json: &str) -> Result<TargetSecrets, StateError> {
    let bad = |e: String| corrupt(format!("backup target {name}: stored secrets unreadable: {e}"));
    let p: PlainSecrets = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let secret = |s: String| RemoteSecret::new(s).map_err(|e| bad(e.message));
    Ok(TargetSecrets {
        repository_password: secret(p.repository_password)?,
        rest_password: p.rest_password.map(secret).transpose()?,
        s3_access_key_id: p.s3_access_key_id.map(secret).transpose()?,
        s3_secret_access_key: p.s3_secret_access_key.map(secret).transpose()?,
    })
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v).map_err(|e| corrupt(format!("cannot encode: {e}")))
}

pub fn insert_target(conn: &Connection, t: &StoredTarget) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO backup_targets(name, location, secrets, host_key, ssh_key, public_key, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.name.as_str(),
            to_json(&t.location)?,
            secrets_json(&t.secrets)?,
            t.host_key.as_ref().map(|k| k.as_str().to_owned()),
            t.ssh_key,
            t.public_key,
            t.created,
        ],
    )
    .map_err(sql("storing a backup target"))?;
    Ok(())
}

type TargetRow = (String, String, String, Option<String>, Option<String>, Option<String>, String);

fn decode_target(row: TargetRow) -> Result<StoredTarget, StateError> {
    let (name, location, secrets, host_key, ssh_key, public_key, created) = row;
    let bad = |e: String| corrupt(format!("backup target {name}: {e}"));
    Ok(StoredTarget {
        name: name.parse().map_err(|e: corenas_proto::error::ValidationError| bad(e.message))?,
        location: serde_json::from_str(&location).map_err(|e| bad(format!("stored location unreadable: {e}")))?,
        secrets: secrets_from(&name, &secrets)?,
        host_key: host_key
            .map(|k| k.parse::<HostKey>())
            .transpose()
            .map_err(|e| bad(format!("stored host key unreadable: {}", e.message)))?,
        ssh_key,
        public_key,
        created,
    })
}

const TARGET_COLUMNS: &str = "name, location, secrets, host_key, ssh_key, public_key, created";

fn read_target(r: &rusqlite::Row<'_>) -> rusqlite::Result<TargetRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub fn targets(conn: &Connection) -> Result<Vec<StoredTarget>, StateError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {TARGET_COLUMNS} FROM backup_targets ORDER BY name"))
        .map_err(sql("listing backup targets"))?;
    let rows = stmt.query_map([], read_target).map_err(sql("listing backup targets"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode_target(row.map_err(sql("reading a backup target"))?)?);
    }
    Ok(out)
}

pub fn target(conn: &Connection, name: &str) -> Result<Option<StoredTarget>, StateError> {
    let row = conn
        .query_row(&format!("SELECT {TARGET_COLUMNS} FROM backup_targets WHERE name = ?1"), [name], read_target)
        .optional()
        .map_err(sql("reading a backup target"))?;
    row.map(decode_target).transpose()
}

pub fn delete_target(conn: &Connection, name: &str) -> Result<bool, StateError> {
    let n =
        conn.execute("DELETE FROM backup_targets WHERE name = ?1", [name]).map_err(sql("removing a backup target"))?;
    Ok(n > 0)
}

/// The tasks that write to `target`.
pub fn tasks_of_target(conn: &Connection, target: &str) -> Result<Vec<String>, StateError> {
    Ok(tasks(conn)?.into_iter().filter(|t| t.spec.target.as_str() == target).map(|t| t.spec.name.to_string()).collect())
}

pub fn save_task(conn: &Connection, spec: &TaskSpec) -> Result<(), StateError> {
    let now = now_rfc3339()?;
    conn.execute(
        "INSERT INTO backup_tasks(name, spec, created, modified) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, modified = excluded.modified",
        params![spec.name.as_str(), to_json(spec)?, now],
    )
    .map_err(sql("saving a backup task"))?;
    Ok(())
}

pub fn delete_task(conn: &Connection, name: &str) -> Result<bool, StateError> {
    let n = conn.execute("DELETE FROM backup_tasks WHERE name = ?1", [name]).map_err(sql("removing a backup task"))?;
    Ok(n > 0)
}

/// Which run a `last_*` column records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastRun {
    Backup,
    Check,
    SampleRestore,
}

/// Records the outcome of a task's run (the jobs call this when a run ends).
pub fn set_last_run(conn: &Connection, task: &str, which: LastRun, run: &RunSummary) -> Result<(), StateError> {
    let column = match which {
        LastRun::Backup => "last_backup",
        LastRun::Check => "last_check",
        LastRun::SampleRestore => "last_sample_restore",
    };
    conn.execute(&format!("UPDATE backup_tasks SET {column} = ?2 WHERE name = ?1"), params![task, to_json(run)?])
        .map_err(sql("recording a backup run"))?;
    Ok(())
}

type TaskRow = (String, String, String, Option<String>, Option<String>, Option<String>);

fn decode_task(row: TaskRow) -> Result<TaskInfo, StateError> {
    let (name, spec, created, last_backup, last_check, last_sample) = row;
    let bad = |what: &str, e: serde_json::Error| corrupt(format!("backup task {name}: stored {what} unreadable: {e}"));
    let run = |what: &str, v: Option<String>| -> Result<Option<RunSummary>, StateError> {
        v.map(|j| serde_json::from_str(&j).map_err(|e| bad(what, e))).transpose()
    };
    Ok(TaskInfo {
        spec: serde_json::from_str(&spec).map_err(|e| bad("definition", e))?,
        created_at: created,
        last_backup: run("last backup", last_backup)?,
        last_check: run("last check", last_check)?,
        last_sample_restore: run("last sample restore", last_sample)?,
        next_run: None,
    })
}

const TASK_COLUMNS: &str = "name, spec, created, last_backup, last_check, last_sample_restore";

fn read_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

pub fn tasks(conn: &Connection) -> Result<Vec<TaskInfo>, StateError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {TASK_COLUMNS} FROM backup_tasks ORDER BY name"))
        .map_err(sql("listing backup tasks"))?;
    let rows = stmt.query_map([], read_task).map_err(sql("listing backup tasks"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode_task(row.map_err(sql("reading a backup task"))?)?);
    }
    Ok(out)
}

pub fn task(conn: &Connection, name: &str) -> Result<Option<TaskInfo>, StateError> {
    let row = conn
        .query_row(&format!("SELECT {TASK_COLUMNS} FROM backup_tasks WHERE name = ?1"), [name], read_task)
        .optional()
        .map_err(sql("reading a backup task"))?;
    row.map(decode_task).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;

    fn target(name: &str) -> StoredTarget {
        StoredTarget {
            name: name.parse().expect("name"),
            location: serde_json::from_str(
                r#"{"s3":{"endpoint":"http://127.0.0.1:9000","bucket":"nas","prefix":null,"region":null}}"#,
            )
            .expect("location"),
            secrets: TargetSecrets {
                repository_password: RemoteSecret::new("the repo password".into()).expect("pw"),
                rest_password: None,
                s3_access_key_id: Some(RemoteSecret::new("KEYID".into()).expect("id")),
                s3_secret_access_key: Some(RemoteSecret::new("s3 secret".into()).expect("key")),
            },
            host_key: None,
            ssh_key: None,
            public_key: None,
            created: "2026-12-08T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_target_keeps_its_secrets_apart_and_reads_them_back() {
        let dir = TestDir::new("backup-store");
        let state = State::open(&dir.path().join("state.db")).expect("state");
        insert_target(state.conn(), &target("offsite")).expect("insert");
        let (location, secrets): (String, String) = state
            .conn()
            .query_row("SELECT location, secrets FROM backup_targets", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("row");
        assert!(!location.contains("the repo password") && !location.contains("s3 secret"), "{location}");
        assert!(secrets.contains("the repo password"), "the real secret is stored, not '<redacted>'");
        let back = super::target(state.conn(), "offsite").expect("read").expect("there");
        assert_eq!(back.secrets.repository_password.expose(), "the repo password");
        assert_eq!(back.secrets.s3_secret_access_key.as_ref().map(|s| s.expose()), Some("s3 secret"));
        assert!(insert_target(state.conn(), &target("offsite")).is_err(), "one target per name");
        assert!(delete_target(state.conn(), "offsite").expect("delete"));
        assert!(super::target(state.conn(), "offsite").expect("read").is_none());
    }

    #[test]
    fn a_task_saves_its_spec_and_its_last_runs() {
        let dir = TestDir::new("backup-store-task");
        let state = State::open(&dir.path().join("state.db")).expect("state");
        let spec: TaskSpec = serde_json::from_str(
            r#"{"name":"docs","source":{"share":"docs"},"target":"usb","every":"daily","hour":2,
                "keep":{"daily":7},"excludes":["*.tmp"],"check_subset":10,"sample_files":5}"#,
        )
        .expect("spec");
        save_task(state.conn(), &spec).expect("save");
        let run =
            RunSummary { job: "bkp_000001".parse().expect("job"), finished_at: 1, ok: true, detail: "3 files".into() };
        set_last_run(state.conn(), "docs", LastRun::Backup, &run).expect("last");
        let t = task(state.conn(), "docs").expect("read").expect("there");
        assert_eq!(t.spec, spec);
        assert_eq!(t.last_backup, Some(run));
        assert_eq!(t.last_check, None);
        assert_eq!(tasks_of_target(state.conn(), "usb").expect("of target"), ["docs"]);
        save_task(state.conn(), &TaskSpec { hour: 3, ..spec }).expect("update");
        assert_eq!(tasks(state.conn()).expect("list")[0].spec.hour, 3);
        assert!(delete_task(state.conn(), "docs").expect("delete"));
    }
}
