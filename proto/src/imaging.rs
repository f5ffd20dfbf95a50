//! Disc and disk imaging: the shapes of jobs, progress and archive entries as corenasd serves
//! them (to corenas-ctl now, to the web UI's `/api/v1/jobs` and `/api/v1/archives` later).

use crate::error::ValidationError;
use crate::names::{DevicePath, JobName, Note, SearchText, Tag};
use serde::{Deserialize, Serialize};

/// ddrescue retry passes over bad areas: 0..=5. ddrescue reads -1 as "forever", so the bound
/// is part of the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct RetryPasses(u8);

impl RetryPasses {
    pub const MAX: u8 = 5;
    pub fn get(self) -> u8 {
        self.0
    }
}
impl Default for RetryPasses {
    fn default() -> Self {
        Self(1)
    }
}
impl TryFrom<i64> for RetryPasses {
    type Error = ValidationError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        match u8::try_from(v) {
            Ok(n) if n <= Self::MAX => Ok(Self(n)),
            _ => Err(ValidationError::new("retries", format!("retries must be a whole number from 0 to 5, not {v}"))),
        }
    }
}
impl From<RetryPasses> for i64 {
    fn from(r: RetryPasses) -> i64 {
        i64::from(r.0)
    }
}
impl std::str::FromStr for RetryPasses {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            ValidationError::new(
                "retries",
                format!("retries must be a whole number from 0 to 5, not '{}'", crate::names::shown(s)),
            )
        };
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        Self::try_from(s.parse::<i64>().map_err(|_| err())?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
    pub fn rank(self) -> i64 {
        match self {
            Self::Low => 0,
            Self::Normal => 1,
            Self::High => 2,
        }
    }
    pub fn from_rank(r: i64) -> Self {
        match r {
            0 => Self::Low,
            2 => Self::High,
            _ => Self::Normal,
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            _ => Err(ValidationError::new("priority", "priority must be low, normal or high")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Hashing,
    Completed,
    CompletedWithErrors,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        Self::Queued,
        Self::Running,
        Self::Paused,
        Self::Hashing,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
        Self::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Hashing => "hashing",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
    /// Nothing more will happen to the job unless someone retries it.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::CompletedWithErrors | Self::Failed | Self::Cancelled)
    }
}

impl std::str::FromStr for JobState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "status",
                "status must be one of queued, running, paused, hashing, completed, completed_with_errors, failed, cancelled",
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Copy a device into an image with ddrescue, then hash it.
    Image,
    /// Re-hash an archived image against its stored checksums.
    Verify,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    pub retries: RetryPasses,
    /// After imaging, read the source again and compare its SHA-256 with the image's.
    pub verify: bool,
    /// SHA-256 is always computed; MD5 on request.
    pub md5: bool,
    pub priority: Priority,
    /// On cancel, keep the partial image and mapfile (the default deletes them).
    pub keep_partial_on_cancel: bool,
    /// Eject the medium when hashing starts (optical drives; loop devices are detached).
    pub eject: bool,
    /// Read rate cap in bytes/s, so imaging does not starve the NAS's other I/O.
    pub max_rate: Option<u64>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            retries: RetryPasses::default(),
            verify: false,
            md5: false,
            priority: Priority::Normal,
            keep_partial_on_cancel: false,
            eject: false,
            max_rate: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCreate {
    pub name: JobName,
    pub device: DevicePath,
    pub options: JobOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Copying,
    Trimming,
    Scraping,
    Retrying,
    Filling,
    Generating,
    Finished,
    Hashing,
    Verifying,
}

/// Live progress, derived from the ddrescue mapfile (or the hasher's position).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub domain_bytes: u64,
    pub rescued_bytes: u64,
    pub non_tried_bytes: u64,
    pub non_trimmed_bytes: u64,
    pub non_scraped_bytes: u64,
    pub bad_bytes: u64,
    pub bad_areas: u64,
    pub phase: Option<Phase>,
    pub pass: Option<u32>,
    /// 0..=100, rescued / domain (or hashed / size while hashing).
    pub percent: f64,
    pub rate_bps: Option<u64>,
    pub eta_seconds: Option<u64>,
}

/// What CoreNAS read from the medium; the label is untrusted text, sanitized for display.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Medium {
    /// "iso9660" when a primary volume descriptor was found, else "raw".
    pub format: String,
    pub label: Option<String>,
    pub size_bytes: u64,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: String,
    pub kind: JobKind,
    pub name: String,
    pub device: Option<String>,
    pub status: JobState,
    pub priority: Priority,
    /// 1-based place among queued jobs.
    pub position: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub options: JobOptions,
    pub progress: Progress,
    pub medium: Option<Medium>,
    pub output_file: Option<String>,
    pub archive_id: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// Increases with every change; `image_wait` returns once it passes the caller's value.
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobSort {
    #[default]
    Created,
    Updated,
    Name,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    pub status: Option<JobState>,
    pub sort: JobSort,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobList {
    pub jobs: Vec<JobInfo>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// Page size limit for job and archive listings.
pub const LIST_MAX: u32 = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub time: String,
    /// "ok", "mismatch" or "failed".
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checksums {
    pub sha256: String,
    pub md5: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveInfo {
    pub id: String,
    pub job_id: String,
    pub name: String,
    /// Server-generated: `<job id>.iso` or `<job id>.img`.
    pub filename: String,
    pub path: String,
    pub size_bytes: u64,
    pub created_at: String,
    pub checksums: Checksums,
    pub bad_bytes: u64,
    pub source_device: String,
    pub source_model: Option<String>,
    pub source_serial: Option<String>,
    pub label: Option<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub verifications: Vec<Verification>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveSort {
    #[default]
    Created,
    Name,
    Size,
}

impl std::str::FromStr for ArchiveSort {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created" => Ok(Self::Created),
            "name" => Ok(Self::Name),
            "size" => Ok(Self::Size),
            _ => Err(ValidationError::new("sort", "sort must be created, name or size")),
        }
    }
}

impl std::str::FromStr for JobSort {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created" => Ok(Self::Created),
            "updated" => Ok(Self::Updated),
            "name" => Ok(Self::Name),
            _ => Err(ValidationError::new("sort", "sort must be created, updated or name")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    /// Plain text matched against name, label, notes and tags.
    pub search: Option<SearchText>,
    pub tag: Option<Tag>,
    pub sort: ArchiveSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveList {
    pub archives: Vec<ArchiveInfo>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ArchiveEdit {
    pub add_tags: Vec<Tag>,
    pub remove_tags: Vec<Tag>,
    pub notes: Option<Note>,
}

/// A block device as corenasd sees it (sysfs facts plus what the helper checked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub path: String,
    pub kind: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size_bytes: u64,
    pub removable: bool,
    pub has_media: bool,
    pub medium: Option<Medium>,
    /// Why the device cannot be imaged or wiped right now (mounted, holders, system disk...).
    pub in_use: Vec<String>,
    /// The imaging job using it, if any.
    pub job: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagingPolicy {
    /// Start an imaging job by itself when a medium is inserted into an optical drive.
    pub auto_start: bool,
    /// Devices the auto-start policy watches besides optical drives (the lab's loop "drives").
    pub watch: Vec<String>,
}
