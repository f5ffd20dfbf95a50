//! `config backup|restore|backups`: the configuration archive of CoreNAS itself, made and
//! restored by corenasd. The archive file is written and read here, by the user who runs
//! corenas-ctl; the passphrase comes from a file (its first line) or the terminal, never argv.
//!
//! Part of the `config` group; imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::password;
use crate::report::{Report, step_text, to_json, warnings_text};
use corenas_proto::ErrorCode;
use corenas_proto::api::Change;
use corenas_proto::config_backup::{ArchivePassphrase, LocalCopy, RestorePreview};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The request frame is 1 MiB; an archive leaves room for the rest of the call.
const ARCHIVE_MAX: u64 = 960 * 1024;

fn passphrase(file: Option<&Path>, new: bool) -> Result<ArchivePassphrase, CtlError> {
    if let Some(f) = file {
        let text = std::fs::File::open(f)
            .map_err(|e| CtlError::usage("passphrase-file", format!("cannot read {}: {e}", f.display())))?;
        return Ok(ArchivePassphrase::new(password::first_line(text)?)?);
    }
    let asked = if new {
        password::prompt_new_with("archive passphrase", ArchivePassphrase::new, ArchivePassphrase::expose)?
    } else {
        password::prompt_existing("Archive passphrase", ArchivePassphrase::new)?
    };
    asked.ok_or_else(|| CtlError::usage("passphrase", "no passphrase given: use --passphrase-file or a terminal"))
}

pub async fn backup(
    socket: &Path,
    output: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    dry_run: bool,
) -> Result<Report, CtlError> {
    if let Some(o) = output.as_ref().filter(|o| o.exists()) {
        return Err(CtlError::usage(
            "output",
            format!("{} exists; choose another name (nothing is overwritten)", o.display()),
        ));
    }
    let pass = passphrase(passphrase_file.as_deref(), true)?;
    let d = Daemon::connect(socket).await?;
    let change = call!(d, config_backup(pass, dry_run))?;
    let Some(archive) = change.result.as_ref() else {
        return Err(CtlError::failed(ErrorCode::Internal, "corenasd returned no archive"));
    };
    let m = &archive.manifest;
    let mut human = format!(
        "archive of {} made {} (CoreNAS {}, archive format {}, schema {}):\n",
        m.host, m.created, m.corenas_version, m.format, m.schema_version
    );
    for s in &m.sections {
        human.push_str(&format!("  {:<20} {:>9} bytes  sha256 {}\n", s.name, s.bytes, s.sha256));
    }
    let path = output.unwrap_or_else(|| PathBuf::from(&archive.file_name));
    if change.dry_run {
        human.push_str(&format!("dry run: nothing written; would write {}\n", path.display()));
    } else {
        let io = |e: std::io::Error| CtlError::failed(ErrorCode::Internal, format!("writing {}: {e}", path.display()));
        // create_new: never over an existing file; 0600: the archive is sealed, but it is still
        // nobody else's business.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
        f.write_all(&archive.bytes).and_then(|()| f.sync_all()).map_err(io)?;
        human.push_str(&format!(
            "written to {} ({} bytes, sealed with the passphrase)\n",
            path.display(),
            archive.bytes.len()
        ));
    }
    let json = serde_json::json!({
        "dry_run": change.dry_run,
        "file": path.display().to_string(),
        "bytes": archive.bytes.len(),
        "manifest": m,
    });
    Ok(Report::ok(human, json.to_string()))
}

pub async fn restore(
    socket: &Path,
    file: PathBuf,
    passphrase_file: Option<PathBuf>,
    dry_run: bool,
) -> Result<Report, CtlError> {
    let meta = std::fs::metadata(&file)
        .map_err(|e| CtlError::usage("file", format!("cannot read {}: {e}", file.display())))?;
    if meta.len() > ARCHIVE_MAX {
        return Err(CtlError::usage(
            "file",
            format!(
                "{} is {} bytes; a configuration archive is at most {ARCHIVE_MAX} bytes",
                file.display(),
                meta.len()
            ),
        ));
    }
    let bytes =
        std::fs::read(&file).map_err(|e| CtlError::usage("file", format!("cannot read {}: {e}", file.display())))?;
    let pass = passphrase(passphrase_file.as_deref(), false)?;
    let d = Daemon::connect(socket).await?;
    let change = call!(d, config_restore(bytes, pass, dry_run))?;
    Ok(Report::ok(restore_text(&change), to_json(&change)?))
}

pub async fn restore_local(socket: &Path, name: String, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let change = call!(d, config_restore_local(name, dry_run))?;
    Ok(Report::ok(restore_text(&change), to_json(&change)?))
}

pub fn restore_text(change: &Change<RestorePreview>) -> String {
    let mut out = String::new();
    if let Some(p) = &change.result {
        if let Some(m) = &p.manifest {
            out.push_str(&format!(
                "archive of {} made {} by CoreNAS {} (format {}, schema {})\n",
                m.host, m.created, m.corenas_version, m.format, m.schema_version
            ));
        }
        if let Some(v) = p.migrated_to {
            out.push_str(&format!("its state database was migrated to schema {v}\n"));
        }
        out.push_str(if change.dry_run { "would change:\n" } else { "changed:\n" });
        if p.areas.is_empty() {
            out.push_str("  nothing: the configuration here is the archive's\n");
        }
        for a in &p.areas {
            out.push_str(&format!("  {}:\n", a.area));
            for (word, keys) in [("add", &a.added), ("change", &a.changed), ("remove", &a.removed)] {
                for k in keys {
                    out.push_str(&format!("    {word:<7}{k}\n"));
                }
            }
        }
    }
    out.push_str(if change.dry_run { "dry run: nothing changed; the helper would run:\n" } else { "ran:\n" });
    for s in &change.steps {
        out.push_str(&step_text(s));
    }
    out.push_str(&warnings_text(&change.warnings));
    out
}

pub async fn backups(socket: &Path) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let copies: Vec<LocalCopy> = call!(d, config_backups())?;
    let mut human = format!("{:<56} {:>9}  {}\n", "FILE", "BYTES", "CREATED");
    for c in &copies {
        human.push_str(&format!("{:<56} {:>9}  {}\n", c.file_name, c.bytes, c.created));
    }
    if copies.is_empty() {
        human.push_str("(no daily copies yet)\n");
    }
    Ok(Report::ok(human, to_json(&copies)?))
}
