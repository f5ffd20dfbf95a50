//! Shares: the list with protocols and access, creating a share (SMB and/or NFS, an access
//! template), stopping one, and the rendered configuration as the helper wrote it.

use super::{csrf_input, error_box, layout, ok_box};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::shares::{AccessTemplate, NfsOptions, NfsRule, ShareCreate, SmbOptions};
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

fn access_text(l: crate::i18n::Lang, a: &Option<AccessTemplate>) -> String {
    match a {
        None => l.t("as it is on disk", "wie auf der Platte").to_owned(),
        Some(a) => match (l, a) {
            (crate::i18n::Lang::En, a) => a.describe(),
            (_, AccessTemplate::Private { user }) => format!("privat für Benutzer {user}"),
            (_, AccessTemplate::GroupReadWrite { group }) => format!("lesen und schreiben für Gruppe {group}"),
            (_, AccessTemplate::PublicRead { writers: Some(g) }) => {
                format!("für alle lesbar, schreibbar für Gruppe {g}")
            }
            (_, AccessTemplate::PublicRead { writers: None }) => "für alle lesbar".to_owned(),
        },
    }
}

async fn render(app: &AppState, caller: &Caller, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let shares = crate::daemon!(app.gate, &caller.cred, ShareList {});
    let config = crate::daemon!(app.gate, &caller.cred, ShareConfig {});
    let admin = caller.is(Role::Admin);
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            @match &shares {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No share yet.", "Noch keine Freigabe.")) },
                Ok(list) => table #shares {
                    thead { tr { th { (l.t("Share", "Freigabe")) } th { (l.t("Path", "Pfad")) } th { (l.t("Protocols", "Protokolle")) } th { (l.t("Access", "Zugriff")) } @if admin { th {} } } }
                    tbody { @for s in list { tr data-share=(s.def.name) {
                        td { strong { (s.def.name) } }
                        td { code { (s.def.path) } }
                        td {
                            @if let Some(smb) = &s.def.smb { "SMB" @if smb.read_only { " (" (l.t("read-only", "nur lesen")) ")" } @if smb.guest_ok { " " span.badge { (l.t("guest", "Gast")) } } br; }
                            @if let Some(nfs) = &s.def.nfs { "NFS: " (nfs.rules.iter().map(|r| r.client.to_string()).collect::<Vec<_>>().join(", ")) }
                        }
                        td { (access_text(l, &s.access)) }
                        @if admin { td {
                            (edit_form(caller, s))
                            form.inline method="post" action=(format!("/shares/{}/delete", s.def.name)) {
                                (csrf_input(caller))
                                label for=(format!("del-{}", s.def.name)) { (l.t("Type the name to stop sharing (the data stays)", "Zum Beenden den Namen eingeben (die Daten bleiben)")) }
                                input id=(format!("del-{}", s.def.name)) name="confirm" type="text" autocomplete="off";
                                button.danger type="submit" { (l.t("Stop sharing", "Freigabe beenden")) }
                            }
                        } }
                    } } }
                },
            }
        }
        @if admin {
            section.card #new-share {
                h2 { (l.t("New share", "Neue Freigabe")) }
                form method="post" action="/shares" {
                    (csrf_input(caller))
                    label for="share-name" { (l.t("Name", "Name")) }
                    input #share-name name="name" type="text" required autocomplete="off";
                    p.hint { (l.t("The directory is /storage/<name>; it is created if missing.", "Das Verzeichnis ist /storage/<Name>; es wird angelegt, wenn es fehlt.")) }
                    fieldset {
                        legend { (l.t("Protocols", "Protokolle")) }
                        label.choice { input type="checkbox" name="smb" value="1" checked; " SMB" }
                        label.choice { input type="checkbox" name="smb_read_only" value="1"; " " (l.t("SMB read-only", "SMB nur lesen")) }
                        label.choice { input type="checkbox" name="recycle" value="1"; " " (l.t("Recycle bin for deleted files", "Papierkorb für gelöschte Dateien")) }
                        label for="nfs-client" { (l.t("NFS clients (optional: a host, an address or a network such as 192.168.1.0/24)", "NFS-Clients (optional: ein Rechner, eine Adresse oder ein Netz wie 192.168.1.0/24)")) }
                        input #nfs-client name="nfs_client" type="text" autocomplete="off";
                    }
                    fieldset {
                        legend { (l.t("Access (sets owner, mode and ACLs of the directory)", "Zugriff (setzt Besitzer, Modus und ACLs des Verzeichnisses)")) }
                        label.choice { input type="radio" name="access" value="keep" checked; " " (l.t("leave the directory as it is", "Verzeichnis lassen, wie es ist")) }
                        label.choice { input type="radio" name="access" value="private"; " " (l.t("private to one user", "privat für einen Benutzer")) }
                        label.choice { input type="radio" name="access" value="group"; " " (l.t("read and write for a group", "Lesen und Schreiben für eine Gruppe")) }
                        label.choice { input type="radio" name="access" value="public"; " " (l.t("everyone reads; a group writes (optional)", "alle lesen; eine Gruppe schreibt (optional)")) }
                        label for="access-who" { (l.t("User or group for the choice above", "Benutzer oder Gruppe für die Auswahl oben")) }
                        input #access-who name="group" type="text" autocomplete="off";
                    }
                    button type="submit" { (l.t("Create share", "Freigabe anlegen")) }
                }
            }
        }
        section.card #config {
            h2 { (l.t("Rendered configuration", "Erzeugte Konfiguration")) }
            @match &config {
                Err(e) => (error_box(l, e)),
                Ok(c) => {
                    h3 { code { (c.smb_file) } }
                    pre.config { (c.smb_text) }
                    h3 { code { (c.nfs_file) } }
                    pre.config { (c.nfs_text) }
                },
            }
        }
    };
    layout(caller, super::Nav::Shares, l.t("Shares", "Freigaben"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None).await
}

#[derive(Debug, Deserialize)]
pub struct ShareForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    smb: Option<String>,
    smb_read_only: Option<String>,
    recycle: Option<String>,
    #[serde(default)]
    nfs_client: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    access: String,
}

fn share_create(f: &ShareForm) -> Result<ShareCreate, WireError> {
    let smb = f.smb.is_some().then(|| SmbOptions {
        read_only: f.smb_read_only.is_some(),
        recycle: f.recycle.is_some(),
        ..SmbOptions::default()
    });
    let nfs = match f.nfs_client.trim() {
        "" => None,
        c => Some(NfsOptions { rules: vec![NfsRule { client: c.parse()?, read_only: false, no_root_squash: false }] }),
    };
    if smb.is_none() && nfs.is_none() {
        return Err(WireError::invalid("smb", "choose SMB, NFS clients or both"));
    }
    let access = access_choice(&f.access, &f.group)?;
    Ok(ShareCreate { name: f.name.trim().parse()?, path: None, smb, nfs, access, force: false })
}

pub async fn create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<ShareForm>) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| share_create(&f)) {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, ShareCreate { req, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(c) => html! {
            (ok_box(&format!("{} {}", l.t("Share created:", "Freigabe angelegt:"), f.name.trim())))
            @for w in &c.warnings { div.alert.error { (w) } }
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: Option<String>,
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<DeleteForm>,
) -> Response {
    let l = caller.lang;
    let parsed = http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| {
        if f.confirm.trim() != name {
            return Err(WireError::invalid(
                "confirm",
                l.t("type the share's name to confirm", "geben Sie zur Bestätigung den Namen der Freigabe ein"),
            ));
        }
        Ok(name.parse()?)
    });
    let r = match parsed {
        Ok(n) => crate::daemon!(app.gate, &caller.cred, ShareDelete { name: n, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(_) => ok_box(&format!("{} {name}", l.t("No longer shared:", "Nicht mehr freigegeben:"))),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

/// The whole share in one form: protocols and their switches, NFS clients, access. "Preview"
/// runs it as a dry run and shows the diff of the rendered files and the commands.
fn edit_form(caller: &Caller, s: &corenas_proto::shares::ShareInfo) -> Markup {
    let l = caller.lang;
    let smb = s.def.smb.clone();
    let on = smb.is_some();
    let smb = smb.unwrap_or_default();
    let clients = s
        .def
        .nfs
        .as_ref()
        .map(|n| n.rules.iter().map(|r| r.client.to_string()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let id = |f: &str| format!("{f}-{}", s.def.name);
    html! {
        details {
            summary { (l.t("Edit", "Bearbeiten")) }
            form method="post" action=(format!("/shares/{}/edit", s.def.name)) {
                (csrf_input(caller))
                fieldset {
                    legend { "SMB" }
                    label.choice { input type="checkbox" name="smb" value="1" checked[on]; " " (l.t("serve over SMB", "über SMB freigeben")) }
                    label.choice { input type="checkbox" name="read_only" value="1" checked[smb.read_only]; " " (l.t("read-only", "nur lesen")) }
                    label.choice { input type="checkbox" name="browseable" value="1" checked[!on || smb.browseable]; " " (l.t("visible in the network browser", "in der Netzwerkumgebung sichtbar")) }
                    label.choice { input type="checkbox" name="recycle" value="1" checked[smb.recycle]; " " (l.t("recycle bin", "Papierkorb")) }
                    label.choice { input type="checkbox" name="audit" value="1" checked[smb.audit]; " " (l.t("log every change", "jede Änderung protokollieren")) }
                }
                fieldset {
                    legend { "NFS" }
                    label for=(id("nfs")) { (l.t("Clients, comma-separated (empty: not served over NFS)", "Clients, durch Kommas getrennt (leer: nicht über NFS freigegeben)")) }
                    input id=(id("nfs")) name="nfs_clients" type="text" value=(clients) autocomplete="off";
                }
                fieldset {
                    legend { (l.t("Access", "Zugriff")) }
                    label.choice { input type="radio" name="access" value="keep" checked; " " (l.t("unchanged", "unverändert")) " (" (access_text(l, &s.access)) ")" }
                    label.choice { input type="radio" name="access" value="private"; " " (l.t("private to one user", "privat für einen Benutzer")) }
                    label.choice { input type="radio" name="access" value="group"; " " (l.t("read and write for a group", "Lesen und Schreiben für eine Gruppe")) }
                    label.choice { input type="radio" name="access" value="public"; " " (l.t("everyone reads; a group writes (optional)", "alle lesen; eine Gruppe schreibt (optional)")) }
                    label for=(id("who")) { (l.t("User or group for the choice above", "Benutzer oder Gruppe für die Auswahl oben")) }
                    input id=(id("who")) name="group" type="text" autocomplete="off";
                }
                button.secondary type="submit" name="preview" value="1" { (l.t("Preview", "Vorschau")) }
                " "
                button type="submit" { (l.t("Save", "Speichern")) }
            }
        }
    }
}

/// The access template from the form's choice and the user or group named with it.
fn access_choice(access: &str, who: &str) -> Result<Option<AccessTemplate>, WireError> {
    Ok(match (access, who.trim()) {
        // An older form (or a script) that names only a group means read-write for it.
        ("" | "keep", "") => None,
        ("", g) => Some(AccessTemplate::GroupReadWrite { group: g.parse()? }),
        ("keep", _) => None,
        ("private", u) => Some(AccessTemplate::Private { user: u.parse()? }),
        ("group", g) => Some(AccessTemplate::GroupReadWrite { group: g.parse()? }),
        ("public", "") => Some(AccessTemplate::PublicRead { writers: None }),
        ("public", g) => Some(AccessTemplate::PublicRead { writers: Some(g.parse()?) }),
        _ => return Err(WireError::invalid("access", "access is invalid: use keep, private, group or public")),
    })
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    csrf: Option<String>,
    smb: Option<String>,
    read_only: Option<String>,
    browseable: Option<String>,
    recycle: Option<String>,
    audit: Option<String>,
    #[serde(default)]
    nfs_clients: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    group: String,
    preview: Option<String>,
}

/// Changes a share as the form says, keeping what the form does not show (SMB users, masks,
/// previous versions; each NFS client's options). With "Preview", a dry run: the diff and the
/// commands, nothing changed.
pub async fn edit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    let l = caller.lang;
    let dry_run = f.preview.is_some();
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let share: corenas_proto::names::ShareName = name.parse()?;
        let current = crate::daemon!(app.gate, &caller.cred, ShareShow { name: share.clone() })?;
        let smb = f.smb.is_some().then(|| {
            let mut smb = current.def.smb.clone().unwrap_or_default();
            smb.read_only = f.read_only.is_some();
            smb.browseable = f.browseable.is_some();
            smb.recycle = f.recycle.is_some();
            smb.audit = f.audit.is_some();
            smb
        });
        let old_rules = current.def.nfs.map(|n| n.rules).unwrap_or_default();
        let mut rules = Vec::new();
        for c in f.nfs_clients.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let client: corenas_proto::names::NfsClient = c.parse()?;
            let rule = old_rules.iter().find(|r| r.client == client).cloned();
            rules.push(rule.unwrap_or(NfsRule { client, read_only: false, no_root_squash: false }));
        }
        let nfs = (!rules.is_empty()).then_some(NfsOptions { rules });
        let change = corenas_proto::shares::ShareModify {
            smb: Some(smb),
            nfs: Some(nfs),
            access: access_choice(&f.access, &f.group)?,
            force: false,
        };
        crate::daemon!(app.gate, &caller.cred, ShareModify { name: share, change, dry_run })
    };
    let notice = match run.await {
        Ok(c) if dry_run => html! {
            div.card #preview {
                h2 { (l.t("Preview of the change to", "Vorschau der Änderung an")) " " (name) }
                (super::storage::plan_list(l, &c))
            }
        },
        Ok(c) => html! {
            (ok_box(&format!("{} {name}", l.t("Share changed:", "Freigabe geändert:"))))
            @for w in &c.warnings { div.alert.error { (w) } }
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}
