//! Runs `device`. A wipe reads the device first and confirms with its serial; self-tests and
//! wipes are storage jobs, followed with `--wait`.

use crate::client::{Daemon, call};
use crate::commands::devices::args::{BlockDeviceCommand, DeviceCommand, DeviceWipeArgs};
use crate::commands::devices::show::{
    device_block, device_event_line, device_events_table, device_inventory_table, device_line, devices_table,
    erase_support_block, smart_block, smart_history_table,
};
use crate::error::CtlError;
use crate::follow::job_started;
use crate::report::{Report, change_report, imaging_change_report, nothing, print_stdout, to_json};
use crate::values::needs_force;
use corenas_proto::api::DeviceWipe;
use corenas_proto::devices::DeviceInfo;
use corenas_proto::monitor::{HealthScheduleSpec, HealthWork};
use std::path::Path;

pub async fn device(cmd: BlockDeviceCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    match cmd {
        BlockDeviceCommand::Imaging(cmd) => imaging_drive(cmd, socket, dry_run).await,
        BlockDeviceCommand::List => {
            let devices = call!(socket => device_inventory())?;
            Ok(Report::ok(device_inventory_table(&devices), to_json(&devices)?))
        }
        BlockDeviceCommand::Show { device } => {
            let info = call!(socket => device_show(device))?;
            Ok(Report::ok(device_block(&info), to_json(&info)?))
        }
        BlockDeviceCommand::Smart { device, history: false, .. } => {
            let report = call!(socket => device_smart(device))?;
            Ok(Report::ok(smart_block(&report), to_json(&report)?))
        }
        BlockDeviceCommand::Smart { device, history: true, limit } => {
            let reports = call!(socket => device_smart_history(device, limit))?;
            Ok(Report::ok(smart_history_table(&reports), to_json(&reports)?))
        }
        BlockDeviceCommand::EraseOptions { device } => {
            let support = call!(socket => device_erase_support(device))?;
            Ok(Report::ok(erase_support_block(&support), to_json(&support)?))
        }
        BlockDeviceCommand::Events { after, wait_ms, follow: false, .. } => {
            let got = call!(socket => device_events(after, wait_ms))?;
            Ok(Report::ok(device_events_table(&got), to_json(&got)?))
        }
        BlockDeviceCommand::Events { after, follow: true, count, .. } => {
            let d = Daemon::connect(socket).await?;
            follow_device_events(&d, after, count, json).await
        }
        BlockDeviceCommand::Selftest { device, long, wait } => {
            let d = Daemon::connect(socket).await?;
            let change = call!(d, device_selftest(device, long, dry_run))?;
            job_started(&d, change, wait, json, "").await
        }
        BlockDeviceCommand::SelftestSchedule { device, long, every, hour, .. } => {
            let work = if long { HealthWork::SmartLong { device } } else { HealthWork::SmartShort { device } };
            let change = call!(socket => health_schedule_set(HealthScheduleSpec { work, every, hour }, dry_run))?;
            change_report(&change, |s| {
                let next = s.next_run.map_or_else(|| "never".to_owned(), crate::text::local_time);
                format!(
                    "{} of {}: {} at {:02}:00 local; next run {next}\n",
                    s.work.kind(),
                    crate::text::printable(s.work.target()),
                    s.every,
                    s.hour
                )
            })
        }
        BlockDeviceCommand::Wipe(a) => {
            // Refused before connecting: a real wipe needs --force; a dry run shows what would happen.
            needs_force(a.force, dry_run, format!("device wipe destroys all data on {}", a.device), "wipe it")?;
            let d = Daemon::connect(socket).await?;
            wipe(&d, a, dry_run, json).await
        }
    }
}

/// `device events --follow`: long polls corenasd and prints each event as it arrives (a JSON
/// document a line with --json), until `count` events were printed or forever.
pub(crate) async fn follow_device_events(
    d: &Daemon,
    mut after: u64,
    count: Option<u32>,
    json: bool,
) -> Result<Report, CtlError> {
    let mut left = count.map(u64::from);
    loop {
        let got = call!(d, device_events(after, corenas_proto::devices::MAX_EVENT_WAIT_MS))?;
        after = got.next;
        if got.missed > 0 {
            // Said on stderr so that a script reading the events still gets one kind of line.
            eprintln!("corenas-ctl: {} device events were missed: read the inventory again", got.missed);
        }
        for ev in &got.events {
            let line = if json { to_json(ev)? } else { device_event_line(ev) };
            print_stdout(&format!("{line}\n"));
            if let Some(n) = left.as_mut() {
                *n -= 1;
                if *n == 0 {
                    return Ok(Report::Written);
                }
            }
        }
    }
}

/// `device wipe`: the device is read first, so the confirmation corenasd requires (its serial,
/// or its kernel name when it has none) is the one of the disk the kernel sees under that path.
pub(crate) async fn wipe(d: &Daemon, a: DeviceWipeArgs, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    let info = call!(d, device_show(a.device.clone()))?;
    let req = DeviceWipe { device: a.device, method: a.method, confirm: wipe_confirmation(&info), samples: a.samples };
    let change = call!(d, device_wipe(req, dry_run))?;
    job_started(d, change, a.wait, json, &device_line(&info)).await
}

/// What `DeviceWipe::confirm` repeats: the serial number as the device reports it, or the
/// kernel name when it reports none (corenasd compares exactly this).
pub(crate) fn wipe_confirmation(info: &DeviceInfo) -> String {
    info.serial.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| info.name.clone())
}

pub async fn imaging_drive(cmd: DeviceCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        DeviceCommand::List => {
            let devices = call!(d, device_list())?;
            Ok(Report::ok(devices_table(&devices), to_json(&devices)?))
        }
        DeviceCommand::Eject { device } => {
            let action = format!("eject {device}");
            let change = call!(d, device_eject(device, dry_run))?;
            imaging_change_report(&change, &action, nothing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::disk;

    #[test]
    fn a_wipe_confirms_with_the_serial_or_the_kernel_name() {
        let mut d = disk("sdb", 1, true);
        assert_eq!(wipe_confirmation(&d), "SN-sdb");
        d.serial = Some(String::new());
        assert_eq!(wipe_confirmation(&d), "sdb");
        d.serial = Some(" WD 1 ".into());
        assert_eq!(wipe_confirmation(&d), " WD 1 ", "exactly as the device reports it");
        d.serial = None;
        assert_eq!(wipe_confirmation(&d), "sdb");
    }
}
