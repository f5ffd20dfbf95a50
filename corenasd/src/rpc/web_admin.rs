//! Managing web access: who may log in with which role, second-factor resets, API keys and the
//! first-run token. Called by the handlers in `dispatch.rs`, behind the usual role check;
//! changes are audited through `DaemonServer::change`.

use super::DaemonServer;
use crate::web::{sessions, store, totp};
use corenas_proto::api::Change;
use corenas_proto::names::{AccountKind, FullName, UserName};
use corenas_proto::web::{API_KEY_PREFIX, ApiKey, ApiKeyGrant, ApiKeyInfo, Role, SetupToken, WebAccount};
use corenas_proto::{ErrorCode, WireError};

pub async fn setup_token(server: &DaemonServer) -> Result<Option<SetupToken>, WireError> {
    if server.principal.channel != "ctl" {
        return Err(WireError::not_allowed("the setup token is shown only to root at the server's console"));
    }
    let needed = server.shared.with_state(|s| crate::web::setup_needed(s.conn()))?;
    Ok(server.shared.web.ensure_setup_token(needed))
}

pub async fn account_list(server: &DaemonServer) -> Result<Vec<WebAccount>, WireError> {
    let rows = server.shared.with_state(|s| store::accounts(s.conn()))?;
    let t = sessions::now();
    let web = server.shared.web.sessions();
    Ok(rows
        .iter()
        .map(|r| {
            let mut a = r.public();
            a.locked_until = web.user_locked_until(&r.user, t).map(sessions::rfc3339);
            a
        })
        .collect())
}

/// Only accounts of the admin range (10000-20000) may have a web role.
async fn require_admin_account(server: &DaemonServer, user: &UserName) -> Result<u32, WireError> {
    let acc = server.shared.helper.connect().await?.accounts().await?;
    match crate::accounts::plan::user_info(&acc, user.as_str()) {
        Some(u) if u.kind == Some(AccountKind::Admin) => Ok(u.uid),
        Some(u) => Err(WireError::invalid(
            "user",
            format!("'{user}' is a share user (uid {}): only accounts in the admin range 10000-20000 log in", u.uid),
        )),
        None => Err(crate::accounts::plan::unmanaged_user(&acc, user.as_str())),
    }
}

pub async fn role_set(
    server: &DaemonServer,
    user: UserName,
    role: Option<Role>,
    dry_run: bool,
) -> Result<Change<Option<WebAccount>>, WireError> {
    let args = serde_json::json!({ "user": user, "role": role });
    server
        .change(args, dry_run, async {
            if role == Some(Role::Metrics) {
                return Err(WireError::invalid(
                    "role",
                    "the metrics role is for API keys only (a Prometheus server's): use viewer, operator or admin",
                ));
            }
            let uid = match role {
                Some(_) => Some(require_admin_account(server, &user).await?),
                None => None,
            };
            let name = user.as_str();
            if dry_run {
                let mut a = server.shared.with_state(|s| store::account(s.conn(), name))?.map(|r| r.public());
                if let (Some(a), Some(r)) = (a.as_mut(), role) {
                    a.role = r;
                }
                return Ok(Change::planned(true, vec![], Some(a)));
            }
            match role {
                Some(r) => {
                    let uid = uid.ok_or_else(|| WireError::internal("a role without an account"))?;
                    // A row left by an earlier account of this name ends first (owned_by), so
                    // the new role comes with no old second factor or keys; then it is bound.
                    server.shared.with_state(|s| {
                        crate::web::owned_by(s.conn(), &server.shared.web, name, uid)?;
                        store::set_role(s.conn(), name, r)?;
                        store::bind_uid(s.conn(), name, uid)
                    })?;
                    server.shared.web.sessions().set_role(name, Some(r));
                }
                None => {
                    if !server.shared.with_state(|s| store::remove(s.conn(), name))? {
                        return Err(WireError::not_found(format!("'{user}' has no web access")));
                    }
                    server.shared.web.sessions().end_all_of(name);
                }
            }
            let a = server.shared.with_state(|s| store::account(s.conn(), name))?.map(|r| r.public());
            Ok(Change::planned(false, vec![], Some(a)))
        })
        .await
}

pub async fn totp_reset(server: &DaemonServer, user: UserName, dry_run: bool) -> Result<Change<()>, WireError> {
    let args = serde_json::json!({ "user": user });
    server
        .change(args, dry_run, async {
            let name = user.as_str();
            if server.shared.with_state(|s| store::account(s.conn(), name))?.is_none() {
                return Err(WireError::not_found(format!("'{user}' has no web access")));
            }
            if !dry_run {
                server.shared.with_state(|s| store::reset_totp(s.conn(), name))?;
                server.shared.web.sessions().end_all_of(name);
                server.shared.web.sessions().unlock(name);
            }
            Ok(Change::planned(dry_run, vec![], Some(())))
        })
        .await
}

pub async fn api_key_create(
    server: &DaemonServer,
    label: FullName,
    role: Role,
    days: u16,
    dry_run: bool,
) -> Result<Change<ApiKeyGrant>, WireError> {
    let args = serde_json::json!({ "label": label, "role": role, "days": days });
    server
        .change(args, dry_run, async {
            if !(1..=366).contains(&days) {
                return Err(WireError::invalid("days", "an API key is valid for 1 to 366 days"));
            }
            if role > server.principal.role {
                return Err(WireError::not_allowed(format!(
                    "{} may not make a key with more rights than its own ({})",
                    server.principal.name,
                    server.principal.role.as_str()
                )));
            }
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| WireError::internal(format!("no randomness: {e}")))?;
            let key = ApiKey::new(format!("{API_KEY_PREFIX}{}", hex::encode(raw)))?;
            let mut id = [0u8; 6];
            getrandom::fill(&mut id).map_err(|e| WireError::internal(format!("no randomness: {e}")))?;
            let id = hex::encode(id);
            let now = sessions::now();
            let expires = now + u64::from(days) * 86_400;
            let created = sessions::rfc3339(now);
            let info = ApiKeyInfo {
                id: id.clone(),
                owner: server.principal.name.clone(),
                role,
                label: label.to_string(),
                created: created.clone(),
                expires: sessions::rfc3339(expires),
                revoked: false,
            };
            if !dry_run {
                let hash = totp::hash(key.expose());
                let row = store::NewApiKey {
                    id: &id,
                    hash: &hash,
                    owner: &info.owner,
                    role,
                    label: &info.label,
                    created: &created,
                    expires,
                };
                server.shared.with_state(|s| store::insert_api_key(s.conn(), &row))?;
            }
            Ok(Change::planned(dry_run, vec![], Some(ApiKeyGrant { key, info })))
        })
        .await
}

pub async fn api_key_list(server: &DaemonServer) -> Result<Vec<ApiKeyInfo>, WireError> {
    server.shared.with_state(|s| store::api_keys(s.conn()))
}

pub async fn api_key_revoke(server: &DaemonServer, id: String, dry_run: bool) -> Result<Change<()>, WireError> {
    let args = serde_json::json!({ "id": id });
    server
        .change(args, dry_run, async {
            let keys = server.shared.with_state(|s| store::api_keys(s.conn()))?;
            if !keys.iter().any(|k| k.id == id && !k.revoked) {
                return Err(WireError::new(
                    ErrorCode::NotFound,
                    format!("no API key with id '{}' (or it is revoked already)", corenas_proto::names::shown(&id)),
                ));
            }
            if !dry_run {
                server.shared.with_state(|s| store::revoke_api_key(s.conn(), &id))?;
            }
            Ok(Change::planned(dry_run, vec![], Some(())))
        })
        .await
}
