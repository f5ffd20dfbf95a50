//! Health work on a schedule: scrubs per pool and SMART self-tests, started by corenasd's own
//! timer (no cron) as storage jobs with progress, each start (and each failure to start) audited.
//!
//! When: a schedule runs at `hour`:00 in the server's local time (DST included: the hour is
//! local on the day it runs; an hour skipped by a spring-forward runs at the first instant after
//! the gap, and an hour that happens twice runs at the first). Daily: every day; weekly: every
//! Sunday; monthly: the first day of the month. Where the local offset cannot be read, UTC.
//!
//! Defaults: every pool CoreNAS knows is scrubbed monthly (the 1st, 03:00 local) unless an admin
//! set otherwise; SMART self-tests have none. A default first seen now starts counting now (an
//! upgrade does not scrub every pool at once). A schedule set during its own hour runs within
//! that hour. A run missed while corenasd was down runs once at the next start, not once per
//! missed period. A failed start is not retried before the next period (it is audited).
//!
//! Rows: `health_schedules(work, spec, last_run, last_job)`, `work` the JSON of [`HealthWork`].
//! Must not: scrub a pool that is already scrubbing, or start work for a pool CoreNAS does not
//! know.

use crate::daemon::Daemon;
use crate::state::sql;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{Cadence, HealthSchedule, HealthScheduleSpec, HealthWork};
use corenas_proto::names::PoolName;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// The built-in scrub: monthly at 03:00 local.
pub const DEFAULT_SCRUB_HOUR: u8 = 3;

/// What `spec` holds besides the work (which is the key).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Stored {
    every: Cadence,
    hour: u8,
    /// The built-in default, not set by an admin.
    default: bool,
    /// When counting starts for a schedule that never ran (seconds since the epoch).
    since: i64,
}

struct Row {
    work: HealthWork,
    stored: Stored,
    last_run: Option<i64>,
    last_job: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Due times.

/// The offset of local time at an instant; UTC when the system cannot say (no /etc/localtime).
pub fn local_offset(t: OffsetDateTime) -> UtcOffset {
    // Not `UtcOffset::local_offset_at`: it refuses in a process with threads (always UTC here).
    i32::try_from(crate::localtime::offset_at(t.unix_timestamp()))
        .ok()
        .and_then(|s| UtcOffset::from_whole_seconds(s).ok())
        .unwrap_or(UtcOffset::UTC)
}

/// The instant a local wall-clock time names, for an `offset_at` that may change (DST): of two
/// instants (a repeated hour) the first; in a gap, the wall time read with the offset before it,
/// which lands just after the gap.
fn local_instant(wall: PrimitiveDateTime, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> OffsetDateTime {
    let naive = wall.assume_utc();
    let before = offset_at(naive - Duration::days(1));
    let after = offset_at(naive + Duration::days(1));
    let mut valid: Vec<OffsetDateTime> =
        [before, after].into_iter().map(|o| wall.assume_offset(o)).filter(|t| offset_at(*t) == t.offset()).collect();
    valid.sort();
    valid.first().copied().unwrap_or_else(|| wall.assume_offset(before)).to_offset(UtcOffset::UTC)
}

fn runs_on(every: Cadence, d: Date) -> bool {
    match every {
        Cadence::Off => false,
        Cadence::Daily => true,
        Cadence::Weekly => d.weekday() == Weekday::Sunday,
        Cadence::Monthly => d.day() == 1,
    }
}

/// The first slot of `every` at `hour` local that is at or after `from` (seconds since the
/// epoch); None for `off` or a time out of range.
pub fn next_slot(every: Cadence, hour: u8, from: i64, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> Option<i64> {
    let at = Time::from_hms(hour, 0, 0).ok()?;
    let from_t = OffsetDateTime::from_unix_timestamp(from).ok()?;
    // A day early: the slot's local date may be behind `from`'s around an offset change.
    let mut day = from_t.to_offset(offset_at(from_t)).date().previous_day()?;
    // Monthly is the sparsest: a slot comes within 32 days.
    for _ in 0..40 {
        if runs_on(every, day) {
            let t = local_instant(PrimitiveDateTime::new(day, at), offset_at).unix_timestamp();
            if t >= from {
                return Some(t);
            }
        }
        day = day.next_day()?;
    }
    None
}

/// The start of the local hour `t` is in: a schedule set during its hour still runs in it.
fn hour_start(t: i64, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> i64 {
    match OffsetDateTime::from_unix_timestamp(t) {
        Ok(u) => {
            let l = u.to_offset(offset_at(u));
            t - i64::from(l.minute()) * 60 - i64::from(l.second())
        }
        Err(_) => t,
    }
}

/// When a schedule runs next: the first slot after its last run, or from when it counts.
fn next_run(stored: &Stored, last_run: Option<i64>, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> Option<i64> {
    let from = last_run.map_or(stored.since, |l| l.saturating_add(1).max(stored.since));
    next_slot(stored.every, stored.hour, from, offset_at)
}

// ---------------------------------------------------------------------------------------------
// Rows.

fn key(work: &HealthWork) -> Result<String, WireError> {
    serde_json::to_string(work).map_err(|e| WireError::internal(format!("encoding a schedule key: {e}")))
}

fn rows(d: &Daemon) -> Result<Vec<Row>, WireError> {
    let raw: Vec<(String, String, Option<i64>, Option<String>)> = d.with_state(|s| {
        let mut stmt = s
            .conn()
            .prepare("SELECT work, spec, last_run, last_job FROM health_schedules ORDER BY work")
            .map_err(sql("listing health schedules"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(sql("listing health schedules"))?;
        rows.collect::<Result<_, _>>().map_err(sql("listing health schedules"))
    })?;
    Ok(raw
        .into_iter()
        .filter_map(|(work, spec, last_run, last_job)| {
            // A row this build cannot read is left alone (and logged), not fatal for the rest.
            match (serde_json::from_str(&work), serde_json::from_str(&spec)) {
                (Ok(work), Ok(stored)) => Some(Row { work, stored, last_run, last_job }),
                _ => {
                    tracing::warn!(work = %work, "unreadable health schedule row skipped");
                    None
                }
            }
        })
        .collect())
}

fn save(d: &Daemon, work: &HealthWork, stored: &Stored) -> Result<(), WireError> {
    // A default never replaces a row: an admin's setting that landed first stands.
    let on_conflict = if stored.default { "DO NOTHING" } else { "DO UPDATE SET spec = ?2" };
    let (k, spec) = (key(work)?, serde_json::to_string(stored).map_err(|e| WireError::internal(e.to_string()))?);
    let sql_text = format!("INSERT INTO health_schedules(work, spec) VALUES (?1, ?2) ON CONFLICT(work) {on_conflict}");
    d.with_state(|s| s.conn().execute(&sql_text, params![k, spec]).map(|_| ()).map_err(sql("saving a health schedule")))
}

fn record_run(d: &Daemon, work: &HealthWork, at: i64, job: Option<&str>) -> Result<(), WireError> {
    let k = key(work)?;
    d.with_state(|s| {
        s.conn()
            .execute("UPDATE health_schedules SET last_run = ?2, last_job = ?3 WHERE work = ?1", params![k, at, job])
            .map(|_| ())
            .map_err(sql("recording a health schedule run"))
    })
}

fn known_pools(d: &Daemon) -> Result<Vec<PoolName>, WireError> {
    let recs = d.with_state(|s| crate::storage::store::records(s.conn()))?;
    Ok(recs.into_iter().map(|r| r.spec.name).collect())
}

/// Every schedule in effect: the stored ones (scrubs only for pools CoreNAS knows) and the
/// monthly default of every known pool without a row. With `adopt`, such defaults are stored
/// (counting from `now`), so the run loop's view survives a restart.
fn effective(d: &Daemon, now: i64, adopt: bool) -> Result<Vec<Row>, WireError> {
    let pools = known_pools(d)?;
    let mut all: Vec<Row> = rows(d)?
        .into_iter()
        .filter(|r| match &r.work {
            HealthWork::Scrub { pool } => pools.contains(pool),
            _ => true,
        })
        .collect();
    for pool in pools {
        let work = HealthWork::Scrub { pool };
        if all.iter().any(|r| r.work == work) {
            continue;
        }
        let stored = Stored { every: Cadence::Monthly, hour: DEFAULT_SCRUB_HOUR, default: true, since: now };
        if adopt {
            save(d, &work, &stored)?;
        }
        all.push(Row { work, stored, last_run: None, last_job: None });
    }
    Ok(all)
}

fn shown(r: &Row, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> HealthSchedule {
    HealthSchedule {
        work: r.work.clone(),
        every: r.stored.every,
        hour: r.stored.hour,
        default: r.stored.default,
        last_run: r.last_run,
        last_job: r.last_job.clone(),
        next_run: next_run(&r.stored, r.last_run, offset_at),
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

// ---------------------------------------------------------------------------------------------
// The API.

pub fn list(d: &Daemon) -> Result<Vec<HealthSchedule>, WireError> {
    let mut out: Vec<HealthSchedule> = effective(d, now(), false)?.iter().map(|r| shown(r, &local_offset)).collect();
    out.sort_by(|a, b| (a.work.kind(), a.work.target()).cmp(&(b.work.kind(), b.work.target())));
    Ok(out)
}

pub async fn set(
    d: &Arc<Daemon>,
    spec: &HealthScheduleSpec,
    dry_run: bool,
) -> Result<Change<HealthSchedule>, WireError> {
    if spec.hour > 23 {
        return Err(WireError::invalid("hour", format!("hour {} is invalid: use 0 to 23 (local time)", spec.hour)));
    }
    match &spec.work {
        HealthWork::Scrub { pool } => {
            if !known_pools(d)?.contains(pool) {
                let mut e =
                    WireError::not_found(format!("CoreNAS knows no pool {pool}: see `corenas-ctl storage list`"));
                e.field = Some("pool".into());
                return Err(e);
            }
        }
        HealthWork::SmartShort { device } | HealthWork::SmartLong { device } => {
            use std::os::unix::fs::FileTypeExt;
            let is_block = std::fs::metadata(device.as_str()).is_ok_and(|m| m.file_type().is_block_device());
            if !is_block {
                let mut e = WireError::not_found(format!("{device} is not a block device on this server"));
                e.field = Some("device".into());
                return Err(e);
            }
        }
    }
    let t = now();
    let existing = rows(d)?.into_iter().find(|r| r.work == spec.work);
    let stored = Stored { every: spec.every, hour: spec.hour, default: false, since: hour_start(t, &local_offset) };
    // Off for a self-test removes it; a scrub without a row is the monthly default, so "off"
    // is stored.
    let remove = spec.every == Cadence::Off && !matches!(spec.work, HealthWork::Scrub { .. });
    if !dry_run {
        if remove {
            let k = key(&spec.work)?;
            d.with_state(|s| {
                s.conn()
                    .execute("DELETE FROM health_schedules WHERE work = ?1", params![k])
                    .map(|_| ())
                    .map_err(sql("removing a health schedule"))
            })?;
        } else {
            save(d, &spec.work, &stored)?;
        }
    }
    let (last_run, last_job) = existing.map_or((None, None), |r| (r.last_run, r.last_job));
    let result = shown(&Row { work: spec.work.clone(), stored, last_run, last_job }, &local_offset);
    Ok(Change::planned(dry_run, Vec::new(), Some(result)))
}

/// Starts scheduled health work when it is due; looks every `tick`.
pub async fn run(d: Arc<Daemon>, tick: std::time::Duration) {
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = run_due(&d).await {
            tracing::warn!(error = %e.message, "health schedules failed");
        }
    }
}

/// Whether `pool` is being scrubbed: by a CoreNAS job, or (as the collectors last saw it) by
/// anyone. Returns the job id when it is one of ours.
fn scrubbing(d: &Daemon, pool: &PoolName) -> Option<Option<String>> {
    let job = d.storage_jobs.live().into_iter().find(|j| j.target == pool.as_str() && j.state == "running");
    if let Some(j) = job {
        return Some((j.kind == "scrub").then_some(j.id));
    }
    let seen =
        d.monitor.snapshot.read().is_ok_and(|s| s.pools.iter().any(|p| p.name == pool.as_str() && p.scrub_running));
    seen.then_some(None)
}

async fn run_due(d: &Arc<Daemon>) -> Result<(), WireError> {
    let t = now();
    for r in effective(d, t, true)? {
        if next_run(&r.stored, r.last_run, &local_offset).is_none_or(|n| n > t) {
            continue;
        }
        let (action, started) = match &r.work {
            HealthWork::Scrub { pool } => {
                if let Some(job) = scrubbing(d, pool) {
                    // This period's scrub is the one already running; no second one.
                    tracing::info!(pool = %pool, "scheduled scrub skipped: the pool is already busy");
                    record_run(d, &r.work, t, job.as_deref())?;
                    continue;
                }
                ("health.scrub", crate::storage::scrub::scrub(d, pool, false).await)
            }
            HealthWork::SmartShort { device } => {
                ("health.selftest", crate::devices::service::selftest(d, device, false, false).await)
            }
            HealthWork::SmartLong { device } => {
                ("health.selftest", crate::devices::service::selftest(d, device, true, false).await)
            }
        };
        let job = started.as_ref().ok().and_then(|c| c.result.as_ref()).map(|j| j.id.clone());
        // Recorded whether or not it started: one attempt per period, never one per tick.
        record_run(d, &r.work, t, job.as_deref())?;
        let mut args =
            serde_json::json!({ "work": r.work, "every": r.stored.every, "hour": r.stored.hour, "job": job });
        if let Err(e) = &started {
            args["error"] = serde_json::Value::String(e.message.clone());
            tracing::warn!(work = %r.work.kind(), target = %r.work.target(), error = %e.message, "scheduled health work did not start");
        }
        let code = started.as_ref().err().map(|e| e.code.as_str());
        let rec = crate::audit::AuditRecord {
            principal: "corenasd",
            channel: "schedule",
            peer_uid: rustix::process::getuid().as_raw(),
            action,
            args: &args,
            result: if started.is_ok() { "ok" } else { "failed" },
            error_code: code,
        };
        if let Err(e) = d.audit(&rec) {
            tracing::error!(error = %e.message, "auditing a scheduled health start failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn utc(_: OffsetDateTime) -> UtcOffset {
        UtcOffset::UTC
    }

    /// Central European time: +1, +2 from the last Sunday of March 01:00 UTC to the last Sunday
    /// of October 01:00 UTC (2026: 29 March, 25 October).
    fn cet(t: OffsetDateTime) -> UtcOffset {
        let summer = datetime!(2026-03-29 01:00 UTC)..datetime!(2026-10-25 01:00 UTC);
        let h = if summer.contains(&t) { 2 } else { 1 };
        UtcOffset::from_hms(h, 0, 0).unwrap()
    }

    fn at(t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    #[test]
    fn monthly_is_the_first_of_the_month_across_month_and_year_ends() {
        let next = |from| next_slot(Cadence::Monthly, 3, at(from), &utc).unwrap();
        assert_eq!(next(datetime!(2026-01-31 23:59 UTC)), at(datetime!(2026-02-01 03:00 UTC)));
        assert_eq!(next(datetime!(2026-02-28 12:00 UTC)), at(datetime!(2026-03-01 03:00 UTC)));
        assert_eq!(next(datetime!(2028-02-29 12:00 UTC)), at(datetime!(2028-03-01 03:00 UTC)));
        assert_eq!(next(datetime!(2026-12-01 03:00:01 UTC)), at(datetime!(2027-01-01 03:00 UTC)));
        // At the slot itself: due now.
        assert_eq!(next(datetime!(2026-04-01 03:00 UTC)), at(datetime!(2026-04-01 03:00 UTC)));
        assert_eq!(next(datetime!(2026-04-01 02:59 UTC)), at(datetime!(2026-04-01 03:00 UTC)));
    }

    #[test]
    fn daily_and_weekly_slots() {
        let daily = |from| next_slot(Cadence::Daily, 0, at(from), &utc).unwrap();
        assert_eq!(daily(datetime!(2026-12-31 00:00:01 UTC)), at(datetime!(2027-01-01 00:00 UTC)));
        assert_eq!(daily(datetime!(2026-12-31 00:00 UTC)), at(datetime!(2026-12-31 00:00 UTC)));
        // 2026-12-07 is a Monday; the next Sunday is the 13th.
        let weekly = |from| next_slot(Cadence::Weekly, 23, at(from), &utc).unwrap();
        assert_eq!(weekly(datetime!(2026-12-07 10:00 UTC)), at(datetime!(2026-12-13 23:00 UTC)));
        assert_eq!(weekly(datetime!(2026-12-13 23:00:01 UTC)), at(datetime!(2026-12-20 23:00 UTC)));
        assert_eq!(next_slot(Cadence::Off, 3, 0, &utc), None);
        assert_eq!(next_slot(Cadence::Daily, 24, 0, &utc), None);
    }

    #[test]
    fn the_hour_is_local_on_the_day_it_runs_across_dst() {
        let daily = |hour, from| next_slot(Cadence::Daily, hour, at(from), &cet).unwrap();
        // Winter: 03:00 CET is 02:00 UTC; summer: 03:00 CEST is 01:00 UTC.
        assert_eq!(daily(3, datetime!(2026-03-28 00:00 UTC)), at(datetime!(2026-03-28 02:00 UTC)));
        assert_eq!(daily(3, datetime!(2026-03-28 02:00:01 UTC)), at(datetime!(2026-03-29 01:00 UTC)));
        // 02:00 local does not exist on 29 March: the first instant after the gap (03:00 CEST).
        assert_eq!(daily(2, datetime!(2026-03-28 01:00:01 UTC)), at(datetime!(2026-03-29 01:00 UTC)));
        // 02:00 local happens twice on 25 October: the first (CEST, 00:00 UTC), once.
        assert_eq!(daily(2, datetime!(2026-10-24 23:00 UTC)), at(datetime!(2026-10-25 00:00 UTC)));
        assert_eq!(daily(2, datetime!(2026-10-25 00:00:01 UTC)), at(datetime!(2026-10-26 01:00 UTC)));
        // Just after midnight UTC, local is already the next day: the same local day's slot.
        assert_eq!(daily(1, datetime!(2026-07-01 22:30 UTC)), at(datetime!(2026-07-01 23:00 UTC)));
        // Monthly on the first at 00:00 local falls on the last day of the month in UTC.
        let m = next_slot(Cadence::Monthly, 0, at(datetime!(2026-06-15 00:00 UTC)), &cet).unwrap();
        assert_eq!(m, at(datetime!(2026-06-30 22:00 UTC)));
    }

    #[test]
    fn a_missed_run_runs_once_then_the_next_period() {
        let s = Stored { every: Cadence::Monthly, hour: 3, default: true, since: at(datetime!(2026-01-10 00:00 UTC)) };
        // Never ran, counted from the 10th of January: February's slot.
        assert_eq!(next_run(&s, None, &utc), Some(at(datetime!(2026-02-01 03:00 UTC))));
        // Last ran in February, corenasd down until December: due (in the past), once.
        let last = at(datetime!(2026-02-01 03:00:05 UTC));
        let due = next_run(&s, Some(last), &utc).unwrap();
        assert!(due < at(datetime!(2026-12-07 18:00 UTC)));
        // It runs on 7 December; then the next is January, not March through November.
        let ran = at(datetime!(2026-12-07 18:00 UTC));
        assert_eq!(next_run(&s, Some(ran), &utc), Some(at(datetime!(2027-01-01 03:00 UTC))));
    }

    #[test]
    fn a_schedule_set_during_its_hour_runs_in_it() {
        let set_at = at(datetime!(2026-12-07 18:42:17 UTC));
        let since = hour_start(set_at, &utc);
        assert_eq!(since, at(datetime!(2026-12-07 18:00 UTC)));
        let s = Stored { every: Cadence::Daily, hour: 18, default: false, since };
        assert_eq!(next_run(&s, None, &utc), Some(since));
        // Local hours that are not whole UTC hours (+05:30) still start on the local hour.
        let india = |_: OffsetDateTime| UtcOffset::from_hms(5, 30, 0).unwrap();
        assert_eq!(hour_start(set_at, &india), at(datetime!(2026-12-07 18:30 UTC)));
    }

    fn daemon(dir: &crate::state::test_support::TestDir) -> Arc<Daemon> {
        crate::daemon::for_tests(dir)
    }

    fn add_pool(d: &Daemon, name: &str) {
        let spec = serde_json::json!({
            "name": name,
            "layout": { "btrfs": { "data": "single", "metadata": "dup", "compression": null } },
            "devices": ["/dev/loop7"],
        });
        d.with_state(|s| {
            s.conn()
                .execute(
                    "INSERT INTO pools(name, backend, spec, created) VALUES (?1, 'btrfs', ?2, 'now')",
                    params![name, spec.to_string()],
                )
                .map_err(sql("test pool"))
        })
        .unwrap();
    }

    fn row(d: &Daemon, pool: &str) -> Row {
        let work = HealthWork::Scrub { pool: pool.parse().unwrap() };
        rows(d).unwrap().into_iter().find(|r| r.work == work).unwrap()
    }

    fn audited(d: &Daemon, action: &str) -> Vec<corenas_proto::api::AuditEntry> {
        let all = d.with_state(|s| crate::audit::view(s.conn(), None, 100)).unwrap();
        all.into_iter().filter(|e| e.action == action).collect()
    }

    /// A pool being scrubbed (by a CoreNAS job, or as the collectors saw it) is not scrubbed
    /// again: the period counts as done. A start that fails is audited once, not every tick.
    #[test]
    fn busy_pools_are_skipped_and_a_failed_start_is_tried_once_per_period() {
        let dir = crate::state::test_support::TestDir::new("health-schedule");
        let d = daemon(&dir);
        for p in ["busy", "seen", "idle"] {
            add_pool(&d, p);
        }
        let (job, _cancel) = d.storage_jobs.start("scrub", "busy").unwrap();
        d.monitor.snapshot.write().unwrap().pools.push(corenas_proto::monitor::PoolSample {
            name: "seen".into(),
            backend: corenas_proto::storage::Backend::Btrfs,
            state: corenas_proto::monitor::PoolState::Online,
            state_text: String::new(),
            size_bytes: None,
            allocated_bytes: None,
            scrub_running: true,
            scrub_last_end: None,
            scrub_errors: None,
            member_errors: None,
            bad_members: vec![],
        });
        let t = now();
        let hour = OffsetDateTime::now_utc().to_offset(local_offset(OffsetDateTime::now_utc())).hour();
        for p in ["busy", "seen", "idle"] {
            let stored = Stored { every: Cadence::Daily, hour, default: false, since: hour_start(t, &local_offset) };
            save(&d, &HealthWork::Scrub { pool: p.parse().unwrap() }, &stored).unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_due(&d)).unwrap();

        let busy = row(&d, "busy");
        assert!(busy.last_run.is_some() && busy.last_job.as_deref() == Some(job.id.as_str()));
        let seen = row(&d, "seen");
        assert!(seen.last_run.is_some() && seen.last_job.is_none());
        let idle = row(&d, "idle");
        assert!(idle.last_run.is_some() && idle.last_job.is_none());
        let entries = audited(&d, "health.scrub");
        assert_eq!(entries.len(), 1, "only the idle pool's start was tried: {entries:?}");
        assert_eq!((entries[0].result.as_str(), entries[0].principal.as_str()), ("failed", "corenasd"));
        assert!(entries[0].args.contains("idle") && entries[0].error_code.is_some(), "{:?}", entries[0]);
        assert_eq!(d.storage_jobs.live().iter().filter(|j| j.kind == "scrub" && j.state == "running").count(), 1);

        // The next tick: nothing is due any more.
        rt.block_on(run_due(&d)).unwrap();
        assert_eq!(audited(&d, "health.scrub").len(), 1);
        // Every known pool is listed, and a pool CoreNAS forgets loses its schedule.
        assert_eq!(list(&d).unwrap().len(), 3);
        d.with_state(|s| s.conn().execute("DELETE FROM pools WHERE name = 'idle'", []).map_err(sql("test"))).unwrap();
        assert_eq!(list(&d).unwrap().len(), 2);
    }

    #[test]
    fn a_default_never_replaces_what_an_admin_set() {
        let dir = crate::state::test_support::TestDir::new("health-default");
        let d = daemon(&dir);
        add_pool(&d, "tank");
        let work = HealthWork::Scrub { pool: "tank".parse().unwrap() };
        let admin = Stored { every: Cadence::Off, hour: 3, default: false, since: 0 };
        save(&d, &work, &admin).unwrap();
        let default = Stored { every: Cadence::Monthly, hour: 3, default: true, since: 0 };
        save(&d, &work, &default).unwrap();
        assert_eq!(row(&d, "tank").stored, admin);
        // The run loop adopts defaults only for pools without a row.
        let all = effective(&d, 0, true).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].stored.every, Cadence::Off);
        assert_eq!(list(&d).unwrap()[0].next_run, None);
    }

    #[test]
    fn the_system_offset_is_read_or_utc() {
        // Whatever the machine's zone, the answer is an offset within a day (UTC when unreadable).
        let o = local_offset(OffsetDateTime::now_utc());
        assert!(o.whole_hours().abs() < 24);
    }
}
