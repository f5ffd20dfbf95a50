//! ISO 9660 Primary Volume Descriptor (ECMA-119, 8.4).
//!
//! Used to learn a disc's label and exact data size before imaging it: reading a CD/DVD past
//! the end of its ISO 9660 volume only yields lead-out errors, so the volume space size tells
//! ddrescue where to stop. Everything here comes from the medium and is untrusted.

/// Byte offset of the Primary Volume Descriptor on the medium (system area = sectors 0..16).
pub const PVD_OFFSET: u64 = 16 * 2048;
/// Size of the descriptor sector the caller must pass.
pub const SECTOR_SIZE: usize = 2048;

/// Why a sector is not a usable Primary Volume Descriptor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsoError {
    #[error("descriptor sector too short: {0} bytes, need {SECTOR_SIZE}")]
    TooShort(usize),
    #[error("no ISO 9660 standard identifier (CD001)")]
    NotIso9660,
    /// Some other volume descriptor (boot record 0, supplementary 2, terminator 255...).
    #[error("volume descriptor type {0} is not a Primary Volume Descriptor")]
    NotPrimary(u8),
    #[error("unsupported volume descriptor version {0}")]
    BadVersion(u8),
    /// The little- and big-endian copies of a both-byte-order field disagree: corrupt or
    /// crafted descriptor.
    #[error("both-endian field {0} is inconsistent")]
    EndianMismatch(&'static str),
    /// ECMA-119 6.1.2: 2^(n+9) and at most the 2048-byte sector.
    #[error("invalid logical block size {0}")]
    BadBlockSize(u16),
}

/// The fields of a Primary Volume Descriptor that CoreNAS uses. Text fields are the raw bytes
/// decoded lossily as UTF-8 with padding trimmed; pass them through [`display_label`] before
/// showing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pvd {
    pub system_id: String,
    pub volume_id: String,
    /// Number of logical blocks in the volume.
    pub volume_space_size: u32,
    pub logical_block_size: u16,
    pub volume_set_id: String,
    pub publisher_id: String,
    pub data_preparer_id: String,
    pub application_id: String,
    /// "YYYYMMDDHHMMSScc" as recorded, or `None` when unset (all zeros) or not digits.
    pub creation_date: Option<String>,
    /// Creation time zone: offset from GMT in 15-minute steps (-48..=52).
    pub creation_tz_quarter_hours: Option<i8>,
    pub modification_date: Option<String>,
}

impl Pvd {
    /// Size of the ISO 9660 volume in bytes (what `isosize` reports).
    pub fn image_size_bytes(&self) -> u64 {
        u64::from(self.volume_space_size) * u64::from(self.logical_block_size)
    }
}

/// Parses the Primary Volume Descriptor from the 2048-byte sector at [`PVD_OFFSET`] (a longer
/// slice starting there is fine).
pub fn parse_pvd(sector: &[u8]) -> Result<Pvd, IsoError> {
    let Some(d) = sector.get(..SECTOR_SIZE) else {
        return Err(IsoError::TooShort(sector.len()));
    };
    // Check the identifier first: a non-ISO medium should say so, not "wrong type".
    if &d[1..6] != b"CD001" {
        return Err(IsoError::NotIso9660);
    }
    if d[0] != 1 {
        return Err(IsoError::NotPrimary(d[0]));
    }
    if d[6] != 1 {
        return Err(IsoError::BadVersion(d[6]));
    }

    let volume_space_size = both_endian_u32(&d[80..88]).ok_or(IsoError::EndianMismatch("volume space size"))?;
    let logical_block_size = both_endian_u16(&d[128..132]).ok_or(IsoError::EndianMismatch("logical block size"))?;
    if !matches!(logical_block_size, 512 | 1024 | 2048) {
        return Err(IsoError::BadBlockSize(logical_block_size));
    }

    let (creation_date, creation_tz_quarter_hours) = dec_datetime(&d[813..830]);
    let (modification_date, _) = dec_datetime(&d[830..847]);
    Ok(Pvd {
        system_id: text(&d[8..40]),
        volume_id: text(&d[40..72]),
        volume_space_size,
        logical_block_size,
        volume_set_id: text(&d[190..318]),
        publisher_id: text(&d[318..446]),
        data_preparer_id: text(&d[446..574]),
        application_id: text(&d[574..702]),
        creation_date,
        creation_tz_quarter_hours,
        modification_date,
    })
}

/// ECMA-119 7.3.3: little-endian copy then big-endian copy; they must agree.
fn both_endian_u32(b: &[u8]) -> Option<u32> {
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    (le == be).then_some(le)
}

/// ECMA-119 7.2.3.
fn both_endian_u16(b: &[u8]) -> Option<u16> {
    let le = u16::from_le_bytes([b[0], b[1]]);
    let be = u16::from_be_bytes([b[2], b[3]]);
    (le == be).then_some(le)
}

/// Space-padded identifier; some mastering tools pad with NULs instead.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_matches(|c| c == ' ' || c == '\0').to_string()
}

/// ECMA-119 8.4.26.1: 16 ASCII digits then a signed time-zone byte. All-zero digits with a
/// zero offset means "not specified".
fn dec_datetime(b: &[u8]) -> (Option<String>, Option<i8>) {
    let (digits, tz) = (&b[..16], b[16]);
    if !digits.iter().all(u8::is_ascii_digit) || (digits.iter().all(|&c| c == b'0') && tz == 0) {
        return (None, None);
    }
    let tz = i8::from_ne_bytes([tz]);
    let tz = (-48..=52).contains(&tz).then_some(tz);
    (Some(String::from_utf8_lossy(digits).into_owned()), tz)
}

/// Longest label [`display_label`] returns, in characters.
pub const DISPLAY_LABEL_MAX_CHARS: usize = 64;

/// Makes untrusted label text (volume id, publisher, ...) safe to show in a UI or log line.
///
/// It drops control characters (C0, DEL, C1), Unicode bidi overrides/isolates/marks and
/// invisible zero-width or format characters, turns any whitespace into single spaces, trims,
/// and caps the result at [`DISPLAY_LABEL_MAX_CHARS`] characters.
///
/// The result is display metadata only. It is **not** a safe file name or path component:
/// "../../etc" and "-rf" pass through unchanged, because as text they are harmless. Never
/// build paths, shell commands or SQL from it.
pub fn display_label(raw: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            // Includes \t \n \r, so "A\nB" shows as "A B" rather than "AB".
            pending_space = true;
            continue;
        }
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if pending_space && count > 0 {
            if count + 1 >= DISPLAY_LABEL_MAX_CHARS {
                break; // no room for the space and a character after it
            }
            out.push(' ');
            count += 1;
        }
        pending_space = false;
        out.push(c);
        count += 1;
        if count == DISPLAY_LABEL_MAX_CHARS {
            break;
        }
    }
    out
}

/// Characters that change how surrounding text renders without showing themselves: a label
/// could use them to look like something else (e.g. "\u{202e}osi.exe" renders as "exe.iso").
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}'                      // Arabic letter mark
        | '\u{200E}' | '\u{200F}'       // LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}'       // bidi isolates
        | '\u{200B}'..='\u{200D}'       // zero width space, non-joiner, joiner
        | '\u{FEFF}'                    // zero width no-break space (BOM)
        | '\u{00AD}'                    // soft hyphen
        | '\u{180E}'                    // Mongolian vowel separator
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{E0000}'..='\u{E007F}'     // tag characters (invisible "ASCII smuggling")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plausible PVD as genisoimage writes it, with the given volume id.
    fn pvd_sector(volume_id: &str) -> Vec<u8> {
        let mut d = vec![0u8; SECTOR_SIZE];
        d[0] = 1;
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        pad(&mut d[8..40], "LINUX");
        pad(&mut d[40..72], volume_id);
        d[80..84].copy_from_slice(&180u32.to_le_bytes());
        d[84..88].copy_from_slice(&180u32.to_be_bytes());
        d[128..130].copy_from_slice(&2048u16.to_le_bytes());
        d[130..132].copy_from_slice(&2048u16.to_be_bytes());
        pad(&mut d[190..318], "SET");
        pad(&mut d[318..446], "ACME PUBLISHING");
        pad(&mut d[446..574], "");
        pad(&mut d[574..702], "GENISOIMAGE ISO 9660/HFS FILESYSTEM CREATOR");
        d[813..829].copy_from_slice(b"2026112410000000");
        d[829] = 4; // GMT+1
        d[830..846].copy_from_slice(b"0000000000000000");
        d[881] = 1;
        d
    }

    fn pad(field: &mut [u8], s: &str) {
        field.fill(b' ');
        field[..s.len()].copy_from_slice(s.as_bytes());
    }

    #[test]
    fn synthetic_pvd() {
        let pvd = parse_pvd(&pvd_sector("MYLABEL")).unwrap();
        assert_eq!(
            pvd,
            Pvd {
                system_id: "LINUX".into(),
                volume_id: "MYLABEL".into(),
                volume_space_size: 180,
                logical_block_size: 2048,
                volume_set_id: "SET".into(),
                publisher_id: "ACME PUBLISHING".into(),
                data_preparer_id: String::new(),
                application_id: "GENISOIMAGE ISO 9660/HFS FILESYSTEM CREATOR".into(),
                creation_date: Some("2026112410000000".into()),
                creation_tz_quarter_hours: Some(4),
                modification_date: None,
            }
        );
        assert_eq!(pvd.image_size_bytes(), 180 * 2048);
    }

    #[test]
    fn longer_slice_is_fine() {
        let mut d = pvd_sector("X");
        d.extend_from_slice(&[0xff; 4096]);
        assert_eq!(parse_pvd(&d).unwrap().volume_id, "X");
    }

    #[test]
    fn errors() {
        assert_eq!(parse_pvd(&[]), Err(IsoError::TooShort(0)));
        assert_eq!(parse_pvd(&pvd_sector("X")[..2047]), Err(IsoError::TooShort(2047)));

        let mut d = pvd_sector("X");
        d[1..6].copy_from_slice(b"BEA01");
        assert_eq!(parse_pvd(&d), Err(IsoError::NotIso9660));
        assert_eq!(parse_pvd(&[0u8; 2048]), Err(IsoError::NotIso9660));

        for ty in [0u8, 2, 3, 255] {
            let mut d = pvd_sector("X");
            d[0] = ty;
            assert_eq!(parse_pvd(&d), Err(IsoError::NotPrimary(ty)));
        }

        let mut d = pvd_sector("X");
        d[6] = 2;
        assert_eq!(parse_pvd(&d), Err(IsoError::BadVersion(2)));

        let mut d = pvd_sector("X");
        d[87] ^= 1;
        assert_eq!(parse_pvd(&d), Err(IsoError::EndianMismatch("volume space size")));

        let mut d = pvd_sector("X");
        d[129] = 4; // little-endian half now says 1024
        assert_eq!(parse_pvd(&d), Err(IsoError::EndianMismatch("logical block size")));

        for size in [0u16, 1, 513, 4096, 0xffff] {
            let mut d = pvd_sector("X");
            d[128..130].copy_from_slice(&size.to_le_bytes());
            d[130..132].copy_from_slice(&size.to_be_bytes());
            assert_eq!(parse_pvd(&d), Err(IsoError::BadBlockSize(size)));
        }
    }

    #[test]
    fn other_block_sizes_and_max_volume() {
        let mut d = pvd_sector("X");
        d[80..88].copy_from_slice(&[0xff; 8]);
        d[128..130].copy_from_slice(&512u16.to_le_bytes());
        d[130..132].copy_from_slice(&512u16.to_be_bytes());
        let pvd = parse_pvd(&d).unwrap();
        assert_eq!(pvd.logical_block_size, 512);
        assert_eq!(pvd.image_size_bytes(), u64::from(u32::MAX) * 512);
    }

    #[test]
    fn dates() {
        let mut d = pvd_sector("X");
        d[813..829].copy_from_slice(b"2026-11-24 10:00");
        assert_eq!(parse_pvd(&d).unwrap().creation_date, None);
        // All zeros with a zero offset means "not specified"; with an offset it is a date.
        d[813..829].copy_from_slice(b"0000000000000000");
        d[829] = 0;
        assert_eq!(parse_pvd(&d).unwrap().creation_date, None);
        d[829] = 0xF8; // -8 quarter hours
        let pvd = parse_pvd(&d).unwrap();
        assert_eq!(pvd.creation_date.as_deref(), Some("0000000000000000"));
        assert_eq!(pvd.creation_tz_quarter_hours, Some(-8));
        // Out-of-range offset: date kept, zone dropped.
        d[813..829].copy_from_slice(b"1999123123595999");
        d[829] = 100;
        let pvd = parse_pvd(&d).unwrap();
        assert_eq!(pvd.creation_date.as_deref(), Some("1999123123595999"));
        assert_eq!(pvd.creation_tz_quarter_hours, None);
    }

    #[test]
    fn hostile_label_bytes_are_lossy_and_trimmed() {
        let mut d = pvd_sector("");
        d[40..72].fill(0);
        d[40..46].copy_from_slice(b"A\xffB\x00\x1b[");
        let pvd = parse_pvd(&d).unwrap();
        assert_eq!(pvd.volume_id, "A\u{fffd}B\0\u{1b}[");
        assert_eq!(display_label(&pvd.volume_id), "A\u{fffd}B[");
    }

    #[test]
    fn random_sectors_never_panic() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let base = pvd_sector("FUZZ");
        for _ in 0..2000 {
            let mut d = base.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = usize::try_from(x % 2048).unwrap();
                d[i] = x.to_le_bytes()[7];
            }
            if let Ok(pvd) = parse_pvd(&d) {
                let _ = display_label(&pvd.volume_id);
            }
        }
    }

    #[test]
    fn display_label_hostile_corpus() {
        // Path-looking text stays text: harmless to display, never used as a path.
        assert_eq!(display_label("../../../../etc/cron.d/x"), "../../../../etc/cron.d/x");
        assert_eq!(display_label("\u{202e}osi.exe"), "osi.exe");
        assert_eq!(display_label("\"; reboot; \""), "\"; reboot; \"");
        assert_eq!(display_label("-rf"), "-rf");
        assert_eq!(display_label("A\0B"), "AB");
        assert_eq!(display_label("line1\r\nline2\n"), "line1 line2");
        assert_eq!(display_label("\u{1b}[31mRED\u{1b}[0m"), "[31mRED[0m");
        assert_eq!(display_label("C1\u{80}\u{9b}X"), "C1X");
        // NEL (U+0085) is a C1 control but also Unicode whitespace: it separates words.
        assert_eq!(display_label("A\u{85}B"), "A B");
        assert_eq!(display_label("A\u{7f}B\u{2028}C"), "AB C");
        assert_eq!(display_label("a\u{200b}b\u{200c}c\u{200d}d\u{feff}e"), "abcde");
        assert_eq!(display_label("\u{2066}x\u{2069}\u{200e}\u{200f}\u{061c}y\u{202a}"), "xy");
        assert_eq!(display_label("tag\u{E0041}\u{E0042}s"), "tags");
        assert_eq!(display_label("  MY   \t DISC  "), "MY DISC");
        assert_eq!(display_label("\u{3000}全角\u{3000}\u{3000}ラベル"), "全角 ラベル");
        assert_eq!(display_label(""), "");
        assert_eq!(display_label("\0\u{202e}\n \t"), "");
    }

    #[test]
    fn display_label_caps_length_on_char_boundaries() {
        let long = "A".repeat(200);
        assert_eq!(display_label(&long), "A".repeat(64));
        let wide = "é".repeat(200); // two bytes each
        assert_eq!(display_label(&wide).chars().count(), 64);
        let emoji = "💿".repeat(100); // four bytes each
        assert_eq!(display_label(&emoji), "💿".repeat(64));
        // A space never ends the result, even when the cap falls on it.
        let spaced = format!("{} B", "A".repeat(63));
        assert_eq!(display_label(&spaced), "A".repeat(63));
        let spaced = format!("{} B", "A".repeat(62));
        assert_eq!(display_label(&spaced), format!("{} B", "A".repeat(62)));
        // Stripped characters do not count against the cap.
        let hidden = "\u{200b}".repeat(500) + "VISIBLE";
        assert_eq!(display_label(&hidden), "VISIBLE");
    }

    /// Makes an image with the real mastering tool (genisoimage, which ./test installs).
    #[test]
    fn genisoimage_volume() {
        let tool = "/usr/bin/genisoimage";
        if !crate::test_prerequisites::require_program("genisoimage_volume", tool, "genisoimage") {
            return;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("corenasd-iso9660-test-{}-{nanos}", std::process::id()));
        let content = dir.join("content");
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("hello.txt"), vec![b'x'; 100_000]).unwrap();
        let iso = dir.join("out.iso");
        let status = std::process::Command::new(tool)
            .args(["-quiet", "-V", "MYLABEL", "-publisher", "CORENAS TEST", "-o"])
            .arg(&iso)
            .arg(&content)
            .status()
            .unwrap();
        assert!(status.success());
        let bytes = std::fs::read(&iso).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let offset = usize::try_from(PVD_OFFSET).unwrap();
        let pvd = parse_pvd(&bytes[offset..offset + SECTOR_SIZE]).unwrap();
        assert_eq!(pvd.volume_id, "MYLABEL");
        assert_eq!(pvd.publisher_id, "CORENAS TEST");
        assert_eq!(pvd.logical_block_size, 2048);
        assert_eq!(pvd.image_size_bytes(), bytes.len() as u64);
        assert_eq!(pvd.creation_date.as_ref().map(String::len), Some(16));
        // The next descriptor genisoimage writes is the set terminator (type 255).
        assert_eq!(parse_pvd(&bytes[offset + SECTOR_SIZE..]), Err(IsoError::NotPrimary(255)));
    }
}
