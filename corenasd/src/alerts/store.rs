//! The alert engine's SQL: alerts, pending findings, baselines, silences, policies, the outbox,
//! and the channel rows it reads (the channels module owns and writes those).
//!
//! Plain functions over a connection (or a transaction, which derefs to one), so the engine can
//! put a change and its deliveries in one transaction. No policy lives here.

use crate::state::{StateError, sql};
use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, AlertState, Delivery, Silence};
use rusqlite::{Connection, Row, params};
use serde::Serialize;
use std::collections::HashMap;

/// `next_attempt` of a row that will never be sent (given up, or held back for good).
pub const NEVER: i64 = i64::MAX;

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, StateError> {
    s.parse().map_err(|_| StateError::Corrupt { detail: format!("alerts: '{s}' is not a known {what}") })
}

const ALERT_COLUMNS: &str = "id, class, subject, level, state, summary, action, first_seen, last_seen, \
                             resolved_at, dismissed_by, dismissed_at";

fn alert_row(r: &Row<'_>) -> rusqlite::Result<(Alert, [String; 3])> {
    let class: String = r.get(1)?;
    let level: String = r.get(3)?;
    let state: String = r.get(4)?;
    let a = Alert {
        id: r.get(0)?,
        // Placeholders; `typed` below parses the texts (rusqlite's closure cannot fail with ours).
        class: AlertClass::PoolDegraded,
        subject: r.get(2)?,
        level: AlertLevel::Info,
        state: AlertState::Active,
        summary: r.get(5)?,
        action: r.get(6)?,
        first_seen: r.get(7)?,
        last_seen: r.get(8)?,
        resolved_at: r.get(9)?,
        dismissed_by: r.get(10)?,
        dismissed_at: r.get(11)?,
        silenced_by: None,
    };
    Ok((a, [class, level, state]))
}

fn typed((mut a, [class, level, state]): (Alert, [String; 3])) -> Result<Alert, StateError> {
    a.class = parse(&class, "alert class")?;
    a.level = parse(&level, "alert level")?;
    a.state = parse(&state, "alert state")?;
    Ok(a)
}

fn alerts_where(conn: &Connection, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Alert>, StateError> {
    let mut st =
        conn.prepare(&format!("SELECT {ALERT_COLUMNS} FROM alerts {clause}")).map_err(sql("reading alerts"))?;
    let rows = st.query_map(args, alert_row).map_err(sql("reading alerts"))?;
    rows.map(|r| r.map_err(sql("reading alerts")).and_then(typed)).collect()
}

pub fn active_alerts(conn: &Connection) -> Result<Vec<Alert>, StateError> {
    alerts_where(conn, "WHERE state = 'active' ORDER BY first_seen, id", [])
}

/// Active alerts, then the most recent resolved ones (at most `resolved_limit`).
pub fn all_alerts(conn: &Connection, resolved_limit: u32) -> Result<Vec<Alert>, StateError> {
    let mut v = active_alerts(conn)?;
    v.extend(alerts_where(conn, "WHERE state = 'resolved' ORDER BY resolved_at DESC, id LIMIT ?1", [resolved_limit])?);
    Ok(v)
}

pub fn alert(conn: &Connection, id: &str) -> Result<Option<Alert>, StateError> {
    Ok(alerts_where(conn, "WHERE id = ?1", [id])?.pop())
}

pub fn active_alert(conn: &Connection, class: AlertClass, subject: &str) -> Result<Option<Alert>, StateError> {
    Ok(alerts_where(conn, "WHERE state = 'active' AND class = ?1 AND subject = ?2", params![class.as_str(), subject])?
        .pop())
}

/// The alert of this key that resolved at or after `since`, newest first (the flap guard).
pub fn resolved_since(
    conn: &Connection,
    class: AlertClass,
    subject: &str,
    since: i64,
) -> Result<Option<Alert>, StateError> {
    Ok(alerts_where(
        conn,
        "WHERE state = 'resolved' AND class = ?1 AND subject = ?2 AND resolved_at >= ?3 \
         ORDER BY resolved_at DESC LIMIT 1",
        params![class.as_str(), subject, since],
    )?
    .pop())
}

pub fn insert_alert(conn: &Connection, a: &Alert) -> Result<(), StateError> {
    conn.execute(
        &format!("INSERT INTO alerts ({ALERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            a.id,
            a.class.as_str(),
            a.subject,
            a.level.as_str(),
            a.state.as_str(),
            a.summary,
            a.action,
            a.first_seen,
            a.last_seen,
            a.resolved_at,
            a.dismissed_by,
            a.dismissed_at
        ],
    )
    .map_err(sql("recording an alert"))?;
    Ok(())
}

/// Writes an alert's changing fields (level, texts, times, state, dismissal).
pub fn update_alert(conn: &Connection, a: &Alert) -> Result<(), StateError> {
    conn.execute(
        "UPDATE alerts SET level = ?2, state = ?3, summary = ?4, action = ?5, last_seen = ?6, resolved_at = ?7, \
         dismissed_by = ?8, dismissed_at = ?9 WHERE id = ?1",
        params![
            a.id,
            a.level.as_str(),
            a.state.as_str(),
            a.summary,
            a.action,
            a.last_seen,
            a.resolved_at,
            a.dismissed_by,
            a.dismissed_at
        ],
    )
    .map_err(sql("updating an alert"))?;
    Ok(())
}

// --- findings waiting to be sustained ---------------------------------------------------------

/// A finding waiting to be sustained, by key: the time of the reading that first showed it.
pub type Pending = HashMap<(AlertClass, String), i64>;

pub fn pending(conn: &Connection) -> Result<Pending, StateError> {
    let mut st =
        conn.prepare("SELECT class, subject, since FROM alert_pending").map_err(sql("reading pending alerts"))?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .map_err(sql("reading pending alerts"))?;
    let mut out = HashMap::new();
    for r in rows {
        let (class, subject, since) = r.map_err(sql("reading pending alerts"))?;
        out.insert((parse(&class, "alert class")?, subject), since);
    }
    Ok(out)
}

/// Keeps exactly these pending findings (a kept one keeps its first reading's time).
pub fn set_pending(conn: &Connection, keep: &Pending) -> Result<(), StateError> {
    let old = pending(conn)?;
    for (class, subject) in old.keys().filter(|k| !keep.contains_key(*k)) {
        conn.execute("DELETE FROM alert_pending WHERE class = ?1 AND subject = ?2", params![class.as_str(), subject])
            .map_err(sql("clearing a pending alert"))?;
    }
    for ((class, subject), since) in keep.iter().filter(|(k, _)| !old.contains_key(*k)) {
        conn.execute(
            "INSERT INTO alert_pending (class, subject, since) VALUES (?1, ?2, ?3)",
            params![class.as_str(), subject, since],
        )
        .map_err(sql("recording a pending alert"))?;
    }
    Ok(())
}

// --- baselines --------------------------------------------------------------------------------

/// Baselines by (subject, attribute): (value, since).
pub type Baselines = HashMap<(String, String), (i64, i64)>;

pub fn baselines(conn: &Connection) -> Result<Baselines, StateError> {
    let mut st = conn
        .prepare("SELECT subject, attribute, value, since FROM alert_baselines")
        .map_err(sql("reading baselines"))?;
    let rows =
        st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))).map_err(sql("reading baselines"))?;
    rows.collect::<Result<_, _>>().map_err(sql("reading baselines"))
}

pub fn set_baseline(
    conn: &Connection,
    subject: &str,
    attribute: &str,
    value: i64,
    since: i64,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO alert_baselines (subject, attribute, value, since) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (subject, attribute) DO UPDATE SET value = excluded.value, since = excluded.since",
        params![subject, attribute, value, since],
    )
    .map_err(sql("recording a baseline"))?;
    Ok(())
}

// --- silences ---------------------------------------------------------------------------------

pub fn active_silences(conn: &Connection, now: i64) -> Result<Vec<Silence>, StateError> {
    let mut st = conn
        .prepare(
            "SELECT id, class, subject, until, reason, created_by, created_at FROM silences \
             WHERE until > ?1 ORDER BY created_at, id",
        )
        .map_err(sql("reading silences"))?;
    let rows = st
        .query_map([now], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .map_err(sql("reading silences"))?;
    let mut out = Vec::new();
    for r in rows {
        let (id, class, subject, until, reason, created_by, created_at) = r.map_err(sql("reading silences"))?;
        let class = class.as_deref().map(|c| parse(c, "alert class")).transpose()?;
        out.push(Silence { id, class, subject, until, reason, created_by, created_at });
    }
    Ok(out)
}

pub fn insert_silence(conn: &Connection, s: &Silence) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO silences (id, class, subject, until, reason, created_by, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![s.id, s.class.map(AlertClass::as_str), s.subject, s.until, s.reason, s.created_by, s.created_at],
    )
    .map_err(sql("recording a silence"))?;
    Ok(())
}

pub fn delete_silence(conn: &Connection, id: &str) -> Result<bool, StateError> {
    Ok(conn.execute("DELETE FROM silences WHERE id = ?1", [id]).map_err(sql("removing a silence"))? > 0)
}

/// The first silence that matches an alert's class and subject.
pub fn silence_for<'a>(silences: &'a [Silence], a: &Alert) -> Option<&'a Silence> {
    silences.iter().find(|s| {
        (s.class.is_some() || s.subject.is_some())
            && s.class.is_none_or(|c| c == a.class)
            && s.subject.as_deref().is_none_or(|sub| sub == a.subject)
    })
}

// --- policies ---------------------------------------------------------------------------------

/// The delivery in force for a class: an admin's choice, else the default.
pub fn delivery_of(conn: &Connection, class: AlertClass) -> Result<Delivery, StateError> {
    Ok(policy_overrides(conn)?.get(&class).copied().unwrap_or_else(|| super::rules::default_delivery(class)))
}

pub fn policy_overrides(conn: &Connection) -> Result<HashMap<AlertClass, Delivery>, StateError> {
    let mut st = conn.prepare("SELECT class, delivery FROM alert_policies").map_err(sql("reading alert policies"))?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(sql("reading alert policies"))?;
    let mut out = HashMap::new();
    for r in rows {
        let (class, delivery) = r.map_err(sql("reading alert policies"))?;
        out.insert(parse(&class, "alert class")?, parse(&delivery, "delivery")?);
    }
    Ok(out)
}

pub fn set_policy(conn: &Connection, class: AlertClass, delivery: Option<Delivery>) -> Result<(), StateError> {
    match delivery {
        Some(d) => conn.execute(
            "INSERT INTO alert_policies (class, delivery) VALUES (?1, ?2) \
             ON CONFLICT (class) DO UPDATE SET delivery = excluded.delivery",
            params![class.as_str(), d.as_str()],
        ),
        None => conn.execute("DELETE FROM alert_policies WHERE class = ?1", [class.as_str()]),
    }
    .map_err(sql("setting an alert policy"))?;
    Ok(())
}

/// Per class, how many alerts of it went out in delivered messages since `since` (a digest
/// counts each alert it carried).
pub fn sent_since(conn: &Connection, since: i64) -> Result<HashMap<String, u64>, StateError> {
    let mut st = conn
        .prepare(
            "SELECT json_extract(j.value, '$.class'), COUNT(*) FROM outbox o, json_each(o.payload, '$.alerts') j \
             WHERE o.delivered_at >= ?1 GROUP BY 1",
        )
        .map_err(sql("counting deliveries"))?;
    let rows = st
        .query_map([since], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?)))
        .map_err(sql("counting deliveries"))?;
    let mut out = HashMap::new();
    for r in rows {
        let (class, n) = r.map_err(sql("counting deliveries"))?;
        if let Some(class) = class {
            out.insert(class, u64::try_from(n).unwrap_or(0));
        }
    }
    Ok(out)
}

// --- channels (read only) ---------------------------------------------------------------------

/// A channel as the outbox needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    pub name: String,
    pub min_level: AlertLevel,
    /// Alertmanager wants active alerts re-sent while they last.
    pub alertmanager: bool,
}

/// Whether a stored spec (a `ChannelSpec` or its `ChannelKind`, as JSON) is an Alertmanager push.
fn is_alertmanager(spec: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let kind = v.get("kind").unwrap_or(&v);
    kind.get("type").and_then(|t| t.as_str()) == Some("alertmanager")
}

pub fn channels(conn: &Connection) -> Result<Vec<ChannelRow>, StateError> {
    let mut st = conn
        .prepare("SELECT name, spec, min_level FROM alert_channels ORDER BY name")
        .map_err(sql("reading channels"))?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .map_err(sql("reading channels"))?;
    let mut out = Vec::new();
    for r in rows {
        let (name, spec, min_level) = r.map_err(sql("reading channels"))?;
        out.push(ChannelRow { alertmanager: is_alertmanager(&spec), min_level: parse(&min_level, "level")?, name });
    }
    Ok(out)
}

pub fn channel_result(conn: &Connection, channel: &str, now: i64, error: Option<&str>) -> Result<(), StateError> {
    match error {
        None => conn.execute(
            "UPDATE alert_channels SET last_delivered = ?2, last_error = NULL WHERE name = ?1",
            params![channel, now],
        ),
        Some(e) => conn.execute("UPDATE alert_channels SET last_error = ?2 WHERE name = ?1", params![channel, e]),
    }
    .map_err(sql("recording a channel's result"))?;
    Ok(())
}

// --- the outbox -------------------------------------------------------------------------------

/// An outbox row's message as stored: the JSON shape of the channels' `Outgoing`, which the
/// outbox reads it back as (a unit test holds the two together). Written here so the engine
/// need not import the channels module.
#[derive(Debug, Serialize)]
pub struct Message {
    pub kind: MessageKind,
    pub alerts: Vec<Alert>,
    pub instance: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Firing,
    Resolved,
    Digest,
}

/// What a row carries: a firing, a resolution, or a digest.
pub mod event {
    pub const FIRING: &str = "firing";
    pub const RESOLVED: &str = "resolved";
    pub const DIGEST: &str = "digest";
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub alert_id: Option<String>,
    pub event: String,
    pub payload: String,
    pub created: i64,
    pub attempts: i64,
    pub next_attempt: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

#[allow(clippy::too_many_arguments)] // one row's columns
pub fn queue(
    conn: &Connection,
    channel: &str,
    alert_id: Option<&str>,
    class: Option<AlertClass>,
    event: &str,
    payload: &str,
    now: i64,
    due: i64,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO outbox (channel, alert_id, class, event, payload, created, next_attempt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![channel, alert_id, class.map(AlertClass::as_str), event, payload, now, due],
    )
    .map_err(sql("queueing a delivery"))?;
    Ok(())
}

const OUTBOX_COLUMNS: &str =
    "id, channel, alert_id, event, payload, created, attempts, next_attempt, delivered_at, last_error";

fn outbox_where(conn: &Connection, clause: &str, args: impl rusqlite::Params) -> Result<Vec<OutboxRow>, StateError> {
    let mut st =
        conn.prepare(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox {clause}")).map_err(sql("reading the outbox"))?;
    let rows = st
        .query_map(args, |r| {
            Ok(OutboxRow {
                id: r.get(0)?,
                channel: r.get(1)?,
                alert_id: r.get(2)?,
                event: r.get(3)?,
                payload: r.get(4)?,
                created: r.get(5)?,
                attempts: r.get(6)?,
                next_attempt: r.get(7)?,
                delivered_at: r.get(8)?,
                last_error: r.get(9)?,
            })
        })
        .map_err(sql("reading the outbox"))?;
    rows.collect::<Result<_, _>>().map_err(sql("reading the outbox"))
}

/// Every row still to be sent (due or not), oldest first.
pub fn undelivered(conn: &Connection) -> Result<Vec<OutboxRow>, StateError> {
    outbox_where(conn, "WHERE delivered_at IS NULL AND next_attempt < ?1 ORDER BY id", [NEVER])
}

pub fn rows_of_alert(conn: &Connection, alert_id: &str) -> Result<Vec<OutboxRow>, StateError> {
    outbox_where(conn, "WHERE alert_id = ?1 ORDER BY id", [alert_id])
}

#[cfg(test)]
pub fn all_rows(conn: &Connection) -> Result<Vec<OutboxRow>, StateError> {
    outbox_where(conn, "ORDER BY id", [])
}

/// Drops the resolutions of an alert not yet sent (it came back inside the flap window).
pub fn cancel_resolutions(conn: &Connection, alert_id: &str) -> Result<usize, StateError> {
    conn.execute("DELETE FROM outbox WHERE alert_id = ?1 AND event = 'resolved' AND delivered_at IS NULL", [alert_id])
        .map_err(sql("cancelling a resolution"))
}

pub fn mark_delivered(conn: &Connection, id: i64, now: i64) -> Result<(), StateError> {
    conn.execute(
        "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        params![id, now],
    )
    .map_err(sql("marking a delivery"))?;
    Ok(())
}

/// Records a failed attempt; `next` is when to try again (`NEVER`: given up).
pub fn mark_failed(conn: &Connection, id: i64, next: i64, error: &str) -> Result<(), StateError> {
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE id = ?1",
        params![id, next, error],
    )
    .map_err(sql("recording a failed delivery"))?;
    Ok(())
}

/// Holds a row back for good without an attempt (its alert was dismissed or silenced, its
/// channel removed).
pub fn drop_row(conn: &Connection, id: i64, why: &str) -> Result<(), StateError> {
    conn.execute("UPDATE outbox SET next_attempt = ?2, last_error = ?3 WHERE id = ?1", params![id, NEVER, why])
        .map_err(sql("dropping a delivery"))?;
    Ok(())
}

/// How long resolved alerts and finished outbox rows are kept.
pub const KEEP_RESOLVED_SECS: i64 = 90 * 86_400;
pub const KEEP_SENT_SECS: i64 = 30 * 86_400;

/// Forgets resolved alerts after 90 days and finished outbox rows (delivered or given up) after
/// 30, so the tables stay small; what is active or still to be sent is never touched.
pub fn prune(conn: &Connection, now: i64) -> Result<(), StateError> {
    conn.execute(
        "DELETE FROM outbox WHERE created < ?1 AND (delivered_at IS NOT NULL OR next_attempt = ?2)",
        params![now - KEEP_SENT_SECS, NEVER],
    )
    .map_err(sql("pruning the outbox"))?;
    conn.execute(
        "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1 \
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id)",
        [now - KEEP_RESOLVED_SECS],
    )
    .map_err(sql("pruning resolved alerts"))?;
    Ok(())
}

pub fn setting_i64(conn: &Connection, key: &str) -> Result<Option<i64>, StateError> {
    Ok(crate::state::setting(conn, key)?.and_then(|v| v.parse().ok()))
}

pub fn set_setting_i64(conn: &Connection, key: &str, v: i64) -> Result<(), StateError> {
    crate::state::set_setting(conn, key, &v.to_string())
}

/// A fresh alert or silence id.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    // An id only needs to be unique; fall back to the clock if the kernel has no entropy yet.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&t.as_nanos().to_le_bytes()[..8]);
    }
    format!("{prefix}-{}", hex::encode(b))
}
