//! Login passwords. Only accounts in the admin range may log in at all, however checked.
//!
//! - Production (`--root /`): PAM, the `corenas` service (`/etc/pam.d/corenas`, shipped by the
//!   package: common-auth and common-account), so whatever the admin stacks there (pam_unix,
//!   sssd, faillock) applies. The helper's binary is static and cannot load PAM modules itself,
//!   so it runs Debian's `pamtester` with the password on stdin (never argv).
//! - The lab (a root prefix): the prefix's shadow file with the system's own crypt(3) from
//!   libxcrypt, so every hash the account tools write (yescrypt, SHA-512 crypt, ...) is
//!   understood; a locked or expired account never matches. No program is run.

use super::Ctx;
use super::accounts::Accounts;
use crate::exec::{self, Invocation, Program};
use corenas_proto::WireError;
use corenas_proto::helper::PasswordCheck;
use corenas_proto::names::{AccountKind, UserName};
use corenas_proto::web::LoginPassword;

/// Hashed when there is nothing to compare with, so that an unknown account takes as long to
/// refuse as a wrong password (no telling which accounts exist by the time an answer takes).
const DUMMY_HASH: &str = "$y$j9T$OVbO30LwdODz8G9Kiq436/$gNBhZRbuOP8w04rNepw8ISoknoVAOskU/O/xOOPzXK9";

/// How passwords are checked: see the module's comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    Pam,
    Shadow,
}

/// The PAM service CoreNAS logins use.
pub const PAM_SERVICE: &str = "corenas";

/// Password checks run at once, at most: each is a root `pamtester` (or 16 MiB of yescrypt) that
/// may sit for seconds in PAM's failure delay, and corenasd serves requests concurrently, so
/// without a bound a burst of guesses is a burst of root processes (M3).
pub const MAX_CONCURRENT_CHECKS: usize = 4;
/// How long a check waits for a free slot before it is refused. Legitimate logins are a few at
/// a time and wait briefly; a flood is answered with E_BUSY instead of piling up.
const CHECK_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_CHECKS);

/// A slot for one password check, held while it runs.
pub async fn check_slot() -> Result<tokio::sync::SemaphorePermit<'static>, WireError> {
    match tokio::time::timeout(CHECK_QUEUE_WAIT, CHECKS.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(WireError::internal("the password-check limiter is closed")),
        Err(_) => Err(WireError::new(
            corenas_proto::ErrorCode::Busy,
            format!(
                "{MAX_CONCURRENT_CHECKS} password checks are running and more are waiting: try again in a few seconds"
            ),
        )),
    }
}

fn is_admin(ctx: &Ctx, user: &UserName) -> Result<bool, WireError> {
    let accounts = Accounts::load(ctx)?;
    Ok(accounts.user(user.as_str()).is_some_and(|e| AccountKind::of_id(e.uid) == Some(AccountKind::Admin)))
}

/// Through PAM: `auth` (the password) then `account` (expired, locked by policy). pamtester
/// reads the password from stdin and says which step failed on stderr.
///
/// A name outside the admin range gets the same PAM conversation, for [`NO_SUCH_PAM_USER`] and
/// a fixed password, and its answer is dropped (L2): refusing it at once while an admin name
/// with a wrong password waits out PAM's failure delay (pam_unix: about 2 s) would tell an
/// attacker which names are administrators, and those are the accounts worth guessing.
pub async fn check_pam(ctx: &Ctx, user: &UserName, password: &LoginPassword) -> Result<PasswordCheck, WireError> {
    if !is_admin(ctx, user)? {
        let _ = pamtester(NO_SUCH_PAM_USER, b"corenas-not-an-admin\n".to_vec()).await;
        return Ok(PasswordCheck::NotAdmin);
    }
    let mut line = password.expose().as_bytes().to_vec();
    line.push(b'\n');
    pamtester(user.as_str(), line).await
}

/// The user the `NotAdmin` path asks PAM about: longer than any account name Linux tools or
/// CoreNAS accept (32), so it never exists, and not starting with '-' or '+' (pam_unix refuses
/// those before it sets its failure delay). pam_unix answers an unknown user after the same
/// delay as a wrong password.
pub const NO_SUCH_PAM_USER: &str = "corenas-login-timing-equaliser-no-such-user";

async fn pamtester(user: &str, line: Vec<u8>) -> Result<PasswordCheck, WireError> {
    let cmd = Invocation::of(Program::PamTester)
        .args([PAM_SERVICE, user, "authenticate", "acct_mgmt"])
        .secret("the login password", line);
    let (status, out) = exec::run_raw(&cmd, PAM_TIMEOUT).await?;
    Ok(pam_outcome(status, &String::from_utf8_lossy(&out.stdout), &String::from_utf8_lossy(&out.stderr)))
}

/// A PAM conversation may wait (pam_faildelay, a slow directory server), but not for ever.
const PAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// pamtester's verdict: exit 0 when both steps passed. Otherwise, when stdout says the password
/// was accepted, the account step refused (the modules' own message, such as pam_unix's "Your
/// account has expired", comes on stderr); else the password was wrong, or the account is
/// locked, which PAM does not tell apart from a wrong password, and neither does CoreNAS.
fn pam_outcome(status: Option<i32>, stdout: &str, stderr: &str) -> PasswordCheck {
    if status == Some(0) {
        return PasswordCheck::Valid;
    }
    if stdout.contains("successfully authenticated") {
        let text = stderr.to_ascii_lowercase();
        return if text.contains("expired") { PasswordCheck::Expired } else { PasswordCheck::Locked };
    }
    PasswordCheck::Wrong
}

pub fn check(ctx: &Ctx, user: &UserName, password: &LoginPassword) -> Result<PasswordCheck, WireError> {
    if !is_admin(ctx, user)? {
        let _ = crypt(password.expose(), DUMMY_HASH);
        return Ok(PasswordCheck::NotAdmin);
    }
    let shadow = std::fs::read_to_string(ctx.paths.shadow())
        .map_err(|e| WireError::internal(format!("cannot read {}: {e}", ctx.paths.shadow().display())))?;
    let Some(line) = shadow.lines().find(|l| l.split(':').next() == Some(user.as_str())) else {
        return Ok(PasswordCheck::Locked);
    };
    let fields: Vec<&str> = line.split(':').collect();
    let hash = fields.get(1).copied().unwrap_or("");
    if !hash.starts_with('$') {
        // "!...", "*", "" : locked, no password, or a DES hash CoreNAS never writes.
        return Ok(PasswordCheck::Locked);
    }
    if let Some(expire) = fields.get(7).and_then(|f| f.parse::<u64>().ok()) {
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0);
        if expire <= today {
            return Ok(PasswordCheck::Expired);
        }
    }
    match crypt(password.expose(), hash) {
        Some(computed) if constant_time_eq(computed.as_bytes(), hash.as_bytes()) => Ok(PasswordCheck::Valid),
        Some(_) => Ok(PasswordCheck::Wrong),
        None => Err(WireError::internal(format!("the system's crypt cannot check the password hash of '{user}'"))),
    }
}

#[cfg(test)]
mod pam_tests {
    use super::*;

    /// pamtester 0.1.2 (Debian 12) with common-auth/common-account, as captured on this
    /// machine: a good password, a wrong one, an expired account with the right password.
    #[test]
    fn pamtester_verdicts() {
        let ok = "pamtester: successfully authenticated\npamtester: account management done.\n";
        assert_eq!(pam_outcome(Some(0), ok, "Password: "), PasswordCheck::Valid);
        assert_eq!(pam_outcome(Some(1), "", "Password: pamtester: Authentication failure\n"), PasswordCheck::Wrong);
        let expired = "Password: Your account has expired; please contact your system administrator.\npamtester: Authentication failure\n";
        let authed = "pamtester: successfully authenticated\n";
        assert_eq!(pam_outcome(Some(1), authed, expired), PasswordCheck::Expired);
        assert_eq!(pam_outcome(Some(1), authed, "pamtester: Permission denied\n"), PasswordCheck::Locked);
        assert_eq!(pam_outcome(None, "", ""), PasswordCheck::Wrong, "killed at the timeout");
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[link(name = "crypt")]
unsafe extern "C" {
    /// libxcrypt: hashes `phrase` with `setting` (a whole stored hash works as the setting)
    /// into `data`, which must hold a `struct crypt_data`; NULL on failure.
    fn crypt_rn(
        phrase: *const std::ffi::c_char,
        setting: *const std::ffi::c_char,
        data: *mut std::ffi::c_void,
        size: std::ffi::c_int,
    ) -> *mut std::ffi::c_char;
}

/// `struct crypt_data` is 34,432 bytes in libxcrypt 4.4; crypt_rn checks the size we pass.
const CRYPT_DATA_SIZE: usize = 64 * 1024;

fn crypt(phrase: &str, setting: &str) -> Option<String> {
    let phrase = std::ffi::CString::new(phrase).ok()?;
    let setting = std::ffi::CString::new(setting).ok()?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    let size = std::ffi::c_int::try_from(data.len()).ok()?;
    // SAFETY: both strings are NUL-terminated and live across the call; `data` is a writable
    // buffer of `size` bytes, zeroed as crypt_rn requires, and outlives the returned pointer's use.
    let out = unsafe { crypt_rn(phrase.as_ptr(), setting.as_ptr(), data.as_mut_ptr().cast(), size) };
    if out.is_null() {
        return None;
    }
    // SAFETY: on success crypt_rn returns a NUL-terminated string inside `data`.
    let hashed = unsafe { std::ffi::CStr::from_ptr(out) }.to_str().ok()?.to_owned();
    // libxcrypt signals some failures with a "*0"/"*1" string instead of NULL.
    (!hashed.starts_with('*')).then_some(hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypt_reproduces_system_hashes() {
        // A yescrypt hash made by Debian's mkpasswd for "Secret-pass1", and SHA-512 crypt.
        let y = "$y$j9T$OVbO30LwdODz8G9Kiq436/$gNBhZRbuOP8w04rNepw8ISoknoVAOskU/O/xOOPzXK9";
        assert_eq!(crypt("Secret-pass1", y).as_deref(), Some(y));
        assert_ne!(crypt("Secret-pass2", y).as_deref(), Some(y));
        let six = crypt("Secret-pass1", "$6$saltsalt$").unwrap();
        assert!(six.starts_with("$6$saltsalt$"));
        assert_eq!(crypt("Secret-pass1", &six).as_deref(), Some(six.as_str()));
        assert_eq!(crypt("x", "$zz$unknown$"), None, "an unknown method is a failure, not a hash");
    }
}
