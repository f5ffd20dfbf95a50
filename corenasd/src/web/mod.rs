//! What corenasd holds for the web path: sessions, login tickets, failed-login counts and the
//! first-run setup token (`WebState`), the web accounts and API keys in state.db (`store.rs`),
//! second factors (`totp.rs`). The door corenas-web calls is `rpc/web_gate.rs`; nothing here
//! imports it.

pub mod sessions;
pub mod store;
pub mod totp;

use crate::state::StateError;
use corenas_proto::web::SetupToken;
use sessions::WebSessions;
use std::sync::Mutex;

/// What corenasd holds for the web path besides state.db.
#[derive(Debug, Default)]
pub struct WebState {
    /// corenas-web's uid; connections from it are served the web gate. None: no web tier.
    pub web_uid: Option<u32>,
    pub sessions: Mutex<WebSessions>,
    /// The first-run token while setup is needed (made at start, shown by `system setup-token`).
    pub setup_token: Mutex<Option<String>>,
}

impl WebState {
    pub fn new(web_uid: Option<u32>) -> Self {
        Self { web_uid, ..Self::default() }
    }

    pub fn sessions(&self) -> std::sync::MutexGuard<'_, WebSessions> {
        // The session table holds no invariant a panic could break halfway.
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The setup token, made now if setup is needed and none exists yet.
    pub fn ensure_setup_token(&self, needed: bool) -> Option<SetupToken> {
        let mut slot = self.setup_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !needed {
            *slot = None;
            return None;
        }
        let token = slot.get_or_insert_with(new_setup_token);
        SetupToken::new(token.clone()).ok()
    }

    pub(crate) fn setup_token_matches(&self, offered: &SetupToken) -> bool {
        let slot = self.setup_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_deref().is_some_and(|t| constant_time_eq::constant_time_eq(t.as_bytes(), offered.expose().as_bytes()))
    }

    pub(crate) fn end_setup(&self) {
        *self.setup_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// 80 random bits in base32, grouped for reading off a console: `ABCD-EF23-GH45-JK67`.
fn new_setup_token() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the kernel's random source");
    let mut s = String::with_capacity(19);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    s
}

/// An account was locked (`deleted` false) or deleted: its sessions and half-done logins end
/// and its API keys are revoked at once (M2). Deleting also removes its web row (role, TOTP
/// secret, recovery codes), so a new account given the name later starts with nothing.
///
/// Why not key the web rows by uid instead: that needs a migration of `web_accounts` and
/// `api_keys`, and removing the rows here covers every reuse of a name through CoreNAS. A name
/// reused behind CoreNAS's back (userdel/useradd at the shell) is not covered by this; the gate
/// still refuses any credential whose owner is missing, locked or outside the admin range at the
/// moment it is used (`rpc/web_gate.rs`), but a row left by such a reuse stays until `web role
/// ... none`.
pub fn end_access(conn: &rusqlite::Connection, web: &WebState, user: &str, deleted: bool) -> Result<(), StateError> {
    let keys = store::revoke_api_keys_of(conn, user)?;
    let row = deleted && store::remove(conn, user)?;
    let sessions = {
        let mut s = web.sessions();
        s.unlock(user);
        s.end_all_of(user)
    };
    tracing::info!(user, deleted, keys, sessions, web_row_removed = row, "account locked or deleted: web access ended");
    Ok(())
}

/// Whether `user`'s web account (if it has one) belongs to the Unix account that has the name now
/// (`live_uid`). A row not bound yet is bound now. A row bound to another uid belonged to an
/// account deleted and created again behind CoreNAS's back: its web access ends (row, keys,
/// sessions) and the new account starts with none.
pub fn owned_by(conn: &rusqlite::Connection, web: &WebState, user: &str, live_uid: u32) -> Result<bool, StateError> {
    match store::account(conn, user)?.map(|r| r.uid) {
        None => Ok(true),
        Some(None) => store::bind_uid(conn, user, live_uid).map(|()| true),
        Some(Some(uid)) if uid == live_uid => Ok(true),
        Some(Some(uid)) => {
            tracing::warn!(
                user,
                old_uid = uid,
                uid = live_uid,
                "the name now belongs to another account: its web access ends"
            );
            end_access(conn, web, user, true).map(|()| false)
        }
    }
}

/// The setting that closes first-run setup for good once an administrator has enrolled.
const SETUP_DONE: &str = "web.setup_done";

/// Whether the first-run `/setup` page (and its token) is open: only until the first
/// administrator has enrolled a second factor, once (L5). It used to mean "no enrolled admin
/// right now", so `web totp-reset` or `web role ... none` on the last admin re-opened it and a
/// fresh token let whoever read it create an admin. Now it stays closed; root recovers from the
/// console with `corenas-ctl web role <user> admin` (and `web totp-reset <user>`), after which
/// that user logs in with the account password and enrolls a new authenticator at once.
///
/// A database from before the setting, with an enrolled admin, is marked done here (at the
/// next start at the latest: corenasd asks at start).
pub fn setup_needed(conn: &rusqlite::Connection) -> Result<bool, StateError> {
    if crate::state::setting(conn, SETUP_DONE)?.is_some() {
        return Ok(false);
    }
    if store::has_enrolled_admin(conn)? {
        mark_setup_done(conn)?;
        return Ok(false);
    }
    Ok(true)
}

/// Setup is over: an administrator has enrolled.
pub fn mark_setup_done(conn: &rusqlite::Connection) -> Result<(), StateError> {
    crate::state::set_setting(conn, SETUP_DONE, "1")
}

/// The uid of the web tier's user from the host's /etc/passwd (CoreNAS binaries are static and
/// use no NSS). A missing user means there is no web tier: nothing is served to it.
pub fn uid_of(name: &str) -> std::io::Result<Option<u32>> {
    if name.is_empty() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let uid = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name)).then(|| f.nth(1).and_then(|u| u.parse().ok())).flatten()
    });
    if uid.is_none() {
        tracing::info!(user = name, "no such user: the web gate is off");
    }
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;
    use corenas_proto::web::{ApiKey, Role};

    /// A name deleted and created again behind CoreNAS's back (another uid) inherits nothing:
    /// not the role, not the second factor, not the keys. The same uid keeps its web account.
    #[test]
    fn a_web_account_belongs_to_its_uid_not_its_name() {
        let dir = TestDir::new("web-uid");
        let state = State::open(&dir.path().join("state.db")).unwrap();
        let web = WebState::new(None);
        let c = state.conn();
        store::set_role(c, "olga", Role::Admin).unwrap();
        store::begin_enrollment(c, "olga", b"old-secret").unwrap();
        let key = ApiKey::new(format!("cnk_{}", "1".repeat(64))).unwrap();
        let hash = totp::hash(key.expose());
        store::insert_api_key(
            c,
            &store::NewApiKey {
                id: "k1",
                hash: &hash,
                owner: "olga@web",
                role: Role::Admin,
                label: "script",
                created: "2026-12-07T00:00:00Z",
                expires: u64::MAX / 2,
            },
        )
        .unwrap();
        // A row from before schema 8 is bound to the account that uses it first.
        assert!(owned_by(c, &web, "olga", 10001).unwrap());
        assert_eq!(store::account(c, "olga").unwrap().unwrap().uid, Some(10001));
        assert!(owned_by(c, &web, "olga", 10001).unwrap(), "the same account keeps it");
        assert!(store::api_key_by_hash(c, &hash, 0).unwrap().is_some(), "and its key");
        // The name now belongs to uid 10002.
        assert!(!owned_by(c, &web, "olga", 10002).unwrap());
        assert!(store::account(c, "olga").unwrap().is_none(), "role and second factor are gone");
        assert!(store::api_key_by_hash(c, &hash, 0).unwrap().is_none(), "the old key no longer works");
        assert!(owned_by(c, &web, "nobody-here", 10003).unwrap(), "no web account: nothing to hold against");
    }
}
