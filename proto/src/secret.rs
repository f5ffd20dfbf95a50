//! Passwords. A `Password` is never `Debug`- or `Display`-printed, and it serializes to
//! `"<redacted>"` for every human-readable format (JSON logs, audit arguments, `--json`), so only
//! the binary wire format carries the secret. See docs/decisions/0003-secrets-on-the-wire.md.

use crate::error::ValidationError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

pub const REDACTED: &str = "<redacted>";
pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;
/// The special characters the policy counts, and the generator draws from.
pub const SPECIALS: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";

#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The policy from the specification: 12–128 printable ASCII characters with at least one
    /// upper-case letter, lower-case letter, digit and special character. CR, LF and NUL are
    /// refused because the tools read the password line by line from stdin.
    pub fn new(s: String) -> Result<Self, ValidationError> {
        let fail = |why: &str| {
            ValidationError::new(
                "password",
                format!(
                    "password is invalid: {why}; use {MIN_LEN}-{MAX_LEN} printable ASCII characters with at least one upper-case letter, one lower-case letter, one digit and one special character"
                ),
            )
        };
        if s.len() > MAX_LEN {
            return Err(fail("too long"));
        }
        if s.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(fail("it contains a control or non-ASCII character"));
        }
        if s.len() < MIN_LEN {
            return Err(fail("too short"));
        }
        let has = |f: fn(&u8) -> bool| s.as_bytes().iter().any(f);
        if !has(u8::is_ascii_uppercase) {
            return Err(fail("no upper-case letter"));
        }
        if !has(u8::is_ascii_lowercase) {
            return Err(fail("no lower-case letter"));
        }
        if !has(u8::is_ascii_digit) {
            return Err(fail("no digit"));
        }
        if !s.chars().any(|c| !c.is_ascii_alphanumeric()) {
            return Err(fail("no special character"));
        }
        Ok(Self(s))
    }

    /// The secret itself, for writing to a child's stdin. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl std::str::FromStr for Password {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(REDACTED) } else { s.serialize_str(&self.0) }
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

/// A password for someone else's server (a CIFS mount). CoreNAS's policy does not apply (the
/// other server chose it); only what the credentials file format needs: 1-256 printable ASCII
/// characters, so no line break can add a key. Redacted like [`Password`].
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSecret(String);

impl RemoteSecret {
    pub fn new(s: String) -> Result<Self, ValidationError> {
        if s.is_empty() || s.len() > 256 || s.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(ValidationError::new(
                "password",
                "remote password is invalid: use 1-256 printable ASCII characters (no line breaks or control characters)",
            ));
        }
        Ok(Self(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RemoteSecret {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for RemoteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for RemoteSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(REDACTED) } else { s.serialize_str(&self.0) }
    }
}

impl<'de> Deserialize<'de> for RemoteSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(Password::new("Correct-Horse-9".into()).is_ok());
        for (bad, why) in [
            ("Short-1a", "too short"),
            ("alllowercase-123", "upper-case"),
            ("ALLUPPERCASE-123", "lower-case"),
            ("NoDigitsHere-abc", "digit"),
            ("NoSpecials123abc", "special"),
            ("old\nNew-password-1", "control"),
            ("Nul\0Password-1234", "control"),
        ] {
            let e = Password::new(bad.into()).unwrap_err();
            assert_eq!(e.field, "password");
            assert!(e.message.contains(why), "{bad}: {}", e.message);
            assert!(!e.message.contains(bad), "the message must not echo the password");
        }
    }

    #[test]
    fn never_printed_in_readable_formats() {
        let p = Password::new("Correct-Horse-9".into()).unwrap();
        assert_eq!(format!("{p:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"<redacted>\"");
        let bin = postcard::to_stdvec(&p).unwrap();
        let back: Password = postcard::from_bytes(&bin).unwrap();
        assert_eq!(back.expose(), "Correct-Horse-9");
    }
}
