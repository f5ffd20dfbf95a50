//! `web ...`: which admin accounts may log in to the web UI with which role, second-factor
//! resets and API keys.
//!
//! Imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::report::{Report, change_report, nothing, to_json};
use clap::Subcommand;
use corenas_proto::web::{ApiKeyInfo, WebAccount};
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum WebCommand {
    /// Accounts that may log in to the web UI, their roles and second factors.
    List,
    /// Let an admin account (ids 10000-20000) log in with a role: viewer, operator, admin; or
    /// `none` to take web access away (its sessions end at once).
    Role {
        user: corenas_proto::names::UserName,
        #[arg(value_parser = ["viewer", "operator", "admin", "none"])]
        role: String,
    },
    /// Forget an account's authenticator and recovery codes (a lost phone); it enrolls again at
    /// its next login.
    TotpReset { user: corenas_proto::names::UserName },
    /// API keys for automation (`X-API-Key` header).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key; it is printed once and never again.
    Create {
        /// What the key is for (shown in lists and the audit log).
        #[arg(long)]
        label: corenas_proto::names::FullName,
        /// viewer, operator or admin (at most your own role).
        #[arg(long, default_value = "viewer")]
        role: corenas_proto::web::Role,
        /// Days until it expires (1-366).
        #[arg(long, default_value_t = 90)]
        days: u16,
    },
    /// The API keys: label, role, expiry and last use (never the key itself).
    List,
    /// Revoke a key by its id (from `list`); calls made with it are refused at once.
    Revoke { id: String },
}

pub(crate) fn accounts_table(accounts: &[WebAccount]) -> String {
    let mut out = format!("{:<24} {:<9} {:<6} {:<9} {}\n", "USER", "ROLE", "TOTP", "RECOVERY", "LOCKED UNTIL");
    for a in accounts {
        out.push_str(&format!(
            "{:<24} {:<9} {:<6} {:<9} {}\n",
            a.user,
            a.role.as_str(),
            if a.totp_enrolled { "yes" } else { "no" },
            a.recovery_codes_left,
            a.locked_until.as_deref().unwrap_or("-")
        ));
    }
    out
}

pub(crate) fn keys_table(keys: &[ApiKeyInfo]) -> String {
    let mut out =
        format!("{:<13} {:<20} {:<9} {:<21} {:<8} {}\n", "ID", "OWNER", "ROLE", "EXPIRES", "REVOKED", "LABEL");
    for k in keys {
        out.push_str(&format!(
            "{:<13} {:<20} {:<9} {:<21} {:<8} {}\n",
            k.id,
            k.owner,
            k.role.as_str(),
            k.expires,
            if k.revoked { "yes" } else { "no" },
            k.label
        ));
    }
    out
}

pub async fn web(cmd: WebCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        WebCommand::List => {
            let accounts = call!(d, web_account_list())?;
            Ok(Report::ok(accounts_table(&accounts), to_json(&accounts)?))
        }
        WebCommand::Role { user, role } => {
            let role = (role != "none").then(|| role.parse()).transpose().map_err(CtlError::from)?;
            let change = call!(d, web_role_set(user, role, dry_run))?;
            change_report(&change, |a| match a {
                Some(a) => accounts_table(std::slice::from_ref(a)),
                None => "web access removed\n".into(),
            })
        }
        WebCommand::TotpReset { user } => {
            let change = call!(d, web_totp_reset(user, dry_run))?;
            change_report(&change, nothing)
        }
        WebCommand::ApiKey(ApiKeyCommand::Create { label, role, days }) => {
            let change = call!(d, api_key_create(label, role, days, dry_run))?;
            let Some(grant) = change.result.as_ref().filter(|_| !change.dry_run) else {
                return change_report(&change, |g| keys_table(std::slice::from_ref(&g.info)));
            };
            // The key is redacted in every JSON rendering of its type; this is the one place
            // it is shown, once.
            let human = format!(
                "{}\n{}(store the key now: CoreNAS keeps only its hash and cannot show it again)\n",
                grant.key.expose(),
                keys_table(std::slice::from_ref(&grant.info))
            );
            let json = serde_json::json!({ "key": grant.key.expose(), "info": grant.info });
            Ok(Report::ok(human, json.to_string()))
        }
        WebCommand::ApiKey(ApiKeyCommand::List) => {
            let keys = call!(d, api_key_list())?;
            Ok(Report::ok(keys_table(&keys), to_json(&keys)?))
        }
        WebCommand::ApiKey(ApiKeyCommand::Revoke { id }) => {
            let change = call!(d, api_key_revoke(id, dry_run))?;
            change_report(&change, nothing)
        }
    }
}
