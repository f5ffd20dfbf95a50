//! mdadm argv, built from typed values, and the `mdadm.conf` the helper writes. Pure: the caller
//! picks the program (`Program::Mdadm`), resolves and checks devices, and runs the argv.
//!
//! mdadm ignores every argument after `--` (checked with mdadm 4.2: `mdadm --examine -- /dev/loop0`
//! says "No devices to examine"), so no `--` here. What keeps a value from being read as an option
//! is its type: options are long and carry their value after `=`, names are `[a-z][a-z0-9_-]*`,
//! devices start with `/dev/`, UUIDs are hex and ':'. The words mdadm gives a meaning in a device
//! list (`failed`, `detached`, `faulty`, `set-A`) cannot be a `DevicePath`.

#![allow(dead_code, reason = "assembly and mdadm.conf are not wired yet: Debian's udev rules assemble arrays at boot")]

use super::super::device::{self, Device};
use super::super::{Action, Ctx};
use super::owned;
use super::pool::free_devices;
use crate::exec::{Invocation, Program};
use corenas_proto::ValidationError;
use corenas_proto::helper::HelperOp;
use corenas_proto::names::DevicePath;
use corenas_proto::raid::{MdCreateSpec, MdMemberOp, MdName, MdUuid, RaidLevel};
use corenas_proto::{ErrorCode, WireError};
use std::path::PathBuf;

fn exec(args: Vec<String>) -> Action {
    Action::Exec(Invocation::of(Program::Mdadm).args(args))
}

/// The checked kernel node of each device: mdadm gets `/dev/vdb`, not a link that could be
/// pointed elsewhere between the check and the run.
pub fn nodes(devs: &[Device]) -> Result<Vec<DevicePath>, WireError> {
    devs.iter().map(|d| d.path.display().to_string().parse::<DevicePath>().map_err(WireError::from)).collect()
}

fn array_link(name: &MdName) -> PathBuf {
    PathBuf::from(name.dev_path())
}

/// The helper's md operations: every device re-checked here, whatever corenasd believed.
pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    match op {
        HelperOp::MdCreate { spec } => {
            spec.validate()?;
            if array_link(&spec.name).symlink_metadata().is_ok() {
                return Err(WireError::new(ErrorCode::AlreadyExists, format!("array {} exists", spec.name.dev_path())));
            }
            let data = free_devices(&spec.devices)?;
            let spares = free_devices(&spec.spares)?;
            let checked = MdCreateSpec { devices: nodes(&data)?, spares: nodes(&spares)?, ..spec.clone() };
            let all: Vec<Device> = data.into_iter().chain(spares).collect();
            // Members lose any imaging read grant corenasd's user still has.
            let mut actions = vec![Action::CheckNotZfsMember(all.clone()), Action::CheckFree(all.clone())];
            actions.extend(device::strip_daemon_read(ctx, &all));
            actions.extend([exec(create_args(&checked)?), Action::WaitForNode(array_link(&spec.name))]);
            Ok(actions)
        }
        HelperOp::MdMember { name, device, op } => {
            op.validate(device).map_err(WireError::from)?;
            let array = device::resolve_virtual(&array_link(name))?;
            owned::md_not_system(name, &array)?;
            let members = device::lower_devices(&array);
            let dev = device::resolve(device)?;
            let mut actions = vec![Action::CheckOwned(owned::Owned::Md { name: name.clone(), array: array.clone() })];
            let op = match op {
                MdMemberOp::Add => {
                    let free = free_devices(std::slice::from_ref(device))?;
                    actions.extend(device::strip_daemon_read(ctx, &free));
                    actions.push(Action::CheckFree(free));
                    MdMemberOp::Add
                }
                MdMemberOp::Fail | MdMemberOp::Remove | MdMemberOp::Replace { .. } if !members.contains(&dev.name) => {
                    return Err(WireError::invalid(
                        "device",
                        format!("{device} is not a member of {} (members: {})", name.dev_path(), members.join(", ")),
                    ));
                }
                MdMemberOp::Replace { with: Some(w) } => {
                    let spare = device::resolve(w)?;
                    MdMemberOp::Replace { with: Some(nodes(&[spare])?.remove(0)) }
                }
                other => other.clone(),
            };
            let node = nodes(std::slice::from_ref(&dev))?.remove(0);
            actions.push(exec(manage_args(name, &node, &op)?));
            Ok(actions)
        }
        HelperOp::MdDestroy { name } => {
            let array = device::resolve_virtual(&array_link(name))?;
            owned::md_not_system(name, &array)?;
            let reasons = device::in_use(&array);
            if !reasons.is_empty() {
                return Err(WireError::new(
                    ErrorCode::Busy,
                    format!("array {} is in use: {}", name.dev_path(), reasons.join("; ")),
                ));
            }
            let members: Vec<DevicePath> = device::lower_devices(&array)
                .iter()
                .map(|n| format!("/dev/{n}").parse::<DevicePath>().map_err(WireError::from))
                .collect::<Result<_, _>>()?;
            let mut actions = vec![
                Action::CheckOwned(owned::Owned::Md { name: name.clone(), array: array.clone() }),
                Action::CheckFree(vec![array]),
                exec(stop_args(name)),
            ];
            if !members.is_empty() {
                actions.push(exec(zero_superblock_args(&members)));
            }
            Ok(actions)
        }
        _ => Err(WireError::internal(format!("{} is not an md operation", op.name()))),
    }
}

/// `mdadm --create`: metadata 1.2 at the start of each member, started at once (`--run` also
/// answers mdadm's "appears to contain a filesystem, continue?" so it never waits on stdin; the
/// helper has already refused devices in use). Redundant levels get an internal write-intent
/// bitmap so a crash or a re-added member resyncs only what changed; raid10 is the near=2 layout
/// that `RaidLevel::usable_bytes` counts.
pub fn create_args(spec: &MdCreateSpec) -> Result<Vec<String>, ValidationError> {
    spec.validate()?;
    let mut a = vec![
        "--create".to_owned(),
        spec.name.dev_path(),
        format!("--name={}", spec.name),
        "--run".to_owned(),
        "--metadata=1.2".to_owned(),
        // CoreNAS's mark (ops/storage/owned.rs): only arrays with it are changed later.
        format!("--uuid={}", owned::new_md_uuid()),
        format!("--level={}", spec.level.as_str()),
        format!("--raid-devices={}", spec.devices.len()),
    ];
    if !spec.spares.is_empty() {
        a.push(format!("--spare-devices={}", spec.spares.len()));
    }
    if let Some(k) = spec.chunk_kib {
        a.push(format!("--chunk={k}K"));
    }
    if spec.level == RaidLevel::Raid10 {
        a.push("--layout=n2".to_owned());
    }
    if spec.level.redundancy() > 0 {
        a.push("--bitmap=internal".to_owned());
    }
    // mdadm takes the first --raid-devices as data members, in slot order, the rest as spares.
    a.extend(spec.devices.iter().chain(&spec.spares).map(|d| d.as_str().to_owned()));
    Ok(a)
}

/// `mdadm --detail --export`: KEY=value lines (MD_LEVEL, MD_UUID, MD_DEVICE_*_ROLE ...).
pub fn detail_export_args(name: &MdName) -> Vec<String> {
    vec!["--detail".to_owned(), "--export".to_owned(), name.dev_path()]
}

/// `mdadm --detail`: the human form (State, Rebuild Status, the member table).
pub fn detail_args(name: &MdName) -> Vec<String> {
    vec!["--detail".to_owned(), name.dev_path()]
}

/// `mdadm --detail --scan`: one `ARRAY` line per running array.
pub fn detail_scan_args() -> Vec<String> {
    vec!["--detail".to_owned(), "--scan".to_owned()]
}

/// `mdadm --stop`: the array must not be mounted or held (the helper checks first).
pub fn stop_args(name: &MdName) -> Vec<String> {
    vec!["--stop".to_owned(), name.dev_path()]
}

/// Where assembly finds the members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssembleFrom {
    /// Every device whose md superblock carries this UUID (mdadm scans the devices that
    /// mdadm.conf's DEVICE line names, all partitions by default).
    Uuid(MdUuid),
    /// Exactly these devices.
    Devices(Vec<DevicePath>),
}

/// `mdadm --assemble /dev/md/NAME`. `run_degraded` starts the array even when members are
/// missing (`--run`); without it mdadm leaves such an array inactive.
pub fn assemble_args(name: &MdName, from: &AssembleFrom, run_degraded: bool) -> Vec<String> {
    let mut a = vec!["--assemble".to_owned(), name.dev_path()];
    if run_degraded {
        a.push("--run".to_owned());
    }
    match from {
        AssembleFrom::Uuid(u) => a.push(format!("--uuid={u}")),
        AssembleFrom::Devices(ds) => a.extend(ds.iter().map(|d| d.as_str().to_owned())),
    }
    a
}

/// `mdadm --manage /dev/md/NAME --add|--remove|--fail DEV`, or `--replace DEV [--with SPARE]`.
pub fn manage_args(name: &MdName, device: &DevicePath, op: &MdMemberOp) -> Result<Vec<String>, ValidationError> {
    op.validate(device)?;
    let mut a = vec!["--manage".to_owned(), name.dev_path(), format!("--{}", op.verb()), device.as_str().to_owned()];
    if let MdMemberOp::Replace { with: Some(w) } = op {
        a.push("--with".to_owned());
        a.push(w.as_str().to_owned());
    }
    Ok(a)
}

/// `mdadm --zero-superblock DEV...`: forget a former member's array (after the array is stopped
/// or the device removed), so it is not assembled again at boot.
pub fn zero_superblock_args(devices: &[DevicePath]) -> Vec<String> {
    let mut a = vec!["--zero-superblock".to_owned()];
    a.extend(devices.iter().map(|d| d.as_str().to_owned()));
    a
}

/// The comment line that marks the ARRAY line after it as CoreNAS's.
pub const CONF_MARKER: &str = "# CoreNAS: managed array, rewritten by CoreNAS (do not edit this line or the next)";

/// The ARRAY line CoreNAS writes: identified by UUID alone, so a homehost change or a move to
/// another machine does not make it stale.
fn array_line(name: &MdName, uuid: &MdUuid) -> String {
    format!("ARRAY {} metadata=1.2 UUID={uuid}", name.dev_path())
}

/// Whether `line` is one CoreNAS writes: the marker, or an ARRAY line exactly as `array_line`
/// makes it from a valid name and UUID. Every other line of a rendered mdadm.conf comes verbatim
/// from the administrator's file.
pub fn line_is_expected(line: &str) -> bool {
    if line == CONF_MARKER {
        return true;
    }
    let mut w = line.split(' ');
    let (Some("ARRAY"), Some(dev), Some("metadata=1.2"), Some(uuid), None) =
        (w.next(), w.next(), w.next(), w.next(), w.next())
    else {
        return false;
    };
    let name_ok = dev.strip_prefix("/dev/md/").is_some_and(|n| n.parse::<MdName>().is_ok());
    let uuid_ok = uuid.strip_prefix("UUID=").is_some_and(|u| u.parse::<MdUuid>().is_ok());
    name_ok && uuid_ok
}

/// One mdadm.conf entry: a line and the continuation lines (starting with blank space) after it.
struct Entry<'a> {
    lines: Vec<&'a str>,
}

impl Entry<'_> {
    fn words(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().flat_map(|l| l.split_whitespace())
    }
    /// The keyword, for entries that start one (not comments or blank lines).
    fn keyword(&self) -> Option<&str> {
        let first = self.lines.first()?;
        if first.starts_with('#') || first.trim().is_empty() { None } else { first.split_whitespace().next() }
    }
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry<'_>> = Vec::new();
    for line in text.lines() {
        let continues = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        match out.last_mut() {
            Some(e) if continues && e.keyword().is_some() => e.lines.push(line),
            _ => out.push(Entry { lines: vec![line] }),
        }
    }
    out
}

/// Renders mdadm.conf: the administrator's lines kept as they are (DEVICE, MAILADDR, HOMEHOST,
/// comments, and ARRAY lines for arrays CoreNAS does not manage, such as the root array), then one
/// marked ARRAY line per CoreNAS array. Replaces CoreNAS's earlier lines and drops any other ARRAY
/// entry for the same UUID or device, so mdadm never sees an array twice. Idempotent.
///
/// `existing` is the current file as the helper read it (capped by the caller); nothing here comes
/// from the daemon but typed names and UUIDs.
pub fn render_mdadm_conf(arrays: &[(MdName, MdUuid)], existing: &str) -> String {
    let ours_dev: Vec<String> = arrays.iter().map(|(n, _)| n.dev_path()).collect();
    let ours_uuid: Vec<String> = arrays.iter().map(|(_, u)| format!("UUID={u}").to_ascii_lowercase()).collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut after_marker = false;
    for e in entries(existing) {
        if e.lines.len() == 1 && e.lines[0] == CONF_MARKER {
            after_marker = true;
            continue;
        }
        let is_array = e.keyword().is_some_and(|k| k.eq_ignore_ascii_case("ARRAY"));
        let marked = std::mem::take(&mut after_marker);
        if is_array {
            let mut words = e.words().skip(1);
            let dev = words.next().unwrap_or_default();
            let same =
                ours_dev.iter().any(|d| d == dev) || words.any(|w| ours_uuid.iter().any(|u| w.eq_ignore_ascii_case(u)));
            if marked || same {
                continue;
            }
        }
        kept.extend(e.lines);
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let mut out = String::new();
    for l in &kept {
        out.push_str(l);
        out.push('\n');
    }
    if !kept.is_empty() && !arrays.is_empty() {
        out.push('\n');
    }
    for (name, uuid) in arrays {
        out.push_str(CONF_MARKER);
        out.push('\n');
        out.push_str(&array_line(name, uuid));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(s: &str) -> DevicePath {
        s.parse().unwrap()
    }
    fn name(s: &str) -> MdName {
        s.parse().unwrap()
    }
    fn uuid(s: &str) -> MdUuid {
        s.parse().unwrap()
    }
    /// `create_args` without the one argument that changes per call, the CoreNAS UUID mark
    /// (checked here: every create carries it, right after the metadata version).
    fn create_args(s: &MdCreateSpec) -> Result<Vec<String>, ValidationError> {
        let mut a = super::create_args(s)?;
        let i = a.iter().position(|x| x.starts_with("--uuid=c05e5ec0:")).expect("the create is not marked");
        assert_eq!(a[i - 1], "--metadata=1.2");
        a.remove(i);
        Ok(a)
    }
    fn spec(level: RaidLevel, devs: &[&str]) -> MdCreateSpec {
        MdCreateSpec {
            name: name("data"),
            level,
            devices: devs.iter().map(|d| dev(d)).collect(),
            spares: vec![],
            chunk_kib: None,
        }
    }

    #[test]
    fn create_raid1() {
        let a = create_args(&spec(RaidLevel::Raid1, &["/dev/sdb", "/dev/sdc"])).unwrap();
        assert_eq!(
            a,
            [
                "--create",
                "/dev/md/data",
                "--name=data",
                "--run",
                "--metadata=1.2",
                "--level=raid1",
                "--raid-devices=2",
                "--bitmap=internal",
                "/dev/sdb",
                "/dev/sdc"
            ]
        );
    }

    #[test]
    fn create_raid5_with_spare_and_chunk() {
        let mut s = spec(RaidLevel::Raid5, &["/dev/sdb", "/dev/sdc", "/dev/disk/by-id/ata-WDC_WD40-68_WX12:0"]);
        s.spares = vec![dev("/dev/sde")];
        s.chunk_kib = Some(64);
        assert_eq!(
            create_args(&s).unwrap(),
            [
                "--create",
                "/dev/md/data",
                "--name=data",
                "--run",
                "--metadata=1.2",
                "--level=raid5",
                "--raid-devices=3",
                "--spare-devices=1",
                "--chunk=64K",
                "--bitmap=internal",
                "/dev/sdb",
                "/dev/sdc",
                "/dev/disk/by-id/ata-WDC_WD40-68_WX12:0",
                "/dev/sde"
            ]
        );
    }

    #[test]
    fn create_raid0_and_raid10() {
        let a = create_args(&spec(RaidLevel::Raid0, &["/dev/nvme0n1", "/dev/nvme1n1"])).unwrap();
        assert!(!a.iter().any(|x| x.starts_with("--bitmap")), "raid0 cannot have a bitmap: {a:?}");
        assert!(a.contains(&"--level=raid0".to_owned()));
        let a = create_args(&spec(RaidLevel::Raid10, &["/dev/sdb", "/dev/sdc", "/dev/sdd", "/dev/sde"])).unwrap();
        assert!(a.contains(&"--layout=n2".to_owned()) && a.contains(&"--bitmap=internal".to_owned()));
    }

    #[test]
    fn create_refuses_an_invalid_spec() {
        let e = create_args(&spec(RaidLevel::Raid6, &["/dev/sdb", "/dev/sdc", "/dev/sdd"])).unwrap_err();
        assert_eq!(e.field, "devices");
        let e = create_args(&spec(RaidLevel::Raid1, &["/dev/sdb", "/dev/sdb"])).unwrap_err();
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn hostile_looking_values_stay_single_arguments() {
        // Valid, odd-looking names and by-id links: each must be exactly one argv element, and no
        // element may start with '-' unless it is an option this module wrote.
        let s = MdCreateSpec {
            name: name("x--run"),
            level: RaidLevel::Raid1,
            devices: vec![dev("/dev/disk/by-id/usb-Foo_Bar--force-0:0"), dev("/dev/sdb")],
            spares: vec![],
            chunk_kib: None,
        };
        let a = create_args(&s).unwrap();
        assert!(a.contains(&"/dev/md/x--run".to_owned()));
        assert!(a.contains(&"--name=x--run".to_owned()));
        assert!(a.contains(&"/dev/disk/by-id/usb-Foo_Bar--force-0:0".to_owned()));
        let ours = [
            "--create",
            "--name=",
            "--run",
            "--metadata=",
            "--level=",
            "--raid-devices=",
            "--bitmap=",
            "--spare-devices=",
            "--chunk=",
            "--layout=",
        ];
        for x in &a {
            assert!(!x.starts_with('-') || ours.iter().any(|o| x.starts_with(o)), "{x}");
            assert!(!x.contains(char::is_whitespace), "{x:?}");
        }
        // The device words mdadm treats specially cannot be devices at all.
        for word in ["failed", "detached", "faulty", "set-A", "--force", "-f"] {
            assert!(word.parse::<DevicePath>().is_err(), "{word}");
        }
    }

    #[test]
    fn queries_stop_and_zero() {
        let n = name("data");
        assert_eq!(detail_export_args(&n), ["--detail", "--export", "/dev/md/data"]);
        assert_eq!(detail_args(&n), ["--detail", "/dev/md/data"]);
        assert_eq!(detail_scan_args(), ["--detail", "--scan"]);
        assert_eq!(stop_args(&n), ["--stop", "/dev/md/data"]);
        assert_eq!(
            zero_superblock_args(&[dev("/dev/sdb"), dev("/dev/sdc")]),
            ["--zero-superblock", "/dev/sdb", "/dev/sdc"]
        );
    }

    #[test]
    fn assemble() {
        let n = name("data");
        let u = uuid("3dc613d5:9c8f7ad0:26ae4b4f:48533886");
        assert_eq!(
            assemble_args(&n, &AssembleFrom::Uuid(u), false),
            ["--assemble", "/dev/md/data", "--uuid=3dc613d5:9c8f7ad0:26ae4b4f:48533886"]
        );
        assert_eq!(
            assemble_args(&n, &AssembleFrom::Devices(vec![dev("/dev/sdb"), dev("/dev/sdc")]), true),
            ["--assemble", "/dev/md/data", "--run", "/dev/sdb", "/dev/sdc"]
        );
    }

    #[test]
    fn member_operations() {
        let n = name("data");
        let d = dev("/dev/sdb");
        assert_eq!(manage_args(&n, &d, &MdMemberOp::Add).unwrap(), ["--manage", "/dev/md/data", "--add", "/dev/sdb"]);
        assert_eq!(
            manage_args(&n, &d, &MdMemberOp::Remove).unwrap(),
            ["--manage", "/dev/md/data", "--remove", "/dev/sdb"]
        );
        assert_eq!(manage_args(&n, &d, &MdMemberOp::Fail).unwrap(), ["--manage", "/dev/md/data", "--fail", "/dev/sdb"]);
        assert_eq!(
            manage_args(&n, &d, &MdMemberOp::Replace { with: Some(dev("/dev/sdf")) }).unwrap(),
            ["--manage", "/dev/md/data", "--replace", "/dev/sdb", "--with", "/dev/sdf"]
        );
        assert_eq!(
            manage_args(&n, &d, &MdMemberOp::Replace { with: None }).unwrap(),
            ["--manage", "/dev/md/data", "--replace", "/dev/sdb"]
        );
        assert_eq!(
            manage_args(&n, &d, &MdMemberOp::Replace { with: Some(dev("/dev/sdb")) }).unwrap_err().field,
            "with"
        );
    }

    /// Debian 12's /etc/mdadm/mdadm.conf as mkconf wrote it (mdadm 4.2-5, captured on this project's
    /// machine), plus an administrator's ARRAY entry for a root array with a continuation line.
    fn admin_conf() -> String {
        let debian = include_str!("../../../../corenasd/src/storage/fixtures/mdadm/mdadm-conf-debian12.txt");
        format!(
            "{debian}\n# definitions of existing MD arrays\n\
             ARRAY /dev/md/0  metadata=1.2 UUID=31e74539:cb076ad3:d4a2c89a:3a07b503\n   name=machine01:0\n"
        )
    }

    fn pairs() -> Vec<(MdName, MdUuid)> {
        vec![
            (name("data"), uuid("3dc613d5:9c8f7ad0:26ae4b4f:48533886")),
            (name("media"), uuid("ce784e83:2dc5ad9b:876b1046:e049d026")),
        ]
    }

    #[test]
    fn conf_keeps_the_admins_lines_and_adds_ours() {
        let out = render_mdadm_conf(&pairs(), &admin_conf());
        let admin_text = admin_conf();
        assert!(out.starts_with(&admin_text), "{out}");
        assert!(out.ends_with(
            "\n# CoreNAS: managed array, rewritten by CoreNAS (do not edit this line or the next)\n\
             ARRAY /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886\n\
             # CoreNAS: managed array, rewritten by CoreNAS (do not edit this line or the next)\n\
             ARRAY /dev/md/media metadata=1.2 UUID=ce784e83:2dc5ad9b:876b1046:e049d026\n"
        ));
        let admin: Vec<&str> = admin_text.lines().collect();
        for l in out.lines() {
            assert!(admin.contains(&l) || line_is_expected(l) || l.is_empty(), "unexpected line {l:?}");
        }
    }

    #[test]
    fn conf_is_idempotent_and_replaces_our_old_lines() {
        let once = render_mdadm_conf(&pairs(), &admin_conf());
        assert_eq!(render_mdadm_conf(&pairs(), &once), once);
        // An array removed from CoreNAS loses its line; the admin's lines stay.
        let fewer = render_mdadm_conf(&pairs()[..1], &once);
        assert!(!fewer.contains("/dev/md/media") && fewer.contains("/dev/md/data"));
        assert!(
            fewer.contains(
                "ARRAY /dev/md/0  metadata=1.2 UUID=31e74539:cb076ad3:d4a2c89a:3a07b503\n   name=machine01:0\n"
            )
        );
        assert_eq!(render_mdadm_conf(&[], &fewer).trim_end(), admin_conf().trim_end());
        // A UUID that changed for the same name is replaced, not added twice.
        let moved = vec![(name("data"), uuid("00000000:11111111:22222222:33333333"))];
        let out = render_mdadm_conf(&moved, &once);
        assert_eq!(out.matches("/dev/md/data").count(), 1);
        assert!(out.contains("UUID=00000000:11111111:22222222:33333333"));
    }

    #[test]
    fn conf_drops_a_duplicate_admin_line_for_our_array() {
        // The line `mdadm --detail --scan --verbose` wrote (real, from SeriousReasons/OTUS class_2),
        // for an array CoreNAS now manages under its own name: left in, mdadm would see it twice.
        let admin = include_str!("../../../../corenasd/src/storage/fixtures/mdadm/mdadm-conf-otus.txt");
        let ours = vec![(name("media"), uuid("ce784e83:2dc5ad9b:876b1046:e049d026"))];
        let out = render_mdadm_conf(&ours, admin);
        assert_eq!(out.matches("ce784e83:2dc5ad9b:876b1046:e049d026").count(), 1, "{out}");
        assert!(out.starts_with("DEVICE partitions\n"));
        // An admin ARRAY line for a different array, written with continuation lines, is kept whole.
        let other = "ARRAY /dev/md0 level=raid5 num-devices=6\n  UUID=b1eae2ff:69b6b02e:1d63bb53:ddfa6e4a\n";
        let out = render_mdadm_conf(&ours, other);
        assert!(out.starts_with(other));
    }

    #[test]
    fn conf_from_nothing() {
        let out = render_mdadm_conf(&pairs()[..1], "");
        assert_eq!(
            out,
            format!("{CONF_MARKER}\nARRAY /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886\n")
        );
        assert_eq!(render_mdadm_conf(&[], ""), "");
        // No trailing newline in the admin's file: ours still start on their own line.
        let out = render_mdadm_conf(&pairs()[..1], "MAILADDR root");
        assert!(out.starts_with("MAILADDR root\n\n# CoreNAS"));
    }

    #[test]
    fn expected_line_grammar() {
        assert!(line_is_expected(CONF_MARKER));
        assert!(line_is_expected("ARRAY /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886"));
        for bad in [
            "",
            "ARRAY /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886 ",
            "ARRAY /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886 name=x:y",
            "ARRAY /dev/md/Data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886",
            "ARRAY /dev/md0 metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886",
            "ARRAY /dev/md/data metadata=0.90 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886",
            "ARRAY /dev/md/data metadata=1.2 UUID=nope",
            "ARRAY  /dev/md/data metadata=1.2 UUID=3dc613d5:9c8f7ad0:26ae4b4f:48533886",
            "PROGRAM /bin/sh",
            "# CoreNAS",
        ] {
            assert!(!line_is_expected(bad), "{bad:?}");
        }
    }
}
