//! The engine proper: a snapshot's findings against what is stored. Opens, updates,
//! re-opens (flap guard) and resolves alerts, keeps the baselines, and queues deliveries in the
//! same transaction as the change that causes them.
//!
//! It works on a connection and imports neither the daemon context nor the channels (the
//! layout rule: `alerts/mod.rs` and the daemon context name each other, so what they import
//! must not lead back). The message it queues is `store::Message`, which the outbox reads back
//! as the channels' `Outgoing`.

use super::rules::{self, Finding, Memory};
use super::store::{self, MessageKind};
use crate::state::StateError;
use corenas_proto::monitor::{Alert, AlertClass, AlertState, Delivery, HealthSnapshot};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashSet;

/// A key that resolved and comes back within this window re-opens its alert, and the
/// resolution (held back this long before it is sent) is never sent: a flap makes no noise.
pub const FLAP_WINDOW_SECS: i64 = 600;
const LAST_EVALUATION: &str = "alerts.last_evaluation";

/// This machine's name for subjects and labels (its hostname), one clean line.
pub fn instance_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| rules::clean(s.trim(), 64))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "corenas".to_owned())
}

/// The collector whose data a class is judged on: a class is resolved only when its collector
/// has succeeded at least once (a cache not filled yet must not resolve everything).
fn domain(class: AlertClass) -> Option<&'static [&'static str]> {
    Some(match class {
        AlertClass::PoolDegraded | AlertClass::PoolCapacity | AlertClass::ScrubErrors | AlertClass::ScrubOverdue => {
            &["pools", "pool"]
        }
        AlertClass::DiskFailing
        | AlertClass::DiskAttributeRising
        | AlertClass::DiskTemperature
        | AlertClass::DiskWear => &["disks", "disk", "smart"],
        AlertClass::MountDown => &["mounts", "mount"],
        AlertClass::JobFailed => &["jobs", "job"],
        AlertClass::AuditChain => &["audit"],
        AlertClass::HelperFailing => &["helper"],
        AlertClass::CheckFailed => &[],
        AlertClass::BackupFailed
        | AlertClass::BackupOverdue
        | AlertClass::BackupCheckFailed
        | AlertClass::BackupRestoreTestFailed
        | AlertClass::BackupUnverified
        | AlertClass::BackupStaleLock => &["backups"],
        // Raised elsewhere (the outbox): the rules never resolve it.
        AlertClass::DeliveryFailed => return None,
    })
}

/// When the data a class is judged on was last read: its collector's last success.
fn reading_time(s: &HealthSnapshot, class: AlertClass) -> Option<i64> {
    let names = domain(class)?;
    s.collectors.iter().filter(|c| names.contains(&c.name.as_str())).find_map(|c| c.last_success)
}

fn observed(s: &HealthSnapshot, class: AlertClass) -> bool {
    let Some(names) = domain(class) else { return false };
    !s.collectors.iter().any(|c| names.contains(&c.name.as_str()) && c.last_success.is_none())
}

/// Keeps the baselines: first sightings of pools and disk attributes, dismissed attribute
/// alerts taking the current values, helper error counts and when they last rose.
fn keep_baselines(
    conn: &Connection,
    s: &HealthSnapshot,
    active: &[Alert],
    b: &mut store::Baselines,
    now: i64,
) -> Result<(), StateError> {
    fn set(
        conn: &Connection,
        b: &mut store::Baselines,
        subject: String,
        attribute: String,
        value: i64,
        since: i64,
    ) -> Result<(), StateError> {
        store::set_baseline(conn, &subject, &attribute, value, since)?;
        b.insert((subject, attribute), (value, since));
        Ok(())
    }
    for p in &s.pools {
        let key = (rules::pool_subject(&p.name), "first_seen".to_owned());
        if !b.contains_key(&key) {
            set(conn, b, key.0, key.1, now, now)?;
        }
    }
    for disk in &s.disks {
        let subject = rules::clean(&disk.id, rules::SUBJECT_MAX);
        let dismissed = active
            .iter()
            .any(|a| a.class == AlertClass::DiskAttributeRising && a.subject == subject && a.dismissed_at.is_some());
        for (attribute, value) in rules::rising_values(disk) {
            match b.get(&(subject.clone(), attribute.clone())) {
                None => set(conn, b, subject.clone(), attribute, value, now)?,
                Some((old, _)) if dismissed && value > *old => set(conn, b, subject.clone(), attribute, value, now)?,
                Some(_) => {}
            }
        }
    }
    for h in s.helper.iter().filter(|h| !rules::is_refusal(&h.result)) {
        let attribute = rules::helper_key(&h.op, &h.result);
        let count = i64::try_from(h.count).unwrap_or(i64::MAX);
        match b.get(&(rules::HELPER_SUBJECT.to_owned(), attribute.clone())).copied() {
            // First sight: counts since corenasd started are not a rise seen by us.
            None => set(conn, b, rules::HELPER_SUBJECT.to_owned(), attribute, count, 0)?,
            Some((old, _)) if count > old => set(conn, b, rules::HELPER_SUBJECT.to_owned(), attribute, count, now)?,
            // corenasd restarted and its counters with it.
            Some((old, since)) if count < old => {
                set(conn, b, rules::HELPER_SUBJECT.to_owned(), attribute, count, since)?
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `evaluate` on a connection: true when deliveries were queued.
pub(crate) fn evaluate_conn(
    conn: &mut Connection,
    s: &HealthSnapshot,
    now: i64,
    instance: &str,
) -> Result<bool, StateError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(crate::state::sql("evaluating alerts"))?;
    let last_eval = store::setting_i64(&tx, LAST_EVALUATION)?.unwrap_or(now - 86_400);
    let active = store::active_alerts(&tx)?;
    let mut baselines = store::baselines(&tx)?;
    keep_baselines(&tx, s, &active, &mut baselines, now)?;
    let memory = Memory {
        now,
        last_eval,
        active: active.iter().map(|a| ((a.class, a.subject.clone()), a.level)).collect(),
        baselines,
    };
    let was_pending = store::pending(&tx)?;
    let mut pending = store::Pending::new();
    let mut seen = HashSet::new();
    let mut queued = false;
    for f in rules::findings(s, &memory) {
        let key = (f.class, f.subject.clone());
        if !seen.insert(key.clone()) {
            continue; // two names that clean to one subject: the first speaks for both
        }
        if f.sustained && !memory.active.contains_key(&key) {
            // Sustained means a later reading shows it again: the same reading looked at twice
            // (another collector's round, `monitor run`) does not count.
            let reading = reading_time(s, f.class).unwrap_or(now);
            let first = was_pending.get(&key).copied().unwrap_or(reading);
            if first >= reading {
                pending.insert(key, first);
                continue;
            }
        }
        queued |= raise(&tx, &f, now, instance)?;
    }
    store::set_pending(&tx, &pending)?;
    for a in active {
        if !seen.contains(&(a.class, a.subject.clone())) && observed(s, a.class) {
            queued |= resolve(&tx, a, now, instance)?;
        }
    }
    store::prune(&tx, now)?;
    store::set_setting_i64(&tx, LAST_EVALUATION, now)?;
    tx.commit().map_err(crate::state::sql("evaluating alerts"))?;
    Ok(queued)
}

/// Opens, updates or re-opens the alert of a finding; true when deliveries were queued.
pub(crate) fn raise(conn: &Connection, f: &Finding, now: i64, instance: &str) -> Result<bool, StateError> {
    if let Some(mut a) = store::active_alert(conn, f.class, &f.subject)? {
        let escalated = f.level > a.level;
        a.level = f.level;
        a.summary.clone_from(&f.summary);
        a.action.clone_from(&f.action);
        a.last_seen = now;
        store::update_alert(conn, &a)?;
        // Worse is news (a pool from 90 % to 95 %); better is not.
        return if escalated { queue_firing(conn, &a, now, instance) } else { Ok(false) };
    }
    // A dismissed alert that resolved and comes back is news, not a flap (a disk attribute
    // rising again over the baseline its dismissal set).
    let flapped =
        store::resolved_since(conn, f.class, &f.subject, now - FLAP_WINDOW_SECS)?.filter(|a| a.dismissed_at.is_none());
    if let Some(mut a) = flapped {
        // A flap: the same alert again, its held-back resolution dropped, nothing re-sent.
        a.state = AlertState::Active;
        a.resolved_at = None;
        a.level = f.level;
        a.summary.clone_from(&f.summary);
        a.action.clone_from(&f.action);
        a.last_seen = now;
        store::update_alert(conn, &a)?;
        store::cancel_resolutions(conn, &a.id)?;
        return Ok(false);
    }
    let a = Alert {
        id: store::new_id("al"),
        class: f.class,
        subject: f.subject.clone(),
        level: f.level,
        state: AlertState::Active,
        summary: f.summary.clone(),
        action: f.action.clone(),
        first_seen: now,
        last_seen: now,
        resolved_at: None,
        dismissed_by: None,
        dismissed_at: None,
        silenced_by: None,
    };
    store::insert_alert(conn, &a)?;
    tracing::warn!(
        message_id = corenas_proto::logging::MSG_ALERT_RAISED,
        alert_id = %a.id,
        class = %a.class,
        subject = %a.subject,
        level = %a.level,
        "alert raised: {}",
        a.summary
    );
    queue_firing(conn, &a, now, instance)
}

/// Resolves an active alert and queues its resolution where its firing went (held back for
/// the flap window); true when deliveries were queued.
pub(crate) fn resolve(conn: &Connection, mut a: Alert, now: i64, instance: &str) -> Result<bool, StateError> {
    a.state = AlertState::Resolved;
    a.resolved_at = Some(now);
    store::update_alert(conn, &a)?;
    if a.dismissed_at.is_some() {
        return Ok(false);
    }
    let mut told: Vec<String> = store::rows_of_alert(conn, &a.id)?
        .into_iter()
        .filter(|r| r.event == store::event::FIRING && (r.delivered_at.is_some() || r.next_attempt != store::NEVER))
        .map(|r| r.channel)
        .collect();
    told.sort();
    told.dedup();
    let payload = payload(MessageKind::Resolved, vec![a.clone()], instance)?;
    for channel in &told {
        store::queue(
            conn,
            channel,
            Some(&a.id),
            Some(a.class),
            store::event::RESOLVED,
            &payload,
            now,
            now + FLAP_WINDOW_SECS,
        )?;
    }
    Ok(!told.is_empty())
}

pub(crate) fn payload(kind: MessageKind, alerts: Vec<Alert>, instance: &str) -> Result<String, StateError> {
    serde_json::to_string(&store::Message { kind, alerts, instance: instance.to_owned() })
        .map_err(|e| StateError::InvalidRecord { detail: format!("an outgoing message: {e}") })
}

/// Queues an alert's firing on every channel that takes its level, if its class is delivered
/// at once and no silence holds it; true when queued.
fn queue_firing(conn: &Connection, a: &Alert, now: i64, instance: &str) -> Result<bool, StateError> {
    if store::delivery_of(conn, a.class)? != Delivery::Immediate
        || a.dismissed_at.is_some()
        || store::silence_for(&store::active_silences(conn, now)?, a).is_some()
    {
        return Ok(false);
    }
    let payload = payload(MessageKind::Firing, vec![a.clone()], instance)?;
    let mut queued = false;
    for c in store::channels(conn)? {
        // A channel's own failure goes to the others only.
        if c.min_level > a.level || (a.class == AlertClass::DeliveryFailed && c.name == a.subject) {
            continue;
        }
        store::queue(conn, &c.name, Some(&a.id), Some(a.class), store::event::FIRING, &payload, now, now)?;
        queued = true;
    }
    Ok(queued)
}
