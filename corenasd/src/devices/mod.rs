//! Devices: the block-device inventory (read unprivileged from sysfs, udev's database and
//! /proc), SMART reports parsed from smartctl's raw JSON, and hotplug events.
//!
//! Everything here runs as the unprivileged daemon and parses data that devices, media and
//! tools control (model strings, labels, SMART blobs, uevents): nothing here may panic on
//! any input, and every string that leaves goes through [`clean_text`]. Running tools is the
//! helper's job (`StorageQuery::Smart`, `StorageQuery::Blkid`); this module only reads files
//! and parses what the helper hands back.

pub mod erase;
pub mod events;
pub mod hotplug;
pub mod inventory;
pub mod service;
pub mod smart;
pub mod uevent;

/// Longest model, serial, vendor or label kept, in characters.
pub const MAX_TEXT: usize = 128;

/// Makes a string from an untrusted source fit to store and show: control characters and
/// Unicode bidi controls dropped, surrounding white space trimmed, at most `max_chars`
/// characters. `None` when nothing is left.
pub fn clean_text(s: &str, max_chars: usize) -> Option<String> {
    let kept: String = s
        .chars()
        .filter(|&c| !c.is_control() && !corenas_proto::names::is_bidi_control(c))
        .skip_while(|c| c.is_whitespace())
        .take(max_chars)
        .collect();
    let out = kept.trim_end();
    (!out.is_empty()).then(|| out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_trims_caps_and_drops_controls() {
        assert_eq!(clean_text("  WDC WD140EDFZ-11A0VA0   ", MAX_TEXT).as_deref(), Some("WDC WD140EDFZ-11A0VA0"));
        assert_eq!(clean_text("ATA     ", MAX_TEXT).as_deref(), Some("ATA"));
        assert_eq!(clean_text("a\x1b[2Jb\nc\0d", MAX_TEXT).as_deref(), Some("a[2Jbcd"));
        assert_eq!(clean_text("\u{202e}gpj.exe", MAX_TEXT).as_deref(), Some("gpj.exe"));
        assert_eq!(clean_text(" \t\n ", MAX_TEXT), None);
        assert_eq!(clean_text("", MAX_TEXT), None);
        let long = "é".repeat(500);
        assert_eq!(clean_text(&long, MAX_TEXT).map(|s| s.chars().count()), Some(MAX_TEXT));
        // Capping never leaves trailing white space behind.
        assert_eq!(clean_text("abc   def", 5).as_deref(), Some("abc"));
    }
}
