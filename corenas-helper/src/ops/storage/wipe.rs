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

/// The password an ATA security erase needs set first. It protects nothing: it exists for the
/// seconds between SECURITY SET PASSWORD and SECURITY ERASE UNIT (which clears it), and it is
/// fixed and documented so that a drive left locked by an interrupted erase can be unlocked
/// (`hdparm --user-master u --security-unlock CoreNAS`). That is why it may be on argv.
pub const ATA_ERASE_PASSWORD: &str = "CoreNAS";
/// Longest a firmware erase may take before the helper gives up on it.
pub const MAX_ERASE_MINUTES: u32 = 24 * 60;

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
    let mut cmds = erase_commands(erase, &d.path.display().to_string(), &controller, minutes);
    // The last command is the erase itself; any before it (ATA: set the password) is short.
    let last = cmds.pop().map(|cmd| Action::ExecLong { cmd, timeout });
    let mut actions = vec![Action::CheckNotZfsMember(vec![d.clone()])];
    actions.extend(cmds.into_iter().map(Action::Exec));
    actions.extend(last);
    Ok(actions)
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

/// `/dev/nvmeC` for a whole namespace `nvmeCnN` that is the only namespace of its controller:
/// sanitize always, and format often, erase every namespace of the controller, and another
/// namespace may hold anything (the system, another pool).
fn nvme_sole_namespace(d: &Device) -> Result<String, WireError> {
    let controller = nvme_controller(&d.name).ok_or_else(|| {
        WireError::invalid("device", format!("{} is not an NVMe namespace: NVMe erases need one", d.path.display()))
    })?;
    let namespaces = std::fs::read_dir(format!("/sys/class/nvme/{controller}"))
        .map(|rd| rd.flatten().filter(|e| e.file_name().to_str().is_some_and(is_nvme_namespace)).count())
        .unwrap_or(0);
    if namespaces != 1 {
        return Err(WireError::invalid(
            "device",
            format!(
                "{} shares its controller {controller} with {} other namespace(s) (or the kernel lists none): an NVMe erase would erase them too; use the zero method",
                d.path.display(),
                namespaces.saturating_sub(1)
            ),
        ));
    }
    Ok(format!("/dev/{controller}"))
}

/// "nvme0n1" -> "nvme0"; None for partitions ("nvme0n1p1") and anything else.
pub fn nvme_controller(name: &str) -> Option<String> {
    let rest = name.strip_prefix("nvme")?;
    let (c, ns) = rest.split_once('n')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(c) && digits(ns)).then(|| format!("nvme{c}"))
}

/// A namespace entry in /sys/class/nvme/nvmeC: "nvmeCnN", or "nvmeScCnN" with native multipath.
fn is_nvme_namespace(entry: &str) -> bool {
    let Some(rest) = entry.strip_prefix("nvme") else { return false };
    let Some((head, ns)) = rest.rsplit_once('n') else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(ns) && (digits(head) || head.split_once('c').is_some_and(|(a, b)| digits(a) && digits(b)))
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

/// A fingerprint of each region (SipHash with fixed keys: the same bytes give the same number in
/// every run of this binary), so that corenasd can tell whether an erase that leaves no zeros
/// (a crypto erase) changed what was there. A region that reads short fingerprints as 0.
pub fn fingerprints(dev: &DevicePath, regions: &[(u64, u32)]) -> Result<Vec<u64>, WireError> {
    use std::hash::Hasher;
    read_regions(dev, regions, |bytes| {
        bytes.map_or(0, |b| {
            let mut h = std::hash::DefaultHasher::new();
            h.write(b);
            h.finish()
        })
    })
}

/// Reads each region (at most 4096, each at most [`MAX_CHECK`] bytes, inside the device) and
/// maps it with `f` (`None`: the device ended before the region did).
fn read_regions<T>(
    dev: &DevicePath,
    regions: &[(u64, u32)],
    mut f: impl FnMut(Option<&[u8]>) -> T,
) -> Result<Vec<T>, WireError> {
    let d = device::resolve(dev)?;
    if regions.len() > 4096 {
        return Err(WireError::invalid("regions", "at most 4096 regions"));
    }
    let size = size_of(&d);
    let fd = rustix::fs::open(&d.path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| fail(&d, e))?;
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

    #[test]
    fn nvme_names() {
        assert_eq!(nvme_controller("nvme0n1").as_deref(), Some("nvme0"));
        assert_eq!(nvme_controller("nvme12n3").as_deref(), Some("nvme12"));
        for bad in ["nvme0n1p1", "nvme0", "nvmen1", "nvme0nx", "sda", "nvme0c0n1"] {
            assert_eq!(nvme_controller(bad), None, "{bad}");
        }
        for ns in ["nvme0n1", "nvme1n12", "nvme0c0n1"] {
            assert!(is_nvme_namespace(ns), "{ns}");
        }
        for other in ["nvme0", "power", "device", "nvme0n1p1", "nvmen", "ng0n1"] {
            assert!(!is_nvme_namespace(other), "{other}");
        }
    }
}
