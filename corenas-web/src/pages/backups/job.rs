//! One backup job with live progress: the same mechanism as an imaging job's page (live.js
//! moves the bar from the event stream and reloads the page when the job ends; without
//! JavaScript the page reloads itself while the job runs).

use super::{is_active, job_kind_name, job_state, progress_bar};
use crate::api::backups::calls;
use crate::app::AppState;
use crate::http::Caller;
use crate::pages::layout_with;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;
use std::sync::Arc;

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    let l = caller.lang;
    let job = match crate::api::backups::job_id(&id) {
        Ok(id) => calls::job_show(&app, &caller.cred, &id).await,
        Err(e) => Err(e),
    };
    let job = match job {
        Ok(j) => j,
        Err(e) => return crate::pages::error_page(l, &e),
    };
    let active = is_active(job.state);
    let body = html! {
        section.card #job data-job-page=(job.id) data-active=(if active { "1" } else { "0" }) {
            dl.facts {
                dt { (l.t("State", "Status")) } dd { (job_state(l, &job)) }
                dt { (l.t("Kind", "Art")) } dd { (job_kind_name(l, job.kind)) }
                dt { (l.t("Task", "Aufgabe")) } dd { a href=(format!("/backups/tasks/{}", job.task)) { (job.task) } }
                dt { (l.t("Created", "Erstellt")) } dd { (l.datetime(&job.created_at)) }
                @if let Some(f) = &job.finished_at { dt { (l.t("Finished", "Beendet")) } dd { (l.datetime(f)) } }
                @if let Some(s) = &job.snapshot {
                    dt { (l.t("Snapshot", "Stand")) }
                    dd { a #job-snapshot href=(format!("/backups/tasks/{}/snapshots/{s}", job.task)) { code { (s) } } }
                }
                dt { (l.t("Files", "Dateien")) } dd { (l.int(job.progress.files_done)) " / " (l.int(job.progress.files_total)) }
                dt { (l.t("Data", "Daten")) } dd { (l.size(job.progress.bytes_done)) " / " (l.size(job.progress.bytes_total)) }
                @if let Some(d) = &job.detail { dt { (l.t("Detail", "Detail")) } dd #job-detail { (d) } }
                @if let Some(e) = &job.error { dt { (l.t("Error", "Fehler")) } dd.error #job-error { (e) } }
            }
            (progress_bar(l, &job))
        }
    };
    let title = format!("{} {}", l.t("Backup job", "Sicherungsauftrag"), job.id);
    let again = format!("/backups/jobs/{}?live=1", job.id);
    layout_with(&caller, crate::pages::Nav::Backups, &title, body, active.then_some((3, again.as_str())))
}
