//! Wiping a device: signatures (quick), or one bounded range at a time (zeros written here, or
//! the device's own zeroing/secure discard), and reading sampled regions back for verification.
//! Each call re-checks that the device is free; the zeros are written through an exclusive open,
//! so the kernel itself refuses if anything claims the device in between.

use super::super::device::{self, Device};
use super::super::{Action, Ctx};
use super::pool::free_devices;
use crate::exec::{Invocation, Program};
use corenas_proto::helper::HelperOp;
use corenas_proto::names::DevicePath;
use corenas_proto::storage::{FirmwareErase, WipeMethod};
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags};

/// The largest piece one call may wipe (the daemon's job asks piece by piece).
pub const MAX_RANGE: u64 = 1 << 30;
const ALIGN: u64 = 4096;
/// The edges zeroed by a quick wipe: partition tables (GPT keeps a copy at the end), most
/// filesystem and RAID superblocks.
const EDGE: u64 = 1 << 20;
/// The largest region `wipe_check` reads at once.
pub const MAX_CHECK: u32 = 1 << 20;
/// The smallest (corenasd samples 64 KiB regions).
pub const MIN_CHECK: u64 = 64 << 10;

pub fn size_of(d: &Device) -> u64 {
    std::fs::read_to_string(format!("/sys/class/block/{}/size", d.name))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(0, |s| s.saturating_mul(512))
}

fn one_free(dev: &DevicePath) -> Result<Device, WireError> {
    free_devices(std::slice::from_ref(dev)).map(|mut v| v.remove(0))
}

pub fn plan(_ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    match op {
        HelperOp::WipeSignatures { device } => {
            let d = one_free(device)?;
            let size = size_of(&d);
            let node = d.path.display().to_string();
            let mut actions = vec![
                Action::CheckNotZfsMember(vec![d.clone()]),
                Action::Exec(Invocation::of(Program::Wipefs).args(["-a", "--", &node])),
                Action::ZeroRange { dev: d.clone(), offset: 0, length: EDGE.min(size) },
            ];
            if size > EDGE {
                let start = (size - EDGE) / ALIGN * ALIGN;
                actions.push(Action::ZeroRange { dev: d, offset: start, length: size - start });
            }
            Ok(actions)
        }
        HelperOp::WipeRange { device, method, offset, length } => {
            let d = one_free(device)?;
            let size = size_of(&d);
            if *offset % ALIGN != 0 || (*length % ALIGN != 0 && offset.saturating_add(*length) != size) {
                return Err(WireError::invalid(
                    "offset",
                    "offset and length must be multiples of 4096 (or end at the device's end)",
                ));
            }
            if *length == 0 || *length > MAX_RANGE || offset.checked_add(*length).is_none_or(|end| end > size) {
                return Err(WireError::invalid(
                    "length",
                    format!(
                        "range {offset}+{length} is not within the device ({size} bytes) or longer than {MAX_RANGE}"
                    ),
                ));
            }
            let node = d.path.display().to_string();
            let mut check = vec![Action::CheckNotZfsMember(vec![d.clone()])];
            let (o, l) = (offset.to_string(), length.to_string());
            check.push(match method {
                WipeMethod::Zero => Action::ZeroRange { dev: d, offset: *offset, length: *length },
                WipeMethod::Discard => Action::Exec(Invocation::of(Program::Blkdiscard).args([
                    "--zeroout",
                    "--offset",
                    &o,
                    "--length",
                    &l,
                    "--",
                    &node,
                ])),
                WipeMethod::Secure => Action::Exec(
                    Invocation::of(Program::Blkdiscard).args(["--secure", "--offset", &o, "--length", &l, "--", &node]),
                ),
                WipeMethod::Quick => {
                    return Err(WireError::invalid("method", "a quick wipe is WipeSignatures, not a range"));
                }
            });
            Ok(check)
        }
        HelperOp::SmartSelfTest { device, long } => {
            let d = device::resolve(device)?;
            let kind = if *long { "long" } else { "short" };
            Ok(vec![Action::Exec(Invocation::of(Program::Smartctl).args([
                "--test",
                kind,
                "--",
                &d.path.display().to_string(),
            ]))])
        }
        HelperOp::FirmwareErase { device, erase, minutes } => firmware_erase(device, *erase, *minutes),
        _ => Err(WireError::internal(format!("{} is not a wipe operation", op.name()))),
    }
}

// The password an ATA security erase needs set first: fixed and documented (see proto), so it
// may be on argv.
use corenas_proto::devices::ATA_ERASE_PASSWORD;
/// Longest a firmware erase may take before the helper gives up on it.
pub const MAX_ERASE_MINUTES: u32 = corenas_proto::storage::MAX_FIRMWARE_ERASE_MINUTES;

fn firmware_erase(device: &DevicePath, erase: FirmwareErase, minutes: u32) -> Result<Vec<Action>, WireError> {
    if minutes == 0 || minutes > MAX_ERASE_MINUTES {
        return Err(WireError::invalid("minutes", format!("use 1 to {MAX_ERASE_MINUTES} minutes")));
    }
    let d = one_free(device)?;
    let controller = match erase {
        FirmwareErase::AtaEnhancedErase | FirmwareErase::AtaErase => {
            ata_disk(&d)?;
            String::new()
        }
        _ => nvme_sole_namespace(&d)?,
    };
    let timeout = std::time::Duration::from_secs(u64::from(minutes) * 60);
    let node = d.path.display().to_string();
    let mut cmds = erase_commands(erase, &node, &controller, minutes);
    let check = Action::CheckNotZfsMember(vec![d.clone()]);
    if matches!(erase, FirmwareErase::AtaEnhancedErase | FirmwareErase::AtaErase) {
        let erase = cmds.pop().ok_or_else(|| WireError::internal("no ATA erase command"))?;
        let set_password = cmds.pop().ok_or_else(|| WireError::internal("no ATA password command"))?;
        return Ok(vec![check, Action::AtaSecurityErase(AtaErasePlan { node, set_password, erase, timeout })]);
    }
    let mut actions = vec![check];
    actions.extend(cmds.into_iter().map(|cmd| Action::ExecLong { cmd, timeout }));
    Ok(actions)
}

/// An ATA security erase as one step: the drive's security state is read again right before
/// (`hdparm -I`: supported, no password set, not locked, not frozen, not expired), then the
/// temporary password is set and the erase runs. If the erase fails or times out, the password
/// is taken off again, so that the drive is not left locked at its next power-on.
pub struct AtaErasePlan {
    pub node: String,
    pub set_password: Invocation,
    pub erase: Invocation,
    pub timeout: std::time::Duration,
}

impl AtaErasePlan {
    pub fn steps(&self) -> Vec<corenas_proto::helper::Step> {
        let identify = Invocation::of(Program::Hdparm).arg("-I").arg(self.node.clone());
        vec![identify.step(), self.set_password.step(), self.erase.step()]
    }

    pub async fn run(self) -> Result<(), WireError> {
        let identify = Invocation::of(Program::Hdparm).arg("-I").arg(self.node.clone());
        let out = crate::exec::run(&identify).await?;
        let sec = corenas_proto::devices::parse_ata_security(&String::from_utf8_lossy(&out.stdout));
        let why = match sec {
            None => Some("it reports no ATA security feature set".to_owned()),
            Some(s) => s.refusal(),
        };
        if let Some(why) = why {
            return Err(WireError::new(ErrorCode::InvalidState, format!("no ATA erase of {}: {why}", self.node)));
        }
        crate::exec::run(&self.set_password).await?;
        match crate::exec::run_with_timeout(&self.erase, self.timeout).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let disable = Invocation::of(Program::Hdparm).args([
                    "--user-master",
                    "u",
                    "--security-disable",
                    ATA_ERASE_PASSWORD,
                    &self.node,
                ]);
                let cleanup = match crate::exec::run(&disable).await {
                    Ok(_) => "the temporary password was removed again".to_owned(),
                    Err(c) => format!(
                        "removing the temporary password failed too ({}): unlock it with hdparm --user-master u --security-disable {ATA_ERASE_PASSWORD} {}",
                        c.message, self.node
                    ),
                };
                Err(WireError::new(e.code, format!("{}; {cleanup}", e.message)))
            }
        }
    }
}

/// The commands of a firmware erase of namespace or disk `node` (`controller`: the NVMe
/// controller's node). Sanitize actions (SANACT): 4 crypto erase, 2 block erase; format's
/// secure erase setting (SES): 2 crypto erase, 1 user data erase.
fn erase_commands(erase: FirmwareErase, node: &str, controller: &str, minutes: u32) -> Vec<Invocation> {
    let nvme = || Invocation::of(Program::Nvme);
    // hdparm takes no `--`; the node is a validated /dev/sdX path. The action must come last.
    let hdparm =
        |verb: &str| Invocation::of(Program::Hdparm).args(["--user-master", "u", verb, ATA_ERASE_PASSWORD, node]);
    match erase {
        FirmwareErase::NvmeSanitizeCrypto => vec![nvme().args(["sanitize", "--sanact=4", "--", controller])],
        FirmwareErase::NvmeSanitizeBlock => vec![nvme().args(["sanitize", "--sanact=2", "--", controller])],
        FirmwareErase::NvmeFormatCrypto | FirmwareErase::NvmeFormatUserData => {
            let ses = if erase == FirmwareErase::NvmeFormatCrypto { "--ses=2" } else { "--ses=1" };
            // nvme-cli's own ioctl timeout (ms) follows ours; --force skips its 10 s pause.
            let ms = format!("--timeout={}", u64::from(minutes) * 60_000);
            vec![nvme().args(["format", ses, &ms, "--force", "--", node])]
        }
        FirmwareErase::AtaEnhancedErase => {
            vec![hdparm("--security-set-pass"), hdparm("--security-erase-enhanced")]
        }
        FirmwareErase::AtaErase => vec![hdparm("--security-set-pass"), hdparm("--security-erase")],
    }
}

/// `/dev/nvmeC` for a whole namespace that is the only namespace of its controller, the only
/// controller of its subsystem, and reached through that one controller (sysfs says which; the
/// name does not): sanitize erases the whole subsystem and format often every namespace, and
/// another namespace may hold anything (the system, another pool). The node must be the
/// controller's character device, by its numbers.
pub fn nvme_sole_namespace(d: &Device) -> Result<String, WireError> {
    let refuse = |why: String| WireError::invalid("device", format!("{}: {why}", d.path.display()));
    let t = corenas_proto::devices::nvme_topology(std::path::Path::new("/sys"), &d.name)
        .map_err(|e| refuse(format!("{e}; NVMe erases need a plain NVMe namespace")))?;
    if t.namespaces != 1 || t.subsystem_controllers != 1 {
        return Err(refuse(format!(
            "its controller {} has {} namespace(s) and its subsystem {} controller(s): an NVMe erase would reach beyond this disk; use the zero method",
            t.controller, t.namespaces, t.subsystem_controllers
        )));
    }
    let node = format!("/dev/{}", t.controller);
    let numbers = std::fs::read_to_string(format!("/sys/class/nvme/{}/dev", t.controller)).unwrap_or_default();
    let st = rustix::fs::lstat(node.as_str()).map_err(|e| refuse(format!("{node}: {e}")))?;
    let is_char = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    let same = numbers.trim() == format!("{}:{}", rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if !is_char || !same {
        return Err(refuse(format!("{node} is not the character device of controller {}", t.controller)));
    }
    Ok(node)
}

/// Refuses anything but a whole disk on a libata port (its sysfs path runs through "ataN"):
/// USB bridges and SAS/SCSI disks do not pass ATA security commands reliably.
fn ata_disk(d: &Device) -> Result<(), WireError> {
    let is_sd = d.name.strip_prefix("sd").is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()));
    let sys = std::fs::canonicalize(format!("/sys/block/{}", d.name)).unwrap_or_default();
    let on_ata = sys.components().any(|c| {
        c.as_os_str()
            .to_str()
            .and_then(|s| s.strip_prefix("ata"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if is_sd && on_ata {
        Ok(())
    } else {
        Err(WireError::invalid(
            "device",
            format!("{} is not a whole disk on an ATA port: an ATA security erase needs one", d.path.display()),
        ))
    }
}

fn fail(d: &Device, e: impl std::fmt::Display) -> WireError {
    WireError::new(ErrorCode::ToolFailed, format!("wipe {}: {e}", d.path.display()))
}

/// Writes zeros over `[offset, offset+length)` through an exclusive open, then flushes.
pub fn zero_range(d: &Device, offset: u64, length: u64) -> Result<(), WireError> {
    let fd =
        rustix::fs::open(&d.path, OFlags::WRONLY | OFlags::EXCL | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
            if e == rustix::io::Errno::BUSY {
                WireError::new(
                    ErrorCode::Busy,
                    format!("device {} is claimed by the kernel (in use)", d.path.display()),
                )
            } else {
                fail(d, e)
            }
        })?;
    let zeros = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < length {
        let n = usize::try_from((length - done).min(zeros.len() as u64)).unwrap_or(zeros.len());
        let wrote = rustix::io::pwrite(&fd, &zeros[..n], offset + done).map_err(|e| fail(d, e))?;
        if wrote == 0 {
            return Err(fail(d, "short write"));
        }
        done += wrote as u64;
    }
    rustix::fs::fdatasync(&fd).map_err(|e| fail(d, e))
}

/// Whether each region reads back as zeros (bypassing nothing: the page cache was written
/// through the same device, and discard drops it).
pub fn check(dev: &DevicePath, regions: &[(u64, u32)]) -> Result<Vec<bool>, WireError> {
    read_regions(dev, regions, |bytes| bytes.is_some_and(|b| b.iter().all(|b| *b == 0)))
}

/// The SHA-256 of each region, so that corenasd can tell whether an erase that leaves no zeros
/// (a crypto erase) changed what was there. A region that reads short digests as all zeros.
pub fn fingerprints(dev: &DevicePath, regions: &[(u64, u32)]) -> Result<Vec<[u8; 32]>, WireError> {
    use sha2::Digest;
    read_regions(dev, regions, |bytes| bytes.map_or([0u8; 32], |b| sha2::Sha256::digest(b).into()))
}

/// Reads each region of a free device and maps it with `f` (`None`: the device ended before the
/// region did). Regions are 4 KiB aligned and [`MIN_CHECK`] to [`MAX_CHECK`] bytes (shorter only
/// to reach the device's end), at most 4096 of them: the answers say something about a wipe,
/// never byte by byte what a disk holds, and a disk in use (the system disk) is refused.
/// The device's cached pages are dropped first: a firmware erase goes around the page cache,
/// and an earlier read (the "before" sample) would otherwise be read back.
fn read_regions<T>(
    dev: &DevicePath,
    regions: &[(u64, u32)],
    mut f: impl FnMut(Option<&[u8]>) -> T,
) -> Result<Vec<T>, WireError> {
    let d = one_free(dev)?;
    if regions.len() > 4096 {
        return Err(WireError::invalid("regions", "at most 4096 regions"));
    }
    let size = size_of(&d);
    for &(offset, len) in regions {
        let end = offset.saturating_add(u64::from(len));
        if offset % ALIGN != 0 || (u64::from(len) < MIN_CHECK.min(size) && end != size) {
            return Err(WireError::invalid(
                "regions",
                format!("region {offset}+{len}: regions are 4096-aligned and at least {MIN_CHECK} bytes"),
            ));
        }
    }
    let fd = rustix::fs::open(&d.path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| fail(&d, e))?;
    rustix::fs::fadvise(&fd, 0, None, rustix::fs::Advice::DontNeed).map_err(|e| fail(&d, e))?;
    let mut buf = vec![0u8; MAX_CHECK as usize];
    regions
        .iter()
        .map(|&(offset, len)| {
            if len > MAX_CHECK || offset.checked_add(u64::from(len)).is_none_or(|e| e > size) {
                return Err(WireError::invalid(
                    "regions",
                    format!("region {offset}+{len} is outside the device or over 1 MiB"),
                ));
            }
            let want = &mut buf[..len as usize];
            let mut got = 0;
            while got < want.len() {
                match rustix::io::pread(&fd, &mut want[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return Err(fail(&d, e)),
                }
            }
            Ok(f((got == want.len()).then_some(&*want)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(erase: FirmwareErase) -> Vec<Vec<String>> {
        erase_commands(erase, "/dev/x", "/dev/nvme0", 30)
            .into_iter()
            .map(|c| std::iter::once(c.program.name().to_owned()).chain(c.args).collect())
            .collect()
    }

    #[test]
    fn firmware_erase_argv() {
        let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            argv(FirmwareErase::NvmeSanitizeCrypto),
            [s(&["nvme", "sanitize", "--sanact=4", "--", "/dev/nvme0"])]
        );
        assert_eq!(
            argv(FirmwareErase::NvmeSanitizeBlock),
            [s(&["nvme", "sanitize", "--sanact=2", "--", "/dev/nvme0"])]
        );
        assert_eq!(
            argv(FirmwareErase::NvmeFormatCrypto),
            [s(&["nvme", "format", "--ses=2", "--timeout=1800000", "--force", "--", "/dev/x"])]
        );
        assert_eq!(
            argv(FirmwareErase::NvmeFormatUserData),
            [s(&["nvme", "format", "--ses=1", "--timeout=1800000", "--force", "--", "/dev/x"])]
        );
        assert_eq!(
            argv(FirmwareErase::AtaEnhancedErase),
            [
                s(&["hdparm", "--user-master", "u", "--security-set-pass", "CoreNAS", "/dev/x"]),
                s(&["hdparm", "--user-master", "u", "--security-erase-enhanced", "CoreNAS", "/dev/x"]),
            ]
        );
        assert_eq!(argv(FirmwareErase::AtaErase)[1][3], "--security-erase");
    }
}
