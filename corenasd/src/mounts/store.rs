//! Stored mount definitions and their retry state. SQL only.

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::mounts::MountDef;
use rusqlite::{Connection, OptionalExtension, params};

pub struct Row {
    pub def: MountDef,
    pub retries: u32,
    pub last_error: Option<String>,
    /// Unix seconds of the next retry (None: not scheduled).
    pub next_retry: Option<i64>,
    pub created: String,
}

fn decode(target: &str, def: &str) -> Result<MountDef, StateError> {
    serde_json::from_str(def)
        .map_err(|e| StateError::Corrupt { detail: format!("mount {target}: stored definition unreadable: {e}") })
}

type RawRow = (String, String, u32, Option<String>, Option<String>, String);

fn to_row(r: RawRow) -> Result<Row, StateError> {
    Ok(Row {
        def: decode(&r.0, &r.1)?,
        retries: r.2,
        last_error: r.3,
        next_retry: r.4.and_then(|t| t.parse().ok()),
        created: r.5,
    })
}

const COLUMNS: &str = "target, def, retries, last_error, next_retry, created";

pub fn list(conn: &Connection) -> Result<Vec<Row>, StateError> {
    let mut stmt =
        conn.prepare(&format!("SELECT {COLUMNS} FROM mounts ORDER BY target")).map_err(sql("listing mounts"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .map_err(sql("listing mounts"))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(to_row(r.map_err(sql("reading a mount"))?)?);
    }
    Ok(out)
}

pub fn get(conn: &Connection, target: &str) -> Result<Option<Row>, StateError> {
    let raw: Option<RawRow> = conn
        .query_row(&format!("SELECT {COLUMNS} FROM mounts WHERE target = ?1"), [target], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()
        .map_err(sql("reading a mount"))?;
    raw.map(to_row).transpose()
}

/// Stored without the CIFS password: that lives only in the helper's root-only credentials
/// file. A stored definition is never sent back to be written (MountWrite).
fn stored(def: &MountDef) -> Result<String, StateError> {
    serde_json::to_string(def).map_err(|e| StateError::Corrupt { detail: format!("cannot encode a mount: {e}") })
}

pub fn save(conn: &Connection, def: &MountDef) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO mounts(target, def, retries, created) VALUES(?1, ?2, 0, ?3)",
        params![def.target.as_str(), stored(def)?, now_rfc3339()?],
    )
    .map_err(sql("saving a mount"))?;
    Ok(())
}

pub fn remove(conn: &Connection, target: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM mounts WHERE target = ?1", [target]).map_err(sql("deleting a mount"))?;
    Ok(())
}

pub fn record_attempt(
    conn: &Connection,
    target: &str,
    error: Option<&str>,
    retries: u32,
    next: Option<i64>,
) -> Result<(), StateError> {
    conn.execute(
        "UPDATE mounts SET retries = ?2, last_error = ?3, next_retry = ?4 WHERE target = ?1",
        params![target, retries, error, next.map(|n| n.to_string())],
    )
    .map_err(sql("recording a mount attempt"))?;
    Ok(())
}
