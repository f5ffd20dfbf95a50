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
    getrandom::fill(&mut raw).expect("the kernel's random source");
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
    /// Password checks admitted and not answered yet. They count against the limit from the
    /// moment they are admitted: the check awaits PAM for about 2 s, and a lockout that only
    /// counted answered failures would let every guess sent in that time through.
    in_flight: u32,
}

impl Failures {
    /// Whether one more attempt fits under the limit now: the failures of the window plus the
    /// attempts under way.
    fn admits(&self, now: u64) -> bool {
        let failures = if now >= self.first + FAILURE_WINDOW_SECS { 0 } else { self.count };
        self.locked_until <= now && failures + self.in_flight < LOGIN_FAILURES_BEFORE_LOCKOUT
    }

    fn forgettable(&self, now: u64) -> bool {
        self.in_flight == 0 && self.locked_until <= now && self.first + FAILURE_WINDOW_SECS <= now
    }
}

/// Why an attempt was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Locked out until then (unix seconds).
    LockedUntil(u64),
    /// As many attempts are under way as failures may still happen before the lockout.
    Busy,
}

/// The key failures from an address are counted under: IPv4 as it is, IPv6 by its /64 (one
/// subscriber or host usually holds a whole /64, so counting /128s would give an attacker 2^64
/// fresh addresses), an IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
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
        getrandom::fill(&mut id).expect("the kernel's random source");
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

    /// Every session of the account ends, and so do its half-done logins (a ticket is a
    /// password already accepted).
    pub fn end_all_of(&mut self, user: &str) -> usize {
        self.tickets.retain(|_, t| t.user != user);
        self.set_role(user, None)
    }

    /// The account's other sessions end (a changed password or authenticator must lock out
    /// whoever holds an old session); the one with `keep_id` goes on.
    pub fn end_others_of(&mut self, user: &str, keep_id: &str) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.user != user || s.id == keep_id);
        self.tickets.retain(|_, t| t.user != user);
        before - self.sessions.len()
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
        [self.by_user.get(user), self.by_source.get(&source_key(source))]
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
        self.bound(now);
        let a = count(self.by_user.entry(user.to_owned()).or_default(), now);
        let b = count(self.by_source.entry(source_key(source)).or_default(), now);
        a || b
    }

    fn bound(&mut self, now: u64) {
        if self.by_user.len() >= MAX_TRACKED {
            self.by_user.retain(|_, f| !f.forgettable(now));
        }
        if self.by_source.len() >= MAX_TRACKED {
            self.by_source.retain(|_, f| !f.forgettable(now));
        }
    }

    /// Admits a password check for this account from this address, counting it before it is
    /// made (check-then-act across the PAM await let concurrent guesses past the lockout, M3).
    /// Every admitted attempt must be ended with [`WebSessions::end_attempt`]; a failure is
    /// then counted with [`WebSessions::failed`] as before.
    pub fn begin_attempt(&mut self, user: &str, source: IpAddr, now: u64) -> Result<(), Refused> {
        if let Some(until) = self.locked_until(user, source, now) {
            return Err(Refused::LockedUntil(until));
        }
        let key = source_key(source);
        let admits = |f: Option<&Failures>| f.is_none_or(|f| f.admits(now));
        if !admits(self.by_user.get(user)) || !admits(self.by_source.get(&key)) {
            return Err(Refused::Busy);
        }
        self.bound(now);
        self.by_user.entry(user.to_owned()).or_default().in_flight += 1;
        self.by_source.entry(key).or_default().in_flight += 1;
        Ok(())
    }

    /// The answer to an admitted attempt came (or its request was dropped): its slot is free.
    pub fn end_attempt(&mut self, user: &str, source: IpAddr) {
        if let Some(f) = self.by_user.get_mut(user) {
            f.in_flight = f.in_flight.saturating_sub(1);
        }
        if let Some(f) = self.by_source.get_mut(&source_key(source)) {
            f.in_flight = f.in_flight.saturating_sub(1);
        }
    }

    /// A complete login clears the account's count (not the address's: one good password from
    /// an address must not reset a guessing run against other accounts from it).
    pub fn succeeded(&mut self, user: &str) {
        self.clear_user(user);
    }

    pub fn unlock(&mut self, user: &str) {
        self.clear_user(user);
    }

    /// Forgets the account's failures but not its attempts under way (their slots are still
    /// to be freed by `end_attempt`).
    fn clear_user(&mut self, user: &str) {
        if let Some(f) = self.by_user.get_mut(user) {
            let in_flight = f.in_flight;
            *f = Failures { in_flight, ..Failures::default() };
            if in_flight == 0 {
                self.by_user.remove(user);
            }
        }
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

    /// M3: attempts count from the moment they are admitted, so guesses sent together while
    /// the first checks still await PAM are refused, not let through.
    #[test]
    fn concurrent_attempts_are_held_to_the_lockout_limit() {
        let mut s = WebSessions::default();
        let src = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
        let mut admitted = 0;
        for _ in 0..20 {
            if s.begin_attempt("alice", src, 100).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, LOGIN_FAILURES_BEFORE_LOCKOUT, "no more checks at once than failures allowed");
        // From another address: the account's slots are taken too.
        let other = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(s.begin_attempt("alice", other, 100), Err(Refused::Busy));
        for _ in 0..admitted {
            s.end_attempt("alice", src);
            s.failed("alice", src, 101);
        }
        assert_eq!(s.begin_attempt("alice", other, 102), Err(Refused::LockedUntil(161)));
        // A success refunds its slot: sequential good logins never lock anyone out.
        let mut s = WebSessions::default();
        for t in 0..20 {
            s.begin_attempt("bob", src, t).unwrap();
            s.end_attempt("bob", src);
            s.succeeded("bob");
        }
    }

    /// M3: an IPv6 attacker holds a /64 at least; its addresses share one count.
    #[test]
    fn ipv6_sources_in_one_64_share_a_lockout() {
        let mut s = WebSessions::default();
        let base: u128 = 0x2001_0db8_0001_0002_0000_0000_0000_0000;
        for i in 0..LOGIN_FAILURES_BEFORE_LOCKOUT {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(base + u128::from(i) * 0x1_0000_0001));
            s.failed(&format!("user{i}"), ip, 100);
        }
        let sibling = IpAddr::V6(std::net::Ipv6Addr::from(base + 0xdead_beef));
        assert!(s.locked_until("carol", sibling, 101).is_some(), "another address of the same /64 is locked");
        assert_eq!(s.begin_attempt("carol", sibling, 101), Err(Refused::LockedUntil(160)));
        let neighbour = IpAddr::V6(std::net::Ipv6Addr::from(base + (1u128 << 64)));
        assert!(s.locked_until("carol", neighbour, 101).is_none(), "the next /64 is not");
        // An IPv4-mapped address is the IPv4 address.
        let v4 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
        for i in 0..LOGIN_FAILURES_BEFORE_LOCKOUT {
            s.failed(&format!("v{i}"), mapped, 100);
        }
        assert!(s.locked_until("carol", v4, 101).is_some());
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
