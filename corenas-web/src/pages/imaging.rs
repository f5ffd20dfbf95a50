//! Imaging: a new job on a drive, the job list, one job with live progress, cancel, and the
//! archive with downloads.

use super::{csrf_input, error_box, job_state_name, layout, layout_with, ok_box, progress_bar};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use corenas_proto::WireError;
use corenas_proto::imaging::{ArchiveQuery, ArchiveSort, ImageCreate, JobOptions};
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

async fn render(app: &AppState, caller: &Caller, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let jobs = crate::daemon!(app.gate, &caller.cred, ImageList { query: super::dashboard::active_query() });
    let drives = crate::daemon!(app.gate, &caller.cred, DeviceList {});
    let query =
        ArchiveQuery { search: None, tag: None, sort: ArchiveSort::Created, descending: true, limit: 50, offset: 0 };
    let archive = crate::daemon!(app.gate, &caller.cred, ArchiveList { query });
    let operator = caller.is(Role::Operator);
    let body = html! {
        @if let Some(n) = notice { (n) }
        @if operator {
            section.card #new-job {
                h2 { (l.t("New imaging job", "Neuer Abbild-Auftrag")) }
                @match &drives {
                    Err(e) => (error_box(l, e)),
                    Ok(list) => form method="post" action="/imaging/jobs" {
                        (csrf_input(caller))
                        label for="device" { (l.t("Drive", "Laufwerk")) }
                        select #device name="device" required {
                            @for d in list {
                                option value=(d.path) disabled[!d.in_use.is_empty() || d.job.is_some()] {
                                    (d.path) " · " (l.term(&d.kind)) " · " (l.size(d.size_bytes))
                                    @if let Some(m) = &d.medium { @if let Some(label) = &m.label { " · " (label) } }
                                    @if !d.in_use.is_empty() { " (" (d.in_use.join(", ")) ")" }
                                }
                            }
                        }
                        label for="job-name" { (l.t("Job name", "Auftragsname")) }
                        input #job-name name="name" type="text" required autocomplete="off";
                        p.hint { (l.t("1-64 of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", "1-64 Zeichen aus A-Z, a-z, 0-9, '.', '_' und '-', beginnend mit einem Buchstaben oder einer Ziffer")) }
                        label.choice { input type="checkbox" name="verify" value="1"; " " (l.t("Verify: read the source again and compare", "Prüfen: Quelle erneut lesen und vergleichen")) }
                        label.choice { input type="checkbox" name="md5" value="1"; " " (l.t("Also compute MD5", "Zusätzlich MD5 berechnen")) }
                        label.choice { input type="checkbox" name="eject" value="1"; " " (l.t("Eject the medium when the copy is done", "Medium nach dem Kopieren auswerfen")) }
                        label.choice { input type="checkbox" name="keep_partial" value="1"; " " (l.t("Keep the partial image if the job is cancelled", "Teilabbild behalten, wenn der Auftrag abgebrochen wird")) }
                        label for="job-retries" { (l.t("Extra read attempts on bad areas (0-5)", "Zusätzliche Leseversuche bei defekten Bereichen (0-5)")) }
                        input #job-retries name="retries" type="number" min="0" max="5" value=(JobOptions::default().retries.get());
                        label for="job-priority" { (l.t("Priority in the queue", "Priorität in der Warteschlange")) }
                        select #job-priority name="priority" {
                            option value="low" { (l.t("low", "niedrig")) }
                            option value="normal" selected { (l.t("normal", "normal")) }
                            option value="high" { (l.t("high", "hoch")) }
                        }
                        button type="submit" { (l.t("Start imaging", "Abbild starten")) }
                    },
                }
            }
        }
        section.card {
            h2 { (l.t("Jobs", "Aufträge")) }
            @match &jobs {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.jobs.is_empty() => p.empty { (l.t("No jobs yet.", "Noch keine Aufträge.")) },
                Ok(list) => table #job-list {
                    thead { tr { th { (l.t("Job", "Auftrag")) } th { (l.t("Device", "Gerät")) } th { (l.t("State", "Status")) } th { (l.t("Progress", "Fortschritt")) } th { (l.t("Created", "Erstellt")) } } }
                    tbody { @for j in &list.jobs { tr {
                        td { a href=(format!("/imaging/jobs/{}", j.id)) { (j.name) } }
                        td { (j.device.as_deref().unwrap_or("-")) }
                        td { span.state data-job-state=(j.id) data-status=(j.status.as_str()) { (job_state_name(l, j.status)) } }
                        td { (progress_bar(l, j)) }
                        td { (l.datetime(&j.created_at)) }
                    } } }
                },
            }
        }
        section.card #archive {
            h2 { (l.t("Archive", "Archiv")) " " a href="/archive" { (l.t("search, tags, notes, verify", "Suche, Schlagwörter, Notizen, Prüfen")) } }
            @match &archive {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.archives.is_empty() => p.empty { (l.t("No images archived yet.", "Noch keine Abbilder archiviert.")) },
                Ok(list) => table {
                    thead { tr { th { (l.t("Name", "Name")) } th { (l.t("Label", "Bezeichnung")) } th.num { (l.t("Size", "Größe")) } th { "SHA-256" } th {} } }
                    tbody { @for a in &list.archives { tr {
                        td { (a.name) } td { (a.label.as_deref().unwrap_or("-")) } td.num { (l.size(a.size_bytes)) }
                        td { code.hash { (a.checksums.sha256.get(..16).unwrap_or(&a.checksums.sha256)) "…" } }
                        td { a.button href=(format!("/archive/{}/download", a.id)) download { (l.t("Download", "Herunterladen")) } }
                    } } }
                },
            }
        }
    };
    layout(caller, super::Nav::Imaging, l.t("Imaging", "Abbilder"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None).await
}

#[derive(Debug, Deserialize)]
pub struct JobForm {
    csrf: Option<String>,
    #[serde(default)]
    device: String,
    #[serde(default)]
    name: String,
    verify: Option<String>,
    md5: Option<String>,
    eject: Option<String>,
    keep_partial: Option<String>,
    /// Extra read attempts on bad areas (0-5); empty: the default.
    #[serde(default)]
    retries: String,
    /// low, normal or high; empty: normal.
    #[serde(default)]
    priority: String,
}

fn image_create(f: &JobForm) -> Result<ImageCreate, WireError> {
    let defaults = JobOptions::default();
    Ok(ImageCreate {
        name: f.name.trim().parse()?,
        device: f.device.parse()?,
        options: JobOptions {
            verify: f.verify.is_some(),
            md5: f.md5.is_some(),
            eject: f.eject.is_some(),
            keep_partial_on_cancel: f.keep_partial.is_some(),
            retries: if f.retries.trim().is_empty() { defaults.retries } else { f.retries.trim().parse()? },
            priority: if f.priority.is_empty() { defaults.priority } else { f.priority.parse()? },
            ..defaults
        },
    })
}

pub async fn job_create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<JobForm>) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| image_create(&f)) {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, ImageCreate { req, dry_run: false }),
        Err(e) => Err(e),
    };
    match r {
        Ok(change) => match change.result {
            Some(job) => Redirect::to(&format!("/imaging/jobs/{}", job.id)).into_response(),
            None => render(&app, &caller, Some(ok_box(l.t("Job queued.", "Auftrag eingereiht.")))).await,
        },
        Err(e) => render(&app, &caller, Some(error_box(l, &e))).await,
    }
}

pub async fn job_page(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    let l = caller.lang;
    let job = crate::daemon!(app.gate, &caller.cred, ImageShow { id: id.clone() });
    let job = match job {
        Ok(j) => j,
        Err(e) => return super::error_page(l, &e),
    };
    let active = super::dashboard::is_active(job.status);
    // The job's history: every audit entry that names it (queued, paused, cancelled, by whom),
    // found by corenasd over the whole log.
    let filter = corenas_proto::api::AuditFilter { mentions: Some(format!("\"{}\"", job.id)), ..Default::default() };
    let history: Vec<corenas_proto::api::AuditEntry> = crate::daemon!(
        app.gate,
        &caller.cred,
        LogSearch { filter, before: None, after: None, limit: corenas_proto::api::AUDIT_PAGE_MAX }
    )
    .unwrap_or_default();
    let archive = match &job.archive_id {
        Some(a) => crate::daemon!(app.gate, &caller.cred, ArchiveShow { id: a.clone() }).ok(),
        None => None,
    };
    let body = html! {
        section.card #job data-job-page=(job.id) data-active=(if active { "1" } else { "0" }) {
            dl.facts {
                dt { (l.t("State", "Status")) } dd { span.state data-job-state=(job.id) data-status=(job.status.as_str()) { (job_state_name(l, job.status)) } }
                dt { (l.t("Device", "Gerät")) } dd { (job.device.as_deref().unwrap_or("-")) }
                @if let Some(m) = &job.medium {
                    dt { (l.t("Medium", "Medium")) } dd { (m.label.as_deref().unwrap_or("-")) " (" (m.format) ", " (l.size(m.size_bytes)) ")" }
                }
                dt { (l.t("Created", "Erstellt")) } dd { (l.datetime(&job.created_at)) }
                @if let Some(f) = &job.finished_at { dt { (l.t("Finished", "Beendet")) } dd { (l.datetime(f)) } }
                @if let Some(e) = &job.error { dt { (l.t("Error", "Fehler")) } dd.error { (e) } }
            }
            (progress_bar(l, &job))
            (job_actions(&caller, &job, "job"))
            @if let Some(a) = &archive {
                h2 { (l.t("Image", "Abbild")) }
                dl.facts {
                    dt { (l.t("File", "Datei")) } dd { (a.filename) " (" (l.size(a.size_bytes)) ")" }
                    dt { "SHA-256" } dd { code #sha256 { (a.checksums.sha256) } }
                    @if let Some(m) = &a.checksums.md5 { dt { "MD5" } dd { code { (m) } } }
                }
                p { a.button #download href=(format!("/archive/{}/download", a.id)) download { (l.t("Download image", "Abbild herunterladen")) } }
            }
        }
        section.card #job-log {
            h2 { (l.t("Log", "Protokoll")) }
            @if history.is_empty() { p.empty { "-" } }
            ol.plain { @for e in history.iter().rev() { li { (l.datetime(&e.time)) " · " code { (e.action) } " · " (l.term(&e.result)) " · " (e.principal) } } }
        }
    };
    let title = format!("{} {}", l.t("Job", "Auftrag"), job.name);
    let again = format!("/imaging/jobs/{}?live=1", job.id);
    layout_with(&caller, super::Nav::Imaging, &title, body, active.then_some((3, again.as_str())))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    /// Where to go afterwards: the dashboard or the job's page (nothing else).
    #[serde(default)]
    back: String,
    /// With action "priority": low, normal or high.
    #[serde(default)]
    priority: String,
}

/// The buttons for a job that is still going: pause or resume, and cancel.
pub fn job_actions(caller: &Caller, job: &corenas_proto::imaging::JobInfo, back: &str) -> Markup {
    use corenas_proto::imaging::JobState;
    let l = caller.lang;
    let button = |action: &'static str, label: &'static str, class: &'static str| {
        html! {
            form.inline method="post" action=(format!("/imaging/jobs/{}/action", job.id)) {
                (csrf_input(caller))
                input type="hidden" name="action" value=(action);
                input type="hidden" name="back" value=(back);
                button class=(class) type="submit" { (label) }
            }
        }
    };
    html! {
        @if caller.is(Role::Operator) {
            @match job.status {
                JobState::Running | JobState::Queued => (button("pause", l.t("Pause", "Pausieren"), "secondary")),
                JobState::Paused => (button("resume", l.t("Resume", "Fortsetzen"), "secondary")),
                _ => {},
            }
            " "
            @if super::dashboard::is_active(job.status) { (button("cancel", l.t("Cancel", "Abbrechen"), "danger")) }
            // A queued job moves up or down the queue.
            @if job.status == JobState::Queued {
                form.inline method="post" action=(format!("/imaging/jobs/{}/action", job.id)) {
                    (csrf_input(caller))
                    input type="hidden" name="action" value="priority";
                    input type="hidden" name="back" value=(back);
                    label for=(format!("prio-{}", job.id)) { (l.t("Priority", "Priorität")) }
                    " "
                    select id=(format!("prio-{}", job.id)) name="priority" {
                        @for (p, en, de) in [("low", "low", "niedrig"), ("normal", "normal", "normal"), ("high", "high", "hoch")] {
                            option value=(p) selected[job.priority.as_str() == p] { (l.t(en, de)) }
                        }
                    }
                    " "
                    button.secondary type="submit" { (l.t("Set", "Setzen")) }
                }
            }
        }
    }
}

pub async fn job_action(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return super::error_page(caller.lang, &e);
    }
    let cred = &caller.cred;
    let r = match f.action.as_str() {
        "pause" => crate::daemon!(app.gate, cred, ImagePause { id: id.clone(), dry_run: false }).map(drop),
        "resume" => crate::daemon!(app.gate, cred, ImageResume { id: id.clone(), dry_run: false }).map(drop),
        "cancel" => {
            crate::daemon!(app.gate, cred, ImageCancel { id: id.clone(), delete_partial: None, dry_run: false })
                .map(drop)
        }
        "priority" => match f.priority.parse() {
            Ok(priority) => {
                crate::daemon!(app.gate, cred, ImagePriority { id: id.clone(), priority, dry_run: false }).map(drop)
            }
            Err(e) => Err(WireError::from(e)),
        },
        _ => Err(WireError::invalid("action", "action is invalid: use pause, resume, cancel or priority")),
    };
    match r {
        Ok(()) if f.back == "/" => Redirect::to("/").into_response(),
        Ok(()) => Redirect::to(&format!("/imaging/jobs/{id}")).into_response(),
        Err(e) => super::error_page(caller.lang, &e),
    }
}
