//! Export files (`log export --output`, `archive export --output`): created 0600, never over an
//! existing file, synced before the command says it is done.
//!
//! Writes no format itself; the group streams its entries into the file.

use crate::error::CtlError;
use corenas_proto::{ErrorCode, WireError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A new file for an export, mode 0600. O_EXCL: never overwrite, never follow a symlink planted
/// where the export goes.
pub(crate) fn create_export_file(path: &Path) -> Result<io::BufWriter<std::fs::File>, CtlError> {
    let file = std::fs::File::options().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        let code =
            if e.kind() == io::ErrorKind::AlreadyExists { ErrorCode::AlreadyExists } else { ErrorCode::Internal };
        CtlError::failed(code, format!("cannot create {}: {e}; the export never overwrites a file", path.display()))
    })?;
    Ok(io::BufWriter::new(file))
}

/// Flushes and syncs an export file; any failure, the export's own included, says the file is
/// incomplete.
pub(crate) fn finish_export_file<S>(
    out: io::BufWriter<std::fs::File>,
    written: Result<S, CtlError>,
    path: &Path,
) -> Result<S, CtlError> {
    let synced = out
        .into_inner()
        .map_err(io::IntoInnerError::into_error)
        .and_then(|f| f.sync_all())
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")));
    written.and_then(|s| synced.map(|()| s)).map_err(|e| {
        let wire = e.wire();
        CtlError::Failed(WireError { message: format!("{} ({} is incomplete)", wire.message, path.display()), ..wire })
    })
}
