//! How a command can fail, and the exit code each failure maps to. The wire error is kept whole
//! so `--json` can print its stable code and field.

use corenas_proto::{ErrorCode, ValidationError, WireError};
use std::fmt;

/// Exit codes: 0 ok, 1 refused or failed, 2 usage, 130 interrupted at a prompt.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug)]
pub enum CtlError {
    /// Refused by corenasd, or failed on the way there (exit 1).
    Failed(WireError),
    /// The command cannot run as given, found after clap accepted it (exit 2), e.g. a password
    /// is required but there is neither a terminal nor `--password-stdin`.
    Usage(WireError),
    /// A signal arrived while a password was being typed (exit 130).
    Interrupted,
}

impl CtlError {
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed(WireError::new(code, message))
    }

    pub fn usage(field: &str, message: impl Into<String>) -> Self {
        Self::Usage(WireError::invalid(field, message))
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => EXIT_FAILED,
            Self::Usage(_) => EXIT_USAGE,
            Self::Interrupted => EXIT_INTERRUPTED,
        }
    }

    /// The error as it crosses into output: code, message, field.
    pub fn wire(&self) -> WireError {
        match self {
            Self::Failed(e) | Self::Usage(e) => e.clone(),
            Self::Interrupted => WireError::new(ErrorCode::InvalidInput, "interrupted; nothing was changed"),
        }
    }
}

impl From<WireError> for CtlError {
    fn from(e: WireError) -> Self {
        Self::Failed(e)
    }
}

/// Input read after parsing (a password) that fails validation is refused, not a usage error.
impl From<ValidationError> for CtlError {
    fn from(e: ValidationError) -> Self {
        Self::Failed(e.into())
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.wire();
        f.write_str(&e.message)?;
        if let Some(field) = &e.field {
            write!(f, " (field: {field})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CtlError {}
