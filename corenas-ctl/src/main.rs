//! corenas-ctl: the administrator's command line for corenasd. This file only wires things:
//! parse (clap refuses bad input with exit 2), run, exit code. See JSON.md for `--json`.

mod cli;
mod client;
mod commands;
mod error;
mod export;
mod follow;
mod password;
mod report;
#[cfg(test)]
mod testing;
mod text;
mod values;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match commands::Cli::try_parse_from(&args) {
        Ok(cli) => commands::run(cli),
        Err(err) => report::usage_error(&err, cli::json_requested(&args)),
    }
}
