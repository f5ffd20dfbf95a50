//! The ACL editor for paths beneath the share roots: the entries as the kernel holds them, add
//! an entry (setfacl's text form, e.g. `u:alice:rwx`, `d:g:staff:r-x`), remove a named entry.

use super::{csrf_input, error_box, layout, ok_box};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use corenas_proto::api::{AclRemove, AclSet};
use corenas_proto::names::SharePath;
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub struct AclQuery {
    #[serde(default)]
    path: String,
}

async fn render(app: &AppState, caller: &Caller, path: &str, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let listing = match path {
        "" => None,
        p => Some(match p.parse::<SharePath>() {
            Ok(sp) => crate::daemon!(app.gate, &caller.cred, AclGet { path: sp }),
            Err(e) => Err(e.into()),
        }),
    };
    let admin = caller.is(Role::Admin);
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            form.filters method="get" action="/accounts/acl" {
                label for="acl-path" { (l.t("Path beneath /storage", "Pfad unterhalb von /storage")) }
                input #acl-path name="path" type="text" value=(path) placeholder="/storage/team";
                button type="submit" { (l.t("Show", "Anzeigen")) }
            }
        }
        @if let Some(listing) = &listing {
            section.card #acl {
                @match listing {
                    Err(e) => (error_box(l, e)),
                    Ok(a) => {
                        h2 { code { (a.path) } }
                        p.hint { (l.t("Owner uid", "Besitzer-UID")) " " (a.owner) ", " (l.t("group gid", "Gruppen-GID")) " " (a.group) ", " (l.t("mode", "Modus")) " " (format!("{:04o}", a.mode)) }
                        table {
                            thead { tr { th { (l.t("Entry", "Eintrag")) } th { (l.t("Applies to", "Gilt für")) } @if admin { th {} } } }
                            tbody {
                                @for (default, list) in [(false, &a.access), (true, &a.default)] {
                                    @for e in list { tr {
                                        td { code { (e.to_string()) } }
                                        td { @if default { (l.t("new files (default)", "neue Dateien (Vorgabe)")) } @else { (l.t("this path", "diesen Pfad")) } }
                                        @if admin { td {
                                            @if let Some(name) = e.name.as_ref().filter(|_| matches!(e.kind, corenas_proto::acl::AclKind::User | corenas_proto::acl::AclKind::Group)) {
                                                @let target = format!("{}{}:{}", if default { "d:" } else { "" }, if e.kind == corenas_proto::acl::AclKind::User { "u" } else { "g" }, name);
                                                form.inline method="post" action="/accounts/acl/remove" {
                                                    (csrf_input(caller))
                                                    input type="hidden" name="path" value=(a.path);
                                                    input type="hidden" name="entry" value=(target);
                                                    button.secondary type="submit" { (l.t("Remove", "Entfernen")) }
                                                }
                                            }
                                        } }
                                    } }
                                }
                            }
                        }
                        @if admin {
                            form method="post" action="/accounts/acl/set" {
                                (csrf_input(caller))
                                input type="hidden" name="path" value=(a.path);
                                label for="acl-entry" { (l.t("Add or change an entry", "Eintrag hinzufügen oder ändern")) }
                                input #acl-entry name="entry" type="text" placeholder="u:alice:rwx" required;
                                p.hint { (l.t("u:USER:rwx or g:GROUP:r-x; prefix d: for new files in a directory", "u:BENUTZER:rwx oder g:GRUPPE:r-x; mit d: davor für neue Dateien im Verzeichnis")) }
                                label.choice { input type="checkbox" name="recursive" value="1"; " " (l.t("Also everything beneath", "Auch alles darunter")) }
                                button type="submit" { (l.t("Apply", "Anwenden")) }
                            }
                        }
                    },
                }
            }
        }
    };
    layout(caller, super::Nav::Accounts, l.t("Access control lists", "Zugriffslisten"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<AclQuery>) -> Response {
    render(&app, &caller, q.path.trim(), None).await
}

#[derive(Debug, Deserialize)]
pub struct AclForm {
    csrf: Option<String>,
    #[serde(default)]
    path: String,
    #[serde(default)]
    entry: String,
    recursive: Option<String>,
}

pub async fn set(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<AclForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let req =
            AclSet { path: f.path.parse()?, entries: vec![f.entry.trim().parse()?], recursive: f.recursive.is_some() };
        crate::daemon!(app.gate, &caller.cred, AclSet { req, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(&format!("{} {}", l.t("Applied", "Angewendet:"), f.entry.trim())),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, f.path.trim(), Some(notice)).await
}

pub async fn remove(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<AclForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let req = AclRemove { path: f.path.parse()?, targets: vec![f.entry.trim().parse()?], recursive: false };
        crate::daemon!(app.gate, &caller.cred, AclRemove { req, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(&format!("{} {}", l.t("Removed", "Entfernt:"), f.entry.trim())),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, f.path.trim(), Some(notice)).await
}
