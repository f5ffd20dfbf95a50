//! Value parsers clap uses for more than one group: ids, rates, on/off, bounded whole numbers,
//! and [`Listed`], a proto type parsed by its own `FromStr` that lists its spellings for help.
//! Also the two ways a combination of values is refused before anything is sent.
//!
//! Holds no group's arguments; a parser only one group needs lives in that group's `args`.

use crate::error::CtlError;
use clap::ValueEnum;
use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use corenas_proto::ValidationError;
use corenas_proto::names::{parse_decimal, shown};
use std::ffi::OsStr;
use std::marker::PhantomData;

/// A whole number up to `max`, for `field`; the message says what is accepted.
pub(crate) fn whole_number(
    s: &str,
    field: &'static str,
    what: &str,
    min: u32,
    max: u32,
) -> Result<u32, ValidationError> {
    parse_decimal(s).filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        ValidationError::new(field, format!("{what} '{}' is invalid: use a whole number from {min} to {max}", shown(s)))
    })
}

impl From<ObjectId> for String {
    fn from(id: ObjectId) -> String {
        id.0
    }
}

/// A job or archive id as corenasd hands them out: 1-64 of A-Z, a-z, 0-9, '_' and '-', starting
/// with a letter or digit. corenasd decides whether it exists; this only keeps option-like or
/// path-like text from being sent at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ObjectId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "id",
                format!(
                    "id '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '_', '-', starting with a letter or digit",
                    corenas_proto::names::shown(s)
                ),
            ))
        }
    }
}

/// `--max-rate`: a whole number of bytes per second, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRate(u64);

impl ByteRate {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for ByteRate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            ValidationError::new(
                "max_rate",
                format!(
                    "max rate '{}' is invalid: use a whole number of bytes per second from 1 to {}",
                    corenas_proto::names::shown(s),
                    u64::MAX
                ),
            )
        };
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(err()),
        }
    }
}

/// A proto type parsed with its own `FromStr` (so the `ValidationError` stays the error's source
/// and names the field), that also lists its few valid values for help and completions.
#[derive(Debug)]
pub struct Listed<T> {
    values: &'static [&'static str],
    _type: PhantomData<fn() -> T>,
}

impl<T> Listed<T> {
    pub fn new(values: &'static [&'static str]) -> Self {
        Self { values, _type: PhantomData }
    }
}

impl<T> Clone for Listed<T> {
    fn clone(&self) -> Self {
        Self::new(self.values)
    }
}

impl<T> TypedValueParser for Listed<T>
where
    T: std::str::FromStr<Err = ValidationError> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        StringValueParser::new().try_map(|s: String| s.parse::<T>()).parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().map(|v| PossibleValue::new(*v))))
    }
}

/// The validation error behind a refused value, when clap refused it because a proto type did.
pub fn validation_error(err: &clap::Error) -> Option<&ValidationError> {
    std::error::Error::source(err)?.downcast_ref::<ValidationError>()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Exit 2 before anything is sent when a destructive command lacks `--force` (a dry run needs
/// none: it changes nothing and shows what would happen).
pub(crate) fn needs_force(force: bool, dry_run: bool, what: String, verb: &str) -> Result<(), CtlError> {
    if force || dry_run {
        return Ok(());
    }
    Err(CtlError::usage("force", format!("{what}: add --force to {verb} (or --dry-run to see what would happen)")))
}

pub(crate) fn invalid(e: ValidationError) -> CtlError {
    CtlError::usage(e.field, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_rates_are_checked_here() {
        for ok in ["job_000001", "arc_000001", "0f3a-9b"] {
            assert!(ok.parse::<ObjectId>().is_ok(), "{ok}");
        }
        for bad in ["", "-x", "_x", "a/b", "a b", "../x", "x;y", "é", &"a".repeat(65)] {
            assert_eq!(bad.parse::<ObjectId>().unwrap_err().field, "id", "{bad:?}");
        }
        assert_eq!("18446744073709551615".parse::<ByteRate>().map(ByteRate::get), Ok(u64::MAX));
        for bad in ["0", "-1", "+5", "1e6", "10M", "18446744073709551616", " 5", ""] {
            assert_eq!(bad.parse::<ByteRate>().unwrap_err().field, "max_rate", "{bad:?}");
        }
    }
}
