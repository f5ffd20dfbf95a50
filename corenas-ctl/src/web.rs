//! Web access from the console: the first-run setup token, which admin accounts may log in with
//! which role, second-factor resets and API keys.

use crate::cli::{ApiKeyCommand, WebCommand};
use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::output::{self, Report};
use corenas_proto::web::{ApiKeyInfo, WebAccount};
use std::path::Path;

pub async fn setup_token(socket: &Path) -> Result<Report, CtlError> {
    let token = call!(socket => setup_token())?;
    let (human, json) = match &token {
        Some(t) => (
            format!(
                "{}\n(enter it on the web UI's setup page; it stops working once the first administrator has enrolled a second factor)\n",
                t.expose()
            ),
            serde_json::json!({ "setup_needed": true, "token": t.expose() }),
        ),
        None => (
            "setup is done: an administrator with a second factor exists, so there is no setup token\n".to_owned(),
            serde_json::json!({ "setup_needed": false, "token": null }),
        ),
    };
    Ok(Report::ok(human, json.to_string()))
}

fn accounts_table(accounts: &[WebAccount]) -> String {
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

fn keys_table(keys: &[ApiKeyInfo]) -> String {
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
            Ok(Report::ok(accounts_table(&accounts), output::to_json(&accounts)?))
        }
        WebCommand::Role { user, role } => {
            let role = (role != "none").then(|| role.parse()).transpose().map_err(CtlError::from)?;
            let change = call!(d, web_role_set(user, role, dry_run))?;
            output::change_report(&change, |a| match a {
                Some(a) => accounts_table(std::slice::from_ref(a)),
                None => "web access removed\n".into(),
            })
        }
        WebCommand::TotpReset { user } => {
            let change = call!(d, web_totp_reset(user, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        WebCommand::ApiKey(ApiKeyCommand::Create { label, role, days }) => {
            let change = call!(d, api_key_create(label, role, days, dry_run))?;
            let Some(grant) = change.result.as_ref().filter(|_| !change.dry_run) else {
                return output::change_report(&change, |g| keys_table(std::slice::from_ref(&g.info)));
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
            Ok(Report::ok(keys_table(&keys), output::to_json(&keys)?))
        }
        WebCommand::ApiKey(ApiKeyCommand::Revoke { id }) => {
            let change = call!(d, api_key_revoke(id, dry_run))?;
            output::change_report(&change, output::nothing)
        }
    }
}
