//! Block-device inventory: what each device is and what uses it.

use super::{error_box, layout};
use crate::AppState;
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
                        td { strong { (d.path) } @if let Some(label) = &d.fs_label { br; span.hint { (label) } } }
                        td { (d.model.as_deref().unwrap_or("-")) }
                        td { (d.serial.as_deref().unwrap_or("-")) }
                        td.num { (l.size(d.size_bytes)) }
                        td { (d.transport.as_deref().unwrap_or("-")) }
                        td { @let uses = d.all_uses(); @if uses.is_empty() { span.hint { (l.t("free", "frei")) } } @else { (uses.join("; ")) } }
                    } } }
                },
            }
            p.hint { (l.t("Wipe, SMART details and self-tests: corenas-ctl device (the web pages for them follow).",
                          "Löschen, SMART-Details und Selbsttests: corenas-ctl device (die Webseiten dafür folgen).")) }
        }
    };
    layout(&caller, super::Nav::Devices, l.t("Devices", "Geräte"), body)
}
