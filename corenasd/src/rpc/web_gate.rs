//! The web gate, corenas-web's only door: logins, sessions and API keys, and `call`, which runs
//! an ordinary daemon request as the credential's principal through the same `CorenasService`
//! the CLI goes through (the same role check, audit and detaching). corenas-web itself is
//! trusted with nothing: a connection from its uid can do no more than log someone in or act
//! with their credential. What the gate holds (sessions, tickets, the setup token) lives in
//! `web/`; this file is only the door.

use super::CorenasService;
use crate::audit::AuditRecord;
use crate::authz::Principal;
use crate::daemon::Daemon;
use crate::methods::Method;
use crate::web::sessions::{self, Refused, now};
use crate::web::{setup_needed, store, totp};
use corenas_proto::api::{CorenasRequest, CorenasResponse, UserAdd};
use corenas_proto::helper::PasswordCheck;
use corenas_proto::logging::{MSG_WEB_LOGIN_FAILED, MSG_WEB_LOGIN_LOCKED_OUT};
use corenas_proto::names::{AccountKind, UserName};
use corenas_proto::web::{
    ApiKeyInfo, Credential, LoginPassword, PasswordAccepted, Role, SecondFactor, SessionGrant, SessionInfo,
    SetupRequest, Source, TotpEnrollment, WebToken,
};
use corenas_proto::web_gate::WebGate;
use corenas_proto::{ErrorCode, WireError};
use std::net::IpAddr;
use std::sync::Arc;
use tarpc::context::Context;
use tarpc::server::Serve;

/// One message for every way a password login can fail, so the answer does not tell which
/// accounts exist or may log in (the audit log records the real reason).
const WRONG_LOGIN: &str = "user name or password is wrong";

/// A password check admitted under the lockout (`WebSessions::begin_attempt`): it holds a slot
/// for its account and address until it is dropped, whatever ended it (a cancelled request
/// too), or until `login_failed` turns it into a counted failure.
struct LoginAttempt {
    shared: Arc<Daemon>,
    user: String,
    source: IpAddr,
    open: bool,
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if self.open {
            self.shared.web.sessions().end_attempt(&self.user, self.source);
        }
    }
}

#[derive(Clone)]
pub struct WebGateServer {
    pub shared: Arc<Daemon>,
    pub peer_uid: u32,
}

impl WebGateServer {
    /// For refusals: a refusal that cannot be audited is still a refusal, so a failed append is
    /// only logged. What grants access (a session, a new administrator, a new password) goes
    /// through `audit_required` instead (L4).
    fn audit(&self, principal: &str, action: &str, args: serde_json::Value, result: &str, code: Option<ErrorCode>) {
        if let Err(e) = self.audit_required(principal, action, args, result, code) {
            tracing::error!(action, error = %e.message, "cannot audit a web login event");
        }
    }

    /// Appends the entry and says when it could not be: the caller then undoes what it can and
    /// fails (L4). Callers check `Daemon::state_writable` before they act, so this fails only
    /// when the disk fills or breaks in between.
    fn audit_required(
        &self,
        principal: &str,
        action: &str,
        args: serde_json::Value,
        result: &str,
        code: Option<ErrorCode>,
    ) -> Result<(), WireError> {
        let rec = AuditRecord {
            principal,
            channel: "web",
            peer_uid: self.peer_uid,
            action,
            args: &args,
            result,
            error_code: code.map(ErrorCode::as_str),
        };
        self.shared.audit(&rec).map(drop)
    }

    fn principal(&self, user: &str, role: Role, channel: &'static str) -> Principal {
        Principal { name: format!("{user}@{channel}"), channel, peer_uid: self.peer_uid, role }
    }

    /// The principal behind a credential, or Unauthenticated. Touching a session restarts its
    /// idle timer.
    async fn resolve(&self, cred: &Credential) -> Result<(Principal, SessionInfo), WireError> {
        self.resolve_as(cred, true).await
    }

    /// Whether the account behind a session or key may still act, asked at every use (M2): it
    /// must exist, be in the admin range and not be locked. Locking or deleting through CoreNAS
    /// ends its sessions and keys at once (`web::end_access`); this also catches an account
    /// locked or deleted at the shell, behind CoreNAS's back. The helper's account snapshot is
    /// shared by concurrent callers (`FreshRead`). Err only when the helper cannot be asked.
    /// The web account must also belong to the account that has the name now (`web::owned_by`:
    /// rows are bound to a uid), or a name created again would inherit it.
    async fn owner_is_live(&self, user: &str) -> Result<bool, WireError> {
        let acc = self.shared.helper.connect().await?.accounts().await?;
        let live = acc
            .users
            .iter()
            .find(|u| u.name == user && AccountKind::of_id(u.uid) == Some(AccountKind::Admin) && !u.locked)
            .map(|u| u.uid);
        match live {
            Some(uid) => self.shared.with_state(|s| crate::web::owned_by(s.conn(), &self.shared.web, user, uid)),
            None => Ok(false),
        }
    }

    /// `used`: whether this call is the user's doing (it restarts the idle timer) or the page's
    /// own (the event stream; it does not).
    async fn resolve_as(&self, cred: &Credential, used: bool) -> Result<(Principal, SessionInfo), WireError> {
        let t = now();
        match cred {
            Credential::Session(token) => {
                let s = {
                    let mut sessions = self.shared.web.sessions();
                    if used { sessions.touch(token, t) } else { sessions.peek(token, t) }
                };
                let s = s.ok_or_else(expired)?;
                if !self.owner_is_live(&s.user).await? {
                    // Gone for good: unlocking the account later revives none of its sessions.
                    self.shared.web.sessions().end_all_of(&s.user);
                    return Err(WireError::new(
                        ErrorCode::Unauthenticated,
                        "the account of this session is locked, deleted or no longer an administrator account: the session has ended",
                    ));
                }
                Ok((self.principal(&s.user, s.role, "web"), s.info(true)))
            }
            Credential::ApiKey(key) => {
                let hash = totp::hash(key.expose());
                let k = self.shared.with_state(|s| store::api_key_by_hash(s.conn(), &hash, t))?.ok_or_else(|| {
                    WireError::new(ErrorCode::Unauthenticated, "the API key is unknown, revoked or expired")
                })?;
                let role = self.api_key_role(&k).await?;
                let p = Principal {
                    name: format!("{}@api:{}", k.owner.split('@').next().unwrap_or(&k.owner), k.id),
                    channel: "api",
                    peer_uid: self.peer_uid,
                    role,
                };
                let info = SessionInfo {
                    id: k.id.clone(),
                    user: k.owner.clone(),
                    role,
                    source: String::new(),
                    created: k.created.clone(),
                    last_seen: sessions::rfc3339(t),
                    idle_expires: k.expires.clone(),
                    expires: k.expires,
                    current: true,
                    via: "api-key".into(),
                };
                Ok((p, info))
            }
        }
    }

    /// What a key may do now: never more than its owner may do now. A key made by an account
    /// whose web access was lowered or removed since is lowered or refused with it, and one whose
    /// account is locked, deleted or out of the admin range is refused (M2).
    ///
    /// A key made by root at the console (`corenas-ctl web api-key create`) belongs to no
    /// account: root is not an admin-range account, and on many systems root's password is
    /// locked on purpose, so "exists and unlocked" says nothing about it. Decision: such a key is
    /// trusted only when its owner is exactly `root@ctl`, the one principal of the ctl channel
    /// (any other `...@ctl` owner was not written by corenasd and is refused); it keeps the role
    /// it was given and ends by `web api-key revoke` or its expiry (at most 366 days), and no
    /// account's lock or deletion touches it. `web api-key list` shows it with its owner.
    async fn api_key_role(&self, k: &ApiKeyInfo) -> Result<Role, WireError> {
        let (user, channel) = k.owner.split_once('@').unwrap_or((k.owner.as_str(), ""));
        if channel == "ctl" {
            if k.owner != "root@ctl" {
                return Err(WireError::new(
                    ErrorCode::Unauthenticated,
                    "the API key names an owner corenasd never writes: revoke it with `corenas-ctl web api-key revoke`",
                ));
            }
            return Ok(k.role);
        }
        if !self.owner_is_live(user).await? {
            return Err(WireError::new(
                ErrorCode::Unauthenticated,
                "the API key's owner is locked, deleted or no longer an administrator account, so the key no longer works",
            ));
        }
        let owner = self.shared.with_state(|s| store::account(s.conn(), user))?;
        match owner {
            Some(row) => Ok(k.role.min(row.role)),
            None => Err(WireError::new(
                ErrorCode::Unauthenticated,
                "the API key's owner no longer has web access, so the key no longer works",
            )),
        }
    }

    /// A refused login: counted per account and per address, audited with the real reason. An
    /// admitted attempt's slot becomes the counted failure under the same lock, so no other
    /// attempt slips into the gap.
    fn login_failed(
        &self,
        attempt: Option<LoginAttempt>,
        action: &str,
        user: &str,
        source: Source,
        reason: &str,
        message: &str,
    ) -> WireError {
        let t = now();
        let started_lockout = {
            let mut sessions = self.shared.web.sessions();
            if let Some(mut a) = attempt {
                a.open = false;
                sessions.end_attempt(&a.user, a.source);
            }
            sessions.failed(user, source.0, t)
        };
        let args = serde_json::json!({ "user": user, "source": source.0.to_string(), "reason": reason });
        self.audit(&format!("{user}@web"), action, args, "refused", Some(ErrorCode::Unauthenticated));
        tracing::warn!(message_id = MSG_WEB_LOGIN_FAILED, user, source = %source.0, reason, "web login refused");
        if started_lockout {
            let reason = "too many failed logins";
            tracing::warn!(
                message_id = MSG_WEB_LOGIN_LOCKED_OUT,
                user,
                source = %source.0,
                reason,
                "too many failed logins: locked for a while"
            );
        }
        WireError::new(ErrorCode::Unauthenticated, message)
    }

    /// Admits a password check, counted before the (slow) check is awaited (M3): refused while
    /// the account or address is locked out, or while as many checks are under way as failures
    /// may still happen before the lockout. Success frees the slot (the guard is dropped).
    fn begin_attempt(&self, action: &str, user: &str, source: Source) -> Result<LoginAttempt, WireError> {
        let t = now();
        let admitted = self.shared.web.sessions().begin_attempt(user, source.0, t);
        let (reason, message) = match admitted {
            Ok(()) => {
                return Ok(LoginAttempt {
                    shared: Arc::clone(&self.shared),
                    user: user.to_owned(),
                    source: source.0,
                    open: true,
                });
            }
            Err(Refused::LockedUntil(until)) => (
                "locked out",
                format!(
                    "too many failed logins for this account or from this address: try again in {} s (after {})",
                    until - t,
                    sessions::rfc3339(until)
                ),
            ),
            Err(Refused::Busy) => (
                "too many attempts under way",
                "too many logins for this account or from this address are being checked right now: try again in a few seconds".to_owned(),
            ),
        };
        let args = serde_json::json!({ "user": user, "source": source.0.to_string(), "reason": reason });
        self.audit(&format!("{user}@web"), action, args, "refused", Some(ErrorCode::LockedOut));
        tracing::warn!(message_id = MSG_WEB_LOGIN_LOCKED_OUT, user, source = %source.0, reason, "web login refused");
        Err(WireError::new(ErrorCode::LockedOut, message))
    }

    fn check_lockout(&self, action: &str, user: &str, source: Source) -> Result<(), WireError> {
        let t = now();
        let Some(until) = self.shared.web.sessions().locked_until(user, source.0, t) else {
            return Ok(());
        };
        let args = serde_json::json!({ "user": user, "source": source.0.to_string(), "reason": "locked out" });
        self.audit(&format!("{user}@web"), action, args, "refused", Some(ErrorCode::LockedOut));
        tracing::warn!(
            message_id = MSG_WEB_LOGIN_LOCKED_OUT,
            user,
            source = %source.0,
            reason = "locked out",
            "web login refused"
        );
        Err(WireError::new(
            ErrorCode::LockedOut,
            format!(
                "too many failed logins for this account or from this address: try again in {} s (after {})",
                until - t,
                sessions::rfc3339(until)
            ),
        ))
    }

    /// A second factor for an enrolled account: a TOTP code for a step not used yet (recorded
    /// atomically, so two logins racing with one code cannot both pass), or a recovery code,
    /// which is used up.
    fn use_code(&self, row: &store::AccountRow, offered: &str) -> Result<bool, WireError> {
        let user = row.user.as_str();
        if offered.len() == 6 {
            let secret = row.totp_secret.as_deref().unwrap_or_default();
            return match totp::matching_step(secret, offered, now(), row.totp_last_step) {
                Some(step) => self.shared.with_state(|s| store::record_step(s.conn(), user, step)),
                None => Ok(false),
            };
        }
        let h = totp::hash(offered);
        self.shared.with_state(|s| store::spend_recovery(s.conn(), user, &h))
    }

    fn enroll(&self, user: &str) -> Result<TotpEnrollment, WireError> {
        let secret = totp::new_secret();
        self.shared.with_state(|s| store::begin_enrollment(s.conn(), user, &secret))?;
        Ok(TotpEnrollment { secret: totp::base32(&secret), uri: totp::uri(&secret, user) })
    }
}

/// A grant undone because its audit entry could not be written.
fn unaudited(what: &str, e: WireError) -> WireError {
    WireError::new(
        e.code,
        format!("the {what} could not be written to the audit log, so it was not completed: {}", e.message),
    )
}

fn expired() -> WireError {
    WireError::new(ErrorCode::Unauthenticated, "not logged in, or the session has ended: log in again")
}

impl WebGate for WebGateServer {
    async fn setup_needed(self, _: Context) -> bool {
        self.shared.with_state(|s| setup_needed(s.conn())).unwrap_or(false)
    }

    async fn setup(self, _: Context, req: SetupRequest) -> Result<PasswordAccepted, WireError> {
        let user = req.user.to_string();
        self.check_lockout("web.setup", "setup", req.source)?;
        if !self.shared.with_state(|s| setup_needed(s.conn()))? {
            let e = WireError::not_allowed("CoreNAS is set up already: log in instead");
            self.audit("setup@web", "web.setup", serde_json::json!({ "user": user }), "refused", Some(e.code));
            return Err(e);
        }
        if !self.shared.web.setup_token_matches(&req.token) {
            return Err(self.login_failed(
                None,
                "web.setup",
                "setup",
                req.source,
                "wrong setup token",
                "the setup token is wrong: print the current one with `corenas-ctl system setup-token` on the server",
            ));
        }
        // Setup must not happen unrecorded (L4): refused up front when no entry could be written.
        self.shared.state_writable()?;
        // The first administrator is created through the ordinary user path (policy, helper,
        // audit), as the setup principal.
        let setup = CorenasService {
            shared: Arc::clone(&self.shared),
            principal: Principal {
                name: "setup@web".into(),
                channel: "web",
                peer_uid: self.peer_uid,
                role: Role::Admin,
            },
        };
        let add = UserAdd {
            name: req.user.clone(),
            kind: AccountKind::Admin,
            uid: None,
            full_name: req.full_name.clone(),
            shell: None,
            create_home: true,
            groups: vec![],
            password: Some(req.password.clone()),
            generate_password: false,
        };
        let request = CorenasRequest::UserAdd { req: add, dry_run: false };
        match setup.serve(tarpc::context::current(), request).await {
            Ok(CorenasResponse::UserAdd(r)) => r.map(|_| ())?,
            Ok(_) => return Err(WireError::internal("user add answered with another method's response")),
            Err(e) => return Err(WireError::internal(format!("request failed: {e}"))),
        }
        self.shared.with_state(|s| store::set_role(s.conn(), &user, Role::Admin))?;
        let enrollment = self.enroll(&user)?;
        let ticket = self.shared.web.sessions().issue_ticket(&user, Role::Admin, true, now());
        if let Err(e) = self.audit_required("setup@web", "web.setup", serde_json::json!({ "user": user }), "ok", None) {
            // Without its entry setup does not go on: the ticket that would finish it is gone
            // (the account itself was audited as `user.add`; setup stays open).
            self.shared.web.sessions().take_ticket(&ticket);
            return Err(unaudited("setup", e));
        }
        Ok(PasswordAccepted::Enroll { ticket, enrollment })
    }

    async fn login(
        self,
        _: Context,
        user: UserName,
        password: LoginPassword,
        source: Source,
    ) -> Result<PasswordAccepted, WireError> {
        let name = user.to_string();
        // A login that could not be audited is not begun (L4).
        self.shared.state_writable()?;
        let attempt = self.begin_attempt("web.login", &name, source)?;
        // The password is checked even when the account has no web role, so that the answer
        // takes as long either way.
        let checked = self.shared.helper.connect().await?.password_check(user, password).await?;
        let row = self.shared.with_state(|s| store::account(s.conn(), &name))?;
        let reason = match (checked, &row) {
            (PasswordCheck::Valid, Some(_)) => None,
            (PasswordCheck::Valid, None) => Some("no web role"),
            (PasswordCheck::Wrong, _) => Some("wrong password"),
            (PasswordCheck::Locked, _) => Some("account locked"),
            (PasswordCheck::Expired, _) => Some("account expired"),
            (PasswordCheck::NotAdmin, _) => Some("not an administrator account"),
        };
        let (Some(row), None) = (row, reason) else {
            return Err(self.login_failed(
                Some(attempt),
                "web.login",
                &name,
                source,
                reason.unwrap_or("?"),
                WRONG_LOGIN,
            ));
        };
        drop(attempt);
        if row.totp_confirmed {
            let ticket = self.shared.web.sessions().issue_ticket(&name, row.role, false, now());
            Ok(PasswordAccepted::NeedCode { ticket })
        } else {
            let enrollment = self.enroll(&name)?;
            let ticket = self.shared.web.sessions().issue_ticket(&name, row.role, false, now());
            self.audit(&format!("{name}@web"), "web.totp_enroll", serde_json::json!({ "user": name }), "ok", None);
            Ok(PasswordAccepted::Enroll { ticket, enrollment })
        }
    }

    async fn login_code(
        self,
        _: Context,
        ticket: WebToken,
        code: SecondFactor,
        source: Source,
    ) -> Result<SessionGrant, WireError> {
        let t = now();
        let Some(tk) = self.shared.web.sessions().ticket(&ticket, t) else {
            return Err(WireError::new(
                ErrorCode::Unauthenticated,
                "this login has expired (5 minutes) or had too many wrong codes: enter the password again",
            ));
        };
        let user = tk.user.clone();
        // No session without its audit entry (L4): refused up front when none could be written,
        // and ended again below if the entry still fails.
        self.shared.state_writable()?;
        // Locked per account and per address, as at the password step.
        self.check_lockout("web.login", &user, source)?;
        let row = self.shared.with_state(|s| store::account(s.conn(), &user))?.ok_or_else(expired)?;
        let secret = row.totp_secret.clone().unwrap_or_default();
        let offered = code.expose();
        let mut recovery_codes = Vec::new();
        let accepted = if row.totp_confirmed {
            self.use_code(&row, offered)?
        } else {
            // Enrollment: the first code of the new secret confirms it.
            match totp::matching_step(&secret, offered, t, row.totp_last_step).filter(|_| offered.len() == 6) {
                Some(step) => {
                    let (codes, hashes) = totp::recovery_codes();
                    self.shared.with_state(|s| store::confirm_enrollment(s.conn(), &user, step, &hashes))?;
                    recovery_codes = codes;
                    if tk.from_setup || tk.role == Role::Admin {
                        // Setup is over for good (L5), whatever happens to this admin later.
                        self.shared.with_state(|s| crate::web::mark_setup_done(s.conn()))?;
                        self.shared.web.end_setup();
                    }
                    true
                }
                None => false,
            }
        };
        if !accepted {
            self.shared.web.sessions().ticket_failed(&ticket);
            return Err(self.login_failed(
                None,
                "web.login",
                &user,
                source,
                "wrong code",
                "the code is wrong or was used already: enter the current code from your authenticator app",
            ));
        }
        let (token, session) = {
            let mut s = self.shared.web.sessions();
            s.take_ticket(&ticket);
            s.succeeded(&user);
            s.create(&user, row.role, source, t).map_err(|why| WireError::new(ErrorCode::Busy, why))?
        };
        let args = serde_json::json!({ "user": user, "source": source.0.to_string(), "session": session.id,
            "enrolled": !recovery_codes.is_empty() });
        if let Err(e) = self.audit_required(&format!("{user}@web"), "web.login", args, "ok", None) {
            self.shared.web.sessions().end(&token);
            return Err(unaudited("login", e));
        }
        Ok(SessionGrant { token, session: session.info(true), recovery_codes })
    }

    async fn logout(self, _: Context, session: WebToken) -> Result<(), WireError> {
        let ended = self.shared.web.sessions().end(&session).ok_or_else(expired)?;
        let args = serde_json::json!({ "session": ended.id });
        self.audit(&format!("{}@web", ended.user), "web.logout", args, "ok", None);
        Ok(())
    }

    async fn whoami(self, _: Context, cred: Credential) -> Result<SessionInfo, WireError> {
        self.resolve(&cred).await.map(|(_, info)| info)
    }

    async fn peek(self, _: Context, cred: Credential) -> Result<SessionInfo, WireError> {
        self.resolve_as(&cred, false).await.map(|(_, info)| info)
    }

    async fn session_list(self, _: Context, cred: Credential) -> Result<Vec<SessionInfo>, WireError> {
        let (p, me) = self.resolve(&cred).await?;
        let all = self.shared.web.sessions().list(now());
        Ok(all
            .into_iter()
            .filter(|s| p.role == Role::Admin || s.user == me.user)
            .map(|s| {
                let current = me.via == "session" && s.id == me.id;
                s.info(current)
            })
            .collect())
    }

    async fn session_revoke(self, _: Context, cred: Credential, id: String) -> Result<(), WireError> {
        let (p, me) = self.resolve(&cred).await?;
        let args = serde_json::json!({ "session": id });
        let mut sessions = self.shared.web.sessions();
        let target = sessions.list(now()).into_iter().find(|s| s.id == id);
        let r = match target {
            None => {
                Err(WireError::not_found(format!("no open session with id '{}'", corenas_proto::names::shown(&id))))
            }
            Some(s) if p.role != Role::Admin && s.user != me.user => {
                Err(WireError::not_allowed("only administrators may end other people's sessions"))
            }
            Some(_) => {
                sessions.revoke_id(&id);
                Ok(())
            }
        };
        drop(sessions);
        let word = if r.is_ok() { "ok" } else { "refused" };
        self.audit(&p.name, "web.session_revoke", args, word, r.as_ref().err().map(|e| e.code));
        r
    }

    async fn password_change(
        self,
        _: Context,
        session: WebToken,
        current: LoginPassword,
        new: corenas_proto::secret::Password,
    ) -> Result<(), WireError> {
        let (p, me) = self.resolve(&Credential::Session(session)).await?;
        let user: UserName = me.user.parse()?;
        let args = serde_json::json!({ "user": me.user });
        // A stolen session must not be a way to guess the password (L6): the current password
        // counts towards the login lockout, per account and per address of the session.
        let source = Source(me.source.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let attempt = self.begin_attempt("web.password_change", &me.user, source)?;
        let h = self.shared.helper.connect().await?;
        if h.password_check(user.clone(), current).await? != PasswordCheck::Valid {
            return Err(self.login_failed(
                Some(attempt),
                "web.password_change",
                &me.user,
                source,
                "wrong current password",
                "the current password is wrong",
            ));
        }
        drop(attempt);
        self.shared.state_writable()?;
        let op = corenas_proto::helper::HelperOp::UserSetPassword { name: user, password: new };
        let r = h.run_ops(vec![op], false).await.map(drop);
        if r.is_ok() {
            // Whoever holds an older session (the reason to change a password) is out now.
            self.shared.web.sessions().end_others_of(&me.user, &me.id);
        }
        let word = if r.is_ok() { "ok" } else { "failed" };
        let audited = self.audit_required(&p.name, "web.password_change", args, word, r.as_ref().err().map(|e| e.code));
        match (r, audited) {
            // Changed, unrecorded: a password cannot be changed back, so the caller is told (as
            // `DaemonServer::change` tells of any change it could not audit) and the journal
            // has the error.
            (Ok(()), Err(e)) => Err(WireError::new(
                e.code,
                format!(
                    "the password was changed, but the change could not be written to the audit log: {}",
                    e.message
                ),
            )),
            (r, _) => r,
        }
    }

    async fn totp_renew_begin(
        self,
        _: Context,
        session: WebToken,
        code: SecondFactor,
    ) -> Result<TotpEnrollment, WireError> {
        let (p, me) = self.resolve(&Credential::Session(session)).await?;
        let user = me.user.clone();
        // A stolen session must not be a way to guess codes: renewal codes count towards the
        // same lockout as login codes, per account and per address of the session.
        let source = Source(me.source.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])));
        self.check_lockout("web.totp_renew", &user, source)?;
        let row = self.shared.with_state(|s| store::account(s.conn(), &user))?.ok_or_else(expired)?;
        let proven = row.totp_confirmed && self.use_code(&row, code.expose())?;
        let args = serde_json::json!({ "user": user });
        if !proven || !row.totp_confirmed {
            return Err(self.login_failed(
                None,
                "web.totp_renew",
                &user,
                source,
                "wrong code",
                "the code is wrong or was used already: enter the current code from your authenticator app",
            ));
        }
        let fresh = totp::new_secret();
        self.shared.with_state(|s| store::set_pending(s.conn(), &user, &fresh))?;
        self.audit(&p.name, "web.totp_renew", args, "ok", None);
        Ok(TotpEnrollment { secret: totp::base32(&fresh), uri: totp::uri(&fresh, &user) })
    }

    async fn totp_renew_finish(
        self,
        _: Context,
        session: WebToken,
        code: SecondFactor,
    ) -> Result<Vec<String>, WireError> {
        let (p, me) = self.resolve(&Credential::Session(session)).await?;
        let user = me.user.clone();
        let args = serde_json::json!({ "user": user });
        let pending = self.shared.with_state(|s| store::pending(s.conn(), &user))?.ok_or_else(|| {
            WireError::new(ErrorCode::InvalidState, "no renewal is under way: start it with the current code")
        })?;
        let Some(step) = totp::matching_step(&pending, code.expose(), now(), 0) else {
            let e = WireError::new(
                ErrorCode::Unauthenticated,
                "the code does not match the new secret: enter the code the app shows for it",
            );
            self.audit(&p.name, "web.totp_renew_finish", args, "refused", Some(e.code));
            return Err(e);
        };
        let (codes, hashes) = totp::recovery_codes();
        self.shared.with_state(|s| store::finish_renewal(s.conn(), &user, step, &hashes))?;
        // A new authenticator (a lost or stolen phone) ends every other session of the account.
        self.shared.web.sessions().end_others_of(&user, &me.id);
        self.audit(&p.name, "web.totp_renew_finish", args, "ok", None);
        Ok(codes)
    }

    async fn watch(
        self,
        ctx: Context,
        cred: Credential,
        request: CorenasRequest,
    ) -> Result<CorenasResponse, WireError> {
        let (principal, _) = self.resolve_as(&cred, false).await?;
        if !Method::of(&request).page_may_watch() {
            return Err(WireError::not_allowed("watch is for reads; changes go through call"));
        }
        let server = CorenasService { shared: Arc::clone(&self.shared), principal };
        server.serve(ctx, request).await.map_err(|e| WireError::internal(format!("request failed: {e}")))
    }

    async fn call(self, ctx: Context, cred: Credential, request: CorenasRequest) -> Result<CorenasResponse, WireError> {
        let (principal, _) = self.resolve(&cred).await?;
        let server = CorenasService { shared: Arc::clone(&self.shared), principal };
        server.serve(ctx, request).await.map_err(|e| WireError::internal(format!("request failed: {e}")))
    }
}
