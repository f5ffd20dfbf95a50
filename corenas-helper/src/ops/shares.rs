//! Shares: the share directory (created, owned, moded, ACLs) and publishing the SMB include file
//! and the NFS exports file. Files are written to a temporary name, checked, then renamed over
//! the old ones, so a helper killed at any point leaves the old file or the new one, complete.

use super::accounts::Accounts;
use super::{Action, Ctx, acl, files};
use crate::exec::{self, Invocation, Program};
use crate::render;
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::names::StoragePath;
use corenas_proto::shares::{FileMode, ShareConfig, ShareSet};
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags};
use std::collections::HashSet;
use std::path::PathBuf;

/// A file the plan replaces: where, what is there now, what will be.
pub struct FileChange {
    pub path: PathBuf,
    pub old: Option<String>,
    pub new: String,
}

impl FileChange {
    fn step(&self) -> Step {
        let shown = self.path.display().to_string();
        Step::WriteFile { diff: render::diff::unified(&shown, self.old.as_deref(), &self.new), path: shown }
    }
}

pub struct PublishPlan {
    set: ShareSet,
    smb: Option<FileChange>,
    smb_conf: Option<FileChange>,
    nfs: Option<FileChange>,
    /// NFS shares rendered with `no_subtree_check` (their path is a whole filesystem); checked
    /// again when the files are written.
    whole_fs: HashSet<String>,
    /// exportfs cannot see the lab prefix's exports (no mount namespace): skipped, and said.
    exportfs: bool,
}

pub struct DirPlan {
    path: StoragePath,
    uid: u32,
    gid: u32,
    owner: String,
    group: String,
    mode: u32,
    acl: Option<HelperOp>,
}

fn testparm(file: &std::path::Path) -> Invocation {
    Invocation::of(Program::TestParm).args(["-s".to_owned(), "--suppress-prompt".into(), file.display().to_string()])
}

fn smbcontrol(ctx: &Ctx) -> Invocation {
    Invocation::of(Program::SmbControl)
        .args(["-s".to_owned(), ctx.paths.smb_conf().display().to_string(), "smbd".into(), "reload-config".into()])
        .env(ctx.paths.nss_env())
}

fn exportfs(args: &[&str]) -> Invocation {
    Invocation::of(Program::ExportFs).args(args.iter().copied())
}

/// Each share's directory exists beneath the share root, reached without links. Checked when
/// the files are written (a dry run of a new share comes before its directory exists).
fn check_dirs(ctx: &Ctx, set: &ShareSet) -> Result<(), WireError> {
    for s in &set.shares {
        let (root, rel) = acl::locate(ctx, &s.path.as_share_path())?;
        let (_fd, is_dir) = acl::open_beneath(&ctx.paths, &root, &rel, s.path.as_str())?;
        if !is_dir {
            return Err(WireError::invalid("path", format!("share '{}': {} is not a directory", s.name, s.path)));
        }
    }
    Ok(())
}

/// Whether a share's directory is the root of a whole filesystem: the root of its mount
/// (statx `STATX_ATTR_MOUNT_ROOT`) and that mount shows the filesystem from its own root
/// (mountinfo's root field is `/`). A bind mount of a subdirectory, or a btrfs subvolume
/// mounted with `subvol=`, is a mount root too, but a forged handle still names any inode of
/// the filesystem beneath it; only a whole filesystem may go without `subtree_check`
/// (render/exports.rs says why).
fn whole_filesystem(ctx: &Ctx, path: &StoragePath) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    let Ok((root, rel)) = acl::locate(ctx, &path.as_share_path()) else { return false };
    let Ok((fd, true)) = acl::open_beneath(&ctx.paths, &root, &rel, path.as_str()) else { return false };
    let Ok(st) = rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW, StatxFlags::MNT_ID) else {
        return false;
    };
    let mount_root = st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
        && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
    if !mount_root || !StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::MNT_ID) {
        return false;
    }
    let id = st.stx_mnt_id.to_string();
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines().any(|l| {
            let mut f = l.split(' ');
            f.next() == Some(id.as_str()) && f.nth(2) == Some("/")
        })
    })
}

/// The NFS shares whose path is a whole filesystem now.
fn whole_fs_shares(ctx: &Ctx, set: &ShareSet) -> HashSet<String> {
    set.shares
        .iter()
        .filter(|s| s.nfs.as_ref().is_some_and(|n| !n.rules.is_empty()) && whole_filesystem(ctx, &s.path))
        .map(|s| s.name.to_string())
        .collect()
}

/// The helper's own checks of a share set, whatever corenasd says: unique names and every named
/// account exists.
fn check_set(ctx: &Ctx, set: &ShareSet) -> Result<(), WireError> {
    let mut names = HashSet::new();
    let acc = Accounts::load(ctx)?;
    for s in &set.shares {
        if !names.insert(s.name.as_str()) {
            return Err(WireError::new(ErrorCode::AlreadyExists, format!("share '{}' appears twice", s.name)));
        }
        if let Some(smb) = &s.smb {
            for u in smb.valid_users.iter().chain(&smb.admin_users) {
                if acc.user(u.as_str()).is_none() {
                    return Err(WireError::invalid("user", format!("share '{}': user '{u}' does not exist", s.name)));
                }
            }
            for g in &smb.valid_groups {
                if acc.group(g.as_str()).is_none() {
                    return Err(WireError::invalid("group", format!("share '{}': group '{g}' does not exist", s.name)));
                }
            }
        }
    }
    Ok(())
}

fn host_path(ctx: &Ctx) -> impl Fn(&str) -> String + '_ {
    |p| ctx.paths.inside(p).display().to_string()
}

pub fn plan_publish(ctx: &Ctx, set: &ShareSet) -> Result<PublishPlan, WireError> {
    check_set(ctx, set)?;
    let change = |path: PathBuf, new: String| -> Result<Option<FileChange>, WireError> {
        let old = files::read_optional(&path)?;
        Ok((old.as_deref() != Some(new.as_str())).then_some(FileChange { path, old, new }))
    };
    let smb_text = render::smb::render(set, host_path(ctx));
    let smb = change(ctx.paths.smb_include(), smb_text)?;
    let include = ctx.paths.smb_include().display().to_string();
    let smb_conf = match files::read_optional(&ctx.paths.smb_conf())? {
        Some(conf) => change(ctx.paths.smb_conf(), render::smb::with_include(&conf, &include))?,
        None if set.shares.iter().any(|s| s.smb.is_some()) || set.homes => {
            return Err(WireError::new(
                ErrorCode::ToolFailed,
                format!("{} does not exist: install samba to serve SMB shares", ctx.paths.smb_conf().display()),
            ));
        }
        None => None,
    };
    let whole_fs = whole_fs_shares(ctx, set);
    let whole_path = |p: &str| set.shares.iter().any(|s| s.path.as_str() == p && whole_fs.contains(s.name.as_str()));
    let nfs = change(ctx.paths.exports(), render::exports::render(set, host_path(ctx), whole_path))?;
    // Defence in depth: every line must follow the renderers' grammar, whatever the input was.
    for (c, ok) in
        [(&smb, render::smb::line_is_expected as fn(&str) -> bool), (&nfs, render::exports::line_is_expected)]
    {
        if let Some(c) = c {
            if let Some(bad) = c.new.lines().find(|l| !ok(l)) {
                return Err(WireError::internal(format!(
                    "refusing to write {}: unexpected line {bad:?}",
                    c.path.display()
                )));
            }
        }
    }
    Ok(PublishPlan { set: set.clone(), smb, smb_conf, nfs, whole_fs, exportfs: ctx.paths.exportfs_sees_ours() })
}

impl PublishPlan {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(c) = &self.smb {
            steps.push(testparm(&files::temp_path(&c.path)).step());
            steps.push(c.step());
        }
        if let Some(c) = &self.smb_conf {
            steps.push(testparm(&files::temp_path(&c.path)).step());
            steps.push(c.step());
        }
        if self.smb.is_some() || self.smb_conf.is_some() {
            steps.push(smbcontrol(ctx).step());
        }
        if let Some(c) = &self.nfs {
            steps.push(c.step());
            if self.exportfs {
                steps.push(exportfs(&["-ra"]).step());
            }
        }
        steps
    }

    /// Runs the plan; returns warnings for the admin.
    pub async fn apply(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        let mut warnings = Vec::new();
        // Leftovers of a helper killed mid-write are swept, even when nothing else changes.
        for f in [ctx.paths.smb_include(), ctx.paths.smb_conf(), ctx.paths.exports()] {
            let _ = std::fs::remove_file(files::temp_path(&f));
        }
        check_dirs(ctx, &self.set)?;
        let now = whole_fs_shares(ctx, &self.set);
        if let Some(changed) = self.whole_fs.iter().find(|n| !now.contains(*n)) {
            return Err(WireError::new(
                ErrorCode::InvalidState,
                format!(
                    "share '{changed}': its directory is no longer the root of a whole filesystem (it was when the \
                     exports were planned); nothing was changed, publish again"
                ),
            ));
        }
        // The include file first: smb.conf never points at a file that is not there.
        for c in [&self.smb, &self.smb_conf].into_iter().flatten() {
            let tmp = files::write_temp(&c.path, c.new.as_bytes(), 0o644)?;
            if let Err(e) = check_with_testparm(&tmp).await {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            files::commit_temp(&tmp, &c.path)?;
        }
        if self.smb.is_some() || self.smb_conf.is_some() {
            if let Err(e) = exec::run(&smbcontrol(ctx)).await {
                // smbd re-reads its configuration when it starts (and by itself every minute).
                tracing::info!(error = %e.message, "smbd not reloaded");
                warnings.push(format!(
                    "smbd was not reloaded ({}); it reads the new configuration when it starts",
                    e.message
                ));
            }
        }
        if let Some(c) = &self.nfs {
            files::replace_file(&c.path, c.new.as_bytes(), 0o644)?;
            if !self.exportfs {
                warnings.push(
                    "exportfs was not run: this lab's exports file is not the one exportfs reads (the helper is not in the lab's mount namespace)".into(),
                );
            } else if let Err(e) = exec::run(&exportfs(&["-ra"])).await {
                // Put the old exports back so the server keeps serving what it served.
                match &c.old {
                    Some(old) => files::replace_file(&c.path, old.as_bytes(), 0o644)?,
                    None => {
                        let _ = std::fs::remove_file(&c.path);
                    }
                }
                let _ = exec::run(&exportfs(&["-ra"])).await;
                return Err(WireError::new(
                    e.code,
                    format!("the NFS exports were refused, the old ones are back: {}", e.message),
                ));
            }
        }
        Ok(warnings)
    }
}

/// testparm exits 0 even for unknown parameters; its warnings are errors for a file we rendered.
async fn check_with_testparm(file: &std::path::Path) -> Result<(), WireError> {
    let out = exec::run(&testparm(file)).await?;
    exec::refuse_warnings(
        &out,
        &["unknown parameter", "ignoring", "error", "invalid"],
        "testparm rejected the rendered configuration; nothing was changed",
    )
}

pub fn plan_dir(ctx: &Ctx, op: &HelperOp) -> Result<DirPlan, WireError> {
    let HelperOp::ShareDirPrepare { path, owner, group, mode, setgid, acl: entries } = op else {
        return Err(WireError::internal(format!("{} is not a share directory operation", op.name())));
    };
    let acc = Accounts::load(ctx)?;
    let (uid, owner) = match owner {
        Some(u) => (acc.managed_user(u.as_str())?.uid, u.to_string()),
        None => (0, "root".to_owned()),
    };
    let (gid, group) = match group {
        Some(g) => (acc.managed_group(g.as_str())?.gid, g.to_string()),
        None => (0, "root".to_owned()),
    };
    // The parent must exist (share roots and pool mount points are not created here).
    let (root, rel) = acl::locate(ctx, &path.as_share_path())?;
    if let Some((parent, _)) = rel.rsplit_once('/') {
        let (_fd, is_dir) = acl::open_beneath(&ctx.paths, &root, parent, path.as_str())?;
        if !is_dir {
            return Err(WireError::invalid("path", format!("the parent of {path} is not a directory")));
        }
    }
    let (parent, name) = rel.rsplit_once('/').unwrap_or((".", rel.as_str()));
    if let Ok(parent_fd) =
        rustix::fs::open(root.join(parent), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    {
        refuse_link(&parent_fd, name, path.as_str())?;
    }
    let mode = FileMode::get(*mode) | if *setgid { 0o2000 } else { 0 };
    let acl = (!entries.is_empty()).then(|| HelperOp::AclSet {
        path: path.as_share_path(),
        entries: entries.clone(),
        recursive: false,
    });
    Ok(DirPlan { path: path.clone(), uid, gid, owner, group, mode, acl })
}

impl DirPlan {
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = vec![Step::PrepareDir {
            path: self.path.to_string(),
            owner: self.owner.clone(),
            group: self.group.clone(),
            mode: format!("{:04o}", self.mode),
        }];
        if let Some(HelperOp::AclSet { path, entries, .. }) = &self.acl {
            let text = entries.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
            steps.push(Step::SetAcl {
                path: path.to_string(),
                recursive: false,
                equivalent: vec!["setfacl".into(), "-m".into(), text, "--".into(), path.to_string()],
            });
        }
        steps
    }

    /// mkdir beneath the share root (no links followed), then chown/chmod on that fd, then the
    /// ACL through the ACL operation's own safe path.
    pub fn apply(self, ctx: &Ctx) -> Result<(), WireError> {
        let (root, rel) = acl::locate(ctx, &self.path.as_share_path())?;
        let shown = self.path.as_str();
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
        let root_fd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| WireError::internal(format!("share root {} cannot be opened: {e}", root.display())))?;
        let dir_flags = OFlags::DIRECTORY | OFlags::RDONLY;
        let root_path = acl::managed(&ctx.paths, &root);
        let parent_fd = acl::open_within(&ctx.paths, &root_fd, &root_path, parent, dir_flags, shown)?;
        match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(acl::io_error(shown, e)),
        }
        refuse_link(&parent_fd, name, shown)?;
        let parent_path = if parent.is_empty() { root_path } else { format!("{root_path}/{parent}") };
        let dir = acl::open_within(&ctx.paths, &parent_fd, &parent_path, name, dir_flags, shown)?;
        rustix::fs::fchown(&dir, Some(rustix::fs::Uid::from_raw(self.uid)), Some(rustix::fs::Gid::from_raw(self.gid)))
            .map_err(|e| acl::io_error(shown, e))?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(self.mode)).map_err(|e| acl::io_error(shown, e))?;
        if let Some(op) = &self.acl {
            for a in acl::plan(ctx, op)? {
                if let Action::Acl(p) = a {
                    p.apply()?;
                }
            }
        }
        Ok(())
    }
}

/// A symbolic link (planted by a share user, say) where the share's directory should be is
/// refused by name; a missing entry is fine (it is created).
fn refuse_link(parent: &impl rustix::fd::AsFd, name: &str, shown: &str) -> Result<(), WireError> {
    match rustix::fs::statat(parent, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink => {
            Err(acl::io_error(shown, rustix::io::Errno::LOOP))
        }
        _ => Ok(()),
    }
}

/// The share files as they are, and what the NFS tools export.
pub async fn config(ctx: &Ctx) -> Result<ShareConfig, WireError> {
    let smb_file = ctx.paths.smb_include();
    let nfs_file = ctx.paths.exports();
    let nfs_exported = if !ctx.paths.exportfs_sees_ours() {
        Err("not known: the helper is not in the lab's NFS mount namespace".to_owned())
    } else if !Program::ExportFs.is_installed() {
        Err("not known: exportfs is not installed (package nfs-kernel-server)".to_owned())
    } else {
        match exec::run(&exportfs(&["-v"])).await {
            Ok(out) => Ok(parse_exportfs(&String::from_utf8_lossy(&out.stdout))),
            Err(e) => Err(e.message),
        }
    };
    Ok(ShareConfig {
        smb_text: files::read_optional(&smb_file)?.unwrap_or_default(),
        nfs_text: files::read_optional(&nfs_file)?.unwrap_or_default(),
        smb_file: smb_file.display().to_string(),
        nfs_file: nfs_file.display().to_string(),
        nfs_exported,
    })
}

/// `exportfs -v` prints `path<ws>client(opts)`, wrapping long paths onto a second line.
pub fn parse_exportfs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some(p) = pending.take() {
                out.push(format!("{p} {}", line.trim()));
            }
            continue;
        }
        if let Some(p) = pending.take() {
            out.push(p);
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some(path), Some(client)) => out.push(format!("{path} {client}")),
            (Some(path), None) => pending = Some(path.to_owned()),
            _ => {}
        }
    }
    out.extend(pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exportfs_listings() {
        let text = "/tmp/srv/a    \t192.168.1.0/24(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash)\n/a/very/long/path/that/wraps\n\t\t10.0.0.1(ro)\n";
        assert_eq!(
            parse_exportfs(text),
            [
                "/tmp/srv/a 192.168.1.0/24(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash)",
                "/a/very/long/path/that/wraps 10.0.0.1(ro)"
            ]
        );
    }
}
