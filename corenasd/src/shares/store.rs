//! Stored share definitions: the desired state. SQL only; every change is decided in `policy.rs`
//! and made real in `mod.rs`.

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::shares::{AccessTemplate, ShareDef, ShareInfo};
use rusqlite::{Connection, OptionalExtension, params};

const HOMES_KEY: &str = "shares.homes";

fn corrupt(what: String) -> StateError {
    StateError::Corrupt { detail: what }
}

fn row_info(
    name: String,
    def: String,
    access: Option<String>,
    created: String,
    modified: String,
) -> Result<ShareInfo, StateError> {
    let def: ShareDef =
        serde_json::from_str(&def).map_err(|e| corrupt(format!("share {name}: stored definition unreadable: {e}")))?;
    let access = match access {
        Some(a) => Some(
            serde_json::from_str(&a).map_err(|e| corrupt(format!("share {name}: stored access unreadable: {e}")))?,
        ),
        None => None,
    };
    Ok(ShareInfo { def, access, created, modified })
}

pub fn list(conn: &Connection) -> Result<Vec<ShareInfo>, StateError> {
    let mut stmt = conn
        .prepare("SELECT name, def, access, created, modified FROM shares ORDER BY name")
        .map_err(sql("listing shares"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(sql("listing shares"))?;
    let mut out = Vec::new();
    for row in rows {
        let (n, d, a, c, m) = row.map_err(sql("reading a share"))?;
        out.push(row_info(n, d, a, c, m)?);
    }
    Ok(out)
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<ShareInfo>, StateError> {
    let row: Option<(String, String, Option<String>, String, String)> = conn
        .query_row("SELECT name, def, access, created, modified FROM shares WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
        .map_err(sql("reading a share"))?;
    row.map(|(n, d, a, c, m)| row_info(n, d, a, c, m)).transpose()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v).map_err(|e| corrupt(format!("cannot encode: {e}")))
}

pub fn save(conn: &Connection, def: &ShareDef, access: Option<&AccessTemplate>) -> Result<(), StateError> {
    let now = now_rfc3339()?;
    conn.execute(
        "INSERT INTO shares(name, def, access, created, modified) VALUES(?1, ?2, ?3, ?4, ?4)
         ON CONFLICT(name) DO UPDATE SET def = excluded.def, access = excluded.access, modified = excluded.modified",
        params![def.name.as_str(), to_json(def)?, access.map(to_json).transpose()?, now],
    )
    .map_err(sql("saving a share"))?;
    Ok(())
}

pub fn remove(conn: &Connection, name: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM shares WHERE name = ?1", [name]).map_err(sql("deleting a share"))?;
    Ok(())
}

/// Whether users' home directories are shared (`[homes]`).
pub fn homes(conn: &Connection) -> Result<bool, StateError> {
    Ok(crate::state::setting(conn, HOMES_KEY)?.as_deref() == Some("1"))
}

pub fn set_homes(conn: &Connection, enabled: bool) -> Result<(), StateError> {
    crate::state::set_setting(conn, HOMES_KEY, if enabled { "1" } else { "0" })
}
