//! The imaging jobs' in-memory side: which jobs run where (and the signal that pauses or cancels
//! them), live progress newer than the database's, per-job versions that wake waiters, and
//! what medium each watched drive holds. It lives in the daemon context; it imports nothing
//! above `imaging/store.rs`, so the daemon context can hold it without a circle.

use super::{ddrescue, store};
use corenas_proto::imaging::{JobInfo, Medium, Progress};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    Pause,
    Cancel { delete: bool },
}

#[derive(Default)]
pub(super) struct Active {
    pub(super) device: Option<String>,
    pub(super) pid: Option<u32>,
    pub(super) request: Option<Request>,
}

pub struct Imaging {
    pub images_root: PathBuf,
    pub ddrescue: PathBuf,
    pub concurrency: usize,
    pub(super) active: Mutex<HashMap<String, Active>>,
    /// Live progress, newer than the database's copy while a job runs.
    pub(super) live: Mutex<HashMap<String, Progress>>,
    pub(super) versions: Mutex<HashMap<String, u64>>,
    pub(super) counter: AtomicU64,
    pub(super) changed: tokio::sync::watch::Sender<u64>,
    pub(super) wake: tokio::sync::Notify,
    /// What is in each watched drive now (None: empty); other modules subscribe to changes.
    pub(super) media: Mutex<HashMap<String, Option<Medium>>>,
    pub(super) media_changed: tokio::sync::watch::Sender<u64>,
}

impl Imaging {
    pub fn new(images_root: PathBuf, concurrency: usize) -> Self {
        Self {
            images_root,
            ddrescue: PathBuf::from(ddrescue::DDRESCUE),
            concurrency: concurrency.max(1),
            active: Mutex::default(),
            live: Mutex::default(),
            versions: Mutex::default(),
            counter: AtomicU64::new(1),
            changed: tokio::sync::watch::channel(0).0,
            wake: tokio::sync::Notify::new(),
            media: Mutex::default(),
            media_changed: tokio::sync::watch::channel(0).0,
        }
    }

    /// Records the medium now in a drive and raises a media-change event.
    pub fn note_medium(&self, device: &str, medium: Option<Medium>) {
        if let Ok(mut m) = self.media.lock() {
            m.insert(device.to_owned(), medium);
        }
        self.media_changed.send_modify(|v| *v += 1);
    }

    /// Media-change events: the value counts changes; `media()` says what is where.
    pub fn media_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.media_changed.subscribe()
    }

    pub fn media(&self) -> HashMap<String, Option<Medium>> {
        self.media.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Marks a job as changed: its version moves on and waiters wake up.
    pub fn bump(&self, id: &str) {
        let v = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut m) = self.versions.lock() {
            m.insert(id.to_owned(), v);
        }
        self.changed.send_replace(v);
    }

    pub fn version(&self, id: &str) -> u64 {
        self.versions.lock().ok().and_then(|m| m.get(id).copied()).unwrap_or(0)
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn kick(&self) {
        self.wake.notify_one();
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.images_root.join(id)
    }

    pub fn device_busy(&self, device: &str) -> Option<String> {
        let a = self.active.lock().ok()?;
        a.iter().find(|(_, j)| j.device.as_deref() == Some(device)).map(|(id, _)| id.clone())
    }

    /// Asks a running job to pause or cancel; false if it is not running here.
    pub(super) fn request(&self, id: &str, r: Request) -> bool {
        let Ok(mut a) = self.active.lock() else { return false };
        let Some(job) = a.get_mut(id) else { return false };
        job.request = Some(r);
        if let Some(pid) = job.pid {
            // SIGINT: ddrescue saves the mapfile and exits; the runner sees the exit.
            signal(pid, rustix::process::Signal::INT);
        }
        true
    }

    pub fn request_pause(&self, id: &str) -> bool {
        self.request(id, Request::Pause)
    }

    pub fn request_cancel(&self, id: &str, delete: bool) -> bool {
        self.request(id, Request::Cancel { delete })
    }

    pub fn is_active(&self, id: &str) -> bool {
        self.active.lock().is_ok_and(|a| a.contains_key(id))
    }

    pub(super) fn set_live(&self, id: &str, p: Progress) {
        if let Ok(mut m) = self.live.lock() {
            m.insert(id.to_owned(), p);
        }
        self.bump(id);
    }

    /// A row as the API shows it: live progress, queue position, version.
    ///
    /// A job that has ended shows its stored progress: the runner forgets the live entry only
    /// after it has released the drive, so for a moment the row says completed while the live
    /// entry still holds the hashing pass's last figure (a page reloading then showed 97 %).
    pub fn info(&self, row: &store::JobRow, position: Option<u32>) -> JobInfo {
        let mut info = row.info(position, self.version(&row.id));
        if !row.status.is_terminal()
            && let Some(p) = self.live.lock().ok().and_then(|m| m.get(&row.id).cloned())
        {
            info.progress = p;
        }
        info
    }
}

pub(super) fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::imaging::{JobKind, JobOptions, JobState, Priority};

    fn row(status: JobState, percent: f64) -> store::JobRow {
        store::JobRow {
            seq: 1,
            id: "job_000001".into(),
            kind: JobKind::Image,
            name: "disc".into(),
            device: None,
            status,
            priority: Priority::default(),
            options: JobOptions::default(),
            created_at: String::new(),
            updated_at: String::new(),
            started_at: None,
            finished_at: None,
            progress: Progress { percent, ..Progress::default() },
            medium: None,
            source_model: None,
            source_serial: None,
            output_file: None,
            archive_id: None,
            target_archive: None,
            retry_direct: false,
            pid: None,
            error: None,
            error_code: None,
            fixed_disk_allowed: false,
        }
    }

    #[test]
    fn a_running_job_shows_live_progress_and_an_ended_one_its_stored_progress() {
        let img = Imaging::new(PathBuf::from("/nonexistent"), 1);
        img.set_live("job_000001", Progress { percent: 97.0, ..Progress::default() });
        assert_eq!(img.info(&row(JobState::Hashing, 40.0), None).progress.percent, 97.0);
        for ended in [JobState::Completed, JobState::CompletedWithErrors, JobState::Failed, JobState::Cancelled] {
            assert_eq!(img.info(&row(ended, 100.0), None).progress.percent, 100.0, "{ended:?}");
        }
    }
}
