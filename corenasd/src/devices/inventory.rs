//! The block-device inventory, read unprivileged from sysfs, udev's database
//! (`/run/udev/data/b<major>:<minor>`, when udev runs), `/dev/disk/by-id`, `/proc/self/mountinfo`
//! and `/proc/swaps`. No process is spawned and every source is read once per call, so listing
//! many devices costs a handful of small file reads each.
//!
//! Which devices are listed: whole disks whose kernel name CoreNAS accepts as a device
//! ([`is_disk_name`]: sd, vd, xvd, nvme namespaces, mmcblk, sr, loop) with their partitions.
//! Loop devices without a backing file and empty slots (size 0) are left out; optical drives
//! are listed even without a disc. md and device-mapper devices are not listed: they show up
//! as [`DeviceUse::HeldBy`] on the disks they hold.
//!
//! Model, serial, vendor and labels come from devices and media and are untrusted: they pass
//! through [`clean_text`]. Filesystem facts come from udev's database; where udev does not run
//! they stay empty unless the caller fills them from the helper's `blkid` output
//! ([`parse_blkid_export`], [`apply_blkid`]).

use super::{MAX_TEXT, clean_text};
use corenas_proto::devices::{DeviceInfo, DeviceKind, DeviceUse, PartitionInfo};
use corenas_proto::names::is_disk_name;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest sysfs attribute read (the kernel's own limit is a page).
const MAX_ATTR: usize = 4096;
/// Largest udev database file read.
const MAX_UDEV_FILE: usize = 64 * 1024;
/// Largest /proc/self/mountinfo or /proc/swaps read; a host with thousands of container mounts
/// stays well below this.
const MAX_PROC_FILE: usize = 16 << 20;
/// Mount points reported per device or partition (bind mounts can repeat one filesystem
/// thousands of times; one is enough to know it is busy).
const MAX_MOUNTS_PER_DEVICE: usize = 16;
/// by-id links reported per device.
const MAX_LINKS: usize = 32;
/// Longest backing-file path kept for a loop device.
const MAX_PATH_TEXT: usize = 1024;
/// Mount points that make the device under them the system disk.
const SYSTEM_MOUNTS: &[&str] = &["/", "/boot", "/boot/efi", "/efi", "/usr", "/var"];

/// Where the inventory reads from. Production uses [`Sources::system`]; tests point every path
/// into a fake tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// sysfs, normally "/sys".
    pub sys: PathBuf,
    /// udev's database, normally "/run/udev/data" (absent where udev does not run).
    pub udev_data: PathBuf,
    /// normally "/dev/disk/by-id" (absent where udev does not run).
    pub by_id: PathBuf,
    pub mountinfo: PathBuf,
    pub swaps: PathBuf,
    /// `(major, minor)` of the device holding the root filesystem (`stat("/").st_dev`);
    /// None when unknown. A btrfs root reports an anonymous device (major 0); the root
    /// mount's source in mountinfo covers that case.
    pub root_dev: Option<(u32, u32)>,
}

impl Sources {
    /// The running system's files.
    pub fn system() -> Self {
        Self {
            sys: "/sys".into(),
            udev_data: "/run/udev/data".into(),
            by_id: "/dev/disk/by-id".into(),
            mountinfo: "/proc/self/mountinfo".into(),
            swaps: "/proc/swaps".into(),
            root_dev: root_device(),
        }
    }

    /// The same layout below `root` (`root/sys`, `root/run/udev/data`, `root/proc/swaps`...),
    /// with no root device.
    pub fn under(root: &Path) -> Self {
        Self {
            sys: root.join("sys"),
            udev_data: root.join("run/udev/data"),
            by_id: root.join("dev/disk/by-id"),
            mountinfo: root.join("proc/self/mountinfo"),
            swaps: root.join("proc/swaps"),
            root_dev: None,
        }
    }
}

impl Default for Sources {
    fn default() -> Self {
        Self::system()
    }
}

/// `(major, minor)` of the filesystem holding "/".
pub fn root_device() -> Option<(u32, u32)> {
    let st = rustix::fs::stat("/").ok()?;
    Some((rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev)))
}

/// Every listed block device with its partitions and what uses them, sorted by name
/// (naturally: loop2 before loop10). `pool_members` maps kernel names (disks or partitions) to
/// `(pool, backend)` from CoreNAS's own records. Reads files only; call it from a blocking
/// context (`spawn_blocking`) in async code.
pub fn inventory(sources: &Sources, pool_members: &HashMap<String, (String, String)>) -> Vec<DeviceInfo> {
    let nodes = block_nodes(&sources.sys);
    let have_udev = sources.udev_data.is_dir();
    let by_id = by_id_links(&sources.by_id);

    // Devices to list, then the partitions of those devices.
    let mut wholes: Vec<&Node> = nodes.iter().filter(|n| n.parent.is_none() && is_disk_name(&n.name)).collect();
    wholes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let listed: HashSet<&str> = wholes.iter().map(|n| n.name.as_str()).collect();
    let mut parts_of: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in &nodes {
        if let Some(p) = n.parent.as_deref().filter(|p| listed.contains(p)) {
            parts_of.entry(p).or_default().push(n);
        }
    }

    // The kernel's own identifiers for each listed node, read once.
    let mut ids: HashMap<&str, NodeIds> = HashMap::new();
    for n in wholes.iter().copied().chain(parts_of.values().flatten().copied()) {
        ids.insert(n.name.as_str(), NodeIds::read(&n.dir));
    }
    let dev_to_name: HashMap<(u32, u32), &str> = ids.iter().filter_map(|(name, i)| i.dev.map(|d| (d, *name))).collect();

    let mounts = read_capped(&sources.mountinfo, MAX_PROC_FILE)
        .map(|b| parse_mountinfo(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let mounted = mounts_by_name(&mounts, &dev_to_name, &ids, &sources.sys);
    let swaps: HashSet<String> = read_capped(&sources.swaps, MAX_PROC_FILE)
        .map(|b| parse_swaps(&String::from_utf8_lossy(&b)).iter().filter_map(|p| dev_name(p)).collect())
        .unwrap_or_default();
    let system = system_names(sources, &mounts);

    let mut out = Vec::with_capacity(wholes.len());
    for node in wholes {
        let id = ids.get(node.name.as_str()).cloned().unwrap_or_default();
        let size_bytes = size_of(&node.dir);
        let kind = if node.name.starts_with("loop") {
            DeviceKind::Loop
        } else if node.name.starts_with("sr") {
            DeviceKind::Optical
        } else {
            DeviceKind::Disk
        };
        // Empty slots: detached loops, card readers without a card.
        if size_bytes == 0 && kind != DeviceKind::Optical {
            continue;
        }
        let backing_file = if kind == DeviceKind::Loop {
            match attr(&node.dir, "loop/backing_file") {
                Some(f) => clean_text(&f, MAX_PATH_TEXT),
                None => continue,
            }
        } else {
            None
        };
        let udev = if have_udev {
            id.dev.map(|d| udev_data(&sources.udev_data, d)).unwrap_or_default()
        } else {
            UdevData::default()
        };

        let mut info = DeviceInfo {
            name: node.name.clone(),
            path: format!("/dev/{}", node.name),
            by_id: Vec::new(),
            model: None,
            serial: None,
            vendor: None,
            size_bytes,
            logical_sector: attr(&node.dir, "queue/logical_block_size").and_then(|s| s.parse().ok()).unwrap_or(512),
            physical_sector: attr(&node.dir, "queue/physical_block_size").and_then(|s| s.parse().ok()).unwrap_or(512),
            rotational: attr(&node.dir, "queue/rotational").as_deref() == Some("1"),
            transport: transport(&node.name, &node.target, &udev),
            removable: attr(&node.dir, "removable").as_deref() == Some("1"),
            read_only: attr(&node.dir, "ro").as_deref() == Some("1"),
            kind,
            backing_file,
            partitions: Vec::new(),
            fs_type: udev.fs_type(),
            fs_label: udev.fs_label(),
            fs_uuid: udev.fs_uuid(),
            uses: Vec::new(),
        };
        // Loop devices have no hardware identity to read.
        if kind != DeviceKind::Loop {
            identify(&mut info, &node.dir, &udev);
        }
        let mut links: BTreeSet<String> = by_id.get(node.name.as_str()).cloned().unwrap_or_default();
        links.extend(udev.by_id_links());
        info.by_id = links.into_iter().take(MAX_LINKS).collect();
        info.uses = uses_of(&node.name, &node.dir, &mounted, &swaps, pool_members);

        let mut parts: Vec<&Node> = parts_of.get(node.name.as_str()).cloned().unwrap_or_default();
        parts.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        let mut system_disk = system.contains(&node.name);
        for p in parts {
            let pid = ids.get(p.name.as_str()).cloned().unwrap_or_default();
            let pudev = if have_udev {
                pid.dev.map(|d| udev_data(&sources.udev_data, d)).unwrap_or_default()
            } else {
                UdevData::default()
            };
            system_disk |= system.contains(&p.name);
            info.partitions.push(PartitionInfo {
                name: p.name.clone(),
                path: format!("/dev/{}", p.name),
                size_bytes: size_of(&p.dir),
                number: pid.partn.or_else(|| attr(&p.dir, "partition").and_then(|s| s.parse().ok())).unwrap_or(0),
                fs_type: pudev.fs_type(),
                fs_label: pudev.fs_label(),
                fs_uuid: pudev.fs_uuid(),
                uses: uses_of(&p.name, &p.dir, &mounted, &swaps, pool_members),
            });
        }
        if system_disk {
            info.uses.insert(0, DeviceUse::SystemDisk);
        }
        out.push(info);
    }
    out
}

/// One device of [`inventory`] by kernel name ("sda") or partition name ("sda1" gives its
/// disk).
pub fn find<'a>(devices: &'a [DeviceInfo], name: &str) -> Option<&'a DeviceInfo> {
    devices.iter().find(|d| d.name == name || d.partitions.iter().any(|p| p.name == name))
}

/// A node under /sys/class/block.
#[derive(Debug)]
struct Node {
    name: String,
    /// The disk a partition belongs to; None for whole devices.
    parent: Option<String>,
    /// `/sys/class/block/<name>` (a symlink; reads follow it).
    dir: PathBuf,
    /// Where the symlink points, e.g. "../../devices/pci0000:00/.../block/sda/sda1".
    target: String,
}

/// Every node under `<sys>/class/block`, one readlink each.
fn block_nodes(sys: &Path) -> Vec<Node> {
    let class = sys.join("class/block");
    let Ok(rd) = std::fs::read_dir(&class) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.is_empty() || name.chars().any(char::is_control) {
            continue;
        }
        let dir = class.join(&name);
        let Ok(target) = std::fs::read_link(&dir) else { continue };
        let target = target.to_string_lossy().into_owned();
        out.push(Node { name, parent: None, dir, target });
    }
    // A partition sits inside its disk's directory (".../block/sda/sda1",
    // ".../nvme/nvme0/nvme0n1/nvme0n1p1"); a disk's directory is not a block device
    // (".../block/sda", ".../nvme/nvme0/nvme0n1").
    let names: HashSet<String> = out.iter().map(|n| n.name.clone()).collect();
    for n in &mut out {
        let mut comps = n.target.rsplit('/');
        let _own = comps.next();
        n.parent = comps.next().filter(|p| names.contains(*p)).map(str::to_owned);
    }
    out
}

/// What a node's `uevent` file says about it.
#[derive(Debug, Clone, Default)]
struct NodeIds {
    dev: Option<(u32, u32)>,
    partn: Option<u32>,
}

impl NodeIds {
    fn read(dir: &Path) -> Self {
        let Some(text) = read_capped(&dir.join("uevent"), MAX_ATTR) else { return Self::default() };
        let text = String::from_utf8_lossy(&text);
        let (mut major, mut minor, mut partn) = (None, None, None);
        for line in text.lines() {
            match line.split_once('=') {
                Some(("MAJOR", v)) => major = v.parse().ok(),
                Some(("MINOR", v)) => minor = v.parse().ok(),
                Some(("PARTN", v)) => partn = v.parse().ok(),
                _ => {}
            }
        }
        Self { dev: major.zip(minor), partn }
    }
}

fn read_capped(path: &Path, cap: usize) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(u64::try_from(cap).unwrap_or(u64::MAX)).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// A sysfs attribute, trimmed; None when absent or empty.
fn attr(dir: &Path, rel: &str) -> Option<String> {
    let b = read_capped(&dir.join(rel), MAX_ATTR)?;
    let s = String::from_utf8_lossy(&b).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// `size` is in 512-byte sectors whatever the device's sector size.
fn size_of(dir: &Path) -> u64 {
    attr(dir, "size").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0).saturating_mul(512)
}

/// Model, vendor and serial: the kernel's attributes first (they keep spaces), then udev's.
fn identify(info: &mut DeviceInfo, dir: &Path, udev: &UdevData) {
    let text = |s: Option<String>| s.as_deref().and_then(|s| clean_text(s, MAX_TEXT));
    info.model = text(attr(dir, "device/model"))
        .or_else(|| text(attr(dir, "device/name"))) // mmc
        .or_else(|| text(udev.get("ID_MODEL_ENC").map(decode_udev_enc)))
        .or_else(|| text(udev.get("ID_MODEL").map(str::to_owned)));
    // virtio and other PCI devices expose the numeric PCI vendor id here; that is not a name.
    info.vendor = text(attr(dir, "device/vendor").filter(|v| !v.starts_with("0x")))
        .or_else(|| text(udev.get("ID_VENDOR_ENC").map(decode_udev_enc)))
        .or_else(|| text(udev.get("ID_VENDOR").map(str::to_owned)));
    info.serial = text(udev.get("ID_SERIAL_SHORT").map(str::to_owned))
        .or_else(|| text(attr(dir, "device/serial")))
        .or_else(|| text(attr(dir, "serial"))) // virtio-blk
        .or_else(|| text(read_capped(&dir.join("device/vpd_pg80"), MAX_ATTR).and_then(|b| vpd_serial(&b))))
        .or_else(|| text(attr(dir, "wwid")))
        .or_else(|| text(attr(dir, "device/wwid")));
}

/// The unit serial number from a SCSI VPD page 0x80 (the ATA serial behind a SAT layer).
fn vpd_serial(page: &[u8]) -> Option<String> {
    if page.get(1) != Some(&0x80) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*page.get(2)?, *page.get(3)?]));
    let body = page.get(4..)?;
    let body = &body[..len.min(body.len())];
    Some(String::from_utf8_lossy(body).into_owned())
}

/// How the device is attached, from where it sits in sysfs (as lsblk's TRAN column does).
fn transport(name: &str, target: &str, udev: &UdevData) -> Option<String> {
    let t = if name.starts_with("loop") {
        "loop"
    } else if name.starts_with("nvme") {
        "nvme"
    } else if name.starts_with("mmcblk") {
        "mmc"
    } else if target.contains("/usb") {
        "usb"
    } else if target.contains("/ata") {
        "sata"
    } else if target.contains("virtio") {
        "virtio"
    } else if name.starts_with("xvd") || target.contains("/vbd-") {
        "xen"
    } else if target.contains("/end_device-") {
        "sas"
    } else if target.contains("/rport-") {
        "fc"
    } else if target.contains("/session") {
        "iscsi"
    } else if target.contains("/host") && target.contains("/target") {
        "scsi"
    } else {
        return udev.get("ID_BUS").and_then(|b| clean_text(b, 16));
    };
    Some(t.to_owned())
}

/// The uses of one device or partition, except the system-disk mark.
fn uses_of(
    name: &str,
    dir: &Path,
    mounted: &HashMap<String, Vec<String>>,
    swaps: &HashSet<String>,
    pool_members: &HashMap<String, (String, String)>,
) -> Vec<DeviceUse> {
    let mut uses = Vec::new();
    if let Some(points) = mounted.get(name) {
        uses.extend(points.iter().map(|at| DeviceUse::Mounted { at: at.clone() }));
    }
    if swaps.contains(name) {
        uses.push(DeviceUse::Swap);
    }
    for holder in holders(dir) {
        uses.push(DeviceUse::HeldBy { holder });
    }
    if let Some((pool, backend)) = pool_members.get(name) {
        uses.push(DeviceUse::PoolMember { pool: pool.clone(), backend: backend.clone() });
    }
    uses
}

/// md and device-mapper devices built on this one (`holders/`).
fn holders(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join("holders")) else { return Vec::new() };
    let mut out: Vec<String> =
        rd.flatten().filter_map(|e| e.file_name().into_string().ok()).filter_map(|n| clean_text(&n, 64)).collect();
    out.sort_by(|a, b| natural_cmp(a, b));
    out
}

/// One line of /proc/self/mountinfo, the parts the inventory needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountEntry {
    dev: (u32, u32),
    mount_point: String,
    fs_type: String,
    source: String,
}

/// Parses /proc/self/mountinfo (proc(5)): `id parent major:minor root mount-point options
/// [optional fields...] - fstype source super-options`, with octal escapes (`\040`) in paths.
/// Malformed lines are skipped.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(mp)) = (fields.get(2), fields.get(4)) else { continue };
        let Some((maj, min)) = dev.split_once(':') else { continue };
        let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) else { continue };
        let Some(sep) = fields.iter().skip(6).position(|f| *f == "-").map(|i| i + 6) else { continue };
        let (Some(fs_type), Some(source)) = (fields.get(sep + 1), fields.get(sep + 2)) else { continue };
        out.push(MountEntry {
            dev: (maj, min),
            mount_point: unescape_octal(mp),
            fs_type: unescape_octal(fs_type),
            source: unescape_octal(source),
        });
    }
    out
}

/// Undoes the kernel's `\NNN` escapes (space, tab, newline, backslash in mount paths).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (u32::from(b[i + 1] - b'0') << 6) | (u32::from(b[i + 2] - b'0') << 3) | u32::from(b[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Swap partitions from /proc/swaps (swap files are on a mounted filesystem, so their device
/// is already busy).
fn parse_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let path = f.next()?;
            (f.next()? == "partition").then(|| unescape_octal(path))
        })
        .collect()
}

/// Kernel name of a /dev path: "/dev/sda2" gives "sda2"; a link such as /dev/mapper/x or
/// /dev/disk/by-uuid/... is resolved.
fn dev_name(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/dev/")?;
    if rest.is_empty() {
        return None;
    }
    if !rest.contains('/') {
        return Some(rest.to_owned());
    }
    let real = std::fs::canonicalize(path).ok()?;
    real.file_name()?.to_str().map(str::to_owned)
}

/// Mount points of each listed node: by device number, or by the mount's source for
/// filesystems that report an anonymous device (btrfs); a mounted multi-device btrfs marks all
/// its member devices.
fn mounts_by_name(
    mounts: &[MountEntry],
    dev_to_name: &HashMap<(u32, u32), &str>,
    ids: &HashMap<&str, NodeIds>,
    sys: &Path,
) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for m in mounts {
        let name = match dev_to_name.get(&m.dev) {
            Some(n) => Some((*n).to_owned()),
            None if m.dev.0 == 0 => dev_name(&m.source).filter(|n| ids.contains_key(n.as_str())),
            None => None,
        };
        if let Some(name) = name {
            let points = out.entry(name).or_default();
            if points.len() < MAX_MOUNTS_PER_DEVICE && !points.contains(&m.mount_point) {
                points.push(m.mount_point.clone());
            }
        }
    }
    for group in btrfs_groups(sys) {
        let mut points: Vec<String> = Vec::new();
        for member in &group {
            for p in out.get(member).into_iter().flatten() {
                if !points.contains(p) {
                    points.push(p.clone());
                }
            }
        }
        if points.is_empty() {
            continue;
        }
        points.truncate(MAX_MOUNTS_PER_DEVICE);
        for member in group {
            out.insert(member, points.clone());
        }
    }
    out
}

/// Members of each btrfs filesystem the kernel knows (`/sys/fs/btrfs/<uuid>/devices/`).
fn btrfs_groups(sys: &Path) -> Vec<Vec<String>> {
    let Ok(rd) = std::fs::read_dir(sys.join("fs/btrfs")) else { return Vec::new() };
    rd.flatten()
        .filter_map(|fs| {
            let devices = std::fs::read_dir(fs.path().join("devices")).ok()?;
            let names: Vec<String> = devices.flatten().filter_map(|d| d.file_name().into_string().ok()).collect();
            (names.len() > 1).then_some(names)
        })
        .collect()
}

/// Kernel names of the devices the running system lives on: the root device and the devices
/// under /boot, /usr, /var..., followed down through md/dm `slaves/` to the disks beneath.
fn system_names(sources: &Sources, mounts: &[MountEntry]) -> HashSet<String> {
    let mut start: Vec<String> = Vec::new();
    let mut devs: Vec<(u32, u32)> = sources.root_dev.into_iter().collect();
    for m in mounts.iter().filter(|m| SYSTEM_MOUNTS.contains(&m.mount_point.as_str())) {
        devs.push(m.dev);
        start.extend(dev_name(&m.source));
    }
    for (maj, min) in devs {
        if maj == 0 {
            continue;
        }
        if let Ok(target) = std::fs::read_link(sources.sys.join(format!("dev/block/{maj}:{min}"))) {
            start.extend(target.file_name().and_then(|n| n.to_str()).map(str::to_owned));
        }
    }
    let mut seen = HashSet::new();
    while let Some(name) = start.pop() {
        if seen.len() >= 256 || name.contains('/') || !seen.insert(name.clone()) {
            continue;
        }
        if let Ok(rd) = std::fs::read_dir(sources.sys.join("class/block").join(&name).join("slaves")) {
            start.extend(rd.flatten().filter_map(|e| e.file_name().into_string().ok()));
        }
    }
    seen
}

/// `/dev/disk/by-id` links by the kernel name they point at.
fn by_id_links(dir: &Path) -> HashMap<String, BTreeSet<String>> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let Ok(link) = e.file_name().into_string() else { continue };
        if link.chars().any(|c| c.is_control() || c == '/') || link.len() > 255 {
            continue;
        }
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        let Some(name) = target.file_name().and_then(|n| n.to_str()) else { continue };
        out.entry(name.to_owned()).or_default().insert(format!("/dev/disk/by-id/{link}"));
    }
    out
}

/// What udev recorded about one device.
#[derive(Debug, Clone, Default)]
struct UdevData {
    props: HashMap<String, String>,
    links: Vec<String>,
}

/// Properties kept from udev's database.
const UDEV_KEYS: &[&str] = &[
    "ID_SERIAL_SHORT",
    "ID_MODEL",
    "ID_MODEL_ENC",
    "ID_VENDOR",
    "ID_VENDOR_ENC",
    "ID_BUS",
    "ID_FS_TYPE",
    "ID_FS_LABEL",
    "ID_FS_LABEL_ENC",
    "ID_FS_UUID",
];

impl UdevData {
    /// Parses a udev database file: `E:KEY=value` properties and `S:link` symlinks (relative to
    /// /dev); other lines are ignored.
    fn parse(text: &str) -> Self {
        let mut d = Self::default();
        for line in text.lines() {
            if let Some(kv) = line.strip_prefix("E:") {
                if let Some((k, v)) = kv.split_once('=') {
                    if UDEV_KEYS.contains(&k) {
                        d.props.insert(k.to_owned(), v.to_owned());
                    }
                }
            } else if let Some(link) = line.strip_prefix("S:") {
                if d.links.len() < MAX_LINKS {
                    d.links.push(link.to_owned());
                }
            }
        }
        d
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    fn by_id_links(&self) -> impl Iterator<Item = String> + '_ {
        self.links
            .iter()
            .filter(|l| l.starts_with("disk/by-id/") && !l.contains("..") && !l.chars().any(char::is_control))
            .map(|l| format!("/dev/{l}"))
    }

    fn fs_type(&self) -> Option<String> {
        self.get("ID_FS_TYPE").and_then(|s| clean_text(s, 32))
    }

    /// The label as written on the medium: udev's `_ENC` form keeps spaces (`\x20`), the plain
    /// one replaces them.
    fn fs_label(&self) -> Option<String> {
        self.get("ID_FS_LABEL_ENC")
            .map(decode_udev_enc)
            .and_then(|s| clean_text(&s, MAX_TEXT))
            .or_else(|| self.get("ID_FS_LABEL").and_then(|s| clean_text(s, MAX_TEXT)))
    }

    fn fs_uuid(&self) -> Option<String> {
        self.get("ID_FS_UUID").and_then(|s| clean_text(s, 64))
    }
}

fn udev_data(dir: &Path, (maj, min): (u32, u32)) -> UdevData {
    read_capped(&dir.join(format!("b{maj}:{min}")), MAX_UDEV_FILE)
        .map(|b| UdevData::parse(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// Decodes udev's `\xHH` escapes (`ID_MODEL_ENC`, `ID_FS_LABEL_ENC`).
fn decode_udev_enc(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let hex = b.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Longest `blkid -o export` output parsed.
const MAX_BLKID_OUTPUT: usize = 64 * 1024;
/// Most `KEY=value` pairs kept from it.
const MAX_BLKID_KEYS: usize = 64;
/// Longest value kept (GPT names and btrfs labels are the long ones).
const MAX_BLKID_VALUE: usize = 256;

/// Parses `blkid -p -o export <device>` output: `KEY=value` lines, values with blkid's
/// backslash escapes undone, control characters dropped and lengths capped. Only the first
/// device's block is read (blkid separates devices with an empty line). Keys must be
/// upper-case ASCII, digits and '_'.
pub fn parse_blkid_export(text: &str) -> BTreeMap<String, String> {
    let text = match text.char_indices().nth(MAX_BLKID_OUTPUT) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if out.is_empty() {
                continue;
            }
            break;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok || out.len() >= MAX_BLKID_KEYS {
            continue;
        }
        let mut value = String::with_capacity(v.len());
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                c => value.push(c),
            }
        }
        if let Some(value) = clean_text(&value, MAX_BLKID_VALUE) {
            out.insert(k.to_owned(), value);
        }
    }
    out
}

/// Fills the filesystem facts of `name` (the device itself or one of its partitions) from
/// parsed blkid output, where udev did not provide them. Returns false when `name` is neither.
pub fn apply_blkid(device: &mut DeviceInfo, name: &str, export: &BTreeMap<String, String>) -> bool {
    let get = |k: &str, cap: usize| export.get(k).and_then(|v| clean_text(v, cap));
    let (t, l, u) = (get("TYPE", 32), get("LABEL", MAX_TEXT), get("UUID", 64));
    let slots = if device.name == name {
        (&mut device.fs_type, &mut device.fs_label, &mut device.fs_uuid)
    } else if let Some(p) = device.partitions.iter_mut().find(|p| p.name == name) {
        (&mut p.fs_type, &mut p.fs_label, &mut p.fs_uuid)
    } else {
        return false;
    };
    if slots.0.is_none() {
        *slots.0 = t;
    }
    if slots.1.is_none() {
        *slots.1 = l;
    }
    if slots.2.is_none() {
        *slots.2 = u;
    }
    true
}

/// Orders names with their numbers compared as numbers: loop2 < loop10,
/// nvme0n1p2 < nvme0n1p10.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, rx) = x.split_at(nx);
                let (dy, ry) = y.split_at(ny);
                let strip = |d: &[u8]| -> usize { d.iter().take_while(|c| **c == b'0').count() };
                let (tx, ty) = (&dx[strip(dx)..], &dy[strip(dy)..]);
                match tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty)) {
                    Ordering::Equal => (x, y) = (rx, ry),
                    o => return o,
                }
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_prerequisites::require_root;
    use std::os::unix::fs::symlink;

    /// A throwaway directory tree shaped like / (sys, proc, run, dev), removed on drop.
    struct Tree {
        root: PathBuf,
    }

    impl Tree {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let root = std::env::temp_dir().join(format!("corenasd-inventory-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&root).unwrap();
            Self { root }
        }

        fn file(&self, rel: &str, content: &[u8]) {
            let p = self.root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }

        fn link(&self, rel: &str, target: &str) {
            let p = self.root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
        }

        /// A block device at `sys/<devpath>` as the kernel lays it out: `uevent`, `size` (in
        /// 512-byte sectors), the attributes given, and the class/block and dev/block links.
        fn block(
            &self,
            devpath: &str,
            (maj, min): (u32, u32),
            partn: Option<u32>,
            sectors: u64,
            attrs: &[(&str, &[u8])],
        ) {
            let name = devpath.rsplit('/').next().unwrap();
            let devtype = if partn.is_some() { "partition" } else { "disk" };
            let mut uevent = format!("MAJOR={maj}\nMINOR={min}\nDEVNAME={name}\nDEVTYPE={devtype}\n");
            if let Some(n) = partn {
                uevent.push_str(&format!("PARTN={n}\n"));
            }
            self.file(&format!("sys/{devpath}/uevent"), uevent.as_bytes());
            self.file(&format!("sys/{devpath}/size"), format!("{sectors}\n").as_bytes());
            std::fs::create_dir_all(self.root.join(format!("sys/{devpath}/holders"))).unwrap();
            for (rel, content) in attrs {
                self.file(&format!("sys/{devpath}/{rel}"), content);
            }
            self.link(&format!("sys/class/block/{name}"), &format!("../../{devpath}"));
            self.link(&format!("sys/dev/block/{maj}:{min}"), &format!("../../{devpath}"));
        }

        fn sources(&self) -> Sources {
            Sources::under(&self.root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    const SDA: &str = "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda";
    const SDB: &str = "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb";
    const NVME: &str = "devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/nvme0n1";
    const SR0: &str = "devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0";
    const VDB: &str = "devices/pci0000:00/0000:00:05.0/virtio3/block/vdb";

    /// A machine with a SATA system disk, a USB stick, an NVMe drive in an md array, loop
    /// devices (attached, detached, swap, a two-device btrfs), an empty DVD drive, a virtio
    /// disk in a pool, and block devices that are not listed (zram, dm, md).
    fn machine(t: &Tree) {
        let mut vpd = vec![0x00, 0x80, 0x00, 0x14];
        vpd.extend_from_slice(b"     WD-WCC7K1234567");
        t.block(
            SDA,
            (8, 0),
            None,
            7_814_037_168,
            &[
                ("device/model", b"WDC WD40EFRX-68N32N0    \n"),
                ("device/vendor", b"ATA     \n"),
                ("device/vpd_pg80", &vpd),
                ("queue/rotational", b"1\n"),
                ("queue/logical_block_size", b"512\n"),
                ("queue/physical_block_size", b"4096\n"),
                ("removable", b"0\n"),
                ("ro", b"0\n"),
            ],
        );
        t.block(&format!("{SDA}/sda1"), (8, 1), Some(1), 1_048_576, &[("partition", b"1\n")]);
        t.block(&format!("{SDA}/sda2"), (8, 2), Some(2), 7_812_986_880, &[("partition", b"2\n")]);

        t.block(
            SDB,
            (8, 16),
            None,
            60_063_744,
            &[
                ("device/model", b"Ultra Fit       \n"),
                ("device/vendor", b"SanDisk \n"),
                ("removable", b"1\n"),
                ("queue/rotational", b"1\n"),
            ],
        );
        t.block(&format!("{SDB}/sdb1"), (8, 17), Some(1), 60_061_696, &[]);
        t.file(
            "run/udev/data/b8:16",
            b"S:disk/by-id/usb-SanDisk_Ultra_Fit_4C530001-0:0\nS:disk/by-path/pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0\n\
W:3\nI:1234\nE:ID_SERIAL_SHORT=4C530001\nE:ID_BUS=usb\nE:ID_MODEL=Ultra_Fit\nG:systemd\n",
        );
        t.file(
            "run/udev/data/b8:17",
            b"E:ID_FS_TYPE=vfat\nE:ID_FS_LABEL=MY_STICK\nE:ID_FS_LABEL_ENC=MY\\x20STICK\\x1b[2J\nE:ID_FS_UUID=1234-ABCD\n",
        );
        t.link("dev/disk/by-id/usb-SanDisk_Ultra_Fit_4C530001-0:0", "../../sdb");
        t.link("dev/disk/by-id/usb-SanDisk_Ultra_Fit_4C530001-0:0-part1", "../../sdb1");

        t.block(
            NVME,
            (259, 0),
            None,
            976_773_168,
            &[
                ("device/model", b"Samsung SSD 970 EVO 500GB               \n"),
                ("device/serial", b"S466NX0M776250H     \n"),
                ("queue/rotational", b"0\n"),
            ],
        );
        t.block(&format!("{NVME}/nvme0n1p1"), (259, 1), Some(1), 976_771_072, &[("holders/md127", b"")]);
        t.link("dev/disk/by-id/nvme-Samsung_SSD_970_EVO_500GB_S466NX0M776250H", "../../nvme0n1");

        t.block(
            "devices/virtual/block/loop0",
            (7, 0),
            None,
            131_072,
            &[("loop/backing_file", b"/srv/images/disk 1.img\n")],
        );
        t.block("devices/virtual/block/loop1", (7, 1), None, 0, &[]);
        t.block("devices/virtual/block/loop2", (7, 2), None, 2048, &[("loop/backing_file", b"/tmp/swap.img\n")]);
        t.block("devices/virtual/block/loop3", (7, 3), None, 2048, &[("loop/backing_file", b"/tmp/b1.img\n")]);
        t.block("devices/virtual/block/loop4", (7, 4), None, 2048, &[("loop/backing_file", b"/tmp/b2.img\n")]);
        t.block("devices/virtual/block/loop10", (7, 10), None, 2048, &[("loop/backing_file", b"/tmp/x.img\n")]);
        // Attached to an empty file: size 0, nothing to use.
        t.block("devices/virtual/block/loop11", (7, 11), None, 0, &[("loop/backing_file", b"/tmp/empty\n")]);
        t.file("sys/fs/btrfs/5b5c2a7e-3f1b-4d7e-9a43-6c1f0b1c2d3e/devices/loop3", b"");
        t.file("sys/fs/btrfs/5b5c2a7e-3f1b-4d7e-9a43-6c1f0b1c2d3e/devices/loop4", b"");
        t.file("sys/fs/btrfs/features/raid1c34", b"0\n");

        t.block(SR0, (11, 0), None, 0, &[("removable", b"1\n"), ("device/model", b"DVD-RAM UJ8E2   \n")]);
        t.block(VDB, (254, 16), None, 2_097_152, &[("serial", b"disk-vdb-01\n"), ("device/vendor", b"0x1af4\n")]);

        t.block("devices/virtual/block/zram0", (252, 0), None, 8_388_608, &[]);
        t.block("devices/virtual/block/md127", (9, 127), None, 976_771_072, &[("slaves/nvme0n1p1", b"")]);
        t.block("devices/virtual/block/dm-0", (253, 0), None, 4096, &[]);

        t.file(
            "proc/self/mountinfo",
            b"22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw\n\
27 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n\
30 27 8:1 / /boot/efi rw,relatime shared:5 - vfat /dev/sda1 rw,fmask=0077\n\
31 27 8:17 / /media/my\\040stick rw,nosuid,nodev shared:6 - vfat /dev/sdb1 rw\n\
32 27 8:17 /photos /srv/photos rw shared:6 - vfat /dev/sdb1 rw\n\
33 27 0:45 / /mnt/pool rw,relatime shared:7 master:1 - btrfs /dev/loop3 rw,space_cache=v2\n\
34 27 9:127 / /srv/raid rw - ext4 /dev/md127 rw\n\
35 27 0:46 / /tmp rw - tmpfs tmpfs rw\n\
this line is not a mount\n\
36 27 x:y / /bad rw - ext4 /dev/sdz rw\n",
        );
        t.file(
            "proc/swaps",
            b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/loop2                              partition\t1020\t\t0\t\t-2\n/swapfile                               file\t\t1048572\t\t0\t\t-3\n",
        );
    }

    fn by_name<'a>(devs: &'a [DeviceInfo], name: &str) -> &'a DeviceInfo {
        devs.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("{name} not listed"))
    }

    #[test]
    fn fake_machine_inventory() {
        let t = Tree::new("machine");
        machine(&t);
        let mut sources = t.sources();
        sources.root_dev = Some((8, 2));
        let pools = HashMap::from([("vdb".to_owned(), ("tank".to_owned(), "zfs".to_owned()))]);
        let devs = inventory(&sources, &pools);

        let names: Vec<&str> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["loop0", "loop2", "loop3", "loop4", "loop10", "nvme0n1", "sda", "sdb", "sr0", "vdb"]);

        let sda = by_name(&devs, "sda");
        assert_eq!(sda.path, "/dev/sda");
        assert_eq!(sda.kind, DeviceKind::Disk);
        assert_eq!(sda.transport.as_deref(), Some("sata"));
        assert_eq!(sda.model.as_deref(), Some("WDC WD40EFRX-68N32N0"));
        assert_eq!(sda.vendor.as_deref(), Some("ATA"));
        assert_eq!(sda.serial.as_deref(), Some("WD-WCC7K1234567"), "serial from VPD page 0x80");
        assert_eq!(sda.size_bytes, 7_814_037_168 * 512);
        assert_eq!((sda.logical_sector, sda.physical_sector), (512, 4096));
        assert!(sda.rotational && !sda.removable && !sda.read_only);
        assert_eq!(sda.uses, [DeviceUse::SystemDisk]);
        assert_eq!(sda.partitions.len(), 2);
        assert_eq!((sda.partitions[0].name.as_str(), sda.partitions[0].number), ("sda1", 1));
        assert_eq!(sda.partitions[0].path, "/dev/sda1");
        assert_eq!(sda.partitions[0].size_bytes, 1_048_576 * 512);
        assert_eq!(sda.partitions[0].uses, [DeviceUse::Mounted { at: "/boot/efi".into() }]);
        assert_eq!(sda.partitions[1].uses, [DeviceUse::Mounted { at: "/".into() }]);
        assert!(sda.by_id.is_empty() && sda.fs_type.is_none());

        let sdb = by_name(&devs, "sdb");
        assert_eq!(sdb.transport.as_deref(), Some("usb"));
        assert_eq!(sdb.model.as_deref(), Some("Ultra Fit"));
        assert_eq!(sdb.vendor.as_deref(), Some("SanDisk"));
        assert_eq!(sdb.serial.as_deref(), Some("4C530001"), "udev's serial first");
        assert!(sdb.removable);
        assert_eq!(sdb.by_id, ["/dev/disk/by-id/usb-SanDisk_Ultra_Fit_4C530001-0:0"], "by-id dir and udev S: merged");
        assert!(sdb.uses.is_empty() && sdb.in_use());
        let sdb1 = &sdb.partitions[0];
        assert_eq!(sdb1.number, 1, "PARTN from uevent");
        assert_eq!(sdb1.fs_type.as_deref(), Some("vfat"));
        assert_eq!(sdb1.fs_label.as_deref(), Some("MY STICK[2J"), "decoded, control character dropped");
        assert_eq!(sdb1.fs_uuid.as_deref(), Some("1234-ABCD"));
        assert_eq!(
            sdb1.uses,
            [DeviceUse::Mounted { at: "/media/my stick".into() }, DeviceUse::Mounted { at: "/srv/photos".into() }]
        );

        let nvme = by_name(&devs, "nvme0n1");
        assert_eq!(nvme.transport.as_deref(), Some("nvme"));
        assert_eq!(nvme.model.as_deref(), Some("Samsung SSD 970 EVO 500GB"));
        assert_eq!(nvme.serial.as_deref(), Some("S466NX0M776250H"));
        assert!(!nvme.rotational);
        assert_eq!(nvme.by_id, ["/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_500GB_S466NX0M776250H"]);
        assert_eq!(nvme.partitions[0].name, "nvme0n1p1");
        assert_eq!(nvme.partitions[0].uses, [DeviceUse::HeldBy { holder: "md127".into() }]);
        assert!(nvme.in_use() && nvme.uses.is_empty());

        let loop0 = by_name(&devs, "loop0");
        assert_eq!(loop0.kind, DeviceKind::Loop);
        assert_eq!(loop0.transport.as_deref(), Some("loop"));
        assert_eq!(loop0.backing_file.as_deref(), Some("/srv/images/disk 1.img"));
        assert_eq!(loop0.size_bytes, 64 << 20);
        assert!(loop0.model.is_none() && loop0.serial.is_none() && !loop0.in_use());
        assert_eq!(by_name(&devs, "loop2").uses, [DeviceUse::Swap]);
        for multi in ["loop3", "loop4"] {
            assert_eq!(by_name(&devs, multi).uses, [DeviceUse::Mounted { at: "/mnt/pool".into() }], "{multi}");
        }

        let sr0 = by_name(&devs, "sr0");
        assert_eq!((sr0.kind, sr0.size_bytes), (DeviceKind::Optical, 0));
        assert_eq!(sr0.transport.as_deref(), Some("sata"));
        assert_eq!(sr0.model.as_deref(), Some("DVD-RAM UJ8E2"));

        let vdb = by_name(&devs, "vdb");
        assert_eq!(vdb.transport.as_deref(), Some("virtio"));
        assert_eq!(vdb.vendor, None, "a PCI vendor id is not a name");
        assert_eq!(vdb.serial.as_deref(), Some("disk-vdb-01"));
        assert_eq!(vdb.uses, [DeviceUse::PoolMember { pool: "tank".into(), backend: "zfs".into() }]);

        assert_eq!(find(&devs, "sdb1").map(|d| d.name.as_str()), Some("sdb"));
        assert!(find(&devs, "md127").is_none());
    }

    #[test]
    fn system_disk_beneath_device_mapper_and_btrfs() {
        let t = Tree::new("dm-root");
        let vda = "devices/pci0000:00/0000:00:02.0/virtio1/block/vda";
        t.block(vda, (254, 0), None, 41_943_040, &[]);
        t.block(&format!("{vda}/vda1"), (254, 1), Some(1), 2048, &[]);
        t.block(&format!("{vda}/vda2"), (254, 2), Some(2), 41_940_992, &[("holders/dm-0", b"")]);
        t.block("devices/virtual/block/dm-0", (253, 0), None, 41_940_992, &[("slaves/vda2", b"")]);
        let sdc = "devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sdc";
        t.block(sdc, (8, 32), None, 1_000_000, &[]);
        t.block(&format!("{sdc}/sdc1"), (8, 33), Some(1), 999_000, &[]);
        let sdd = "devices/pci0000:00/0000:00:1f.2/ata4/host3/target3:0:0/3:0:0:0/block/sdd";
        t.block(sdd, (8, 48), None, 1_000_000, &[]);
        t.file(
            "proc/self/mountinfo",
            b"27 1 253:0 / / rw - ext4 /dev/dm-0 rw\n40 27 0:31 /@var /var rw - btrfs /dev/sdc1 rw\n",
        );
        let mut sources = t.sources();
        sources.root_dev = Some((253, 0));
        let devs = inventory(&sources, &HashMap::new());
        let names: Vec<&str> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sdc", "sdd", "vda"]);
        let vda = by_name(&devs, "vda");
        assert_eq!(vda.uses, [DeviceUse::SystemDisk], "root on dm-0, which sits on vda2");
        assert_eq!(vda.partitions[1].uses, [DeviceUse::HeldBy { holder: "dm-0".into() }]);
        assert!(vda.partitions[0].uses.is_empty());
        let sdc = by_name(&devs, "sdc");
        assert_eq!(sdc.uses, [DeviceUse::SystemDisk], "/var on btrfs (anonymous device 0:31) on sdc1");
        assert_eq!(sdc.partitions[0].uses, [DeviceUse::Mounted { at: "/var".into() }]);
        assert!(!by_name(&devs, "sdd").in_use());
    }

    #[test]
    fn missing_sources_give_an_empty_or_partial_inventory() {
        let t = Tree::new("empty");
        assert!(inventory(&t.sources(), &HashMap::new()).is_empty());
        // Devices but no /proc files, no udev, no by-id: still listed.
        t.block("devices/virtual/block/loop5", (7, 5), None, 2048, &[("loop/backing_file", b"/x\n")]);
        let devs = inventory(&t.sources(), &HashMap::new());
        assert_eq!(devs.len(), 1);
        assert!(devs[0].uses.is_empty() && devs[0].by_id.is_empty());
    }

    #[test]
    fn hostile_sysfs_strings_are_cleaned() {
        let t = Tree::new("hostile");
        let sde = "devices/pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host7/target7:0:0/7:0:0:0/block/sde";
        let long = "M".repeat(1000);
        t.block(
            sde,
            (8, 64),
            None,
            2048,
            &[("device/model", format!("\x1b]0;pwned\x07{long}").as_bytes()), ("device/vendor", b"\xff\xfeVend\n")],
        );
        let mut udev = b"E:ID_SERIAL_SHORT=\x1b[31mSER\xffIAL".to_vec();
        udev.extend_from_slice("\u{202e}\n".as_bytes());
        t.file("run/udev/data/b8:64", &udev);
        let devs = inventory(&t.sources(), &HashMap::new());
        let d = &devs[0];
        let model = d.model.as_deref().unwrap();
        assert!(model.starts_with("]0;pwned") && model.chars().count() == MAX_TEXT, "{model}");
        assert_eq!(d.vendor.as_deref(), Some("\u{fffd}\u{fffd}Vend"));
        assert_eq!(d.serial.as_deref(), Some("[31mSER\u{fffd}IAL"));
    }

    #[test]
    fn mountinfo_parsing() {
        let m = parse_mountinfo(
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
             37 27 8:17 / /a\\040b\\011c\\134d\\012e rw - vfat /dev/sd\\040b1 rw\n\
             38 27 8:18 / /no-separator rw ext4 /dev/sdb2 rw\n\
             39 27 8:19 / /short rw -\n\
             \n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].dev, (98, 0));
        assert_eq!(m[0].mount_point, "/mnt2");
        assert_eq!((m[0].fs_type.as_str(), m[0].source.as_str()), ("ext3", "/dev/root"));
        assert_eq!(m[1].mount_point, "/a b\tc\\d\ne");
        assert_eq!(m[1].source, "/dev/sd b1");
        // Incomplete and out-of-range escapes are kept as they are.
        assert_eq!(unescape_octal("\\04"), "\\04");
        assert_eq!(unescape_octal("x\\"), "x\\");
        assert_eq!(unescape_octal("\\777"), "\\777");
        assert_eq!(unescape_octal("\\377"), "\u{fffd}");
    }

    #[test]
    fn swaps_parsing() {
        let s = parse_swaps(
            "Filename\tType\tSize\tUsed\tPriority\n/dev/sda3 partition 8388604 0 -2\n/swap\\040file file 1 0 -3\n/dev/dm-1 partition 1 0 -4\n",
        );
        assert_eq!(s, ["/dev/sda3", "/dev/dm-1"]);
        assert_eq!(dev_name("/dev/sda3").as_deref(), Some("sda3"));
        assert_eq!(dev_name("/dev/"), None);
        assert_eq!(dev_name("tmpfs"), None);
    }

    /// `blkid -p -o export` of an ext4 image made with `mkfs.ext4 -L 'my disk $x'` on this
    /// project's Debian 12 machine (util-linux 2.38.1).
    const BLKID_EXT4: &str = "DEVNAME=/tmp/devfix_fs.img\nLABEL=my\\ disk\\ \\$x\nUUID=0b150496-7bb5-461d-8c97-7f66ed5869aa\nVERSION=1.0\nBLOCK_SIZE=1024\nTYPE=ext4\nUSAGE=filesystem\n";

    #[test]
    fn blkid_export_parsing() {
        let m = parse_blkid_export(BLKID_EXT4);
        assert_eq!(m.get("LABEL").map(String::as_str), Some("my disk $x"));
        assert_eq!(m.get("TYPE").map(String::as_str), Some("ext4"));
        assert_eq!(m.get("UUID").map(String::as_str), Some("0b150496-7bb5-461d-8c97-7f66ed5869aa"));
        assert_eq!(m.len(), 7);

        let hostile = format!(
            "\nlower=1\nBAD KEY=1\nLABEL=\x1b[2Jevil\\\x07\nPART_ENTRY_NAME={}\nnoequals\n\nTYPE=second-device\n",
            "n".repeat(1000)
        );
        let m = parse_blkid_export(&hostile);
        assert_eq!(m.get("LABEL").map(String::as_str), Some("[2Jevil"));
        assert_eq!(m.get("PART_ENTRY_NAME").map(|v| v.len()), Some(MAX_BLKID_VALUE));
        assert_eq!(m.len(), 2, "{m:?}");
        let many: String = (0..500).map(|i| format!("K{i}=v\n")).collect();
        assert_eq!(parse_blkid_export(&many).len(), MAX_BLKID_KEYS);
        assert!(parse_blkid_export("").is_empty());
    }

    #[test]
    fn blkid_fills_missing_fs_facts() {
        let t = Tree::new("blkid");
        t.block("devices/virtual/block/loop6", (7, 6), None, 2048, &[("loop/backing_file", b"/x\n")]);
        t.block("devices/virtual/block/loop6/loop6p1", (259, 9), Some(1), 2000, &[]);
        let mut devs = inventory(&t.sources(), &HashMap::new());
        let export = parse_blkid_export(BLKID_EXT4);
        assert!(apply_blkid(&mut devs[0], "loop6p1", &export));
        assert_eq!(devs[0].partitions[0].fs_label.as_deref(), Some("my disk $x"));
        assert!(devs[0].fs_type.is_none());
        assert!(apply_blkid(&mut devs[0], "loop6", &export));
        assert_eq!(devs[0].fs_type.as_deref(), Some("ext4"));
        assert!(!apply_blkid(&mut devs[0], "sda", &export));
    }

    #[test]
    fn udev_data_and_helpers() {
        let d = UdevData::parse(
            "S:disk/by-id/ata-X\nS:disk/by-id/../../etc\nE:ID_MODEL_ENC=WDC\\x20WD40\nE:ID_UNUSED=1\nE:broken\nL:0\n",
        );
        assert_eq!(d.get("ID_MODEL_ENC").map(decode_udev_enc).as_deref(), Some("WDC WD40"));
        assert_eq!(d.get("ID_UNUSED"), None);
        assert_eq!(d.by_id_links().collect::<Vec<_>>(), ["/dev/disk/by-id/ata-X"]);
        assert_eq!(decode_udev_enc("a\\x2"), "a\\x2");
        assert_eq!(decode_udev_enc("a\\xZZb\\x41"), "a\\xZZbA");
        assert_eq!(decode_udev_enc("\\xff"), "\u{fffd}");

        assert_eq!(vpd_serial(&[0, 0x80, 0, 3, b'A', b'B', b'C', b'D']).as_deref(), Some("ABC"));
        assert_eq!(vpd_serial(&[0, 0x80, 0, 200, b'A']).as_deref(), Some("A"), "length past the end is cut");
        assert_eq!(vpd_serial(&[0, 0x83, 0, 1, b'A']), None);
        assert_eq!(vpd_serial(&[0, 0x80]), None);

        let mut names = vec!["sdb", "loop10", "nvme0n1p10", "loop2", "sda", "nvme0n1p2", "loop002", "nvme0n1", "sr0"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["loop2", "loop002", "loop10", "nvme0n1", "nvme0n1p2", "nvme0n1p10", "sda", "sdb", "sr0"]);
    }

    /// The running machine: whatever it has, the answer is consistent.
    #[test]
    fn system_inventory_is_consistent() {
        let devs = inventory(&Sources::system(), &HashMap::new());
        for d in &devs {
            assert_eq!(d.path, format!("/dev/{}", d.name));
            assert!(is_disk_name(&d.name), "{}", d.name);
            assert!(d.size_bytes > 0 || d.kind == DeviceKind::Optical, "{}", d.name);
            if d.kind == DeviceKind::Loop {
                assert!(d.backing_file.is_some(), "{}", d.name);
            }
            for p in &d.partitions {
                assert!(p.name.starts_with(&d.name), "{} in {}", p.name, d.name);
            }
        }
        // The disk holding "/" says so, when it is a disk CoreNAS lists.
        if let Some((maj, min)) = root_device() {
            let real = std::fs::read_link(format!("/sys/dev/block/{maj}:{min}")).ok();
            let name = real.as_ref().and_then(|p| p.file_name()).and_then(|n| n.to_str());
            if let Some(d) = name.and_then(|n| find(&devs, n)) {
                assert!(d.uses.contains(&DeviceUse::SystemDisk), "{d:?}");
            }
        }
    }

    /// Root only: a real loop device appears with its backing file and disappears when
    /// detached.
    #[test]
    fn loop_inventory_lists_attached_loop() {
        if !require_root("loop_inventory_lists_attached_loop", "attaching a loop device") {
            return;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let img = std::env::temp_dir().join(format!("corenasd-inventory-loop-{}-{nanos}.img", std::process::id()));
        std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
        let out = std::process::Command::new("losetup").arg("-f").arg("--show").arg(&img).output().unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let name = dev.strip_prefix("/dev/").unwrap().to_owned();
        let detach = || {
            let _ = std::process::Command::new("losetup").arg("-d").arg(&dev).status();
        };

        let started = std::time::Instant::now();
        let devs = inventory(&Sources::system(), &HashMap::new());
        let took = started.elapsed();
        let found = find(&devs, &name).cloned();
        detach();
        let after = inventory(&Sources::system(), &HashMap::new());
        let _ = std::fs::remove_file(&img);

        let d = found.unwrap_or_else(|| panic!("{name} not in {devs:?}"));
        eprintln!("inventory of {} devices took {took:?}", devs.len());
        assert_eq!(d.kind, DeviceKind::Loop);
        assert_eq!(d.size_bytes, 64 << 20);
        assert_eq!(d.transport.as_deref(), Some("loop"));
        assert_eq!(d.backing_file.as_deref(), img.to_str());
        assert!(!d.in_use(), "{d:?}");
        assert!(find(&after, &name).is_none(), "{name} still listed after detach");
    }

    /// Root only, by hand (`--ignored`): 64 loop devices listed, timed against `lsblk --json`
    /// as the `device list` benchmark does.
    #[test]
    #[ignore = "attaches 64 loop devices"]
    fn loop_inventory_64_devices_against_lsblk() {
        if !require_root("loop_inventory_64_devices_against_lsblk", "attaching loop devices") {
            return;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("corenasd-inventory-64-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut devs = Vec::new();
        for i in 0..64 {
            let img = dir.join(format!("{i}.img"));
            std::fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
            let out = std::process::Command::new("losetup").arg("-f").arg("--show").arg(&img).output().unwrap();
            if out.status.success() {
                devs.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
            }
        }
        let runs = 20u32;
        let t = std::time::Instant::now();
        let mut listed = 0;
        for _ in 0..runs {
            listed = inventory(&Sources::system(), &HashMap::new()).len();
        }
        let ours = t.elapsed() / runs;
        let t = std::time::Instant::now();
        for _ in 0..runs {
            let _ = std::process::Command::new("lsblk").arg("--json").output();
        }
        let lsblk = t.elapsed() / runs;
        for d in &devs {
            let _ = std::process::Command::new("losetup").arg("-d").arg(d).status();
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("{listed} devices: inventory {ours:?} per call, lsblk --json {lsblk:?} per call");
        assert_eq!(devs.len(), 64);
        assert!(listed >= 64);
    }
}
