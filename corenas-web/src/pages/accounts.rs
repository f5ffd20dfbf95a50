//! Accounts: users (administrators and share users), their groups and SMB state; creating a
//! share user, setting an SMB password, deleting a user. Policy (ranges, password rules) is
//! corenasd's: its messages are shown as they come.

use super::{csrf_input, error_box, layout, ok_box};
use crate::app::AppState;
use crate::http::{self, Caller};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use corenas_proto::WireError;
use corenas_proto::api::UserAdd;
use corenas_proto::helper::SmbAccountState;
use corenas_proto::names::{AccountKind, UserName};
use corenas_proto::secret::Password;
use corenas_proto::web::Role;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

async fn render(app: &AppState, caller: &Caller, notice: Option<Markup>) -> Response {
    let l = caller.lang;
    let users = crate::daemon!(app.gate, &caller.cred, UserList {});
    let groups = crate::daemon!(app.gate, &caller.cred, GroupList {});
    let admin = caller.is(Role::Admin);
    let web = crate::daemon!(app.gate, &caller.cred, WebAccountList {});
    let body = html! {
        @if let Some(n) = notice { (n) }
        section.card {
            h2 { (l.t("Users", "Benutzer")) }
            @match &users {
                Err(e) => (error_box(l, e)),
                Ok(list) => table #users {
                    thead { tr { th { (l.t("Name", "Name")) } th { (l.t("Kind", "Art")) } th.num { "UID" } th { (l.t("Groups", "Gruppen")) } th { "SMB" } @if admin { th { (l.t("Actions", "Aktionen")) } } } }
                    tbody { @for u in list { tr data-user=(u.name) {
                        td { strong { (u.name) } @if !u.full_name.is_empty() { br; span.hint { (u.full_name) } } @if u.locked { " " span.badge { (l.t("locked", "gesperrt")) } } }
                        td { @match u.kind { Some(AccountKind::Admin) => (l.t("administrator", "Administrator")), Some(AccountKind::ShareUser) => (l.t("share user", "Freigabe-Benutzer")), None => "-" } }
                        td.num { (u.uid) }
                        td { (u.groups.join(", ")) }
                        td.smb { @match u.smb { SmbAccountState::Enabled => (l.t("enabled", "aktiv")), SmbAccountState::Disabled => (l.t("disabled", "deaktiviert")), SmbAccountState::None => (l.t("none", "keins")), SmbAccountState::Unknown => (l.t("unknown", "unbekannt")) } }
                        @if admin { td {
                            details {
                                summary { (l.t("SMB password", "SMB-Passwort")) }
                                form method="post" action=(format!("/accounts/users/{}/smb-password", u.name)) {
                                    (csrf_input(caller))
                                    label for=(format!("smb-{}", u.name)) { (l.t("New SMB password (leave empty to generate one)", "Neues SMB-Passwort (leer lassen, um eines zu erzeugen)")) }
                                    input id=(format!("smb-{}", u.name)) name="password" type="password" autocomplete="new-password";
                                    (super::password_rules(l, &format!("smb-{}", u.name)))
                                    button type="submit" { (l.t("Set", "Setzen")) }
                                }
                            }
                            form.inline method="post" action=(format!("/accounts/users/{}/delete", u.name)) {
                                (csrf_input(caller))
                                label for=(format!("del-{}", u.name)) { (l.t("Type the name to delete", "Zum Löschen den Namen eingeben")) }
                                input id=(format!("del-{}", u.name)) name="confirm" type="text" autocomplete="off";
                                button.danger type="submit" { (l.t("Delete", "Löschen")) }
                            }
                        } }
                    } } }
                },
            }
        }
        @if admin {
            section.card #new-user {
                h2 { (l.t("New user", "Neuer Benutzer")) }
                form method="post" action="/accounts/users" {
                    (csrf_input(caller))
                    label for="name" { (l.t("User name", "Benutzername")) }
                    input #name name="name" type="text" required autocomplete="off";
                    p.hint { (l.t("1-32 of a-z, 0-9, '_' and '-', starting with a letter", "1-32 Zeichen aus a-z, 0-9, '_' und '-', beginnend mit einem Buchstaben")) }
                    label for="full_name" { (l.t("Full name (optional)", "Vollständiger Name (optional)")) }
                    input #full_name name="full_name" type="text";
                    fieldset {
                        legend { (l.t("Kind", "Art")) }
                        label.choice { input type="radio" name="kind" value="share" checked; " " (l.t("Share user (ids 50000-59999 or 65536-100000, no login shell)", "Freigabe-Benutzer (IDs 50000-59999 oder 65536-100000, keine Anmelde-Shell)")) }
                        label.choice { input type="radio" name="kind" value="admin"; " " (l.t("Administrator (ids 10000-20000)", "Administrator (IDs 10000-20000)")) }
                    }
                    label for="password" { (l.t("Password (leave empty to generate one)", "Passwort (leer lassen, um eines zu erzeugen)")) }
                    input #password name="password" type="password" autocomplete="new-password";
                    (super::password_rules(l, "password"))
                    button type="submit" { (l.t("Create user", "Benutzer anlegen")) }
                }
            }
        }
        section.card #web-access {
            h2 { (l.t("Web access", "Web-Zugang")) }
            p.hint { (l.t("Administrator accounts (ids 10000-20000) log in to this interface with a role: viewer (reads), operator (imaging and archive), administrator (everything).",
                          "Administratorkonten (IDs 10000-20000) melden sich mit einer Rolle an: Betrachter (liest), Operator (Abbilder und Archiv), Administrator (alles).")) }
            @match (&users, &web) {
                (Ok(list), Ok(web)) => table {
                    thead { tr { th { (l.t("Account", "Konto")) } th { (l.t("Role", "Rolle")) } th { (l.t("Second factor", "Zweiter Faktor")) } @if admin { th {} } } }
                    tbody { @for u in list.iter().filter(|u| u.kind == Some(AccountKind::Admin)) {
                        @let w = web.iter().find(|w| w.user == u.name);
                        tr data-web-user=(u.name) {
                            td { (u.name) }
                            td { @match w { Some(w) => (super::role_name(l, w.role)), None => span.hint { (l.t("no web access", "kein Web-Zugang")) } } }
                            td { @if let Some(w) = w { @if w.totp_enrolled { (l.t("enrolled", "eingerichtet")) " · " (w.recovery_codes_left) " " (l.t("recovery codes", "Wiederherstellungscodes")) } @else { (l.t("enrolls at next login", "wird bei der nächsten Anmeldung eingerichtet")) } @if let Some(t) = &w.locked_until { " " span.badge { (l.t("locked until", "gesperrt bis")) " " (l.datetime(t)) } } } }
                            @if admin { td {
                                form.inline method="post" action="/accounts/web-access" {
                                    (csrf_input(caller))
                                    input type="hidden" name="user" value=(u.name);
                                    label for=(format!("role-{}", u.name)) { (l.t("Role", "Rolle")) }
                                    select id=(format!("role-{}", u.name)) name="role" {
                                        option value="none" { (l.t("no web access", "kein Web-Zugang")) }
                                        @for r in Role::ALL.into_iter().filter(|r| *r != Role::Metrics) { option value=(r.as_str()) selected[w.is_some_and(|w| w.role == r)] { (super::role_name(l, r)) } }
                                    }
                                    button.secondary type="submit" { (l.t("Set", "Setzen")) }
                                }
                                @if w.is_some() {
                                    " "
                                    form.inline method="post" action="/accounts/web-access" {
                                        (csrf_input(caller))
                                        input type="hidden" name="user" value=(u.name);
                                        input type="hidden" name="role" value="totp-reset";
                                        button.secondary type="submit" { (l.t("Reset second factor", "Zweiten Faktor zurücksetzen")) }
                                    }
                                }
                            } }
                        }
                    } }
                },
                (Err(e), _) | (_, Err(e)) => (error_box(l, e)),
            }
        }
        section.card #groups {
            h2 { (l.t("Groups", "Gruppen")) }
            @match &groups {
                Err(e) => (error_box(l, e)),
                Ok(list) => table { thead { tr { th { (l.t("Name", "Name")) } th.num { "GID" } th { (l.t("Members", "Mitglieder")) } @if admin { th {} } } }
                    tbody { @for g in list { tr data-group=(g.name) {
                        td { (g.name) } td.num { (g.gid) } td { (g.members.join(", ")) }
                        @if admin { td {
                            form.inline method="post" action=(format!("/accounts/groups/{}/members", g.name)) {
                                (csrf_input(caller))
                                label for=(format!("member-{}", g.name)) { (l.t("User", "Benutzer")) }
                                input id=(format!("member-{}", g.name)) name="user" type="text" autocomplete="off" required;
                                button.secondary type="submit" name="op" value="add" { (l.t("Add", "Hinzufügen")) }
                                button.secondary type="submit" name="op" value="remove" { (l.t("Remove", "Entfernen")) }
                            }
                        } }
                    } } } },
            }
            @if admin {
                form method="post" action="/accounts/groups" {
                    (csrf_input(caller))
                    label for="group-name" { (l.t("New share group", "Neue Freigabe-Gruppe")) }
                    input #group-name name="name" type="text" required autocomplete="off";
                    button type="submit" { (l.t("Create group", "Gruppe anlegen")) }
                }
            }
            p { a href="/accounts/acl" { (l.t("Access control lists of share paths", "Zugriffslisten der Freigabe-Pfade")) } }
        }
    };
    layout(caller, super::Nav::Accounts, l.t("Accounts", "Konten"), body)
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    render(&app, &caller, None).await
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    password: String,
}

fn user_add(f: &UserForm) -> Result<UserAdd, WireError> {
    let kind = match f.kind.as_str() {
        "admin" => AccountKind::Admin,
        "share" | "" => AccountKind::ShareUser,
        _ => return Err(WireError::invalid("kind", "kind is invalid: use share or admin")),
    };
    let full_name = match f.full_name.trim() {
        "" => None,
        n => Some(n.parse()?),
    };
    let password: Option<Password> = if f.password.is_empty() { None } else { Some(f.password.parse()?) };
    Ok(UserAdd {
        name: f.name.trim().parse()?,
        kind,
        uid: None,
        full_name,
        shell: None,
        create_home: kind == AccountKind::Admin,
        groups: vec![],
        generate_password: password.is_none(),
        password,
    })
}

pub async fn user_create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<UserForm>) -> Response {
    let l = caller.lang;
    let r = match http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| user_add(&f)) {
        Ok(req) => crate::daemon!(app.gate, &caller.cred, UserAdd { req, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(change) => html! {
            (ok_box(&format!("{} {}", l.t("Created user", "Benutzer angelegt:"), f.name.trim())))
            @if let Some(p) = &change.generated_password {
                div.alert.ok #generated-password { (l.t("Generated password (shown once):", "Erzeugtes Passwort (einmalig angezeigt):")) " " code { (p.expose()) } }
            }
        },
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct SmbForm {
    csrf: Option<String>,
    #[serde(default)]
    password: String,
}

pub async fn smb_password(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<SmbForm>,
) -> Response {
    let l = caller.lang;
    // Left empty: a generated password, shown once (the admin passes it on).
    let generated = f.password.is_empty();
    let parsed = http::require_csrf(&caller, f.csrf.as_deref()).and_then(|()| {
        let password = if generated {
            Password::generate().map_err(corenas_proto::WireError::internal)?
        } else {
            f.password.parse::<Password>()?
        };
        Ok((name.parse::<UserName>()?, password))
    });
    let r = match parsed {
        Ok((name, password)) => crate::daemon!(
            app.gate,
            &caller.cred,
            UserSetSmbPassword { name, password: password.clone(), dry_run: false }
        )
        .map(|_| password),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(password) if generated => html! {
            div.alert.ok role="status" #generated-password {
                (l.t("SMB password set for", "SMB-Passwort gesetzt für")) " " (name) ". "
                (l.t("Generated password (shown once):", "Erzeugtes Passwort (einmalig angezeigt):")) " " code { (password.expose()) }
            }
        },
        Ok(_) => ok_box(&format!("{} {name}", l.t("SMB password set for", "SMB-Passwort gesetzt für"))),
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

pub async fn user_delete(
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
                l.t(
                    "type the user's name to confirm the deletion",
                    "geben Sie zur Bestätigung den Namen des Benutzers ein",
                ),
            ));
        }
        Ok(name.parse::<UserName>()?)
    });
    let r = match parsed {
        Ok(name) => crate::daemon!(app.gate, &caller.cred, UserDel { name, remove_home: false, dry_run: false }),
        Err(e) => Err(e),
    };
    let notice = match r {
        Ok(_) => ok_box(&format!("{} {name}", l.t("Deleted user", "Benutzer gelöscht:"))),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct WebAccessForm {
    csrf: Option<String>,
    #[serde(default)]
    user: String,
    /// viewer, operator, admin, none, or totp-reset.
    #[serde(default)]
    role: String,
}

pub async fn web_access(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<WebAccessForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let user: UserName = f.user.parse()?;
        match f.role.as_str() {
            "totp-reset" => crate::daemon!(app.gate, &caller.cred, WebTotpReset { user, dry_run: false }).map(drop),
            "none" => crate::daemon!(app.gate, &caller.cred, WebRoleSet { user, role: None, dry_run: false }).map(drop),
            r => {
                let role: Role = r.parse()?;
                crate::daemon!(app.gate, &caller.cred, WebRoleSet { user, role: Some(role), dry_run: false }).map(drop)
            }
        }
    };
    let notice = match run.await {
        Ok(()) => ok_box(&format!("{} {}", l.t("Web access changed for", "Web-Zugang geändert für"), f.user)),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub struct GroupForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    op: String,
}

pub async fn group_create(State(app): State<Arc<AppState>>, caller: Caller, Form(f): Form<GroupForm>) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let req =
            corenas_proto::api::GroupAdd { name: f.name.trim().parse()?, kind: AccountKind::ShareUser, gid: None };
        crate::daemon!(app.gate, &caller.cred, GroupAdd { req, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(&format!("{} {}", l.t("Created group", "Gruppe angelegt:"), f.name.trim())),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}

pub async fn group_members(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(group): Path<String>,
    Form(f): Form<GroupForm>,
) -> Response {
    let l = caller.lang;
    let run = async {
        http::require_csrf(&caller, f.csrf.as_deref())?;
        let name = group.parse()?;
        let user: UserName = f.user.trim().parse()?;
        let (add, remove) = if f.op == "remove" { (vec![], vec![user]) } else { (vec![user], vec![]) };
        crate::daemon!(app.gate, &caller.cred, GroupMod { name, add, remove, dry_run: false })
    };
    let notice = match run.await {
        Ok(_) => ok_box(&format!("{} {group}", l.t("Members changed:", "Mitglieder geändert:"))),
        Err(e) => error_box(l, &e),
    };
    render(&app, &caller, Some(notice)).await
}
