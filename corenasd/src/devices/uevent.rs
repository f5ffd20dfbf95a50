//! Kernel uevent messages (netlink `NETLINK_KOBJECT_UEVENT`, multicast group 1), used to notice
//! media changes (disc inserted/ejected, loop device attached/detached) without polling.
//!
//! A kernel message is `ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...`, every part NUL-terminated.
//! udev re-broadcasts events on group 2 with a binary `libudev\0` header; those are rejected
//! here, we only listen to the kernel.
//!
//! This module only checks the content. The socket code must also drop messages whose sender
//! is not the kernel (`nl_pid != 0` in the source address), because any process with
//! CAP_NET_ADMIN in the network namespace can send to the group.

/// Longest message accepted. The kernel builds the variables in a 2 KiB buffer
/// (`UEVENT_BUFFER_SIZE`) plus the header, so this leaves ample room.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;
/// Most `KEY=VALUE` parts looked at; the kernel itself never sends more (`UEVENT_NUM_ENVP`).
pub const MAX_VARS: usize = 64;
/// Longest action name accepted (the kernel's longest is "offline").
const MAX_ACTION_LEN: usize = 32;

/// The kobject action (`kobject_actions[]` in lib/kobject_uevent.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Add,
    Remove,
    Change,
    Move,
    Online,
    Offline,
    Bind,
    Unbind,
    /// An action added by a newer kernel; lower-case ASCII letters, digits and '_' only.
    Other(String),
}

impl Action {
    fn from_header(s: &str) -> Option<Action> {
        Some(match s {
            "add" => Action::Add,
            "remove" => Action::Remove,
            "change" => Action::Change,
            "move" => Action::Move,
            "online" => Action::Online,
            "offline" => Action::Offline,
            "bind" => Action::Bind,
            "unbind" => Action::Unbind,
            _ => {
                let plausible = s.len() <= MAX_ACTION_LEN
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if s.is_empty() || !plausible {
                    return None;
                }
                Action::Other(s.to_owned())
            }
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Change => "change",
            Action::Move => "move",
            Action::Online => "online",
            Action::Offline => "offline",
            Action::Bind => "bind",
            Action::Unbind => "unbind",
            Action::Other(s) => s,
        }
    }
}

/// One parsed kernel uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub action: Action,
    /// sysfs path below /sys, e.g. "/devices/virtual/block/loop3". Checked to be absolute and
    /// free of "." / ".." / empty components.
    pub devpath: String,
    pub subsystem: Option<String>,
    /// Device node name below /dev, e.g. "loop3" or "bus/usb/001/002".
    pub devname: Option<String>,
    /// "disk" or "partition" for block devices.
    pub devtype: Option<String>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `DISK_MEDIA_CHANGE=1`: the kernel saw the medium change (disc inserted or ejected, loop
    /// backing file detached).
    pub disk_media_change: bool,
    pub seqnum: Option<u64>,
    /// All valid `KEY=VALUE` parts in message order (including the ones decoded above), at
    /// most [`MAX_VARS`].
    pub vars: Vec<(String, String)>,
}

impl Uevent {
    /// An event about a whole block device (a disk, CD/DVD drive or loop device), not a
    /// partition.
    pub fn is_block_disk_event(&self) -> bool {
        self.is_block_event() && self.devtype.as_deref() == Some("disk")
    }

    /// Any block-subsystem event, partitions included.
    pub fn is_block_event(&self) -> bool {
        self.subsystem.as_deref() == Some("block")
    }

    /// Value of the first variable named `key`, e.g. "DISKSEQ".
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses one datagram. Returns `None` for anything that is not a well-formed kernel uevent:
/// udev's `libudev` messages, oversized or truncated messages, a bad header, a header that
/// disagrees with its ACTION=/DEVPATH= variables, repeated or malformed well-known variables.
/// Individual variables that are not UTF-8 or lack '=' are skipped. Never panics.
pub fn parse(buf: &[u8]) -> Option<Uevent> {
    // The kernel NUL-terminates every part, so a missing final NUL means a truncated read.
    if buf.len() > MAX_MESSAGE_LEN || buf.last() != Some(&0) || buf.starts_with(b"libudev\0") {
        return None;
    }
    let mut parts = buf[..buf.len() - 1].split(|&b| b == 0);
    let header = std::str::from_utf8(parts.next()?).ok()?;
    let (action_str, devpath) = header.split_once('@')?;
    let action = Action::from_header(action_str)?;
    if !is_clean_devpath(devpath) {
        return None;
    }

    let mut ev = Uevent {
        action,
        devpath: devpath.to_owned(),
        subsystem: None,
        devname: None,
        devtype: None,
        major: None,
        minor: None,
        disk_media_change: false,
        seqnum: None,
        vars: Vec::new(),
    };
    let mut media_change_seen = false;
    // Parts past the kernel's own limit are ignored rather than trusted.
    for part in parts.filter(|p| !p.is_empty()).take(MAX_VARS) {
        let Some(eq) = part.iter().position(|&b| b == b'=') else { continue };
        let (Ok(key), Ok(value)) = (std::str::from_utf8(&part[..eq]), std::str::from_utf8(&part[eq + 1..])) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        // The kernel never puts control characters in these; a message that does is forged,
        // and its names would otherwise reach logs and events (found by fuzz/uevent).
        if matches!(key, "SUBSYSTEM" | "DEVNAME" | "DEVTYPE") && value.chars().any(char::is_control) {
            return None;
        }
        // The header and the variables must tell the same story, and each well-known key
        // appears once: otherwise two consumers could read different events from one message.
        match key {
            "ACTION" if value != action_str => return None,
            "DEVPATH" if value != devpath => return None,
            "SUBSYSTEM" => set_once(&mut ev.subsystem, value.to_owned())?,
            "DEVNAME" => set_once(&mut ev.devname, value.to_owned())?,
            "DEVTYPE" => set_once(&mut ev.devtype, value.to_owned())?,
            "MAJOR" => set_once(&mut ev.major, parse_decimal(value)?)?,
            "MINOR" => set_once(&mut ev.minor, parse_decimal(value)?)?,
            "SEQNUM" => set_once(&mut ev.seqnum, parse_decimal(value)?)?,
            "DISK_MEDIA_CHANGE" => {
                if std::mem::replace(&mut media_change_seen, true) {
                    return None;
                }
                ev.disk_media_change = value == "1";
            }
            _ => {}
        }
        ev.vars.push((key.to_owned(), value.to_owned()));
    }
    Some(ev)
}

/// Stores `value` unless the field is already set (a repeated key), which yields `None`.
fn set_once<T>(field: &mut Option<T>, value: T) -> Option<()> {
    if field.is_some() {
        return None;
    }
    *field = Some(value);
    Some(())
}

/// Plain decimal digits only (`str::parse` would also take a leading '+').
fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// sysfs paths are absolute with plain components. Callers may join the devpath onto /sys,
/// so reject anything that could climb out or hide control characters in logs.
fn is_clean_devpath(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else { return false };
    !rest.is_empty()
        && !p.chars().any(char::is_control)
        && rest.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/uevent found names with control characters accepted (here DEVTYPE "disk\u{1}").
    #[test]
    fn control_characters_in_names_are_refused() {
        for (key, value) in
            [("DEVTYPE", "disk\u{1}SEQNUM=4711"), ("DEVNAME", "loop0\n"), ("SUBSYSTEM", "block\u{1b}[2J")]
        {
            let msg = format!("change@/devices/virtual/block/loop0\0ACTION=change\0{key}={value}\0");
            assert_eq!(parse(msg.as_bytes()), None, "{key}={value:?}");
        }
        let ok = "change@/devices/virtual/block/loop0\0ACTION=change\0DEVTYPE=disk\0";
        assert!(parse(ok.as_bytes()).is_some());
    }

    /// A kernel message from its parts: every part NUL-terminated, as the kernel sends them.
    fn kernel_msg(parts: &[&str]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.bytes().chain([0])).collect()
    }

    /// A loop device's media change.
    const LOOP3_MEDIA_CHANGE: &[&str] = &[
        "change@/devices/virtual/block/loop3",
        "ACTION=change",
        "DEVPATH=/devices/virtual/block/loop3",
        "SUBSYSTEM=block",
        "DISK_MEDIA_CHANGE=1",
        "MAJOR=7",
        "MINOR=3",
        "DEVNAME=loop3",
        "DEVTYPE=disk",
        "DISKSEQ=12",
        "SEQNUM=4242",
    ];

    /// Captured on this machine (kernel 6.18) from netlink group 1, sender nl_pid 0:
    /// `losetup -f --show` sent exactly this one plain change event...
    const REAL_LOOP0_ATTACH: &[u8] = b"change@/devices/virtual/block/loop0\0ACTION=change\0\
DEVPATH=/devices/virtual/block/loop0\0SUBSYSTEM=block\0MAJOR=7\0MINOR=0\0DEVNAME=loop0\0DEVTYPE=disk\0\
DISKSEQ=51\0SEQNUM=873\0";
    /// ...and `losetup -d` sent a plain change event (same as above, SEQNUM=874) followed by
    /// this one.
    const REAL_LOOP0_DETACH_MEDIA: &[u8] = b"change@/devices/virtual/block/loop0\0ACTION=change\0\
DEVPATH=/devices/virtual/block/loop0\0SUBSYSTEM=block\0DISK_MEDIA_CHANGE=1\0MAJOR=7\0MINOR=0\0\
DEVNAME=loop0\0DEVTYPE=disk\0DISKSEQ=51\0SEQNUM=875\0";

    /// Typical of an optical drive when a disc is inserted.
    const SR0_MEDIA_CHANGE: &[&str] = &[
        "change@/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0",
        "ACTION=change",
        "DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0",
        "SUBSYSTEM=block",
        "DISK_MEDIA_CHANGE=1",
        "MAJOR=11",
        "MINOR=0",
        "DEVNAME=sr0",
        "DEVTYPE=disk",
        "DISKSEQ=3",
        "SEQNUM=2345",
    ];

    /// A USB stick's first partition appearing.
    const SDB1_ADD: &[&str] = &[
        "add@/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1",
        "ACTION=add",
        "DEVPATH=/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1",
        "SUBSYSTEM=block",
        "MAJOR=8",
        "MINOR=17",
        "DEVNAME=sdb1",
        "DEVTYPE=partition",
        "DISKSEQ=9",
        "PARTN=1",
        "SEQNUM=5120",
    ];

    const USB_BIND: &[&str] = &[
        "bind@/devices/pci0000:00/0000:00:14.0/usb2/2-1",
        "ACTION=bind",
        "DEVPATH=/devices/pci0000:00/0000:00:14.0/usb2/2-1",
        "SUBSYSTEM=usb",
        "MAJOR=189",
        "MINOR=129",
        "DEVNAME=bus/usb/002/002",
        "DEVTYPE=usb_device",
        "DRIVER=usb",
        "PRODUCT=781/5581/100",
        "TYPE=0/0/0",
        "BUSNUM=002",
        "DEVNUM=002",
        "SEQNUM=5101",
    ];

    #[test]
    fn loop_media_change() {
        let ev = parse(&kernel_msg(LOOP3_MEDIA_CHANGE)).unwrap();
        assert_eq!(ev.action, Action::Change);
        assert_eq!(ev.devpath, "/devices/virtual/block/loop3");
        assert_eq!(ev.subsystem.as_deref(), Some("block"));
        assert_eq!(ev.devname.as_deref(), Some("loop3"));
        assert_eq!(ev.devtype.as_deref(), Some("disk"));
        assert_eq!((ev.major, ev.minor), (Some(7), Some(3)));
        assert!(ev.disk_media_change);
        assert_eq!(ev.seqnum, Some(4242));
        assert_eq!(ev.var("DISKSEQ"), Some("12"));
        assert_eq!(ev.vars.len(), 10);
        assert_eq!(ev.vars[0], ("ACTION".to_owned(), "change".to_owned()));
        assert!(ev.is_block_disk_event());
        assert!(ev.is_block_event());
    }

    #[test]
    fn real_loop_attach_and_detach() {
        let attach = parse(REAL_LOOP0_ATTACH).unwrap();
        assert_eq!(attach.action, Action::Change);
        assert!(!attach.disk_media_change);
        assert_eq!(attach.seqnum, Some(873));
        assert_eq!(attach.var("DISKSEQ"), Some("51"));
        assert!(attach.is_block_disk_event());

        let detach = parse(REAL_LOOP0_DETACH_MEDIA).unwrap();
        assert!(detach.disk_media_change);
        assert_eq!(detach.devname.as_deref(), Some("loop0"));
        assert_eq!(detach.seqnum, Some(875));
    }

    #[test]
    fn optical_partition_and_usb_events() {
        let sr0 = parse(&kernel_msg(SR0_MEDIA_CHANGE)).unwrap();
        assert!(sr0.disk_media_change && sr0.is_block_disk_event());
        assert_eq!((sr0.major, sr0.minor), (Some(11), Some(0)));

        let part = parse(&kernel_msg(SDB1_ADD)).unwrap();
        assert_eq!(part.action, Action::Add);
        assert!(part.is_block_event());
        assert!(!part.is_block_disk_event(), "partitions are not whole disks");
        assert_eq!(part.var("PARTN"), Some("1"));

        let usb = parse(&kernel_msg(USB_BIND)).unwrap();
        assert_eq!(usb.action, Action::Bind);
        assert_eq!(usb.devname.as_deref(), Some("bus/usb/002/002"));
        assert!(!usb.is_block_event());
        assert_eq!(usb.var("DRIVER"), Some("usb"));
    }

    #[test]
    fn all_actions() {
        for (name, action) in [
            ("add", Action::Add),
            ("remove", Action::Remove),
            ("change", Action::Change),
            ("move", Action::Move),
            ("online", Action::Online),
            ("offline", Action::Offline),
            ("bind", Action::Bind),
            ("unbind", Action::Unbind),
            ("frobnicate_2", Action::Other("frobnicate_2".into())),
        ] {
            let msg = format!("{name}@/devices/x\0ACTION={name}\0SEQNUM=1\0");
            let ev = parse(msg.as_bytes()).unwrap();
            assert_eq!(ev.action, action);
            assert_eq!(ev.action.as_str(), name);
        }
    }

    #[test]
    fn minimal_header_only() {
        // Valid though unusual: no variables at all.
        let ev = parse(b"remove@/devices/virtual/block/loop7\0").unwrap();
        assert_eq!(ev.action, Action::Remove);
        assert!(ev.vars.is_empty());
        assert!(!ev.is_block_disk_event());
    }

    #[test]
    fn rejected_headers() {
        let bad: &[&[u8]] = &[
            b"",
            b"\0",
            b"change/devices/virtual/block/loop3\0SUBSYSTEM=block\0",
            b"@/devices/x\0",
            b"change@\0",
            b"change@devices/x\0",
            b"change@/\0",
            b"change@/devices/../../etc\0",
            b"change@/devices/./x\0",
            b"change@/devices//x\0",
            b"change@/devices/x/\0",
            b"change@/devices/x\x1b[2J\0",
            b"Change@/devices/x\0",
            b"ch ange@/devices/x\0",
            b"change@@/devices/x\0",
            b"\xffchange@/devices/x\0",
            b"change@/devices/\xff\0",
        ];
        for msg in bad {
            assert_eq!(parse(msg), None, "{}", String::from_utf8_lossy(msg));
        }
        let long_action = format!("{}@/devices/x\0", "a".repeat(MAX_ACTION_LEN + 1));
        assert_eq!(parse(long_action.as_bytes()), None);
    }

    #[test]
    fn udev_rebroadcast_is_ignored() {
        // libudev header: magic, then "\xfe\xed\xca\xfe" and binary lengths/offsets.
        let mut msg = b"libudev\0\xfe\xed\xca\xfe".to_vec();
        msg.extend_from_slice(&[40, 0, 0, 0, 40, 0, 0, 0, 0, 1, 0, 0]);
        msg.extend_from_slice(&kernel_msg(&LOOP3_MEDIA_CHANGE[1..]));
        assert_eq!(parse(&msg), None);
    }

    #[test]
    fn truncated_message_is_rejected() {
        let full = kernel_msg(LOOP3_MEDIA_CHANGE);
        assert_eq!(parse(&full[..full.len() - 1]), None);
        // Every cut that lands just after a NUL is a shorter but well-formed message.
        for cut in 0..full.len() {
            let prefix = &full[..cut];
            assert_eq!(parse(prefix).is_some(), cut >= 36 && prefix.ends_with(b"\0"), "cut {cut}");
        }
    }

    #[test]
    fn size_limit() {
        let mut msg = b"change@/devices/x\0BIG=".to_vec();
        msg.resize(MAX_MESSAGE_LEN - 1, b'x');
        msg.push(0);
        let ev = parse(&msg).unwrap();
        assert_eq!(ev.var("BIG").map(str::len), Some(MAX_MESSAGE_LEN - 23));
        msg.insert(30, b'x');
        assert_eq!(msg.len(), MAX_MESSAGE_LEN + 1);
        assert_eq!(parse(&msg), None);
        assert_eq!(parse(&vec![0u8; 1 << 20]), None);
    }

    #[test]
    fn thousand_vars_are_capped() {
        let mut msg = b"change@/devices/x\0".to_vec();
        for i in 0..1000 {
            msg.extend_from_slice(format!("V{i}=1\0").as_bytes());
        }
        msg.extend_from_slice(b"SUBSYSTEM=block\0");
        let ev = parse(&msg).unwrap();
        assert_eq!(ev.vars.len(), MAX_VARS);
        assert_eq!(ev.vars[63].0, "V63");
        assert_eq!(ev.subsystem, None, "parts past the cap are not looked at");
    }

    #[test]
    fn bad_pairs_are_skipped() {
        let msg = b"change@/devices/x\0NOEQUALS\0=novalue\0BAD\xff=1\0K=\xfe\0EMPTY=\0\0\0A=b=c\0SEQNUM=7\0";
        let ev = parse(msg).unwrap();
        assert_eq!(
            ev.vars,
            vec![("EMPTY".into(), String::new()), ("A".into(), "b=c".into()), ("SEQNUM".into(), "7".into())]
        );
        assert_eq!(ev.seqnum, Some(7));
    }

    #[test]
    fn inconsistent_or_repeated_fields_are_rejected() {
        let bad: &[&[u8]] = &[
            b"change@/devices/x\0ACTION=add\0",
            b"change@/devices/x\0DEVPATH=/devices/y\0",
            b"change@/devices/x\0SUBSYSTEM=block\0SUBSYSTEM=net\0",
            b"change@/devices/x\0DEVNAME=loop3\0DEVNAME=sda\0",
            b"change@/devices/x\0DEVTYPE=disk\0DEVTYPE=partition\0",
            b"change@/devices/x\0MAJOR=7\0MAJOR=8\0",
            b"change@/devices/x\0SEQNUM=1\0SEQNUM=1\0",
            b"change@/devices/x\0DISK_MEDIA_CHANGE=0\0DISK_MEDIA_CHANGE=1\0",
            b"change@/devices/x\0MAJOR=+7\0",
            b"change@/devices/x\0MAJOR=-7\0",
            b"change@/devices/x\0MAJOR=\0",
            b"change@/devices/x\0MINOR=4294967296\0",
            b"change@/devices/x\0SEQNUM=0x10\0",
            b"change@/devices/x\0SEQNUM=18446744073709551616\0",
        ];
        for msg in bad {
            assert_eq!(parse(msg), None, "{}", String::from_utf8_lossy(msg));
        }
        // Repeating ACTION/DEVPATH with the same value is harmless.
        assert!(parse(b"change@/devices/x\0ACTION=change\0ACTION=change\0").is_some());
        // Any value but "1" means no media change.
        assert!(!parse(b"change@/devices/x\0DISK_MEDIA_CHANGE=yes\0").unwrap().disk_media_change);
        let max = parse(b"change@/devices/x\0MINOR=4294967295\0SEQNUM=18446744073709551615\0").unwrap();
        assert_eq!((max.minor, max.seqnum), (Some(u32::MAX), Some(u64::MAX)));
    }

    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"@=/\0aAcdeg1.\xff";
        for _ in 0..5000 {
            let len = usize::try_from(next() % 120).unwrap();
            let msg: Vec<u8> = (0..len).map(|_| alphabet[usize::try_from(next() % 13).unwrap()]).collect();
            let _ = parse(&msg);
        }
        for _ in 0..5000 {
            let mut msg = kernel_msg(SR0_MEDIA_CHANGE);
            let i = usize::try_from(next() % msg.len() as u64).unwrap();
            msg[i] = next().to_le_bytes()[0];
            if let Some(ev) = parse(&msg) {
                assert!(ev.vars.len() <= MAX_VARS);
                assert!(ev.devpath.starts_with('/'));
            }
        }
    }
}
