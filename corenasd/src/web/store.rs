//! What the web path keeps in state.db: which admin accounts may log in with which role, their
//! TOTP secret and recovery-code hashes, and API keys (only their SHA-256 is stored).

use crate::state::{StateError, sql};
use corenas_proto::web::{ApiKeyInfo, Role, WebAccount};
use rusqlite::{Connection, OptionalExtension, params};

pub fn set_pending(conn: &Connection, user: &str, secret: &[u8]) -> Result<(), StateError> {
    conn.execute("UPDATE web_accounts SET totp_pending = ?2 WHERE user = ?1", params![user, secret])
        .map(drop)
        .map_err(sql("starting a TOTP renewal"))
}

pub fn pending(conn: &Connection, user: &str) -> Result<Option<Vec<u8>>, StateError> {
    conn.query_row("SELECT totp_pending FROM web_accounts WHERE user = ?1", [user], |r| r.get(0))
        .optional()
        .map(Option::flatten)
        .map_err(sql("reading a TOTP renewal"))
}

/// The pending secret becomes the account's, with fresh recovery codes.
pub fn finish_renewal(conn: &Connection, user: &str, step: u64, recovery: &[String]) -> Result<(), StateError> {
    let recovery = serde_json::to_string(recovery).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE web_accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_confirmed = 1,
             totp_last_step = ?2, recovery = ?3 WHERE user = ?1 AND totp_pending IS NOT NULL",
        params![user, i64::try_from(step).unwrap_or(i64::MAX), recovery],
    )
    .map(drop)
    .map_err(sql("finishing a TOTP renewal"))
}

fn role_of(s: &str) -> Role {
    // Written only by this module from a Role; an unknown word can only mean a hand edit, and
    // the least privilege is the safe reading.
    s.parse().unwrap_or(Role::Viewer)
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub user: String,
    pub role: Role,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_confirmed: bool,
    pub totp_last_step: u64,
    pub recovery: Vec<String>,
    /// The Unix account (uid) this web account was given to; None: not bound yet (a row from
    /// before schema 8).
    pub uid: Option<u32>,
}

impl AccountRow {
    pub fn public(&self) -> WebAccount {
        WebAccount {
            user: self.user.clone(),
            role: self.role,
            totp_enrolled: self.totp_confirmed,
            recovery_codes_left: u32::try_from(self.recovery.len()).unwrap_or(u32::MAX),
            locked_until: None,
        }
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    let role: String = r.get(1)?;
    let recovery: String = r.get(5)?;
    Ok(AccountRow {
        user: r.get(0)?,
        role: role_of(&role),
        totp_secret: r.get(2)?,
        totp_confirmed: r.get::<_, i64>(3)? != 0,
        totp_last_step: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        recovery: serde_json::from_str(&recovery).unwrap_or_default(),
        uid: r.get::<_, Option<i64>>(6)?.and_then(|u| u32::try_from(u).ok()),
    })
}

const COLUMNS: &str = "user, role, totp_secret, totp_confirmed, totp_last_step, recovery, uid";

pub fn account(conn: &Connection, user: &str) -> Result<Option<AccountRow>, StateError> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM web_accounts WHERE user = ?1"), [user], row)
        .optional()
        .map_err(sql("reading a web account"))
}

pub fn accounts(conn: &Connection) -> Result<Vec<AccountRow>, StateError> {
    let mut st =
        conn.prepare(&format!("SELECT {COLUMNS} FROM web_accounts ORDER BY user")).map_err(sql("web accounts"))?;
    st.query_map([], row).map_err(sql("web accounts"))?.collect::<Result<_, _>>().map_err(sql("web accounts"))
}

/// Whether some administrator can log in already (has a confirmed second factor): until then
/// only first-run setup is offered.
pub fn has_enrolled_admin(conn: &Connection) -> Result<bool, StateError> {
    conn.query_row("SELECT EXISTS(SELECT 1 FROM web_accounts WHERE role = 'admin' AND totp_confirmed = 1)", [], |r| {
        r.get(0)
    })
    .map_err(sql("looking for an administrator"))
}

/// Sets the role (creating the row), keeping the second factor.
pub fn set_role(conn: &Connection, user: &str, role: Role) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO web_accounts(user, role) VALUES (?1, ?2) ON CONFLICT(user) DO UPDATE SET role = excluded.role",
        params![user, role.as_str()],
    )
    .map(drop)
    .map_err(sql("setting a web role"))
}

/// Binds the web account to the Unix account with `uid`.
pub fn bind_uid(conn: &Connection, user: &str, uid: u32) -> Result<(), StateError> {
    conn.execute("UPDATE web_accounts SET uid = ?2 WHERE user = ?1", params![user, uid])
        .map(drop)
        .map_err(sql("binding a web account to its uid"))
}

pub fn remove(conn: &Connection, user: &str) -> Result<bool, StateError> {
    conn.execute("DELETE FROM web_accounts WHERE user = ?1", [user]).map(|n| n > 0).map_err(sql("removing web access"))
}

/// A new, unconfirmed TOTP secret (replacing any earlier one) and no recovery codes.
pub fn begin_enrollment(conn: &Connection, user: &str, secret: &[u8]) -> Result<(), StateError> {
    conn.execute(
        "UPDATE web_accounts SET totp_secret = ?2, totp_confirmed = 0, totp_last_step = 0, recovery = '[]' WHERE user = ?1",
        params![user, secret],
    )
    .map(drop)
    .map_err(sql("starting TOTP enrollment"))
}

pub fn confirm_enrollment(conn: &Connection, user: &str, step: u64, recovery: &[String]) -> Result<(), StateError> {
    let recovery = serde_json::to_string(recovery).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE web_accounts SET totp_confirmed = 1, totp_last_step = ?2, recovery = ?3 WHERE user = ?1",
        params![user, i64::try_from(step).unwrap_or(i64::MAX), recovery],
    )
    .map(drop)
    .map_err(sql("confirming TOTP enrollment"))
}

/// Records the step a code matched; false when that step (or a later one) was used already.
pub fn record_step(conn: &Connection, user: &str, step: u64) -> Result<bool, StateError> {
    conn.execute(
        "UPDATE web_accounts SET totp_last_step = ?2 WHERE user = ?1 AND totp_last_step < ?2",
        params![user, i64::try_from(step).unwrap_or(i64::MAX)],
    )
    .map(|n| n == 1)
    .map_err(sql("recording a TOTP step"))
}

/// Spends the recovery code with this hash: true when it was unused and is used up now. The
/// list is replaced only if it is still the one read (a conditional UPDATE), so two logins racing
/// with one code cannot both pass, and a stale write cannot bring a spent code back (L6).
pub fn spend_recovery(conn: &Connection, user: &str, hash: &str) -> Result<bool, StateError> {
    let Some(before) = conn
        .query_row("SELECT recovery FROM web_accounts WHERE user = ?1", [user], |r| r.get::<_, String>(0))
        .optional()
        .map_err(sql("reading recovery codes"))?
    else {
        return Ok(false);
    };
    let mut left: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
    let Some(i) = left.iter().position(|r| constant_time_eq::constant_time_eq(r.as_bytes(), hash.as_bytes())) else {
        return Ok(false);
    };
    left.remove(i);
    let after = serde_json::to_string(&left).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE web_accounts SET recovery = ?3 WHERE user = ?1 AND recovery = ?2",
        params![user, before, after],
    )
    .map(|n| n == 1)
    .map_err(sql("using a recovery code"))
}

pub fn reset_totp(conn: &Connection, user: &str) -> Result<bool, StateError> {
    conn.execute(
        "UPDATE web_accounts SET totp_secret = NULL, totp_pending = NULL, totp_confirmed = 0, totp_last_step = 0, recovery = '[]' WHERE user = ?1",
        [user],
    )
    .map(|n| n > 0)
    .map_err(sql("resetting TOTP"))
}

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub owner: &'a str,
    pub role: Role,
    pub label: &'a str,
    pub created: &'a str,
    pub expires: u64,
}

pub fn insert_api_key(conn: &Connection, k: &NewApiKey<'_>) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO api_keys(id, hash, owner, role, label, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.id,
            k.hash,
            k.owner,
            k.role.as_str(),
            k.label,
            k.created,
            i64::try_from(k.expires).unwrap_or(i64::MAX)
        ],
    )
    .map(drop)
    .map_err(sql("storing an API key"))
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let role: String = r.get(2)?;
    let expires = u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0);
    Ok(ApiKeyInfo {
        id: r.get(0)?,
        owner: r.get(1)?,
        role: role_of(&role),
        label: r.get(3)?,
        created: r.get(4)?,
        expires: super::sessions::rfc3339(expires),
        revoked: r.get::<_, i64>(6)? != 0,
    })
}

const KEY_COLUMNS: &str = "id, owner, role, label, created, expires, revoked";

pub fn api_keys(conn: &Connection) -> Result<Vec<ApiKeyInfo>, StateError> {
    let mut st =
        conn.prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created")).map_err(sql("API keys"))?;
    st.query_map([], key_row).map_err(sql("API keys"))?.collect::<Result<_, _>>().map_err(sql("API keys"))
}

/// The key with this hash, if it exists, is not revoked and has not expired at `now`.
pub fn api_key_by_hash(conn: &Connection, hash: &str, now: u64) -> Result<Option<ApiKeyInfo>, StateError> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1 AND revoked = 0 AND expires > ?2"),
        params![hash, i64::try_from(now).unwrap_or(i64::MAX)],
        key_row,
    )
    .optional()
    .map_err(sql("looking up an API key"))
}

/// Revokes every key made by this account (at the web, or by one of its own keys); keys made by
/// root at the console (`root@ctl`) belong to no account and stay. Answers how many.
pub fn revoke_api_keys_of(conn: &Connection, user: &str) -> Result<usize, StateError> {
    conn.execute(
        "UPDATE api_keys SET revoked = 1 WHERE revoked = 0 AND owner <> 'root@ctl'
             AND substr(owner, 1, instr(owner, '@') - 1) = ?1",
        [user],
    )
    .map_err(sql("revoking an account's API keys"))
}

pub fn revoke_api_key(conn: &Connection, id: &str) -> Result<bool, StateError> {
    conn.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1 AND revoked = 0", [id])
        .map(|n| n > 0)
        .map_err(sql("revoking an API key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;

    /// L6: a recovery code is spent once; a second spend (a racing login) fails, and so does a
    /// write based on a list read before the first spend.
    #[test]
    fn a_recovery_code_is_spent_once() {
        let tmp = TestDir::new("web-recovery");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        let c = state.conn();
        set_role(c, "alice", Role::Admin).unwrap();
        confirm_enrollment(c, "alice", 1, &["h1".into(), "h2".into()]).unwrap();
        assert!(spend_recovery(c, "alice", "h1").unwrap());
        assert!(!spend_recovery(c, "alice", "h1").unwrap(), "spent already");
        assert!(spend_recovery(c, "alice", "h2").unwrap());
        assert!(account(c, "alice").unwrap().unwrap().recovery.is_empty());
        assert!(!spend_recovery(c, "nobody", "h2").unwrap());
    }

    /// M2: an account's keys are revoked with it; root's console keys and other accounts' stay.
    #[test]
    fn an_accounts_keys_are_revoked_and_no_one_elses() {
        let tmp = TestDir::new("web-keys");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        let c = state.conn();
        for (id, owner) in [("1", "olga@web"), ("2", "olga@api:1"), ("3", "root@ctl"), ("4", "olgab@web")] {
            let k = NewApiKey {
                id,
                hash: id,
                owner,
                role: Role::Admin,
                label: "x",
                created: "now",
                expires: u64::MAX >> 2,
            };
            insert_api_key(c, &k).unwrap();
        }
        assert_eq!(revoke_api_keys_of(c, "olga").unwrap(), 2);
        let mut live: Vec<String> = api_keys(c).unwrap().into_iter().filter(|k| !k.revoked).map(|k| k.id).collect();
        live.sort();
        assert_eq!(live, ["3", "4"]);
    }
}
