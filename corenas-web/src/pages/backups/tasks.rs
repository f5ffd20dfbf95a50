//! Backup tasks: the list with how each one's last backup, check and sample restore went and
//! when it runs next; the add form, whose "Preview retention" button shows which snapshots a
//! keep policy would remove and why the others stay, before anything is saved; a task's page
//! with its snapshots, jobs, "Back up now" and the keep policy's change (previewed the same way).

use super::{button_form, job_table, render, summary};
use crate::api::backups::calls;
use crate::api::backups::input::{self, KeepFields, TaskFields};
use crate::app::AppState;
use crate::http::{self, Caller};
use crate::pages::{csrf_input, error_box, layout, ok_box};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use corenas_proto::backup::{BackupName, KeepPolicy, RetentionPreview, TargetInfo, TaskInfo, TaskModify};
use corenas_proto::web::Role;
use corenas_proto::{ErrorCode, WireError};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

fn every_name(l: crate::i18n::Lang, every: &str) -> &'static str {
    match every {
        "daily" => l.t("daily", "täglich"),
        "weekly" => l.t("weekly", "wöchentlich"),
        "monthly" => l.t("monthly", "monatlich"),
        _ => l.t("only when asked", "nur auf Anforderung"),
    }
}

fn keep_text(k: &KeepPolicy) -> String {
    if k.keeps_everything() {
        return "all".into();
    }
    [
        ("last", k.last),
        ("hourly", k.hourly),
        ("daily", k.daily),
        ("weekly", k.weekly),
        ("monthly", k.monthly),
        ("yearly", k.yearly),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect::<Vec<_>>()
    .join(", ")
}

pub fn list(caller: &Caller, tasks: &Result<Vec<TaskInfo>, WireError>) -> Markup {
    let l = caller.lang;
    html! {
        section.card #backup-tasks {
            h2 { (l.t("Tasks", "Aufgaben")) }
            @match tasks {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No backup tasks yet.", "Noch keine Sicherungsaufgaben.")) },
                Ok(list) => table #task-list {
                    thead { tr {
                        th { (l.t("Task", "Aufgabe")) } th { (l.t("Source → target", "Quelle → Ziel")) }
                        th { (l.t("Last backup", "Letzte Sicherung")) } th { (l.t("Last check", "Letzte Prüfung")) }
                        th { (l.t("Last sample restore", "Letzte Stichprobe")) } th { (l.t("Next run", "Nächster Lauf")) }
                    } }
                    tbody { @for t in list { tr {
                        td { a href=(format!("/backups/tasks/{}", t.spec.name)) { (t.spec.name) } }
                        td { code { (input::source_text(&t.spec.source)) } " → " (t.spec.target) }
                        td { (summary(l, &t.last_backup)) }
                        td { (summary(l, &t.last_check)) }
                        td { (summary(l, &t.last_sample_restore)) }
                        td { @match t.next_run {
                            Some(at) => (l.datetime(&crate::api::rfc3339_of(at))),
                            None => span.empty { (every_name(l, t.spec.every.as_str())) },
                        } }
                    } } }
                },
            }
        }
    }
}

fn number_field(id: &str, name: &str, label: &str, value: &str, min: u32, max: u32) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type="number" min=(min) max=(max) value=(value);
    }
}

/// The six keep counts (0: not used; all 0: keep everything).
fn keep_fields(l: crate::i18n::Lang, prefix: &str, k: &KeepFields) -> Markup {
    html! {
        fieldset.keep {
            legend { (l.t("Keep (restic forget; all 0 keeps everything)", "Behalten (restic forget; alle 0 behält alles)")) }
            (number_field(&format!("{prefix}-keep-last"), "keep_last", l.t("Last N snapshots", "Letzte N Stände"), &k.last, 0, 65535))
            (number_field(&format!("{prefix}-keep-hourly"), "keep_hourly", l.t("Hourly", "Stündlich"), &k.hourly, 0, 65535))
            (number_field(&format!("{prefix}-keep-daily"), "keep_daily", l.t("Daily", "Täglich"), &k.daily, 0, 65535))
            (number_field(&format!("{prefix}-keep-weekly"), "keep_weekly", l.t("Weekly", "Wöchentlich"), &k.weekly, 0, 65535))
            (number_field(&format!("{prefix}-keep-monthly"), "keep_monthly", l.t("Monthly", "Monatlich"), &k.monthly, 0, 65535))
            (number_field(&format!("{prefix}-keep-yearly"), "keep_yearly", l.t("Yearly", "Jährlich"), &k.yearly, 0, 65535))
        }
    }
}

/// What a keep policy would do: the snapshots removed, and the ones kept with restic's reasons.
pub fn preview_box(l: crate::i18n::Lang, p: &RetentionPreview) -> Markup {
    html! {
        section #retention-preview aria-live="polite" {
            h3 { (l.t("Retention preview", "Vorschau der Aufbewahrung")) }
            p { (p.remove.len()) " " (l.t("snapshots would be removed,", "Stände würden entfernt,")) " " (p.keep.len()) " " (l.t("kept.", "behalten.")) }
            @if !p.remove.is_empty() {
                table #preview-remove {
                    caption { (l.t("Removed", "Entfernt")) }
                    thead { tr { th { (l.t("Snapshot", "Stand")) } th { (l.t("Time", "Zeit")) } } }
                    tbody { @for s in &p.remove { tr { td { code { (s.short_id) } } td { (l.datetime(&s.time)) } } } }
                }
            }
            @if !p.keep.is_empty() {
                table #preview-keep {
                    caption { (l.t("Kept, and why", "Behalten, und warum")) }
                    thead { tr { th { (l.t("Snapshot", "Stand")) } th { (l.t("Time", "Zeit")) } th { (l.t("Reasons", "Gründe")) } } }
                    tbody { @for (s, why) in &p.keep { tr { td { code { (s.short_id) } } td { (l.datetime(&s.time)) } td { (why.join(", ")) } } } }
                }
            }
        }
    }
}

/// The add form. `refill`: what was typed (and a preview or error to show above it).
pub async fn add_form(
    app: &AppState,
    caller: &Caller,
    targets: &[TargetInfo],
    refill: Option<(&TaskFields, Option<Markup>)>,
) -> Markup {
    let l = caller.lang;
    let pools = crate::daemon!(app.gate, &caller.cred, PoolList {}).unwrap_or_default();
    let shares = crate::daemon!(app.gate, &caller.cred, ShareList {}).unwrap_or_default();
    // Datasets of the pools that have them (ZFS, btrfs); a pool without any answers an error.
    let mut datasets = Vec::new();
    for p in &pools {
        if let Ok(pool) = p.name.parse() {
            datasets.extend(
                crate::daemon!(app.gate, &caller.cred, DatasetList { pool })
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.name)
                    .filter(|n| n.contains('/')),
            );
        }
    }
    let empty = TaskFields {
        every: "daily".into(),
        hour: "1".into(),
        check_subset: "10".into(),
        sample_files: "3".into(),
        ..Default::default()
    };
    let (f, shown) = match refill {
        Some((f, shown)) => (f, shown),
        None => (&empty, None),
    };
    html! {
        section.card #new-task {
            h2 { (l.t("Add a backup task", "Sicherungsaufgabe hinzufügen")) }
            @if let Some(s) = shown { (s) }
            form method="post" action="/backups/tasks" {
                (csrf_input(caller))
                label for="task-name" { (l.t("Name", "Name")) }
                input #task-name name="name" type="text" required autocomplete="off" value=(f.name);
                label for="task-source" { (l.t("Source", "Quelle")) }
                select #task-source name="source" required {
                    @for p in &pools { @let v = format!("pool:{}", p.name); option value=(v) selected[f.source == v] { (l.t("Pool", "Pool")) " " (p.name) } }
                    @for d in &datasets { @let v = format!("dataset:{d}"); option value=(v) selected[f.source == v] { (l.t("Dataset", "Dataset")) " " (d) } }
                    @for s in &shares { @let v = format!("share:{}", s.def.name); option value=(v) selected[f.source == v] { (l.t("Share", "Freigabe")) " " (s.def.name) } }
                }
                label for="task-target" { (l.t("Target", "Ziel")) }
                select #task-target name="target" required {
                    @for t in targets { option value=(t.name) selected[f.target == t.name.as_str()] { (t.name) " (" (t.location.kind()) ")" } }
                }
                label for="task-every" { (l.t("Runs", "Läuft")) }
                select #task-every name="every" {
                    @for e in ["daily", "weekly", "monthly", "off"] { option value=(e) selected[f.every == e] { (every_name(l, e)) } }
                }
                (number_field("task-hour", "hour", l.t("At hour (0-23, server time)", "Zur Stunde (0-23, Serverzeit)"), &f.hour, 0, 23))
                (keep_fields(l, "task", &f.keep))
                label for="task-excludes" { (l.t("Exclude (one pattern a line)", "Ausschließen (ein Muster je Zeile)")) }
                textarea #task-excludes name="excludes" rows="3" { (f.excludes) }
                (number_field("task-check", "check_subset", l.t("Check reads 1/N of the data per run (0: structure only)", "Prüfung liest 1/N der Daten je Lauf (0: nur Struktur)"), &f.check_subset, 0, 65535))
                (number_field("task-sample", "sample_files", l.t("Files the sample restore compares", "Dateien, die die Stichprobe vergleicht"), &f.sample_files, 0, 65535))
                label.choice { input type="checkbox" name="live" value="1" checked[f.live]; " " (l.t("Back up the live tree if the source cannot be snapshotted (ext4, xfs)", "Den laufenden Baum sichern, wenn die Quelle keinen Schnappschuss kann (ext4, xfs)")) }
                button.secondary type="submit" name="action" value="preview" { (l.t("Preview retention", "Aufbewahrung vorschauen")) }
                " "
                button type="submit" name="action" value="create" { (l.t("Add task", "Aufgabe hinzufügen")) }
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TaskForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    every: String,
    #[serde(default)]
    hour: String,
    #[serde(default)]
    keep_last: String,
    #[serde(default)]
    keep_hourly: String,
    #[serde(default)]
    keep_daily: String,
    #[serde(default)]
    keep_weekly: String,
    #[serde(default)]
    keep_monthly: String,
    #[serde(default)]
    keep_yearly: String,
    #[serde(default)]
    excludes: String,
    #[serde(default)]
    check_subset: String,
    #[serde(default)]
    sample_files: String,
    live: Option<String>,
}

impl TaskForm {
    fn keep(&self) -> KeepFields {
        KeepFields {
            last: self.keep_last.clone(),
            hourly: self.keep_hourly.clone(),
            daily: self.keep_daily.clone(),
            weekly: self.keep_weekly.clone(),
            monthly: self.keep_monthly.clone(),
            yearly: self.keep_yearly.clone(),
        }
    }
    fn fields(&self) -> TaskFields {
        TaskFields {
            name: self.name.clone(),
            source: self.source.clone(),
            target: self.target.clone(),
            every: self.every.clone(),
            hour: self.hour.clone(),
            keep: self.keep(),
            excludes: self.excludes.clone(),
            check_subset: self.check_subset.clone(),
            sample_files: self.sample_files.clone(),
            live: self.live.is_some(),
        }
    }
}

fn no_snapshots_note(l: crate::i18n::Lang) -> Markup {
    html! {
        section #retention-preview aria-live="polite" {
            h3 { (l.t("Retention preview", "Vorschau der Aufbewahrung")) }
            p { (l.t("No snapshots of this task yet (or a policy that keeps everything): nothing would be removed.", "Noch keine Stände dieser Aufgabe (oder eine Regel, die alles behält): nichts würde entfernt.")) }
        }
    }
}

/// A preview for a task that has no snapshots yet (or none in corenasd's eyes) removes nothing.
async fn preview_or_note(app: &AppState, caller: &Caller, task: &BackupName, keep: &KeepPolicy) -> Markup {
    let l = caller.lang;
    match calls::retention_preview(app, &caller.cred, task, keep).await {
        Ok(p) => preview_box(l, &p),
        Err(e) if e.code == ErrorCode::NotFound => no_snapshots_note(l),
        Err(e) => error_box(l, &e),
    }
}

pub async fn create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<TaskForm>) -> Response {
    let l = caller.lang;
    let fields = f.fields();
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return crate::pages::error_page(l, &e);
    }
    let spec = match input::task(&fields) {
        Ok(s) => s,
        Err(e) => return render(&app, &caller, None, None, Some((&fields, Some(error_box(l, &e))))).await,
    };
    // The preview of a new task is its creation as a dry run: corenasd checks the whole task
    // and computes what the policy would do to snapshots the repository already holds for it.
    if f.action == "preview" {
        let shown = match calls::task_create(&app, &caller.cred, &spec, true).await {
            Ok(c) => match c.result.and_then(|r| r.preview) {
                Some(p) => preview_box(l, &p),
                None => no_snapshots_note(l),
            },
            Err(e) => error_box(l, &e),
        };
        return render(&app, &caller, None, None, Some((&fields, Some(shown)))).await;
    }
    match calls::task_create(&app, &caller.cred, &spec, false).await {
        Ok(_) => Redirect::to(&format!("/backups/tasks/{}", spec.name)).into_response(),
        Err(e) => render(&app, &caller, None, None, Some((&fields, Some(error_box(l, &e))))).await,
    }
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Path(name): Path<String>) -> Response {
    task_page(&app, &caller, &name, None, None).await
}

async fn task_page(
    app: &AppState,
    caller: &Caller,
    name: &str,
    notice: Option<Markup>,
    keep_refill: Option<KeepFields>,
) -> Response {
    let l = caller.lang;
    let task = match crate::api::backups::name(name) {
        Ok(n) => calls::task_show(app, &caller.cred, &n).await,
        Err(e) => Err(e),
    };
    let task = match task {
        Ok(t) => t,
        Err(e) => return crate::pages::error_page(l, &e),
    };
    let n = &task.spec.name;
    let snapshots = calls::snapshots(app, &caller.cred, n).await;
    let jobs = calls::job_list(app, &caller.cred, Some(n), 20).await;
    let k = &task.spec.keep;
    let keep = keep_refill.unwrap_or_else(|| KeepFields {
        last: k.last.to_string(),
        hourly: k.hourly.to_string(),
        daily: k.daily.to_string(),
        weekly: k.weekly.to_string(),
        monthly: k.monthly.to_string(),
        yearly: k.yearly.to_string(),
    });
    let admin = caller.is(Role::Admin);
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card #task {
            dl.facts {
                dt { (l.t("Source", "Quelle")) } dd { code { (input::source_text(&task.spec.source)) } }
                dt { (l.t("Target", "Ziel")) } dd { (task.spec.target) }
                dt { (l.t("Runs", "Läuft")) } dd { (every_name(l, task.spec.every.as_str())) @if task.spec.every.as_str() != "off" { ", " (task.spec.hour) ":00" } }
                dt { (l.t("Keeps", "Behält")) } dd { (keep_text(&task.spec.keep)) }
                @if !task.spec.excludes.is_empty() { dt { (l.t("Excludes", "Ausgeschlossen")) } dd { @for e in &task.spec.excludes { code { (e) } " " } } }
                dt { (l.t("Last backup", "Letzte Sicherung")) } dd { (summary(l, &task.last_backup)) }
                dt { (l.t("Last check", "Letzte Prüfung")) } dd { (summary(l, &task.last_check)) }
                dt { (l.t("Last sample restore", "Letzte Stichprobe")) } dd { (summary(l, &task.last_sample_restore)) }
                dt { (l.t("Next run", "Nächster Lauf")) } dd { @match task.next_run { Some(at) => (l.datetime(&crate::api::rfc3339_of(at))), None => "-" } }
            }
            @if admin { (button_form(caller, &format!("/backups/tasks/{n}/run"), l.t("Back up now", "Jetzt sichern"), "primary")) }
        }
        @if let Ok(jobs) = &jobs { (job_table(l, jobs, "task-jobs")) }
        section.card #snapshots {
            h2 { (l.t("Snapshots", "Stände")) }
            @match &snapshots {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No snapshots yet.", "Noch keine Stände.")) },
                Ok(list) => table #snapshot-list {
                    thead { tr { th { (l.t("Snapshot", "Stand")) } th { (l.t("Time", "Zeit")) } th { (l.t("Host", "Host")) } } }
                    tbody { @for s in list.iter().rev() { tr {
                        td { a href=(format!("/backups/tasks/{n}/snapshots/{}", s.id)) { code { (s.short_id) } } }
                        td { (l.datetime(&s.time)) }
                        td { (s.hostname) }
                    } } }
                },
            }
        }
        @if admin {
            section.card #keep-policy {
                h2 { (l.t("Retention", "Aufbewahrung")) }
                form method="post" action=(format!("/backups/tasks/{n}/keep")) {
                    (csrf_input(caller))
                    (keep_fields(l, "edit", &keep))
                    button.secondary type="submit" name="action" value="preview" { (l.t("Preview retention", "Aufbewahrung vorschauen")) }
                    " "
                    button type="submit" name="action" value="save" { (l.t("Save", "Speichern")) }
                }
            }
            section.card #task-delete {
                h2 { (l.t("Remove the task", "Aufgabe entfernen")) }
                p.hint { (l.t("Its snapshots stay in the repository.", "Seine Stände bleiben im Repository.")) }
                (button_form(caller, &format!("/backups/tasks/{n}/delete"), l.t("Remove task", "Aufgabe entfernen"), "danger"))
            }
        }
    };
    let title = format!("{} {}", l.t("Backup task", "Sicherungsaufgabe"), n);
    layout(caller, crate::pages::Nav::Backups, &title, body)
}

#[derive(Debug, Deserialize)]
pub struct KeepForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    keep_last: String,
    #[serde(default)]
    keep_hourly: String,
    #[serde(default)]
    keep_daily: String,
    #[serde(default)]
    keep_weekly: String,
    #[serde(default)]
    keep_monthly: String,
    #[serde(default)]
    keep_yearly: String,
}

/// Previews or saves a task's keep policy.
pub async fn keep(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<KeepForm>,
) -> Response {
    let l = caller.lang;
    let fields = KeepFields {
        last: f.keep_last,
        hourly: f.keep_hourly,
        daily: f.keep_daily,
        weekly: f.keep_weekly,
        monthly: f.keep_monthly,
        yearly: f.keep_yearly,
    };
    let args = http::require_csrf(&caller, f.csrf.as_deref())
        .and_then(|()| Ok((crate::api::backups::name(&name)?, input::keep(&fields)?)));
    let (task, policy) = match args {
        Ok(a) => a,
        Err(e) => return task_page(&app, &caller, &name, Some(error_box(l, &e)), Some(fields)).await,
    };
    let notice = if f.action == "preview" {
        preview_or_note(&app, &caller, &task, &policy).await
    } else {
        let change = TaskModify { keep: Some(policy), ..Default::default() };
        match calls::task_modify(&app, &caller.cred, &task, &change, false).await {
            Ok(c) => html! {
                (ok_box(l.t("Retention saved.", "Aufbewahrung gespeichert.")))
                @if let Some(p) = c.result.as_ref().and_then(|r| r.preview.as_ref()) { (preview_box(l, p)) }
            },
            Err(e) => error_box(l, &e),
        }
    };
    task_page(&app, &caller, &name, Some(notice), Some(fields)).await
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// Backs the task up now and shows the job.
pub async fn run(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| crate::api::backups::name(&name)) {
        Ok(n) => calls::run(&app, &caller.cred, &n, false).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(c) => match c.result {
            Some(job) => Redirect::to(&format!("/backups/jobs/{}", job.id)).into_response(),
            None => {
                task_page(&app, &caller, &name, Some(ok_box(l.t("Backup queued.", "Sicherung eingereiht."))), None)
                    .await
            }
        },
        Err(e) => task_page(&app, &caller, &name, Some(error_box(l, &e)), None).await,
    }
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| crate::api::backups::name(&name)) {
        Ok(n) => calls::task_delete(&app, &caller.cred, &n, false).await.map(drop),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => render(&app, &caller, Some(ok_box(l.t("Task removed.", "Aufgabe entfernt."))), None, None).await,
        Err(e) => task_page(&app, &caller, &name, Some(error_box(l, &e)), None).await,
    }
}
