//! The state database's part of an archive: a copy taken through SQLite's online backup API
//! (from a connection of its own, so corenasd's writers are not held up), with the history
//! tables emptied; and on restore, the table-by-table swap of the configuration tables inside
//! one transaction. SQL only.
//!
//! What is configuration and what is history: every table is configuration except the ones
//! [`is_history`] names (the audit chain, jobs, measurements, alert state, the outbox). History
//! stays with the box: a restore never rewinds the audit log or the record of what happened.

use crate::state::{StateError, sql};
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;

/// Tables that record what happened rather than what is configured. New tables are
/// configuration unless they are named here or end in `_jobs`, `_runs` or `_history`.
const HISTORY: &[&str] = &[
    "audit",
    "audit_head",
    "image_jobs",
    "archives",
    "archive_verifications",
    "storage_jobs",
    "smart_reports",
    "monitor_cache",
    "metric_history",
    "metric_history_hourly",
    "alerts",
    "alert_pending",
    "alert_baselines",
    "outbox",
];

pub fn is_history(table: &str) -> bool {
    HISTORY.contains(&table)
        || table.starts_with("sqlite_")
        || ["_jobs", "_runs", "_history"].iter().any(|s| table.ends_with(s))
}

/// Area names people read in a preview, for the tables that have one.
pub fn area_of(table: &str) -> &str {
    match table {
        "shares" => "shares",
        "mounts" => "mounts",
        "pools" => "pools",
        "snapshot_schedules" => "snapshot schedules",
        "health_schedules" => "health schedules",
        "web_accounts" => "web admins",
        "api_keys" => "API keys",
        "settings" => "settings",
        "alert_channels" => "alert channels",
        "alert_policies" => "alert policies",
        "silences" => "alert silences",
        "accounts" => "account records",
        other => other,
    }
}

pub fn tables(conn: &Connection, schema: &str) -> Result<Vec<String>, StateError> {
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM {schema}.sqlite_master WHERE type = 'table' ORDER BY name"))
        .map_err(sql("listing tables"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(sql("listing tables"))?;
    names.collect::<Result<Vec<_>, _>>().map_err(sql("listing tables"))
}

/// A consistent copy of the live database at `dst` (SQLite's backup API from a read-only
/// connection of its own), history tables emptied and the file compacted.
pub fn copy_for_archive(live: &Path, dst: &Path) -> Result<(), StateError> {
    let src = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sql("opening the state database for a backup"))?;
    src.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql("setting busy_timeout"))?;
    let mut out = Connection::open(dst).map_err(sql("creating the backup copy"))?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut out).map_err(sql("starting the online backup"))?;
        backup
            .run_to_completion(512, std::time::Duration::from_millis(5), None)
            .map_err(sql("copying the state database"))?;
    }
    // A deleted row must not stay readable in a free page of the archive.
    out.pragma_update(None, "secure_delete", "ON").map_err(sql("setting secure_delete"))?;
    out.pragma_update(None, "journal_mode", "DELETE").map_err(sql("setting journal_mode"))?;
    for t in tables(&out, "main")? {
        if is_history(&t) && !t.starts_with("sqlite_") {
            out.execute(&format!("DELETE FROM main.\"{t}\""), []).map_err(sql("emptying a history table"))?;
        }
    }
    out.execute_batch("VACUUM").map_err(sql("compacting the backup copy"))?;
    Ok(())
}

pub fn user_version(conn: &Connection, schema: &str) -> Result<i64, StateError> {
    conn.query_row(&format!("PRAGMA {schema}.user_version"), [], |r| r.get(0)).map_err(sql("reading user_version"))
}

fn columns(conn: &Connection, schema: &str, table: &str) -> Result<Vec<(String, bool)>, StateError> {
    let mut stmt =
        conn.prepare(&format!("PRAGMA {schema}.table_info(\"{table}\")")).map_err(sql("reading a table's columns"))?;
    let cols = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)? > 0)))
        .map_err(sql("reading a table's columns"))?;
    cols.collect::<Result<Vec<_>, _>>().map_err(sql("reading a table's columns"))
}

/// Rows of a table as (key, whole row), the key from its primary key columns (or every column).
fn rows(conn: &Connection, schema: &str, table: &str) -> Result<Vec<(String, String)>, StateError> {
    let cols = columns(conn, schema, table)?;
    let key_cols: Vec<&str> = {
        let pk: Vec<&str> = cols.iter().filter(|c| c.1).map(|c| c.0.as_str()).collect();
        if pk.is_empty() { cols.iter().map(|c| c.0.as_str()).collect() } else { pk }
    };
    let all: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.0)).collect();
    let mut stmt =
        conn.prepare(&format!("SELECT {} FROM {schema}.\"{table}\"", all.join(", "))).map_err(sql("reading rows"))?;
    let n = cols.len();
    let key_idx: Vec<usize> = key_cols.iter().filter_map(|k| cols.iter().position(|c| c.0 == *k)).collect();
    let out = stmt
        .query_map([], |r| {
            let vals: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i) {
                    Ok(v) => match v {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
                    },
                    Err(_) => String::new(),
                })
                .collect();
            let key: Vec<&str> = key_idx.iter().map(|i| vals[*i].as_str()).collect();
            Ok((key.join("/"), vals.join("\u{1f}")))
        })
        .map_err(sql("reading rows"))?;
    out.collect::<Result<Vec<_>, _>>().map_err(sql("reading rows"))
}

/// What restoring `restored` over `main` changes, per configuration table: keys added, changed
/// and removed (keys only: rows hold secrets such as TOTP seeds and channel passwords).
pub fn diff(conn: &Connection) -> Result<Vec<corenas_proto::config_backup::AreaChange>, StateError> {
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    for t in tables(conn, "main")? {
        if is_history(&t) {
            continue;
        }
        let here: BTreeMap<String, String> = rows(conn, "main", &t)?.into_iter().collect();
        let there: BTreeMap<String, String> = if tables(conn, "restored")?.contains(&t) {
            rows(conn, "restored", &t)?.into_iter().collect()
        } else {
            BTreeMap::new()
        };
        let mut c = corenas_proto::config_backup::AreaChange { area: area_of(&t).to_owned(), ..Default::default() };
        for (k, v) in &there {
            match here.get(k) {
                None => c.added.push(k.clone()),
                Some(h) if h != v => c.changed.push(k.clone()),
                Some(_) => {}
            }
        }
        // Retired ids are only ever added to (a restore must not free an id for reuse).
        if t != "allocated_ids" {
            c.removed = here.keys().filter(|k| !there.contains_key(*k)).cloned().collect();
        }
        if !(c.added.is_empty() && c.changed.is_empty() && c.removed.is_empty()) {
            out.push(c);
        }
    }
    Ok(out)
}

pub fn attach(conn: &Connection, file: &Path) -> Result<(), StateError> {
    conn.execute("ATTACH DATABASE ?1 AS restored", params![file.display().to_string()])
        .map_err(sql("attaching the restored copy"))?;
    Ok(())
}

pub fn detach(conn: &Connection) {
    let _ = conn.execute("DETACH DATABASE restored", []);
}

/// Replaces every configuration table of `main` with the attached copy's, in one transaction:
/// either all of the configuration is the archive's, or none of it is. History tables are not
/// touched; retired ids are merged, never dropped.
pub fn swap(conn: &mut Connection) -> Result<(), StateError> {
    let restored = tables(conn, "restored")?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql("starting the restore"))?;
    tx.pragma_update(None, "defer_foreign_keys", "ON").map_err(sql("deferring foreign keys"))?;
    for t in tables(&tx, "main")? {
        if is_history(&t) {
            continue;
        }
        let cols: Vec<String> = columns(&tx, "main", &t)?.into_iter().map(|c| format!("\"{}\"", c.0)).collect();
        let list = cols.join(", ");
        if t == "allocated_ids" {
            tx.execute(&format!("INSERT OR IGNORE INTO main.\"{t}\"({list}) SELECT {list} FROM restored.\"{t}\""), [])
                .map_err(sql("merging retired ids"))?;
            continue;
        }
        tx.execute(&format!("DELETE FROM main.\"{t}\""), []).map_err(sql("clearing a configuration table"))?;
        if restored.contains(&t) {
            tx.execute(&format!("INSERT INTO main.\"{t}\"({list}) SELECT {list} FROM restored.\"{t}\""), [])
                .map_err(sql("restoring a configuration table"))?;
        }
    }
    tx.commit().map_err(sql("committing the restore"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;

    #[test]
    fn copy_keeps_configuration_drops_history_and_swap_restores_it() {
        let tmp = TestDir::new("cfgbak-store");
        let live = tmp.path().join("state.db");
        let state = State::open(&live).unwrap();
        let c = state.conn();
        c.execute("INSERT INTO shares(name, def, created, modified) VALUES ('docs', '{}', 't', 't')", []).unwrap();
        c.execute("INSERT INTO settings(key, value) VALUES ('k', 'v1')", []).unwrap();
        c.execute("INSERT INTO allocated_ids(id) VALUES (50001)", []).unwrap();
        crate::audit::append(
            State::open(&live).unwrap().conn_mut(),
            &crate::audit::AuditRecord {
                principal: "root",
                channel: "ctl",
                peer_uid: 0,
                action: "share.create",
                args: &serde_json::json!({}),
                result: "ok",
                error_code: None,
            },
        )
        .unwrap();
        let copy = tmp.path().join("copy.db");
        copy_for_archive(&live, &copy).unwrap();
        let cc = Connection::open(&copy).unwrap();
        let n = |conn: &Connection, t: &str| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(n(&cc, "shares"), 1);
        assert_eq!(n(&cc, "audit"), 0, "history stays out of the archive");
        assert_eq!(user_version(&cc, "main").unwrap(), crate::schema::schema_version());
        drop(cc);

        // The box changes after the backup: a share added, a setting changed, an id retired.
        c.execute("INSERT INTO shares(name, def, created, modified) VALUES ('media', '{}', 't', 't')", []).unwrap();
        c.execute("UPDATE settings SET value = 'v2' WHERE key = 'k'", []).unwrap();
        c.execute("INSERT INTO allocated_ids(id) VALUES (50002)", []).unwrap();
        drop(state);
        let mut state = State::open(&live).unwrap();
        attach(state.conn(), &copy).unwrap();
        let d = diff(state.conn()).unwrap();
        let shares = d.iter().find(|a| a.area == "shares").unwrap();
        assert_eq!(shares.removed, vec!["media".to_owned()]);
        let settings = d.iter().find(|a| a.area == "settings").unwrap();
        assert_eq!(settings.changed, vec!["k".to_owned()]);
        assert!(d.iter().all(|a| a.area != "allocated_ids" || a.removed.is_empty()));
        swap(state.conn_mut()).unwrap();
        detach(state.conn());
        let c = state.conn();
        assert_eq!(n(c, "shares"), 1);
        assert_eq!(
            c.query_row("SELECT value FROM settings WHERE key='k'", [], |r| r.get::<_, String>(0)).unwrap(),
            "v1"
        );
        assert_eq!(n(c, "allocated_ids"), 2, "retired ids are merged, never freed");
        assert_eq!(n(c, "audit"), 1, "the audit log is not rewound");
    }
}
