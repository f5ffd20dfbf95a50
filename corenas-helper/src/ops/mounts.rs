//! Mounts as systemd units: the helper writes `.mount` (and `.automount`) units rendered from
//! typed data, checks them with `systemd-analyze verify` under their real names before they
//! replace anything, enables permanent ones (the `.wants/` link `systemctl enable` would make),
//! and has systemd reload and start them. CIFS passwords go to a 0600 root file.
//!
//! In the lab (a root prefix) the units land under the prefix, where the host's systemd never
//! reads them: nothing is started, and the report says so. The exception is a test's private
//! systemd whose unit path holds the prefix's directories (`--systemd-reads-prefix`).

use super::{Ctx, files};
use crate::exec::{self, Invocation, Program};
use crate::render::{self, unit};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::mounts::{MountDef, MountSource};
use corenas_proto::{ErrorCode, WireError};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct UnitFile {
    path: PathBuf,
    old: Option<String>,
    new: String,
}

enum Plan {
    Write {
        def: MountDef,
        units: Vec<UnitFile>,
        credentials: Option<(PathBuf, String)>,
        wants: Option<(PathBuf, String)>,
    },
    Remove {
        def: MountDef,
        files: Vec<PathBuf>,
    },
    Start {
        units: Vec<String>,
    },
}

pub struct MountPlan {
    plan: Plan,
    /// systemd manages the units written (production with systemd as PID 1).
    systemd: bool,
}

/// Whether systemd is PID 1 and reads the units the helper writes: only on the real root (a lab
/// prefix is never read by the host's systemd) or, in tests, when told that the systemd of the
/// helper's mount namespace reads the prefix's unit directories; and only when that namespace
/// was booted with systemd.
pub fn systemd_manages(ctx: &Ctx) -> bool {
    (ctx.paths.is_host() || ctx.systemd_reads_prefix) && Path::new("/run/systemd/system").is_dir()
}

fn systemctl(args: &[&str]) -> Invocation {
    Invocation::of(Program::SystemCtl).args(args.iter().copied())
}

fn unit_names(def: &MountDef) -> (String, Option<String>) {
    (def.unit_name(), def.automount.then(|| unit::automount_name(def)))
}

/// The unit that is enabled and started: the automount when there is one.
fn started_unit(def: &MountDef) -> String {
    let (m, a) = unit_names(def);
    a.unwrap_or(m)
}

fn wants_link(ctx: &Ctx, def: &MountDef) -> PathBuf {
    ctx.paths.inside(&format!("/etc/systemd/system/{}.wants/{}", unit::wanted_by(def), started_unit(def)))
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<MountPlan, WireError> {
    let systemd = systemd_manages(ctx);
    let plan = match op {
        HelperOp::MountWrite { def } => {
            corenas_proto::mounts::check_timeout(def.timeout_secs)?;
            let dir = unit::unit_dir(def);
            let (m, a) = unit_names(def);
            let mut units = Vec::new();
            let mut add = |name: &str, text: String| -> Result<(), WireError> {
                let path = ctx.paths.inside(&format!("{dir}/{name}"));
                units.push(UnitFile { old: files::read_optional(&path)?, path, new: text });
                Ok(())
            };
            // Defence in depth: every rendered line follows the unit grammar.
            let mut add = |name: &str, text: String| -> Result<(), WireError> {
                if let Some(bad) = text.lines().find(|l| !unit::line_is_expected(l)) {
                    return Err(WireError::internal(format!("refusing to write {name}: unexpected line {bad:?}")));
                }
                add(name, text)
            };
            add(&m, unit::mount_unit(def))?;
            if let Some(a) = a {
                add(&a, unit::automount_unit(def))?;
            }
            let credentials = unit::credentials(def).map(|c| (ctx.paths.inside(&unit::credentials_path(def)), c));
            let wants = (!def.temporary).then(|| (wants_link(ctx, def), format!("../{}", started_unit(def))));
            Plan::Write { def: def.clone(), units, credentials, wants }
        }
        HelperOp::MountRemove { def } => {
            let dir = unit::unit_dir(def);
            let (m, a) = unit_names(def);
            let mut files = vec![ctx.paths.inside(&format!("{dir}/{m}"))];
            if let Some(a) = a {
                files.push(ctx.paths.inside(&format!("{dir}/{a}")));
            }
            files.push(wants_link(ctx, def));
            files.push(ctx.paths.inside(&unit::credentials_path(def)));
            Plan::Remove { def: def.clone(), files }
        }
        HelperOp::MountStart { targets } => {
            Plan::Start { units: targets.iter().map(|t| format!("{}.mount", t.unit_stem())).collect() }
        }
        _ => return Err(WireError::internal(format!("{} is not a mount operation", op.name()))),
    };
    Ok(MountPlan { plan, systemd })
}

/// A `MountWrite` that came over the wire is checked again here, whatever corenasd checked: the
/// unit is started by PID 1, which mounts `What=` as given (rule 1). The storage operations
/// build their own pool and dataset units from devices they have just checked, and do not come
/// through here.
pub fn check_request(ctx: &Ctx, def: &MountDef) -> Result<(), WireError> {
    match &def.source {
        MountSource::Local { device, .. } => {
            let accepted = "a local mount takes a free disk or partition: not mounted, not swap, not a RAID, LVM or \
                            pool member, and not the system disk";
            let dev = super::device::resolve(device).map_err(|e| WireError { field: Some("source".into()), ..e })?;
            if super::device::on_system_disk(&dev) {
                return Err(WireError::invalid(
                    "source",
                    format!("device {device} is on the system disk (the disk holding /); {accepted}"),
                ));
            }
            let reasons = super::device::in_use(&dev);
            if !reasons.is_empty() {
                return Err(WireError {
                    field: Some("source".into()),
                    ..WireError::new(
                        ErrorCode::Busy,
                        format!("device {device} is in use: {}; {accepted}", reasons.join("; ")),
                    )
                });
            }
        }
        MountSource::Bind { source } => {
            let s = source.as_str();
            let root = ["/mnt/corenas", "/storage"]
                .into_iter()
                .find(|r| s.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
                .ok_or_else(|| {
                    WireError::invalid(
                        "source",
                        format!("bind source {s}: use a path beneath /mnt/corenas or /storage"),
                    )
                })?;
            let bad = |why: String| {
                WireError::invalid(
                    "source",
                    format!(
                        "bind source {s}: {why}; a bind mount takes an existing directory beneath {root}, reached \
                         without symbolic links and without crossing a mount CoreNAS did not make"
                    ),
                )
            };
            let host_root = ctx.paths.inside(root);
            let root_fd = rustix::fs::open(
                &host_root,
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| bad(format!("{root} cannot be opened ({e})")))?;
            // openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from the root,
            // one component at a time: a link planted anywhere in the path is refused.
            let fd = super::acl::open_within(
                &ctx.paths,
                &root_fd,
                root,
                &s[root.len() + 1..],
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
                s,
            )
            .map_err(|e| bad(e.message))?;
            drop(fd);
        }
        MountSource::Zfs { .. } => {
            return Err(WireError::invalid(
                "source",
                "ZFS datasets are mounted by the storage operations (pool and dataset create), not by a mount request",
            ));
        }
        MountSource::Nfs { .. } | MountSource::Cifs { .. } => {}
    }
    Ok(())
}

/// This helper's own scratch directory (one per role, so the two production helpers never
/// clear each other's candidate); see `Paths::verify_dir`.
fn verify_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.verify_dir()
}

/// Empties the scratch directory (it stays: landlock and the storage unit name it exactly).
fn clear_dir(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let _ = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

impl MountPlan {
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        match &self.plan {
            Plan::Write { def, units, credentials, wants } => {
                for u in units {
                    steps.push(
                        Invocation::of(Program::SystemdAnalyze)
                            .args(["verify".to_owned(), u.path.display().to_string()])
                            .step(),
                    );
                    let shown = u.path.display().to_string();
                    steps.push(Step::WriteFile {
                        diff: render::diff::unified(&shown, u.old.as_deref(), &u.new),
                        path: shown,
                    });
                }
                if let Some((p, _)) = credentials {
                    steps.push(Step::WriteFile {
                        path: p.display().to_string(),
                        diff: "(mode 0600, root only; the password is not shown)".into(),
                    });
                }
                if let Some((link, to)) = wants {
                    steps.push(Step::WriteFile {
                        path: link.display().to_string(),
                        diff: format!("(symbolic link to {to}: enabled at boot)"),
                    });
                }
                if self.systemd {
                    steps.push(systemctl(&["daemon-reload"]).step());
                    steps.push(systemctl(&["restart", "--", &started_unit(def)]).step());
                }
            }
            Plan::Remove { def, files } => {
                if self.systemd {
                    let (m, a) = unit_names(def);
                    let mut args = vec!["stop", "--"];
                    if let Some(a) = &a {
                        args.push(a);
                    }
                    args.push(&m);
                    steps.push(systemctl(&args).step());
                }
                steps.extend(files.iter().map(|f| Step::RemoveFile { path: f.display().to_string() }));
                if self.systemd {
                    steps.push(systemctl(&["daemon-reload"]).step());
                }
            }
            Plan::Start { units } => {
                if self.systemd {
                    for u in units {
                        steps.push(systemctl(&["reset-failed", "--", u]).step());
                        steps.push(systemctl(&["start", "--", u]).step());
                    }
                }
            }
        }
        steps
    }

    pub async fn apply(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        let mut warnings = Vec::new();
        let not_managed = || {
            if ctx.paths.is_host() {
                "systemd is not running as PID 1 here: the unit is written and takes effect when the system boots with systemd".to_owned()
            } else {
                "lab: the unit is written under the lab's root prefix, which the host's systemd does not read; nothing was mounted".to_owned()
            }
        };
        match self.plan {
            Plan::Write { def, units, credentials, wants } => {
                for u in &units {
                    verify(ctx, u).await?;
                }
                if let Some((path, text)) = &credentials {
                    ensure_dir(path.parent(), 0o700)?;
                    files::replace_file(path, text.as_bytes(), 0o600)?;
                }
                for u in &units {
                    ensure_dir(u.path.parent(), 0o755)?;
                    files::replace_file(&u.path, u.new.as_bytes(), 0o644)?;
                }
                if let Some((link, to)) = &wants {
                    ensure_dir(link.parent(), 0o755)?;
                    match std::fs::read_link(link) {
                        Ok(t) if t == Path::new(to) => {}
                        _ => {
                            let _ = std::fs::remove_file(link);
                            std::os::unix::fs::symlink(to, link)
                                .map_err(|e| WireError::internal(format!("cannot link {}: {e}", link.display())))?;
                        }
                    }
                }
                if self.systemd {
                    exec::run(&systemctl(&["daemon-reload"])).await?;
                    let timeout = Duration::from_secs(u64::from(def.timeout_secs) + 15);
                    let unit = started_unit(&def);
                    if let Err(e) = exec::run_with_timeout(&systemctl(&["restart", "--", &unit]), timeout).await {
                        // All or nothing: a mount that does not start is not left behind to be
                        // tried at every boot with no record of it in CoreNAS.
                        let _ = exec::run(&systemctl(&["stop", "--", &unit])).await;
                        for u in &units {
                            restore(&u.path, u.old.as_deref(), 0o644);
                        }
                        if let Some((link, _)) = &wants {
                            let _ = std::fs::remove_file(link);
                        }
                        if let Some((path, _)) = &credentials {
                            let _ = std::fs::remove_file(path);
                        }
                        let _ = exec::run(&systemctl(&["daemon-reload"])).await;
                        let _ = exec::run(&systemctl(&["reset-failed", "--", &unit])).await;
                        return Err(WireError::new(
                            e.code,
                            format!(
                                "{unit} did not start, so it was removed again: {} (journalctl -u {unit} says why)",
                                e.message
                            ),
                        ));
                    }
                } else if let Some(lab) = lab_local(ctx, &def) {
                    let (device, target, fs) = lab?;
                    ensure_dir(Some(&target), 0o755)?;
                    lab_unmount_all(ctx, &target)?;
                    ctx.lab_mounter.as_ref().map_or(Ok(()), |m| m.mount(&device, &target, fs))?;
                    warnings.push(
                        "lab: no systemd runs here, so the lab-only fallback mounted it (the unit is written and verified)"
                            .to_owned(),
                    );
                } else {
                    warnings.push(not_managed());
                }
            }
            Plan::Remove { def, files } => {
                if !self.systemd {
                    if let Some(lab) = lab_local(ctx, &def) {
                        let (_, target, _) = lab?;
                        lab_unmount_all(ctx, &target)?;
                    }
                }
                if self.systemd {
                    let (m, a) = unit_names(&def);
                    let mut args = vec!["stop", "--"];
                    if let Some(a) = &a {
                        args.push(a);
                    }
                    args.push(&m);
                    exec::run_with_timeout(&systemctl(&args), Duration::from_secs(u64::from(def.timeout_secs) + 15))
                        .await?;
                }
                for f in &files {
                    match std::fs::remove_file(f) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(WireError::internal(format!("cannot remove {}: {e}", f.display()))),
                    }
                }
                if self.systemd {
                    exec::run(&systemctl(&["daemon-reload"])).await?;
                } else {
                    warnings.push(not_managed());
                }
            }
            Plan::Start { units } => {
                if !self.systemd {
                    warnings.push(not_managed());
                }
                let mut failed = Vec::new();
                for u in units.iter().filter(|_| self.systemd) {
                    let _ = exec::run(&systemctl(&["reset-failed", "--", u])).await;
                    if let Err(e) =
                        exec::run_with_timeout(&systemctl(&["start", "--", u]), Duration::from_secs(620)).await
                    {
                        failed.push(format!("{u}: {}", e.message));
                    }
                }
                if !failed.is_empty() {
                    return Err(WireError::new(ErrorCode::ToolFailed, format!("not started: {}", failed.join("; "))));
                }
            }
        }
        Ok(warnings)
    }
}

/// For a local filesystem in the lab with `--lab-mounts`: the resolved device node, the target
/// under the prefix and the filesystem type.
fn lab_local(ctx: &Ctx, def: &MountDef) -> Option<Result<(PathBuf, PathBuf, &'static str), WireError>> {
    ctx.lab_mounter.as_ref()?;
    let MountSource::Local { device, fs } = &def.source else { return None };
    Some(super::device::resolve(device).map(|d| (d.path, ctx.paths.inside(def.target.as_str()), fs.as_str())))
}

/// Unmounts whatever is stacked on `target` (a crashed run may have left a mount behind).
fn lab_unmount_all(ctx: &Ctx, target: &Path) -> Result<(), WireError> {
    let Some(m) = &ctx.lab_mounter else { return Ok(()) };
    let mounted = |t: &Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|info| info.lines().any(|l| l.split(' ').nth(4) == Some(&*t.to_string_lossy())))
            .unwrap_or(false)
    };
    for _ in 0..8 {
        if !mounted(target) {
            return Ok(());
        }
        m.unmount(target)?;
    }
    Err(WireError::internal(format!("{} is still mounted", target.display())))
}

/// Puts back what a file held before (or removes it if it did not exist); best effort.
fn restore(path: &Path, old: Option<&str>, mode: u32) {
    match old {
        Some(text) => {
            let _ = files::replace_file(path, text.as_bytes(), mode);
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn ensure_dir(dir: Option<&Path>, mode: u32) -> Result<(), WireError> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = dir else { return Ok(()) };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| WireError::internal(format!("cannot create {}: {e}", dir.display())))
}

/// `systemd-analyze verify` needs the file under its unit name: it is checked in a private
/// directory first; unknown keys (which systemd only warns about) count as errors.
async fn verify(ctx: &Ctx, u: &UnitFile) -> Result<(), WireError> {
    let dir = verify_dir(ctx);
    ensure_dir(Some(&dir), 0o700)?;
    clear_dir(&dir);
    let name = u.path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    let candidate = dir.join(name);
    let result = async {
        std::fs::write(&candidate, &u.new)
            .map_err(|e| WireError::internal(format!("cannot write {}: {e}", candidate.display())))?;
        let cmd = Invocation::of(Program::SystemdAnalyze).args(["verify".to_owned(), candidate.display().to_string()]);
        let out = exec::run(&cmd).await?;
        exec::refuse_warnings(&out, &["unknown", "ignoring", "failed"], "systemd-analyze verify refused the unit")
    }
    .await;
    clear_dir(&dir);
    result
}
