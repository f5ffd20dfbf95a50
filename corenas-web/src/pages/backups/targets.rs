//! Backup targets: the list (never a secret: corenasd has none to give) and one add form per
//! kind. Secret fields are of type password and are never filled back, also not after a refusal.

use super::{button_form, render};
use crate::api::backups::calls;
use crate::api::backups::input::{self, TargetFields};
use crate::app::AppState;
use crate::http::{self, Caller};
use crate::pages::{csrf_input, error_box, ok_box};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::backup::{TargetInfo, TargetLocation};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

pub fn location_text(loc: &TargetLocation) -> String {
    match loc {
        TargetLocation::Local { path } => path.to_string(),
        TargetLocation::Sftp { host, port, user, path } => format!("sftp:{user}@{}:{port}/{path}", host.as_str()),
        TargetLocation::Rest { url, user, append_only } => format!(
            "{}{}{}",
            url.as_str(),
            user.as_ref().map(|u| format!(" ({u})")).unwrap_or_default(),
            if *append_only { " · append-only" } else { "" }
        ),
        TargetLocation::S3 { endpoint, bucket, prefix, .. } => format!(
            "{}/{bucket}{}",
            endpoint.as_str().trim_end_matches('/'),
            prefix.as_ref().map(|p| format!("/{p}")).unwrap_or_default()
        ),
    }
}

pub fn list(caller: &Caller, targets: &Result<Vec<TargetInfo>, WireError>) -> Markup {
    let l = caller.lang;
    html! {
        section.card #backup-targets {
            h2 { (l.t("Targets", "Ziele")) }
            @match targets {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No targets yet.", "Noch keine Ziele.")) },
                Ok(list) => table #target-list {
                    thead { tr {
                        th { (l.t("Name", "Name")) } th { (l.t("Kind", "Art")) } th { (l.t("Where", "Ort")) }
                        th { (l.t("Created", "Erstellt")) } th {}
                    } }
                    tbody { @for t in list { tr {
                        td { (t.name) }
                        td { (t.location.kind()) }
                        td {
                            code { (location_text(&t.location)) }
                            @if let Some(k) = &t.public_key {
                                details { summary { (l.t("Public key for the server's authorized_keys", "Öffentlicher Schlüssel für authorized_keys des Servers")) } code.hash { (k) } }
                            }
                        }
                        td { (l.datetime(&t.created_at)) }
                        td { @if caller.is(corenas_proto::web::Role::Admin) {
                            (button_form(caller, &format!("/backups/targets/{}/delete", t.name), l.t("Forget", "Entfernen"), "danger"))
                        } }
                    } } }
                },
            }
        }
    }
}

fn text_field(id: &str, name: &str, label: &str, value: &str, required: bool, hint: Option<&str>) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type="text" value=(value) required[required] autocomplete="off";
        @if let Some(h) = hint { p.hint { (h) } }
    }
}

/// A secret field: type password, never given a value.
fn secret_field(id: &str, name: &str, label: &str, required: bool) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type="password" required[required] autocomplete="new-password";
    }
}

/// One form per kind, each in its own disclosure; the refused one is open and filled back.
pub fn add_forms(caller: &Caller, refill: Option<&TargetFields>) -> Markup {
    let l = caller.lang;
    let empty = TargetFields::default();
    let kinds: [(&str, &str); 4] = [
        ("local", l.t("Local directory (a USB disk, another pool)", "Lokales Verzeichnis (USB-Platte, anderer Pool)")),
        ("sftp", l.t("SFTP server", "SFTP-Server")),
        ("rest", l.t("REST server (rest-server, rclone)", "REST-Server (rest-server, rclone)")),
        ("s3", l.t("S3-compatible storage", "S3-kompatibler Speicher")),
    ];
    html! {
        section.card #new-target {
            h2 { (l.t("Add a target", "Ziel hinzufügen")) }
            p.hint { (l.t(
                "CoreNAS makes a new restic repository there, or opens the one that is there with the password. Passwords and keys are sent once and never shown again.",
                "CoreNAS legt dort ein neues restic-Repository an oder öffnet das vorhandene mit dem Passwort. Passwörter und Schlüssel werden einmal gesendet und nie wieder angezeigt."
            )) }
            @for (kind, title) in kinds {
                @let f = refill.filter(|f| f.kind == kind).unwrap_or(&empty);
                @let id = |n: &str| format!("t-{kind}-{n}");
                details open[refill.is_some_and(|f| f.kind == kind)] {
                    summary { (title) }
                    form method="post" action="/backups/targets" data-kind=(kind) {
                        (csrf_input(caller))
                        input type="hidden" name="kind" value=(kind);
                        (text_field(&id("name"), "name", l.t("Name", "Name"), &f.name, true,
                            Some(l.t("1-32 of a-z, 0-9, '_' and '-', starting with a letter", "1-32 Zeichen aus a-z, 0-9, '_' und '-', beginnend mit einem Buchstaben"))))
                        @match kind {
                            "local" => (text_field(&id("path"), "path", l.t("Directory", "Verzeichnis"), &f.path, true, Some(l.t("An absolute path, not inside a backup's source", "Ein absoluter Pfad, nicht innerhalb einer gesicherten Quelle")))),
                            "sftp" => {
                                (text_field(&id("host"), "host", l.t("Host", "Host"), &f.host, true, None))
                                label for=(id("port")) { (l.t("Port", "Port")) }
                                input id=(id("port")) name="port" type="number" min="1" max="65535" value=(if f.port.is_empty() { "22" } else { &f.port });
                                (text_field(&id("user"), "user", l.t("User", "Benutzer"), &f.user, true, None))
                                (text_field(&id("path"), "path", l.t("Directory on the server", "Verzeichnis auf dem Server"), &f.path, true, None))
                                (text_field(&id("host_key"), "host_key", l.t("The server's host key (as in known_hosts: type and base64)", "Hostschlüssel des Servers (wie in known_hosts: Typ und Base64)"), &f.host_key, true, None))
                            },
                            "rest" => {
                                (text_field(&id("url"), "url", "URL", &f.url, true, None))
                                (text_field(&id("user"), "user", l.t("User (optional)", "Benutzer (optional)"), &f.user, false, None))
                                (secret_field(&id("rest_password"), "rest_password", l.t("REST password (with a user)", "REST-Passwort (mit Benutzer)"), false))
                                label.choice { input type="checkbox" name="append_only" value="1" checked[f.append_only]; " " (l.t("The server is append-only (no retention from here)", "Der Server ist append-only (keine Aufbewahrung von hier)")) }
                            },
                            _ => {
                                (text_field(&id("endpoint"), "endpoint", l.t("Endpoint URL", "Endpunkt-URL"), &f.endpoint, true, None))
                                (text_field(&id("bucket"), "bucket", l.t("Bucket", "Bucket"), &f.bucket, true, None))
                                (text_field(&id("prefix"), "prefix", l.t("Prefix (optional)", "Präfix (optional)"), &f.prefix, false, None))
                                (text_field(&id("region"), "region", l.t("Region (optional)", "Region (optional)"), &f.region, false, None))
                                (secret_field(&id("s3_access_key_id"), "s3_access_key_id", l.t("Access key id", "Zugriffsschlüssel-ID"), true))
                                (secret_field(&id("s3_secret_access_key"), "s3_secret_access_key", l.t("Secret access key", "Geheimer Zugriffsschlüssel"), true))
                            },
                        }
                        (secret_field(&id("repository_password"), "repository_password", l.t("Repository password (encrypts the backups: keep a copy elsewhere)", "Repository-Passwort (verschlüsselt die Sicherungen: anderswo aufbewahren)"), true))
                        button type="submit" { (l.t("Add target", "Ziel hinzufügen")) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TargetForm {
    csrf: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    url: String,
    append_only: Option<String>,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    host_key: String,
    #[serde(default)]
    repository_password: String,
    #[serde(default)]
    rest_password: String,
    #[serde(default)]
    s3_access_key_id: String,
    #[serde(default)]
    s3_secret_access_key: String,
}

pub async fn create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<TargetForm>) -> Response {
    let l = caller.lang;
    let fields = TargetFields {
        name: f.name,
        kind: f.kind,
        path: f.path,
        host: f.host,
        port: f.port,
        user: f.user,
        url: f.url,
        append_only: f.append_only.is_some(),
        endpoint: f.endpoint,
        bucket: f.bucket,
        prefix: f.prefix,
        region: f.region,
        host_key: f.host_key,
        repository_password: f.repository_password,
        rest_password: f.rest_password,
        s3_access_key_id: f.s3_access_key_id,
        s3_secret_access_key: f.s3_secret_access_key,
    };
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| input::target(&fields)) {
        Ok(spec) => calls::target_create(&app, &caller.cred, spec, false).await,
        Err(e) => Err(e),
    };
    // What is filled back never holds a secret.
    let refill = TargetFields {
        repository_password: String::new(),
        rest_password: String::new(),
        s3_access_key_id: String::new(),
        s3_secret_access_key: String::new(),
        ..fields
    };
    match r {
        Ok(c) => {
            let key = c.result.as_ref().and_then(|t| t.public_key.clone());
            let notice = html! {
                (ok_box(l.t("Target added.", "Ziel hinzugefügt.")))
                @if let Some(k) = key {
                    p { (l.t("Put this public key into the SFTP server's authorized_keys:", "Diesen öffentlichen Schlüssel in authorized_keys des SFTP-Servers eintragen:")) }
                    pre #public-key { (k) }
                }
            };
            render(&app, &caller, Some(notice), None, None).await
        }
        Err(e) => render(&app, &caller, Some(error_box(l, &e)), Some(&refill), None).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| crate::api::backups::name(&name)) {
        Ok(n) => calls::target_delete(&app, &caller.cred, &n, false).await.map(drop),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(()) => ok_box(l.t(
            "Target forgotten (the repository stays where it is).",
            "Ziel entfernt (das Repository bleibt, wo es ist).",
        )),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice), None, None).await
}
