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

/// One rule of the password policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    Length,
    Printable,
    Upper,
    Lower,
    Digit,
    Special,
}

impl PasswordRule {
    pub const ALL: [PasswordRule; 6] =
        [Self::Length, Self::Printable, Self::Upper, Self::Lower, Self::Digit, Self::Special];

    /// A stable name (pages mark each rule with it, for the live checklist).
    pub fn key(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Printable => "printable",
            Self::Upper => "upper",
            Self::Lower => "lower",
            Self::Digit => "digit",
            Self::Special => "special",
        }
    }

    /// What a password that breaks the rule lacks, as the error says it.
    pub fn problem(self) -> &'static str {
        match self {
            Self::Length => "not 12-128 characters long",
            Self::Printable => "it contains a control or non-ASCII character",
            Self::Upper => "no upper-case letter",
            Self::Lower => "no lower-case letter",
            Self::Digit => "no digit",
            Self::Special => "no special character",
        }
    }
}

impl Password {
    /// The policy from the specification: 12–128 printable ASCII characters with at least one
    /// upper-case letter, lower-case letter, digit and special character. CR, LF and NUL are
    /// refused because the tools read the password line by line from stdin.
    pub fn new(s: String) -> Result<Self, ValidationError> {
        let unmet = Self::unmet(&s);
        if unmet.is_empty() {
            return Ok(Self(s));
        }
        let why: Vec<&str> = unmet.iter().map(|r| r.problem()).collect();
        Err(ValidationError::new(
            "password",
            format!(
                "password is invalid: {}; use {MIN_LEN}-{MAX_LEN} printable ASCII characters with at least one upper-case letter, one lower-case letter, one digit and one special character",
                why.join(", ")
            ),
        ))
    }

    /// Every rule `s` breaks (empty: the password is acceptable), for feedback on all of them
    /// at once rather than one per try.
    pub fn unmet(s: &str) -> Vec<PasswordRule> {
        let has = |f: fn(&u8) -> bool| s.as_bytes().iter().any(f);
        PasswordRule::ALL
            .into_iter()
            .filter(|rule| match rule {
                PasswordRule::Length => !(MIN_LEN..=MAX_LEN).contains(&s.len()),
                PasswordRule::Printable => s.bytes().any(|b| !(0x20..0x7f).contains(&b)),
                PasswordRule::Upper => !has(u8::is_ascii_uppercase),
                PasswordRule::Lower => !has(u8::is_ascii_lowercase),
                PasswordRule::Digit => !has(u8::is_ascii_digit),
                PasswordRule::Special => s.bytes().all(|b| b.is_ascii_alphanumeric()),
            })
            .collect()
    }

    /// A password that satisfies the policy: 20 characters from an unambiguous alphabet, at
    /// least one of each class, from the OS's random source.
    pub fn generate() -> Result<Self, String> {
        const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
        const DIGIT: &[u8] = b"23456789";
        let classes: [&[u8]; 4] = [UPPER, LOWER, DIGIT, SPECIALS.as_bytes()];
        let all: Vec<u8> = classes.concat();
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % all.len());
        loop {
            let mut random = [0u8; 40];
            getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
            let chosen: String = random
                .iter()
                .filter(|b| usize::from(**b) < limit)
                .take(20)
                .map(|b| char::from(all[usize::from(*b) % all.len()]))
                .collect();
            if chosen.len() == 20 && classes.iter().all(|c| chosen.bytes().any(|b| c.contains(&b))) {
                return Self::new(chosen).map_err(|e| e.message);
            }
        }
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
    fn every_unmet_rule_is_named_at_once() {
        assert_eq!(
            Password::unmet("abc"),
            [PasswordRule::Length, PasswordRule::Upper, PasswordRule::Digit, PasswordRule::Special]
        );
        let e = Password::new("abc".into()).unwrap_err();
        assert!(
            e.message.contains("not 12-128 characters long, no upper-case letter, no digit, no special character"),
            "{}",
            e.message
        );
        for _ in 0..50 {
            let p = Password::generate().unwrap();
            assert_eq!(p.expose().len(), 20);
            assert!(Password::unmet(p.expose()).is_empty());
        }
    }

    #[test]
    fn policy() {
        assert!(Password::new("Correct-Horse-9".into()).is_ok());
        for (bad, why) in [
            ("Short-1a", "not 12-128 characters"),
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
