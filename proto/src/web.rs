//! The web tier's types: roles, credentials, sessions, web accounts and API keys, as both the
//! `Corenas` API (web access management) and the web gate (`web_gate.rs`) use them. This file
//! knows neither service: `api.rs` imports it, and `web_gate.rs` imports both.
//!
//! Every secret here (login password, tokens, codes) is redacted in human-readable formats, as
//! [`crate::secret::Password`] is.

use crate::error::ValidationError;
use crate::names::{FullName, UserName};
use crate::secret::Password;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What an account may do through the web and the API, assigned per admin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the metrics (`/metrics`) and nothing else: for a Prometheus server's API key.
    Metrics,
    /// Reads everything, changes nothing.
    Viewer,
    /// Imaging jobs, the archive and ejecting media; reads the rest.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Metrics, Role::Viewer, Role::Operator, Role::Admin];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ValidationError::new("role", "role is invalid: use viewer, operator or admin"))
    }
}

/// Declares a secret string newtype: validated on decode, never printed, `<redacted>` in JSON.
macro_rules! web_secret {
    ($(#[$doc:meta])* $name:ident, $validate:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: String) -> Result<Self, ValidationError> {
                let check: fn(&str) -> Result<(), ValidationError> = $validate;
                check(&s)?;
                Ok(Self(s))
            }
            /// The secret itself. Callers must not log it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s.to_owned())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(crate::secret::REDACTED)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() { s.serialize_str(crate::secret::REDACTED) } else { s.serialize_str(&self.0) }
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn hex64(field: &'static str, what: &str, s: &str) -> Result<(), ValidationError> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(ValidationError::new(field, format!("{what} is invalid: it is 64 lower-case hexadecimal characters")))
    }
}

web_secret!(
    /// A session (or a login ticket between the password and the second factor): 256 random
    /// bits, hex. corenasd keeps only its SHA-256.
    WebToken,
    |s| hex64("session", "session token", s)
);

/// The prefix that tells an API key from a session token in logs and headers.
pub const API_KEY_PREFIX: &str = "cnk_";

web_secret!(
    /// An API key for automation (`X-API-Key`): `cnk_` and 64 hex characters, shown once.
    ApiKey,
    |s| match s.strip_prefix(API_KEY_PREFIX) {
        Some(rest) => hex64("api_key", "API key", rest),
        None => Err(ValidationError::new("api_key", "API key is invalid: it is cnk_ followed by 64 hex characters")),
    }
);

web_secret!(
    /// The one-time first-run token printed by `corenas-ctl system setup-token`: four groups of
    /// four characters from A-Z and 2-7 (80 bits), e.g. `ABCD-EF23-GH45-JK67`.
    SetupToken,
    |s| {
        let ok = s.len() == 19
            && s.bytes().enumerate().all(|(i, b)| {
                if i % 5 == 4 { b == b'-' } else { b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b) }
            });
        if ok {
            Ok(())
        } else {
            Err(ValidationError::new(
                "setup_token",
                "setup token is invalid: it is four groups of four characters (A-Z, 2-7) joined by '-', as printed by `corenas-ctl system setup-token`",
            ))
        }
    }
);

web_secret!(
    /// A password offered at login. Not held to the password policy (an older password may
    /// predate it): 1-128 printable ASCII characters.
    LoginPassword,
    |s| {
        if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            Ok(())
        } else {
            Err(ValidationError::new("password", "password is invalid: use 1-128 printable ASCII characters"))
        }
    }
);

web_secret!(
    /// A second factor: six digits from the authenticator app, or one recovery code
    /// (`xxxx-xxxx-xxxx`, a-z and 2-7).
    SecondFactor,
    |s| {
        let digits = s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
        let recovery = s.len() == 14
            && s.bytes().enumerate().all(|(i, b)| {
                if i % 5 == 4 { b == b'-' } else { b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b) }
            });
        if digits || recovery {
            Ok(())
        } else {
            Err(ValidationError::new(
                "code",
                "code is invalid: enter the 6 digits your authenticator app shows, or a recovery code (xxxx-xxxx-xxxx)",
            ))
        }
    }
);

/// Where a login came from, as nginx saw it (for counting failures per source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source(pub std::net::IpAddr);

/// How a web caller proves who it is on every call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Credential {
    Session(WebToken),
    ApiKey(ApiKey),
}

/// Answer to a correct password (or to setup): the second step needs this ticket (valid for
/// five minutes, for this one account).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PasswordAccepted {
    /// Enter the code from the authenticator app.
    NeedCode { ticket: WebToken },
    /// No authenticator yet: add this secret to one, then confirm with its first code.
    Enroll { ticket: WebToken, enrollment: TotpEnrollment },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpEnrollment {
    /// Base32, as authenticator apps expect it typed in.
    pub secret: String,
    /// `otpauth://totp/...`, the content of the QR code.
    pub uri: String,
}

/// A new session. `recovery_codes` is filled once, when the authenticator was just enrolled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionGrant {
    pub token: WebToken,
    pub session: SessionInfo,
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// A short public id (not the token), for listing and revoking.
    pub id: String,
    pub user: String,
    pub role: Role,
    pub source: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub last_seen: String,
    /// When the session ends if nothing happens (idle limit), and at the latest (absolute).
    pub idle_expires: String,
    pub expires: String,
    /// Whether it is the session that asked.
    pub current: bool,
    /// "session" or "api-key".
    pub via: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebAccount {
    pub user: String,
    pub role: Role,
    pub totp_enrolled: bool,
    pub recovery_codes_left: u32,
    pub locked_until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub owner: String,
    pub role: Role,
    pub label: String,
    pub created: String,
    pub expires: String,
    pub revoked: bool,
}

/// A new API key: the key itself appears here once and is never retrievable again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyGrant {
    pub key: ApiKey,
    pub info: ApiKeyInfo,
}

/// First-run setup: the new administrator and the setup token that proves physical access.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupRequest {
    pub token: SetupToken,
    pub user: UserName,
    pub full_name: Option<FullName>,
    pub password: Password,
    pub source: Source,
}

/// Idle and absolute lifetimes of a session (the 30 min and 24 h).
pub const SESSION_IDLE_SECS: u64 = 30 * 60;
pub const SESSION_MAX_SECS: u64 = 24 * 60 * 60;
/// Failures (per account, and per source address) before logins are refused for a while.
pub const LOGIN_FAILURES_BEFORE_LOCKOUT: u32 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_validate_and_never_print() {
        let t = WebToken::new("ab".repeat(32)).unwrap();
        assert_eq!(format!("{t:?}"), "<redacted>");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"<redacted>\"");
        assert!(WebToken::new("AB".repeat(32)).is_err());
        assert!(WebToken::new("ab".repeat(31)).is_err());
        assert!(ApiKey::new(format!("cnk_{}", "0".repeat(64))).is_ok());
        assert!(ApiKey::new("0".repeat(64)).is_err());
        assert!(SetupToken::new("ABCD-EF23-GH45-JK67".into()).is_ok());
        assert!(SetupToken::new("ABCD-EF23-GH45-JK61".into()).is_err());
        assert!(SecondFactor::new("123456".into()).is_ok());
        assert!(SecondFactor::new("abcd-ef23-gh45".into()).is_ok());
        assert!(SecondFactor::new("12345".into()).is_err());
        assert!(LoginPassword::new(String::new()).is_err());
        assert!(LoginPassword::new("a\nb".into()).is_err());
        let e = SecondFactor::new("1234567".into()).unwrap_err();
        assert_eq!(e.field, "code");
        let bin = postcard::to_stdvec(&t).unwrap();
        assert_eq!(postcard::from_bytes::<WebToken>(&bin).unwrap().expose(), "ab".repeat(32));
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert_eq!("root".parse::<Role>().unwrap_err().field, "role");
    }
}
