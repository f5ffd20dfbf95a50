//! Monitoring: collectors on their own schedules fill a health cache (kept in memory for
//! `/metrics` and the dashboard, and in SQLite with each collector's last-success time, so a
//! restart starts from what was known); a bounded history feeds the charts; the alert engine
//! (`crate::alerts`) reads the cache after every run. Nothing here is privileged: tools run
//! through the helper's typed queries, and SMART never wakes a sleeping disk.

pub mod cache;
pub mod collectors;
pub mod history;
pub mod metrics;
pub mod schedule;
pub mod store;

use crate::daemon::Daemon;
pub use cache::Monitor;
use cache::RoundState;
use collectors::Collector;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::monitor::{CollectorStatus, HealthSnapshot, MonitorStatus};
use std::sync::Arc;

impl Monitor {
    fn interval(&self, c: Collector) -> u64 {
        self.every_secs()
            .or_else(|| self.configured.get().and_then(|m| m.get(c.name()).copied()))
            .unwrap_or_else(|| c.default_interval())
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

pub fn status(d: &Daemon) -> Result<MonitorStatus, WireError> {
    Ok(MonitorStatus {
        snapshot: d.monitor.snapshot(),
        alerts: crate::alerts::list(d, false).unwrap_or_default(),
        schedules: crate::monitor::schedule::list(d).unwrap_or_default(),
    })
}

pub async fn run_now(d: &Arc<Daemon>, dry_run: bool) -> Result<Change<Vec<CollectorStatus>>, WireError> {
    let statuses = if dry_run {
        let snap = d.monitor.snapshot();
        Collector::ALL.iter().map(|c| status_of(&d.monitor, &snap, *c)).collect()
    } else {
        // Boxed: a round's future is large, and the RPC dispatcher's future is as large as its
        // largest arm.
        Box::pin(round(d, &Collector::ALL)).await;
        d.monitor.snapshot().collectors
    };
    Ok(Change { dry_run, steps: Vec::new(), result: Some(statuses), generated_password: None, warnings: Vec::new() })
}

/// The collector loop: each collector on its own interval (`configured`, from the
/// configuration file, or every `every_secs`, in tests); after a run, the alert engine
/// evaluates the new snapshot.
pub async fn run(d: Arc<Daemon>, every_secs: Option<u64>, configured: std::collections::HashMap<&'static str, u64>) {
    let _ = d.monitor.every_secs.set(every_secs);
    let _ = d.monitor.configured.set(configured);
    {
        let mut st = d.monitor.round.lock().await;
        load(&d, &mut st);
    }
    loop {
        let t = now();
        let snap = d.monitor.snapshot();
        let due: Vec<Collector> = Collector::ALL
            .into_iter()
            // A last run in the future (the clock went back) is due, or nothing would run until
            // the clock caught up.
            .filter(|c| last_run(&snap, *c).is_none_or(|r| r > t || t - r >= interval_i64(&d.monitor, *c)))
            .collect();
        if !due.is_empty() {
            round(&d, &due).await;
        }
        let snap = d.monitor.snapshot();
        let t = now();
        let wait = Collector::ALL
            .into_iter()
            .map(|c| last_run(&snap, c).map_or(0, |r| r + interval_i64(&d.monitor, c) - t))
            .min()
            .unwrap_or(60)
            .clamp(1, 3600);
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(wait.unsigned_abs())) => {}
            () = d.monitor.wake.notified() => round(&d, &Collector::ALL).await,
        }
    }
}

fn interval_i64(m: &Monitor, c: Collector) -> i64 {
    i64::try_from(m.interval(c)).unwrap_or(i64::MAX)
}

fn last_run(s: &HealthSnapshot, c: Collector) -> Option<i64> {
    s.collectors.iter().find(|x| x.name == c.name()).and_then(|x| x.last_run)
}

fn status_of(m: &Monitor, s: &HealthSnapshot, c: Collector) -> CollectorStatus {
    let mut st = s.collectors.iter().find(|x| x.name == c.name()).cloned().unwrap_or_else(|| CollectorStatus {
        name: c.name().to_owned(),
        interval_seconds: 0,
        last_run: None,
        last_success: None,
        last_error: None,
        runs: 0,
        failures: 0,
    });
    st.interval_seconds = m.interval(c);
    st
}

/// Puts the cached parts back into the snapshot, so a restart starts from what was known (and
/// no disk is asked again before its interval is up).
fn load(d: &Daemon, st: &mut RoundState) {
    if st.loaded {
        return;
    }
    st.loaded = true;
    let cached = match d.with_state(|s| store::load(s.conn())) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.message, "monitor: the health cache could not be read; starting empty");
            return;
        }
    };
    let mut snap = HealthSnapshot::default();
    for c in cached {
        let Some(which) = Collector::from_name(&c.name) else { continue };
        if let Some(data) = &c.data {
            if let Err(e) = collectors::load_part(which, data, &mut snap) {
                tracing::warn!(collector = c.name, error = %e, "monitor: a cached part does not read; it is collected again");
                continue;
            }
        }
        snap.collectors.push(CollectorStatus {
            interval_seconds: d.monitor.interval(which),
            name: c.name,
            last_run: c.last_run,
            last_success: c.last_success,
            last_error: c.last_error,
            runs: c.runs,
            failures: c.failures,
        });
    }
    if let Some(t) = last_run(&snap, Collector::Disks) {
        for disk in &snap.disks {
            st.memory.disk_polled.insert(disk.id.clone(), t);
        }
    }
    sort_collectors(&mut snap.collectors);
    if let Ok(mut s) = d.monitor.snapshot.write() {
        *s = snap;
    }
}

fn sort_collectors(v: &mut [CollectorStatus]) {
    let pos = |n: &str| Collector::ALL.iter().position(|c| c.name() == n).unwrap_or(usize::MAX);
    v.sort_by_key(|c| pos(&c.name));
}

/// Runs the collectors `which` once, in order; stores each result and the history points, then
/// lets the alert engine look.
async fn round(d: &Arc<Daemon>, which: &[Collector]) {
    let mut st = d.monitor.round.lock().await;
    load(d, &mut st);
    let t = now();
    for &c in which {
        // Each collector sees what the ones before it found in this round (datasets: pools).
        let current = d.monitor.snapshot();
        let mut status = status_of(&d.monitor, &current, c);
        let run = collectors::Run {
            now: t,
            interval: d.monitor.interval(c),
            previous: &current,
            memory: &mut st.memory,
            loops_as_disks: d.monitor.every_secs().is_some(),
        };
        let result = collectors::collect(d, c, run).await;
        status.runs += 1;
        status.last_run = Some(t);
        let data = match result {
            Ok(part) => {
                status.last_success = Some(t);
                status.last_error = None;
                let Ok(mut s) = d.monitor.snapshot.write() else { continue };
                part.apply(&mut s);
                collectors::part_json(c, &s).ok()
            }
            Err(e) => {
                tracing::warn!(collector = c.name(), error = %e.message, "monitor: collector failed; its last values stay");
                status.failures += 1;
                status.last_error = Some(e.message);
                None
            }
        };
        if let Ok(mut s) = d.monitor.snapshot.write() {
            match s.collectors.iter_mut().find(|x| x.name == status.name) {
                Some(x) => *x = status.clone(),
                None => s.collectors.push(status.clone()),
            }
            sort_collectors(&mut s.collectors);
        }
        if let Err(e) = d.with_state(|s| store::save(s.conn(), &status, data.as_deref())) {
            tracing::error!(collector = c.name(), error = %e.message, "monitor: the health cache could not be stored");
        }
    }
    let snap = d.monitor.snapshot();
    let points = history::points(&snap, which, &st.memory.system.net_rates, t);
    let hour = t - t.rem_euclid(3600);
    let fold = st.folded_hour != Some(hour);
    let stored = d.with_state(|s| {
        store::append(s.conn(), &points)?;
        if fold {
            store::fold_and_prune(s.conn(), t)?;
        }
        Ok(())
    });
    match stored {
        Ok(()) if fold => st.folded_hour = Some(hour),
        Ok(()) => {}
        Err(e) => tracing::error!(error = %e.message, "monitor: history could not be stored"),
    }
    drop(st);
    // After every round, changed or not: overdue scrubs and helper errors only age, and a
    // sustained finding is confirmed by a later reading that says the same.
    if let Err(e) = crate::alerts::evaluate(d, &snap, t) {
        tracing::error!(error = %e.message, "alert evaluation failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::TestDir;
    use corenas_proto::monitor::{PoolSample, PoolState};

    /// The configuration file's `[monitor]` defaults are the collectors' own, and it names
    /// every collector: an untouched file changes nothing.
    #[test]
    fn the_configured_defaults_are_the_collectors_own() {
        let m = corenas_proto::config::Monitor::default();
        for c in Collector::ALL {
            assert_eq!(m.interval(c.name()), Some(c.default_interval()), "{}", c.name());
        }
    }

    fn pool() -> PoolSample {
        PoolSample {
            name: "tank".into(),
            backend: corenas_proto::storage::Backend::Zfs,
            state: PoolState::Online,
            state_text: "online".into(),
            size_bytes: Some(100),
            allocated_bytes: Some(50),
            scrub_running: false,
            scrub_last_end: None,
            scrub_errors: None,
            member_errors: None,
            bad_members: Vec::new(),
        }
    }

    /// No helper runs here, so the pools collector fails: it keeps its last good part (in memory
    /// and in SQLite) and counts the failure, while /proc's collector succeeds; a restart on the
    /// same database starts from all of it.
    #[test]
    fn a_failing_collector_keeps_its_part_and_a_restart_starts_from_the_cache() {
        let dir = TestDir::new("monitor-round");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let d = crate::daemon::for_tests(&dir);
        // A good part from an earlier run, as a success would have stored it.
        let good = HealthSnapshot { pools: vec![pool()], ..HealthSnapshot::default() };
        let json = collectors::part_json(Collector::Pools, &good).expect("json");
        let st = CollectorStatus {
            name: "pools".into(),
            interval_seconds: 300,
            last_run: Some(1),
            last_success: Some(1),
            last_error: None,
            runs: 1,
            failures: 0,
        };
        d.with_state(|s| store::save(s.conn(), &st, Some(&json))).expect("seed");
        // A ZFS pool CoreNAS made: reading it needs the helper.
        let spec = corenas_proto::storage::PoolSpec {
            name: "tank".parse().expect("name"),
            layout: corenas_proto::storage::PoolLayout::Zfs {
                layout: corenas_proto::storage::ZfsLayout::Stripe,
                ashift: None,
                properties: Vec::new(),
            },
            devices: vec!["/dev/sdx".parse().expect("device")],
            force: false,
        };
        let spec = serde_json::to_string(&spec).expect("spec");
        d.with_state(|s| {
            s.conn()
                .execute(
                    "INSERT INTO pools(name, backend, spec, created) VALUES ('tank', 'zfs', ?1, '2026-01-01T00:00:00Z')",
                    [spec],
                )
                .map_err(crate::state::sql("seeding a pool"))
        })
        .expect("pool record");

        rt.block_on(round(&d, &[Collector::System, Collector::Pools]));
        let snap = d.monitor.snapshot();
        assert_eq!(snap.pools, vec![pool()], "the last good part stays");
        let p = snap.collectors.iter().find(|c| c.name == "pools").expect("pools status");
        assert!(p.last_error.is_some() && p.failures == 1 && p.runs == 2 && p.last_success == Some(1), "{p:?}");
        let s = snap.collectors.iter().find(|c| c.name == "system").expect("system status");
        assert!(s.last_error.is_none() && s.last_success.is_some() && snap.system.is_some(), "{s:?}");

        let again = crate::daemon::for_tests(&dir);
        rt.block_on(async {
            let mut st = again.monitor.round.lock().await;
            load(&again, &mut st);
        });
        let restarted = again.monitor.snapshot();
        assert_eq!(restarted.pools, vec![pool()]);
        assert!(restarted.system.is_some());
        assert_eq!(restarted.collectors, snap.collectors, "the bookkeeping comes back as it was");

        // A dry run lists the collectors without running one.
        let dry = rt.block_on(run_now(&again, true)).expect("dry run");
        assert!(dry.dry_run && dry.result.as_ref().is_some_and(|c| c.len() == Collector::ALL.len()));
        assert_eq!(again.monitor.snapshot().collectors, snap.collectors, "nothing ran");
    }
}
