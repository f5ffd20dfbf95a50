//! Block-device inventory: what each device is and what uses it.

use super::{error_box, layout};
use crate::app::AppState;
use crate::http::Caller;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use std::sync::Arc;

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let l = caller.lang;
    let devices = crate::daemon!(app.gate, &caller.cred, DeviceInventory {});
    let body = html! {
        section.card {
            @match &devices {
                Err(e) => (error_box(l, e)),
                Ok(list) => table #devices {
                    thead { tr {
                        th { (l.t("Device", "Gerät")) } th { (l.t("Model", "Modell")) } th { (l.t("Serial", "Seriennummer")) }
                        th.num { (l.t("Size", "Größe")) } th { (l.t("Transport", "Anschluss")) } th { (l.t("In use", "Belegt")) }
                    } }
                    tbody { @for d in list { tr {
                        td { a href=(format!("/devices/{}", d.name)) { strong { (d.path) } } @if let Some(label) = &d.fs_label { br; span.hint { (label) } } }
                        td { (d.model.as_deref().unwrap_or("-")) }
                        td { (d.serial.as_deref().unwrap_or("-")) }
                        td.num { (l.size(d.size_bytes)) }
                        td { (d.transport.as_deref().unwrap_or("-")) }
                        td { @let uses = d.all_uses(); @if uses.is_empty() { span.hint { (l.t("free", "frei")) } } @else { (uses.join("; ")) } }
                    } } }
                },
            }
            p.hint { (l.t("Open a device for SMART details, history and wiping.", "Öffnen Sie ein Gerät für SMART-Details, Verlauf und Löschen.")) }
        }
    };
    layout(&caller, super::Nav::Devices, l.t("Devices", "Geräte"), body)
}

/// One device: what it is, SMART now and before, and the wipe with a typed confirmation.
pub async fn detail(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    render_detail(&app, &caller, &name, None).await
}

async fn render_detail(app: &AppState, caller: &Caller, name: &str, notice: Option<maud::Markup>) -> Response {
    let l = caller.lang;
    let device: corenas_proto::names::DevicePath = match format!("/dev/{name}").parse() {
        Ok(d) => d,
        Err(e) => return super::error_page(l, &corenas_proto::WireError::from(e)),
    };
    let info = match crate::daemon!(app.gate, &caller.cred, DeviceShow { device: device.clone() }) {
        Ok(i) => i,
        Err(e) => return super::error_page(l, &e),
    };
    let smart = crate::daemon!(app.gate, &caller.cred, DeviceSmart { device: device.clone() });
    let history = crate::daemon!(app.gate, &caller.cred, DeviceSmartHistory { device: device.clone(), limit: 20 });
    let confirm_word = info.serial.clone().unwrap_or_else(|| info.name.clone());
    let yes_no = |b: Option<bool>| match b {
        Some(true) => l.t("passed", "bestanden"),
        Some(false) => l.t("FAILED", "FEHLGESCHLAGEN"),
        None => "-",
    };
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            dl.facts {
                dt { (l.t("Model", "Modell")) } dd { (info.model.as_deref().unwrap_or("-")) }
                dt { (l.t("Serial", "Seriennummer")) } dd { (info.serial.as_deref().unwrap_or("-")) }
                dt { (l.t("Size", "Größe")) } dd { (l.size(info.size_bytes)) }
                dt { (l.t("In use", "Belegt")) } dd { @let uses = info.all_uses(); @if uses.is_empty() { (l.t("free", "frei")) } @else { (uses.join("; ")) } }
            }
        }
        section.card #smart {
            h2 { "SMART" }
            @match &smart {
                Err(e) => (error_box(l, e)),
                Ok(s) if !s.available => p.empty { (s.message.as_deref().unwrap_or(l.t("This device reports no SMART data.", "Dieses Gerät liefert keine SMART-Daten."))) },
                Ok(s) => dl.facts {
                    dt { (l.t("Health", "Zustand")) } dd { (yes_no(s.health_passed)) }
                    dt { (l.t("Temperature", "Temperatur")) } dd { @if let Some(t) = s.temperature_c { (t) " °C" } @else { "-" } }
                    dt { (l.t("Power-on hours", "Betriebsstunden")) } dd { (s.power_on_hours.map(|h| h.to_string()).unwrap_or("-".into())) }
                    dt { (l.t("Reallocated sectors", "Neu zugewiesene Sektoren")) } dd { (s.reallocated_sectors.map(|h| h.to_string()).unwrap_or("-".into())) }
                    dt { (l.t("Pending sectors", "Schwebende Sektoren")) } dd { (s.pending_sectors.map(|h| h.to_string()).unwrap_or("-".into())) }
                },
            }
            h3 { (l.t("History", "Verlauf")) }
            @match &history {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No earlier reports.", "Keine früheren Berichte.")) },
                Ok(list) => table { thead { tr { th { (l.t("When", "Wann")) } th { (l.t("Health", "Zustand")) } th { "°C" } th { (l.t("Reallocated", "Neu zugewiesen")) } } }
                    tbody { @for r in list { tr {
                        td { (r.collected_at.map(|t| l.datetime(&crate::api::rfc3339_of(t))).unwrap_or_default()) }
                        td { (yes_no(r.health_passed)) } td { (r.temperature_c.map(|t| t.to_string()).unwrap_or_default()) }
                        td { (r.reallocated_sectors.map(|t| t.to_string()).unwrap_or_default()) }
                    } } } },
            }
        }
        @if caller.is(corenas_proto::web::Role::Admin) {
            section.card #wipe {
                h2 { (l.t("Wipe", "Löschen")) }
                form method="post" action=(format!("/devices/{}/wipe", info.name)) {
                    (super::csrf_input(caller))
                    label for="method" { (l.t("Method", "Verfahren")) }
                    select #method name="method" {
                        option value="quick" { (l.t("quick: signatures and partition tables", "schnell: Signaturen und Partitionstabellen")) }
                        option value="zero" { (l.t("zero: write zeros over the whole device", "Nullen: das ganze Gerät mit Nullen beschreiben")) }
                        option value="discard" { (l.t("discard: the device zeroes itself", "Discard: das Gerät nullt sich selbst")) }
                        option value="secure" { (l.t("secure: the device's own erase", "sicher: das Löschverfahren des Geräts")) }
                    }
                    label for="confirm" { (l.t("Type", "Geben Sie")) " " code { (confirm_word) } " " (l.t("to confirm", "zur Bestätigung ein")) }
                    input #confirm name="confirm" type="text" autocomplete="off" required;
                    div.alert.error { (l.t("Everything on this device will be lost.", "Alles auf diesem Gerät geht verloren.")) }
                    button.danger type="submit" { (l.t("Wipe the device", "Gerät löschen")) }
                }
            }
        }
    };
    let title = format!("{} {}", l.t("Device", "Gerät"), info.path);
    super::layout(caller, super::Nav::Devices, &title, body)
}

#[derive(Debug, serde::Deserialize)]
pub struct WipeForm {
    csrf: Option<String>,
    #[serde(default)]
    method: String,
    #[serde(default)]
    confirm: String,
}

pub async fn wipe(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Form(f): axum::Form<WipeForm>,
) -> Response {
    let l = caller.lang;
    let req = crate::http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| {
        Ok(corenas_proto::api::DeviceWipe {
            device: format!("/dev/{name}").parse()?,
            method: f.method.parse()?,
            confirm: f.confirm.trim().to_owned(),
            samples: 64,
        })
    });
    let r = match req {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, DeviceWipe { req, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(c) => super::ok_box(&format!(
            "{} {}",
            l.t("Wipe started as job", "Löschen gestartet als Auftrag"),
            c.result.map(|j| j.id).unwrap_or_default()
        )),
        Err(e) => error_box(l, &e),
    };
    render_detail(&app, &caller, &name, Some(notice)).await
}
