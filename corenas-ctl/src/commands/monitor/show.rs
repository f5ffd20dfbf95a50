//! How the health cache reads on a terminal: `monitor status` is one screen, most urgent first
//! (alerts, then pools and disks, then the collectors and schedules behind them).

use crate::text::{Table, local_time, or_dash, size_or_dash, time_or_dash};
use corenas_proto::monitor::{
    Alert, AlertLevel, AlertState, CollectorStatus, HealthSchedule, HealthWork, MonitorStatus,
};
use std::fmt::Write as _;

pub(crate) fn status_text(s: &MonitorStatus) -> String {
    let mut out = String::new();
    let active: Vec<&Alert> = s.alerts.iter().filter(|a| a.state == AlertState::Active).collect();
    out.push_str(&alerts_summary(&active));
    let snap = &s.snapshot;

    out.push_str("\nPOOLS\n");
    if snap.pools.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut t =
            Table::new(&["NAME", "TYPE", "STATE", "USED", "SIZE", "SCRUB", "LAST SCRUB", "ERRORS", "BAD MEMBERS"]);
        for p in &snap.pools {
            let scrub = if p.scrub_running { "running" } else { "-" };
            let errors = p.scrub_errors.unwrap_or(0) + p.member_errors.unwrap_or(0);
            t.row([
                p.name.clone(),
                p.backend.to_string(),
                p.state.to_string(),
                size_or_dash(p.allocated_bytes),
                size_or_dash(p.size_bytes),
                scrub.to_owned(),
                time_or_dash(p.scrub_last_end),
                errors.to_string(),
                if p.bad_members.is_empty() { "-".to_owned() } else { p.bad_members.join(",") },
            ]);
        }
        out.push_str(&t.render());
    }

    out.push_str("\nDISKS\n");
    if snap.disks.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut t = Table::new(&["DEV", "ID", "MODEL", "POWER", "TEMP", "SMART", "READ", "LAST ERROR"]);
        for d in &snap.disks {
            let health = match d.smart_healthy {
                Some(true) => "passed",
                Some(false) => "FAILING",
                None => "-",
            };
            t.row([
                d.dev.clone(),
                d.id.clone(),
                or_dash(d.model.as_deref()),
                d.power.to_string(),
                d.temperature_c.map_or_else(|| "-".to_owned(), |c| format!("{c} °C")),
                health.to_owned(),
                time_or_dash(d.smart_last_success),
                or_dash(d.last_error.as_deref()),
            ]);
        }
        out.push_str(&t.render());
    }

    let down: Vec<&str> = snap.mounts.iter().filter(|m| !m.active).map(|m| m.target.as_str()).collect();
    if !down.is_empty() {
        let _ = writeln!(out, "\nMOUNTS DOWN: {}", down.join(", "));
    }

    out.push_str("\nCOLLECTORS\n");
    out.push_str(&collectors_table(&snap.collectors));
    out.push_str("\nSCHEDULES\n");
    out.push_str(&schedules_table(&s.schedules));
    out
}

fn alerts_summary(active: &[&Alert]) -> String {
    if active.is_empty() {
        return "ALERTS: none active\n".to_owned();
    }
    let mut by_level: Vec<String> = Vec::new();
    for level in AlertLevel::ALL.iter().rev() {
        let n = active.iter().filter(|a| a.level == *level).count();
        if n > 0 {
            by_level.push(format!("{n} {level}"));
        }
    }
    let mut out = format!("ALERTS: {} active ({})\n", active.len(), by_level.join(", "));
    let mut sorted = active.to_vec();
    sorted.sort_by(|a, b| b.level.cmp(&a.level).then(b.last_seen.cmp(&a.last_seen)));
    let mut t = Table::new(&["ID", "LEVEL", "CLASS", "SUBJECT", "SUMMARY"]);
    for a in sorted {
        t.row([a.id.clone(), a.level.to_string(), a.class.to_string(), a.subject.clone(), a.summary.clone()]);
    }
    out.push_str(&t.render());
    out
}

pub(crate) fn collectors_table(collectors: &[CollectorStatus]) -> String {
    if collectors.is_empty() {
        return "  none has run yet\n".to_owned();
    }
    let mut t = Table::new(&["NAME", "EVERY", "LAST SUCCESS", "FAILURES", "LAST ERROR"]);
    for c in collectors {
        // An error newer than the last success is the collector's state now.
        let failing = c.last_error.is_some() && c.last_run.is_some() && c.last_run != c.last_success;
        let error = match (&c.last_error, failing) {
            (Some(e), true) => format!("FAILING: {e}"),
            (Some(e), false) => format!("(earlier) {e}"),
            (None, _) => "-".to_owned(),
        };
        t.row([
            c.name.clone(),
            format!("{} s", c.interval_seconds),
            time_or_dash(c.last_success),
            format!("{}/{}", c.failures, c.runs),
            error,
        ]);
    }
    t.render()
}

pub(crate) fn schedules_table(schedules: &[HealthSchedule]) -> String {
    if schedules.is_empty() {
        return "  none (a pool gets a monthly scrub by default; self-tests are set per device)\n".to_owned();
    }
    let mut t = Table::new(&["WORK", "TARGET", "EVERY", "AT (LOCAL)", "SET BY", "LAST RUN", "LAST JOB", "NEXT RUN"]);
    for s in schedules {
        let work = match &s.work {
            HealthWork::Scrub { .. } => "scrub",
            HealthWork::SmartShort { .. } => "short self-test",
            HealthWork::SmartLong { .. } => "long self-test",
        };
        t.row([
            work.to_owned(),
            s.work.target().to_owned(),
            s.every.to_string(),
            format!("{:02}:00", s.hour),
            if s.default { "default" } else { "admin" }.to_owned(),
            time_or_dash(s.last_run),
            or_dash(s.last_job.as_deref()),
            s.next_run.map_or_else(|| "-".to_owned(), local_time),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::monitor::{Cadence, HealthSnapshot, PoolSample, PoolState};

    #[test]
    fn status_reads_most_urgent_first_and_escapes_daemon_text() {
        let status = MonitorStatus {
            snapshot: HealthSnapshot {
                pools: vec![PoolSample {
                    name: "tank".into(),
                    backend: corenas_proto::storage::Backend::Zfs,
                    state: PoolState::Degraded,
                    state_text: "DEGRADED".into(),
                    size_bytes: Some(1 << 30),
                    allocated_bytes: Some(1 << 29),
                    scrub_running: false,
                    scrub_last_end: None,
                    scrub_errors: Some(0),
                    member_errors: Some(3),
                    bad_members: vec!["loop3\u{1b}[2J".into()],
                }],
                collectors: vec![CollectorStatus {
                    name: "smart".into(),
                    interval_seconds: 1800,
                    last_run: Some(200),
                    last_success: Some(100),
                    last_error: Some("smartctl: exit 2".into()),
                    runs: 2,
                    failures: 1,
                }],
                ..HealthSnapshot::default()
            },
            alerts: vec![],
            schedules: vec![HealthSchedule {
                work: HealthWork::Scrub { pool: "tank".parse().unwrap() },
                every: Cadence::Monthly,
                hour: 3,
                default: true,
                last_run: None,
                last_job: None,
                next_run: Some(0),
            }],
        };
        let text = status_text(&status);
        assert!(text.starts_with("ALERTS: none active\n"), "{text}");
        assert!(text.contains("tank  zfs   degraded"), "{text}");
        assert!(text.contains("FAILING: smartctl: exit 2"), "{text}");
        assert!(text.contains("scrub  tank    monthly  03:00"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
