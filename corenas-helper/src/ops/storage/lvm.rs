//! LVM argv for `/usr/sbin/lvm` (`Program::Lvm`): each vector starts with the subcommand
//! (`lvm pvcreate ...`). Pure: the caller resolves and checks devices and runs the argv.
//!
//! Options are long with `=`; `--` ends the options before every name or device, so a VG called
//! `+x` or an LV called `.x` stays an operand. Reports always name their fields: the default
//! columns change between LVM releases.

#![allow(dead_code, reason = "vgextend/vgreduce are not offered yet")]

use super::super::device;
use super::super::{Action, Ctx};
use super::mdadm::nodes;
use super::pool::free_devices;
use crate::exec::{Invocation, Program};
use corenas_proto::ValidationError;
use corenas_proto::helper::{HelperOp, LvmReport};
use corenas_proto::lvm::{
    LvCreateSpec, LvExtendSpec, LvGrow, LvKind, LvName, LvSize, VgCreateSpec, VgName, check_pv_list,
};
use corenas_proto::names::DevicePath;
use corenas_proto::{ErrorCode, WireError};

fn exec(args: Vec<String>) -> Action {
    Action::Exec(Invocation::of(Program::Lvm).args(args))
}

/// The helper's LVM operations. Devices are re-checked here; LVM itself refuses a group that
/// still holds volumes and a PV that belongs to another group.
pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    match op {
        HelperOp::VgCreate { spec } => {
            spec.validate()?;
            let devs = free_devices(&spec.devices)?;
            let checked = VgCreateSpec { devices: nodes(&devs)?, ..spec.clone() };
            // Physical volumes lose any imaging read grant corenasd's user still has.
            let mut actions = vec![Action::CheckNotZfsMember(devs.clone()), Action::CheckFree(devs.clone())];
            actions.extend(device::strip_daemon_read(ctx, &devs));
            actions.extend([exec(pvcreate_args(&checked.devices, spec.force)?), exec(vgcreate_args(&checked)?)]);
            Ok(actions)
        }
        HelperOp::VgRemove { vg, devices } => {
            let devs = devices.iter().map(device::resolve).collect::<Result<Vec<_>, _>>()?;
            // Only CoreNAS's group, and only its own PVs, free once the group is gone.
            let mut actions = vec![ours(vg, devs.clone()), exec(vgremove_args(vg))];
            if !devs.is_empty() {
                actions.push(Action::CheckFree(devs.clone()));
                actions.push(exec(pvremove_args(&nodes(&devs)?)?));
            }
            Ok(actions)
        }
        HelperOp::LvCreate { spec } => Ok(vec![ours(&spec.vg, Vec::new()), exec(lvcreate_args(spec)?)]),
        HelperOp::LvExtend { spec } => Ok(vec![ours(&spec.vg, Vec::new()), exec(lvextend_args(spec))]),
        HelperOp::LvRemove { vg, lv } => {
            let link = std::path::PathBuf::from(format!("/dev/{vg}/{lv}"));
            let mut actions = vec![ours(vg, Vec::new())];
            // An inactive volume has no node and nothing can hold it.
            if link.symlink_metadata().is_ok() {
                let dev = device::resolve_virtual(&link)?;
                let reasons = device::in_use(&dev);
                if !reasons.is_empty() {
                    return Err(WireError::new(
                        ErrorCode::Busy,
                        format!("volume {vg}/{lv} is in use: {}", reasons.join("; ")),
                    ));
                }
                actions.push(Action::CheckFree(vec![dev]));
            }
            actions.push(exec(lvremove_args(vg, lv)));
            Ok(actions)
        }
        _ => Err(WireError::internal(format!("{} is not an LVM operation", op.name()))),
    }
}

/// Refuse a group CoreNAS did not create or that has a PV on the system disk (owned.rs).
fn ours(vg: &VgName, pvs: Vec<device::Device>) -> Action {
    Action::CheckOwned(super::owned::Owned::Vg { vg: vg.clone(), pvs })
}

/// The report argv for a `StorageQuery::LvmReport`.
pub fn report_args(report: LvmReport) -> Vec<String> {
    match report {
        LvmReport::Pvs => pvs_args(&[]),
        LvmReport::Vgs => vgs_args(None),
        LvmReport::Lvs => lvs_args(None),
    }
}

/// `pvs` fields corenasd parses (corenasd/src/storage/lvm.rs); the fixture `pvs.json` was
/// captured with exactly this list.
pub const PV_FIELDS: &str =
    "pv_name,pv_uuid,vg_name,pv_fmt,pv_attr,pv_size,pv_free,dev_size,pv_pe_count,pv_pe_alloc_count";
/// `vgs` fields (fixture `vgs.json`).
pub const VG_FIELDS: &str = "vg_name,vg_uuid,vg_attr,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,\
                             pv_count,lv_count,snap_count,vg_missing_pv_count";
/// `lvs` fields (fixture `lvs-empty.json`). LV fields only: a segment field (segtype, stripes)
/// would print one row per segment.
pub const LV_FIELDS: &str =
    "lv_name,vg_name,lv_uuid,lv_attr,lv_size,lv_path,pool_lv,origin,data_percent,metadata_percent,lv_layout,lv_role";

fn devs(devices: &[DevicePath]) -> impl Iterator<Item = String> + '_ {
    devices.iter().map(|d| d.as_str().to_owned())
}

fn v(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `lvm pvcreate [--yes] -- DEV...`. Without `force`, pvcreate asks before wiping a filesystem
/// signature; with stdin closed the answer is no and it fails, which is what an unforced create
/// should do.
pub fn pvcreate_args(devices: &[DevicePath], force: bool) -> Result<Vec<String>, ValidationError> {
    check_pv_list(devices)?;
    let mut a = v(&["pvcreate"]);
    if force {
        a.push("--yes".to_owned());
    }
    a.push("--".to_owned());
    a.extend(devs(devices));
    Ok(a)
}

/// `lvm pvremove -- DEV...`: drop the PV label of devices no longer in a group.
pub fn pvremove_args(devices: &[DevicePath]) -> Result<Vec<String>, ValidationError> {
    check_pv_list(devices)?;
    let mut a = v(&["pvremove", "--"]);
    a.extend(devs(devices));
    Ok(a)
}

/// `lvm vgcreate -- VG PV...` (run `pvcreate_args` first: vgcreate's implicit pvcreate would not
/// honour `force`).
pub fn vgcreate_args(spec: &VgCreateSpec) -> Result<Vec<String>, ValidationError> {
    spec.validate()?;
    // The tag marks the group as CoreNAS's (ops/storage/owned.rs): only tagged groups change.
    let mut a = v(&["vgcreate", &format!("--addtag={}", super::owned::VG_TAG), "--", spec.name.as_str()]);
    a.extend(devs(&spec.devices));
    Ok(a)
}

/// `lvm vgextend -- VG PV...`.
pub fn vgextend_args(vg: &VgName, devices: &[DevicePath]) -> Result<Vec<String>, ValidationError> {
    check_pv_list(devices)?;
    let mut a = v(&["vgextend", "--", vg.as_str()]);
    a.extend(devs(devices));
    Ok(a)
}

/// `lvm vgreduce -- VG PV...`: only PVs with no extents in use leave (move data off with pvmove
/// first); LVM refuses otherwise.
pub fn vgreduce_args(vg: &VgName, devices: &[DevicePath]) -> Result<Vec<String>, ValidationError> {
    check_pv_list(devices)?;
    let mut a = v(&["vgreduce", "--", vg.as_str()]);
    a.extend(devs(devices));
    Ok(a)
}

/// `lvm vgremove -- VG`, no `--yes`: a group that still holds volumes makes vgremove ask, and with
/// stdin closed it refuses. Volumes go one by one through `lvremove_args`.
pub fn vgremove_args(vg: &VgName) -> Vec<String> {
    v(&["vgremove", "--", vg.as_str()])
}

fn size_option(size: &LvSize, bytes_option: &str) -> String {
    match size {
        LvSize::Bytes(n) => format!("--{bytes_option}={n}b"),
        LvSize::PercentFree(p) => format!("--extents={p}%FREE"),
        LvSize::PercentVg(p) => format!("--extents={p}%VG"),
    }
}

/// `lvm lvcreate --yes ... -- VG`. `--yes` lets LVM wipe stale signatures it finds where the new
/// volume lands (it asks otherwise); a new volume's old content is never wanted.
/// - linear: `--name=LV --size=Nb` (or `--extents=N%FREE`)
/// - thin pool: `--type=thin-pool --name=POOL --size=...`
/// - thin volume: `--type=thin --name=LV --virtualsize=Nb --thinpool=POOL`
pub fn lvcreate_args(spec: &LvCreateSpec) -> Result<Vec<String>, ValidationError> {
    spec.validate()?;
    let mut a = v(&["lvcreate", "--yes"]);
    match &spec.kind {
        LvKind::Linear => {}
        LvKind::ThinPool => a.push("--type=thin-pool".to_owned()),
        LvKind::Thin { .. } => a.push("--type=thin".to_owned()),
    }
    a.push(format!("--name={}", spec.name));
    match &spec.kind {
        LvKind::Linear | LvKind::ThinPool => a.push(size_option(&spec.size, "size")),
        LvKind::Thin { pool } => {
            a.push(size_option(&spec.size, "virtualsize"));
            a.push(format!("--thinpool={pool}"));
        }
    }
    a.push("--".to_owned());
    a.push(spec.vg.as_str().to_owned());
    Ok(a)
}

/// `lvm lvextend [--resizefs] --size=[+]Nb|--extents=+N%FREE -- VG/LV`.
pub fn lvextend_args(spec: &LvExtendSpec) -> Vec<String> {
    let mut a = v(&["lvextend"]);
    if spec.resize_fs {
        a.push("--resizefs".to_owned());
    }
    a.push(match spec.grow {
        LvGrow::To(n) => format!("--size={n}b"),
        LvGrow::By(n) => format!("--size=+{n}b"),
        LvGrow::ByPercentFree(p) => format!("--extents=+{p}%FREE"),
    });
    a.push("--".to_owned());
    a.push(format!("{}/{}", spec.vg, spec.name));
    a
}

/// `lvm lvremove --yes -- VG/LV`: LVM asks before removing an active volume; corenasd has asked
/// the person already, and the helper has checked the volume is not mounted.
pub fn lvremove_args(vg: &VgName, lv: &LvName) -> Vec<String> {
    vec!["lvremove".to_owned(), "--yes".to_owned(), "--".to_owned(), format!("{vg}/{lv}")]
}

fn report(command: &str, fields: &str) -> Vec<String> {
    v(&[command, "--reportformat", "json", "--units", "b", "--nosuffix", "--options", fields])
}

/// `lvm pvs ... -o PV_FIELDS [-- DEV...]`: every PV, or only the named devices.
pub fn pvs_args(devices: &[DevicePath]) -> Vec<String> {
    let mut a = report("pvs", PV_FIELDS);
    if !devices.is_empty() {
        a.push("--".to_owned());
        a.extend(devs(devices));
    }
    a
}

/// `lvm vgs ... -o VG_FIELDS [-- VG]`.
pub fn vgs_args(vg: Option<&VgName>) -> Vec<String> {
    let mut a = report("vgs", VG_FIELDS);
    if let Some(vg) = vg {
        a.push("--".to_owned());
        a.push(vg.as_str().to_owned());
    }
    a
}

/// `lvm lvs ... -o LV_FIELDS [-- VG]`: the volumes people use (no `--all`: LVM's internal
/// sub-volumes stay hidden).
pub fn lvs_args(vg: Option<&VgName>) -> Vec<String> {
    let mut a = report("lvs", LV_FIELDS);
    if let Some(vg) = vg {
        a.push("--".to_owned());
        a.push(vg.as_str().to_owned());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(s: &str) -> DevicePath {
        s.parse().unwrap()
    }
    fn vg(s: &str) -> VgName {
        s.parse().unwrap()
    }
    fn lv(s: &str) -> LvName {
        s.parse().unwrap()
    }

    #[test]
    fn physical_volumes() {
        let d = [dev("/dev/sdb"), dev("/dev/sdc")];
        assert_eq!(pvcreate_args(&d, false).unwrap(), ["pvcreate", "--", "/dev/sdb", "/dev/sdc"]);
        assert_eq!(pvcreate_args(&d, true).unwrap(), ["pvcreate", "--yes", "--", "/dev/sdb", "/dev/sdc"]);
        assert_eq!(pvremove_args(&d[..1]).unwrap(), ["pvremove", "--", "/dev/sdb"]);
        assert_eq!(pvcreate_args(&[], false).unwrap_err().field, "devices");
        assert!(pvcreate_args(&[dev("/dev/sdb"), dev("/dev/sdb")], false).is_err());
    }

    #[test]
    fn volume_groups() {
        let spec = VgCreateSpec { name: vg("tank"), devices: vec![dev("/dev/sdb"), dev("/dev/loop3")], force: false };
        assert_eq!(
            vgcreate_args(&spec).unwrap(),
            ["vgcreate", "--addtag=corenas", "--", "tank", "/dev/sdb", "/dev/loop3"]
        );
        assert_eq!(vgextend_args(&vg("tank"), &[dev("/dev/sdd")]).unwrap(), ["vgextend", "--", "tank", "/dev/sdd"]);
        assert_eq!(vgreduce_args(&vg("tank"), &[dev("/dev/sdd")]).unwrap(), ["vgreduce", "--", "tank", "/dev/sdd"]);
        assert_eq!(vgremove_args(&vg("tank")), ["vgremove", "--", "tank"]);
        assert!(vgextend_args(&vg("tank"), &[]).is_err());
    }

    fn create(kind: LvKind, size: &str) -> Vec<String> {
        lvcreate_args(&LvCreateSpec { vg: vg("tank"), name: lv("data"), size: size.parse().unwrap(), kind }).unwrap()
    }

    #[test]
    fn linear_volumes() {
        assert_eq!(
            create(LvKind::Linear, "10G"),
            ["lvcreate", "--yes", "--name=data", "--size=10737418240b", "--", "tank"]
        );
        assert_eq!(
            create(LvKind::Linear, "100%FREE"),
            ["lvcreate", "--yes", "--name=data", "--extents=100%FREE", "--", "tank"]
        );
        assert_eq!(
            create(LvKind::Linear, "50%VG"),
            ["lvcreate", "--yes", "--name=data", "--extents=50%VG", "--", "tank"]
        );
    }

    #[test]
    fn thin_pools_and_volumes() {
        assert_eq!(
            create(LvKind::ThinPool, "90%FREE"),
            ["lvcreate", "--yes", "--type=thin-pool", "--name=data", "--extents=90%FREE", "--", "tank"]
        );
        assert_eq!(
            create(LvKind::Thin { pool: lv("pool") }, "1T"),
            [
                "lvcreate",
                "--yes",
                "--type=thin",
                "--name=data",
                "--virtualsize=1099511627776b",
                "--thinpool=pool",
                "--",
                "tank"
            ]
        );
        let bad = LvCreateSpec {
            vg: vg("tank"),
            name: lv("data"),
            size: "100%FREE".parse().unwrap(),
            kind: LvKind::Thin { pool: lv("pool") },
        };
        assert_eq!(lvcreate_args(&bad).unwrap_err().field, "size");
    }

    #[test]
    fn extend_and_remove() {
        let spec = |grow: &str, resize_fs| LvExtendSpec {
            vg: vg("tank"),
            name: lv("data"),
            grow: grow.parse().unwrap(),
            resize_fs,
        };
        assert_eq!(
            lvextend_args(&spec("20G", true)),
            ["lvextend", "--resizefs", "--size=21474836480b", "--", "tank/data"]
        );
        assert_eq!(lvextend_args(&spec("+1G", false)), ["lvextend", "--size=+1073741824b", "--", "tank/data"]);
        assert_eq!(
            lvextend_args(&spec("+100%FREE", true)),
            ["lvextend", "--resizefs", "--extents=+100%FREE", "--", "tank/data"]
        );
        assert_eq!(lvremove_args(&vg("tank"), &lv("data")), ["lvremove", "--yes", "--", "tank/data"]);
    }

    #[test]
    fn reports_name_their_fields() {
        assert_eq!(
            pvs_args(&[dev("/dev/loop0")]),
            ["pvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--options", PV_FIELDS, "--", "/dev/loop0"]
        );
        assert_eq!(pvs_args(&[]).len(), 8);
        assert_eq!(vgs_args(Some(&vg("tank"))).last().map(String::as_str), Some("tank"));
        assert_eq!(vgs_args(None)[7], VG_FIELDS);
        assert_eq!(lvs_args(Some(&vg("tank")))[..2], ["lvs", "--reportformat"]);
        assert!(!LV_FIELDS.contains("seg") && !LV_FIELDS.contains("stripes"));
        for f in [PV_FIELDS, VG_FIELDS, LV_FIELDS] {
            assert!(!f.contains(' ') && !f.is_empty());
        }
    }

    #[test]
    fn hostile_looking_values_stay_operands() {
        // Valid LVM names that look like options or paths land after "--", one element each.
        for (g, l) in [("+x", ".hidden"), ("a--yes", "b--force"), ("_", "+"), ("..x", "x..")] {
            let (g, l) = (vg(g), lv(l));
            let a = lvcreate_args(&LvCreateSpec {
                vg: g.clone(),
                name: l.clone(),
                size: LvSize::Bytes(1 << 30),
                kind: LvKind::Linear,
            })
            .unwrap();
            let dd = a.iter().position(|x| x == "--").unwrap();
            assert_eq!(&a[dd + 1..], [g.as_str()]);
            assert!(a.contains(&format!("--name={l}")));
            let r = lvremove_args(&g, &l);
            assert_eq!(r.last().unwrap(), &format!("{g}/{l}"));
            assert_eq!(r[r.len() - 2], "--");
            assert_eq!(vgremove_args(&g), ["vgremove", "--", g.as_str()]);
        }
        assert!("-x".parse::<VgName>().is_err() && "--yes".parse::<LvName>().is_err());
    }
}
