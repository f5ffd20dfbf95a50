//! Storage: pools with health, capacity and members; datasets and snapshots (create, rollback);
//! scrub; and the wizard, a multi-step form (backend and devices, then layout and name, then the
//! dry-run plan) whose last step shows exactly what would run before anything does.

use super::{csrf_input, error_box, layout, ok_box};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::names::DevicePath;
use corenas_proto::storage::{BtrfsProfile, Compression, DiskFs, PoolLayout, PoolSpec, ZfsLayout, ZfsProperty};
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub fn plan_list<T>(l: crate::i18n::Lang, change: &Change<T>) -> Markup {
    html! {
        h3 { (if change.dry_run { l.t("What would run", "Was ausgeführt würde") } else { l.t("What ran", "Was ausgeführt wurde") }) }
        ol.plan { @for s in &change.steps { li { code { (s.to_string()) } } } }
        @for w in &change.warnings { div.alert.error { (w) } }
    }
}

async fn render(app: &AppState, caller: &Caller, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let pools = crate::daemon!(app.gate, &caller.cred, PoolList {});
    let jobs = crate::daemon!(app.gate, &caller.cred, StorageJobList {});
    let schedules = crate::daemon!(app.gate, &caller.cred, ScheduleList {}).unwrap_or_default();
    let admin = caller.is(Role::Admin);
    let mut datasets = HashMap::new();
    if let Ok(list) = &pools {
        for p in list {
            if let Ok(name) = p.name.parse() {
                let ds = crate::daemon!(app.gate, &caller.cred, DatasetList { pool: name });
                let mut with_snaps = Vec::new();
                for d in ds.unwrap_or_default() {
                    let snaps = match d.name.parse() {
                        Ok(n) => {
                            crate::daemon!(app.gate, &caller.cred, SnapshotList { dataset: n }).unwrap_or_default()
                        }
                        Err(_) => vec![],
                    };
                    with_snaps.push((d, snaps));
                }
                datasets.insert(p.name.clone(), with_snaps);
            }
        }
    }
    let body = html! {
        @if let Some(n) = notice { (n) }
        @if admin {
            p { a.button href="/storage/new" { (l.t("New pool (wizard)", "Neuer Pool (Assistent)")) } }
            details {
                summary { (l.t("Import an exported pool", "Einen exportierten Pool importieren")) }
                form method="post" action="/storage/action" {
                    (csrf_input(caller))
                    input type="hidden" name="action" value="import";
                    label for="import-pool" { (l.t("Pool name", "Poolname")) }
                    input #import-pool name="pool" type="text" required;
                    button type="submit" { (l.t("Import", "Importieren")) }
                }
            }
        }
        @match &pools {
            Err(e) => (error_box(l, e)),
            Ok(list) if list.is_empty() => section.card { p.empty { (l.t("No storage pool yet.", "Noch kein Speicherpool.")) } },
            Ok(list) => @for p in list {
                section.card.pool data-pool=(p.name) {
                    h2 { (p.name) " " span.badge.health data-health=(p.health) { (l.term(&p.health)) } " " span.hint { (p.backend.as_str()) } }
                    @if let (Some(size), Some(used)) = (p.size_bytes, p.used_bytes) {
                        @let pct = if size > 0 { used as f64 * 100.0 / size as f64 } else { 0.0 };
                        div.capacity { meter min="0" max="100" value=(format!("{pct:.1}")) {} " " (l.size(used)) " / " (l.size(size)) " (" (l.percent(pct)) ")" }
                    }
                    dl.facts {
                        dt { (l.t("Mounted at", "Eingehängt unter")) } dd { (p.mountpoint) @if !p.mounted { " " span.badge { (l.t("not mounted", "nicht eingehängt")) } } }
                        dt { (l.t("Members", "Mitglieder")) } dd { @for m in &p.members { (m.device) " (" (m.state) ") " } }
                        @if let Some(s) = &p.scrub {
                            dt { (l.t("Scrub", "Prüflauf")) } dd { @if s.running { (l.t("running", "läuft")) @if let Some(pc) = s.percent { " " (l.percent(pc)) } } @else { (s.summary.as_deref().unwrap_or("-")) } }
                        }
                        @for n in &p.notes { dt { } dd.hint { (n) } }
                    }
                    @if admin {
                        form.inline method="post" action="/storage/scrub" {
                            (csrf_input(caller)) input type="hidden" name="pool" value=(p.name);
                            button.secondary type="submit" { (l.t("Start scrub", "Prüflauf starten")) }
                        }
                        @if p.scrub.as_ref().is_some_and(|s| s.running) { " " (action_button(caller, "scrub-stop", &[("pool", &p.name)], l.t("Stop scrub", "Prüflauf anhalten"), "secondary")) }
                        " " (action_button(caller, "export", &[("pool", &p.name)], l.t("Export (detach)", "Exportieren (trennen)"), "secondary"))
                        (typed_destroy(caller, "pool-destroy", ("pool", &p.name), l.t("Destroy pool", "Pool zerstören"),
                            l.t("Type the pool's name to destroy it and all its data", "Geben Sie den Namen des Pools ein, um ihn mit allen Daten zu zerstören")))
                        details {
                            summary { (l.t("New dataset", "Neues Dataset")) }
                            form method="post" action="/storage/action" {
                                (csrf_input(caller))
                                input type="hidden" name="action" value="dataset-create";
                                input type="hidden" name="pool" value=(p.name);
                                label for=(format!("ds-{}", p.name)) { (l.t("Name (pool/name)", "Name (Pool/Name)")) }
                                input id=(format!("ds-{}", p.name)) name="dataset" type="text" value=(format!("{}/", p.name)) required;
                                label for=(format!("props-{}", p.name)) { (l.t("Properties (optional, e.g. compression=lz4, quota=10G)", "Eigenschaften (optional, z. B. compression=lz4, quota=10G)")) }
                                input id=(format!("props-{}", p.name)) name="properties" type="text";
                                button type="submit" { (l.t("Create dataset", "Dataset anlegen")) }
                            }
                        }
                    }
                    @if let Some(ds) = datasets.get(&p.name) {
                        h3 { (l.t("Datasets and snapshots", "Datasets und Snapshots")) }
                        table {
                            thead { tr { th { (l.t("Dataset", "Dataset")) } th.num { (l.t("Used", "Belegt")) } th { (l.t("Snapshots", "Snapshots")) } } }
                            tbody { @for (d, snaps) in ds { tr {
                                td { (d.name) br; span.hint { (d.mountpoint) }
                                    @if admin && d.name.contains('/') {
                                        (typed_destroy(caller, "dataset-destroy", ("dataset", &d.name), l.t("Destroy", "Zerstören"),
                                            l.t("Type the dataset's name (its snapshots go too)", "Geben Sie den Namen des Datasets ein (seine Snapshots werden mitgelöscht)")))
                                    }
                                }
                                td.num { @if let Some(u) = d.used_bytes { (l.size(u)) } }
                                td {
                                    ul.plain { @for s in snaps { li {
                                        code { (s.name) }
                                        @if admin {
                                            " "
                                            form.inline method="post" action="/storage/rollback" {
                                                (csrf_input(caller))
                                                input type="hidden" name="dataset" value=(d.name);
                                                input type="hidden" name="snapshot" value=(s.name);
                                                label { input type="checkbox" name="confirm" value="1" required; " " (l.t("later snapshots are destroyed", "spätere Snapshots werden gelöscht")) }
                                                button.danger type="submit" { (l.t("Roll back", "Zurücksetzen")) }
                                            }
                                            " " (action_button(caller, "snapshot-destroy", &[("dataset", &d.name), ("snapshot", &s.name)], l.t("Delete", "Löschen"), "secondary"))
                                        }
                                    } } }
                                    @if admin {
                                        form.inline method="post" action="/storage/snapshot" {
                                            (csrf_input(caller)) input type="hidden" name="dataset" value=(d.name);
                                            button.secondary type="submit" { (l.t("Take snapshot", "Snapshot anlegen")) }
                                        }
                                        @let keep = schedules.iter().find(|s| s.dataset == d.name).map(|s| s.keep).unwrap_or_default();
                                        details {
                                            summary { (l.t("Schedule", "Zeitplan")) @if !keep.is_empty() { ": " (keep.hourly) "h " (keep.daily) "d " (keep.weekly) "w " (keep.monthly) "m" } }
                                            form method="post" action="/storage/schedule" {
                                                (csrf_input(caller)) input type="hidden" name="dataset" value=(d.name);
                                                p.hint { (l.t("How many snapshots to keep per period (0: none; all 0 removes the schedule)", "Wie viele Snapshots je Zeitraum behalten werden (0: keine; alle 0 entfernt den Zeitplan)")) }
                                                @for (field, label, v) in [("hourly", l.t("hourly", "stündlich"), keep.hourly), ("daily", l.t("daily", "täglich"), keep.daily), ("weekly", l.t("weekly", "wöchentlich"), keep.weekly), ("monthly", l.t("monthly", "monatlich"), keep.monthly)] {
                                                    label for=(format!("{field}-{}", d.name)) { (label) }
                                                    input id=(format!("{field}-{}", d.name)) name=(field) type="number" min="0" max="1000" value=(v);
                                                }
                                                button type="submit" { (l.t("Save schedule", "Zeitplan speichern")) }
                                            }
                                        }
                                    }
                                }
                            } } }
                        }
                    }
                }
            },
        }
        section.card {
            h2 { (l.t("Storage jobs", "Speicher-Aufträge")) }
            @match &jobs {
                Err(e) => (error_box(l, e)),
                Ok(list) if list.is_empty() => p.empty { (l.t("No scrub, wipe or self-test has run.", "Noch kein Prüflauf, Löschen oder Selbsttest.")) },
                Ok(list) => table { thead { tr { th { (l.t("Kind", "Art")) } th { (l.t("Target", "Ziel")) } th { (l.t("State", "Status")) } th { (l.t("Progress", "Fortschritt")) } th { (l.t("Message", "Meldung")) } } }
                    tbody { @for j in list { tr { td { (l.term(&j.kind)) } td { (j.target) } td { (l.term(&j.state)) } td { @if let Some(p) = j.percent { (l.percent(p)) } } td { (j.message.as_deref().unwrap_or("")) } } } } },
            }
        }
    };
    layout(caller, super::Nav::Storage, l.t("Storage", "Speicher"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None).await
}

/// A destroying action behind a disclosure, which runs only when the thing's name is typed.
fn typed_destroy(caller: &Caller, action: &str, (field, name): (&str, &str), summary: &str, prompt: &str) -> Markup {
    let l = caller.lang;
    let id = format!("{action}-{name}");
    html! {
        details.danger-zone {
            summary { (summary) }
            form method="post" action="/storage/action" {
                (csrf_input(caller))
                input type="hidden" name="action" value=(action);
                input type="hidden" name=(field) value=(name);
                label for=(id) { (prompt) }
                input id=(id) name="confirm" type="text" autocomplete="off" required;
                button.danger type="submit" { (l.t("Destroy", "Zerstören")) }
            }
        }
    }
}

/// A one-button form for a storage action (the fields it needs as hidden inputs).
fn action_button(caller: &Caller, action: &str, fields: &[(&str, &str)], label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action="/storage/action" {
            (csrf_input(caller))
            input type="hidden" name="action" value=(action);
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button class=(class) type="submit" { (label) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    pool: String,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    snapshot: String,
    /// The typed confirmation (the pool's or dataset's name) for what destroys data.
    #[serde(default)]
    confirm: String,
    /// `key=value, key=value` for a new dataset.
    #[serde(default)]
    properties: String,
}

/// The pool and dataset actions of the storage page: stop a scrub, export and import, destroy
/// (typed confirmation), datasets and snapshots. corenasd checks everything again.
pub async fn action(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<ActionForm>) -> Response {
    let l = caller.lang;
    let typed = |name: &str| {
        if f.confirm.trim() == name {
            Ok(())
        } else {
            Err(WireError::invalid(
                "confirm",
                l.t("type the exact name to confirm", "geben Sie zur Bestätigung genau den Namen ein"),
            ))
        }
    };
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let cred = &caller.cred;
        let done = match f.action.as_str() {
            "scrub-stop" => {
                crate::daemon!(app.gate, cred, PoolScrubStop { name: f.pool.parse()?, dry_run: false })?;
                format!("{} {}", l.t("Scrub stopped on", "Prüflauf angehalten auf"), f.pool)
            }
            "export" => {
                crate::daemon!(app.gate, cred, PoolExport { name: f.pool.parse()?, dry_run: false })?;
                format!("{} {}", l.t("Pool exported:", "Pool exportiert:"), f.pool)
            }
            "import" => {
                crate::daemon!(app.gate, cred, PoolImport { name: f.pool.trim().parse()?, dry_run: false })?;
                format!("{} {}", l.t("Pool imported:", "Pool importiert:"), f.pool.trim())
            }
            "pool-destroy" => {
                typed(&f.pool)?;
                let name = f.pool.parse()?;
                crate::daemon!(
                    app.gate,
                    cred,
                    PoolDestroy { name, confirm: f.confirm.trim().to_owned(), dry_run: false }
                )?;
                format!("{} {}", l.t("Pool destroyed:", "Pool zerstört:"), f.pool)
            }
            "dataset-create" => {
                let properties =
                    f.properties.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::parse).collect::<Result<
                        Vec<_>,
                        _,
                    >>(
                    )?;
                let spec = corenas_proto::storage::DatasetSpec { name: f.dataset.trim().parse()?, properties };
                crate::daemon!(app.gate, cred, DatasetCreate { spec, dry_run: false })?;
                format!("{} {}", l.t("Dataset created:", "Dataset angelegt:"), f.dataset.trim())
            }
            "dataset-destroy" => {
                typed(&f.dataset)?;
                crate::daemon!(
                    app.gate,
                    cred,
                    DatasetDestroy { name: f.dataset.parse()?, recursive: true, dry_run: false }
                )?;
                format!("{} {}", l.t("Dataset destroyed:", "Dataset zerstört:"), f.dataset)
            }
            "snapshot-destroy" => {
                let (dataset, name) = (f.dataset.parse()?, f.snapshot.parse()?);
                crate::daemon!(app.gate, cred, SnapshotDestroy { dataset, name, dry_run: false })?;
                format!("{} {}@{}", l.t("Snapshot deleted:", "Snapshot gelöscht:"), f.dataset, f.snapshot)
            }
            _ => {
                return Err(WireError::invalid(
                    "action",
                    "action is invalid: use scrub-stop, export, import, pool-destroy, dataset-create, dataset-destroy or snapshot-destroy",
                ));
            }
        };
        Ok::<_, WireError>(done)
    };
    let notice = match run.await {
        Ok(message) => ok_box(&message),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct PoolForm {
    csrf: Option<String>,
    #[serde(default)]
    pool: String,
}

pub async fn scrub(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<PoolForm>) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| Ok(f.pool.parse()?)) {
        Ok(name) => crate::daemon!(app.gate, &caller.cred, PoolScrub { name, dry_run: false }).map(drop),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(()) => ok_box(&format!("{} {}", l.t("Scrub started on", "Prüflauf gestartet auf"), f.pool)),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct SnapshotForm {
    csrf: Option<String>,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    snapshot: String,
    confirm: Option<String>,
}

pub async fn snapshot(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<SnapshotForm>) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| Ok(f.dataset.parse()?)) {
        Ok(dataset) => crate::daemon!(app.gate, &caller.cred, SnapshotCreate { dataset, name: None, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(c) => ok_box(&format!(
            "{} {}",
            l.t("Snapshot taken:", "Snapshot angelegt:"),
            c.result.map(|s| format!("{}@{}", s.dataset, s.name)).unwrap_or_default()
        )),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

pub async fn rollback(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<SnapshotForm>) -> Response {
    let l = caller.lang;
    let parsed = http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| {
        if f.confirm.is_none() {
            return Err(WireError::invalid(
                "confirm",
                l.t(
                    "confirm that later snapshots are destroyed",
                    "bestätigen Sie, dass spätere Snapshots gelöscht werden",
                ),
            ));
        }
        Ok((f.dataset.parse()?, f.snapshot.parse()?))
    });
    let r = match parsed {
        Ok((dataset, name)) => {
            crate::daemon!(app.gate, &caller.cred, SnapshotRollback { dataset, name, dry_run: false })
        }
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(_) => ok_box(&format!("{} {}@{}", l.t("Rolled back to", "Zurückgesetzt auf"), f.dataset, f.snapshot)),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    csrf: Option<String>,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    hourly: String,
    #[serde(default)]
    daily: String,
    #[serde(default)]
    weekly: String,
    #[serde(default)]
    monthly: String,
}

pub async fn schedule(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<ScheduleForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let n = |field: &'static str, v: &str| -> Result<u16, WireError> {
            match v.trim() {
                "" => Ok(0),
                v => v
                    .parse::<u16>()
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or_else(|| WireError::invalid(field, format!("{field} is invalid: use 0-1000"))),
            }
        };
        let keep = corenas_proto::storage::Retention {
            hourly: n("hourly", &f.hourly)?,
            daily: n("daily", &f.daily)?,
            weekly: n("weekly", &f.weekly)?,
            monthly: n("monthly", &f.monthly)?,
        };
        crate::daemon!(app.gate, &caller.cred, ScheduleSet { dataset: f.dataset.parse()?, keep, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(&format!("{} {}", l.t("Schedule saved for", "Zeitplan gespeichert für"), f.dataset)),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

/// The wizard's answers so far; every step posts all of them (hidden fields), so the form works
/// without script and without server-side state.
#[derive(Debug, Default, Deserialize)]
pub struct WizardForm {
    csrf: Option<String>,
    #[serde(default)]
    step: u8,
    #[serde(default)]
    backend: String,
    /// Device paths, comma-separated (checkboxes arrive as one field each; see `devices`).
    #[serde(default)]
    devices: String,
    #[serde(default)]
    layout: String,
    #[serde(default)]
    compression: String,
    #[serde(default)]
    name: String,
    /// "plan" shows the dry run; "apply" creates.
    #[serde(default)]
    go: String,
}

fn hidden(f: &WizardForm) -> Markup {
    html! {
        input type="hidden" name="backend" value=(f.backend);
        input type="hidden" name="devices" value=(f.devices);
        input type="hidden" name="layout" value=(f.layout);
        input type="hidden" name="compression" value=(f.compression);
        input type="hidden" name="name" value=(f.name);
    }
}

fn spec(f: &WizardForm) -> Result<PoolSpec, WireError> {
    let devices: Vec<DevicePath> =
        f.devices.split(',').filter(|d| !d.is_empty()).map(|d| d.parse()).collect::<Result<_, _>>()?;
    let compression = match f.compression.as_str() {
        "" | "off" => None,
        c => Some(c.parse::<Compression>()?),
    };
    let layout = match f.backend.as_str() {
        "zfs" => PoolLayout::Zfs {
            layout: f.layout.parse::<ZfsLayout>()?,
            ashift: None,
            properties: compression.map(ZfsProperty::Compression).into_iter().collect(),
        },
        "btrfs" => {
            let p: BtrfsProfile = f.layout.parse()?;
            PoolLayout::Btrfs { data: p, metadata: p, compression }
        }
        "single" => PoolLayout::Single { fs: f.layout.parse::<DiskFs>()? },
        _ => return Err(WireError::invalid("backend", "backend is invalid: use zfs, btrfs or single")),
    };
    let spec = PoolSpec { name: f.name.trim().parse()?, layout, devices, force: false };
    spec.validate()?;
    Ok(spec)
}

pub async fn wizard_start(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    wizard_page(&app, &caller, &WizardForm { step: 1, ..WizardForm::default() }, None).await
}

pub async fn wizard_submit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::RawForm(raw): axum::extract::RawForm,
) -> Response {
    // Checkboxes repeat `device=`; gather them into the comma list the later steps carry.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&raw).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let picked: Vec<String> = pairs.iter().filter(|(k, _)| k == "device").map(|(_, v)| v.clone()).collect();
    let mut f = WizardForm {
        csrf: Some(get("csrf")),
        step: get("step").parse().unwrap_or(1),
        backend: get("backend"),
        devices: if picked.is_empty() { get("devices") } else { picked.join(",") },
        layout: get("layout"),
        compression: get("compression"),
        name: get("name"),
        go: get("go"),
    };
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return super::error_page(caller.lang, &e);
    }
    let notice = match f.step {
        // Step 1 answered: backend and devices.
        1 if f.backend.is_empty() || f.devices.is_empty() => Some(WireError::invalid(
            "devices",
            caller.lang.t(
                "choose a kind of pool and at least one device",
                "wählen Sie eine Pool-Art und mindestens ein Gerät",
            ),
        )),
        1 => {
            f.step = 2;
            None
        }
        // Step 2 answered: layout, compression, name: show the plan (a dry run).
        2 | 3 => match spec(&f) {
            Err(e) => Some(e),
            Ok(spec) => {
                let apply = f.step == 3 && f.go == "apply";
                let r = crate::daemon!(app.gate, &caller.cred, PoolCreate { spec, dry_run: !apply });
                return match r {
                    Ok(change) if apply => {
                        render(&app, &caller, Some(html! { (ok_box(&format!("{} {}", caller.lang.t("Pool created:", "Pool angelegt:"), f.name))) (plan_list(caller.lang, &change)) })).await
                    }
                    Ok(change) => {
                        f.step = 3;
                        plan_page(&caller, &f, &change)
                    }
                    Err(e) => wizard_page(&app, &caller, &WizardForm { step: 2, ..f }, Some(e)).await,
                };
            }
        },
        _ => None,
    };
    wizard_page(&app, &caller, &f, notice).await
}

fn plan_page<T>(caller: &Caller, f: &WizardForm, change: &Change<T>) -> Response {
    let l = caller.lang;
    let body = html! {
        section.card #wizard {
            p.steps { (l.t("Step 3 of 3: the plan", "Schritt 3 von 3: der Plan")) }
            dl.facts {
                dt { (l.t("Name", "Name")) } dd { (f.name) }
                dt { (l.t("Kind", "Art")) } dd { (f.backend) " · " (f.layout) @if !f.compression.is_empty() { " · " (f.compression) } }
                dt { (l.t("Devices", "Geräte")) } dd { (f.devices.replace(',', ", ")) }
            }
            div.alert.error { (l.t("Everything on these devices will be lost.", "Alles auf diesen Geräten geht verloren.")) }
            (plan_list(l, change))
            form method="post" action="/storage/wizard" {
                (csrf_input(caller)) (hidden(f))
                input type="hidden" name="step" value="3";
                button.danger type="submit" name="go" value="apply" { (l.t("Create the pool", "Pool anlegen")) }
            }
            p { a href="/storage/new" { (l.t("Start again", "Neu beginnen")) } }
        }
    };
    layout(caller, super::Nav::Storage, l.t("New pool", "Neuer Pool"), body)
}

async fn wizard_page(app: &AppState, caller: &Caller, f: &WizardForm, error: Option<WireError>) -> Response {
    let l = caller.lang;
    let inventory = crate::daemon!(app.gate, &caller.cred, DeviceInventory {});
    let layouts: Vec<&str> = match f.backend.as_str() {
        "zfs" => ZfsLayout::ALL.iter().map(|x| x.as_str()).collect(),
        "btrfs" => BtrfsProfile::ALL.iter().map(|x| x.as_str()).collect(),
        _ => DiskFs::ALL.iter().map(|x| x.as_str()).collect(),
    };
    let body = html! {
        @if let Some(e) = &error { (error_box(l, e)) }
        section.card #wizard {
            @if f.step <= 1 {
                p.steps { (l.t("Step 1 of 3: kind and devices", "Schritt 1 von 3: Art und Geräte")) }
                form method="post" action="/storage/wizard" {
                    (csrf_input(caller)) input type="hidden" name="step" value="1";
                    fieldset {
                        legend { (l.t("Kind of pool", "Art des Pools")) }
                        label.choice { input type="radio" name="backend" value="zfs" checked[f.backend == "zfs"]; " ZFS" }
                        label.choice { input type="radio" name="backend" value="btrfs" checked[f.backend == "btrfs"]; " btrfs" }
                        label.choice { input type="radio" name="backend" value="single" checked[f.backend == "single" || f.backend.is_empty()]; " " (l.t("One disk (ext4 or xfs)", "Eine Platte (ext4 oder xfs)")) }
                    }
                    fieldset {
                        legend { (l.t("Devices (free ones only)", "Geräte (nur freie)")) }
                        @match &inventory {
                            Err(e) => (error_box(l, e)),
                            Ok(list) => @for d in list.iter().filter(|d| !d.in_use() && !d.read_only && d.kind != corenas_proto::devices::DeviceKind::Partition) {
                                label.choice { input type="checkbox" name="device" value=(d.path) checked[f.devices.split(',').any(|x| x == d.path)];
                                    " " (d.path) " · " (l.size(d.size_bytes)) @if let Some(m) = &d.model { " · " (m) } }
                            },
                        }
                    }
                    button type="submit" { (l.t("Next", "Weiter")) }
                }
            } @else {
                p.steps { (l.t("Step 2 of 3: layout and name", "Schritt 2 von 3: Aufbau und Name")) }
                form method="post" action="/storage/wizard" {
                    (csrf_input(caller)) input type="hidden" name="step" value="2";
                    input type="hidden" name="backend" value=(f.backend);
                    input type="hidden" name="devices" value=(f.devices);
                    p { (l.t("Devices:", "Geräte:")) " " (f.devices.replace(',', ", ")) }
                    label for="layout" { @if f.backend == "single" { (l.t("Filesystem", "Dateisystem")) } @else { (l.t("Layout", "Aufbau")) } }
                    select #layout name="layout" { @for x in &layouts { option value=(x) selected[f.layout == *x] { (x) } } }
                    @if f.backend != "single" {
                        label for="compression" { (l.t("Compression", "Kompression")) }
                        select #compression name="compression" {
                            @for c in ["off", "lz4", "zstd"] { option value=(c) selected[f.compression == c] { (c) } }
                        }
                    }
                    label for="pool-name" { (l.t("Pool name", "Poolname")) }
                    input #pool-name name="name" type="text" value=(f.name) required autocomplete="off";
                    button type="submit" { (l.t("Show the plan", "Plan anzeigen")) }
                }
            }
        }
    };
    layout(caller, super::Nav::Storage, l.t("New pool", "Neuer Pool"), body)
}
