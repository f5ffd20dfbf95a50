//! Alerts: what is wrong now (with what to do about it), dismiss and silences, what was
//! resolved in the last 7 days, how each class is delivered (with how often it was sent, so the
//! noisy one can be turned off), and the delivery channels with "send test", which shows the
//! conversation. Viewers see everything but no form; corenasd decides who may change what.

use super::{csrf_input, error_box, layout, ok_box};
use crate::api::alerts::{ChannelFields, channel_spec, recipients, silence_spec};
use crate::app::AppState;
use crate::http::{self, Caller};
use crate::i18n::Lang;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::monitor::{
    Alert, AlertClass, AlertLevel, AlertState, ChannelInfo, ChannelKind, Delivery, DeliveryReport, SmtpSecurity,
};
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

/// Seconds since the epoch as people read it (UTC), in the page's language.
pub fn when(l: Lang, secs: i64) -> String {
    l.datetime(&crate::api::rfc3339_of(secs))
}

pub fn level_name(l: Lang, level: AlertLevel) -> &'static str {
    match level {
        AlertLevel::Info => l.t("info", "Info"),
        AlertLevel::Notice => l.t("notice", "Hinweis"),
        AlertLevel::Warning => l.t("warning", "Warnung"),
        AlertLevel::Error => l.t("error", "Fehler"),
        AlertLevel::Critical => l.t("critical", "kritisch"),
    }
}

pub fn class_name(l: Lang, class: AlertClass) -> &'static str {
    use AlertClass as C;
    match class {
        C::PoolDegraded => l.t("Pool degraded", "Pool beeinträchtigt"),
        C::PoolCapacity => l.t("Pool filling up", "Pool läuft voll"),
        C::ScrubErrors => l.t("Scrub found errors", "Prüflauf fand Fehler"),
        C::ScrubOverdue => l.t("Scrub overdue", "Prüflauf überfällig"),
        C::DiskFailing => l.t("Disk failing", "Festplatte fällt aus"),
        C::DiskAttributeRising => l.t("SMART attribute rising", "SMART-Wert steigt"),
        C::DiskTemperature => l.t("Disk too warm", "Festplatte zu warm"),
        C::DiskWear => l.t("SSD worn", "SSD abgenutzt"),
        C::MountDown => l.t("Mount down", "Einhängung fehlt"),
        C::JobFailed => l.t("Job failed", "Auftrag fehlgeschlagen"),
        C::AuditChain => l.t("Audit chain broken", "Prüfprotokoll-Kette gebrochen"),
        C::HelperFailing => l.t("Helper failing", "Helfer schlägt fehl"),
        C::CheckFailed => l.t("A check failed", "Eine Prüfung schlug fehl"),
        C::DeliveryFailed => l.t("Delivery failed", "Zustellung fehlgeschlagen"),
        C::BackupFailed => l.t("Backup failed", "Sicherung fehlgeschlagen"),
        C::BackupOverdue => l.t("Backup overdue", "Sicherung überfällig"),
        C::BackupCheckFailed => l.t("Backup check failed", "Prüfung der Sicherung fehlgeschlagen"),
        C::BackupRestoreTestFailed => l.t("Restore test failed", "Wiederherstellungstest fehlgeschlagen"),
        C::BackupUnverified => l.t("Backup not verified", "Sicherung nicht überprüft"),
        C::BackupStaleLock => l.t("Stale repository lock", "Verwaiste Sperre im Repository"),
    }
}

fn delivery_name(l: Lang, d: Delivery) -> &'static str {
    match d {
        Delivery::Immediate => l.t("at once", "sofort"),
        Delivery::Digest => l.t("daily digest", "tägliche Zusammenfassung"),
        Delivery::Never => l.t("never (shown here only)", "nie (nur hier angezeigt)"),
    }
}

/// A level as a badge (`data-level` lets the stylesheet colour it).
pub fn level_badge(l: Lang, level: AlertLevel) -> Markup {
    html! { span.badge.level data-level=(level.as_str()) { (level_name(l, level)) } }
}

/// Durations the silence form offers, in minutes.
const SILENCE_CHOICES: [(u32, &str, &str); 6] = [
    (60, "1 hour", "1 Stunde"),
    (240, "4 hours", "4 Stunden"),
    (1440, "1 day", "1 Tag"),
    (10_080, "1 week", "1 Woche"),
    (43_200, "30 days", "30 Tage"),
    (129_600, "90 days", "90 Tage"),
];

const WEEK: i64 = 7 * 86_400;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn alert_state(l: Lang, a: &Alert) -> Markup {
    html! {
        @if let (Some(by), Some(at)) = (&a.dismissed_by, a.dismissed_at) {
            span.badge { (l.t("dismissed", "verworfen")) } " " span.hint { (by) ", " (when(l, at)) } br;
        }
        @if let Some(s) = &a.silenced_by { span.badge { (l.t("silenced", "stummgeschaltet")) } " " span.hint { (s) } }
        @if a.dismissed_at.is_none() && a.silenced_by.is_none() { (l.t("active", "aktiv")) }
    }
}

fn channel_target(c: &ChannelInfo) -> String {
    match &c.kind {
        ChannelKind::Smtp(s) => {
            let to: Vec<&str> = s.to.iter().map(|a| a.as_str()).collect();
            format!("{}:{} ({}) {} → {}", s.host.as_str(), s.port, s.security, s.from.as_str(), to.join(", "))
        }
        ChannelKind::Webhook { url } | ChannelKind::Alertmanager { url } => url.as_str().to_owned(),
    }
}

/// What "send test" did: whether it worked, and the conversation line by line.
fn report_box(l: Lang, r: &DeliveryReport) -> Markup {
    html! {
        div.alert.(if r.ok { "ok" } else { "error" }) role="status" #test-report data-ok=(if r.ok { "1" } else { "0" }) {
            strong { (if r.ok { l.t("Test message delivered through", "Testnachricht zugestellt über") }
                     else { l.t("Test message NOT delivered through", "Testnachricht NICHT zugestellt über") }) " " (r.channel) }
            @if let Some(e) = &r.error { p { (e) } }
            @if !r.transcript.is_empty() { pre.transcript { @for line in &r.transcript { (line) "\n" } } }
        }
    }
}

/// The active alerts, the worst and the newest first.
fn most_urgent_first(list: &[Alert]) -> Vec<&Alert> {
    let mut active: Vec<&Alert> = list.iter().filter(|a| a.state == AlertState::Active).collect();
    active.sort_by(|a, b| b.level.cmp(&a.level).then(b.last_seen.cmp(&a.last_seen)));
    active
}

/// The active alerts, the worst first, with the dismiss button for operators (re-rendered by
/// live.js when the event stream says alerts changed).
fn active_section(caller: &Caller, alerts: &Result<Vec<Alert>, WireError>) -> Markup {
    let l = caller.lang;
    let operator = caller.is(Role::Operator);
    html! {
        section.card #active-alerts data-live aria-live="polite" {
            h2 { (l.t("Active alerts", "Aktive Warnungen")) }
            @match alerts {
                Err(e) => (error_box(l, e)),
                Ok(list) => {
                    @let active = most_urgent_first(list);
                    @if active.is_empty() { p.empty { (l.t("Nothing is wrong.", "Alles in Ordnung.")) } }
                    @else { table.alerts {
                        thead { tr {
                            th { (l.t("Level", "Stufe")) } th { (l.t("Alert", "Warnung")) } th { (l.t("What to do", "Was zu tun ist")) }
                            th { (l.t("Seen", "Gesehen")) } th { (l.t("State", "Status")) }
                        } }
                        tbody { @for a in active { tr data-alert=(a.id) {
                            td { (level_badge(l, a.level)) }
                            td { strong { (class_name(l, a.class)) } " · " (a.subject) br; (a.summary) }
                            td { (a.action) }
                            td.hint { (l.t("first", "zuerst")) " " (when(l, a.first_seen)) br; (l.t("last", "zuletzt")) " " (when(l, a.last_seen)) }
                            td {
                                (alert_state(l, a))
                                @if operator && a.dismissed_at.is_none() {
                                    form.inline method="post" action=(format!("/alerts/{}/dismiss", http::url_encode(&a.id))) {
                                        (csrf_input(caller))
                                        button.secondary type="submit" { (l.t("Dismiss", "Verwerfen")) }
                                    }
                                }
                            }
                        } } }
                    } }
                },
            }
        }
    }
}

async fn render(app: &AppState, caller: &Caller, notice: Option<Markup>, status: StatusCode) -> Response {
    let l = caller.lang;
    let cred = &caller.cred;
    let alerts = crate::daemon!(app.gate, cred, AlertList { include_resolved: true });
    let silences = crate::daemon!(app.gate, cred, SilenceList {});
    let policies = crate::daemon!(app.gate, cred, AlertPolicyList {});
    let channels = crate::daemon!(app.gate, cred, ChannelList {});
    let admin = caller.is(Role::Admin);
    let since = now() - WEEK;
    let body = html! {
        @if let Some(n) = notice { (n) }
        (active_section(caller, &alerts))
        section.card #silences {
            h2 { (l.t("Silences", "Stummschaltungen")) }
            p.hint { (l.t("A silence holds back deliveries of a class or a subject for a while; the alerts are still shown here.",
                          "Eine Stummschaltung hält die Zustellung einer Klasse oder eines Betreffs eine Zeit lang zurück; die Warnungen bleiben hier sichtbar.")) }
            @match &silences {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No silence in force.", "Keine Stummschaltung aktiv.")) },
                Ok(list) => table {
                    thead { tr { th { (l.t("Class", "Klasse")) } th { (l.t("Subject", "Betreff")) } th { (l.t("Until", "Bis")) } th { (l.t("Reason", "Grund")) } th { (l.t("By", "Von")) } th {} } }
                    tbody { @for s in list { tr {
                        td { @if let Some(c) = s.class { (class_name(l, c)) } @else { (l.t("any", "alle")) } }
                        td { (s.subject.as_deref().unwrap_or("*")) }
                        td { (when(l, s.until)) }
                        td { (s.reason) }
                        td { (s.created_by) }
                        td { @if admin {
                            form.inline method="post" action=(format!("/alerts/silences/{}/remove", http::url_encode(&s.id))) {
                                (csrf_input(caller)) button.secondary type="submit" { (l.t("End", "Beenden")) }
                            }
                        } }
                    } } }
                },
            }
            @if admin {
                details {
                    summary { (l.t("New silence", "Neue Stummschaltung")) }
                    form method="post" action="/alerts/silences" {
                        (csrf_input(caller))
                        label for="silence-class" { (l.t("Class", "Klasse")) }
                        select #silence-class name="class" {
                            option value="" { (l.t("any class (give a subject)", "jede Klasse (Betreff angeben)")) }
                            @for c in AlertClass::ALL { option value=(c.as_str()) { (class_name(l, *c)) } }
                        }
                        label for="silence-subject" { (l.t("Subject (a pool, a disk id, a mount; empty: all of the class)", "Betreff (ein Pool, eine Festplatten-ID, eine Einhängung; leer: die ganze Klasse)")) }
                        input #silence-subject name="subject" type="text" maxlength="128";
                        label for="silence-minutes" { (l.t("For", "Für")) }
                        select #silence-minutes name="minutes" {
                            @for (m, en, de) in SILENCE_CHOICES { option value=(m) selected[m == 1440] { (l.t(en, de)) } }
                        }
                        label for="silence-reason" { (l.t("Reason", "Grund")) }
                        input #silence-reason name="reason" type="text" maxlength="64";
                        button type="submit" { (l.t("Silence", "Stummschalten")) }
                    }
                }
            }
        }
        section.card #resolved-alerts {
            h2 { (l.t("Resolved in the last 7 days", "In den letzten 7 Tagen behoben")) }
            @if let Ok(list) = &alerts {
                @let resolved: Vec<&Alert> = list.iter().filter(|a| a.state == AlertState::Resolved && a.resolved_at.unwrap_or(a.last_seen) >= since).collect();
                @if resolved.is_empty() { p.empty { (l.t("Nothing was resolved in the last 7 days.", "In den letzten 7 Tagen wurde nichts behoben.")) } }
                @else { table {
                    thead { tr { th { (l.t("Level", "Stufe")) } th { (l.t("Alert", "Warnung")) } th { (l.t("From", "Von")) } th { (l.t("Resolved", "Behoben")) } } }
                    tbody { @for a in resolved { tr {
                        td { (level_badge(l, a.level)) }
                        td { strong { (class_name(l, a.class)) } " · " (a.subject) br; (a.summary) }
                        td { (when(l, a.first_seen)) }
                        td { @if let Some(t) = a.resolved_at { (when(l, t)) } }
                    } } }
                } }
            }
        }
        section.card #delivery-policy {
            h2 { (l.t("Delivery per class", "Zustellung je Klasse")) }
            p.hint { (l.t("How often each class was sent in the last 7 days: turn off the noisy one.",
                          "Wie oft jede Klasse in den letzten 7 Tagen gesendet wurde: schalten Sie die lästige ab.")) }
            @match &policies {
                Err(e) => (error_box(l, e)),
                Ok(list) => table {
                    thead { tr { th { (l.t("Class", "Klasse")) } th { (l.t("Delivery", "Zustellung")) } th.num { (l.t("Sent in 7 days", "Gesendet in 7 Tagen")) } } }
                    tbody { @for p in list { tr data-class=(p.class.as_str()) {
                        td { (class_name(l, p.class)) br; code.hint { (p.class.as_str()) } }
                        td {
                            @if admin {
                                form.inline method="post" action="/alerts/policy" {
                                    (csrf_input(caller))
                                    input type="hidden" name="class" value=(p.class.as_str());
                                    select name="delivery" aria-label=(format!("{} {}", l.t("Delivery of", "Zustellung von"), class_name(l, p.class))) {
                                        @for d in Delivery::ALL { option value=(d.as_str()) selected[*d == p.delivery] { (delivery_name(l, *d)) } }
                                    }
                                    button.secondary type="submit" { (l.t("Save", "Speichern")) }
                                }
                            } @else { (delivery_name(l, p.delivery)) }
                            @if p.default { " " span.hint { (l.t("(default)", "(Voreinstellung)")) } }
                        }
                        td.num { (l.int(p.sent_7d)) }
                    } } }
                },
            }
        }
        section.card #channels {
            h2 { (l.t("Delivery channels", "Zustellwege")) }
            @match &channels {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No channel yet: alerts are only shown here.", "Noch kein Zustellweg: Warnungen werden nur hier angezeigt.")) },
                Ok(list) => table {
                    thead { tr {
                        th { (l.t("Name", "Name")) } th { (l.t("Type", "Art")) } th { (l.t("Where to", "Wohin")) } th { (l.t("From level", "Ab Stufe")) }
                        th { (l.t("Delivery", "Zustellung")) } th {}
                    } }
                    tbody { @for c in list { tr data-channel=(c.name) {
                        td { strong { (c.name) } }
                        td { (c.kind.type_name()) }
                        td { (channel_target(c))
                             @if let ChannelKind::Smtp(s) = &c.kind { @if s.password.is_some() { br; span.hint { (l.t("password set", "Passwort hinterlegt")) } } } }
                        td { (level_name(l, c.min_level)) }
                        td {
                            @if c.queued > 0 { (l.int(c.queued)) " " (l.t("waiting", "wartend")) br; }
                            @if let Some(t) = c.last_delivered { span.hint { (l.t("last delivered", "zuletzt zugestellt")) " " (when(l, t)) } br; }
                            @if let Some(e) = &c.last_error { span.error { (e) } }
                        }
                        td { @if admin {
                            form.inline method="post" action=(format!("/alerts/channels/{}/test", c.name)) {
                                (csrf_input(caller)) button.secondary type="submit" { (l.t("Send test", "Test senden")) }
                            }
                            " "
                            form.inline method="post" action=(format!("/alerts/channels/{}/remove", c.name)) {
                                (csrf_input(caller)) button.danger type="submit" { (l.t("Remove", "Entfernen")) }
                            }
                        } }
                    } } }
                },
            }
            @if admin { (channel_forms(caller)) }
        }
    };
    let mut res = layout(caller, super::Nav::Alerts, l.t("Alerts", "Warnungen"), body);
    *res.status_mut() = status;
    res
}

fn level_select(l: Lang, id: &str) -> Markup {
    html! {
        label for=(id) { (l.t("Deliver from level", "Zustellen ab Stufe")) }
        select id=(id) name="min_level" {
            @for lv in AlertLevel::ALL { option value=(lv.as_str()) selected[*lv == AlertLevel::Warning] { (level_name(l, *lv)) } }
        }
    }
}

/// The add forms, one per kind of channel.
fn channel_forms(caller: &Caller) -> Markup {
    let l = caller.lang;
    html! {
        details {
            summary { (l.t("Add a mail channel (SMTP)", "Mail-Zustellweg hinzufügen (SMTP)")) }
            form method="post" action="/alerts/channels" autocomplete="off" {
                (csrf_input(caller))
                input type="hidden" name="type" value="smtp";
                label for="smtp-name" { (l.t("Name (a-z, 0-9, - and _)", "Name (a-z, 0-9, - und _)")) }
                input #smtp-name name="name" type="text" required maxlength="32" pattern="[a-z0-9][a-z0-9_-]*";
                label for="smtp-host" { (l.t("Mail server (relay)", "Mailserver (Relay)")) }
                input #smtp-host name="host" type="text" required maxlength="253";
                label for="smtp-security" { (l.t("Security", "Absicherung")) }
                select #smtp-security name="security" {
                    @for s in SmtpSecurity::ALL { option value=(s.as_str()) {
                        (match s {
                            SmtpSecurity::Starttls => l.t("STARTTLS (port 587)", "STARTTLS (Port 587)"),
                            SmtpSecurity::Tls => l.t("TLS from the start (port 465)", "TLS von Anfang an (Port 465)"),
                            SmtpSecurity::None => l.t("none (a relay on this machine only)", "keine (nur ein Relay auf diesem Rechner)"),
                        })
                    } }
                }
                label for="smtp-port" { (l.t("Port (empty: the usual one for the security)", "Port (leer: der übliche zur Absicherung)")) }
                input #smtp-port name="port" type="number" min="1" max="65535";
                label for="smtp-from" { (l.t("Sender address", "Absenderadresse")) }
                input #smtp-from name="from" type="email" required maxlength="254";
                label for="smtp-to" { (l.t("Recipients (separated by commas)", "Empfänger (durch Kommas getrennt)")) }
                input #smtp-to name="to" type="text" required;
                label for="smtp-user" { (l.t("User name at the server (optional)", "Benutzername am Server (optional)")) }
                input #smtp-user name="username" type="text" maxlength="64" autocomplete="off";
                label for="smtp-password" { (l.t("Password at the server (optional; never shown again)", "Passwort am Server (optional; wird nie wieder angezeigt)")) }
                input #smtp-password name="password" type="password" autocomplete="new-password";
                label for="smtp-ca" { (l.t("Extra CA certificates, a PEM file (optional; certificates are always checked)", "Zusätzliche CA-Zertifikate, eine PEM-Datei (optional; Zertifikate werden immer geprüft)")) }
                input #smtp-ca name="ca_file" type="text" placeholder="/etc/corenas/ca.pem";
                (level_select(l, "smtp-level"))
                button type="submit" { (l.t("Add mail channel", "Mail-Zustellweg hinzufügen")) }
            }
        }
        @for (kind, summary, hint) in [
            ("webhook", l.t("Add a webhook (Alertmanager-compatible payload)", "Webhook hinzufügen (Alertmanager-kompatible Nutzlast)"), "https://ntfy.example.org/nas"),
            ("alertmanager", l.t("Add an Alertmanager (v2 API)", "Alertmanager hinzufügen (v2-API)"), "http://127.0.0.1:9093"),
        ] {
            details {
                summary { (summary) }
                form method="post" action="/alerts/channels" {
                    (csrf_input(caller))
                    input type="hidden" name="type" value=(kind);
                    label for=(format!("{kind}-name")) { (l.t("Name (a-z, 0-9, - and _)", "Name (a-z, 0-9, - und _)")) }
                    input id=(format!("{kind}-name")) name="name" type="text" required maxlength="32" pattern="[a-z0-9][a-z0-9_-]*";
                    label for=(format!("{kind}-url")) { (l.t("URL", "URL")) }
                    input id=(format!("{kind}-url")) name="url" type="url" required placeholder=(hint);
                    (level_select(l, &format!("{kind}-level")))
                    button type="submit" { (l.t("Add", "Hinzufügen")) }
                }
            }
        }
    }
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None, StatusCode::OK).await
}

/// The page again after a form: the notice on top, with the refusal's status (403 for a role
/// that may not, 422 for bad input) so scripts and tests see it too.
async fn after(app: &AppState, caller: &Caller, r: Result<Markup, WireError>) -> Response {
    match r {
        Ok(notice) => render(app, caller, Some(notice), StatusCode::OK).await,
        Err(e) => render(app, caller, Some(error_box(caller.lang, &e)), http::status_of(e.code)).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn dismiss(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let c = crate::daemon!(app.gate, &caller.cred, AlertDismiss { id, dry_run: false })?;
        let what = c.result.map(|a| format!("{} · {}", class_name(l, a.class), a.subject)).unwrap_or_default();
        Ok(ok_box(&format!("{} {what}", l.t("Dismissed:", "Verworfen:"))))
    };
    after(&app, &caller, r.await).await
}

#[derive(Debug, Deserialize)]
pub struct SilenceForm {
    csrf: Option<String>,
    #[serde(default)]
    class: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    reason: String,
}

pub async fn silence_add(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<SilenceForm>) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let spec = silence_spec(&f.class, &f.subject, &f.minutes, &f.reason)?;
        let c = crate::daemon!(app.gate, &caller.cred, AlertSilence { spec, dry_run: false })?;
        let until = c.result.map(|s| when(l, s.until)).unwrap_or_default();
        Ok(ok_box(&format!("{} {until}", l.t("Silenced until", "Stummgeschaltet bis"))))
    };
    after(&app, &caller, r.await).await
}

pub async fn silence_remove(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        crate::daemon!(app.gate, &caller.cred, SilenceRemove { id, dry_run: false })?;
        Ok(ok_box(l.t("Silence ended.", "Stummschaltung beendet.")))
    };
    after(&app, &caller, r.await).await
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    csrf: Option<String>,
    #[serde(default)]
    class: String,
    #[serde(default)]
    delivery: String,
}

pub async fn policy_set(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<PolicyForm>) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let class: AlertClass = f.class.parse()?;
        let delivery: Delivery = f.delivery.parse()?;
        crate::daemon!(app.gate, &caller.cred, AlertPolicySet { class, delivery, dry_run: false })?;
        Ok(ok_box(&format!("{}: {}", class_name(l, class), delivery_name(l, delivery))))
    };
    after(&app, &caller, r.await).await
}

#[derive(Debug, Deserialize)]
pub struct ChannelForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    min_level: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    ca_file: String,
}

pub async fn channel_add(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<ChannelForm>) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let spec = channel_spec(&ChannelFields {
            name: f.name,
            kind: f.kind,
            min_level: f.min_level,
            url: f.url,
            host: f.host,
            port: f.port,
            security: f.security,
            from: f.from,
            to: recipients(&f.to),
            username: f.username,
            password: f.password,
            ca_file: f.ca_file,
        })?;
        let name = spec.name.to_string();
        crate::daemon!(app.gate, &caller.cred, ChannelAdd { spec, dry_run: false })?;
        Ok(ok_box(&format!("{} {name}", l.t("Channel added:", "Zustellweg hinzugefügt:"))))
    };
    after(&app, &caller, r.await).await
}

pub async fn channel_remove(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let channel = name.parse()?;
        crate::daemon!(app.gate, &caller.cred, ChannelRemove { name: channel, dry_run: false })?;
        Ok(ok_box(&format!("{} {name}", l.t("Channel removed:", "Zustellweg entfernt:"))))
    };
    after(&app, &caller, r.await).await
}

pub async fn channel_test(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let l = caller.lang;
    let r = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let channel = name.parse()?;
        let c = crate::daemon!(app.gate, &caller.cred, ChannelTest { name: channel, dry_run: false })?;
        let report = c.result.unwrap_or(DeliveryReport {
            channel: name.clone(),
            ok: false,
            transcript: vec![],
            error: Some(l.t("corenasd answered no report", "corenasd lieferte keinen Bericht").to_owned()),
        });
        Ok(report_box(l, &report))
    };
    after(&app, &caller, r.await).await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use corenas_proto::monitor::AlertState;
    use corenas_proto::web::{Credential, SessionInfo, WebToken};

    /// A logged-in caller of the given role, for rendering.
    pub(crate) fn caller(role: Role, lang: Lang) -> Caller {
        let token = WebToken::new("a".repeat(64)).expect("token");
        Caller {
            cred: Credential::Session(token.clone()),
            session: SessionInfo {
                id: "s1".into(),
                user: "alice".into(),
                role,
                source: "127.0.0.1".into(),
                created: String::new(),
                last_seen: String::new(),
                idle_expires: String::new(),
                expires: String::new(),
                current: true,
                via: "session".into(),
            },
            token: Some(token),
            lang,
        }
    }

    pub(crate) const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

    fn alert(id: &str) -> Alert {
        Alert {
            id: id.into(),
            class: AlertClass::DiskFailing,
            subject: HOSTILE.into(),
            level: AlertLevel::Critical,
            state: AlertState::Active,
            summary: format!("disk model {HOSTILE} reports failing"),
            action: HOSTILE.into(),
            first_seen: 1_700_000_000,
            last_seen: 1_700_000_600,
            resolved_at: None,
            dismissed_by: None,
            dismissed_at: None,
            silenced_by: Some(HOSTILE.into()),
        }
    }

    #[test]
    fn alert_texts_from_outside_are_escaped_and_only_operators_may_dismiss() {
        let list = Ok(vec![alert("a/../x?y")]);
        let op = active_section(&caller(Role::Operator, Lang::En), &list).into_string();
        assert!(!op.contains("<script>") && !op.contains("<img"), "{op}");
        assert!(op.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{op}");
        assert!(op.contains("action=\"/alerts/a%2F..%2Fx%3Fy/dismiss\""), "the id stays one path segment: {op}");
        let viewer = active_section(&caller(Role::Viewer, Lang::De), &list).into_string();
        assert!(!viewer.contains("<form") && viewer.contains("kritisch"), "{viewer}");
        let down = active_section(&caller(Role::Admin, Lang::En), &Err(WireError::internal("alerts: not built yet")))
            .into_string();
        assert!(down.contains("Not done:") && down.contains("not built yet"), "shown as an error: {down}");
    }

    #[test]
    fn the_transcript_is_shown_line_by_line_and_escaped() {
        let r = DeliveryReport {
            channel: "mail".into(),
            ok: false,
            transcript: vec!["220 mx ESMTP".into(), "<< 535 5.7.8 <b>bad</b>".into()],
            error: Some("authentication failed".into()),
        };
        let html = report_box(Lang::De, &r).into_string();
        assert!(
            html.contains("NICHT zugestellt") && html.contains("<pre class=\"transcript\">220 mx ESMTP\n"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;") && !html.contains("<b>bad"), "{html}");
    }

    #[test]
    fn every_class_and_level_has_both_languages() {
        for c in AlertClass::ALL {
            assert_ne!(class_name(Lang::En, *c), class_name(Lang::De, *c), "{c}");
        }
        for lv in AlertLevel::ALL.iter().filter(|l| **l != AlertLevel::Info) {
            assert_ne!(level_name(Lang::En, *lv), level_name(Lang::De, *lv), "{lv}");
        }
    }
}
