//! Server-rendered pages. Every page and form works without JavaScript; `live.js` only adds live
//! updates. maud escapes every interpolated value, so disc labels, user names and error messages
//! from anywhere are shown as text, never as markup.

pub mod accounts;
pub mod acl;
pub mod alerts;
pub mod archive;
pub mod assets;
pub mod audit;
pub mod backups;
pub mod charts;
pub mod dashboard;
pub mod devices;
pub mod imaging;
pub mod login;
pub mod settings;
pub mod shares;
pub mod storage;

use crate::http::{CSRF_FIELD, Caller, status_of};
use crate::i18n::Lang;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use corenas_proto::WireError;
use maud::{DOCTYPE, Markup, html};

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Alerts,
    Accounts,
    Storage,
    Shares,
    Backups,
    Imaging,
    Devices,
    Audit,
    Settings,
}

pub fn nav_items(l: Lang) -> [(Nav, &'static str, &'static str); 10] {
    [
        (Nav::Dashboard, "/", l.t("Dashboard", "Übersicht")),
        (Nav::Alerts, "/alerts", l.t("Alerts", "Warnungen")),
        (Nav::Accounts, "/accounts", l.t("Accounts", "Konten")),
        (Nav::Storage, "/storage", l.t("Storage", "Speicher")),
        (Nav::Shares, "/shares", l.t("Shares", "Freigaben")),
        (Nav::Backups, "/backups", l.t("Backups", "Datensicherung")),
        (Nav::Imaging, "/imaging", l.t("Imaging", "Abbilder")),
        (Nav::Devices, "/devices", l.t("Devices", "Geräte")),
        (Nav::Audit, "/audit", l.t("Audit log", "Prüfprotokoll")),
        (Nav::Settings, "/settings", l.t("Settings", "Einstellungen")),
    ]
}

pub fn csrf_input(caller: &Caller) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(caller.csrf()); }
}

/// The language switch. `back` is the page to return to: the section's own page, since the
/// current URL may be the answer to a form post.
fn lang_switch(l: Lang, back: Option<&str>) -> Markup {
    let (other, label) = match l {
        Lang::En => ("de", "Deutsch"),
        Lang::De => ("en", "English"),
    };
    html! {
        form.inline method="post" action="/lang" {
            input type="hidden" name="lang" value=(other);
            @if let Some(b) = back { input type="hidden" name="back" value=(b); }
            button.link type="submit" lang=(other) { (label) }
        }
    }
}

/// The frame of every logged-in page.
pub fn layout(caller: &Caller, nav: Nav, title: &str, body: Markup) -> Response {
    layout_with(caller, nav, title, body, None)
}

/// The `<head>` of every page; `live` adds the live-update script (logged-in pages only).
fn head(title: &str, refresh: Option<(u32, &str)>, live: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · CoreNAS" }
            @if let Some((secs, url)) = refresh { noscript { meta http-equiv="refresh" content=(format!("{secs}; url={url}")); } }
            link rel="stylesheet" href="/static/app.css";
            @if live { script src="/static/live.js" defer {} }
        }
    }
}

/// With `refresh`, a page that changes by itself (a running job) reloads every so many seconds
/// from the given URL when no script runs (a URL with `live=1`, so the reloads do not keep the
/// session alive: see `http::page_own_reads`); `live.js` updates in place instead.
pub fn layout_with(caller: &Caller, nav: Nav, title: &str, body: Markup, refresh: Option<(u32, &str)>) -> Response {
    let l = caller.lang;
    let page = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            (head(title, refresh, true))
            body {
                a.skip href="#main" { (l.t("Skip to content", "Zum Inhalt springen")) }
                header.top {
                    a.brand href="/" { "CoreNAS" }
                    nav aria-label=(l.t("Main", "Hauptmenü")) {
                        ul {
                            @for (item, href, label) in nav_items(l) {
                                li { a href=(href) aria-current=[(item == nav).then_some("page")] { (label) } }
                            }
                        }
                    }
                    div.who {
                        span.user { (caller.session.user) " · " (role_name(l, caller.session.role)) }
                        (lang_switch(l, nav_items(l).iter().find(|(n, _, _)| *n == nav).map(|(_, href, _)| *href)))
                        form.inline method="post" action="/logout" {
                            (csrf_input(caller))
                            button.secondary type="submit" { (l.t("Log out", "Abmelden")) }
                        }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    };
    Html(page.into_string()).into_response()
}

/// Pages shown before login (setup, login, the second factor).
pub fn bare(l: Lang, title: &str, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            (head(title, None, false))
            body.bare {
                main id="main" .card.narrow {
                    div.brand-row { span.brand { "CoreNAS" } (lang_switch(l, None)) }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(page.into_string()).into_response()
}

pub fn role_name(l: Lang, r: corenas_proto::web::Role) -> &'static str {
    use corenas_proto::web::Role;
    match r {
        Role::Admin => l.t("administrator", "Administrator"),
        Role::Operator => l.t("operator", "Operator"),
        Role::Viewer => l.t("viewer", "Betrachter"),
        Role::Metrics => l.t("metrics only (Prometheus)", "nur Metriken (Prometheus)"),
    }
}

/// What an error code means, in the page's language (corenasd's own message, in English, follows
/// as the detail).
fn code_meaning(l: Lang, code: corenas_proto::ErrorCode) -> Option<&'static str> {
    use corenas_proto::ErrorCode as C;
    (l == Lang::De).then_some(match code {
        C::InvalidInput => "Ungültige Eingabe.",
        C::NotAllowed => "Nicht erlaubt.",
        C::NotFound => "Nicht gefunden.",
        C::AlreadyExists => "Existiert bereits.",
        C::OutOfRange => "Außerhalb des erlaubten Bereichs.",
        C::ToolFailed => "Ein Systemprogramm ist fehlgeschlagen.",
        C::ToolTimeout => "Ein Systemprogramm hat zu lange gebraucht.",
        C::HelperUnavailable => "Ein CoreNAS-Dienst ist nicht erreichbar.",
        C::Protocol => "Protokollfehler zwischen CoreNAS-Diensten.",
        C::StateCorrupt => "Der gespeicherte Zustand ist beschädigt.",
        C::Busy => "Belegt.",
        C::InvalidState => "Im jetzigen Zustand nicht möglich.",
        C::NoSpace => "Kein Platz mehr.",
        C::Internal => "Interner Fehler.",
        C::Unauthenticated => "Nicht angemeldet oder Anmeldung fehlgeschlagen.",
        C::LockedOut => "Vorübergehend gesperrt.",
    })
}

pub fn error_box(l: Lang, e: &WireError) -> Markup {
    html! {
        div.alert.error role="alert" {
            strong { (l.t("Not done:", "Nicht ausgeführt:")) } " "
            @if let Some(m) = code_meaning(l, e.code) { (m) " " span.detail lang="en" { (e.message) } } @else { (e.message) }
            @if let Some(f) = &e.field { " " span.code { "(" (l.t("field", "Feld")) " " (f) ")" } }
            " " span.code { (e.code.as_str()) }
        }
    }
}

/// The password policy as a checklist under a new-password field (`for_input`: its id). It is
/// the policy's text without script; live.js ticks each rule off while one types (the rules are
/// corenas_proto's `PasswordRule`, which the server applies whatever the page says).
pub fn password_rules(l: Lang, for_input: &str) -> Markup {
    use corenas_proto::secret::PasswordRule as R;
    html! {
        ul.policy data-policy-for=(for_input) aria-live="polite" {
            @for rule in R::ALL {
                li data-rule=(rule.key()) {
                    (match rule {
                        R::Length => l.t("12-128 characters", "12-128 Zeichen"),
                        R::Printable => l.t("only printable ASCII characters", "nur druckbare ASCII-Zeichen"),
                        R::Upper => l.t("an upper-case letter", "ein Großbuchstabe"),
                        R::Lower => l.t("a lower-case letter", "ein Kleinbuchstabe"),
                        R::Digit => l.t("a digit", "eine Ziffer"),
                        R::Special => l.t("a special character", "ein Sonderzeichen"),
                    })
                }
            }
        }
    }
}

pub fn ok_box(message: &str) -> Markup {
    html! { div.alert.ok role="status" { (message) } }
}

/// An error on its own page (the request could not be handled at all).
pub fn error_page(l: Lang, e: &WireError) -> Response {
    let mut res = bare(
        l,
        l.t("Something went wrong", "Etwas ist schiefgegangen"),
        html! { (error_box(l, e)) p { a href="/" { (l.t("Back to the dashboard", "Zurück zur Übersicht")) } } },
    );
    *res.status_mut() = status_of(e.code);
    res
}

pub async fn not_found(headers: axum::http::HeaderMap, uri: axum::http::Uri) -> Response {
    let l = Lang::from_headers(&headers);
    let e = WireError::not_found(format!("{} {}", l.t("no such page:", "keine solche Seite:"), uri.path()));
    if uri.path().starts_with("/api/") {
        return crate::http::api_error(&e);
    }
    let mut r = error_page(l, &e);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// A progress bar that works without JavaScript (a `<progress>` element) and that `live.js`
/// updates in place (`data-job`).
pub fn progress_bar(l: Lang, job: &corenas_proto::imaging::JobInfo) -> Markup {
    let p = &job.progress;
    html! {
        div.progress data-job=(job.id) {
            progress max="100" value=(format!("{:.1}", p.percent)) aria-label=(l.t("Progress", "Fortschritt")) {}
            span.pct { (l.percent(p.percent)) }
            span.rate { @if let Some(r) = p.rate_bps { (l.rate(r)) } }
            span.eta { @if let Some(e) = p.eta_seconds { (l.t("ETA", "Rest")) " " (l.duration(e)) } }
        }
    }
}

pub fn job_state_name(l: Lang, s: corenas_proto::imaging::JobState) -> &'static str {
    use corenas_proto::imaging::JobState as S;
    match s {
        S::Queued => l.t("queued", "wartend"),
        S::Running => l.t("running", "läuft"),
        S::Paused => l.t("paused", "pausiert"),
        S::Hashing => l.t("hashing", "Prüfsumme"),
        S::Completed => l.t("completed", "fertig"),
        S::CompletedWithErrors => l.t("completed with errors", "fertig mit Fehlern"),
        S::Failed => l.t("failed", "fehlgeschlagen"),
        S::Cancelled => l.t("cancelled", "abgebrochen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_explained_in_german_with_the_detail_kept() {
        let e = WireError::invalid("name", "name 'x!' is invalid");
        let de = error_box(Lang::De, &e).into_string();
        assert!(
            de.contains("Nicht ausgeführt:")
                && de.contains("Ungültige Eingabe.")
                && de.contains("name &#39;x!&#39; is invalid")
                || de.contains("name 'x!' is invalid"),
            "{de}"
        );
        assert!(de.contains("E_INVALID_INPUT") && de.contains("Feld"), "{de}");
        let en = error_box(Lang::En, &e).into_string();
        assert!(!en.contains("Ungültige") && en.contains("Not done:"), "{en}");
    }
}
