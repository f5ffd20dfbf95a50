//! The web gate: what corenas-web may ask corenasd. corenas-web holds no authority of its own:
//! apart from logging in, every call carries the end user's credential (a session token or an
//! API key), and corenasd maps it to a principal and checks that principal's role at the same
//! choke point the CLI goes through (`call` wraps an ordinary `Corenas` request). The types it
//! carries are in `web.rs`.

use crate::api::{CorenasRequest, CorenasResponse};
use crate::error::WireError;
use crate::names::UserName;
use crate::secret::Password;
use crate::web::{
    Credential, LoginPassword, PasswordAccepted, SecondFactor, SessionGrant, SessionInfo, SetupRequest, Source,
    TotpEnrollment, WebToken,
};

#[tarpc::service]
pub trait WebGate {
    /// Whether CoreNAS has no administrator with a second factor yet (only setup is offered).
    async fn setup_needed() -> bool;
    /// Creates the first administrator (role admin) with the setup token; enrollment follows.
    async fn setup(req: SetupRequest) -> Result<PasswordAccepted, WireError>;
    /// First step: the system checks the password (accounts in the admin range only).
    async fn login(user: UserName, password: LoginPassword, source: Source) -> Result<PasswordAccepted, WireError>;
    /// Second step: the code (or a recovery code); for an enrollment ticket, the first code
    /// confirms the authenticator. Answers a session.
    async fn login_code(ticket: WebToken, code: SecondFactor, source: Source) -> Result<SessionGrant, WireError>;
    /// Ends the session (the token is useless afterwards).
    async fn logout(session: WebToken) -> Result<(), WireError>;
    /// Who this credential is; refreshes the idle timer like any call.
    async fn whoami(cred: Credential) -> Result<SessionInfo, WireError>;
    /// Who this credential is, for a read the page makes by itself (see `watch`): it does not
    /// restart the idle timer.
    async fn peek(cred: Credential) -> Result<SessionInfo, WireError>;
    /// The caller's own sessions (admins: every session).
    async fn session_list(cred: Credential) -> Result<Vec<SessionInfo>, WireError>;
    async fn session_revoke(cred: Credential, id: String) -> Result<(), WireError>;
    /// Changes the caller's own login password (a session only, not an API key); the current
    /// one must be given again.
    async fn password_change(session: WebToken, current: LoginPassword, new: Password) -> Result<(), WireError>;
    /// Renewing one's own authenticator (a new phone) or recovery codes: the current code (or a
    /// recovery code) proves the old one; the answer is a new secret to add to the app. The old
    /// secret keeps working until `totp_renew_finish` confirms the new one.
    async fn totp_renew_begin(session: WebToken, code: SecondFactor) -> Result<TotpEnrollment, WireError>;
    /// The first code of the new secret: it replaces the old one; the answer is ten new
    /// recovery codes (the old ones are void).
    async fn totp_renew_finish(session: WebToken, code: SecondFactor) -> Result<Vec<String>, WireError>;
    /// A read a page makes by itself (its event stream): like `call`, but it does not restart
    /// the session's idle timer, so an open tab nobody uses still logs out.
    async fn watch(cred: Credential, request: CorenasRequest) -> Result<CorenasResponse, WireError>;
    /// An ordinary daemon request, made as the credential's principal.
    async fn call(cred: Credential, request: CorenasRequest) -> Result<CorenasResponse, WireError>;
}
