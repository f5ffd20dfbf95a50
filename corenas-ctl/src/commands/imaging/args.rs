//! `image` and `archive` arguments, parsed into proto types so bad input is refused (exit 2)
//! before any connection.

use crate::values::{ByteRate, Listed, ObjectId, OnOff};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use corenas_proto::imaging::{ArchiveSort, JobSort, JobState, LIST_MAX, Priority, RetryPasses};
use corenas_proto::names::{DevicePath, JobName, Note, SearchText, Tag};
use std::path::PathBuf;

/// Job states as `--status` accepts them (`JobState::as_str`).
pub(crate) const JOB_STATES: &[&str] =
    &["queued", "running", "paused", "hashing", "completed", "completed_with_errors", "failed", "cancelled"];

pub(crate) const PRIORITIES: &[&str] = &["low", "normal", "high"];

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Queue a job that images a device.
    ///
    /// The job copies the device with ddrescue into an image named after the job id, then hashes
    /// it (SHA-256, and MD5 on request) and adds it to the archive.
    Create(ImageCreateArgs),
    /// List imaging and verify jobs.
    List {
        /// Only jobs in this state.
        #[arg(long, value_name = "STATUS", allow_hyphen_values = true, value_parser = Listed::<JobState>::new(JOB_STATES))]
        status: Option<JobState>,
        /// Order of the list.
        #[arg(long, value_name = "KEY", default_value = "created", allow_hyphen_values = true, value_parser = Listed::<JobSort>::new(&["created", "updated", "name"]))]
        sort: JobSort,
        #[command(flatten)]
        page: Page,
    },
    /// Show one job, with its progress and the medium it reads.
    Show {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Print a progress line whenever the job changes, until it ends or is paused.
    ///
    /// Exits 0 when the job completed, 1 when it completed with errors, failed, was cancelled
    /// or was paused. With --json only the final job is printed.
    Follow {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Pause a queued or running job.
    Pause {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Resume a paused job.
    Resume {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Cancel a job; its partial image is deleted unless the job or --keep-partial keeps it.
    Cancel {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Delete the partial image and mapfile, whatever the job's options say.
        #[arg(long, conflicts_with = "keep_partial")]
        delete_partial: bool,
        /// Keep the partial image and mapfile, whatever the job's options say.
        #[arg(long)]
        keep_partial: bool,
    },
    /// Run another pass over the bad areas of a job that completed with errors or failed.
    Retry {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Change a job's priority in the queue.
    Priority {
        /// The job id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// The new priority.
        #[arg(allow_hyphen_values = true, value_parser = Listed::<Priority>::new(PRIORITIES))]
        priority: Priority,
    },
    /// Show the auto-start policy, or set it with --auto-start.
    ///
    /// With --auto-start, the watch list becomes exactly the --watch devices given (none: only
    /// optical drives are watched).
    Policy {
        /// Start a job by itself when a medium is inserted.
        #[arg(long, value_enum, value_name = "on|off")]
        auto_start: Option<OnOff>,
        /// A device to watch besides optical drives (repeatable); needs --auto-start.
        #[arg(long = "watch", value_name = "DEVICE", requires = "auto_start", allow_hyphen_values = true)]
        watch: Vec<DevicePath>,
    },
}

/// `image cancel`: `Some(true)` deletes the partial image, `Some(false)` keeps it, `None`
/// follows the job's own `keep_partial_on_cancel`.
pub fn delete_partial(delete_partial: bool, keep_partial: bool) -> Option<bool> {
    match (delete_partial, keep_partial) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[derive(Debug, Args)]
pub struct ImageCreateArgs {
    /// The job's name (1-64 of A-Z, a-z, 0-9, '.', '_', '-'); files are named by the job id.
    #[arg(allow_hyphen_values = true)]
    pub name: JobName,
    /// The source: /dev/srN, /dev/sdX, /dev/vdX, /dev/nvmeNnM, /dev/mmcblkN, /dev/loopN or /dev/disk/by-id/ID.
    #[arg(long, value_name = "DEVICE", allow_hyphen_values = true)]
    pub device: DevicePath,
    /// Retry passes over bad areas (0-5).
    #[arg(long, value_name = "N", default_value = "1", allow_hyphen_values = true)]
    pub retries: RetryPasses,
    /// After imaging, read the source again and compare checksums.
    #[arg(long)]
    pub verify: bool,
    /// Compute MD5 as well as SHA-256.
    #[arg(long)]
    pub md5: bool,
    /// The job's place in the queue.
    #[arg(long, value_name = "PRIORITY", default_value = "normal", allow_hyphen_values = true, value_parser = Listed::<Priority>::new(PRIORITIES))]
    pub priority: Priority,
    /// Keep the partial image and mapfile if the job is cancelled.
    #[arg(long)]
    pub keep_partial: bool,
    /// Eject the medium when hashing starts.
    #[arg(long)]
    pub eject: bool,
    /// Cap the read rate, in bytes per second.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub max_rate: Option<ByteRate>,
}

/// `--limit` and `--offset` of the job and archive listings.
#[derive(Debug, Clone, Copy, Args)]
pub struct Page {
    /// How many entries to show (1-200).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(LIST_MAX)))]
    pub limit: u32,
    /// Skip this many entries.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u32,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// List archived images.
    List {
        /// Only entries whose name, label, notes or tags contain this text.
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        search: Option<SearchText>,
        /// Only entries with this tag.
        #[arg(long, value_name = "TAG", allow_hyphen_values = true)]
        tag: Option<Tag>,
        /// Order of the list.
        #[arg(long, value_name = "KEY", default_value = "created", allow_hyphen_values = true, value_parser = Listed::<ArchiveSort>::new(&["created", "name", "size"]))]
        sort: ArchiveSort,
        /// Reverse the order.
        #[arg(long)]
        desc: bool,
        #[command(flatten)]
        page: Page,
    },
    /// Show one entry, with its checksums and verification history.
    Show {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
    },
    /// Start a job that re-hashes an image against its stored checksums.
    ///
    /// With --wait, follows the job like `image follow` (and exits like it).
    Verify {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Follow the verify job until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Delete an entry and its image file; needs --force (not with --dry-run).
    Delete {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Really delete.
        #[arg(long)]
        force: bool,
    },
    /// Add or remove tags, or replace the notes.
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["add", "remove", "notes"])))]
    Tag {
        /// The archive id.
        #[arg(allow_hyphen_values = true)]
        id: ObjectId,
        /// Add a tag (repeatable; 1-32 of a-z, 0-9, '.', '_', '-').
        #[arg(long = "add", value_name = "TAG", allow_hyphen_values = true)]
        add: Vec<Tag>,
        /// Remove a tag (repeatable).
        #[arg(long = "remove", value_name = "TAG", allow_hyphen_values = true)]
        remove: Vec<Tag>,
        /// Replace the notes ("" clears them).
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        notes: Option<Note>,
    },
    /// Write every entry as a JSON array or as CSV.
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this new file (created with mode 0600, never overwritten) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The priorities offered are proto's, spelled as the wire spells them.
    #[test]
    fn the_offered_priorities_are_protos() {
        let spelled: Vec<&str> = [Priority::Low, Priority::Normal, Priority::High].map(Priority::as_str).to_vec();
        assert_eq!(PRIORITIES, spelled);
        for p in PRIORITIES {
            let parsed: Priority = serde_json::from_value(serde_json::json!(p)).expect("proto reads it");
            assert_eq!(parsed.as_str(), *p);
        }
    }
}
