//! GNU ddrescue (1.27) mapfile parser and rescue progress.
//!
//! The mapfile is the only progress channel ddrescue offers that is machine-readable, so
//! imaging jobs read it periodically. ddrescue rewrites it in place (`fopen(.., "w")`, no
//! rename), so a reader can catch it truncated at any byte. The parser is therefore strict:
//! anything that might be a torn read is rejected with [`MapError::Incomplete`] and the caller
//! simply reads again later.
//!
//! Format (ddrescue manual, "Mapfile structure"):
//!
//! ```text
//! # comments...
//! 0x00120000     ?               1        <- status line: current_pos current_status [current_pass]
//! 0x00000000  0x00117000  +               <- data blocks: pos size status, contiguous from 0
//! 0x00117000  0x00000200  -
//! ```

use std::collections::VecDeque;

use serde::Serialize;

/// Why a mapfile text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The text looks like a prefix of a mapfile ddrescue is still writing (empty, no final
    /// newline, no status line, or blocks that stop short of the domain). Read again later.
    #[error("mapfile is incomplete ({0}); ddrescue is probably rewriting it")]
    Incomplete(&'static str),
    /// The text is not a valid mapfile. A torn read that mixed two versions can in theory land
    /// here too, so callers may retry a bounded number of times before failing the job.
    #[error("mapfile line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
}

impl MapError {
    /// True when reading the file again later is the expected fix.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MapError::Incomplete(_))
    }
}

pub use corenas_proto::imaging::Phase;

/// What ddrescue is doing, from the status line's `current_status` (the API's own phases).
fn phase_from_status(c: char) -> Option<Phase> {
    Some(match c {
        '?' => Phase::Copying,
        '*' => Phase::Trimming,
        '/' => Phase::Scraping,
        '-' => Phase::Retrying,
        'F' => Phase::Filling,
        'G' => Phase::Generating,
        '+' => Phase::Finished,
        _ => return None,
    })
}

/// Byte counts per block status, restricted to the domain `[0, domain)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSummary {
    /// Size of the rescue domain in bytes (the source size we asked ddrescue to copy).
    pub domain: u64,
    /// `+` finished.
    pub rescued: u64,
    /// `?` non-tried.
    pub non_tried: u64,
    /// `*` failed, non-trimmed.
    pub non_trimmed: u64,
    /// `/` failed, non-scraped.
    pub non_scraped: u64,
    /// `-` bad sector(s).
    pub bad: u64,
    /// Number of maximal runs of bad (`-`) bytes inside the domain.
    pub bad_areas: u64,
    /// Position ddrescue is working at.
    pub current_pos: u64,
    pub phase: Phase,
    /// Pass number within the phase; absent in mapfiles older than ddrescue 1.21.
    pub pass: Option<u32>,
}

impl MapSummary {
    /// Rescued share of the domain, 0.0 to 100.0. An empty domain counts as done.
    pub fn percent_done(&self) -> f64 {
        if self.domain == 0 {
            return 100.0;
        }
        self.rescued as f64 / self.domain as f64 * 100.0
    }

    /// Every byte of the domain was read successfully.
    pub fn is_complete(&self) -> bool {
        self.rescued == self.domain
    }

    /// Nothing is left to try (no `?`, `*` or `/`), but some sectors stayed unreadable.
    pub fn is_finished_with_errors(&self) -> bool {
        self.non_tried == 0 && self.non_trimmed == 0 && self.non_scraped == 0 && self.bad > 0
    }
}

/// Block status characters (data lines use a subset of the status-line characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockStatus {
    NonTried,
    NonTrimmed,
    NonScraped,
    Bad,
    Finished,
}

impl BlockStatus {
    fn from_char(c: char) -> Option<BlockStatus> {
        Some(match c {
            '?' => BlockStatus::NonTried,
            '*' => BlockStatus::NonTrimmed,
            '/' => BlockStatus::NonScraped,
            '-' => BlockStatus::Bad,
            '+' => BlockStatus::Finished,
            _ => return None,
        })
    }
}

/// Parses a mapfile read as raw bytes. A file cut inside a multi-byte character (possible in
/// the command-line comment) is reported as incomplete rather than as bad UTF-8.
pub fn parse_bytes(bytes: &[u8], domain_size: u64) -> Result<MapSummary, MapError> {
    if bytes.last() != Some(&b'\n') {
        return Err(MapError::Incomplete("no final newline"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| MapError::Malformed { line: 0, reason: "not UTF-8" })?;
    parse(text, domain_size)
}

/// Parses a ddrescue mapfile and summarises it over the domain `[0, domain_size)`.
///
/// The blocks must start at 0, be contiguous, and reach at least `domain_size`; anything past
/// the domain (ddrescue keeps a `?` tail there when run with `--size`) is ignored. Never
/// panics, whatever the input.
pub fn parse(text: &str, domain_size: u64) -> Result<MapSummary, MapError> {
    if !text.ends_with('\n') {
        return Err(MapError::Incomplete("no final newline"));
    }

    let mut status_line: Option<(u64, Phase, Option<u32>)> = None;
    let mut counts = Counts::default();
    // End of the last block seen; the next block must start exactly here.
    let mut covered: u64 = 0;
    let mut blocks: u64 = 0;

    // `lines()` would also split on "\r\n"; ddrescue writes plain "\n" and "\r" is
    // whitespace anyway, so splitting on '\n' keeps the line count honest.
    for (idx, raw) in text[..text.len() - 1].split('\n').enumerate() {
        let line_no = idx + 1;
        let malformed = |reason| MapError::Malformed { line: line_no, reason };
        let content = strip_comment(raw);
        if content.trim_ascii().is_empty() {
            if raw.trim_ascii().is_empty() {
                // ddrescue never writes blank lines; a torn read cannot create one either.
                return Err(malformed("blank line"));
            }
            continue; // comment line
        }
        let mut fields = content.split_ascii_whitespace();

        if status_line.is_none() {
            let pos = fields.next().and_then(parse_int).ok_or_else(|| malformed("bad current_pos"))?;
            let phase = fields.next().and_then(single_char).and_then(phase_from_status);
            let phase = phase.ok_or_else(|| malformed("bad current_status"))?;
            // current_pass is decimal only and >= 1 (ddrescue reads it with "%d").
            let pass = match fields.next() {
                None => None,
                Some(p) => Some(parse_pass(p).ok_or_else(|| malformed("bad current_pass"))?),
            };
            if fields.next().is_some() {
                return Err(malformed("extra fields in status line"));
            }
            status_line = Some((pos, phase, pass));
            continue;
        }

        let pos = fields.next().and_then(parse_int).ok_or_else(|| malformed("bad block position"))?;
        let size = fields.next().and_then(parse_int).ok_or_else(|| malformed("bad block size"))?;
        let status = fields.next().and_then(single_char).and_then(BlockStatus::from_char);
        let status = status.ok_or_else(|| malformed("bad block status"))?;
        if fields.next().is_some() {
            return Err(malformed("extra fields in block line"));
        }
        if pos != covered {
            return Err(malformed("blocks are not contiguous from 0"));
        }
        // Only the empty mapfile ("0 0 ?") may hold a zero-sized block, as in ddrescue.
        if size == 0 && (pos != 0 || blocks > 0) {
            return Err(malformed("empty block"));
        }
        let end = pos.checked_add(size).filter(|&e| e <= MAX_OFFSET).ok_or_else(|| malformed("block end overflows"))?;
        counts.add(status, pos, end, domain_size);
        covered = end;
        blocks += 1;
    }

    let Some((current_pos, phase, pass)) = status_line else {
        return Err(MapError::Incomplete("no status line"));
    };
    // ddrescue always writes at least one block, so none means we caught it mid-write.
    if blocks == 0 {
        return Err(MapError::Incomplete("no blocks"));
    }
    if covered < domain_size {
        return Err(MapError::Incomplete("blocks do not cover the domain"));
    }

    Ok(MapSummary {
        domain: domain_size,
        rescued: counts.rescued,
        non_tried: counts.non_tried,
        non_trimmed: counts.non_trimmed,
        non_scraped: counts.non_scraped,
        bad: counts.bad,
        bad_areas: counts.bad_areas,
        current_pos,
        phase,
        pass,
    })
}

/// ddrescue stores positions in `long long`; larger values cannot come from it.
const MAX_OFFSET: u64 = i64::MAX as u64;

#[derive(Default)]
struct Counts {
    rescued: u64,
    non_tried: u64,
    non_trimmed: u64,
    non_scraped: u64,
    bad: u64,
    bad_areas: u64,
    /// End of the last in-domain bad run, to merge adjacent `-` blocks into one area.
    last_bad_end: Option<u64>,
}

impl Counts {
    fn add(&mut self, status: BlockStatus, pos: u64, end: u64, domain: u64) {
        // Only the part of the block inside [0, domain) counts.
        let len = end.min(domain).saturating_sub(pos);
        if len == 0 {
            return;
        }
        // Sums stay <= domain because blocks are contiguous and clipped, so no overflow.
        match status {
            BlockStatus::NonTried => self.non_tried += len,
            BlockStatus::NonTrimmed => self.non_trimmed += len,
            BlockStatus::NonScraped => self.non_scraped += len,
            BlockStatus::Finished => self.rescued += len,
            BlockStatus::Bad => {
                if self.last_bad_end != Some(pos) {
                    self.bad_areas += 1;
                }
                self.last_bad_end = Some(pos + len);
                self.bad += len;
            }
        }
    }
}

/// Cuts a trailing comment: ddrescue treats '#' at line start or after whitespace as a comment
/// (`--annotate-mapfile` appends "\t# ..." to lines).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn single_char(field: &str) -> Option<char> {
    let mut chars = field.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Unsigned integer in C syntax as ddrescue accepts it (`%lli`): `0x` hex, leading-`0` octal,
/// or decimal. No signs: ddrescue rejects negative values and never writes '+'.
fn parse_int(field: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = field.strip_prefix("0x").or_else(|| field.strip_prefix("0X")) {
        (hex, 16)
    } else if field.len() > 1 && field.starts_with('0') {
        (&field[1..], 8)
    } else {
        (field, 10)
    };
    // from_str_radix accepts a leading '+'; insist on digits only.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().filter(|&v| v <= MAX_OFFSET)
}

fn parse_pass(field: &str) -> Option<u32> {
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse::<u32>().ok().filter(|&p| p >= 1 && i32::try_from(p).is_ok())
}

/// Rescue rate over a sliding time window, from periodic (time, rescued bytes) samples.
///
/// Times are plain seconds (e.g. from a monotonic clock's elapsed time) so that the
/// arithmetic is deterministic under test.
#[derive(Debug, Clone)]
pub struct RateWindow {
    window_secs: f64,
    samples: VecDeque<(f64, u64)>,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow::new(RateWindow::DEFAULT_WINDOW_SECS)
    }
}

impl RateWindow {
    pub const DEFAULT_WINDOW_SECS: f64 = 10.0;
    /// Bounds memory if a caller samples far more often than the window needs.
    const MAX_SAMPLES: usize = 1024;

    /// A window of `window_secs` seconds; non-finite or non-positive values fall back to the
    /// default.
    pub fn new(window_secs: f64) -> Self {
        let window_secs =
            if window_secs.is_finite() && window_secs > 0.0 { window_secs } else { Self::DEFAULT_WINDOW_SECS };
        RateWindow { window_secs, samples: VecDeque::new() }
    }

    /// Records that `rescued` bytes were done at time `t_secs`.
    ///
    /// A time going backwards or a rescued count going down (mapfile replaced, job restarted)
    /// makes the old samples meaningless, so the window starts over. Non-finite times are
    /// ignored.
    pub fn push(&mut self, t_secs: f64, rescued: u64) {
        if !t_secs.is_finite() {
            return;
        }
        if self.samples.back().is_some_and(|&(last_t, last_rescued)| t_secs < last_t || rescued < last_rescued) {
            self.samples.clear();
        }
        self.samples.push_back((t_secs, rescued));
        let horizon = t_secs - self.window_secs;
        while self.samples.len() > 2 && self.samples.front().is_some_and(|&(t, _)| t < horizon) {
            self.samples.pop_front();
        }
        // With only two samples left, the older one may predate the window; keep it so a slow
        // sampler still gets a rate, but drop it once a newer pair exists (loop above).
        if self.samples.len() > Self::MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    fn rate(&self) -> Option<f64> {
        let &(t0, r0) = self.samples.front()?;
        let &(t1, r1) = self.samples.back()?;
        let elapsed = t1 - t0;
        if self.samples.len() < 2 || elapsed <= 0.0 {
            return None;
        }
        Some((r1 - r0) as f64 / elapsed)
    }

    /// Bytes per second over the window; `None` with fewer than two samples or no elapsed time.
    pub fn rate_bps(&self) -> Option<u64> {
        // Rounding down to whole bytes/s: the float-to-int cast saturates and the rate is
        // never negative (rescued only grows inside a window).
        #[allow(clippy::cast_possible_truncation, reason = "saturating float-to-int, value is non-negative")]
        self.rate().map(|r| r as u64)
    }

    /// Seconds until `remaining` more bytes are rescued at the current rate, rounded up.
    /// `Some(0)` when nothing remains; `None` when the rate is unknown or zero (stalled).
    pub fn eta_secs(&self, remaining: u64) -> Option<u64> {
        if remaining == 0 {
            return Some(0);
        }
        let rate = self.rate().filter(|&r| r > 0.0)?;
        #[allow(clippy::cast_possible_truncation, reason = "saturating float-to-int, value is non-negative")]
        Some((remaining as f64 / rate).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the brief: --size=1 MiB with one bad 4 KiB area, finished.
    const FINISHED_WITH_BAD: &str = "\
# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue --size=1048576 -- /dev/loop3 image mapfile
# Start time:   2026-11-24 10:00:00
# Current time: 2026-11-24 10:00:01
# Finished
# current_pos  current_status  current_pass
0x00080000     +               1
#      pos        size  status
0x00000000  0x00080000  +
0x00080000  0x00001000  -
0x00081000  0x0007F000  +
";

    /// Written by ddrescue 1.27 on this machine, interrupted with SIGINT mid-copy.
    const REAL_INTERRUPTED: &str = "\
# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue --max-read-rate=200k --size=1048576 src img4 map4
# Start time:   2026-11-24 09:52:59
# Current time: 2026-11-24 09:53:02
# Copying non-tried blocks... Pass 1 (forwards)
# current_pos  current_status  current_pass
0x000C0000     ?               1
#      pos        size  status
0x00000000  0x000C0000  +
0x000C0000  0x00040000  ?
";

    /// Written by ddrescue 1.27 on this machine with --size=512 KiB of a 1 MiB source: the
    /// part past the domain stays as a `?` tail.
    const REAL_SIZE_LIMITED: &str = "\
# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue --size=524288 src img2 map2
# Start time:   2026-11-24 09:50:36
# Current time: 2026-11-24 09:50:36
# Finished
# current_pos  current_status  current_pass
0x00070000     +               1
#      pos        size  status
0x00000000  0x00080000  +
0x00080000  0x00080000  ?
";

    /// The example from the ddrescue 1.27 manual: every block status at once.
    const MANUAL_EXAMPLE: &str = "\
# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue -d -c18 /dev/fd0 fdimage mapfile
# Start time:   2015-07-21 09:37:44
# Current time: 2015-07-21 09:38:19
# Copying non-tried blocks... Pass 1 (forwards)
# current_pos  current_status  current_pass
0x00120000     ?               1
#      pos        size  status
0x00000000  0x00117000  +
0x00117000  0x00000200  -
0x00117200  0x00001000  /
0x00118200  0x00007E00  *
0x00120000  0x00048000  ?
";

    const MIB: u64 = 1 << 20;

    fn malformed(text: &str, domain: u64) -> &'static str {
        match parse(text, domain) {
            Err(MapError::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn incomplete(text: &str, domain: u64) {
        match parse(text, domain) {
            Err(e @ MapError::Incomplete(_)) => assert!(e.is_retryable()),
            other => panic!("expected Incomplete, got {other:?}"),
        }
    }

    /// Status line plus the given block lines.
    fn map(status: &str, blocks: &[&str]) -> String {
        let mut s = format!("# Mapfile. Created by GNU ddrescue version 1.27\n{status}\n");
        for b in blocks {
            s.push_str(b);
            s.push('\n');
        }
        s
    }

    #[test]
    fn finished_with_one_bad_area() {
        let s = parse(FINISHED_WITH_BAD, MIB).unwrap();
        assert_eq!(
            s,
            MapSummary {
                domain: MIB,
                rescued: MIB - 0x1000,
                non_tried: 0,
                non_trimmed: 0,
                non_scraped: 0,
                bad: 0x1000,
                bad_areas: 1,
                current_pos: 0x80000,
                phase: Phase::Finished,
                pass: Some(1),
            }
        );
        assert!(!s.is_complete());
        assert!(s.is_finished_with_errors());
        let pct = s.percent_done();
        assert!((pct - 99.609375).abs() < 1e-9, "{pct}");
    }

    #[test]
    fn real_interrupted_copy() {
        let s = parse(REAL_INTERRUPTED, MIB).unwrap();
        assert_eq!(s.rescued, 0xC0000);
        assert_eq!(s.non_tried, 0x40000);
        assert_eq!(s.phase, Phase::Copying);
        assert_eq!(s.current_pos, 0xC0000);
        assert_eq!(s.pass, Some(1));
        assert_eq!(s.percent_done(), 75.0);
        assert!(!s.is_complete());
        assert!(!s.is_finished_with_errors());
    }

    #[test]
    fn tail_past_domain_is_ignored() {
        let s = parse(REAL_SIZE_LIMITED, 512 * 1024).unwrap();
        assert_eq!(s.rescued, 512 * 1024);
        assert_eq!(s.non_tried, 0);
        assert!(s.is_complete());
        assert!(!s.is_finished_with_errors());
        assert_eq!(s.percent_done(), 100.0);
        // Asking about the whole megabyte sees the tail.
        let s = parse(REAL_SIZE_LIMITED, MIB).unwrap();
        assert_eq!(s.non_tried, 512 * 1024);
        // A block straddling the domain end counts only its inner part.
        let s = parse(REAL_SIZE_LIMITED, 0x80000 + 0x100).unwrap();
        assert_eq!((s.rescued, s.non_tried), (0x80000, 0x100));
    }

    #[test]
    fn manual_example_counts_every_status() {
        let s = parse(MANUAL_EXAMPLE, 0x168000).unwrap();
        assert_eq!(s.rescued, 0x117000);
        assert_eq!(s.bad, 0x200);
        assert_eq!(s.non_scraped, 0x1000);
        assert_eq!(s.non_trimmed, 0x7E00);
        assert_eq!(s.non_tried, 0x48000);
        assert_eq!(s.bad_areas, 1);
        assert_eq!(s.rescued + s.bad + s.non_scraped + s.non_trimmed + s.non_tried, s.domain);
        assert!(!s.is_finished_with_errors());
    }

    #[test]
    fn domain_shorter_than_map_start_of_bad_area() {
        // Domain ends inside the bad block: only its inner part counts.
        let s = parse(FINISHED_WITH_BAD, 0x80800).unwrap();
        assert_eq!((s.rescued, s.bad, s.bad_areas), (0x80000, 0x800, 1));
        // Domain ends right before it: no bad area at all.
        let s = parse(FINISHED_WITH_BAD, 0x80000).unwrap();
        assert_eq!((s.bad, s.bad_areas), (0, 0));
        assert!(s.is_complete());
    }

    #[test]
    fn adjacent_bad_blocks_are_one_area() {
        let text = map(
            "0x0 - 2",
            &["0x0 0x10 -", "0x10 0x10 -", "0x20 0x10 +", "0x30 0x10 -", "0x40 0x10 /", "0x50 0x10 -", "0x60 0x10 -"],
        );
        let s = parse(&text, 0x70).unwrap();
        assert_eq!(s.bad_areas, 3);
        assert_eq!(s.bad, 0x50);
        assert_eq!(s.phase, Phase::Retrying);
        assert_eq!(s.pass, Some(2));
    }

    #[test]
    fn all_phases() {
        for (c, phase) in [
            ('?', Phase::Copying),
            ('*', Phase::Trimming),
            ('/', Phase::Scraping),
            ('-', Phase::Retrying),
            ('F', Phase::Filling),
            ('G', Phase::Generating),
            ('+', Phase::Finished),
        ] {
            let text = map(&format!("0x00000000     {c}               3"), &["0x00000000  0x00000200  ?"]);
            assert_eq!(parse(&text, 512).unwrap().phase, phase);
        }
        // F and G are phases, not block statuses.
        assert_eq!(malformed(&map("0 ? 1", &["0 512 F"]), 512), "bad block status");
    }

    #[test]
    fn phase_serializes_snake_case() {
        let s = parse(REAL_INTERRUPTED, MIB).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["phase"], "copying");
        assert_eq!(json["rescued"], 0xC0000);
        assert_eq!(json["pass"], 1);
    }

    #[test]
    fn pre_1_21_status_line_without_pass() {
        let s = parse(&map("0x00000000     ?", &["0x00000000  0x00000400  ?"]), 1024).unwrap();
        assert_eq!(s.pass, None);
        assert_eq!(s.non_tried, 1024);
    }

    #[test]
    fn decimal_and_octal_numbers() {
        // The manual allows C++ integer syntax when editing by hand.
        let s = parse(&map("100 ? 1", &["0 010 +", "8 0x8 -", "16 1008 ?"]), 1024).unwrap();
        assert_eq!((s.rescued, s.bad, s.non_tried, s.current_pos), (8, 8, 1008, 100));
        assert_eq!(malformed(&map("0 ? 1", &["0 09 +"]), 9), "bad block size");
    }

    #[test]
    fn whitespace_and_trailing_comments_tolerated() {
        let text = "0x0 + 1   \n0x0\t0x200\t+ \t\n0x200 0x200 -\t#  512 B  512\n";
        let s = parse(text, 1024).unwrap();
        assert_eq!((s.rescued, s.bad), (512, 512));
    }

    #[test]
    fn empty_domain() {
        // What ddrescue writes for an empty input.
        let s = parse(&map("0x00000000     +               1", &["0x00000000  0x00000000  ?"]), 0).unwrap();
        assert_eq!(s.percent_done(), 100.0);
        assert!(s.is_complete());
        assert!(!s.is_finished_with_errors());
    }

    #[test]
    fn huge_unknown_size_tail() {
        // With unknown input size ddrescue extends the last block to the maximum offset.
        let text = map("0 ? 1", &["0 0x1000 +", "0x1000 0x7FFFFFFFFFFFEFFF ?"]);
        let s = parse(&text, u64::MAX).unwrap_err();
        assert!(s.is_retryable(), "coverage stops at i64::MAX < domain");
        let s = parse(&text, 0x2000).unwrap();
        assert_eq!((s.rescued, s.non_tried), (0x1000, 0x1000));
    }

    #[test]
    fn incomplete_files() {
        incomplete("", MIB);
        incomplete("# Mapfile. Created by GNU ddrescue version 1.27\n", MIB);
        incomplete("# Mapfile. Created by GNU ddrescue version 1.27\n0x00080000     +               1\n", MIB);
        incomplete(&map("0 + 1", &["0 0x1000 +"]), 0x2000);
        // Cut in the middle of a line.
        incomplete(&FINISHED_WITH_BAD[..FINISHED_WITH_BAD.len() - 1], MIB);
        // Even a domain of 0 needs the block ddrescue always writes.
        incomplete(&map("0 + 1", &[]), 0);
        assert_eq!(parse_bytes(b"0 + 1\n0 0x10 +", 16), Err(MapError::Incomplete("no final newline")));
    }

    #[test]
    fn malformed_files() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("0 X 1", &["0 0x10 +"], "bad current_status"),
            ("0 ?? 1", &["0 0x10 +"], "bad current_status"),
            ("-1 ? 1", &["0 0x10 +"], "bad current_pos"),
            ("+1 ? 1", &["0 0x10 +"], "bad current_pos"),
            ("0x ? 1", &["0 0x10 +"], "bad current_pos"),
            ("0 ? 0", &["0 0x10 +"], "bad current_pass"),
            ("0 ? 0x1", &["0 0x10 +"], "bad current_pass"),
            ("0 ? 99999999999", &["0 0x10 +"], "bad current_pass"),
            ("0 ? 1 x", &["0 0x10 +"], "extra fields in status line"),
            ("0 ? 1", &["0x10 0x10 +"], "blocks are not contiguous from 0"),
            ("0 ? 1", &["0 0x10 +", "0x20 0x10 +"], "blocks are not contiguous from 0"),
            ("0 ? 1", &["0 0x10 +", "0x8 0x10 +"], "blocks are not contiguous from 0"),
            ("0 ? 1", &["0 0x10 +", "0x10 0 +"], "empty block"),
            ("0 ? 1", &["0 0 ?", "0 0 ?"], "empty block"),
            ("0 ? 1", &["0 0x10 x"], "bad block status"),
            ("0 ? 1", &["0 0x10"], "bad block status"),
            ("0 ? 1", &["0 0x10 + +"], "extra fields in block line"),
            ("0 ? 1", &["0 -0x10 +"], "bad block size"),
            ("0 ? 1", &["0 0xG +"], "bad block size"),
            ("0 ? 1", &["0 0x8000000000000000 +"], "bad block size"),
            ("0 ? 1", &["0 0xFFFFFFFFFFFFFFFFFFFF +"], "bad block size"),
            ("0 ? 1", &["0 0x7FFFFFFFFFFFFFFF +", "0x7FFFFFFFFFFFFFFF 1 ?"], "block end overflows"),
            ("0 ? 1", &["garbage"], "bad block position"),
        ];
        for (status, blocks, reason) in cases {
            assert_eq!(malformed(&map(status, blocks), 0x10), *reason, "{status} {blocks:?}");
        }
        assert_eq!(malformed("0 ? 1\n\n0 0x10 +\n", 0x10), "blank line");
        assert_eq!(malformed("0 ? 1\n0 0x10 +\n   \n", 0x10), "blank line");
        assert_eq!(malformed("0 ? 1\n0 0x10 +\n\n", 0x10), "blank line");
        assert_eq!(malformed("0 ? 1\n0 0x10 +#x\n", 0x10), "bad block status");
        assert_eq!(malformed("0 ? 1\n0 0x10 \u{2795}\n", 0x10), "bad block status");
        assert_eq!(parse_bytes(b"0 ? 1\n0 0x10 \xff\n", 16), Err(MapError::Malformed { line: 0, reason: "not UTF-8" }));
    }

    #[test]
    fn error_messages_are_readable() {
        let e = parse("0 ? 1\n0 0x10 x\n", 16).unwrap_err();
        assert_eq!(e.to_string(), "mapfile line 2: bad block status");
        assert!(!e.is_retryable());
    }

    /// Every strict prefix of a valid mapfile is either rejected or, if it already covers the
    /// domain, means exactly the same thing. This is what makes reading a file ddrescue is
    /// rewriting safe.
    #[test]
    fn every_prefix_is_rejected_or_equivalent() {
        for (text, domain) in [
            (FINISHED_WITH_BAD, MIB),
            (REAL_INTERRUPTED, MIB),
            (REAL_SIZE_LIMITED, 512 * 1024),
            (REAL_SIZE_LIMITED, MIB),
            (MANUAL_EXAMPLE, 0x168000),
        ] {
            let full = parse(text, domain).unwrap();
            let mut accepted = 0;
            for cut in 0..text.len() {
                if let Ok(s) = parse_bytes(&text.as_bytes()[..cut], domain) {
                    assert_eq!(s, full, "prefix of {cut} bytes");
                    accepted += 1;
                }
            }
            // Only the size-limited map has a prefix (without the tail) that covers the domain.
            let expect = usize::from(text == REAL_SIZE_LIMITED && domain == 512 * 1024);
            assert_eq!(accepted, expect);
        }
    }

    /// Tiny deterministic generator so the fuzz test needs no extra crate.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"0123456789abcdefxX?*/-+FG# \t\n\r\xff";
        for _ in 0..5000 {
            let len = rng.below(200);
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
            let _ = parse_bytes(&bytes, 0x1000);
            let _ = parse_bytes(&bytes, 0);
            let _ = parse_bytes(&bytes, u64::MAX);
        }
        // Random single-byte corruptions of a real file.
        for _ in 0..5000 {
            let mut bytes = MANUAL_EXAMPLE.as_bytes().to_vec();
            let i = rng.below(bytes.len());
            bytes[i] = u8::try_from(rng.next() & 0xff).unwrap();
            if let Ok(s) = parse_bytes(&bytes, 0x168000) {
                let sum = s.rescued + s.bad + s.non_scraped + s.non_trimmed + s.non_tried;
                assert_eq!(sum, s.domain);
            }
        }
    }

    #[test]
    fn rate_window_basics() {
        let mut w = RateWindow::default();
        assert_eq!(w.rate_bps(), None);
        assert_eq!(w.eta_secs(100), None);
        assert_eq!(w.eta_secs(0), Some(0));
        w.push(0.0, 0);
        assert_eq!(w.rate_bps(), None, "one sample");
        w.push(0.0, 0);
        assert_eq!(w.rate_bps(), None, "zero elapsed");
        w.push(2.0, 2_000_000);
        assert_eq!(w.rate_bps(), Some(1_000_000));
        assert_eq!(w.eta_secs(3_000_000), Some(3));
        assert_eq!(w.eta_secs(3_000_001), Some(4), "rounded up");
    }

    #[test]
    fn rate_window_slides() {
        let mut w = RateWindow::new(10.0);
        // 1 MB/s for 20 s, then 4 MB/s for 10 s: the window only sees the recent rate.
        for t in 0..=20u32 {
            w.push(f64::from(t), u64::from(t) * 1_000_000);
        }
        assert_eq!(w.rate_bps(), Some(1_000_000));
        for t in 21..=30u32 {
            w.push(f64::from(t), 20_000_000 + u64::from(t - 20) * 4_000_000);
        }
        assert_eq!(w.rate_bps(), Some(4_000_000));
    }

    #[test]
    fn rate_window_sparse_samples_still_give_a_rate() {
        let mut w = RateWindow::new(5.0);
        w.push(0.0, 0);
        w.push(60.0, 6_000);
        assert_eq!(w.rate_bps(), Some(100));
    }

    #[test]
    fn rate_window_stall_and_reset() {
        let mut w = RateWindow::new(10.0);
        w.push(0.0, 500);
        w.push(5.0, 500);
        assert_eq!(w.rate_bps(), Some(0));
        assert_eq!(w.eta_secs(1), None, "stalled");
        // Rescued going down (new mapfile) restarts the window.
        w.push(6.0, 10);
        assert_eq!(w.rate_bps(), None);
        // So does time going backwards; NaN is ignored.
        w.push(7.0, 20);
        w.push(f64::NAN, 1_000);
        assert_eq!(w.rate_bps(), Some(10));
        w.push(1.0, 30);
        assert_eq!(w.rate_bps(), None);
    }

    #[test]
    fn rate_window_is_bounded() {
        let mut w = RateWindow::new(1e9);
        for i in 0..10_000u32 {
            w.push(f64::from(i), u64::from(i));
        }
        assert!(w.samples.len() <= RateWindow::MAX_SAMPLES);
        assert_eq!(w.rate_bps(), Some(1));
        assert_eq!(RateWindow::new(f64::NAN).window_secs, RateWindow::DEFAULT_WINDOW_SECS);
        assert_eq!(RateWindow::new(-1.0).window_secs, RateWindow::DEFAULT_WINDOW_SECS);
    }
}
