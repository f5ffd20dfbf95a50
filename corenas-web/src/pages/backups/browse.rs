//! One directory of a snapshot, and the restore form around it: pick a file, a folder, this
//! folder or everything, in place (what is there is kept beside it) or into a new folder; the
//! restore is a job whose page shows its progress.

use crate::api::backups::calls;
use crate::api::backups::input;
use crate::app::AppState;
use crate::http::{self, Caller};
use crate::pages::{csrf_input, error_box, layout};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use corenas_proto::WireError;
use corenas_proto::backup::{ResticSnapshotId, SnapshotPath};
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

fn browse_url(task: &str, snapshot: &str, path: &str) -> String {
    format!("/backups/tasks/{task}/snapshots/{snapshot}?path={}", http::url_encode(path))
}

/// `/a/b/c` as links to `/`, `/a`, `/a/b` and the last part as text.
fn breadcrumb(task: &str, snapshot: &str, path: &str) -> Markup {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    html! {
        nav.breadcrumb aria-label="path" {
            @if parts.is_empty() { strong { "/" } } @else { a href=(browse_url(task, snapshot, "/")) { "/" } }
            @for (i, p) in parts.iter().enumerate() {
                @let here = format!("/{}", parts[..=i].join("/"));
                " "
                @if i + 1 == parts.len() { strong { (p) } } @else { a href=(browse_url(task, snapshot, &here)) { (p) } " /" }
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path((task, snapshot)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    browse(&app, &caller, &task, &snapshot, q.get("path").map(String::as_str).unwrap_or("/"), None).await
}

async fn browse(
    app: &AppState,
    caller: &Caller,
    task: &str,
    snapshot: &str,
    path: &str,
    notice: Option<Markup>,
) -> Response {
    let l = caller.lang;
    let args = (|| {
        let t = crate::api::backups::name(task)?;
        let s: ResticSnapshotId = snapshot.parse().map_err(WireError::from)?;
        let p: SnapshotPath = (if path.is_empty() { "/" } else { path }).parse().map_err(WireError::from)?;
        Ok::<_, WireError>((t, s, p))
    })();
    let listing = match args {
        Ok((t, s, p)) => calls::ls(app, &caller.cred, &t, &s, &p).await,
        Err(e) => Err(e),
    };
    let listing = match listing {
        Ok(l) => l,
        Err(e) => return crate::pages::error_page(l, &e),
    };
    let here = if path.is_empty() { "/" } else { path };
    let admin = caller.is(Role::Admin);
    // The directory itself is usually listed first by restic ls; show only what is inside it.
    let entries: Vec<_> = listing.entries.iter().filter(|e| e.path != here).collect();
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card #snapshot {
            dl.facts {
                dt { (l.t("Task", "Aufgabe")) } dd { a href=(format!("/backups/tasks/{task}")) { (task) } }
                dt { (l.t("Snapshot", "Stand")) } dd { code { (listing.snapshot.short_id) } " · " (l.datetime(&listing.snapshot.time)) " · " (listing.snapshot.hostname) }
            }
            (breadcrumb(task, snapshot, here))
        }
        section.card #snapshot-tree {
            form method="post" action=(format!("/backups/tasks/{task}/restore")) {
                (csrf_input(caller))
                input type="hidden" name="snapshot" value=(snapshot);
                @if listing.truncated { p.hint { (l.t("This folder has more entries than are shown.", "Dieser Ordner hat mehr Einträge als gezeigt.")) } }
                table #snapshot-entries {
                    caption { (l.t("Choose what to restore", "Auswählen, was wiederhergestellt wird")) }
                    thead { tr { th { (l.t("Restore", "Wiederherstellen")) } th { (l.t("Kind", "Art")) } th.num { (l.t("Size", "Größe")) } th { (l.t("Modified", "Geändert")) } th {} } }
                    tbody {
                        tr {
                            td { input #pick-all type="radio" name="path" value="/" checked[here == "/"]; " " label for="pick-all" { strong { (l.t("Everything", "Alles")) } } }
                            td {} td {} td {} td {}
                        }
                        @if here != "/" {
                            tr {
                                td { input #pick-here type="radio" name="path" value=(here) checked; " " label for="pick-here" { strong { (l.t("This folder", "Dieser Ordner")) } " " code { (here) } } }
                                td {} td {} td {} td {}
                            }
                        }
                        @for (i, e) in entries.iter().enumerate() {
                            @let id = format!("pick-{i}");
                            tr {
                                td { input id=(id) type="radio" name="path" value=(e.path); " " label for=(id) { (e.name) } }
                                td { (l.term(&e.kind)) }
                                td.num { @if let Some(s) = e.size { (l.size(s)) } }
                                td { (l.datetime(&e.mtime)) }
                                td { @if e.kind == "dir" { a href=(browse_url(task, snapshot, &e.path)) aria-label=(format!("{} {}", l.t("Open", "Öffnen"), e.name)) { (l.t("Open", "Öffnen")) } } }
                            }
                        }
                    }
                }
                @if admin {
                    fieldset {
                        legend { (l.t("Where to", "Wohin")) }
                        label.choice { input type="radio" name="mode" value="new_folder" checked; " " (l.t("Into a new folder restore-<job> at the top of the source", "In einen neuen Ordner restore-<Auftrag> oben in der Quelle")) }
                        label.choice { input type="radio" name="mode" value="in_place"; " " (l.t("In place (what is there now is kept beside it as <name>.before-restore-<job>)", "An Ort und Stelle (was jetzt dort ist, bleibt daneben als <Name>.before-restore-<Auftrag>)")) }
                    }
                    button type="submit" { (l.t("Restore", "Wiederherstellen")) }
                }
            }
        }
    };
    let title = format!("{} {}", l.t("Snapshot", "Stand"), listing.snapshot.short_id);
    layout(caller, crate::pages::Nav::Backups, &title, body)
}

#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    csrf: Option<String>,
    #[serde(default)]
    snapshot: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    mode: String,
}

pub async fn restore(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(task): Path<String>,
    Form(f): Form<RestoreForm>,
) -> Response {
    let l = caller.lang;
    let spec = http::require_csrf(&caller, f.csrf.as_deref())
        .and_then(|()| crate::api::backups::name(&task))
        .and_then(|t| input::restore(&t, &f.snapshot, std::slice::from_ref(&f.path), &f.mode));
    let r = match spec {
        Ok(spec) => calls::restore(&app, &caller.cred, &spec, false).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(c) => match c.result {
            Some(job) => Redirect::to(&format!("/backups/jobs/{}", job.id)).into_response(),
            None => Redirect::to(&format!("/backups/tasks/{task}")).into_response(),
        },
        Err(e) => {
            // Back to the folder the choice was made in, with the reason.
            let back = f.path.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or("/");
            if f.snapshot.parse::<ResticSnapshotId>().is_ok() && crate::api::backups::name(&task).is_ok() {
                browse(&app, &caller, &task, &f.snapshot, back, Some(error_box(l, &e))).await
            } else {
                crate::pages::error_page(l, &e)
            }
        }
    }
}
