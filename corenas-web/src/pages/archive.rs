//! The archive: search, tag filter, sort, pages; per image its checksums, tags and notes
//! (editable), verification history, verify, download and delete.

use super::{csrf_input, error_box, layout, ok_box};
use crate::api::imaging::{ArchivesQuery, archive_query};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::imaging::ArchiveEdit;
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

const PAGE: u32 = 25;

async fn render(app: &AppState, caller: &Caller, q: ArchivesQuery, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let q = ArchivesQuery { limit: Some(q.limit.unwrap_or(PAGE)), ..q };
    let list = match archive_query(&q) {
        Ok(query) => crate::daemon!(app.gate, &caller.cred, ArchiveList { query }),
        Err(e) => Err(e),
    };
    let operator = caller.is(Role::Operator);
    let link = |offset: u32| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("search", &q.search), ("tag", &q.tag), ("sort", &q.sort), ("order", &q.order)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("offset", &offset.to_string());
        format!("/archive?{}", pairs.finish())
    };
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            form.filters method="get" action="/archive" {
                label for="search" { (l.t("Search (name, label, notes, tags)", "Suche (Name, Bezeichnung, Notizen, Schlagwörter)")) }
                input #search name="search" type="text" value=(q.search.as_deref().unwrap_or(""));
                label for="tag" { (l.t("Tag", "Schlagwort")) }
                input #tag name="tag" type="text" value=(q.tag.as_deref().unwrap_or(""));
                label for="sort" { (l.t("Sort by", "Sortieren nach")) }
                select #sort name="sort" {
                    @for (v, t) in [("created", l.t("date", "Datum")), ("name", l.t("name", "Name")), ("size", l.t("size", "Größe"))] {
                        option value=(v) selected[q.sort.as_deref() == Some(v)] { (t) }
                    }
                }
                select name="order" aria-label=(l.t("Order", "Reihenfolge")) {
                    option value="desc" selected[q.order.as_deref() != Some("asc")] { (l.t("newest / largest first", "neueste / größte zuerst")) }
                    option value="asc" selected[q.order.as_deref() == Some("asc")] { (l.t("oldest / smallest first", "älteste / kleinste zuerst")) }
                }
                button type="submit" { (l.t("Show", "Anzeigen")) }
            }
        }
        @match &list {
            Err(e) => (error_box(l, e)),
            Ok(list) => {
                p.hint { (l.int(list.total)) " " (l.t("images", "Abbilder")) }
                @for a in &list.archives {
                    section.card.archive data-archive=(a.id) {
                        h2 { (a.name) " " span.hint { (a.label.as_deref().unwrap_or("")) } }
                        dl.facts {
                            dt { (l.t("File", "Datei")) } dd { (a.filename) " (" (l.size(a.size_bytes)) ")" }
                            dt { (l.t("Created", "Erstellt")) } dd { (l.datetime(&a.created_at)) }
                            dt { "SHA-256" } dd { code { (a.checksums.sha256) } }
                            @if let Some(m) = &a.checksums.md5 { dt { "MD5" } dd { code { (m) } } }
                            @if a.bad_bytes > 0 { dt { (l.t("Unreadable", "Unlesbar")) } dd.error { (l.size(a.bad_bytes)) } }
                            dt { (l.t("Tags", "Schlagwörter")) } dd { @for t in &a.tags { span.badge { (t) } " " } }
                            dt { (l.t("Notes", "Notizen")) } dd { (a.notes) }
                            dt { (l.t("Verified", "Geprüft")) } dd { @if let Some(v) = a.verifications.last() { (v.result) " · " (l.datetime(&v.time)) } @else { "-" } }
                        }
                        a.button href=(format!("/archive/{}/download", a.id)) download { (l.t("Download", "Herunterladen")) }
                        @if operator {
                            " "
                            form.inline method="post" action=(format!("/archive/{}/verify", a.id)) {
                                (csrf_input(caller)) button.secondary type="submit" { (l.t("Verify", "Prüfen")) }
                            }
                            details {
                                summary { (l.t("Edit tags and notes", "Schlagwörter und Notizen bearbeiten")) }
                                form method="post" action=(format!("/archive/{}/edit", a.id)) {
                                    (csrf_input(caller))
                                    label for=(format!("tags-{}", a.id)) { (l.t("Tags (comma-separated)", "Schlagwörter (durch Komma getrennt)")) }
                                    input id=(format!("tags-{}", a.id)) name="tags" type="text" value=(a.tags.join(", "));
                                    label for=(format!("notes-{}", a.id)) { (l.t("Notes", "Notizen")) }
                                    textarea id=(format!("notes-{}", a.id)) name="notes" rows="3" { (a.notes) }
                                    button type="submit" { (l.t("Save", "Speichern")) }
                                }
                                form method="post" action=(format!("/archive/{}/delete", a.id)) {
                                    (csrf_input(caller))
                                    label for=(format!("del-{}", a.id)) { (l.t("Type the archive id to delete the image", "Zum Löschen des Abbilds die Archiv-ID eingeben")) " " code { (a.id) } }
                                    input id=(format!("del-{}", a.id)) name="confirm" type="text" autocomplete="off";
                                    button.danger type="submit" { (l.t("Delete image", "Abbild löschen")) }
                                }
                            }
                        }
                    }
                }
                nav.pages aria-label=(l.t("Pages", "Seiten")) {
                    @if list.offset > 0 { a href=(link(list.offset.saturating_sub(list.limit))) { (l.t("Previous", "Zurück")) } " " }
                    @if u64::from(list.offset + list.limit) < list.total { a href=(link(list.offset + list.limit)) { (l.t("Next", "Weiter")) } }
                }
            },
        }
    };
    layout(caller, super::Nav::Imaging, l.t("Archive", "Archiv"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<ArchivesQuery>) -> Response {
    render(&app, &caller, q, None).await
}

fn no_filter() -> ArchivesQuery {
    ArchivesQuery { search: None, tag: None, sort: None, order: None, limit: None, offset: None }
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    csrf: Option<String>,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    confirm: String,
}

pub async fn edit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let current = crate::daemon!(app.gate, &caller.cred, ArchiveShow { id: id.clone() })?;
        let wanted: Vec<String> = f.tags.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        let mut edit =
            ArchiveEdit { add_tags: vec![], remove_tags: vec![], notes: Some(f.notes.replace("\r\n", "\n").parse()?) };
        for t in wanted.iter().filter(|t| !current.tags.contains(t)) {
            edit.add_tags.push(t.parse()?);
        }
        for t in current.tags.iter().filter(|t| !wanted.contains(t)) {
            edit.remove_tags.push(t.parse()?);
        }
        crate::daemon!(app.gate, &caller.cred, ArchiveEdit { id: id.clone(), edit, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(l.t("Saved.", "Gespeichert.")),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, no_filter(), Some(notice)).await
}

pub async fn verify(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()) {
        Ok(()) => crate::daemon!(app.gate, &caller.cred, ArchiveVerify { id, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(c) => ok_box(&format!(
            "{} {}",
            l.t("Verification started as job", "Prüfung gestartet als Auftrag"),
            c.result.map(|j| j.id).unwrap_or_default()
        )),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, no_filter(), Some(notice)).await
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    let l = caller.lang;
    let r = http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| {
        if f.confirm.trim() == id {
            Ok(())
        } else {
            Err(WireError::invalid(
                "confirm",
                l.t("type the archive id to confirm", "geben Sie zur Bestätigung die Archiv-ID ein"),
            ))
        }
    });
    let r = match r {
        Ok(()) => crate::daemon!(app.gate, &caller.cred, ArchiveDelete { id: id.clone(), dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(_) => ok_box(&format!("{} {id}", l.t("Deleted", "Gelöscht:"))),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, no_filter(), Some(notice)).await
}
