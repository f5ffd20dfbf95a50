//! Validated newtypes. Each validates while it is decoded (`#[serde(try_from = "String")]`) and
//! when clap parses it (`FromStr`), so an invalid value cannot exist in any CoreNAS process.
//! Allow-lists are ASCII and checked length first; CoreNAS is stricter than the tools it drives.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a `String` newtype whose only constructor is `validate` (used by raid.rs and lvm.rs
/// too, hence the fully qualified paths).
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $validate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = $crate::error::ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $validate(&s)?;
                Ok(Self(s))
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = $crate::error::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::try_from(s.to_owned())
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
    };
}
pub(crate) use validated_string;

/// Shows a rejected value safely in a message: control characters escaped, long values cut.
pub fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn check_account_name(field: &'static str, what: &str, s: &str) -> Result<(), ValidationError> {
    let rule = "use 1-32 of a-z, 0-9, '_' and '-', starting with a letter";
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(ValidationError::new(field, format!("{what} '{}' is invalid: {rule}", shown(s)))) }
}

fn check_user_name(s: &str) -> Result<(), ValidationError> {
    check_account_name("user", "user name", s)
}
fn check_group_name(s: &str) -> Result<(), ValidationError> {
    check_account_name("group", "group name", s)
}

validated_string!(
    /// A login name: `[a-z][a-z0-9_-]{0,31}`. Also the SMB account name.
    UserName,
    check_user_name
);
validated_string!(
    /// A group name, same rule as user names.
    GroupName,
    check_group_name
);

fn check_full_name(s: &str) -> Result<(), ValidationError> {
    let ok = s.len() <= 64 && s.bytes().all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b':' | b',' | b'=' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "full_name",
            format!(
                "full name '{}' is invalid: use up to 64 printable ASCII characters without ':', ',', '=' or '\\'",
                shown(s)
            ),
        ))
    }
}
validated_string!(
    /// The GECOS full name: printable ASCII without the passwd/GECOS separators.
    FullName,
    check_full_name
);

/// Login shells CoreNAS will set. Anything else is refused rather than trusted.
pub const SHELLS: &[&str] =
    &["/usr/sbin/nologin", "/bin/false", "/bin/bash", "/bin/sh", "/usr/bin/bash", "/usr/bin/zsh"];

fn check_shell(s: &str) -> Result<(), ValidationError> {
    if SHELLS.contains(&s) {
        Ok(())
    } else {
        Err(ValidationError::new("shell", format!("shell '{}' is invalid: use one of {}", shown(s), SHELLS.join(", "))))
    }
}
validated_string!(
    /// A login shell from the fixed list [`SHELLS`].
    Shell,
    check_shell
);

impl Shell {
    pub fn nologin() -> Self {
        Self("/usr/sbin/nologin".into())
    }
    pub fn bash() -> Self {
        Self("/bin/bash".into())
    }
}

const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

fn check_share_path(s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("path", format!("path '{}' is invalid: {why}", shown(s)));
    if s.len() > PATH_MAX {
        return Err(bad("longer than 4096 bytes"));
    }
    if !s.starts_with('/') {
        return Err(bad("use an absolute path beneath a share root, e.g. /storage/projects/docs"));
    }
    if s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(bad("control characters are not allowed"));
    }
    if s.len() > 1 && s.ends_with('/') {
        return Err(bad("remove the trailing '/'"));
    }
    for comp in s[1..].split('/') {
        match comp {
            "" => return Err(bad("empty path component ('//')")),
            "." | ".." => return Err(bad("'.' and '..' components are not allowed")),
            c if c.len() > NAME_MAX => return Err(bad("a component is longer than 255 bytes")),
            _ => {}
        }
    }
    Ok(())
}

/// Unicode bidi controls can make a name display as something else (`\u{202e}osi.exe`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

validated_string!(
    /// An absolute path that the helper will resolve beneath a configured share root. Lexically
    /// clean (no `.`, `..`, `//`, control characters); symlinks are refused when it is resolved.
    SharePath,
    check_share_path
);

impl SharePath {
    /// The path's components after the leading '/'; never empty strings, never `.`/`..`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/').filter(|c| !c.is_empty())
    }
}

/// Ids inside the managed ranges that CoreNAS never allocates nor touches.
pub const RESERVED_IDS: [u32; 2] = [65534, 65535];

/// Ids Debian reserves (policy 9.2.2: 60000-64999 are allocated by Debian, 65000-65533 are
/// reserved, 65534 is `nobody`, 65535 is the 16-bit -1); systemd's dynamic users (61184-65519)
/// live there too. A new share account never gets one; one that already has one (made before
/// CoreNAS avoided the band) stays managed, since renumbering would orphan its files and ACLs.
pub const DEBIAN_RESERVED_IDS: std::ops::RangeInclusive<u32> = 60_000..=65_535;

/// The ranges a new share user or group takes its id from: the share range minus Debian's band.
const NEW_SHARE_IDS: [std::ops::RangeInclusive<u32>; 2] = [50_000..=59_999, 65_536..=100_000];
/// The admin range, for new admins as for existing ones.
const NEW_ADMIN_IDS: [std::ops::RangeInclusive<u32>; 1] = [10_000..=20_000];

/// Which managed range an account belongs to. The ranges come from the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum AccountKind {
    /// Administrators who may log in to CoreNAS: ids 10000–20000.
    Admin,
    /// Users who only access shares: ids 50000–100000 (new ones outside Debian's 60000–65535).
    ShareUser,
}

impl AccountKind {
    pub const ALL: [AccountKind; 2] = [AccountKind::Admin, AccountKind::ShareUser];

    pub fn range(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Self::Admin => 10_000..=20_000,
            Self::ShareUser => 50_000..=100_000,
        }
    }
    /// The kind whose range holds `id`. `nobody`/`nogroup` (65534) and the 16-bit "no id"
    /// (65535) sit inside the share range but are never managed.
    pub fn of_id(id: u32) -> Option<Self> {
        if RESERVED_IDS.contains(&id) {
            return None;
        }
        Self::ALL.into_iter().find(|k| k.range().contains(&id))
    }
    /// Where a new account of this kind takes its id from, lowest first: the kind's range
    /// without [`DEBIAN_RESERVED_IDS`].
    pub fn new_id_ranges(self) -> &'static [std::ops::RangeInclusive<u32>] {
        match self {
            Self::Admin => &NEW_ADMIN_IDS,
            Self::ShareUser => &NEW_SHARE_IDS,
        }
    }
    /// The new-id ranges as people read them: "50000-59999 or 65536-100000".
    pub fn new_id_ranges_text(self) -> String {
        let parts: Vec<String> = self.new_id_ranges().iter().map(|r| format!("{}-{}", r.start(), r.end())).collect();
        parts.join(" or ")
    }
    /// Whether `id` may be given to a new account of this kind (an existing account keeps any id
    /// [`AccountKind::of_id`] accepts).
    pub fn allows_new_id(self, id: u32) -> bool {
        self.new_id_ranges().iter().any(|r| r.contains(&id))
    }
    /// Refuses `id` for a new account of this kind, naming `field` ("uid"/"gid") and the
    /// accepted ranges.
    pub fn check_new_id(self, field: &'static str, id: u32) -> Result<(), ValidationError> {
        if self.allows_new_id(id) {
            return Ok(());
        }
        let why = if DEBIAN_RESERVED_IDS.contains(&id) {
            format!(
                "{field} {id} is in {}-{}, which Debian reserves for its own and systemd's dynamic accounts",
                DEBIAN_RESERVED_IDS.start(),
                DEBIAN_RESERVED_IDS.end()
            )
        } else {
            format!("{field} {id} is not in the {self} range")
        };
        Err(ValidationError::new(
            field,
            format!("{why}: a new {self} account takes a {field} in {}", self.new_id_ranges_text()),
        ))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ShareUser => "share",
        }
    }
}

impl std::str::FromStr for AccountKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "share" | "share-user" => Ok(Self::ShareUser),
            _ => {
                Err(ValidationError::new("kind", format!("account kind '{}' is invalid: use admin or share", shown(s))))
            }
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares a numeric id that must lie inside one of the managed ranges.
macro_rules! managed_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "u32", into = "u32")]
        pub struct $name(u32);

        impl $name {
            pub fn get(self) -> u32 {
                self.0
            }
            pub fn kind(self) -> AccountKind {
                AccountKind::of_id(self.0).unwrap_or(AccountKind::ShareUser)
            }
            /// Refuses this id for a new account inside Debian's reserved band; an existing
            /// account there stays valid as it is (never renumbered).
            pub fn check_new(self) -> Result<(), ValidationError> {
                self.kind().check_new_id($field, self.0)
            }
        }
        impl TryFrom<u32> for $name {
            type Error = ValidationError;
            fn try_from(v: u32) -> Result<Self, Self::Error> {
                if AccountKind::of_id(v).is_some() {
                    Ok(Self(v))
                } else {
                    Err(ValidationError::new(
                        $field,
                        format!(concat!($what, " {} is outside the managed ranges: use 10000-20000 (admins) or 50000-59999 or 65536-100000 (share users)"), v),
                    ))
                }
            }
        }
        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let n: u32 = parse_decimal(s).ok_or_else(|| {
                    ValidationError::new($field, format!(concat!($what, " '{}' is invalid: use a decimal number"), shown(s)))
                })?;
                Self::try_from(n)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

managed_id!(
    /// A uid inside a managed range; its kind follows from the range.
    ManagedUid, "uid", "uid"
);
managed_id!(
    /// A gid inside a managed range.
    ManagedGid, "gid", "gid"
);

/// Decimal digits only (no sign, no leading '+', at most 10 digits), so "010" and "1e3" and
/// "-1" all mean what they look like or nothing.
pub fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for good in ["alice", "a", "bob-smith", "x_1", "a2345678901234567890123456789012"] {
            assert!(good.parse::<UserName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Max!",
            "1abc",
            "-c/srv/pools/tank/pub/evil.conf",
            "alice%secret",
            "root:x",
            "a b",
            "ａｌｉｃｅ",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "alice\n",
            "al;ice",
            "_x",
        ] {
            let e = bad.parse::<UserName>().unwrap_err();
            assert_eq!(e.field, "user");
            assert!(e.message.contains("use 1-32 of a-z"), "{}", e.message);
        }
    }

    #[test]
    fn names_validate_while_decoding() {
        let r: Result<UserName, _> = serde_json::from_str("\"Max!\"");
        assert!(r.is_err());
        let r: Result<UserName, _> = postcard::from_bytes(&postcard::to_stdvec(&"x y".to_string()).unwrap());
        assert!(r.is_err());
        let r: Result<ManagedUid, _> = serde_json::from_str("0");
        assert!(r.is_err());
        let r: Result<ManagedUid, _> = serde_json::from_str("10000");
        assert_eq!(r.unwrap().kind(), AccountKind::Admin);
    }

    #[test]
    fn share_paths() {
        for good in ["/storage/a", "/storage/a b/c", "/storage/ü"] {
            assert!(good.parse::<SharePath>().is_ok(), "{good}");
        }
        for bad in [
            "/srv/pools/tank/share/../../../etc/shadow",
            "%252e%252e%252fetc%252fpasswd",
            "--set=u::rwx,g::---,o::---",
            "-b",
            "storage/x",
            "/storage//x",
            "/storage/./x",
            "/storage/x/",
            "/storage/x\n",
            "/storage/\u{202e}osi.exe",
        ] {
            let e = bad.parse::<SharePath>().unwrap_err();
            assert_eq!(e.field, "path", "{bad}");
        }
    }

    #[test]
    fn ids_and_ranges() {
        for bad in [
            "0",
            "1000",
            "9999",
            "20001",
            "49999",
            "65534",
            "65535",
            "100001",
            "-1",
            "010x",
            "99999999999999999999",
            " 10000",
        ] {
            assert!(bad.parse::<ManagedUid>().is_err(), "{bad}");
        }
        assert_eq!("50000".parse::<ManagedGid>().unwrap().kind(), AccountKind::ShareUser);
        assert_eq!("20000".parse::<ManagedUid>().unwrap().kind(), AccountKind::Admin);
    }

    #[test]
    fn debians_reserved_band_is_kept_but_never_given_out() {
        // An existing account in the band is still managed (parses, is a share user) ...
        for kept in ["60000", "61000", "61184", "65533"] {
            let uid: ManagedUid = kept.parse().unwrap();
            assert_eq!(uid.kind(), AccountKind::ShareUser, "{kept}");
            // ... but the id is refused for a new account, naming the field and the ranges.
            let e = uid.check_new().unwrap_err();
            assert_eq!(e.field, "uid");
            assert!(e.message.contains("Debian reserves"), "{}", e.message);
            assert!(e.message.contains("50000-59999 or 65536-100000"), "{}", e.message);
        }
        let e = "61000".parse::<ManagedGid>().unwrap().check_new().unwrap_err();
        assert_eq!(e.field, "gid");
        for new in ["50000", "59999", "65536", "100000"] {
            assert!(new.parse::<ManagedUid>().unwrap().check_new().is_ok(), "{new}");
        }
        assert!("10000".parse::<ManagedUid>().unwrap().check_new().is_ok());
        assert!(AccountKind::Admin.check_new_id("uid", 50000).unwrap_err().message.contains("10000-20000"));
        // The new-id ranges lie inside the kind's range and skip the whole band.
        for kind in AccountKind::ALL {
            for r in kind.new_id_ranges() {
                assert!(r.clone().all(|id| AccountKind::of_id(id) == Some(kind) && !DEBIAN_RESERVED_IDS.contains(&id)));
            }
        }
    }

    #[test]
    fn full_names_and_shells() {
        assert!("Alice Example".parse::<FullName>().is_ok());
        for bad in ["a:b", "a,b", "x\ny", "é"] {
            assert!(bad.parse::<FullName>().is_err(), "{bad}");
        }
        assert!("/bin/bash".parse::<Shell>().is_ok());
        assert!("/tmp/evil".parse::<Shell>().is_err());
    }
}

fn check_device_path(s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("device", format!("device '{}' is invalid: {why}", shown(s)));
    if s.len() > 300 {
        return Err(bad("longer than 300 bytes"));
    }
    if let Some(id) = s.strip_prefix("/dev/disk/by-id/") {
        let ok = !id.is_empty()
            && id.len() <= NAME_MAX
            && !id.starts_with('.')
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        return if ok {
            Ok(())
        } else {
            Err(bad("a /dev/disk/by-id/ name uses only A-Z, a-z, 0-9, '.', '_', ':', '-'"))
        };
    }
    let Some(name) = s.strip_prefix("/dev/") else {
        return Err(bad("use /dev/<disk> (sr, sd, vd, nvme, mmcblk or loop devices) or /dev/disk/by-id/<id>"));
    };
    if is_disk_name(name) {
        Ok(())
    } else {
        Err(bad(
            "only disks and their partitions are accepted: /dev/srN, /dev/sdX[N], /dev/vdX[N], /dev/nvmeNnM[pK], /dev/mmcblkN[pK], /dev/loopN[pK]",
        ))
    }
}

/// Kernel names of the block devices CoreNAS images or manages (whole disks and partitions);
/// everything else under /dev (`mem`, `fd/3`, `tty`...) is refused by name.
pub fn is_disk_name(name: &str) -> bool {
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit())
    }
    fn letters_then_digits(s: &str) -> bool {
        let letters = s.bytes().take_while(u8::is_ascii_lowercase).count();
        (1..=3).contains(&letters) && (s.len() == letters || digits(&s[letters..]))
    }
    let part = |s: &str| match s.split_once('p') {
        Some((a, b)) => digits(a) && digits(b),
        None => digits(s),
    };
    if let Some(r) = name.strip_prefix("nvme") {
        return match r.split_once('n') {
            Some((ctrl, ns)) => digits(ctrl) && part(ns),
            None => false,
        };
    }
    if let Some(r) = name.strip_prefix("mmcblk") {
        return part(r);
    }
    if let Some(r) = name.strip_prefix("loop") {
        // loopN, and loopNpM for a partition of a loop device with partition scanning on.
        return part(r);
    }
    if let Some(r) = name.strip_prefix("sr") {
        return digits(r);
    }
    if let Some(r) = name.strip_prefix("xvd").or_else(|| name.strip_prefix("sd")).or_else(|| name.strip_prefix("vd")) {
        return letters_then_digits(r);
    }
    false
}

validated_string!(
    /// A block device as the caller names it: `/dev/<disk>` or `/dev/disk/by-id/<id>`. The helper
    /// still resolves it and checks it is a block device of an accepted kind and not in use.
    DevicePath,
    check_device_path
);

impl DevicePath {
    /// The kernel name for `/dev/<name>` paths; None for by-id links (resolved by the helper).
    pub fn kernel_name(&self) -> Option<&str> {
        self.0.strip_prefix("/dev/").filter(|n| !n.starts_with("disk/"))
    }
}

fn check_job_name(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!(
                "name '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit",
                shown(s)
            ),
        ))
    }
}
validated_string!(
    /// An imaging job's name (display and archive file name hint; files on disk are named by the
    /// job id, never by this).
    JobName,
    check_job_name
);

fn check_tag(s: &str) -> Result<(), ValidationError> {
    if s.len() > 32 {
        return Err(ValidationError::new("tag", "a tag is at most 32 bytes"));
    }
    let ok = !s.is_empty()
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "tag",
            format!(
                "tag '{}' is invalid: use 1-32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
                shown(s)
            ),
        ))
    }
}
validated_string!(
    /// An archive tag: lower-case ASCII, so search and filters behave the same everywhere.
    Tag,
    check_tag
);

fn check_note(s: &str) -> Result<(), ValidationError> {
    if s.len() > 2000 {
        return Err(ValidationError::new("notes", "notes are at most 2000 bytes"));
    }
    if s.chars().any(|c| (c.is_control() && c != '\n') || is_bidi_control(c)) {
        return Err(ValidationError::new(
            "notes",
            "notes may not contain control characters (other than line breaks) or bidi controls",
        ));
    }
    Ok(())
}
validated_string!(
    /// Free-text notes on an archive entry: printable text and line breaks, at most 2000 bytes.
    Note,
    check_note
);

fn check_search(s: &str) -> Result<(), ValidationError> {
    if s.len() > 64 || s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(ValidationError::new("search", "a search text is at most 64 bytes without control characters"));
    }
    Ok(())
}
validated_string!(
    /// Text to search the archive for (matched as plain text, never as a pattern).
    SearchText,
    check_search
);

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn disk_names() {
        for ok in ["sr0", "sda", "sdab1", "vdb", "nvme0n1", "nvme0n1p2", "mmcblk0", "mmcblk0p1", "loop7", "xvda"] {
            assert!(is_disk_name(ok), "{ok}");
        }
        for bad in ["mem", "fd", "tty", "sd", "loop", "sda-1", "nvme0", "sdA", "loopx", "sr", "sdabcd", "null"] {
            assert!(!is_disk_name(bad), "{bad}");
        }
    }

    #[test]
    fn device_paths() {
        for ok in ["/dev/sr0", "/dev/loop3", "/dev/disk/by-id/ata-WDC_WD40-68_WX12:0"] {
            assert!(ok.parse::<DevicePath>().is_ok(), "{ok}");
        }
        for bad in [
            "/dev/sda --assume-clean",
            "/dev/fd/3",
            "/proc/self/fd/0",
            "/dev/mem",
            "sda",
            "/dev/../dev/sda",
            "/dev/disk/by-id/../../sda",
            "/dev/disk/by-id/",
        ] {
            let e = bad.parse::<DevicePath>().unwrap_err();
            assert_eq!(e.field, "device", "{bad}");
        }
    }

    #[test]
    fn job_names_tags_notes() {
        assert!("movie_disc-1.2024".parse::<JobName>().is_ok());
        for bad in ["--fill-mode=+", "-rf", "a b", "", "../x", "x;y", &"a".repeat(65)] {
            assert!(bad.parse::<JobName>().is_err(), "{bad}");
        }
        assert!("movies".parse::<Tag>().is_ok());
        assert!("x".repeat(79).parse::<Tag>().is_err());
        assert!("\u{202e}osi.exe".parse::<Tag>().is_err());
        assert!("Line one\nline two".parse::<Note>().is_ok());
        assert!("bad\u{202e}".parse::<Note>().is_err());
        assert!("a\rb".parse::<Note>().is_err());
    }
}

/// Section names samba reserves or treats specially; never an ordinary share's name.
pub const RESERVED_SHARE_NAMES: &[&str] = &["global", "homes", "printers", "print$", "ipc$"];

fn check_share_name(s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("name", format!("share name '{}' is invalid: {why}", shown(s)));
    let rule = "use 1-32 of a-z, 0-9, '_' and '-', starting with a letter or digit";
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(bad(rule));
    }
    if RESERVED_SHARE_NAMES.contains(&s) {
        return Err(bad("it is reserved by samba (global, homes, printers); choose another name"));
    }
    Ok(())
}
validated_string!(
    /// A share's name: `[a-z0-9][a-z0-9_-]{0,31}`, not a name samba reserves. Lower case only, so
    /// two shares cannot differ by case alone (SMB share names are case-insensitive).
    ShareName,
    check_share_name
);

/// One path component of a share or mount path: a portable file name that needs no quoting in
/// smb.conf, exports or a unit file, and that no samba macro (`%`) can reach.
fn is_plain_component(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= NAME_MAX
        && !c.starts_with('.')
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+@".contains(&b))
}

fn check_plain_path(field: &'static str, roots: &[&str], s: &str) -> Result<(), ValidationError> {
    let bad = |why: String| ValidationError::new(field, format!("path '{}' is invalid: {why}", shown(s)));
    let examples = roots.iter().map(|r| format!("{r}/<name>")).collect::<Vec<_>>().join(" or ");
    if s.len() > 1024 {
        return Err(bad("longer than 1024 bytes".into()));
    }
    let Some(root) = roots.iter().find(|r| s.strip_prefix(**r).is_some_and(|rest| rest.starts_with('/'))) else {
        return Err(bad(format!("use a path beneath {examples}")));
    };
    for c in s[root.len() + 1..].split('/') {
        if !is_plain_component(c) {
            return Err(bad(format!(
                "component '{}' is not accepted: use A-Z, a-z, 0-9, '.', '_', '-', '+', '@', not starting with '.'",
                shown(c)
            )));
        }
    }
    Ok(())
}

fn check_storage_path(s: &str) -> Result<(), ValidationError> {
    check_plain_path("path", &["/storage"], s)
}
validated_string!(
    /// Where a share lives: `/storage/<name>[/...]`, plain components only (no spaces, no `%`,
    /// no leading dots), so it renders into smb.conf and exports without quoting.
    StoragePath,
    check_storage_path
);

impl StoragePath {
    pub fn for_share(name: &ShareName) -> Self {
        Self(format!("/storage/{}", name.as_str()))
    }
    /// The same path as the ACL operations take it.
    pub fn as_share_path(&self) -> SharePath {
        SharePath(self.0.clone())
    }
}

fn check_mount_target(s: &str) -> Result<(), ValidationError> {
    check_plain_path("target", &["/mnt/corenas", "/storage"], s)
}
validated_string!(
    /// A mount point CoreNAS manages: `/mnt/corenas/<name>[/...]` (storage) or `/storage/<name>`
    /// (a share's bind mount). Plain components, so the unit name is a simple escape.
    MountTarget,
    check_mount_target
);

impl MountTarget {
    /// The systemd unit name stem for this mount point (`systemd-escape --path`): '/' becomes
    /// '-', and the characters that escape are '-' and '+' and '@' (as \xNN).
    pub fn unit_stem(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.0[1..].split('/').enumerate() {
            if i > 0 {
                out.push('-');
            }
            for b in c.bytes() {
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
        }
        out
    }
}

fn check_mount_source_path(s: &str) -> Result<(), ValidationError> {
    check_plain_path("source", &["/mnt/corenas", "/storage"], s)
}
validated_string!(
    /// The source of a bind mount: a path beneath `/mnt/corenas` (a pool path) or `/storage`.
    BindSource,
    check_mount_source_path
);

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // An all-numeric dotted name would be read as an (odd) IPv4 address by the tools.
        && !s.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

fn check_host(s: &str) -> Result<(), ValidationError> {
    let ok = s.parse::<std::net::IpAddr>().is_ok() || is_hostname(s);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "host",
            format!("host '{}' is invalid: use an IPv4 or IPv6 address or a DNS host name", shown(s)),
        ))
    }
}
validated_string!(
    /// A server: an IP address or a DNS host name (RFC 1123 labels).
    HostName,
    check_host
);

fn check_nfs_client(s: &str) -> Result<(), ValidationError> {
    let bad = || {
        ValidationError::new(
            "client",
            format!(
                "NFS client '{}' is invalid: use an IP address, a network in CIDR form (192.168.1.0/24, \
                 fd00::/64), a host name, or *.domain",
                shown(s)
            ),
        )
    };
    if s.len() > 255 {
        return Err(bad());
    }
    if let Some((addr, prefix)) = s.split_once('/') {
        let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let ok = !prefix.is_empty()
            && prefix.len() <= 3
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && !(prefix.len() > 1 && prefix.starts_with('0'))
            && prefix.parse::<u32>().is_ok_and(|p| p <= max);
        return if ok { Ok(()) } else { Err(bad()) };
    }
    if let Some(domain) = s.strip_prefix("*.") {
        return if is_hostname(domain) && domain.contains('.') { Ok(()) } else { Err(bad()) };
    }
    if s.parse::<std::net::IpAddr>().is_ok() || is_hostname(s) { Ok(()) } else { Err(bad()) }
}
validated_string!(
    /// Who may mount an NFS export: an address, a CIDR network, a host name or `*.domain`.
    NfsClient,
    check_nfs_client
);

fn check_remote_path(s: &str) -> Result<(), ValidationError> {
    let ok = s.starts_with('/') && s.len() <= 1024 && (s == "/" || s[1..].split('/').all(is_plain_component));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "export",
            format!(
                "remote path '{}' is invalid: use an absolute path of plain components (A-Z, a-z, 0-9, '.', \
                 '_', '-', '+', '@')",
                shown(s)
            ),
        ))
    }
}
validated_string!(
    /// The path of an NFS export on its server.
    RemotePath,
    check_remote_path
);

fn check_cifs_share(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 80
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-$".contains(&b))
        && s.as_bytes()[0] != b'.';
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "share",
            format!("SMB share '{}' is invalid: use 1-80 of A-Z, a-z, 0-9, '.', '_', '-', '$'", shown(s)),
        ))
    }
}
validated_string!(
    /// The name of a share on a remote SMB server.
    RemoteShare,
    check_cifs_share
);

fn check_remote_user(s: &str) -> Result<(), ValidationError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && s.as_bytes()[0] != b'-';
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "remote_user",
            format!("remote user or domain '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '.', '_', '-'", shown(s)),
        ))
    }
}
validated_string!(
    /// A user or domain name on a remote SMB server (goes into a credentials file).
    RemoteUser,
    check_remote_user
);

/// Names ZFS gives a meaning in `zpool create`'s device list, so no pool may take them.
const ZFS_RESERVED_POOL_NAMES: &[&str] =
    &["mirror", "raidz", "raidz1", "raidz2", "raidz3", "draid", "spare", "log", "cache", "special", "dedup"];

fn check_pool_name(s: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| ValidationError::new("name", format!("pool name '{}' is invalid: {why}", shown(s)));
    if s.is_empty() || s.len() > 32 {
        return Err(bad("use 1-32 characters"));
    }
    let b = s.as_bytes();
    if !b[0].is_ascii_lowercase()
        || !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-".contains(c))
    {
        return Err(bad("use a-z, 0-9, '_' and '-', starting with a letter"));
    }
    // zpool also refuses c<digit>... (Solaris disk names); keep every backend's names alike.
    if ZFS_RESERVED_POOL_NAMES.contains(&s) || (b[0] == b'c' && b.get(1).is_some_and(u8::is_ascii_digit)) {
        return Err(bad(
            "the name is reserved by ZFS (mirror, raidz*, draid, spare, log, cache, special, dedup, c<digit>...)",
        ));
    }
    Ok(())
}
validated_string!(
    /// A pool (ZFS pool, btrfs filesystem, array or single-disk filesystem) as CoreNAS names it;
    /// it is mounted at `/mnt/corenas/<name>`.
    PoolName,
    check_pool_name
);

impl PoolName {
    pub fn mount_target(&self) -> MountTarget {
        MountTarget(format!("/mnt/corenas/{}", self.0))
    }
}

fn is_dataset_component(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 64
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn check_dataset_name(s: &str) -> Result<(), ValidationError> {
    let bad = |why: String| ValidationError::new("dataset", format!("dataset '{}' is invalid: {why}", shown(s)));
    if s.len() > 200 {
        return Err(bad("longer than 200 bytes".into()));
    }
    let Some((pool, rest)) = s.split_once('/') else {
        return Err(bad("use <pool>/<name>[/<name>...]".into()));
    };
    check_pool_name(pool).map_err(|e| bad(e.message))?;
    if rest.split('/').count() > 8 {
        return Err(bad("at most 8 levels below the pool".into()));
    }
    for c in rest.split('/') {
        if !is_dataset_component(c) || c == ".snapshots" {
            return Err(bad(format!(
                "component '{}' is not accepted: use 1-64 of A-Z, a-z, 0-9, '_', '.', '-', starting with a letter or digit",
                shown(c)
            )));
        }
    }
    Ok(())
}
validated_string!(
    /// A dataset (ZFS) or subvolume (btrfs) inside a pool: `<pool>/<name>[/<name>...]`. Mounted
    /// at `/mnt/corenas/<pool>/<name>...`.
    DatasetName,
    check_dataset_name
);

impl DatasetName {
    pub fn pool(&self) -> PoolName {
        PoolName(self.0.split('/').next().unwrap_or_default().to_owned())
    }
    /// Where it is mounted: `/mnt/corenas/<pool>/<name>...`.
    pub fn mount_target(&self) -> MountTarget {
        MountTarget(format!("/mnt/corenas/{}", self.0))
    }
    /// The path below the pool's mount point (`a/b` for `pool/a/b`).
    pub fn relative(&self) -> &str {
        self.0.split_once('/').map(|(_, r)| r).unwrap_or_default()
    }
}

fn check_snapshot_name(s: &str) -> Result<(), ValidationError> {
    if is_dataset_component(s) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "snapshot",
            format!(
                "snapshot name '{}' is invalid: use 1-64 of A-Z, a-z, 0-9, '_', '.', '-', starting with a letter or digit",
                shown(s)
            ),
        ))
    }
}
validated_string!(
    /// The part after `@`: `auto-YYYY-MM-DD_HH-MM` for scheduled snapshots (the name SMB previous
    /// versions read), anything plain for manual ones.
    SnapshotName,
    check_snapshot_name
);

#[cfg(test)]
mod share_name_tests {
    use super::*;

    #[test]
    fn share_names() {
        for good in ["media", "a", "backup-2026", "x_y", "0day"] {
            assert!(good.parse::<ShareName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "global",
            "homes",
            "printers",
            "Media",
            "[x]",
            "a=b",
            "a\nb",
            "a%u",
            ".hidden",
            "-x",
            "a b",
            "abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            assert_eq!(bad.parse::<ShareName>().unwrap_err().field, "name", "{bad:?}");
        }
    }

    #[test]
    fn storage_paths_and_mount_targets() {
        assert!("/storage/media".parse::<StoragePath>().is_ok());
        assert!("/storage/media/photos-2026".parse::<StoragePath>().is_ok());
        for bad in [
            "/storage",
            "/storage/",
            "/storagex/a",
            "/etc",
            "/storage/a b",
            "/storage/%U",
            "/storage/.x",
            "/storage/../etc",
            "/storage//a",
            "/storage/a/",
        ] {
            assert_eq!(bad.parse::<StoragePath>().unwrap_err().field, "path", "{bad:?}");
        }
        let t: MountTarget = "/mnt/corenas/my-pool".parse().unwrap();
        assert_eq!(t.unit_stem(), "mnt-corenas-my\\x2dpool");
        let t: MountTarget = "/storage/media".parse().unwrap();
        assert_eq!(t.unit_stem(), "storage-media");
        assert!("/mnt/other".parse::<MountTarget>().is_err());
    }

    #[test]
    fn nfs_clients_and_hosts() {
        for good in [
            "192.168.1.10",
            "192.168.1.0/24",
            "10.0.0.0/8",
            "fd00::/64",
            "::1",
            "nas.example.com",
            "*.example.com",
            "client1",
        ] {
            assert!(good.parse::<NfsClient>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "*",
            "192.168.1.0/33",
            "10.0.0.0/08",
            "a b",
            "x(rw)",
            "host,other",
            "-host",
            "1.2.3",
            "*.com",
            "192.168.1.1/",
            "h\n",
        ] {
            assert_eq!(bad.parse::<NfsClient>().unwrap_err().field, "client", "{bad:?}");
        }
        assert!("nas.example.com".parse::<HostName>().is_ok());
        assert!("10.1.2.3".parse::<HostName>().is_ok());
        assert!("10.0.0.0/8".parse::<HostName>().is_err());
    }
}
