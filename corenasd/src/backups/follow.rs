//! Following a backup runner: restic 0.14's `backup --json` lines, read from the status file the
//! runner writes (decision 0020, "Runner"), turned into [`BackupProgress`], the summary that
//! proves a snapshot was written, and the items restic could not read.
//!
//! Must not: trust anything in the file beyond its shape. The runner writes it, but the lines are
//! restic's, and paths in them are names from the source (a share user chose them): they are
//! cleaned before they reach a job's detail.

use corenas_proto::backup::BackupProgress;
use serde::Deserialize;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// One `status` line. restic 0.14 omits zero fields (`files_done` before the first file,
/// `seconds_elapsed` in the first second, `seconds_remaining` until it can estimate).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Status {
    pub percent_done: f64,
    pub total_files: u64,
    pub files_done: u64,
    pub total_bytes: u64,
    pub bytes_done: u64,
    pub seconds_elapsed: u64,
    pub seconds_remaining: u64,
    pub error_count: u64,
}

/// The `summary` line: restic writes it after the snapshot is saved, so its id is the proof.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub snapshot_id: String,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub data_added: u64,
    pub total_files_processed: u64,
    pub total_bytes_processed: u64,
    pub total_duration: f64,
}

/// An `error` line (restic 0.14 writes them to stderr): an item it could not read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ItemError {
    pub during: String,
    pub item: String,
    pub error: serde_json::Value,
}

/// One line of restic's JSON output.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Status(Status),
    Summary(Summary),
    Error(ItemError),
    /// JSON restic may add in a later version (`verbose_status`), or a line that is not JSON
    /// (a warning on stderr): kept only as text for the error tail.
    Other(String),
}

#[derive(Deserialize)]
struct Tagged {
    message_type: String,
}

/// Parses one line; never fails (an unknown line is `Other`).
pub fn parse_line(line: &str) -> Message {
    let line = line.trim_end_matches(['\n', '\r']);
    let Ok(tagged) = serde_json::from_str::<Tagged>(line) else {
        return Message::Other(line.to_owned());
    };
    let parsed = match tagged.message_type.as_str() {
        "status" => serde_json::from_str(line).map(Message::Status),
        "summary" => serde_json::from_str(line).map(Message::Summary),
        "error" => serde_json::from_str(line).map(Message::Error),
        _ => return Message::Other(line.to_owned()),
    };
    parsed.unwrap_or_else(|_| Message::Other(line.to_owned()))
}

/// A status line as the job shows it: percent 0..=100, a rate once a second has passed, and
/// restic's own estimate of the rest once it has one.
pub fn progress_of(s: &Status) -> BackupProgress {
    let percent = if s.percent_done.is_finite() { (s.percent_done * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    #[allow(clippy::cast_precision_loss)] // a rate needs no more than f64's 52 bits
    let rate_bps = (s.seconds_elapsed > 0).then(|| s.bytes_done as f64 / s.seconds_elapsed as f64);
    BackupProgress {
        percent,
        bytes_done: s.bytes_done,
        bytes_total: s.total_bytes,
        files_done: s.files_done,
        files_total: s.total_files,
        rate_bps,
        eta_seconds: (s.seconds_remaining > 0).then_some(s.seconds_remaining),
    }
}

/// Text from restic or a source name, one clean line of at most `max` bytes.
pub fn clean(s: &str, max: usize) -> String {
    crate::alerts::rules::clean(s, max)
}

/// At most this many unreadable items are named in a job's detail.
const ITEMS_NAMED: usize = 5;

/// What the lines read so far say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Followed {
    pub progress: BackupProgress,
    pub summary: Option<Summary>,
    /// Items restic could not read: how many, and the first few ("archival: /a/b").
    pub item_errors: u64,
    pub items: Vec<String>,
}

impl Followed {
    pub fn take(&mut self, m: Message) {
        match m {
            Message::Status(s) => self.progress = progress_of(&s),
            Message::Summary(s) => {
                // The summary is the end: everything was processed.
                self.progress.percent = 100.0;
                self.progress.files_done = s.total_files_processed.max(self.progress.files_done);
                self.progress.bytes_done = s.total_bytes_processed.max(self.progress.bytes_done);
                self.progress.eta_seconds = None;
                self.summary = Some(s);
            }
            Message::Error(e) => {
                self.item_errors += 1;
                if self.items.len() < ITEMS_NAMED {
                    self.items.push(format!("{}: {}", clean(&e.during, 20), clean(&e.item, 200)));
                }
            }
            Message::Other(_) => {}
        }
    }

    /// "N items could not be read (archival: /a, …)", when any could not.
    pub fn unreadable(&self) -> Option<String> {
        (self.item_errors > 0).then(|| {
            let more = if self.item_errors > self.items.len() as u64 { ", …" } else { "" };
            format!("{} items could not be read ({}{more})", self.item_errors, self.items.join(", "))
        })
    }
}

/// Reads a growing file line by line from where it stopped last time; a line not yet complete
/// waits for its newline. Bounded: one read takes at most `MAX_READ` bytes, and a line longer
/// than `MAX_LINE` (restic's are a few hundred bytes) is dropped.
#[derive(Debug, Default)]
pub struct Tail {
    offset: u64,
    partial: Vec<u8>,
}

const MAX_READ: u64 = 4 << 20;
const MAX_LINE: usize = 64 << 10;

impl Tail {
    /// The complete lines added since the last call (none when the file does not exist yet).
    pub fn read_new(&mut self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        if len < self.offset {
            // Truncated under us: start again (the runner never does this; a new runner might).
            *self = Self::default();
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        let n = f.take(MAX_READ).read_to_end(&mut buf)?;
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            if line.len() <= MAX_LINE {
                out.push(String::from_utf8_lossy(&line).into_owned());
            }
        }
        if self.partial.len() > MAX_LINE {
            self.partial.clear();
        }
        Ok(out)
    }
}

/// The last `max` bytes of a file as text (for a runner's stderr), empty when there is none.
pub fn tail_of(path: &Path, max: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Why a restic run failed, from its stderr: restic 0.14 has no exit codes for these (they came
/// in 0.17), so its texts are recognised and said plainly, then the last lines follow.
pub fn explain_failure(stderr: &str) -> String {
    let lines: Vec<&str> =
        stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("{\"message_type\"")).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    let reason = if has("wrong password or no key found") {
        Some("wrong repository password (restic: wrong password or no key found)")
    } else if has("repository is already locked") {
        Some(
            "the repository is locked by another restic process (see the target's locks; a stale lock is never removed blindly)",
        )
    } else if has("Is there a repository at the following location?") {
        if has("connection refused") || has("no such host") || has("i/o timeout") || has("network is unreachable") {
            Some("the target is unreachable")
        } else {
            Some("no repository at the target (or it cannot be opened)")
        }
    } else if has("connection refused") || has("no such host") || has("i/o timeout") {
        Some("the target is unreachable")
    } else {
        None
    };
    let last: Vec<String> = lines.iter().rev().take(3).rev().map(|l| clean(l, 300)).collect();
    let tail = last.join(" / ");
    match (reason, tail.is_empty()) {
        (Some(r), false) => format!("{r}: {tail}"),
        (Some(r), true) => r.to_owned(),
        (None, false) => tail,
        (None, true) => "restic ended without saying why".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real lines from `restic backup --json` (Debian 12's restic 0.14.0, on this machine).
    const FIRST: &str = r#"{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":42660}"#;
    const EARLY: &str = r#"{"message_type":"status","percent_done":0.054300500221480356,"total_files":200,"files_done":10,"total_bytes":61088940,"bytes_done":3317160,"current_files":["/src/f105","/src/f108"]}"#;
    const TIMED: &str = r#"{"message_type":"status","seconds_elapsed":1,"seconds_remaining":9,"percent_done":0.11431622743606568,"total_files":1,"total_bytes":838860800,"bytes_done":95895402,"current_files":["/big/large"]}"#;
    const SUMMARY: &str = r#"{"message_type":"summary","files_new":200,"files_changed":0,"files_unmodified":0,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":202,"tree_blobs":2,"data_added":61158643,"total_files_processed":200,"total_bytes_processed":61088940,"total_duration":0.420606625,"snapshot_id":"01d04a05"}"#;
    const ERRORS: &str = concat!(
        r#"{"message_type":"error","error":{},"during":"scan","item":"/tmp/e-restic/err/src/closed"}"#,
        "\n",
        r#"{"message_type":"error","error":{"Op":"open","Path":"err/src/hidden","Err":13},"during":"archival","item":"/tmp/e-restic/err/src/hidden"}"#,
        "\nWarning: at least one source file could not be read\n"
    );

    #[test]
    fn status_lines_become_progress() {
        let Message::Status(s) = parse_line(FIRST) else { panic!("status") };
        let p = progress_of(&s);
        assert_eq!((p.percent, p.files_total, p.bytes_total, p.files_done), (0.0, 1, 42660, 0));
        assert_eq!((p.rate_bps, p.eta_seconds), (None, None));
        let Message::Status(s) = parse_line(EARLY) else { panic!("status") };
        let p = progress_of(&s);
        assert!((p.percent - 5.43).abs() < 0.01, "{p:?}");
        assert_eq!((p.files_done, p.files_total, p.bytes_done, p.bytes_total), (10, 200, 3_317_160, 61_088_940));
        let Message::Status(s) = parse_line(TIMED) else { panic!("status") };
        let p = progress_of(&s);
        assert_eq!(p.rate_bps, Some(95_895_402.0));
        assert_eq!(p.eta_seconds, Some(9));
    }

    #[test]
    fn the_summary_carries_the_snapshot_and_ends_progress() {
        let mut f = Followed::default();
        for l in [FIRST, EARLY, SUMMARY] {
            f.take(parse_line(l));
        }
        let s = f.summary.as_ref().expect("summary");
        assert_eq!(s.snapshot_id, "01d04a05");
        assert_eq!((s.files_new, s.data_added, s.total_files_processed), (200, 61_158_643, 200));
        assert!((s.total_duration - 0.42).abs() < 0.01);
        assert_eq!((f.progress.percent, f.progress.files_done, f.progress.bytes_done), (100.0, 200, 61_088_940));
        assert_eq!(f.unreadable(), None);
    }

    #[test]
    fn unreadable_items_are_counted_and_named() {
        let mut f = Followed::default();
        for l in ERRORS.lines() {
            f.take(parse_line(l));
        }
        assert_eq!(f.item_errors, 2);
        assert_eq!(
            f.unreadable().as_deref(),
            Some(
                "2 items could not be read (scan: /tmp/e-restic/err/src/closed, archival: /tmp/e-restic/err/src/hidden)"
            )
        );
        // A name with control characters (a share user chose it) is cleaned.
        let evil = r#"{"message_type":"error","error":{},"during":"archival","item":"/a\n\u001b[2Jb"}"#;
        let mut f = Followed::default();
        f.take(parse_line(evil));
        assert!(!f.items[0].chars().any(char::is_control), "{:?}", f.items);
    }

    #[test]
    fn lines_that_are_not_restics_are_other() {
        for l in [
            "",
            "Warning: at least one source file could not be read",
            "{}",
            r#"{"message_type":"status","percent_done":"x"}"#,
            r#"{"message_type":"verbose_status"}"#,
        ] {
            assert!(matches!(parse_line(l), Message::Other(_)), "{l}");
        }
    }

    #[test]
    fn restic_0_14_failures_are_named() {
        // Real stderr texts of restic 0.14.0.
        let pw = "Fatal: wrong password or no key found\n";
        assert!(explain_failure(pw).starts_with("wrong repository password"), "{}", explain_failure(pw));
        let none = "Fatal: unable to open config file: stat /tmp/e-restic/nothere/config: no such file or directory\nIs there a repository at the following location?\n/tmp/e-restic/nothere\n";
        assert!(explain_failure(none).starts_with("no repository at the target"), "{}", explain_failure(none));
        let down = "Fatal: unable to open config file: client.Head: Head \"http://127.0.0.1:1/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://127.0.0.1:1/\n";
        assert!(explain_failure(down).starts_with("the target is unreachable: "), "{}", explain_failure(down));
        let locked = "unable to create lock in backend: repository is already locked exclusively by PID 6563 on vm by root (UID 0, GID 0)\nlock was created at 2026-12-08 00:41:32 (2.723271724s ago)\nstorage ID d3a8041e\nthe `unlock` command can be used to remove stale locks\n";
        assert!(explain_failure(locked).starts_with("the repository is locked"), "{}", explain_failure(locked));
        assert_eq!(explain_failure(""), "restic ended without saying why");
        assert_eq!(explain_failure("boom\n"), "boom");
    }

    #[test]
    fn a_tail_returns_complete_lines_once() {
        let dir = crate::state::test_support::TestDir::new("backup-tail");
        let p = dir.path().join("status");
        let mut t = Tail::default();
        assert!(t.read_new(&p).unwrap().is_empty(), "no file yet");
        std::fs::write(&p, format!("{FIRST}\n{}", &EARLY[..20])).unwrap();
        assert_eq!(t.read_new(&p).unwrap(), vec![format!("{FIRST}\n")]);
        std::fs::write(&p, format!("{FIRST}\n{EARLY}\n{SUMMARY}\n")).unwrap();
        let lines = t.read_new(&p).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(matches!(parse_line(&lines[0]), Message::Status(_)));
        assert!(matches!(parse_line(&lines[1]), Message::Summary(_)));
        assert!(t.read_new(&p).unwrap().is_empty());
        assert_eq!(tail_of(&p, 10).len(), 10);
        assert_eq!(tail_of(&dir.path().join("none"), 10), "");
    }
}
