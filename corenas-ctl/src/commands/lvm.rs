//! `lvm ...`: volume groups from devices, and volumes in them.
//!
//! Imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::report::{Report, change_report, to_json};
use crate::text::{Table, key_values, size};
use crate::values::{invalid, needs_force};
use clap::Subcommand;
use corenas_proto::lvm::{LvCreateSpec, LvExtendSpec, LvInfo, LvKind, LvmListing, VgCreateSpec, VgInfo};
use corenas_proto::names::DevicePath;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum LvmCommand {
    /// List physical volumes, volume groups and volumes.
    List,
    /// Create a volume group from free devices (each becomes a physical volume).
    VgCreate {
        /// The group name (letters, digits, '+', '_', '.', '-').
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::VgName,
        /// A device (/dev/sdX or /dev/disk/by-id/...); repeat for each.
        #[arg(long = "device", required = true)]
        devices: Vec<DevicePath>,
        /// Overwrite existing filesystem signatures on the devices.
        #[arg(long)]
        force: bool,
    },
    /// Remove an empty volume group; its devices lose their LVM labels.
    VgRemove {
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::VgName,
    },
    /// Create a linear volume: --size 10G, 50%FREE or 100%VG.
    LvCreate {
        /// The group.
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        /// The volume name.
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        #[arg(long)]
        size: corenas_proto::lvm::LvSize,
    },
    /// Grow a volume: --size 20G (new size), +5G (increase) or +100%FREE.
    LvExtend {
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        #[arg(long, allow_hyphen_values = true)]
        size: corenas_proto::lvm::LvGrow,
        /// Grow the filesystem on it as well.
        #[arg(long)]
        resize_fs: bool,
    },
    /// Remove a volume nothing uses; its data is lost. Needs --force.
    LvRemove {
        #[arg(allow_hyphen_values = true)]
        vg: corenas_proto::lvm::VgName,
        #[arg(allow_hyphen_values = true)]
        name: corenas_proto::lvm::LvName,
        /// Really remove.
        #[arg(long)]
        force: bool,
    },
}

pub async fn lvm(cmd: LvmCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let LvmCommand::LvRemove { vg, name, force } = &cmd {
        needs_force(*force, dry_run, format!("lvm lv-remove deletes {vg}/{name} and its data"), "remove it")?;
    }
    // Specs are checked before connecting, as for raid create.
    match cmd {
        LvmCommand::VgCreate { name, devices, force } => {
            let spec = VgCreateSpec { name, devices, force };
            spec.validate().map_err(invalid)?;
            let d = Daemon::connect(socket).await?;
            return change_report(&call!(d, vg_create(spec, dry_run))?, vg_text);
        }
        LvmCommand::LvCreate { vg, name, size } => {
            let spec = LvCreateSpec { vg, name, size, kind: LvKind::Linear };
            spec.validate().map_err(invalid)?;
            let d = Daemon::connect(socket).await?;
            return change_report(&call!(d, lv_create(spec, dry_run))?, lv_text);
        }
        _ => {}
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        LvmCommand::List => {
            let l = call!(d, lvm_list())?;
            Ok(Report::ok(listing_text(&l), to_json(&l)?))
        }
        LvmCommand::VgCreate { .. } | LvmCommand::LvCreate { .. } => unreachable!("answered above"),
        LvmCommand::VgRemove { name } => change_report(&call!(d, vg_remove(name, dry_run))?, |()| String::new()),
        LvmCommand::LvExtend { vg, name, size, resize_fs } => {
            let spec = LvExtendSpec { vg, name, grow: size, resize_fs };
            change_report(&call!(d, lv_extend(spec, dry_run))?, lv_text)
        }
        LvmCommand::LvRemove { vg, name, .. } => {
            let confirm = format!("{vg}/{name}");
            change_report(&call!(d, lv_remove(vg, name, confirm, dry_run))?, |()| String::new())
        }
    }
}

pub(crate) fn vg_text(g: &VgInfo) -> String {
    key_values(&[
        ("group", g.name.clone()),
        ("size", size(g.size_bytes)),
        ("free", size(g.free_bytes)),
        ("devices", g.pv_count.map_or_else(|| "-".to_owned(), |n| n.to_string())),
        ("volumes", g.lv_count.map_or_else(|| "-".to_owned(), |n| n.to_string())),
    ])
}

pub(crate) fn lv_text(v: &LvInfo) -> String {
    key_values(&[
        ("volume", format!("{}/{}", v.vg, v.name)),
        ("size", size(v.size_bytes)),
        ("path", v.path.clone().unwrap_or_else(|| "-".into())),
        ("attributes", v.attr_text.clone()),
    ])
}

pub(crate) fn listing_text(l: &LvmListing) -> String {
    let mut out = String::from("volume groups:\n");
    let mut t = Table::new(&["GROUP", "SIZE", "FREE", "DEVICES", "VOLUMES", "MISSING"]);
    for g in &l.vgs {
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        t.row([
            g.name.clone(),
            size(g.size_bytes),
            size(g.free_bytes),
            n(g.pv_count),
            n(g.lv_count),
            n(g.missing_pv_count),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nvolumes:\n");
    let mut t = Table::new(&["VOLUME", "SIZE", "PATH", "ATTR"]);
    for v in &l.lvs {
        t.row([
            format!("{}/{}", v.vg, v.name),
            size(v.size_bytes),
            v.path.clone().unwrap_or_default(),
            v.attr_text.clone(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nphysical volumes:\n");
    let mut t = Table::new(&["DEVICE", "GROUP", "SIZE", "FREE"]);
    for p in &l.pvs {
        t.row([p.device.clone(), p.vg.clone().unwrap_or_else(|| "-".into()), size(p.size_bytes), size(p.free_bytes)]);
    }
    out.push_str(&t.render());
    out
}
