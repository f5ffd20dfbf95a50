//! Backups: targets (where repositories are; add one per kind, secrets typed once and never
//! shown again), tasks (what is backed up where, kept how long, and how its last backup, check
//! and sample restore went), a task's page with its snapshots and retention preview, browsing a
//! snapshot and restoring from it, and a job's page with live progress. Every form posts without
//! JavaScript; live.js updates the progress bars and reloads a job page when its job ends.
//!
//! - `targets.rs`: the target list and the add forms.
//! - `tasks.rs`: the task list, the add form with the retention preview, a task's page.
//! - `browse.rs`: one directory of a snapshot, and the restore form.
//! - `job.rs`: one job, live.

pub mod browse;
pub mod job;
pub mod targets;
pub mod tasks;

use super::{csrf_input, layout};
use crate::api::backups::calls;
use crate::app::AppState;
use crate::http::Caller;
use crate::i18n::Lang;
use axum::extract::State;
use axum::response::Response;
use corenas_proto::backup::{BackupJobInfo, BackupJobKind, BackupJobState, RunSummary};
use maud::{Markup, html};
use std::sync::Arc;

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None, None, None).await
}

/// The backups page: tasks, then targets, with the add forms for administrators. `refill`: a
/// form that was refused, shown again with what was typed (never a secret).
pub async fn render(
    app: &AppState,
    caller: &Caller,
    notice: Option<Markup>,
    target_refill: Option<&crate::api::backups::input::TargetFields>,
    task_refill: Option<(&crate::api::backups::input::TaskFields, Option<Markup>)>,
) -> Response {
    let l = caller.lang;
    let targets = calls::target_list(app, &caller.cred).await;
    let tasks = calls::task_list(app, &caller.cred).await;
    let jobs = calls::job_list(app, &caller.cred, None, 20).await;
    let body = html! {
        @if let Some(n) = notice { (n) }
        (tasks::list(caller, &tasks))
        @if let Ok(jobs) = &jobs { (job_table(l, jobs, "backup-jobs")) }
        @if caller.is(corenas_proto::web::Role::Admin) {
            (tasks::add_form(app, caller, targets.as_deref().unwrap_or(&[]), task_refill).await)
        }
        (targets::list(caller, &targets))
        @if caller.is(corenas_proto::web::Role::Admin) { (targets::add_forms(caller, target_refill)) }
    };
    layout(caller, super::Nav::Backups, l.t("Backups", "Datensicherung"), body)
}

pub fn job_kind_name(l: Lang, k: BackupJobKind) -> &'static str {
    match k {
        BackupJobKind::Backup => l.t("backup", "Sicherung"),
        BackupJobKind::Forget => l.t("retention", "Aufbewahrung"),
        BackupJobKind::Check => l.t("check", "Prüfung"),
        BackupJobKind::SampleRestore => l.t("sample restore", "Stichproben-Wiederherstellung"),
        BackupJobKind::Restore => l.t("restore", "Wiederherstellung"),
    }
}

pub fn job_state_name(l: Lang, s: BackupJobState) -> &'static str {
    match s {
        BackupJobState::Queued => l.t("queued", "wartend"),
        BackupJobState::Running => l.t("running", "läuft"),
        BackupJobState::Done => l.t("done", "fertig"),
        BackupJobState::Failed => l.t("failed", "fehlgeschlagen"),
    }
}

pub fn state_str(s: BackupJobState) -> &'static str {
    match s {
        BackupJobState::Queued => "queued",
        BackupJobState::Running => "running",
        BackupJobState::Done => "done",
        BackupJobState::Failed => "failed",
    }
}

pub fn is_active(s: BackupJobState) -> bool {
    matches!(s, BackupJobState::Queued | BackupJobState::Running)
}

/// A progress bar that works without JavaScript and that live.js updates in place
/// (`data-job`, the same markup as an imaging job's).
pub fn progress_bar(l: Lang, job: &BackupJobInfo) -> Markup {
    let p = &job.progress;
    #[allow(clippy::cast_possible_truncation, reason = "saturating float-to-int of a non-negative rate")]
    let rate = p.rate_bps.map(|r| r.max(0.0) as u64);
    html! {
        div.progress data-job=(job.id) {
            progress max="100" value=(format!("{:.1}", p.percent)) aria-label=(l.t("Progress", "Fortschritt")) {}
            span.pct { (l.percent(p.percent)) }
            span.rate { @if let Some(r) = rate { (l.rate(r)) } }
            span.eta { @if let Some(e) = p.eta_seconds { (l.t("ETA", "Rest")) " " (l.duration(e)) } }
        }
    }
}

pub fn job_state(l: Lang, job: &BackupJobInfo) -> Markup {
    html! { span.state data-job-state=(job.id) data-status=(state_str(job.state)) { (job_state_name(l, job.state)) } }
}

/// Recent jobs, each linking to its page. `id`: the section's id (live.js swaps it in again
/// when a job starts or ends).
pub fn job_table(l: Lang, jobs: &[BackupJobInfo], id: &str) -> Markup {
    html! {
        section.card id=(id) data-live {
            h2 { (l.t("Jobs", "Aufträge")) }
            @if jobs.is_empty() { p.empty { (l.t("No jobs yet.", "Noch keine Aufträge.")) } }
            @else {
                table {
                    thead { tr {
                        th { (l.t("Job", "Auftrag")) } th { (l.t("Task", "Aufgabe")) } th { (l.t("Kind", "Art")) }
                        th { (l.t("State", "Status")) } th { (l.t("Progress", "Fortschritt")) } th { (l.t("Created", "Erstellt")) }
                    } }
                    tbody { @for j in jobs { tr {
                        td { a href=(format!("/backups/jobs/{}", j.id)) { (j.id) } }
                        td { (j.task) }
                        td { (job_kind_name(l, j.kind)) }
                        td { (job_state(l, j)) }
                        td { (progress_bar(l, j)) }
                        td { (l.datetime(&j.created_at)) }
                    } } }
                }
            }
        }
    }
}

/// How a run went, in one cell: when, ok or failed, and the detail.
pub fn summary(l: Lang, s: &Option<RunSummary>) -> Markup {
    html! {
        @match s {
            None => span.empty { (l.t("never", "nie")) },
            Some(r) => {
                span.state data-status=(if r.ok { "done" } else { "failed" }) {
                    (if r.ok { l.t("ok", "ok") } else { l.t("failed", "fehlgeschlagen") })
                }
                " · " (l.datetime(&crate::api::rfc3339_of(r.finished_at)))
                " · " a href=(format!("/backups/jobs/{}", r.job)) { (r.job) }
                @if !r.detail.is_empty() { br; span.hint { (r.detail) } }
            }
        }
    }
}

/// A small form with one button that posts to `action`.
pub fn button_form(caller: &Caller, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_input(caller))
            button class=(class) type="submit" { (label) }
        }
    }
}
