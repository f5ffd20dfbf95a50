//! The dashboard: imaging jobs (active with progress, queued), drives with media, storage
//! capacity and health. Live updates come from the event stream (`live.js`); without script
//! the page is still complete, and a reload shows the current state.

use super::{error_box, job_state_name, layout, progress_bar};
use crate::app::AppState;
use crate::http::Caller;
use axum::extract::State;
use axum::response::Response;
use corenas_proto::imaging::{JobQuery, JobSort, JobState};
use maud::html;
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

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let l = caller.lang;
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
    layout(&caller, super::Nav::Dashboard, l.t("Dashboard", "Übersicht"), body)
}
