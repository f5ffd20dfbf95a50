//! `BackupRestore`: restic restores as root into a fresh directory the helper makes beneath the
//! destination (`openat2`, no links, no other mounts) and hands to restic as its stdin, so restic
//! writes through `/proc/self/fd/0` and never follows a path a share user could change. InPlace
//! then moves each item into its place with `renameat` between directories opened the same way,
//! keeping what was there as `<name>.before-restore-<job>`.
//!
//! Where it runs: as a child of the helper, one long request (restic 0.14 prints no restore
//! progress). That needs CAP_CHOWN (restic restores owners) and, for a remote target, the
//! network: the lab's helper has both; the production storage helper has neither (no CHOWN,
//! PrivateNetwork, landlock without TCP), so there a restore must run as a transient unit,
//! which this build does not do yet: it is refused with that reason.

use super::repo;
use super::source::{self, RESOLVE};
use super::{JobDirs, fresh_dir, new_file};
use crate::exec::{Invocation, Program};
use crate::ops::Ctx;
use corenas_proto::backup::{
    BackupJobId, RepoAccess, ResticSnapshotId, RestoreDestination, RestoreMode, SnapshotPath, TargetLocation,
};
use corenas_proto::helper::Step;
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags, RenameFlags};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Longest a restore may take before restic is killed.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub struct RestorePlan {
    pub job: BackupJobId,
    pub repo: RepoAccess,
    pub snapshot: ResticSnapshotId,
    pub paths: Vec<SnapshotPath>,
    pub destination: RestoreDestination,
    pub mode: RestoreMode,
}

fn fresh_name(job: &BackupJobId, mode: RestoreMode) -> String {
    match mode {
        RestoreMode::NewFolder => format!("restore-{job}"),
        RestoreMode::InPlace => format!(".corenas-restore-{job}"),
    }
}

/// The paths to restore, without those inside another one asked for ("/" alone: everything).
fn top_paths(paths: &[SnapshotPath]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().map(|p| p.as_str().to_owned()).collect();
    v.sort();
    v.dedup();
    if v.iter().any(|p| p == "/") {
        return vec!["/".into()];
    }
    let all = v.clone();
    v.retain(|p| !all.iter().any(|q| q != p && p.starts_with(&format!("{q}/"))));
    v
}

/// A path as a restic include pattern: glob characters escaped, so it matches itself only.
fn include_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn argv(plan: &RestorePlan) -> Vec<String> {
    let mut v = vec![
        "restore".to_owned(),
        plan.snapshot.to_string(),
        "--target".into(),
        "/proc/self/fd/0".into(),
        // A root-owned cache would break the runners' (corenasd's) cache.
        "--no-cache".into(),
    ];
    v.extend(repo::location_options(&plan.repo, None));
    for p in top_paths(&plan.paths) {
        if p != "/" {
            v.extend(["--include".into(), include_pattern(&p)]);
        }
    }
    v
}

impl RestorePlan {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let name = fresh_name(&self.job, self.mode);
        let dirs = JobDirs::of(ctx, &self.job);
        let mut s = vec![
            Step::Check {
                what: "resolve the destination's pool or dataset and subpath (no links, no other mounts)".into(),
            },
            Step::PrepareDir {
                path: format!("<destination>/{name}"),
                owner: "root".into(),
                group: "root".into(),
                mode: "0700".into(),
            },
            Step::WriteFile {
                path: dirs.credentials.join("repository").display().to_string(),
                diff: "<redacted>".into(),
            },
            Step::WriteFile {
                path: dirs.credentials.join("password").display().to_string(),
                diff: "<redacted>".into(),
            },
            Step::Exec {
                program: Program::Restic.path().into(),
                args: argv(self),
                stdin: corenas_proto::helper::StdinPlan::Secret(format!(
                    "none; stdin is <destination>/{name}, opened by the helper"
                )),
            },
        ];
        s.push(Step::Check {
            what: match self.mode {
                RestoreMode::NewFolder => format!("give <destination>/{name} the destination's owner, group and mode"),
                RestoreMode::InPlace => format!(
                    "renameat each restored item into its place (what was there kept as <name>.before-restore-{}), then remove <destination>/{name}",
                    self.job
                ),
            },
        });
        s
    }

    pub async fn run(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        if crate::transient::systemd_is_pid1() {
            return Err(WireError::new(
                ErrorCode::InvalidState,
                "a restore needs CAP_CHOWN and the network, which the storage helper does not hold; it runs as a \
                 transient unit, which this build does not do yet",
            ));
        }
        if !matches!(self.repo.location, TargetLocation::Local { .. }) {
            return Err(WireError::new(
                ErrorCode::InvalidState,
                "this build restores from local repositories only (the helper has no network)",
            ));
        }
        let resolved = source::resolve(ctx, &self.destination.source).await?;
        let dest = source::open_beneath(resolved.live_dir(), self.destination.subpath.as_ref())?;
        let name = fresh_name(&self.job, self.mode);
        match rustix::fs::mkdirat(&dest, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return Err(WireError::new(
                    ErrorCode::AlreadyExists,
                    format!("{name} exists at the destination: this restore ran already; look at it, then remove it"),
                ));
            }
            Err(e) => return Err(WireError::internal(format!("creating {name}: {e}"))),
        }
        let fresh = rustix::fs::openat2(
            &dest,
            name.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(|e| WireError::internal(format!("opening {name}: {e}")))?;
        let dirs = JobDirs::of(ctx, &self.job);
        fresh_dir(&dirs.dir, 0o700, Some(0))?;
        let result = self.restore_into(ctx, &dirs, fresh, &dest, &name).await;
        let _ = std::fs::remove_dir_all(&dirs.dir);
        result
    }

    async fn restore_into(
        &self,
        ctx: &Ctx,
        dirs: &JobDirs,
        fresh: OwnedFd,
        dest: &OwnedFd,
        name: &str,
    ) -> Result<Vec<String>, WireError> {
        fresh_dir(&dirs.credentials, 0o700, Some(0))?;
        let local = |p: &str| ctx.paths.inside(p);
        let files = repo::credential_files(&self.repo, &local, None)?;
        let mut env = Vec::new();
        for f in &files {
            let path = dirs.credentials.join(f.name);
            new_file(&path, (0, 0), 0o600, &f.content)?;
            if let Some(e) = f.env {
                env.push((e, path.display().to_string()));
            }
        }
        let mut cmd = Invocation::of(Program::Restic).args(argv(self)).env(env);
        cmd.dir_on_stdin = Some(fresh.try_clone().map_err(|e| WireError::internal(format!("{name}: {e}")))?);
        crate::exec::run_with_timeout(&cmd, RESTORE_TIMEOUT).await?;
        match self.mode {
            RestoreMode::NewFolder => {
                // Readable as the destination is: its owner, group and mode.
                let st = rustix::fs::fstat(dest).map_err(|e| WireError::internal(e.to_string()))?;
                rustix::fs::fchown(&fresh, Some(uid(st.st_uid)), Some(gid(st.st_gid)))
                    .and_then(|()| rustix::fs::fchmod(&fresh, Mode::from_raw_mode(st.st_mode & 0o7777)))
                    .map_err(|e| WireError::internal(format!("{name}: {e}")))?;
                Ok(Vec::new())
            }
            RestoreMode::InPlace => {
                let mut warnings = Vec::new();
                for p in top_paths(&self.paths) {
                    place(&fresh, dest, &p, &self.job, &mut warnings)?;
                }
                remove_empty(&fresh);
                if let Err(e) = rustix::fs::unlinkat(dest, name, rustix::fs::AtFlags::REMOVEDIR) {
                    warnings.push(format!("{name} was left at the destination: {e}"));
                }
                Ok(warnings)
            }
        }
    }
}

fn uid(n: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(n)
}
fn gid(n: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(n)
}

fn open_dir_beneath(dir: &OwnedFd, rel: &str) -> Result<Option<OwnedFd>, WireError> {
    let rel = if rel.is_empty() { "." } else { rel };
    match rustix::fs::openat2(
        dir,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(WireError::not_allowed(format!(
            "'{rel}' at the destination cannot be used: {e} (a link or another mount is on the way); refusing"
        ))),
    }
}

/// Whether `name` exists in `dir` (not following a link).
fn exists(dir: &OwnedFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// Moves the restored `path` (or every top-level item for "/") into place. The first component
/// missing at the destination moves whole; an item that exists is renamed aside first.
fn place(
    fresh: &OwnedFd,
    dest: &OwnedFd,
    path: &str,
    job: &BackupJobId,
    warnings: &mut Vec<String>,
) -> Result<(), WireError> {
    if path == "/" {
        let names: Vec<String> = rustix::fs::Dir::read_from(fresh)
            .map_err(|e| WireError::internal(e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .collect();
        for n in names {
            place(fresh, dest, &format!("/{n}"), job, warnings)?;
        }
        return Ok(());
    }
    let comps: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for i in 0..comps.len() {
        let parent = comps[..i].join("/");
        let name = comps[i];
        let last = i + 1 == comps.len();
        let (Some(from), Some(to)) = (open_dir_beneath(fresh, &parent)?, open_dir_beneath(dest, &parent)?) else {
            warnings.push(format!("{path}: its directory is not at the destination; left in the restore folder"));
            return Ok(());
        };
        if !exists(&from, name) {
            warnings.push(format!("{path} is not in the snapshot"));
            return Ok(());
        }
        if !exists(&to, name) {
            return rename(&from, name, &to, name);
        }
        if last {
            let aside = format!("{name}.before-restore-{job}");
            rename(&to, name, &to, &aside)?;
            return rename(&from, name, &to, name);
        }
    }
    Ok(())
}

fn rename(from: &OwnedFd, a: &str, to: &OwnedFd, b: &str) -> Result<(), WireError> {
    rustix::fs::renameat_with(from, a, to, b, RenameFlags::NOREPLACE)
        .map_err(|e| WireError::new(ErrorCode::ToolFailed, format!("moving {a} into place as {b}: {e}")))
}

/// Removes the directories left in the (root-only) restore folder once their items moved out.
fn remove_empty(dir: &OwnedFd) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else { return };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type() == rustix::fs::FileType::Directory)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    for n in names {
        if let Ok(sub) = rustix::fs::openat2(
            dir,
            n.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            remove_empty(&sub);
        }
        let _ = rustix::fs::unlinkat(dir, n.as_str(), rustix::fs::AtFlags::REMOVEDIR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_paths_collapse_and_globs_are_escaped() {
        let p = |v: &[&str]| v.iter().map(|s| s.parse::<SnapshotPath>().unwrap()).collect::<Vec<_>>();
        assert_eq!(top_paths(&p(&["/docs/a.txt", "/docs", "/b"])), ["/b", "/docs"]);
        assert_eq!(top_paths(&p(&["/docs", "/"])), ["/"]);
        assert_eq!(top_paths(&p(&["/docsx", "/docs"])), ["/docs", "/docsx"]);
        assert_eq!(include_pattern("/a*b/[x]?.txt"), "/a\\*b/\\[x\\]\\?.txt");
    }
}
