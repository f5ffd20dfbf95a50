//! The dashboard: imaging jobs (active with progress, queued), drives with media, storage
//! capacity and health, and the monitoring health section (alert counts, pools, disks, last
//! scrubs, failed collectors, charts drawn on the server). Live updates come from the event
//! stream (`live.js`); without script the page is still complete, and a reload shows the
//! current state.

use super::{error_box, job_state_name, layout, progress_bar};
use crate::app::AppState;
use crate::http::Caller;
use axum::extract::{Query, State};
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::imaging::{JobQuery, JobSort, JobState};
use corenas_proto::monitor::{AlertLevel, AlertState, HistoryRange, MonitorStatus, PowerState, Series};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

pub fn active_query() -> JobQuery {
    JobQuery { status: None, sort: JobSort::Created, limit: corenas_proto::imaging::LIST_MAX, offset: 0 }
}

pub fn is_active(s: JobState) -> bool {
    matches!(s, JobState::Queued | JobState::Running | JobState::Paused | JobState::Hashing)
}

/// Disks whose latest stored SMART report says they are failing (the drive's own overall
/// assessment), with when that report was taken. Reads the history corenasd keeps; runs no
/// smartctl.
async fn failing_disks(app: &AppState, caller: &Caller) -> Vec<(String, Option<String>)> {
    let Ok(disks) = crate::daemon!(app.gate, &caller.cred, DeviceInventory {}) else { return Vec::new() };
    let mut failing = Vec::new();
    for d in disks.into_iter().filter(|d| d.kind == corenas_proto::devices::DeviceKind::Disk) {
        let Ok(device) = d.path.parse() else { continue };
        if let Ok(history) = crate::daemon!(app.gate, &caller.cred, DeviceSmartHistory { device, limit: 1 })
            && let Some(latest) = history.first()
            && latest.health_passed == Some(false)
        {
            let when = latest.collected_at.and_then(|t| {
                time::OffsetDateTime::from_unix_timestamp(t)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .map(|s| caller.lang.datetime(&s))
            });
            failing.push((d.path, when));
        }
    }
    failing
}

fn power_name(l: crate::i18n::Lang, p: PowerState) -> &'static str {
    match p {
        PowerState::Active => l.t("active", "aktiv"),
        PowerState::Idle => l.t("idle", "im Leerlauf"),
        PowerState::Standby => l.t("standby (asleep)", "Standby (schläft)"),
        PowerState::Sleep => l.t("sleeping", "Ruhezustand"),
        PowerState::Unknown => l.t("unknown", "unbekannt"),
    }
}

/// The health section: active alerts by level, pools, disks, failed collectors.
pub fn health_section(caller: &Caller, status: &Result<MonitorStatus, WireError>) -> Markup {
    let l = caller.lang;
    let when = |t: i64| super::alerts::when(l, t);
    html! {
        section.card.wide #health data-live aria-live="polite" {
            h2 { (l.t("Health", "Zustand")) }
            @match status {
                Err(e) => (error_box(l, e)),
                Ok(s) => {
                    @let active: Vec<_> = s.alerts.iter().filter(|a| a.state == AlertState::Active).collect();
                    p.alert-counts {
                        a href="/alerts" { strong { (active.len()) " " (l.t("active alerts", "aktive Warnungen")) } }
                        @for level in AlertLevel::ALL.iter().rev() {
                            @let n = active.iter().filter(|a| a.level == *level).count();
                            @if n > 0 { " " span data-count-level=(level.as_str()) { (super::alerts::level_badge(l, *level)) " " (n) } }
                        }
                    }
                    @if !s.snapshot.pools.is_empty() {
                        h3 { (l.t("Pools", "Pools")) }
                        table.pools {
                            thead { tr { th { (l.t("Pool", "Pool")) } th { (l.t("State", "Status")) } th { (l.t("Usage", "Belegung")) } th { (l.t("Last scrub", "Letzter Prüflauf")) } } }
                            tbody { @for p in &s.snapshot.pools { tr data-pool=(p.name) {
                                td { strong { (p.name) } " " span.hint { (p.backend.as_str()) } }
                                td { span.badge.health data-health=(p.state.as_str()) { (l.term(p.state.as_str())) }
                                     @if !p.bad_members.is_empty() { br; span.hint { (p.bad_members.join(", ")) } } }
                                td { @if let (Some(size), Some(used)) = (p.size_bytes, p.allocated_bytes) {
                                    @let pct = if size > 0 { used as f64 * 100.0 / size as f64 } else { 0.0 };
                                    meter min="0" max="100" low="85" high="90" optimum="0" value=(format!("{pct:.1}")) {} " " (l.percent(pct)) br;
                                    span.hint { (l.size(used)) " / " (l.size(size)) }
                                } }
                                td {
                                    @if p.scrub_running { (l.t("running", "läuft")) }
                                    @else if let Some(t) = p.scrub_last_end { (when(t)) } @else { (l.t("never", "nie")) }
                                    @if let Some(e) = p.scrub_errors { @if e > 0 { br; span.error { (e) " " (l.t("errors", "Fehler")) } } }
                                }
                            } } }
                        }
                    }
                    @if !s.snapshot.disks.is_empty() {
                        h3 { (l.t("Disks", "Festplatten")) }
                        table.disks {
                            thead { tr { th { (l.t("Disk", "Festplatte")) } th { (l.t("Power", "Betrieb")) } th.num { (l.t("Temperature", "Temperatur")) } th { (l.t("SMART", "SMART")) } } }
                            tbody { @for d in &s.snapshot.disks { tr data-disk=(d.id) {
                                td { strong { (d.dev) } @if let Some(m) = &d.model { " " span.hint { (m) } } }
                                td { (power_name(l, d.power)) }
                                td.num { @if let Some(t) = d.temperature_c { (t) " °C" } }
                                td {
                                    @match d.smart_healthy {
                                        Some(true) => span.badge.health data-health="online" { (l.t("passed", "bestanden")) },
                                        Some(false) => span.badge.health data-health="faulted" { (l.t("FAILING", "FÄLLT AUS")) },
                                        None => span.hint { (l.t("not read yet", "noch nicht gelesen")) },
                                    }
                                    @if let Some(t) = d.smart_last_success { br; span.hint { (l.t("read", "gelesen")) " " (when(t)) } }
                                    @if let Some(e) = &d.last_error { br; span.error { (e) } }
                                }
                            } } }
                        }
                    }
                    @let failed: Vec<_> = s.snapshot.collectors.iter().filter(|c| c.last_error.is_some()).collect();
                    @if !failed.is_empty() {
                        h3 { (l.t("Checks that failed", "Fehlgeschlagene Prüfungen")) }
                        ul.plain { @for c in failed { li {
                            strong { (c.name) } ": " span.error { (c.last_error.as_deref().unwrap_or("")) }
                            " " span.hint { (l.t("last success", "zuletzt erfolgreich")) " "
                                @if let Some(t) = c.last_success { (when(t)) } @else { (l.t("never", "nie")) } }
                        } } }
                    }
                },
            }
        }
    }
}

/// The charts over the chosen range, with the range links (no script needed).
pub fn charts_section(
    caller: &Caller,
    range: &Result<HistoryRange, WireError>,
    history: &Result<Vec<Series>, WireError>,
    status: &Result<MonitorStatus, WireError>,
) -> Markup {
    let l = caller.lang;
    let chosen = range.as_ref().ok().copied();
    // A disk's series is named by its stable id; people know it by its device and model.
    let disks = status.as_ref().map(|s| s.snapshot.disks.clone()).unwrap_or_default();
    let label_of = |id: &str| match disks.iter().find(|d| d.id == id) {
        Some(d) => match &d.model {
            Some(m) => format!("{} ({m})", d.dev),
            None => d.dev.clone(),
        },
        None => id.to_owned(),
    };
    html! {
        section.card.wide #charts {
            h2 { (l.t("History", "Verlauf")) }
            nav.ranges aria-label=(l.t("Period", "Zeitraum")) {
                @for r in HistoryRange::ALL {
                    a href=(format!("/?range={}", r.as_str())) aria-current=[(Some(*r) == chosen).then_some("page")] {
                        (match r {
                            HistoryRange::Day => l.t("day", "Tag"),
                            HistoryRange::Week => l.t("week", "Woche"),
                            HistoryRange::Month => l.t("month", "Monat"),
                            HistoryRange::Year => l.t("year", "Jahr"),
                        })
                    } " "
                }
            }
            @match (range, history) {
                (Err(e), _) | (_, Err(e)) => (error_box(l, e)),
                (Ok(r), Ok(series)) => {
                    @let charts = super::charts::charts_of(l, series, *r, &label_of);
                    @if charts.is_empty() { p.empty { (l.t("No history recorded yet.", "Noch kein Verlauf aufgezeichnet.")) } }
                    div.charts { @for c in &charts { figure.chart { (super::charts::render(l, c)) } } }
                },
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let l = caller.lang;
    let range = crate::api::alerts::history_range(q.get("range").map(String::as_str));
    let status = crate::daemon!(app.gate, &caller.cred, MonitorStatus {});
    // One request per chart: only what is drawn crosses the wire (each answer stays far below
    // the frame limit, however many datasets or disks there are).
    let history = match &range {
        Ok(r) => {
            let mut all = Ok(Vec::new());
            for prefix in super::charts::PREFIXES {
                match crate::daemon!(app.gate, &caller.cred, MonitorHistory { prefix: prefix.to_owned(), range: *r }) {
                    Ok(mut series) => {
                        if let Ok(a) = all.as_mut() {
                            a.append(&mut series);
                        }
                    }
                    Err(e) => {
                        all = Err(e);
                        break;
                    }
                }
            }
            all
        }
        Err(e) => Err(e.clone()),
    };
    let jobs = crate::daemon!(app.gate, &caller.cred, ImageList { query: active_query() });
    let drives = crate::daemon!(app.gate, &caller.cred, DeviceList {});
    let pools = crate::daemon!(app.gate, &caller.cred, PoolList {});
    let failing = failing_disks(&app, &caller).await;
    let body = html! {
        div.grid {
            section.card.wide #jobs data-live aria-live="polite" {
                h2 { (l.t("Imaging jobs", "Abbild-Aufträge")) }
                @match &jobs {
                    Err(e) => (error_box(l, e)),
                    Ok(list) => {
                        @let active: Vec<_> = list.jobs.iter().filter(|j| is_active(j.status)).collect();
                        @if active.is_empty() { p.empty { (l.t("No job is running or queued.", "Kein Auftrag läuft oder wartet.")) } }
                        @else { table {
                            thead { tr { th { (l.t("Job", "Auftrag")) } th { (l.t("State", "Status")) } th { (l.t("Progress", "Fortschritt")) } } }
                            tbody { @for j in active { tr {
                                td { a href=(format!("/imaging/jobs/{}", j.id)) { (j.name) } br; span.hint { (j.device.as_deref().unwrap_or("")) } }
                                td { span.state data-job-state=(j.id) data-status=(j.status.as_str()) { (job_state_name(l, j.status)) }
                                     @if let Some(p) = j.position { " #" (p) } }
                                td { (progress_bar(l, j)) (super::imaging::job_actions(&caller, j, "/")) }
                            } } }
                        } }
                        p { a href="/imaging" { (l.t("All jobs and a new job", "Alle Aufträge und neuer Auftrag")) } }
                    },
                }
            }
            section.card #drives data-live {
                h2 { (l.t("Drives and media", "Laufwerke und Medien")) }
                @match &drives {
                    Err(e) => (error_box(l, e)),
                    Ok(list) => ul.plain { @for d in list { li {
                        strong { (d.path) } " " span.hint { (l.term(&d.kind)) @if let Some(m) = &d.model { " · " (m) } }
                        br;
                        @if let Some(m) = &d.medium {
                            (l.t("Medium:", "Medium:")) " " (m.label.as_deref().unwrap_or("-")) " (" (m.format) ", " (l.size(m.size_bytes)) ")"
                        } @else if d.has_media { (l.size(d.size_bytes)) } @else { span.hint { (l.t("no medium", "kein Medium")) } }
                    } } },
                }
            }
            // Always present (empty when all is well), so a live refresh can fill it.
            div.wide #alerts data-live role="alert" {
                @let bad: Vec<_> = pools.iter().flatten().filter(|p| p.health != "online").collect();
                @if !bad.is_empty() || !failing.is_empty() {
                    section.card {
                        h2 { (l.t("Alerts", "Warnungen")) }
                        @for p in bad { div.alert.error { (l.t("Pool", "Pool")) " " strong { (p.name) } ": " (l.term(&p.health)) } }
                        @for (disk, when) in &failing {
                            div.alert.error {
                                (l.t("Disk", "Festplatte")) " " a href=(format!("/devices/{}", disk.trim_start_matches("/dev/"))) { strong { (disk) } } ": "
                                (l.t("its SMART self-assessment says it is failing", "ihre SMART-Selbsteinschätzung meldet einen Ausfall"))
                                @if let Some(t) = when { " (" (t) ")" }
                            }
                        }
                    }
                }
            }
            (health_section(&caller, &status))
            (charts_section(&caller, &range, &history, &status))
            section.card #storage data-live {
                h2 { (l.t("Storage", "Speicher")) }
                @match &pools {
                    Err(e) => (error_box(l, e)),
                    Ok(list) if list.is_empty() => p.empty { (l.t("No storage pool yet.", "Noch kein Speicherpool.")) },
                    Ok(list) => ul.plain { @for p in list { li {
                        strong { (p.name) } " " span.badge.health data-health=(p.health) { (l.term(&p.health)) }
                        @if let (Some(size), Some(used)) = (p.size_bytes, p.used_bytes) {
                            @let pct = if size > 0 { used as f64 * 100.0 / size as f64 } else { 0.0 };
                            div.capacity { meter min="0" max="100" value=(format!("{pct:.1}")) {} " " (l.size(used)) " / " (l.size(size)) }
                        }
                    } } },
                }
            }
        }
    };
    let mut res = layout(&caller, super::Nav::Dashboard, l.t("Dashboard", "Übersicht"), body);
    if let Err(e) = &range {
        *res.status_mut() = crate::http::status_of(e.code);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::pages::alerts::tests::{HOSTILE, caller};
    use corenas_proto::monitor::{DiskSample, HealthSnapshot};
    use corenas_proto::web::Role;

    fn status() -> MonitorStatus {
        let disk = DiskSample {
            dev: "sda".into(),
            id: "wwn-1".into(),
            wwn: Some("wwn-1".into()),
            serial: None,
            model: Some(HOSTILE.into()),
            firmware: Some(HOSTILE.into()),
            rotational: Some(true),
            power: PowerState::Standby,
            smart_healthy: Some(false),
            temperature_c: Some(41),
            power_on_hours: None,
            attributes: vec![],
            nvme_percentage_used: None,
            nvme_available_spare: None,
            nvme_media_errors: None,
            smart_last_success: Some(1_700_000_000),
            last_error: Some(HOSTILE.into()),
        };
        MonitorStatus {
            snapshot: HealthSnapshot { disks: vec![disk], ..HealthSnapshot::default() },
            alerts: vec![],
            schedules: vec![],
        }
    }

    #[test]
    fn a_hostile_disk_model_is_text_in_the_table_and_in_the_chart() {
        let c = caller(Role::Viewer, Lang::En);
        let status = Ok(status());
        let html = health_section(&c, &status).into_string();
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;") && html.contains("standby (asleep)") && html.contains("FAILING"),
            "{html}"
        );
        let history = Ok(vec![Series {
            name: "disk_temperature_celsius:wwn-1".into(),
            points: vec![(1_700_000_000, 40.0), (1_700_000_060, 41.0)],
        }]);
        let charts = charts_section(&c, &Ok(HistoryRange::Day), &history, &status).into_string();
        assert!(
            charts.contains("<svg") && charts.contains("sda (&lt;script&gt;"),
            "labelled by device and model: {charts}"
        );
        assert!(!charts.contains("<script>") && !charts.contains("<img"), "{charts}");
        let bad = charts_section(&c, &"decade".parse::<HistoryRange>().map_err(WireError::from), &history, &status);
        assert!(bad.into_string().contains("E_INVALID_INPUT"), "a bad range is an error in the section");
    }
}
