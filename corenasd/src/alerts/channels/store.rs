//! The table `alert_channels`: the spec as JSON with the SMTP password taken out, the password
//! alone in `secret` (the state database is 0600, owned by corenasd's user), and the delivery
//! bookkeeping. The outbox's rows for a channel are counted and dropped here too.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::monitor::{AlertLevel, ChannelKind, ChannelSpec};
use corenas_proto::secret::RemoteSecret;
use rusqlite::{OptionalExtension, params};

/// One stored channel, with its password put back (for delivery only).
#[derive(Debug, Clone)]
pub struct StoredChannel {
    pub spec: ChannelSpec,
    pub created: i64,
    pub queued: u64,
    pub last_delivered: Option<i64>,
    pub last_error: Option<String>,
}

fn db_err(what: &str) -> impl FnOnce(rusqlite::Error) -> WireError + '_ {
    move |e| {
        tracing::error!(error = %e, "alert channels: {what}");
        WireError::internal(format!("state database: {what}: {e}"))
    }
}

fn lock(d: &Daemon) -> Result<std::sync::MutexGuard<'_, crate::state::State>, WireError> {
    d.state.lock().map_err(|_| WireError::internal("state lock poisoned"))
}

/// The spec without its password, and the password, as stored.
fn split_secret(spec: &ChannelSpec) -> Result<(String, Option<String>), WireError> {
    let mut public = spec.clone();
    let secret = match &mut public.kind {
        ChannelKind::Smtp(s) => s.password.take().map(|p| p.expose().to_owned()),
        _ => None,
    };
    let json = serde_json::to_string(&public).map_err(|e| WireError::internal(format!("channel spec: {e}")))?;
    Ok((json, secret))
}

pub fn exists(d: &Daemon, name: &str) -> Result<bool, WireError> {
    let st = lock(d)?;
    st.conn()
        .query_row("SELECT 1 FROM alert_channels WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(db_err("reading a channel"))
}

pub fn insert(d: &Daemon, spec: &ChannelSpec, created: i64) -> Result<(), WireError> {
    let (json, secret) = split_secret(spec)?;
    let st = lock(d)?;
    st.conn()
        .execute(
            "INSERT INTO alert_channels (name, spec, secret, min_level, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![spec.name.as_str(), json, secret, spec.min_level.as_str(), created],
        )
        .map_err(db_err("storing a channel"))?;
    Ok(())
}

/// Removes the channel and its undelivered outbox rows; false if there was no such channel.
pub fn delete(d: &Daemon, name: &str) -> Result<bool, WireError> {
    let mut st = lock(d)?;
    let tx = st.conn_mut().transaction().map_err(db_err("removing a channel"))?;
    let n = tx.execute("DELETE FROM alert_channels WHERE name = ?1", [name]).map_err(db_err("removing a channel"))?;
    tx.execute("DELETE FROM outbox WHERE channel = ?1 AND delivered_at IS NULL", [name])
        .map_err(db_err("dropping a channel's queued messages"))?;
    tx.commit().map_err(db_err("removing a channel"))?;
    Ok(n > 0)
}

type Row = (String, String, Option<String>, String, i64, Option<i64>, Option<String>, i64);

fn decode(row: Row) -> Result<StoredChannel, WireError> {
    let (name, json, secret, level, created, last_delivered, last_error, queued) = row;
    let corrupt = |why: String| WireError::internal(format!("stored channel {name} is unreadable: {why}"));
    let mut spec: ChannelSpec = serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?;
    spec.min_level = level.parse::<AlertLevel>().map_err(|e| corrupt(e.message))?;
    if let (ChannelKind::Smtp(s), Some(secret)) = (&mut spec.kind, secret) {
        s.password = Some(RemoteSecret::new(secret).map_err(|e| corrupt(e.message))?);
    }
    Ok(StoredChannel { spec, created, queued: u64::try_from(queued).unwrap_or(0), last_delivered, last_error })
}

// Queued: not delivered and still to be tried (a row given up or dropped waits for `NEVER`,
// i64::MAX, in alerts/store.rs).
const SELECT: &str = "SELECT c.name, c.spec, c.secret, c.min_level, c.created, c.last_delivered, c.last_error,
        (SELECT COUNT(*) FROM outbox o WHERE o.channel = c.name AND o.delivered_at IS NULL
            AND o.next_attempt < 9223372036854775807)
     FROM alert_channels c";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

pub fn all(d: &Daemon) -> Result<Vec<StoredChannel>, WireError> {
    let rows: Vec<Row> = {
        let st = lock(d)?;
        let mut q = st.conn().prepare(&format!("{SELECT} ORDER BY c.name")).map_err(db_err("listing channels"))?;
        q.query_map([], read_row)
            .map_err(db_err("listing channels"))?
            .collect::<Result<_, _>>()
            .map_err(db_err("listing channels"))?
    };
    rows.into_iter().map(decode).collect()
}

pub fn get(d: &Daemon, name: &str) -> Result<Option<StoredChannel>, WireError> {
    let row = {
        let st = lock(d)?;
        st.conn()
            .query_row(&format!("{SELECT} WHERE c.name = ?1"), [name], read_row)
            .optional()
            .map_err(db_err("reading a channel"))?
    };
    row.map(decode).transpose()
}

/// Records a delivery's outcome: a success sets `last_delivered` and clears the error.
pub fn record(d: &Daemon, name: &str, now: i64, error: Option<&str>) -> Result<(), WireError> {
    let st = lock(d)?;
    let done = match error {
        None => st.conn().execute(
            "UPDATE alert_channels SET last_delivered = ?2, last_error = NULL WHERE name = ?1",
            params![name, now],
        ),
        Some(e) => st.conn().execute("UPDATE alert_channels SET last_error = ?2 WHERE name = ?1", params![name, e]),
    };
    done.map_err(db_err("recording a delivery"))?;
    Ok(())
}
