//! Runs `monitor`: one request per command.

use crate::client::call;
use crate::commands::monitor::args::MonitorCommand;
use crate::commands::monitor::show::{collectors_table, schedules_table, status_text};
use crate::error::CtlError;
use crate::report::{Report, change_report, to_json};
use std::path::Path;

pub async fn monitor(cmd: MonitorCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        MonitorCommand::Status => {
            let status = call!(socket => monitor_status())?;
            Ok(Report::ok(status_text(&status), to_json(&status)?))
        }
        MonitorCommand::Run => {
            let change = call!(socket => monitor_run(dry_run))?;
            change_report(&change, |c| collectors_table(c))
        }
        MonitorCommand::Schedules => {
            let schedules = call!(socket => health_schedule_list())?;
            Ok(Report::ok(schedules_table(&schedules), to_json(&schedules)?))
        }
    }
}
