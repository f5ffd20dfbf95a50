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
use corenas_proto::storage::WipeMethod;
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
        _ => Err(WireError::internal(format!("{} is not a wipe operation", op.name()))),
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
            Ok(got == want.len() && want.iter().all(|b| *b == 0))
        })
        .collect()
}
