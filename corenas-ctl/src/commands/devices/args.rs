//! `device` arguments: inventory, SMART, self-tests, wipe, events, and the optical media and
//! eject commands imaging uses.

use crate::values::{Listed, whole_number};
use clap::{Args, Subcommand};
use corenas_proto::ValidationError;
use corenas_proto::monitor::Cadence;
use corenas_proto::names::{DevicePath, shown};
use corenas_proto::storage::WipeMethod;

pub(crate) const CADENCES: &[&str] = &["off", "daily", "weekly", "monthly"];

pub(crate) fn hour_of_day(s: &str) -> Result<u8, ValidationError> {
    let n = whole_number(s, "hour", "hour", 0, 23)?;
    u8::try_from(n).map_err(|_| ValidationError::new("hour", "the hour is out of range"))
}

/// The imaging side of `device` (run by imaging.rs): media labels and eject. Flattened into
/// [`BlockDeviceCommand`]; the listing is `device media` on the command line.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List block devices with their media labels and whether they can be imaged now.
    #[command(name = "media")]
    List,
    /// Eject the medium (optical drives; loop devices are detached).
    Eject {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
}

/// `device`: the storage view of block devices (storage.rs) and, flattened in, the imaging view
/// (`device media`, `device eject`; imaging.rs).
#[derive(Debug, Subcommand)]
pub enum BlockDeviceCommand {
    /// List block devices: size, model, serial, HDD or SSD, transport, filesystem, what uses them.
    List,
    /// Show one device with every field and its partitions.
    Show {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
    /// Read SMART health now (corenasd keeps each report), or the stored reports with --history.
    Smart {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
        /// Show earlier reports, newest first, instead of reading the device now.
        #[arg(long)]
        history: bool,
        /// How many earlier reports to show (1-500).
        #[arg(long, value_name = "N", default_value = "20", requires = "history", allow_hyphen_values = true, value_parser = history_limit)]
        limit: u32,
    },
    /// Which erases the device's firmware offers (NVMe sanitize/format, ATA security erase),
    /// and which one `device wipe --method secure` would use.
    EraseOptions {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
    },
    /// Hotplug events (devices added, removed, changed, media changed), debounced by corenasd.
    ///
    /// Prints the events after --after and the number to continue from; --follow keeps printing
    /// them as they happen (one JSON document a line with --json) until --count events came.
    Events {
        /// Only events after this sequence number (0: every event corenasd still keeps).
        #[arg(long, value_name = "SEQ", default_value = "0", allow_hyphen_values = true, value_parser = event_seq)]
        after: u64,
        /// Wait up to this long for an event when there is none yet (0-5000 ms).
        #[arg(long, value_name = "MS", default_value = "0", allow_hyphen_values = true, value_parser = event_wait)]
        wait_ms: u32,
        /// Keep printing events as they happen.
        #[arg(long)]
        follow: bool,
        /// With --follow: stop after this many events (1-100000).
        #[arg(long, value_name = "N", requires = "follow", allow_hyphen_values = true, value_parser = event_count)]
        count: Option<u32>,
    },
    /// Start a SMART self-test (short unless --long); prints the job id.
    Selftest {
        /// The device.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
        /// The long (extended) test: reads the whole surface, can take hours.
        #[arg(long)]
        long: bool,
        /// Follow the job until it ends, printing its progress.
        #[arg(long)]
        wait: bool,
    },
    /// Run SMART self-tests on a schedule (there is none by default); --every off removes it.
    ///
    /// daily; weekly: Sundays; monthly: the 1st. HOUR is the server's local time. Each test is a
    /// job, audited. List: `monitor schedules`.
    #[command(group(clap::ArgGroup::new("test").required(true).args(["short", "long"])))]
    SelftestSchedule {
        /// The device; a stable name (/dev/disk/by-id/...) survives a reboot, /dev/sdX may not.
        #[arg(allow_hyphen_values = true)]
        device: DevicePath,
        /// The short test (minutes).
        #[arg(long)]
        short: bool,
        /// The long test (reads the whole surface, hours).
        #[arg(long)]
        long: bool,
        /// How often: off, daily, weekly or monthly.
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true, value_parser = Listed::<Cadence>::new(CADENCES))]
        every: Cadence,
        /// The hour it starts at (0-23, local time).
        #[arg(long, value_name = "HOUR", default_value = "1", allow_hyphen_values = true, value_parser = hour_of_day)]
        hour: u8,
    },
    /// Erase a free device (as a job), then read sampled regions back; needs --force.
    ///
    /// quick removes signatures and partition tables; zero writes zeros over the whole device;
    /// discard asks the device to zero itself; secure uses the device's own erase (NVMe
    /// sanitize or format, ATA security erase: see `device erase-options`), or a secure discard
    /// where it offers none.
    /// corenas-ctl reads the device first and sends its serial number (or its kernel name when it
    /// has none) as the confirmation corenasd requires.
    Wipe(DeviceWipeArgs),
    #[command(flatten)]
    Imaging(DeviceCommand),
}

#[derive(Debug, Args)]
pub struct DeviceWipeArgs {
    /// The device.
    #[arg(allow_hyphen_values = true)]
    pub device: DevicePath,
    /// How to erase it.
    #[arg(long, value_name = "METHOD", allow_hyphen_values = true, value_parser = Listed::<WipeMethod>::new(&["quick", "zero", "discard", "secure"]))]
    pub method: WipeMethod,
    /// Really wipe: every byte on the device is lost.
    #[arg(long)]
    pub force: bool,
    /// Regions read back afterwards, besides the start and the end of the device (0-1024).
    #[arg(long, value_name = "N", default_value = "64", allow_hyphen_values = true, value_parser = wipe_samples)]
    pub samples: u16,
    /// Follow the job until it ends, printing its progress.
    #[arg(long)]
    pub wait: bool,
}

pub(crate) fn history_limit(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "limit", "limit", 1, 500)
}

pub(crate) fn event_seq(s: &str) -> Result<u64, ValidationError> {
    s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u64>().ok()).flatten().filter(|_| !s.is_empty()).ok_or_else(
        || ValidationError::new("after", format!("sequence number '{}' is invalid: use a whole number", shown(s))),
    )
}

pub(crate) fn event_wait(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "wait_ms", "wait", 0, 5000)
}

pub(crate) fn event_count(s: &str) -> Result<u32, ValidationError> {
    whole_number(s, "count", "event count", 1, 100_000)
}

pub(crate) fn wipe_samples(s: &str) -> Result<u16, ValidationError> {
    let n = whole_number(s, "samples", "sample count", 0, 1024)?;
    u16::try_from(n).map_err(|_| ValidationError::new("samples", "the sample count is out of range"))
}
