//! Block devices: the helper re-derives, as root, what a device is and whether it is in use,
//! whatever corenasd says (rule 1). Imaging needs three operations on a device node: grant
//! corenasd's user read access (an ACL entry), revoke it, and eject. Nothing read from the
//! medium is interpreted here; `probe` hands the raw first bytes to corenasd.

use super::acl::{self, RawEntry};
use super::{Action, Ctx};
use corenas_proto::helper::{DeviceProbe, HelperOp, Step};
use corenas_proto::names::{DevicePath, is_disk_name};
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Enough for the ISO 9660 primary volume descriptor (sector 16 of 2048 bytes).
const HEAD_BYTES: usize = 34 * 1024;
const READ: u16 = 4;

/// A device node resolved and checked: a block device whose sysfs name is an accepted disk name.
#[derive(Debug, Clone)]
pub struct Device {
    pub path: PathBuf,
    pub name: String,
    pub major: u32,
    pub minor: u32,
}

fn refuse(device: &str, why: impl std::fmt::Display) -> WireError {
    WireError::invalid("device", format!("device {device}: {why}"))
}

/// Resolves `/dev/<name>` or a `/dev/disk/by-id/` link to a block device of an accepted kind.
pub fn resolve(dev: &DevicePath) -> Result<Device, WireError> {
    let shown = dev.as_str();
    let name = match dev.kernel_name() {
        Some(n) => n.to_owned(),
        None => {
            // by-id links are udev's: relative links "../../<name>" and nothing else.
            let target = std::fs::read_link(shown).map_err(|e| refuse(shown, format!("cannot be resolved: {e}")))?;
            let t = target.to_string_lossy();
            match t.strip_prefix("../../") {
                Some(n) if is_disk_name(n) => n.to_owned(),
                _ => return Err(refuse(shown, "the link does not point at an accepted disk")),
            }
        }
    };
    let path = PathBuf::from(format!("/dev/{name}"));
    let st = rustix::fs::lstat(&path).map_err(|e| {
        if e == rustix::io::Errno::NOENT {
            WireError::not_found(format!("device {shown}: no such device"))
        } else {
            refuse(shown, e)
        }
    })?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::BlockDevice {
        return Err(refuse(shown, "not a block device"));
    }
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    // The node's numbers must lead back to the same kernel name: a renamed or planted node
    // (say /dev/sr0 with the numbers of the system disk) is refused.
    let sys = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}"))
        .map_err(|_| refuse(shown, "the kernel does not know this device"))?;
    if sys.file_name().and_then(|n| n.to_str()) != Some(name.as_str()) {
        return Err(refuse(shown, "the device node does not match the kernel's device of that name"));
    }
    Ok(Device { path, name, major, minor })
}

/// The md array or device-mapper volume behind a udev link (`/dev/md/<name>`,
/// `/dev/<vg>/<lv>`): its kernel name must be `md<N>` or `dm-<N>` and its node must match.
pub fn resolve_virtual(link: &Path) -> Result<Device, WireError> {
    let shown = link.display().to_string();
    let target = std::fs::read_link(link).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            WireError::not_found(format!("{shown} does not exist"))
        } else {
            refuse(&shown, format!("cannot be resolved: {e}"))
        }
    })?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let numbered =
        |p: &str| name.strip_prefix(p).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if !(numbered("md") || numbered("dm-")) {
        return Err(refuse(&shown, "the link does not point at an md array or a device-mapper volume"));
    }
    let path = PathBuf::from(format!("/dev/{name}"));
    let st = rustix::fs::stat(&path).map_err(|e| refuse(&shown, e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::BlockDevice {
        return Err(refuse(&shown, "not a block device"));
    }
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if dev_numbers(&name) != Some((major, minor)) {
        return Err(refuse(&shown, "the device node does not match the kernel's device of that name"));
    }
    Ok(Device { path, name, major, minor })
}

/// The kernel names of the devices an md array or dm volume is built on (`slaves/`).
pub fn lower_devices(dev: &Device) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(sys_block(&dev.name).join("slaves"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn sys_block(name: &str) -> PathBuf {
    PathBuf::from(format!("/sys/class/block/{name}"))
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

fn dev_numbers(name: &str) -> Option<(u32, u32)> {
    let s = read_trimmed(&sys_block(name).join("dev"))?;
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The device and its partitions, by kernel name.
fn family(dev: &Device) -> Vec<String> {
    let mut names = vec![dev.name.clone()];
    if let Ok(rd) = std::fs::read_dir(sys_block(&dev.name)) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&dev.name) && e.path().join("partition").exists() {
                names.push(n);
            }
        }
    }
    names
}

/// The whole disks a block device lives on: a partition's disk, and for an md array or a
/// device-mapper volume the disks beneath it (`slaves/`, followed down).
fn whole_disks(name: &str, depth: usize, out: &mut Vec<String>) {
    let sys = sys_block(name);
    let disk = if sys.join("partition").exists() {
        std::fs::canonicalize(&sys)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| name.to_owned())
    } else {
        name.to_owned()
    };
    let slaves: Vec<String> = std::fs::read_dir(sys_block(&disk).join("slaves"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if slaves.is_empty() || depth > 8 {
        if !out.contains(&disk) {
            out.push(disk);
        }
    } else {
        for s in slaves {
            whole_disks(&s, depth + 1, out);
        }
    }
}

/// The disks holding the root filesystem (none when `/` is not on a block device: a tmpfs or
/// overlay root in a container).
pub fn system_disks() -> Vec<String> {
    let Ok(st) = rustix::fs::stat("/") else { return Vec::new() };
    let numbers = format!("{}:{}", rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
    let Ok(link) = std::fs::read_link(format!("/sys/dev/block/{numbers}")) else { return Vec::new() };
    let Some(name) = link.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Vec::new() };
    let mut out = Vec::new();
    whole_disks(&name, 0, &mut out);
    out
}

/// Whether the device is the system disk, one of its partitions, or built on it.
pub fn on_system_disk(dev: &Device) -> bool {
    let system = system_disks();
    let mut mine = Vec::new();
    whole_disks(&dev.name, 0, &mut mine);
    mine.iter().any(|d| system.contains(d))
}

/// Unescapes the octal escapes of /proc/self/mountinfo (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every reason the device cannot be taken: mounted (any partition), holding `/`, swap,
/// holders (md, dm), or claimed exclusively by the kernel (ZFS, md, a mount we missed).
pub fn in_use(dev: &Device) -> Vec<String> {
    let names = family(dev);
    let numbers: Vec<(u32, u32)> = names.iter().filter_map(|n| dev_numbers(n)).collect();
    let nodes: Vec<String> = names.iter().map(|n| format!("/dev/{n}")).collect();
    let mut reasons = Vec::new();

    if let Ok(st) = rustix::fs::stat("/") {
        let root = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
        if numbers.contains(&root) {
            reasons.push("it holds the root filesystem (the system disk)".to_owned());
        }
    }
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in info.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let Some(sep) = f.iter().position(|x| *x == "-") else { continue };
            let (Some(numbers_field), Some(mount_point), Some(source)) = (f.get(2), f.get(4), f.get(sep + 2)) else {
                continue;
            };
            let by_number = numbers_field
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
                .is_some_and(|n| numbers.contains(&n));
            let source = unescape(source);
            if by_number || nodes.contains(&source) {
                let why = format!("mounted at {}", unescape(mount_point));
                if !reasons.contains(&why) {
                    reasons.push(why);
                }
            }
        }
    }
    if let Ok(swaps) = std::fs::read_to_string("/proc/swaps") {
        for line in swaps.lines().skip(1) {
            if let Some(p) = line.split_whitespace().next() {
                if nodes.contains(&unescape(p)) {
                    reasons.push("in use as swap".to_owned());
                }
            }
        }
    }
    for n in &names {
        if let Ok(rd) = std::fs::read_dir(sys_block(n).join("holders")) {
            for h in rd.flatten() {
                reasons.push(format!("{n} is held by {}", h.file_name().to_string_lossy()));
            }
        }
    }
    if reasons.is_empty() {
        // The kernel's own answer: an exclusive open fails while anything has claimed the disk.
        let flags = OFlags::RDONLY | OFlags::EXCL | OFlags::NONBLOCK | OFlags::CLOEXEC;
        if let Err(rustix::io::Errno::BUSY) = rustix::fs::open(&dev.path, flags, Mode::empty()) {
            reasons.push("claimed exclusively by the kernel (mounted, RAID/LVM member or pool)".to_owned());
        }
    }
    reasons
}

fn size_of(dev: &Device) -> (u64, u32) {
    let sectors = read_trimmed(&sys_block(&dev.name).join("size")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let logical = read_trimmed(&sys_block(&dev.name).join("queue/logical_block_size"))
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(512);
    (sectors.saturating_mul(512), logical)
}

fn read_head(dev: &Device, size: u64) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    let Ok(fd) = rustix::fs::open(&dev.path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()) else {
        return Vec::new();
    };
    let want = usize::try_from(size).unwrap_or(HEAD_BYTES).min(HEAD_BYTES);
    let mut buf = vec![0u8; want];
    let mut got = 0;
    while got < want {
        match rustix::io::pread(&fd, &mut buf[got..], got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

pub fn probe(dev: &DevicePath) -> Result<DeviceProbe, WireError> {
    let d = resolve(dev)?;
    let (mut size_bytes, logical_sector) = size_of(&d);
    // sysfs keeps an ejected disc's size until something reads the drive again: ask the drive.
    if d.name.starts_with("sr") && !disc_present(&d) {
        size_bytes = 0;
    }
    let in_use = in_use(&d);
    let head = if in_use.is_empty() { read_head(&d, size_bytes) } else { Vec::new() };
    Ok(DeviceProbe {
        path: d.path.display().to_string(),
        name: d.name.clone(),
        major: d.major,
        minor: d.minor,
        size_bytes,
        logical_sector,
        in_use,
        head,
    })
}

fn require_free(d: &Device, shown: &str) -> Result<(), WireError> {
    let reasons = in_use(d);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(WireError::new(ErrorCode::Busy, format!("device {shown} is in use: {}", reasons.join("; "))))
    }
}

/// What the grant policy looks at, read from sysfs for a real device (made up in unit tests).
#[derive(Debug, Clone)]
struct GrantFacts {
    /// The kernel name (`sr0`, `sdb`, `loop3`, `sdb1`).
    name: String,
    /// The whole disk says `removable` = 1 in sysfs (a USB stick, a card reader's card).
    removable: bool,
    /// The system disk, one of its partitions, or a device built on it.
    system_disk: bool,
    /// Why the device is in use (empty: free).
    in_use: Vec<String>,
}

impl GrantFacts {
    fn of(dev: &Device) -> Self {
        let mut disks = Vec::new();
        whole_disks(&dev.name, 0, &mut disks);
        let removable = !disks.is_empty()
            && disks.iter().all(|d| read_trimmed(&sys_block(d).join("removable")).as_deref() == Some("1"));
        Self { name: dev.name.clone(), removable, system_disk: on_system_disk(dev), in_use: in_use(dev) }
    }

    /// Optical drives, removable media, and the lab's loop devices (its "drives").
    fn is_medium(&self) -> bool {
        self.name.starts_with("sr") || self.name.starts_with("loop") || self.removable
    }
}

/// Which devices corenasd's user may read. Never the system disk or a device in use (mounted,
/// swap, held by md/dm, claimed by the kernel), whatever the request says; a fixed disk only
/// when the request says an admin allowed it (`fixed_disk`), because corenasd can be lied to
/// but cannot grant itself more than media without saying so on the record.
fn check_grant(shown: &str, f: &GrantFacts, fixed_disk: bool) -> Result<(), WireError> {
    if f.system_disk {
        return Err(WireError::not_allowed(format!(
            "device {shown} is on the system disk: it is never granted for imaging, whatever fixed_disk says"
        )));
    }
    if !f.in_use.is_empty() {
        return Err(WireError::new(ErrorCode::Busy, format!("device {shown} is in use: {}", f.in_use.join("; "))));
    }
    if !f.is_medium() && !fixed_disk {
        return Err(WireError {
            field: Some("fixed_disk".into()),
            ..WireError::not_allowed(format!(
                "device {shown} is a fixed disk (not an optical drive, removable medium or lab loop device): \
                 reading it needs fixed_disk, which corenasd sets only for an admin's job"
            ))
        });
    }
    Ok(())
}

/// Actions that take corenasd's read grant off devices about to become storage (a pool, md or
/// LVM member): a grant left by an imaging job must not outlive the disk's change of role.
/// Nothing to do when the helper does not know corenasd's uid (no grant can exist then).
pub fn strip_daemon_read(ctx: &Ctx, devs: &[Device]) -> Vec<Action> {
    let Some(uid) = ctx.daemon_uid else { return Vec::new() };
    devs.iter().map(|dev| Action::Device(DevicePlan::Revoke { dev: dev.clone(), uid })).collect()
}

/// What a device operation will do, planned from the checked device.
pub enum DevicePlan {
    Grant { dev: Device, uid: u32 },
    Revoke { dev: Device, uid: u32 },
    Eject { dev: Device },
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    let daemon_uid =
        || ctx.daemon_uid.ok_or_else(|| WireError::not_allowed("the helper was started without --daemon-uid"));
    let p = match op {
        HelperOp::DeviceGrantRead { device, fixed_disk } => {
            let dev = resolve(device)?;
            check_grant(device.as_str(), &GrantFacts::of(&dev), *fixed_disk)?;
            let uid = daemon_uid()?;
            // zfs-fuse does not claim its devices exclusively: only zpool knows an imported
            // pool's members. Kernel ZFS holds its vdevs open exclusively, which the in-use
            // check above sees already; and the accounts helper is given no storage tools
            // (its AppArmor profile does not let it run zpool), so it asks only where needed.
            let mut actions = Vec::new();
            if super::storage::query::zfs_fuse_running() {
                actions.push(Action::CheckNotZfsMember(vec![dev.clone()]));
            }
            actions.push(Action::Device(DevicePlan::Grant { dev, uid }));
            return Ok(actions);
        }
        HelperOp::DeviceRevokeRead { device } => DevicePlan::Revoke { dev: resolve(device)?, uid: daemon_uid()? },
        HelperOp::DeviceEject { device } => {
            let dev = resolve(device)?;
            if !(dev.name.starts_with("sr") || dev.name.starts_with("loop")) {
                return Err(refuse(device.as_str(), "only optical drives (and lab loop devices) can be ejected"));
            }
            require_free(&dev, device.as_str())?;
            DevicePlan::Eject { dev }
        }
        _ => return Err(WireError::internal("not a device operation")),
    };
    Ok(vec![Action::Device(p)])
}

impl DevicePlan {
    pub fn step(&self) -> Step {
        match self {
            DevicePlan::Grant { dev, uid } => Step::SetAcl {
                path: dev.path.display().to_string(),
                recursive: false,
                equivalent: vec![
                    "setfacl".into(),
                    "-m".into(),
                    format!("u:{uid}:r"),
                    "--".into(),
                    dev.path.display().to_string(),
                ],
            },
            DevicePlan::Revoke { dev, uid } => Step::SetAcl {
                path: dev.path.display().to_string(),
                recursive: false,
                equivalent: vec![
                    "setfacl".into(),
                    "-x".into(),
                    format!("u:{uid}"),
                    "--".into(),
                    dev.path.display().to_string(),
                ],
            },
            DevicePlan::Eject { dev } if dev.name.starts_with("loop") => Step::Exec {
                program: "(in-process ioctl LOOP_CLR_FD)".into(),
                args: vec![dev.path.display().to_string()],
                stdin: corenas_proto::helper::StdinPlan::Nothing,
            },
            DevicePlan::Eject { dev } => Step::Exec {
                program: "(in-process ioctl CDROMEJECT)".into(),
                args: vec![dev.path.display().to_string()],
                stdin: corenas_proto::helper::StdinPlan::Nothing,
            },
        }
    }

    pub fn apply(self) -> Result<(), WireError> {
        match self {
            DevicePlan::Grant { dev, uid } => set_user_read(&dev, uid, true),
            DevicePlan::Revoke { dev, uid } => set_user_read(&dev, uid, false),
            DevicePlan::Eject { dev } => eject(&dev),
        }
    }
}

fn open_node(dev: &Device) -> Result<OwnedFd, WireError> {
    rustix::fs::open(&dev.path, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| WireError::new(ErrorCode::ToolFailed, format!("{}: {e}", dev.path.display())))
}

/// Adds (or removes) `u:<uid>:r` on the node's access ACL, keeping every other entry.
fn set_user_read(dev: &Device, uid: u32, grant: bool) -> Result<(), WireError> {
    let fail = |e: rustix::io::Errno| WireError::new(ErrorCode::ToolFailed, format!("{}: {e}", dev.path.display()));
    let fd = open_node(dev)?;
    let mode = acl::mode_of(&fd).map_err(fail)?;
    let mut entries = acl::read_acl(&fd, acl::XATTR_ACCESS).map_err(fail)?.unwrap_or_else(|| acl::from_mode(mode));
    if grant {
        acl::upsert(&mut entries, RawEntry { tag: acl::USER, perm: READ, id: uid });
    } else {
        entries.retain(|e| !(e.tag == acl::USER && e.id == uid));
    }
    acl::recompute_mask(&mut entries, false);
    if !grant && !entries.iter().any(|e| e.tag == acl::MASK) {
        // Back to a plain mode: drop the xattr rather than store a minimal ACL.
        return match rustix::fs::removexattr(
            format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
            acl::XATTR_ACCESS,
        ) {
            Ok(()) | Err(rustix::io::Errno::NODATA) => Ok(()),
            Err(e) => Err(fail(e)),
        };
    }
    acl::write_acl(&fd, acl::XATTR_ACCESS, &entries).map_err(fail)
}

const CDROMEJECT: rustix::ioctl::Opcode = 0x5309;
const CDROM_DRIVE_STATUS: rustix::ioctl::Opcode = 0x5326;
/// CDROM_DRIVE_STATUS's argument for "the current slot" (linux/cdrom.h: CDSL_CURRENT, INT_MAX).
const CDSL_CURRENT: usize = i32::MAX as usize;
/// CDROM_DRIVE_STATUS's answer for a disc that can be read (CDS_DISC_OK).
const CDS_DISC_OK: i32 = 4;

/// Whether an optical drive holds a readable disc, by the drive's own answer. A drive that
/// cannot be asked keeps what sysfs says.
fn disc_present(d: &Device) -> bool {
    let Ok(fd) = rustix::fs::open(&d.path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()) else {
        return true;
    };
    // SAFETY: see ReturnValue.
    match unsafe { rustix::ioctl::ioctl(&fd, DriveStatus {}) } {
        Ok(status) => status == CDS_DISC_OK,
        Err(_) => true,
    }
}
const CDROM_LOCKDOOR: rustix::ioctl::Opcode = 0x5329;
const LOOP_CLR_FD: rustix::ioctl::Opcode = 0x4C01;

/// An ioctl whose answer is its return value, with an integer (or nothing) in place of the
/// pointer. CDROMEJECT: the sr driver answers a positive value, not an error, when the tray did
/// not open (a locked door). CDROM_DRIVE_STATUS: no disc, tray open, not ready, disc ok.
struct ReturnValue<const OP: rustix::ioctl::Opcode, const ARG: usize>;

type EjectTray = ReturnValue<CDROMEJECT, 0>;
type DriveStatus = ReturnValue<CDROM_DRIVE_STATUS, CDSL_CURRENT>;

// SAFETY: both requests take an integer argument (CDROMEJECT none, CDROM_DRIVE_STATUS the slot)
// that the kernel never dereferences; the output is the ioctl's own return value.
unsafe impl<const OP: rustix::ioctl::Opcode, const ARG: usize> rustix::ioctl::Ioctl for ReturnValue<OP, ARG> {
    type Output = i32;
    const IS_MUTATING: bool = false;
    fn opcode(&self) -> rustix::ioctl::Opcode {
        OP
    }
    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        ARG as *mut std::ffi::c_void
    }
    unsafe fn output_from_ptr(out: rustix::ioctl::IoctlOutput, _: *mut std::ffi::c_void) -> rustix::io::Result<i32> {
        Ok(out)
    }
}

fn ioctl_no_arg<const OP: rustix::ioctl::Opcode>(fd: &OwnedFd) -> rustix::io::Result<()> {
    // SAFETY: LOOP_CLR_FD takes no argument; the kernel reads no user memory.
    unsafe { rustix::ioctl::ioctl(fd, rustix::ioctl::NoArg::<OP>::new()) }
}

fn eject(dev: &Device) -> Result<(), WireError> {
    let fail =
        |e: rustix::io::Errno| WireError::new(ErrorCode::ToolFailed, format!("eject {}: {e}", dev.path.display()));
    let fd = rustix::fs::open(&dev.path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())
        .map_err(fail)?;
    if dev.name.starts_with("loop") {
        return ioctl_no_arg::<LOOP_CLR_FD>(&fd).map_err(fail);
    }
    // udev's cdrom_id locks the door of a drive with a disc in it; release it first, as
    // util-linux's eject does (a drive that cannot lock answers an error we do not need).
    // SAFETY: CDROM_LOCKDOOR takes an integer argument (0: unlock); no memory is passed.
    let _ = unsafe { rustix::ioctl::ioctl(&fd, rustix::ioctl::IntegerSetter::<CDROM_LOCKDOOR>::new_usize(0)) };
    // SAFETY: see ReturnValue.
    match unsafe { rustix::ioctl::ioctl(&fd, EjectTray {}) } {
        Ok(0) => Ok(()),
        Ok(n) => Err(WireError::new(
            ErrorCode::ToolFailed,
            format!("eject {}: the drive did not open its tray (it answered {n}; door locked?)", dev.path.display()),
        )),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device as sysfs would describe it: free, not removable, not on the system disk.
    fn facts(name: &str) -> GrantFacts {
        GrantFacts { name: name.into(), removable: false, system_disk: false, in_use: Vec::new() }
    }

    /// A compromised corenasd asks for a fixed data disk (say an exported pool's member, or a
    /// stopped array's) without saying an admin allowed it: refused, naming the field.
    #[test]
    fn a_fixed_disk_without_fixed_disk_is_refused() {
        for name in ["sdb", "sdb1", "nvme0n1", "vdb"] {
            let e = check_grant(&format!("/dev/{name}"), &facts(name), false).unwrap_err();
            assert_eq!(e.code, ErrorCode::NotAllowed, "{name}");
            assert_eq!(e.field.as_deref(), Some("fixed_disk"), "{name}");
            assert!(e.message.contains("fixed disk") && e.message.contains(name), "{e:?}");
        }
        assert!(check_grant("/dev/sdb", &facts("sdb"), true).is_ok(), "an admin's job may read it");
    }

    /// The system disk and its unused partitions are refused whatever the request says.
    #[test]
    fn the_system_disk_is_refused_even_with_fixed_disk() {
        for name in ["vda", "vda2", "sda3", "nvme0n1p4"] {
            let f = GrantFacts { system_disk: true, ..facts(name) };
            for fixed_disk in [false, true] {
                let e = check_grant(&format!("/dev/{name}"), &f, fixed_disk).unwrap_err();
                assert_eq!(e.code, ErrorCode::NotAllowed, "{name}");
                assert!(e.message.contains("system disk"), "{e:?}");
            }
        }
        // A removable medium on the system disk (a live USB stick booted from) is still refused.
        let f = GrantFacts { system_disk: true, removable: true, ..facts("sdc1") };
        assert!(check_grant("/dev/sdc1", &f, false).is_err());
    }

    /// In use (mounted, an md/LVM member or holder, claimed by ZFS): refused whatever the flag.
    #[test]
    fn a_device_in_use_is_refused_even_with_fixed_disk() {
        for name in ["sr0", "loop3", "sdb"] {
            let f = GrantFacts { in_use: vec!["sdb is held by md127".into()], ..facts(name) };
            for fixed_disk in [false, true] {
                let e = check_grant(&format!("/dev/{name}"), &f, fixed_disk).unwrap_err();
                assert_eq!(e.code, ErrorCode::Busy, "{name}");
                assert!(e.message.contains("held by md127"), "{e:?}");
            }
        }
    }

    /// Media are granted without an admin: optical drives, removable disks (and their
    /// partitions), and the lab's loop devices.
    #[test]
    fn media_are_granted_without_fixed_disk() {
        assert!(check_grant("/dev/sr0", &facts("sr0"), false).is_ok());
        assert!(check_grant("/dev/loop7", &facts("loop7"), false).is_ok());
        assert!(check_grant("/dev/loop7p1", &facts("loop7p1"), false).is_ok());
        for name in ["sdc", "sdc1", "mmcblk0p1"] {
            assert!(
                check_grant(&format!("/dev/{name}"), &GrantFacts { removable: true, ..facts(name) }, false).is_ok()
            );
        }
    }
}
