//! `config check [PATH]`: reads /etc/corenas/corenas.conf (or PATH) as the daemons do at start
//! and prints the settings that would be in force; needs no daemon. Run as root it applies the
//! helpers' trust check too (root's file, not writable by group or others).
//!
//! `config backup|restore|backups` (in `config/backup.rs`) ask corenasd for the configuration
//! archive of CoreNAS itself.
//!
//! Must not name any other group.

pub(crate) mod backup;

use crate::error::CtlError;
use crate::report::{Report, to_json};
use clap::Subcommand;
use corenas_proto::WireError;
use corenas_proto::config;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration file as the daemons read it and print the settings in force
    /// (exit 1 naming the key, the line and what is accepted when it is invalid).
    Check {
        /// The file (default /etc/corenas/corenas.conf, whose absence means the built-in
        /// defaults; a file named here must exist).
        path: Option<PathBuf>,
    },
    /// Make a sealed archive of this CoreNAS's configuration: accounts with their password
    /// hashes and SMB passwords, shares, mounts, schedules, web admins and their second
    /// factors, alert channels, settings, /etc/corenas (an age file; `age -d` opens it).
    Backup {
        /// Where to write it (default: corenas-config-HOST-TIME.cnbak here; never overwritten).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Read the passphrase from this file's first line (default: ask on the terminal).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore an archive without a reboot; with --dry-run, show what it would change.
    Restore {
        /// The archive (or --local NAME for one of the daily copies).
        #[arg(required_unless_present = "local", conflicts_with = "local")]
        file: Option<PathBuf>,
        /// One of the daily copies `config backups` lists (sealed with corenasd's own key).
        #[arg(long, value_name = "NAME")]
        local: Option<String>,
        /// Read the passphrase from this file's first line (default: ask on the terminal).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// The daily copies corenasd keeps on this box.
    Backups,
}

impl ConfigCommand {
    /// `config check` reads a file and needs no daemon; the others ask corenasd.
    pub fn needs_daemon(&self) -> bool {
        !matches!(self, Self::Check { .. })
    }
}

/// The commands that ask corenasd.
pub async fn config_daemon(cmd: ConfigCommand, socket: &std::path::Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        ConfigCommand::Backup { output, passphrase_file } => {
            backup::backup(socket, output, passphrase_file, dry_run).await
        }
        ConfigCommand::Restore { local: Some(name), .. } => backup::restore_local(socket, name, dry_run).await,
        ConfigCommand::Restore { file: Some(file), passphrase_file, .. } => {
            backup::restore(socket, file, passphrase_file, dry_run).await
        }
        ConfigCommand::Restore { .. } => Err(CtlError::usage("file", "name an archive, or --local NAME")),
        ConfigCommand::Backups => backup::backups(socket).await,
        ConfigCommand::Check { path } => config(ConfigCommand::Check { path }),
    }
}

#[derive(Debug, serde::Serialize)]
struct Checked {
    /// The file read; None: the default file is absent and the built-in defaults apply.
    file: Option<String>,
    config: config::Config,
}

pub fn config(cmd: ConfigCommand) -> Result<Report, CtlError> {
    let ConfigCommand::Check { path } = cmd else {
        return Err(CtlError::failed(corenas_proto::ErrorCode::Internal, "this config command needs corenasd"));
    };
    let load = if rustix::process::geteuid().is_root() { config::load_trusted } else { config::load };
    let loaded = load(path.as_deref()).map_err(|e| {
        let key = e.key().map(str::to_owned);
        let message = e.to_string();
        CtlError::Failed(match key {
            Some(k) => WireError::invalid(&k, message),
            None => WireError::invalid("config", message),
        })
    })?;
    let checked = Checked { file: loaded.file.map(|f| f.display().to_string()), config: loaded.config };
    let mut human = match &checked.file {
        Some(f) => format!("{f}: valid; in force (with the defaults for keys it leaves out):\n"),
        None => format!("{} is absent: the built-in defaults are in force:\n", config::DEFAULT_PATH),
    };
    human.push_str(&settings_text(&checked.config)?);
    Ok(Report::ok(human, to_json(&checked)?))
}

/// `section.key = value` lines, sorted.
fn settings_text(c: &config::Config) -> Result<String, CtlError> {
    let value = serde_json::to_value(c)
        .map_err(|e| CtlError::failed(corenas_proto::ErrorCode::Internal, format!("cannot show the settings: {e}")))?;
    let mut out = String::new();
    if let serde_json::Value::Object(sections) = value {
        for (section, keys) in sections {
            let serde_json::Value::Object(keys) = keys else { continue };
            for (key, v) in keys {
                let shown = if v.is_null() { "(off)".to_owned() } else { v.to_string() };
                out.push_str(&format!("  {section}.{key} = {shown}\n"));
            }
        }
    }
    Ok(out)
}
