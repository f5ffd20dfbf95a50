//! Errors that cross a socket: a stable machine code, a human message and, for bad input, the
//! field that was wrong. Codes never change meaning; new ones are added at the end.

use serde::{Deserialize, Serialize};

/// A value that failed validation. The message names the value and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// A value failed validation (`field` names it).
    InvalidInput,
    /// The caller may not do this (peer uid, role, or an account outside the managed ranges).
    NotAllowed,
    NotFound,
    AlreadyExists,
    /// A uid/gid outside the managed ranges, or a range with no free id left.
    OutOfRange,
    /// A program exited non-zero; the message carries its stderr (capped).
    ToolFailed,
    /// A program ran past its timeout and was killed.
    ToolTimeout,
    /// The root helper could not be reached or dropped the connection mid-request.
    HelperUnavailable,
    /// The peer speaks another protocol version or sent bytes that are not a request.
    Protocol,
    /// Stored state is inconsistent (e.g. a tampered audit chain); never retried blindly.
    StateCorrupt,
    /// A device is in use (mounted, held, the system disk) or busy with another job.
    Busy,
    /// The request does not fit the object's current state (e.g. pausing a finished job).
    InvalidState,
    /// A filesystem CoreNAS writes to is full.
    NoSpace,
    Internal,
    /// No valid session or API key, or a wrong password or code (the web answers 401).
    Unauthenticated,
    /// Too many failed logins for this account or from this address; try again later.
    LockedOut,
}

impl ErrorCode {
    /// The stable machine code printed by `--json` and stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "E_INVALID_INPUT",
            Self::NotAllowed => "E_NOT_ALLOWED",
            Self::NotFound => "E_NOT_FOUND",
            Self::AlreadyExists => "E_ALREADY_EXISTS",
            Self::OutOfRange => "E_OUT_OF_RANGE",
            Self::ToolFailed => "E_TOOL_FAILED",
            Self::ToolTimeout => "E_TOOL_TIMEOUT",
            Self::HelperUnavailable => "E_HELPER_UNAVAILABLE",
            Self::Protocol => "E_PROTOCOL",
            Self::StateCorrupt => "E_STATE_CORRUPT",
            Self::Busy => "E_BUSY",
            Self::InvalidState => "E_INVALID_STATE",
            Self::NoSpace => "E_NO_SPACE",
            Self::Internal => "E_INTERNAL",
            Self::Unauthenticated => "E_UNAUTHENTICATED",
            Self::LockedOut => "E_LOCKED_OUT",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }
    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotAllowed, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self { code: ErrorCode::InvalidInput, message: message.into(), field: Some(field.to_owned()) }
    }
}

impl From<ValidationError> for WireError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e.field, e.message)
    }
}
