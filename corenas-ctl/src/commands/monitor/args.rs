//! `monitor` arguments. Schedules are set under the storage and device commands
//! (`storage scrub-schedule`, `device selftest-schedule`); here they are listed.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Health at a glance: active alerts, pools, disks (power state, temperature), collectors
    /// with their last success or error, and the health schedules.
    Status,
    /// Run every collector now (SMART still skips sleeping disks) and evaluate the alerts.
    Run,
    /// List the health schedules: scrubs (monthly by default) and SMART self-tests.
    Schedules,
}
