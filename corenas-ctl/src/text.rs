//! Text for people: escaping of untrusted strings ([`printable`]), aligned tables, `key: value`
//! blocks and the few units every group shows (sizes, rates, times, percentages).
//!
//! Knows no domain type; a renderer that needs one lives in its group's `show`.

use corenas_proto::names::is_bidi_control;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes control and bidi characters; everything else is shown as it is.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape_if(s, |c| c.is_control() || is_bidi_control(c))
}

/// Like [`printable`], but keeps line breaks and tabs, for messages of several lines.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape_if(s, |c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
}

pub(crate) fn escape_if(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Columns aligned to their widest cell, two spaces apart; the last column is not padded.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; cells are made printable here. Missing cells are empty, extra ones dropped.
    pub fn row<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, cells: I) {
        let mut row: Vec<String> = cells.into_iter().map(|c| printable(c.as_ref()).into_owned()).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let headers = self.headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == widths.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell}{:pad$}  ", "", pad = w - width(cell));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{:w$}  {}", format!("{k}:"), printable(v), w = w + 1);
    }
    out
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub(crate) fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.join(",") }
}

/// Sizes in IEC units with one decimal (`512 B`, `1.5 KiB`, `4.4 GiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.95 and up would print as "1024.0"; show it in the next unit instead.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A size with the exact byte count when the unit rounds it.
pub(crate) fn size_exact(bytes: u64) -> String {
    if bytes < 1024 { size(bytes) } else { format!("{} ({bytes} bytes)", size(bytes)) }
}

/// A read rate, always in MiB/s so lines of a follow compare at a glance.
pub fn rate(bps: Option<u64>) -> String {
    match bps {
        Some(b) => format!("{:.1} MiB/s", b as f64 / 1_048_576.0),
        None => "-".to_owned(),
    }
}

/// Time left as h:mm:ss.
pub fn eta(secs: Option<u64>) -> String {
    match secs {
        Some(s) => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        None => "-".to_owned(),
    }
}

pub(crate) fn percent(p: f64) -> String {
    if p.is_finite() { format!("{:.1}%", p.clamp(0.0, 100.0)) } else { "-".to_owned() }
}

pub(crate) fn or_dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".to_owned(), str::to_owned)
}

// ---- storage and devices -------------------------------------------------------------------
pub(crate) fn size_or_dash(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_owned(), size)
}

pub fn percent_or_dash(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), percent)
}

/// Seconds since the epoch as people read them here: `YYYY-MM-DD HH:MM:SS +HH:MM` in the
/// server's local zone (TZ, else /etc/localtime), with the offset so a time is never ambiguous.
/// JSON output keeps corenasd's UTC values.
pub(crate) fn local_time(secs: i64) -> String {
    time_at_offset(secs, corenas_proto::localtime::offset_at(secs))
}

/// `secs` at a UTC offset of `offset` seconds; the bare number if either is out of range.
pub(crate) fn time_at_offset(secs: i64, offset: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    let offset = i32::try_from(offset).ok().and_then(|o| time::UtcOffset::from_whole_seconds(o).ok());
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .zip(offset)
        .and_then(|(t, o)| t.checked_to_offset(o))
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// An RFC 3339 time from corenasd (imaging's created/started/finished) in local time; shown as
/// it came when it does not parse.
pub(crate) fn local_rfc3339(s: &str) -> String {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_or_else(|_| s.to_owned(), |t| local_time(t.unix_timestamp()))
}

pub(crate) fn time_or_dash(secs: Option<i64>) -> String {
    secs.map_or_else(|| "-".to_owned(), local_time)
}

pub(crate) fn indent_block(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

pub(crate) fn names<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.iter().map(T::to_string).collect::<Vec<_>>().join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_leave_no_trailing_space() {
        let mut t = Table::new(&["NAME", "ID", "NOTE"]);
        t.row(["alice", "50001", "first user"]);
        t.row(["bo", "7", ""]);
        assert_eq!(t.render(), "NAME   ID     NOTE\nalice  50001  first user\nbo     7\n");
    }

    #[test]
    fn tables_pad_short_rows_and_count_characters_not_bytes() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(["é", "x"]);
        t.row(["ab", "y", "z"]);
        assert_eq!(t.render(), "A   B  C\né   x\nab  y  z\n");
    }

    #[test]
    fn tables_escape_terminal_control_characters() {
        let mut t = Table::new(&["NAME", "FULL NAME"]);
        t.row(["eve", "Eve\u{1b}[2J\u{202e}gpj.exe"]);
        let out = t.render();
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}'), "{out}");
        assert!(out.contains("Eve\\u{1b}[2J\\u{202e}gpj.exe"), "{out}");
    }

    #[test]
    fn epoch_seconds_read_with_their_offset() {
        assert_eq!(time_at_offset(0, 0), "1970-01-01 00:00:00 +00:00");
        assert_eq!(time_at_offset(951_782_400, 0), "2000-02-29 00:00:00 +00:00");
        assert_eq!(time_at_offset(1_709_210_096, 0), "2024-02-29 12:34:56 +00:00");
        assert_eq!(time_at_offset(1_796_681_643, 3_600), "2026-12-07 23:14:03 +01:00");
        assert_eq!(time_at_offset(1_783_036_800, 7_200), "2026-07-03 02:00:00 +02:00");
        assert_eq!(time_at_offset(0, -16_200), "1969-12-31 19:30:00 -04:30");
        assert_eq!(time_at_offset(-1, 0), "1969-12-31 23:59:59 +00:00");
        assert_eq!(time_at_offset(i64::MAX, 0), i64::MAX.to_string(), "out of range: the number");
        assert_eq!(time_or_dash(None), "-");
        assert_eq!(local_rfc3339("not a time"), "not a time");
        assert_eq!(local_rfc3339("2026-12-07T21:14:03Z"), local_time(1_796_678_043));
    }
}
