//! The account's own settings: language, open sessions (with revoke), and what CoreNAS runs.

use super::{csrf_input, error_box, layout};
use crate::app::AppState;
use crate::http::{self, Caller};
use crate::i18n::{LANG_COOKIE, Lang};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{REFERER, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LangForm {
    lang: String,
    back: Option<String>,
}

/// Sets the language cookie (a year) and goes back where the user was (same-site only).
pub async fn lang_submit(headers: HeaderMap, Form(f): Form<LangForm>) -> Response {
    let lang = Lang::parse(&f.lang).unwrap_or(Lang::En);
    // Only our own pages: a section's page, or where the browser came from (path only).
    let sections: Vec<&str> = super::nav_items(lang).iter().map(|(_, href, _)| *href).collect();
    let chosen = f.back.as_deref().filter(|b| sections.contains(b)).map(str::to_owned);
    let back = chosen.unwrap_or_else(|| {
        headers
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or("/")
            .to_owned()
    });
    let mut r = Redirect::to(&back).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict", lang.code());
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(SET_COOKIE, v);
    }
    r
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None).await
}

async fn render(app: &AppState, caller: &Caller, notice: Option<maud::Markup>) -> Response {
    let l = caller.lang;
    let admin = caller.is(corenas_proto::web::Role::Admin);
    let keys = if admin { Some(crate::daemon!(app.gate, &caller.cred, ApiKeyList {})) } else { None };
    let cred = caller.cred.clone();
    let sessions = app.gate.with(|g| async move { g.session_list(crate::gate::ctx(), cred).await }).await;
    let status = crate::daemon!(app.gate, &caller.cred, SystemStatus {});
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            h2 { (l.t("Your account", "Ihr Konto")) }
            dl.facts {
                dt { (l.t("User", "Benutzer")) } dd { (caller.session.user) }
                dt { (l.t("Role", "Rolle")) } dd { (super::role_name(l, caller.session.role)) }
                dt { (l.t("Session ends", "Sitzung endet")) } dd { (l.datetime(&caller.session.idle_expires)) " " (l.t("if idle, at the latest", "bei Untätigkeit, spätestens")) " " (l.datetime(&caller.session.expires)) }
            }
            p.hint { (l.t("A lost authenticator is reset by an administrator (Accounts, web access); you enroll again at the next login.",
                          "Einen verlorenen Authenticator setzt ein Administrator zurück (Konten, Web-Zugang); Sie richten ihn bei der nächsten Anmeldung neu ein.")) }
        }
        section.card #second-factor {
            h2 { (l.t("Second factor", "Zweiter Faktor")) }
            p.hint { (l.t("A new phone, or recovery codes used up: prove the current authenticator with its code (or a recovery code), then add the new secret. The old one works until the new one is confirmed.",
                          "Neues Telefon oder Wiederherstellungscodes aufgebraucht: bestätigen Sie den jetzigen Authenticator mit seinem Code (oder einem Wiederherstellungscode), dann fügen Sie das neue Geheimnis hinzu. Das alte gilt, bis das neue bestätigt ist.")) }
            form method="post" action="/settings/totp" {
                (csrf_input(caller))
                label for="renew-code" { (l.t("Current code", "Aktueller Code")) }
                input #renew-code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required;
                button type="submit" { (l.t("Renew authenticator and recovery codes", "Authenticator und Wiederherstellungscodes erneuern")) }
            }
        }
        section.card #password {
            h2 { (l.t("Change your password", "Passwort ändern")) }
            form method="post" action="/settings/password" {
                (csrf_input(caller))
                label for="current" { (l.t("Current password", "Aktuelles Passwort")) }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="new" { (l.t("New password", "Neues Passwort")) }
                input #new name="new" type="password" autocomplete="new-password" required;
                (super::password_rules(l, "new"))
                button type="submit" { (l.t("Change password", "Passwort ändern")) }
            }
        }
        @if let Some(keys) = &keys {
            section.card #api-keys {
                h2 { (l.t("API keys", "API-Schlüssel")) }
                @match keys {
                    Err(e) => (error_box(l, e)),
                    Ok(list) => table {
                        thead { tr { th { "ID" } th { (l.t("Label", "Bezeichnung")) } th { (l.t("Owner", "Besitzer")) } th { (l.t("Role", "Rolle")) } th { (l.t("Expires", "Läuft ab")) } th {} } }
                        tbody { @for k in list { tr {
                            td { code { (k.id) } } td { (k.label) } td { (k.owner) } td { (super::role_name(l, k.role)) } td { (l.datetime(&k.expires)) }
                            td { @if k.revoked { span.badge { (l.t("revoked", "widerrufen")) } } @else {
                                form.inline method="post" action=(format!("/settings/api-keys/{}/revoke", k.id)) {
                                    (csrf_input(caller)) button.secondary type="submit" { (l.t("Revoke", "Widerrufen")) }
                                }
                            } }
                        } } }
                    },
                }
                form method="post" action="/settings/api-keys" {
                    (csrf_input(caller))
                    label for="key-label" { (l.t("What the key is for", "Wofür der Schlüssel ist")) }
                    input #key-label name="label" type="text" required autocomplete="off";
                    label for="key-role" { (l.t("Role", "Rolle")) }
                    select #key-role name="role" {
                        @for r in corenas_proto::web::Role::ALL { option value=(r.as_str()) { (super::role_name(l, r)) } }
                    }
                    label for="key-days" { (l.t("Valid for days (1-366)", "Gültig für Tage (1-366)")) }
                    input #key-days name="days" type="number" min="1" max="366" value="90";
                    button type="submit" { (l.t("Create key", "Schlüssel erzeugen")) }
                }
            }
        }
        section.card {
            h2 { (l.t("Open sessions", "Offene Sitzungen")) }
            @match &sessions {
                Err(e) => (error_box(l, e)),
                Ok(list) => table {
                    thead { tr { th { (l.t("User", "Benutzer")) } th { (l.t("From", "Von")) } th { (l.t("Since", "Seit")) } th { (l.t("Last seen", "Zuletzt")) } th {} } }
                    tbody { @for s in list { tr {
                        td { (s.user) @if s.current { " " span.badge { (l.t("this one", "diese")) } } }
                        td { (s.source) } td { (l.datetime(&s.created)) } td { (l.datetime(&s.last_seen)) }
                        td { form.inline method="post" action=(format!("/settings/sessions/{}/revoke", s.id)) {
                            (csrf_input(caller))
                            button.secondary type="submit" { (l.t("End", "Beenden")) }
                        } }
                    } } }
                },
            }
        }
        section.card {
            h2 { (l.t("System", "System")) }
            @match &status {
                Err(e) => (error_box(l, e)),
                Ok(s) => dl.facts {
                    dt { "CoreNAS" } dd { (s.version) " (" (l.t("protocol", "Protokoll")) " " (s.protocol) ")" }
                    dt { "corenas-web" } dd { (env!("CARGO_PKG_VERSION")) }
                    dt { (l.t("Audit entries", "Protokolleinträge")) } dd { (l.int(s.audit_entries)) }
                    dt { (l.t("Helper", "Helfer")) } dd { @match &s.helper { Ok(h) => { (l.t("running, pid", "läuft, PID")) " " (h.pid) }, Err(e) => { (e.message) } } }
                },
            }
        }
    };
    layout(caller, super::Nav::Settings, l.t("Settings", "Einstellungen"), body)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

pub async fn password(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<PasswordForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let session = own_session(&caller)?;
        let (current, new) = (f.current.parse()?, f.new.parse()?);
        app.gate.with(|g| async move { g.password_change(crate::gate::ctx(), session, current, new).await }).await
    };
    let notice = match run.await {
        Ok(()) => super::ok_box(l.t("Your password is changed.", "Ihr Passwort ist geändert.")),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    #[serde(default)]
    code: String,
}

/// What changes one's own account (password, authenticator) needs a browser session: an API key
/// acts for automation, not for a person.
fn own_session(caller: &Caller) -> Result<corenas_proto::web::WebToken, corenas_proto::WireError> {
    caller
        .token
        .clone()
        .ok_or_else(|| corenas_proto::WireError::not_allowed("only a logged-in browser changes its own account"))
}

fn offered_code(f: &CodeForm) -> Result<corenas_proto::web::SecondFactor, corenas_proto::WireError> {
    Ok(f.code.trim().to_ascii_lowercase().replace(' ', "").parse()?)
}

/// Step one of a renewal: the current code; the answer shows the new secret to add.
pub async fn totp_renew(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<CodeForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let session = own_session(&caller)?;
        let code = offered_code(&f)?;
        app.gate.with(|g| async move { g.totp_renew_begin(crate::gate::ctx(), session, code).await }).await
    };
    let notice = match run.await {
        Ok(en) => html! {
            section.card #renew {
                h2 { (l.t("Add the new secret to your app", "Neues Geheimnis in der App hinzufügen")) }
                figure.qr {
                    img src=(super::login::qr_data_uri(&en.uri)) alt=(l.t("QR code for the authenticator app", "QR-Code für die Authenticator-App")) width="220" height="220";
                    figcaption { (l.t("Key:", "Schlüssel:")) " " code #renew-secret data-secret=(en.secret) { (super::login::grouped(&en.secret)) } }
                }
                form method="post" action="/settings/totp/confirm" {
                    (csrf_input(&caller))
                    label for="confirm-code" { (l.t("The first code of the new secret", "Der erste Code des neuen Geheimnisses")) }
                    input #confirm-code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { (l.t("Confirm", "Bestätigen")) }
                }
            }
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

/// Step two: the new secret's first code; the answer shows the new recovery codes once.
pub async fn totp_confirm(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<CodeForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let session = own_session(&caller)?;
        let code = offered_code(&f)?;
        app.gate.with(|g| async move { g.totp_renew_finish(crate::gate::ctx(), session, code).await }).await
    };
    let notice = match run.await {
        Ok(codes) => html! {
            (super::ok_box(l.t("The new authenticator is set up; the old one no longer works.", "Der neue Authenticator ist eingerichtet; der alte gilt nicht mehr.")))
            p { (l.t("New recovery codes (each works once; store them now, they are not shown again):", "Neue Wiederherstellungscodes (jeder gilt einmal; jetzt aufbewahren, sie werden nicht wieder angezeigt):")) }
            ul.codes #new-recovery-codes { @for c in &codes { li { code { (c) } } } }
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct KeyForm {
    csrf: Option<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    days: String,
}

pub async fn api_key_create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<KeyForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let days: u16 = f
            .days
            .trim()
            .parse()
            .map_err(|_| corenas_proto::WireError::invalid("days", "days is invalid: use 1-366"))?;
        let (label, role) = (f.label.trim().parse()?, f.role.parse()?);
        crate::daemon!(app.gate, &caller.cred, ApiKeyCreate { label, role, days, dry_run: false })
    };
    let notice = match run.await {
        Ok(c) => match c.result {
            Some(g) => html! {
                div.alert.ok #new-api-key { (l.t("The new key (shown once; CoreNAS keeps only its hash):", "Der neue Schlüssel (einmalig angezeigt; CoreNAS speichert nur seinen Hash):")) " " code { (g.key.expose()) } }
            },
            None => html! {},
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

pub async fn api_key_revoke(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()) {
        Ok(()) => crate::daemon!(app.gate, &caller.cred, ApiKeyRevoke { id, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(_) => super::ok_box(l.t("The key is revoked.", "Der Schlüssel ist widerrufen.")),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

pub async fn session_revoke(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return super::error_page(caller.lang, &e);
    }
    let cred = caller.cred.clone();
    match app.gate.with(|g| async move { g.session_revoke(crate::gate::ctx(), cred, id).await }).await {
        Ok(()) => Redirect::to("/settings").into_response(),
        Err(e) => super::error_page(caller.lang, &e),
    }
}
