//! Which md arrays and LVM volume groups are CoreNAS's (issue 18, L9). A compromised corenasd
//! may name any array or group with a valid name: the system's own (`/` on md or LVM), or one an
//! administrator made by hand. The helper acts only on arrays and groups that carry CoreNAS's mark,
//! and never on one that backs `/`.
//!
//! Why these marks: each lives in the on-disk metadata the tools already keep, so it survives
//! reboots and moves with the disks, and costs no state file in the helper.
//! - LVM: the VG tag `corenas`, set by `vgcreate --addtag` (tags are VG metadata; `pvs -o vg_tags`
//!   shows them).
//! - md: the array UUID, which CoreNAS chooses at create (`mdadm --uuid`): its first 32-bit word is
//!   `MD_UUID_MARK`, the other 96 bits are random. mdadm keeps the UUID in every member's
//!   superblock and `mdadm --detail --export` prints it as MD_UUID. The name or homehost could not
//!   carry the mark: a homehost other than this machine's makes boot-time assembly treat the array
//!   as foreign (renamed), and a name prefix would change `/dev/md/<name>`. The mark word reads
//!   the same with its bytes reversed, so it matches however mdadm orders the bytes of a word.
//!
//! What this does not do: an administrator (root) can forge either mark on purpose; that hands the
//! array to CoreNAS, which is their call. Arrays and groups CoreNAS made before the mark existed
//! are refused until marked (`vgchange --addtag corenas VG`; md: recreate).

use super::super::device::{self, Device};
use crate::exec::{self, Invocation, OUTPUT_CAP, Program};
use corenas_proto::lvm::VgName;
use corenas_proto::names::DevicePath;
use corenas_proto::raid::MdName;
use corenas_proto::{ErrorCode, WireError};

/// The tag `vgcreate --addtag` gives every group CoreNAS makes.
pub const VG_TAG: &str = "corenas";
/// The first word of every md array UUID CoreNAS makes (bytes c0 5e 5e c0: a byte palindrome).
pub const MD_UUID_MARK: &str = "c05e5ec0";

/// A fresh CoreNAS md UUID: the mark, then 96 bits that differ per call and per process
/// (SipHash with the process's random keys over the time and a counter; unique, not secret).
pub fn new_md_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let word = |salt: u8| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now);
        h.write_u64(n);
        h.write_u32(std::process::id());
        h.write_u8(salt);
        h.finish()
    };
    let (a, b) = (word(1), word(2));
    format!("{MD_UUID_MARK}:{:08x}:{:08x}:{:08x}", a >> 32, a & 0xffff_ffff, b & 0xffff_ffff)
}

fn foreign(what: String) -> WireError {
    WireError::new(ErrorCode::NotAllowed, what)
}

/// From `mdadm --detail --export` text: Ok when MD_UUID carries CoreNAS's mark. Anything else
/// (no MD_UUID, another UUID, output cut at the cap) is refused.
pub fn md_export_is_ours(name: &MdName, export: &str) -> Result<(), WireError> {
    let dev = name.dev_path();
    if export.len() >= OUTPUT_CAP {
        return Err(foreign(format!("{dev}: mdadm's report was cut short; refusing to act on the array")));
    }
    let uuid = export.lines().find_map(|l| l.strip_prefix("MD_UUID=")).map(str::trim);
    match uuid {
        Some(u) if u.len() == 35 && u.to_ascii_lowercase().starts_with(&format!("{MD_UUID_MARK}:")) => Ok(()),
        Some(u) => {
            Err(foreign(format!("{dev} (UUID {u}) was not created by CoreNAS; CoreNAS acts only on its own arrays")))
        }
        None => Err(foreign(format!("{dev}: mdadm reports no array UUID; refusing to act on the array"))),
    }
}

/// One row of `lvm pvs --reportformat json --options pv_name,vg_name,vg_tags`.
#[derive(Debug, serde::Deserialize)]
struct PvRow {
    pv_name: String,
    vg_name: String,
    vg_tags: String,
}

/// From the `pvs` report: the physical volumes of `vg` when the group carries CoreNAS's tag. A
/// group with no PV in the report does not exist (refused); an unparsable or cut report is refused.
pub fn vg_pvs_if_ours(vg: &VgName, report: &str) -> Result<Vec<String>, WireError> {
    if report.len() >= OUTPUT_CAP {
        return Err(foreign(format!("volume group {vg}: LVM's report was cut short; refusing to act on it")));
    }
    #[derive(serde::Deserialize)]
    struct Report {
        report: Vec<Section>,
    }
    #[derive(serde::Deserialize)]
    struct Section {
        #[serde(default)]
        pv: Vec<PvRow>,
    }
    let parsed: Report = serde_json::from_str(report)
        .map_err(|e| foreign(format!("volume group {vg}: LVM's report could not be read ({e}); refusing")))?;
    let rows: Vec<PvRow> = parsed.report.into_iter().flat_map(|s| s.pv).filter(|r| r.vg_name == vg.as_str()).collect();
    if rows.is_empty() {
        return Err(WireError::not_found(format!("volume group {vg} does not exist")));
    }
    if !rows.iter().all(|r| r.vg_tags.split(',').any(|t| t.trim() == VG_TAG)) {
        return Err(foreign(format!(
            "volume group {vg} was not created by CoreNAS (no '{VG_TAG}' tag); CoreNAS acts only on its own groups"
        )));
    }
    Ok(rows.into_iter().map(|r| r.pv_name).collect())
}

/// `lvm pvs` report of every PV with its group and the group's tags.
pub fn pvs_owner_args() -> Vec<String> {
    ["pvs", "--reportformat", "json", "--options", "pv_name,vg_name,vg_tags"].iter().map(|s| (*s).to_owned()).collect()
}

/// A check the helper runs before it changes an md array or an LVM group.
#[derive(Debug, Clone)]
pub enum Owned {
    /// The array behind `/dev/md/<name>` (resolved): CoreNAS's mark, not on the system disk.
    Md { name: MdName, array: Device },
    /// The group: CoreNAS's tag, no PV on the system disk, and each of `pvs` (when removing the
    /// group) one of its PVs.
    Vg { vg: VgName, pvs: Vec<Device> },
}

/// Refuses an array built on the disk that holds `/` (checked when the plan is made too).
pub fn md_not_system(name: &MdName, array: &Device) -> Result<(), WireError> {
    if device::on_system_disk(array) {
        return Err(foreign(format!("{} is on the system disk; CoreNAS never changes it", name.dev_path())));
    }
    Ok(())
}

impl Owned {
    pub fn describe(&self) -> String {
        match self {
            Owned::Md { name, .. } => {
                format!("refuse unless {} is CoreNAS's (UUID mark), off the system disk", name.dev_path())
            }
            Owned::Vg { vg, .. } => {
                format!("refuse unless volume group {vg} is CoreNAS's (tag {VG_TAG}), off the system disk")
            }
        }
    }

    pub async fn check(&self) -> Result<(), WireError> {
        match self {
            Owned::Md { name, array } => {
                md_not_system(name, array)?;
                let cmd =
                    Invocation::of(Program::Mdadm).args(["--detail", "--export"]).arg(array.path.display().to_string());
                let out = exec::run(&cmd).await?;
                md_export_is_ours(name, &String::from_utf8_lossy(&out.stdout))
            }
            Owned::Vg { vg, pvs } => {
                let out = exec::run(&Invocation::of(Program::Lvm).args(pvs_owner_args())).await?;
                let names = vg_pvs_if_ours(vg, &String::from_utf8_lossy(&out.stdout))?;
                let mut members = Vec::new();
                for n in &names {
                    let dev = n
                        .parse::<DevicePath>()
                        .map_err(WireError::from)
                        .and_then(|p| device::resolve(&p))
                        .map_err(|e| {
                            foreign(format!("volume group {vg}: physical volume {n} cannot be checked: {}", e.message))
                        })?;
                    if device::on_system_disk(&dev) {
                        return Err(foreign(format!(
                            "volume group {vg} has a physical volume on the system disk ({n}); CoreNAS never changes it"
                        )));
                    }
                    members.push(dev.name);
                }
                if let Some(d) = pvs.iter().find(|d| !members.contains(&d.name)) {
                    return Err(WireError::invalid(
                        "devices",
                        format!(
                            "{} is not a physical volume of {vg} (its PVs: {})",
                            d.path.display(),
                            names.join(", ")
                        ),
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MdName {
        s.parse().unwrap()
    }
    fn vg(s: &str) -> VgName {
        s.parse().unwrap()
    }

    /// The attacker (a compromised corenasd) names an array CoreNAS did not make: the real
    /// `--detail --export` of an installer-made raid1 (fixture) is refused, as is a report without
    /// a UUID or one cut at the output cap; an array CoreNAS made passes.
    #[test]
    fn md_foreign_array_is_refused() {
        let foreign = include_str!("../../../../corenasd/src/storage/fixtures/mdadm/detail-export-raid1-spare.txt");
        let e = md_export_is_ours(&name("root"), foreign).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAllowed);
        assert!(e.message.contains("not created by CoreNAS"), "{}", e.message);
        assert!(md_export_is_ours(&name("root"), "MD_LEVEL=raid1\nMD_NAME=host:root\n").is_err());
        let ours = foreign.replace("93a73e10:427f280b:b7076c02:204b8f7a", &new_md_uuid());
        md_export_is_ours(&name("data"), &ours).unwrap();
        // The mark must start the UUID, not just appear in it.
        let shifted = foreign.replace("93a73e10:427f280b", "93a73e10:c05e5ec0");
        assert!(md_export_is_ours(&name("data"), &shifted).is_err());
        let mut cut = ours.clone();
        while cut.len() < OUTPUT_CAP {
            cut.push_str("MD_DEVICE_x_ROLE=0\n");
        }
        assert!(md_export_is_ours(&name("data"), &cut).unwrap_err().message.contains("cut short"));
    }

    #[test]
    fn md_uuids_are_marked_unique_and_valid() {
        let a = new_md_uuid();
        let b = new_md_uuid();
        assert_ne!(a, b);
        assert!(a.starts_with("c05e5ec0:") && a.len() == 35, "{a}");
        a.parse::<corenas_proto::raid::MdUuid>().unwrap();
        // A byte palindrome: reads the same whichever byte order a tool prints a word in.
        let bytes: Vec<&str> = (0..4).map(|i| &MD_UUID_MARK[2 * i..2 * i + 2]).collect();
        assert_eq!(bytes, bytes.iter().rev().copied().collect::<Vec<_>>());
    }

    fn pvs_report(rows: &[(&str, &str, &str)]) -> String {
        let rows: Vec<String> =
            rows.iter().map(|(p, g, t)| format!(r#"{{"pv_name":"{p}", "vg_name":"{g}", "vg_tags":"{t}"}}"#)).collect();
        format!(
            "  {{\n      \"report\": [\n          {{\n              \"pv\": [\n{}\n              ]\n          }}\n      ]\n  }}\n",
            rows.join(",\n")
        )
    }

    /// The attacker names the system's VG (Debian's installer makes `<host>-vg` with no tags) or
    /// an admin's tagged-otherwise group: refused; CoreNAS's own passes and yields its PVs.
    #[test]
    fn lvm_foreign_group_is_refused() {
        let text = pvs_report(&[
            ("/dev/sda5", "nas-vg", ""),
            ("/dev/sdb", "tank", "corenas"),
            ("/dev/sdc", "tank", "corenas"),
            ("/dev/sdd", "admin", "backup,corenas-not"),
            ("/dev/sde", "", ""),
        ]);
        let e = vg_pvs_if_ours(&vg("nas-vg"), &text).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAllowed);
        assert!(e.message.contains("not created by CoreNAS"), "{}", e.message);
        assert!(vg_pvs_if_ours(&vg("admin"), &text).is_err());
        assert_eq!(vg_pvs_if_ours(&vg("tank"), &text).unwrap(), ["/dev/sdb", "/dev/sdc"]);
        assert_eq!(vg_pvs_if_ours(&vg("nope"), &text).unwrap_err().code, ErrorCode::NotFound);
        // Unreadable or cut reports fail closed.
        assert!(vg_pvs_if_ours(&vg("tank"), "").is_err());
        assert!(vg_pvs_if_ours(&vg("tank"), &text[..text.len() / 2]).is_err());
        let mut big = text.clone();
        big.push_str(&" ".repeat(OUTPUT_CAP));
        assert!(vg_pvs_if_ours(&vg("tank"), &big).unwrap_err().message.contains("cut short"));
    }

    /// The real `pvs` JSON layout (fixture captured from LVM 2.03) parses.
    #[test]
    fn lvm_real_report_layout() {
        let fixture = include_str!("../../../../corenasd/src/storage/fixtures/lvm/pvs.json");
        // The fixture lacks vg_tags (captured with corenasd's field list): an untagged group.
        let with_tags = fixture.replace("\"vg_name\":", "\"vg_tags\":\"\", \"vg_name\":");
        let e = vg_pvs_if_ours(&vg("corenas_fixture_vg"), &with_tags).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAllowed, "{}", e.message);
    }
}
