//! The global options every command takes (`--socket`, `--json`, `--dry-run`) and the one
//! question answered before clap runs: was `--json` asked for.
//!
//! Owns no command: the command tree is `commands::Cli`. Command groups never read these flags
//! from here; the dispatcher passes each group the values it needs.

use clap::Args;
use std::ffi::OsString;
use std::path::PathBuf;

/// The options before or after any command; clap's `global` makes them valid at every level.
#[derive(Debug, Args)]
pub struct Global {
    /// The corenasd socket.
    #[arg(long, global = true, value_name = "PATH", env = "CORENAS_SOCKET", default_value = DEFAULT_SOCKET, help_heading = "Global options")]
    pub socket: PathBuf,

    /// Print exactly one JSON document on stdout (errors too); see JSON.md.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// Show the exact steps a change would run, and change nothing.
    #[arg(long, global = true, help_heading = "Global options")]
    pub dry_run: bool,
}

pub const DEFAULT_SOCKET: &str = "/run/corenas/corenasd.sock";

/// Whether `--json` was asked for, looked up without clap so that even a command line clap
/// refuses can be answered in JSON.
pub fn json_requested(args: &[OsString]) -> bool {
    args.iter().skip(1).take_while(|a| a.as_os_str() != "--").any(|a| a.as_os_str() == "--json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_detected_before_parsing() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(json_requested(&args(&["corenas-ctl", "user", "add", "Max!", "--json"])));
        assert!(!json_requested(&args(&["corenas-ctl", "user", "add", "Max!"])));
        assert!(!json_requested(&args(&["corenas-ctl", "acl", "set", "--", "--json"])));
        assert!(!json_requested(&args(&["--json"])));
    }
}
