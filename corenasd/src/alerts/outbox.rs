//! The durable outbox: every delivery is a row first, sent with retries and backoff, so a
//! restart or a relay that is down delays a message but neither loses nor repeats it.
//!
//! A row is marked delivered in the same transaction that records the channel's success, so a
//! restart never re-sends what went out. (A crash between the server's "accepted" and that
//! commit sends that one message twice: at least once, never lost, is the promise.) A channel
//! that fails raises a `delivery_failed` alert about itself, delivered on the other channels
//! only, resolved by its next success. Alertmanager channels also get every active alert again
//! each minute, which is Alertmanager's contract (an alert not re-sent expires there).

use super::store::{self, OutboxRow};
use super::{channels, rules};
use crate::daemon::Daemon;
use crate::state::StateError;
use channels::{Outgoing, OutgoingKind};
use corenas_proto::monitor::{Alert, AlertClass, AlertLevel, AlertState, Delivery};
use rusqlite::Connection;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two attempts of one message.
pub const MAX_BACKOFF_SECS: i64 = 3_600;
/// A message not delivered within this long is given up (and the failure stays alerted).
pub const GIVE_UP_SECS: i64 = 24 * 3_600;
/// Alertmanager forgets an alert not re-sent for its resolve timeout: re-send every minute.
pub const RESEND_SECS: i64 = 60;
/// The daily digest goes out at this local hour.
pub const DIGEST_HOUR: i64 = 8;
const LAST_DIGEST: &str = "alerts.last_digest";
/// Tests only: send the digest every this many seconds instead of daily at 08:00.
const DIGEST_SECS_ENV: &str = "CORENAS_OUTBOX_DIGEST_SECS";

/// The wait before attempt `attempts + 1`, after `attempts` failures: `first`, doubling, at most
/// an hour.
pub fn backoff(first: i64, attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    first.max(1).saturating_mul(1_i64 << doublings).min(MAX_BACKOFF_SECS)
}

/// Delivers due messages; retries after `first_retry`, doubling up to an hour.
pub async fn run(d: Arc<Daemon>, first_retry: Duration) {
    let first = i64::try_from(first_retry.as_secs()).unwrap_or(60).max(1);
    let digest_every =
        std::env::var(DIGEST_SECS_ENV).ok().and_then(|v| v.parse::<i64>().ok()).filter(|n| (1..=86_400).contains(n));
    let mut next_resend = 0;
    loop {
        let now = super::now();
        if let Err(e) = deliver_due(&d, first, now).await {
            tracing::error!(error = %e, "outbox: delivering");
        }
        if let Err(e) = with_conn(&d, |c| queue_digest(c, now, digest_every, &super::engine::instance_name())) {
            tracing::error!(error = %e, "outbox: the digest");
        }
        if let Err(e) = with_conn(&d, |c| resolve_removed_channels(c, now, &super::engine::instance_name())) {
            tracing::error!(error = %e, "outbox: tidying the failures of removed channels");
        }
        if now >= next_resend {
            next_resend = now + RESEND_SECS;
            if let Err(e) = resend_alertmanager(&d, now).await {
                tracing::error!(error = %e, "outbox: re-sending to Alertmanager");
            }
        }
        let next_due = with_conn(&d, next_due).unwrap_or(None).unwrap_or(i64::MAX);
        let wait = next_due.min(next_resend).saturating_sub(super::now()).clamp(1, RESEND_SECS);
        let wait = Duration::from_secs(u64::try_from(wait).unwrap_or(1));
        tokio::select! {
            () = d.alerts.outbox_wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn with_conn<T>(d: &Daemon, f: impl FnOnce(&mut Connection) -> Result<T, StateError>) -> Result<T, StateError> {
    let mut st = d.state.lock().map_err(|_| StateError::Corrupt { detail: "state lock poisoned".into() })?;
    f(st.conn_mut())
}

fn next_due(conn: &mut Connection) -> Result<Option<i64>, StateError> {
    Ok(store::undelivered(conn)?.iter().map(|r| r.next_attempt).min())
}

/// What to do with a due row.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Send(Outgoing),
    /// Not yet: its alert's firing on this channel is still on its way.
    Wait,
    /// Never: why.
    Drop(String),
}

/// Decides a due row's fate from what is true now.
pub(crate) fn verdict(conn: &Connection, row: &OutboxRow, now: i64) -> Result<Verdict, StateError> {
    if !store::channels(conn)?.iter().any(|c| c.name == row.channel) {
        return Ok(Verdict::Drop("not sent: the channel was removed".into()));
    }
    if let Some(id) = &row.alert_id {
        let Some(alert) = store::alert(conn, id)? else {
            return Ok(Verdict::Drop("not sent: the alert is gone".into()));
        };
        if row.event == store::event::FIRING {
            if alert.dismissed_at.is_some() {
                return Ok(Verdict::Drop("not sent: the alert was dismissed".into()));
            }
            if let Some(s) = store::silence_for(&store::active_silences(conn, now)?, &alert) {
                return Ok(Verdict::Drop(format!("not sent: silenced by {}", s.id)));
            }
        } else if row.event == store::event::RESOLVED {
            let firings: Vec<OutboxRow> = store::rows_of_alert(conn, id)?
                .into_iter()
                .filter(|r| r.event == store::event::FIRING && r.channel == row.channel && r.id < row.id)
                .collect();
            if firings.iter().any(|r| r.delivered_at.is_none() && r.next_attempt != store::NEVER) {
                return Ok(Verdict::Wait);
            }
            if !firings.iter().any(|r| r.delivered_at.is_some()) {
                return Ok(Verdict::Drop("not sent: its firing never went out".into()));
            }
        }
    }
    Ok(match serde_json::from_str::<Outgoing>(&row.payload) {
        Ok(msg) => Verdict::Send(msg),
        Err(e) => Verdict::Drop(format!("not sent: the stored message is unreadable ({e})")),
    })
}

async fn deliver_due(d: &Daemon, first: i64, now: i64) -> Result<(), StateError> {
    let rows: Vec<OutboxRow> =
        with_conn(d, |c| store::undelivered(c))?.into_iter().filter(|r| r.next_attempt <= now).collect();
    let mut failed: HashSet<String> = HashSet::new();
    for row in rows {
        // One failure per channel per pass: the rest waits for the next attempt.
        if failed.contains(&row.channel) {
            continue;
        }
        let msg = match with_conn(d, |c| verdict(c, &row, now))? {
            Verdict::Send(msg) => msg,
            Verdict::Wait => continue,
            Verdict::Drop(why) => {
                with_conn(d, |c| store::drop_row(c, row.id, &why))?;
                continue;
            }
        };
        let report = channels::deliver(d, &row.channel, &msg).await;
        let done = super::now();
        let instance = msg.instance.clone();
        if report.ok {
            with_conn(d, |c| record_success(c, &row.channel, Some(row.id), done, &instance))?;
        } else {
            failed.insert(row.channel.clone());
            let error = report.error.unwrap_or_else(|| "the channel reported a failure".into());
            with_conn(d, |c| record_failure(c, &row, &error, first, done, &instance))?;
            d.alerts.outbox_wake.notify_one();
        }
    }
    Ok(())
}

/// A delivery went out: the row and the channel say so, in one transaction, and the channel's
/// `delivery_failed` alert (if any) resolves.
pub(crate) fn record_success(
    conn: &mut Connection,
    channel: &str,
    row: Option<i64>,
    now: i64,
    instance: &str,
) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(crate::state::sql("recording a delivery"))?;
    if let Some(id) = row {
        store::mark_delivered(&tx, id, now)?;
    }
    store::channel_result(&tx, channel, now, None)?;
    if let Some(a) = store::active_alert(&tx, AlertClass::DeliveryFailed, &rules::clean(channel, rules::SUBJECT_MAX))? {
        super::engine::resolve(&tx, a, now, instance)?;
    }
    tx.commit().map_err(crate::state::sql("recording a delivery"))
}

/// A delivery failed: retry later with backoff, or give up after a day; either way the
/// channel's failure is alerted (on the other channels).
pub(crate) fn record_failure(
    conn: &mut Connection,
    row: &OutboxRow,
    error: &str,
    first: i64,
    now: i64,
    instance: &str,
) -> Result<(), StateError> {
    let error = rules::clean(error, 400);
    let attempts = row.attempts + 1;
    let gave_up = now - row.created >= GIVE_UP_SECS;
    let tx = conn.transaction().map_err(crate::state::sql("recording a failed delivery"))?;
    if gave_up {
        store::mark_failed(&tx, row.id, store::NEVER, &format!("gave up after 24 h and {attempts} attempts: {error}"))?;
    } else {
        store::mark_failed(&tx, row.id, now + backoff(first, attempts), &error)?;
    }
    store::channel_result(&tx, &row.channel, now, Some(&error))?;
    let state = if gave_up {
        format!("a message was given up after {attempts} attempts over 24 h")
    } else {
        format!("attempt {attempts} failed, retrying with backoff")
    };
    raise_delivery_failed(&tx, &row.channel, &format!("{state}: {error}"), now, instance)?;
    tx.commit().map_err(crate::state::sql("recording a failed delivery"))
}

fn raise_delivery_failed(
    conn: &Connection,
    channel: &str,
    why: &str,
    now: i64,
    instance: &str,
) -> Result<(), StateError> {
    let f = rules::Finding {
        class: AlertClass::DeliveryFailed,
        subject: rules::clean(channel, rules::SUBJECT_MAX),
        level: AlertLevel::Error,
        summary: rules::clean(&format!("channel {channel} could not deliver: {why}"), rules::SUMMARY_MAX),
        action: rules::action(AlertClass::DeliveryFailed).to_owned(),
        sustained: false,
    };
    super::engine::raise(conn, &f, now, instance)?;
    Ok(())
}

/// A removed channel's `delivery_failed` alert resolves: there is nothing left to fix.
pub(crate) fn resolve_removed_channels(conn: &mut Connection, now: i64, instance: &str) -> Result<(), StateError> {
    let tx = conn.transaction().map_err(crate::state::sql("tidying delivery failures"))?;
    let names: HashSet<String> = store::channels(&tx)?.into_iter().map(|c| c.name).collect();
    for a in store::active_alerts(&tx)? {
        if a.class == AlertClass::DeliveryFailed && !names.contains(&a.subject) {
            super::engine::resolve(&tx, a, now, instance)?;
        }
    }
    tx.commit().map_err(crate::state::sql("tidying delivery failures"))
}

/// Every active alert an Alertmanager channel should hold, sent again.
async fn resend_alertmanager(d: &Daemon, now: i64) -> Result<(), StateError> {
    let batches = with_conn(d, |c| alertmanager_batches(c, now))?;
    let instance = super::engine::instance_name();
    for (channel, alerts) in batches {
        let msg = Outgoing { kind: OutgoingKind::Firing, alerts, instance: instance.clone() };
        let report = channels::deliver(d, &channel, &msg).await;
        let done = super::now();
        let result = if report.ok {
            with_conn(d, |c| record_success(c, &channel, None, done, &instance))
        } else {
            let error = rules::clean(report.error.as_deref().unwrap_or("the channel reported a failure"), 400);
            with_conn(d, |c| {
                let tx = c.transaction().map_err(crate::state::sql("recording a failed re-send"))?;
                store::channel_result(&tx, &channel, done, Some(&error))?;
                raise_delivery_failed(
                    &tx,
                    &channel,
                    &format!("the re-send of active alerts failed: {error}"),
                    done,
                    &instance,
                )?;
                tx.commit().map_err(crate::state::sql("recording a failed re-send"))
            })
        };
        result?;
        d.alerts.outbox_wake.notify_one();
    }
    Ok(())
}

/// Per Alertmanager channel, the active alerts it takes: not dismissed, not silenced, of a
/// class that is delivered at all, at its level or above, and not its own failure.
pub(crate) fn alertmanager_batches(conn: &Connection, now: i64) -> Result<Vec<(String, Vec<Alert>)>, StateError> {
    let silences = store::active_silences(conn, now)?;
    let mut alerts = Vec::new();
    for a in store::active_alerts(conn)? {
        if a.dismissed_at.is_none()
            && store::silence_for(&silences, &a).is_none()
            && store::delivery_of(conn, a.class)? != Delivery::Never
        {
            alerts.push(a);
        }
    }
    Ok(store::channels(conn)?
        .into_iter()
        .filter(|c| c.alertmanager)
        .map(|c| {
            let mine: Vec<Alert> = alerts
                .iter()
                .filter(|a| a.level >= c.min_level && !(a.class == AlertClass::DeliveryFailed && a.subject == c.name))
                .cloned()
                .collect();
            (c.name, mine)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect())
}

/// Queues the digest when it is due: per channel, one message with the digest classes' alerts
/// raised since the last digest. The first run only starts the clock.
pub(crate) fn queue_digest(
    conn: &mut Connection,
    now: i64,
    every: Option<i64>,
    instance: &str,
) -> Result<bool, StateError> {
    let tx = conn.transaction().map_err(crate::state::sql("queueing the digest"))?;
    let Some(last) = store::setting_i64(&tx, LAST_DIGEST)? else {
        store::set_setting_i64(&tx, LAST_DIGEST, now)?;
        tx.commit().map_err(crate::state::sql("queueing the digest"))?;
        return Ok(false);
    };
    let due = match every {
        Some(n) => now - last >= n,
        None => {
            let at = local_hour_today(now, DIGEST_HOUR);
            now >= at && last < at
        }
    };
    if !due {
        return Ok(false);
    }
    let silences = store::active_silences(&tx, now)?;
    let mut fresh = Vec::new();
    for a in store::all_alerts(&tx, 10_000)? {
        if a.first_seen > last
            && a.dismissed_at.is_none()
            && store::silence_for(&silences, &a).is_none()
            && store::delivery_of(&tx, a.class)? == Delivery::Digest
        {
            fresh.push(a);
        }
    }
    fresh.sort_by_key(|a| (a.first_seen, a.state != AlertState::Active));
    let mut queued = false;
    for c in store::channels(&tx)? {
        let mine: Vec<Alert> = fresh.iter().filter(|a| a.level >= c.min_level).cloned().collect();
        if mine.is_empty() {
            continue;
        }
        let payload = super::engine::payload(store::MessageKind::Digest, mine, instance)?;
        store::queue(&tx, &c.name, None, None, store::event::DIGEST, &payload, now, now)?;
        queued = true;
    }
    store::set_setting_i64(&tx, LAST_DIGEST, now)?;
    tx.commit().map_err(crate::state::sql("queueing the digest"))?;
    Ok(queued)
}

/// Today's `hour`:00 in the server's local time zone, as seconds since the epoch.
pub fn local_hour_today(now: i64, hour: i64) -> i64 {
    let offset = crate::localtime::offset_at(now);
    let local = now + offset;
    local - local.rem_euclid(86_400) + hour * 3_600 - offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_retry_up_to_an_hour() {
        assert_eq!(backoff(60, 1), 60);
        assert_eq!(backoff(60, 2), 120);
        assert_eq!(backoff(60, 3), 240);
        assert_eq!(backoff(60, 7), 3_600);
        assert_eq!(backoff(60, 1_000), 3_600);
        assert_eq!(backoff(1, 1), 1);
        assert_eq!(backoff(1, 5), 16);
        assert_eq!(backoff(0, 0), 1);
    }

    #[test]
    fn the_digest_hour_is_local() {
        // 08:00 today is within the day and on the hour, in the host's zone.
        let at = local_hour_today(1_783_036_800, 8);
        assert!((at - 1_783_036_800).abs() < 86_400);
        assert_eq!((at + crate::localtime::offset_at(at)).rem_euclid(86_400), 8 * 3_600);
    }
}
