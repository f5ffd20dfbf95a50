//! `storage wizard`: [`wizard`] is a function of the device inventory and the answer lines, so
//! it is tested without a terminal or a daemon; [`wizard_command`] only does the I/O.

use crate::client::{Daemon, call};
use crate::commands::storage::args::WizardArgs;
use crate::commands::storage::show::{pool_block, pool_spec_text};
use crate::commands::storage::spec::{creatable, save_template_report};
use crate::error::{CtlError, EXIT_FAILED};
use crate::report::{Report, change_report, to_json};
use crate::text::{Table, printable, size};
use crate::values::invalid;
use corenas_proto::ErrorCode;
use corenas_proto::devices::{DeviceInfo, DeviceKind};
use corenas_proto::names::{DevicePath, PoolName};
use corenas_proto::storage::{
    Backend, BtrfsProfile, Compression, DiskFs, PoolLayout, PoolSpec, Redundancy, ZfsLayout, ZfsProperty,
};
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::Path;

// ---- storage wizard ----------------------------------------------------------------------

/// Where the wizard's questions go: stdout for people, stderr with `--json` (stdout then carries
/// only the final document). Written and flushed as it comes, so a question shows before its
/// answer is read.
pub(crate) struct Live {
    json: bool,
}

impl fmt::Write for Live {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let written = if self.json {
            let mut e = io::stderr().lock();
            e.write_all(s.as_bytes()).and_then(|()| e.flush())
        } else {
            let mut o = io::stdout().lock();
            o.write_all(s.as_bytes()).and_then(|()| o.flush())
        };
        written.map_err(|_| fmt::Error)
    }
}

pub(crate) async fn wizard_command(
    a: WizardArgs,
    socket: &Path,
    dry_run: bool,
    json: bool,
) -> Result<Report, CtlError> {
    if let Some(kind) = a.kind {
        creatable(kind)?;
    }
    let d = Daemon::connect(socket).await?;
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines().map_while(Result::ok);
    wizard_session(&d, &a, dry_run, &mut lines, &mut Live { json }).await
}

/// The wizard against corenasd: the inventory, the questions, corenasd's dry-run plan, the last
/// question, then the pool created (or the template saved).
pub(crate) async fn wizard_session(
    d: &Daemon,
    a: &WizardArgs,
    dry_run: bool,
    answers: &mut dyn Iterator<Item = String>,
    out: &mut dyn fmt::Write,
) -> Result<Report, CtlError> {
    let inventory = call!(d, device_inventory())?;
    let spec = wizard(&inventory, a.kind, answers, out)?;

    let plan = call!(d, pool_create(spec.clone(), true))?;
    if let Report::Answer { human, .. } = change_report(&plan, |_| String::new())? {
        let _ = write!(out, "\n{human}");
    }
    if dry_run {
        return Ok(Report::ok("dry run: nothing was created\n".to_owned(), to_json(&plan)?));
    }
    let question = match &a.save_template {
        Some(path) => format!("Save the template {}? [y/N]", printable(&path.display().to_string())),
        None => "Create? [y/N]".to_owned(),
    };
    if !yes(&ask(out, answers, &question)?) {
        let human = "not created: nothing was changed\n".to_owned();
        return Ok(Report::Answer { human, json: to_json(&plan)?, exit: EXIT_FAILED });
    }
    if let Some(path) = &a.save_template {
        return save_template_report(&spec, path, a.force, false);
    }
    let change = call!(d, pool_create(spec, false))?;
    change_report(&change, pool_block)
}

pub(crate) fn yes(answer: &str) -> bool {
    matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints the question, then takes the next answer line (trimmed). The end of the answers ends
/// the wizard: nothing has been created.
pub(crate) fn ask(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    question: &str,
) -> Result<String, CtlError> {
    let _ = write!(out, "{question} ");
    match answers.next() {
        Some(line) => Ok(line.trim().to_owned()),
        None => {
            let _ = writeln!(out);
            Err(CtlError::usage(
                "answer",
                format!("the answers ended before the wizard was done (at \"{question}\"); nothing was created"),
            ))
        }
    }
}

/// One of `choices` (a name and what it means), by number or by name; Enter takes `default`.
/// Anything else is asked again.
pub(crate) fn choose<T: Copy>(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    question: &str,
    choices: &[(T, &str, String)],
    default: Option<usize>,
) -> Result<T, CtlError> {
    let _ = writeln!(out, "{question}");
    let w = choices.iter().map(|(_, name, _)| name.len()).max().unwrap_or(0);
    for (i, (_, name, about)) in choices.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}) {name:w$}  {about}", i + 1);
    }
    let hint = match default {
        Some(i) => format!("[1-{}, or Enter for {}]:", choices.len(), choices[i].1),
        None => format!("[1-{}]:", choices.len()),
    };
    loop {
        let answer = ask(out, answers, &hint)?;
        if answer.is_empty() {
            if let Some(i) = default {
                return Ok(choices[i].0);
            }
        }
        let by_number = number(&answer).and_then(|n| n.checked_sub(1)).and_then(|i| choices.get(i));
        let by_name = choices.iter().find(|(_, name, _)| name.eq_ignore_ascii_case(&answer));
        match by_number.or(by_name) {
            Some((choice, _, _)) => return Ok(*choice),
            None => {
                let _ = writeln!(
                    out,
                    "  '{}' is not one of the choices: answer with a number from 1 to {} or a name",
                    printable(&answer),
                    choices.len()
                );
            }
        }
    }
}

/// A device of the inventory the wizard may offer, with what it needs to say about it.
pub(crate) struct Candidate<'a> {
    info: &'a DeviceInfo,
    /// Why it cannot be chosen, or None when it can.
    busy: Option<String>,
}

/// The path the pool is built from: the stable /dev/disk/by-id link where there is one.
pub(crate) fn stable_path(info: &DeviceInfo) -> Result<DevicePath, CtlError> {
    if let Some(by_id) = info.by_id.iter().find_map(|p| p.parse::<DevicePath>().ok()) {
        return Ok(by_id);
    }
    info.path.parse::<DevicePath>().map_err(invalid)
}

pub(crate) fn media_kind(info: &DeviceInfo) -> &'static str {
    if info.rotational { "HDD" } else { "SSD" }
}

/// `storage wizard` without the I/O: asks the questions on `out`, takes the answers from
/// `answers`, and returns the pool to create. `inventory` is `device_inventory`'s answer.
pub(crate) fn wizard(
    inventory: &[DeviceInfo],
    kind: Option<Backend>,
    answers: &mut dyn Iterator<Item = String>,
    out: &mut dyn fmt::Write,
) -> Result<PoolSpec, CtlError> {
    let kind = match kind {
        Some(k) => {
            creatable(k)?;
            k
        }
        None => choose(
            out,
            answers,
            "Pool type:",
            &[
                (Backend::Zfs, "zfs", "ZFS pool: checksums, snapshots, compression, mirror or RAID-Z".to_owned()),
                (Backend::Btrfs, "btrfs", "btrfs filesystem: checksums, snapshots, compression, RAID1".to_owned()),
                (Backend::Single, "single", "one disk with ext4 or xfs".to_owned()),
            ],
            Some(0),
        )?,
    };

    // Devices: every one is listed; only free ones get a number.
    let candidates: Vec<Candidate<'_>> =
        inventory.iter().filter(|d| wizard_lists(d)).map(|info| Candidate { info, busy: busy_reason(info) }).collect();
    let free: Vec<&Candidate<'_>> = candidates.iter().filter(|c| c.busy.is_none()).collect();
    if free.is_empty() {
        return Err(CtlError::failed(
            ErrorCode::Busy,
            "no free device to build a pool from: every device is in use (see `corenas-ctl device list`)",
        ));
    }
    let _ = writeln!(out, "\nDevices (those in use cannot be chosen):");
    let mut table = Table::new(&["#", "DEVICE", "SIZE", "TYPE", "MODEL", "SERIAL", "STATE"]);
    let mut number = 0;
    for c in &candidates {
        let label = match &c.busy {
            None => {
                number += 1;
                number.to_string()
            }
            Some(_) => "-".to_owned(),
        };
        let state = match (&c.busy, contents(c.info)) {
            (Some(why), _) => format!("in use: {why}"),
            (None, Some(what)) => format!("free; {what}"),
            (None, None) => "free".to_owned(),
        };
        table.row([
            label,
            c.info.name.clone(),
            size(c.info.size_bytes),
            media_kind(c.info).to_owned(),
            c.info.model.clone().unwrap_or_else(|| "-".to_owned()),
            c.info.serial.clone().unwrap_or_else(|| "-".to_owned()),
            state,
        ]);
    }
    for line in table.render().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let chosen: Vec<&DeviceInfo> = loop {
        let reply = ask(out, answers, "Devices to use (numbers or names, comma separated, e.g. 1,2):")?;
        let names: Vec<&str> = free.iter().map(|c| c.info.name.as_str()).collect();
        match pick(&reply, &names) {
            Ok(picked) if kind == Backend::Single && picked.len() != 1 => {
                let _ = writeln!(out, "  a single-disk pool takes exactly one device: give one number");
            }
            Ok(picked) => break picked.into_iter().map(|i| free[i].info).collect(),
            Err(why) => {
                let _ = writeln!(out, "  {why}");
            }
        }
    };
    let n = chosen.len();
    let smallest = chosen.iter().map(|d| d.size_bytes).min().unwrap_or(0);
    let largest = chosen.iter().map(|d| d.size_bytes).max().unwrap_or(0);

    // Layout, with what each gives from these devices.
    let capacity = |r: &dyn Redundancy| {
        format!("{} usable, {} may fail: {}", size(r.usable_bytes(n, smallest)), r.tolerates(n), r.explain())
    };
    let _ = writeln!(out);
    let mut notes: Vec<String> = Vec::new();
    let layout = match kind {
        Backend::Zfs => {
            let layouts: Vec<ZfsLayout> = ZfsLayout::ALL.iter().copied().filter(|l| l.min_devices() <= n).collect();
            let choices: Vec<(ZfsLayout, &str, String)> =
                layouts.iter().map(|l| (*l, l.as_str(), capacity(l))).collect();
            let recommended = match n {
                1 => ZfsLayout::Stripe,
                2 => ZfsLayout::Mirror,
                3..=5 => ZfsLayout::Raidz1,
                _ => ZfsLayout::Raidz2,
            };
            let default = layouts.iter().position(|l| *l == recommended);
            let layout = choose(out, answers, &format!("Layout {}:", devices_note(n, smallest)), &choices, default)?;
            if layout.tolerates(n) == 0 {
                notes.push(no_redundancy(layout.as_str(), layout.explain()));
            }
            let compression = ask_compression(out, answers, Compression::zfs_ok, Compression::Lz4)?;
            PoolLayout::Zfs { layout, ashift: None, properties: vec![ZfsProperty::Compression(compression)] }
        }
        Backend::Btrfs => {
            let profiles = |data: bool| -> Vec<BtrfsProfile> {
                BtrfsProfile::ALL
                    .iter()
                    .copied()
                    .filter(|p| p.min_devices() <= n && !(data && *p == BtrfsProfile::Dup && n > 1))
                    .collect()
            };
            let data_profiles = profiles(true);
            let choices: Vec<(BtrfsProfile, &str, String)> =
                data_profiles.iter().map(|p| (*p, p.as_str(), capacity(p))).collect();
            let recommended = if n == 1 { BtrfsProfile::Single } else { BtrfsProfile::Raid1 };
            let default = data_profiles.iter().position(|p| *p == recommended);
            let question = format!("Data profile {}:", devices_note(n, smallest));
            let data = choose(out, answers, &question, &choices, default)?;
            let meta_profiles = profiles(false);
            let choices: Vec<(BtrfsProfile, &str, String)> = meta_profiles
                .iter()
                .map(|p| (*p, p.as_str(), format!("{} may fail: {}", p.tolerates(n), p.explain())))
                .collect();
            let recommended = match (n, data) {
                (1, _) => BtrfsProfile::Dup,
                (_, BtrfsProfile::Raid1c3) => BtrfsProfile::Raid1c3,
                _ => BtrfsProfile::Raid1,
            };
            let default = meta_profiles.iter().position(|p| *p == recommended);
            let _ = writeln!(out);
            let metadata = choose(out, answers, "Metadata profile:", &choices, default)?;
            if data.tolerates(n) == 0 {
                notes.push(no_redundancy(&format!("data {data}"), data.explain()));
            } else if metadata.tolerates(n) == 0 {
                notes.push(format!(
                    "no redundancy for metadata ({metadata}): a failed disk can lose the whole filesystem"
                ));
            }
            let compression = ask_compression(out, answers, Compression::btrfs_ok, Compression::Zstd)?;
            PoolLayout::Btrfs { data, metadata, compression: Some(compression) }
        }
        _ => {
            let fs = choose(
                out,
                answers,
                "Filesystem:",
                &[
                    (DiskFs::Ext4, "ext4", "the common Linux filesystem".to_owned()),
                    (DiskFs::Xfs, "xfs", "fast with large files; cannot be shrunk".to_owned()),
                ],
                Some(0),
            )?;
            notes.push("no redundancy: a single-disk pool is lost with its disk".to_owned());
            PoolLayout::Single { fs }
        }
    };

    let _ = writeln!(out);
    let name = loop {
        match ask(out, answers, "Pool name (mounted at /mnt/corenas/NAME):")?.parse::<PoolName>() {
            Ok(name) => break name,
            Err(e) => {
                let _ = writeln!(out, "  {}", e.message);
            }
        }
    };

    // What the admin should know before saying yes.
    if n > 1 && smallest != largest {
        let unused: u64 = chosen.iter().map(|d| d.size_bytes - smallest).sum();
        notes.push(format!(
            "the devices differ in size ({} to {}): each counts as the smallest, so {} of the larger ones stays unused",
            size(smallest),
            size(largest),
            size(unused)
        ));
    }
    if chosen.iter().any(|d| d.rotational) && chosen.iter().any(|d| !d.rotational) {
        let of = |rotational: bool| {
            chosen.iter().filter(|d| d.rotational == rotational).map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
        };
        notes.push(format!(
            "SSDs ({}) and HDDs ({}) are mixed: the pool works at the pace of the slowest device",
            of(false),
            of(true)
        ));
    }
    let holding: Vec<String> =
        chosen.iter().filter_map(|d| contents(d).map(|what| format!("{} {what}", d.name))).collect();

    let devices = chosen.iter().map(|d| stable_path(d)).collect::<Result<Vec<_>, _>>()?;
    let mut spec = PoolSpec { name, layout, devices, force: false };
    let _ = writeln!(out, "\nSummary:");
    let summary = pool_spec_text(&spec);
    let usable = usable_bytes(&spec.layout, n, smallest);
    for line in summary.lines().chain(std::iter::once(format!("usable:      about {}", size(usable)).as_str())) {
        let _ = writeln!(out, "  {line}");
    }
    for note in &notes {
        let _ = writeln!(out, "warning: {}", printable(note));
    }
    if !holding.is_empty() {
        let _ = writeln!(out, "warning: {}; creating the pool erases it", printable(&holding.join(", ")));
        if !yes(&ask(out, answers, "Erase what is on these devices? [y/N]")?) {
            return Err(CtlError::failed(
                ErrorCode::InvalidInput,
                "not created: the devices hold data that was not to be erased; nothing was changed",
            ));
        }
        spec.force = true;
    }
    spec.validate().map_err(invalid)?;
    Ok(spec)
}

/// The warning for a layout that survives no failed device.
pub(crate) fn no_redundancy(layout: &str, explain: &str) -> String {
    format!("no redundancy ({layout}): {}", explain.strip_prefix("no redundancy: ").unwrap_or(explain))
}

/// "for 3 devices (each counted as 1.0 GiB, the smallest)", for the layout questions.
pub(crate) fn devices_note(n: usize, smallest: u64) -> String {
    if n == 1 {
        "for 1 device".to_owned()
    } else {
        format!("for {n} devices (each counted as {}, the smallest)", size(smallest))
    }
}

pub(crate) fn usable_bytes(layout: &PoolLayout, n: usize, smallest: u64) -> u64 {
    match layout {
        PoolLayout::Zfs { layout, .. } => layout.usable_bytes(n, smallest),
        PoolLayout::Btrfs { data, .. } => data.usable_bytes(n, smallest),
        PoolLayout::Single { .. } => smallest,
    }
}

pub(crate) fn ask_compression(
    out: &mut dyn fmt::Write,
    answers: &mut dyn Iterator<Item = String>,
    fits: fn(Compression) -> bool,
    default: Compression,
) -> Result<Compression, CtlError> {
    let choices: Vec<(Compression, &str, String)> = Compression::ALL
        .iter()
        .copied()
        .filter(|c| fits(*c))
        .map(|c| {
            let about = match c {
                Compression::Off => "none",
                Compression::Lz4 => "fast, the usual choice for ZFS",
                Compression::Zstd => "smaller files, a little more CPU",
                Compression::On => "the backend's default algorithm",
                Compression::Gzip | Compression::Zlib => "small files, slow",
                Compression::Lzo | Compression::Lzjb | Compression::Zle => "fast, compresses less",
            };
            (c, c.as_str(), about.to_owned())
        })
        .collect();
    let default = choices.iter().position(|(c, _, _)| *c == default);
    let _ = writeln!(out);
    choose(out, answers, "Compression:", &choices, default)
}

/// Which inventory entries the wizard lists: whole disks (and loop devices) that could hold a
/// pool; partitions and optical drives cannot.
pub(crate) fn wizard_lists(d: &DeviceInfo) -> bool {
    matches!(d.kind, DeviceKind::Disk | DeviceKind::Loop) && d.size_bytes > 0
}

/// Why a device cannot be chosen, or None.
pub(crate) fn busy_reason(d: &DeviceInfo) -> Option<String> {
    if d.in_use() {
        let uses = d.all_uses();
        return Some(if uses.is_empty() { "in use".to_owned() } else { uses.join("; ") });
    }
    if d.read_only {
        return Some("read-only".to_owned());
    }
    None
}

/// What is on a device that creating a pool erases ("holds ext4", "has 2 partitions"), or None
/// when it looks empty.
pub(crate) fn contents(d: &DeviceInfo) -> Option<String> {
    let fs = |fs: &str, label: Option<&str>| match label {
        Some(l) => format!("{fs} \"{l}\""),
        None => fs.to_owned(),
    };
    if let Some(t) = d.fs_type.as_deref() {
        return Some(format!("holds {}", fs(t, d.fs_label.as_deref())));
    }
    match d.partitions.len() {
        0 => None,
        n => {
            let found: Vec<String> = d
                .partitions
                .iter()
                .filter_map(|p| p.fs_type.as_deref().map(|t| fs(t, p.fs_label.as_deref())))
                .collect();
            let plural = if n == 1 { "" } else { "s" };
            Some(if found.is_empty() {
                format!("has {n} partition{plural}")
            } else {
                format!("has {n} partition{plural} ({})", found.join(", "))
            })
        }
    }
}

/// A choice's number: digits only ("+1" and " 1" are not numbers here).
pub(crate) fn number(s: &str) -> Option<usize> {
    corenas_proto::names::parse_decimal(s).and_then(|n| usize::try_from(n).ok())
}

/// Device numbers from `1,3, 4`: each within 1..=count, each once, at least one. Returns
/// 0-based indexes in the order given.
/// The devices chosen by number (as listed) or by kernel name (`sdb`, `/dev/sdb`): names do not
/// shift when a disk is plugged in between listing and answering.
pub(crate) fn pick(reply: &str, names: &[&str]) -> Result<Vec<usize>, String> {
    let count = names.len();
    let mut picked = Vec::new();
    for part in reply.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let by_number = number(part).filter(|n| (1..=count).contains(n)).map(|n| n - 1);
        let by_name = names.iter().position(|n| *n == part.trim_start_matches("/dev/"));
        let i = by_number.or(by_name).ok_or_else(|| {
            format!(
                "'{}' is not a device number or the name of a free device: use numbers from 1 to {count} or names",
                printable(part)
            )
        })?;
        if picked.contains(&i) {
            return Err(format!("device {} is given twice", names[i]));
        }
        picked.push(i);
    }
    if picked.is_empty() {
        return Err(format!("give at least one device number from 1 to {count}"));
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::dev;
    use crate::testing::disk;
    use crate::testing::usage_field_and_message;

    use corenas_proto::devices::{DeviceUse, PartitionInfo};

    use crate::error::CtlError;

    fn run_wizard(
        inventory: &[DeviceInfo],
        kind: Option<Backend>,
        answers: &[&str],
    ) -> (Result<PoolSpec, CtlError>, String) {
        let mut lines = answers.iter().map(|a| (*a).to_owned());
        let mut out = String::new();
        let r = wizard(inventory, kind, &mut lines, &mut out);
        assert!(lines.next().is_none() || r.is_err(), "answers left over:\n{out}");
        (r, out)
    }

    #[test]
    fn the_wizard_builds_a_zfs_pool_and_explains_the_layouts() {
        let inventory = [disk("sdb", 4096, true), disk("sdc", 4096, true), disk("sdd", 4096, true)];
        // Type by number, three devices, the suggested layout and compression, a name.
        let (spec, out) = run_wizard(&inventory, None, &["1", "1, 2,3", "", "", "tank"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(spec.name.as_str(), "tank");
        assert_eq!(spec.devices[0], dev("/dev/disk/by-id/ata-Disk_sdb"), "the stable path");
        assert_eq!(
            spec.layout,
            PoolLayout::Zfs {
                layout: ZfsLayout::Raidz1,
                ashift: None,
                properties: vec![ZfsProperty::Compression(Compression::Lz4)]
            }
        );
        assert!(!spec.force);
        assert!(out.contains("Layout for 3 devices (each counted as 4.0 TiB, the smallest):"), "{out}");
        assert!(out.contains("stripe  12.0 TiB usable, 0 may fail: no redundancy"), "{out}");
        assert!(out.contains("raidz1  8.0 TiB usable, 1 may fail: one disk's worth of parity"), "{out}");
        assert!(!out.contains("raidz2"), "raidz2 needs 4 devices:\n{out}");
        assert!(out.contains("usable:      about 8.0 TiB"), "{out}");
        assert!(!out.contains("warning:"), "{out}");
    }

    #[test]
    fn the_wizard_warns_about_stripes_mixed_sizes_and_mixed_media() {
        let inventory = [disk("sdb", 1024, true), disk("nvme0n1", 512, false)];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Zfs), &["1,2", "stripe", "off", "scratch"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(matches!(spec.layout, PoolLayout::Zfs { layout: ZfsLayout::Stripe, .. }));
        assert!(out.contains("warning: no redundancy (stripe): one failed disk loses the whole pool\n"), "{out}");
        assert!(
            out.contains(
                "warning: the devices differ in size (512.0 GiB to 1.0 TiB): each counts as the smallest, so 512.0 \
                 GiB of the larger ones stays unused\n"
            ),
            "{out}"
        );
        assert!(out.contains("warning: SSDs (nvme0n1) and HDDs (sdb) are mixed"), "{out}");
    }

    #[test]
    fn the_wizard_asks_again_until_the_answer_fits() {
        let mut busy = disk("sda", 256, false);
        busy.partitions.push(PartitionInfo {
            name: "sda1".into(),
            path: "/dev/sda1".into(),
            size_bytes: 256 << 30,
            number: 1,
            fs_type: Some("ext4".into()),
            fs_label: None,
            fs_uuid: None,
            uses: vec![DeviceUse::Mounted { at: "/".into() }, DeviceUse::SystemDisk],
        });
        let mut optical = disk("sr0", 4, false);
        optical.kind = DeviceKind::Optical;
        let inventory = [busy, disk("sdb", 100, true), optical, disk("sdc", 100, true)];
        let (spec, out) = run_wizard(
            &inventory,
            None,
            &["lvm", "7", "zfs", "", "0", "abc", "1,1", "3", "1,2", "raidz9", "2", "", "Tank", "tank"],
        );
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        // In-use devices are listed without a number; free ones are numbered from 1.
        assert!(out.contains("-  sda "), "{out}");
        assert!(out.contains("in use: sda1: mounted at /; sda1: system disk"), "{out}");
        assert!(out.contains("1  sdb ") && out.contains("2  sdc "), "{out}");
        assert!(!out.contains("sr0"), "optical drives are not offered:\n{out}");
        assert_eq!(spec.devices, [dev("/dev/disk/by-id/ata-Disk_sdb"), dev("/dev/disk/by-id/ata-Disk_sdc")]);
        assert!(matches!(spec.layout, PoolLayout::Zfs { layout: ZfsLayout::Mirror, .. }));
        for says in [
            "'lvm' is not one of the choices",
            "'7' is not one of the choices",
            "'0' is not a device number or the name of a free device: use numbers from 1 to 2 or names",
            "'abc' is not a device number",
            "device sdb is given twice",
            "'3' is not a device number",
            "'raidz9' is not one of the choices",
            "pool name 'Tank' is invalid",
        ] {
            assert!(out.contains(says), "{says}:\n{out}");
        }
    }

    #[test]
    fn the_wizard_builds_btrfs_and_single_disk_pools() {
        let inventory = [disk("vdb", 8, false), disk("vdc", 8, false)];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Btrfs), &["1,2", "", "", "", "data"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(
            spec.layout,
            PoolLayout::Btrfs {
                data: BtrfsProfile::Raid1,
                metadata: BtrfsProfile::Raid1,
                compression: Some(Compression::Zstd)
            }
        );
        assert!(out.contains("raid1   8.0 GiB usable, 1 may fail"), "{out}");
        let data_question = out.split("Metadata profile:").next().unwrap();
        assert!(!data_question.contains(" dup "), "dup data is for one device:\n{out}");

        let (spec, out) = run_wizard(&inventory, Some(Backend::Btrfs), &["1,2", "raid0", "single", "lzo", "fast"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(matches!(spec.layout, PoolLayout::Btrfs { compression: Some(Compression::Lzo), .. }));
        assert!(out.contains("warning: no redundancy (data raid0)"), "{out}");

        let (spec, out) = run_wizard(&inventory, Some(Backend::Single), &["1,2", "2", "xfs", "usb"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(spec.layout, PoolLayout::Single { fs: DiskFs::Xfs });
        assert_eq!(spec.devices, [dev("/dev/disk/by-id/ata-Disk_vdc")]);
        assert!(out.contains("a single-disk pool takes exactly one device"), "{out}");
        assert!(out.contains("warning: no redundancy: a single-disk pool is lost with its disk"), "{out}");
    }

    #[test]
    fn the_wizard_asks_before_erasing_what_is_on_a_device() {
        let mut used = disk("loop3", 1, false);
        used.by_id.clear();
        used.kind = DeviceKind::Loop;
        used.fs_type = Some("ext4".into());
        used.fs_label = Some("old\u{1b}[2J".into());
        let inventory = [used];
        let (spec, out) = run_wizard(&inventory, Some(Backend::Single), &["1", "", "t", "y"]);
        let spec = spec.unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(spec.force, "the admin agreed to erase it");
        assert_eq!(spec.devices, [dev("/dev/loop3")], "no by-id link: the kernel path");
        assert!(out.contains("free; holds ext4 \"old\\u{1b}[2J\""), "{out}");
        assert!(out.contains("warning: loop3 holds ext4 \"old\\u{1b}[2J\"; creating the pool erases it"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");

        let (r, _) = run_wizard(&inventory, Some(Backend::Single), &["1", "", "t", ""]);
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.message.contains("not created")));
    }

    #[test]
    fn the_wizard_stops_when_the_answers_end_or_nothing_is_free() {
        let (r, out) = run_wizard(&[disk("sdb", 1, true)], None, &["zfs", "1"]);
        let (field, message) = usage_field_and_message(r);
        assert_eq!(field, "answer");
        assert!(message.contains("nothing was created"), "{message}\n{out}");

        let mut busy = disk("sda", 1, true);
        busy.uses.push(DeviceUse::PoolMember { pool: "tank".into(), backend: "zfs".into() });
        let (r, _) = run_wizard(&[busy], Some(Backend::Zfs), &[]);
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::Busy));
        assert_eq!(usage_field_and_message(run_wizard(&[disk("sdb", 1, true)], Some(Backend::Lvm), &[]).0).0, "type");
    }

    #[test]
    fn device_numbers_are_checked() {
        let names = ["sda", "sdb", "loop3"];
        assert_eq!(pick("2", &names), Ok(vec![1]));
        assert_eq!(pick(" 3 , 1,", &names), Ok(vec![2, 0]));
        assert_eq!(pick("loop3,/dev/sda", &names), Ok(vec![2, 0]));
        assert!(pick("sdb,2", &names).is_err(), "the same device twice");
        for bad in ["", ",", "0", "4", "-1", "1;2", "1 2", "+1", "1,1"] {
            assert!(pick(bad, &names).is_err(), "{bad:?}");
        }
    }
}
