//! Web sessions, login tickets and failed-login counting, all in memory: a restart of corenasd
//! logs every browser out, which is the safe direction (docs/decisions/0013-web-sessions.md).
//! Only the SHA-256 of a token is kept, so a memory dump does not hand out live sessions.

use corenas_proto::web::{
    LOGIN_FAILURES_BEFORE_LOCKOUT, Role, SESSION_IDLE_SECS, SESSION_MAX_SECS, SessionInfo, Source, WebToken,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// A login ticket lives this long between the password and the code.
pub const TICKET_SECS: u64 = 5 * 60;
/// Wrong codes a ticket survives before the login must start again.
pub const TICKET_ATTEMPTS: u32 = 3;
/// Failures older than this are forgotten.
const FAILURE_WINDOW_SECS: u64 = 15 * 60;
/// The first lockout; each further one doubles, up to an hour.
const FIRST_LOCKOUT_SECS: u64 = 60;
const MAX_LOCKOUT_SECS: u64 = 60 * 60;
/// Upper bounds on what memory the web path may hold, whoever hammers it.
const MAX_SESSIONS: usize = 10_000;
const MAX_TICKETS: usize = 1_000;
const MAX_TRACKED: usize = 100_000;

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn rfc3339(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub type TokenHash = [u8; 32];

pub fn token_hash(secret: &str) -> TokenHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random token (256 bits, hex).
pub fn new_token() -> WebToken {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).expect("the kernel's random source");
    WebToken::new(hex::encode(raw)).expect("64 hex characters")
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub role: Role,
    pub source: IpAddr,
    pub created: u64,
    pub last_seen: u64,
}

impl Session {
    fn expired(&self, now: u64) -> bool {
        now >= self.last_seen + SESSION_IDLE_SECS || now >= self.created + SESSION_MAX_SECS
    }
    pub fn info(&self, current: bool) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            user: self.user.clone(),
            role: self.role,
            source: self.source.to_string(),
            created: rfc3339(self.created),
            last_seen: rfc3339(self.last_seen),
            idle_expires: rfc3339((self.last_seen + SESSION_IDLE_SECS).min(self.created + SESSION_MAX_SECS)),
            expires: rfc3339(self.created + SESSION_MAX_SECS),
            current,
            via: "session".into(),
        }
    }
}

/// Between a correct password and the second factor.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub user: String,
    pub role: Role,
    pub expires: u64,
    pub attempts_left: u32,
    /// Setup's ticket: confirming it ends first-run setup (the setup token dies).
    pub from_setup: bool,
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    first: u64,
    lockouts: u32,
    locked_until: u64,
}

#[derive(Debug, Default)]
pub struct WebSessions {
    sessions: HashMap<TokenHash, Session>,
    tickets: HashMap<TokenHash, Ticket>,
    by_user: HashMap<String, Failures>,
    by_source: HashMap<IpAddr, Failures>,
}

impl WebSessions {
    pub fn create(&mut self, user: &str, role: Role, source: Source, now: u64) -> Result<(WebToken, Session), String> {
        self.sessions.retain(|_, s| !s.expired(now));
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(format!("too many open sessions ({MAX_SESSIONS}); log out elsewhere first"));
        }
        let token = new_token();
        let mut id = [0u8; 6];
        getrandom::getrandom(&mut id).expect("the kernel's random source");
        let session =
            Session { id: hex::encode(id), user: user.into(), role, source: source.0, created: now, last_seen: now };
        self.sessions.insert(token_hash(token.expose()), session.clone());
        Ok((token, session))
    }

    /// The live session for this token; touching it restarts the idle timer.
    pub fn touch(&mut self, token: &WebToken, now: u64) -> Option<Session> {
        self.lookup(token, now, true)
    }

    /// The live session without restarting its idle timer: for what a page does by itself
    /// (the event stream), so an open tab nobody uses still times out.
    pub fn peek(&mut self, token: &WebToken, now: u64) -> Option<Session> {
        self.lookup(token, now, false)
    }

    fn lookup(&mut self, token: &WebToken, now: u64, touch: bool) -> Option<Session> {
        let key = token_hash(token.expose());
        let s = self.sessions.get_mut(&key)?;
        if s.expired(now) {
            self.sessions.remove(&key);
            return None;
        }
        if touch {
            s.last_seen = now;
        }
        Some(s.clone())
    }

    pub fn end(&mut self, token: &WebToken) -> Option<Session> {
        self.sessions.remove(&token_hash(token.expose()))
    }

    pub fn revoke_id(&mut self, id: &str) -> Option<Session> {
        let key = self.sessions.iter().find(|(_, s)| s.id == id).map(|(k, _)| *k)?;
        self.sessions.remove(&key)
    }

    pub fn list(&mut self, now: u64) -> Vec<Session> {
        self.sessions.retain(|_, s| !s.expired(now));
        let mut v: Vec<Session> = self.sessions.values().cloned().collect();
        v.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        v
    }

    /// A role change reaches open sessions at once; `None` (access removed) ends them.
    pub fn set_role(&mut self, user: &str, role: Option<Role>) -> usize {
        let before = self.sessions.len();
        match role {
            Some(r) => self.sessions.values_mut().filter(|s| s.user == user).for_each(|s| s.role = r),
            None => self.sessions.retain(|_, s| s.user != user),
        }
        before - self.sessions.len()
    }

    pub fn end_all_of(&mut self, user: &str) -> usize {
        self.set_role(user, None)
    }

    pub fn issue_ticket(&mut self, user: &str, role: Role, from_setup: bool, now: u64) -> WebToken {
        self.tickets.retain(|_, t| t.expires > now);
        if self.tickets.len() >= MAX_TICKETS {
            // The oldest half goes: a flood of half-logins must not lock out the real admin.
            let mut by_age: Vec<(TokenHash, u64)> = self.tickets.iter().map(|(k, t)| (*k, t.expires)).collect();
            by_age.sort_by_key(|(_, e)| *e);
            for (k, _) in by_age.into_iter().take(MAX_TICKETS / 2) {
                self.tickets.remove(&k);
            }
        }
        let token = new_token();
        let ticket =
            Ticket { user: user.into(), role, expires: now + TICKET_SECS, attempts_left: TICKET_ATTEMPTS, from_setup };
        self.tickets.insert(token_hash(token.expose()), ticket);
        token
    }

    pub fn ticket(&self, token: &WebToken, now: u64) -> Option<Ticket> {
        self.tickets.get(&token_hash(token.expose())).filter(|t| t.expires > now).cloned()
    }

    /// A wrong code: the ticket loses an attempt and dies with its last.
    pub fn ticket_failed(&mut self, token: &WebToken) {
        let key = token_hash(token.expose());
        if let Some(t) = self.tickets.get_mut(&key) {
            t.attempts_left = t.attempts_left.saturating_sub(1);
            if t.attempts_left == 0 {
                self.tickets.remove(&key);
            }
        }
    }

    pub fn take_ticket(&mut self, token: &WebToken) {
        self.tickets.remove(&token_hash(token.expose()));
    }

    /// When logins for this account or from this address are refused until, if they are now.
    pub fn locked_until(&self, user: &str, source: IpAddr, now: u64) -> Option<u64> {
        [self.by_user.get(user), self.by_source.get(&source)]
            .into_iter()
            .flatten()
            .map(|f| f.locked_until)
            .filter(|&until| until > now)
            .max()
    }

    pub fn user_locked_until(&self, user: &str, now: u64) -> Option<u64> {
        self.by_user.get(user).map(|f| f.locked_until).filter(|&u| u > now)
    }

    /// Counts a failure for both; answers whether this one started a lockout.
    pub fn failed(&mut self, user: &str, source: IpAddr, now: u64) -> bool {
        if self.by_user.len() >= MAX_TRACKED {
            self.by_user.retain(|_, f| f.locked_until > now || f.first + FAILURE_WINDOW_SECS > now);
        }
        if self.by_source.len() >= MAX_TRACKED {
            self.by_source.retain(|_, f| f.locked_until > now || f.first + FAILURE_WINDOW_SECS > now);
        }
        let a = count(self.by_user.entry(user.to_owned()).or_default(), now);
        let b = count(self.by_source.entry(source).or_default(), now);
        a || b
    }

    /// A complete login clears the account's count (not the address's: one good password from
    /// an address must not reset a guessing run against other accounts from it).
    pub fn succeeded(&mut self, user: &str) {
        self.by_user.remove(user);
    }

    pub fn unlock(&mut self, user: &str) {
        self.by_user.remove(user);
    }
}

fn count(f: &mut Failures, now: u64) -> bool {
    if now >= f.first + FAILURE_WINDOW_SECS {
        f.count = 0;
        f.first = now;
    }
    f.count += 1;
    if f.count >= LOGIN_FAILURES_BEFORE_LOCKOUT {
        let secs = (FIRST_LOCKOUT_SECS << f.lockouts.min(6)).min(MAX_LOCKOUT_SECS);
        f.lockouts += 1;
        f.locked_until = now + secs;
        f.count = 0;
        f.first = now;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Source = Source(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn sessions_expire_when_idle_and_at_the_absolute_limit() {
        let mut s = WebSessions::default();
        let (tok, _) = s.create("alice", Role::Admin, SRC, 1000).unwrap();
        assert!(s.touch(&tok, 1000 + SESSION_IDLE_SECS - 1).is_some());
        let mut t = 1000 + SESSION_IDLE_SECS - 1;
        while t < 1000 + SESSION_MAX_SECS - 60 {
            t += 60;
            assert!(s.touch(&tok, t).is_some(), "kept alive at {t}");
        }
        assert!(s.touch(&tok, 1000 + SESSION_MAX_SECS).is_none(), "absolute limit");
        let (tok2, _) = s.create("alice", Role::Admin, SRC, 5000).unwrap();
        assert!(s.touch(&tok2, 5000 + SESSION_IDLE_SECS).is_none(), "idle limit");
    }

    #[test]
    fn what_a_page_does_by_itself_does_not_keep_a_session_alive() {
        let mut s = WebSessions::default();
        let (tok, _) = s.create("alice", Role::Admin, SRC, 1000).unwrap();
        for t in (1000..1000 + SESSION_IDLE_SECS).step_by(60) {
            assert!(s.peek(&tok, t).is_some());
        }
        assert!(s.peek(&tok, 1000 + SESSION_IDLE_SECS).is_none(), "the stream's calls did not count as use");
    }

    #[test]
    fn logout_and_role_removal_end_sessions() {
        let mut s = WebSessions::default();
        let (a, _) = s.create("alice", Role::Admin, SRC, 10).unwrap();
        let (b, _) = s.create("bob", Role::Viewer, SRC, 10).unwrap();
        assert!(s.end(&a).is_some());
        assert!(s.touch(&a, 11).is_none());
        s.set_role("bob", Some(Role::Operator));
        assert_eq!(s.touch(&b, 12).unwrap().role, Role::Operator);
        assert_eq!(s.set_role("bob", None), 1);
        assert!(s.touch(&b, 13).is_none());
    }

    #[test]
    fn lockout_after_five_failures_then_backoff_doubles() {
        let mut s = WebSessions::default();
        let src = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
        for i in 0..4 {
            assert!(!s.failed("alice", src, 100 + i));
        }
        assert!(s.failed("alice", src, 105));
        assert_eq!(s.locked_until("alice", src, 106), Some(165));
        assert_eq!(s.locked_until("bob", src, 106), Some(165), "the address is locked too");
        assert_eq!(s.locked_until("alice", src, 165), None);
        for i in 0..5 {
            s.failed("alice", IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i)), 200);
        }
        assert_eq!(s.user_locked_until("alice", 201), Some(320), "second lockout lasts twice as long");
    }

    #[test]
    fn tickets_die_after_three_wrong_codes_and_expire() {
        let mut s = WebSessions::default();
        let t = s.issue_ticket("alice", Role::Admin, false, 0);
        for _ in 0..TICKET_ATTEMPTS {
            assert!(s.ticket(&t, 1).is_some());
            s.ticket_failed(&t);
        }
        assert!(s.ticket(&t, 1).is_none());
        let t = s.issue_ticket("alice", Role::Admin, false, 0);
        assert!(s.ticket(&t, TICKET_SECS).is_none());
    }
}
