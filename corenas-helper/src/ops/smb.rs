//! SMB passwords in samba's passdb, through `smbpasswd` (secret on stdin, twice) against the
//! prefixed smb.conf. Only managed users; the unix account must exist first.

use super::accounts::Accounts;
use super::{Action, Ctx};
use crate::exec::{self, Invocation, Program};
use corenas_proto::WireError;
use corenas_proto::helper::{HelperOp, SmbAccountState};
use std::collections::HashMap;

fn smbpasswd(ctx: &Ctx) -> Invocation {
    Invocation::of(Program::SmbPasswd)
        .args(["-c".to_owned(), ctx.paths.smb_conf().display().to_string()])
        .env(ctx.paths.nss_env())
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    let acc = Accounts::load(ctx)?;
    let (flag, name, secret) = match op {
        HelperOp::SmbSetPassword { name, password } => ("-a", name, Some(password)),
        HelperOp::SmbEnable { name } => ("-e", name, None),
        HelperOp::SmbDisable { name } => ("-d", name, None),
        HelperOp::SmbDelete { name } => ("-x", name, None),
        _ => return Err(WireError::internal(format!("{} is not an SMB operation", op.name()))),
    };
    acc.managed_user(name.as_str())?;
    let mut cmd = smbpasswd(ctx).args(["-s", flag, "--", name.as_str()]);
    if let Some(pw) = secret {
        // `-s` reads the new password twice, one per line; CR/LF/NUL were refused by the type.
        let p = pw.expose();
        cmd = cmd.secret("password, twice", format!("{p}\n{p}\n").into_bytes());
    }
    Ok(vec![Action::Exec(cmd)])
}

/// Parses `pdbedit -L -v`: "Unix username:" then "Account Flags: [DU  ]" per account.
pub fn parse_pdbedit(text: &str) -> HashMap<String, SmbAccountState> {
    let mut out = HashMap::new();
    let mut user: Option<String> = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Unix username:") {
            user = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("Account Flags:") {
            let Some(u) = user.take() else { continue };
            let flags = v.trim().trim_start_matches('[').trim_end_matches(']');
            let state = if flags.contains('D') { SmbAccountState::Disabled } else { SmbAccountState::Enabled };
            out.insert(u, state);
        }
    }
    out
}

/// SMB state of every passdb account. Without an smb.conf there is no passdb (no accounts);
/// a passdb that cannot be read is an error, never "no accounts": locking or deleting a user
/// must not skip its SMB account because of a failed listing.
pub async fn states(ctx: &Ctx) -> Result<HashMap<String, SmbAccountState>, WireError> {
    if !ctx.paths.smb_conf().exists() {
        return Ok(HashMap::new());
    }
    let cmd = Invocation::of(Program::PdbEdit)
        .args(["-s".to_owned(), ctx.paths.smb_conf().display().to_string(), "-L".into(), "-v".into()])
        .env(ctx.paths.nss_env());
    let out = exec::run(&cmd).await?;
    Ok(parse_pdbedit(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_account_flags() {
        let text = "---------------\nUnix username:        alice\nNT username:          \nAccount Flags:        [U          ]\n---------------\nUnix username:        bob\nAccount Flags:        [DU         ]\n";
        let m = parse_pdbedit(text);
        assert_eq!(m["alice"], SmbAccountState::Enabled);
        assert_eq!(m["bob"], SmbAccountState::Disabled);
    }
}
