//! POSIX ACLs, applied by the helper itself on a safely resolved file descriptor: the path is
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` from the
//! share root, so neither `..` nor a symlink planted by a share user can lead outside it
//! (landlock does not confine setxattr). The xattr is read and written through the fd's
//! `/proc/self/fd/N` link, never through the caller's path. Semantics follow `setfacl -m/-x`:
//! entries are merged, the mask is recomputed, default ACLs apply to directories.

use super::accounts::Accounts;
use super::{Action, Ctx};
use crate::paths::Paths;
use corenas_proto::acl::{AclKind, AclListing, AclPerms, AclTag, GroupRef, ResolvedAclEntry, UserRef};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::names::SharePath;
use corenas_proto::{ErrorCode, WireError};
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, XattrFlags};
use std::path::{Path, PathBuf};

pub(crate) const XATTR_ACCESS: &str = "system.posix_acl_access";
const XATTR_DEFAULT: &str = "system.posix_acl_default";
const ACL_VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
pub(crate) const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
pub(crate) const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
pub(crate) const UNDEFINED_ID: u32 = u32::MAX;
const MAX_ENTRIES: usize = 64;
/// Deeper trees are refused rather than walked without bound.
const MAX_DEPTH: usize = 128;
/// Past this many entries in one directory the rest is left unchanged (and reported): a bound
/// on the time one request can hold the helper.
const MAX_DIR_ENTRIES: usize = 1_000_000;
/// How many skipped paths a report names; the rest are counted.
const SKIPS_SHOWN: usize = 5;

#[derive(Default)]
struct Walk {
    changed: usize,
    skipped: usize,
    examples: Vec<String>,
}

impl Walk {
    fn skip(&mut self, path: &str, why: String) {
        self.skipped += 1;
        if self.examples.len() < SKIPS_SHOWN {
            self.examples.push(format!("{path}: {why}"));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEntry {
    pub tag: u16,
    pub perm: u16,
    pub id: u32,
}

/// Decodes the kernel's `posix_acl_xattr` format: a version word, then (tag, perm, id) triples.
pub fn decode(bytes: &[u8]) -> Result<Vec<RawEntry>, String> {
    if bytes.len() < 4 || (bytes.len() - 4) % 8 != 0 {
        return Err(format!("ACL xattr has a bad length {}", bytes.len()));
    }
    let version = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if version != ACL_VERSION {
        return Err(format!("ACL xattr version {version} is not 2"));
    }
    Ok(bytes[4..]
        .chunks_exact(8)
        .map(|c| RawEntry {
            tag: u16::from_le_bytes([c[0], c[1]]),
            perm: u16::from_le_bytes([c[2], c[3]]),
            id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Encodes in the order the kernel requires (by tag, then id).
pub fn encode(entries: &[RawEntry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| (e.tag, e.id));
    let mut out = Vec::with_capacity(4 + 8 * sorted.len());
    out.extend_from_slice(&ACL_VERSION.to_le_bytes());
    for e in sorted {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.perm.to_le_bytes());
        out.extend_from_slice(&e.id.to_le_bytes());
    }
    out
}

/// The minimal ACL equivalent to a file mode.
pub fn from_mode(mode: u32) -> Vec<RawEntry> {
    let bits = |shift: u32| u16::try_from((mode >> shift) & 7).unwrap_or(0);
    vec![
        RawEntry { tag: USER_OBJ, perm: bits(6), id: UNDEFINED_ID },
        RawEntry { tag: GROUP_OBJ, perm: bits(3), id: UNDEFINED_ID },
        RawEntry { tag: OTHER, perm: bits(0), id: UNDEFINED_ID },
    ]
}

pub(crate) fn upsert(acl: &mut Vec<RawEntry>, e: RawEntry) {
    match acl.iter_mut().find(|x| x.tag == e.tag && x.id == e.id) {
        Some(x) => x.perm = e.perm,
        None => acl.push(e),
    }
}

/// As setfacl does: with named entries the mask becomes the union of the group class, unless
/// the caller set it explicitly; without named entries no mask is needed.
pub(crate) fn recompute_mask(acl: &mut Vec<RawEntry>, explicit: bool) {
    let named = acl.iter().any(|e| e.tag == USER || e.tag == GROUP);
    if explicit {
        return;
    }
    acl.retain(|e| e.tag != MASK);
    if named {
        let perm = acl.iter().filter(|e| matches!(e.tag, USER | GROUP | GROUP_OBJ)).fold(0, |p, e| p | e.perm);
        acl.push(RawEntry { tag: MASK, perm, id: UNDEFINED_ID });
    }
}

/// An entry with names resolved to ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub default: bool,
    pub raw: RawEntry,
}

#[derive(Debug, Clone)]
pub enum AclChange {
    Set(Vec<Resolved>),
    /// (default, tag, id) of named entries to remove.
    Remove(Vec<(bool, u16, u32)>),
}

#[derive(Debug, Clone)]
pub struct AclPlan {
    paths: Paths,
    share_root: PathBuf,
    relative: String,
    shown_path: String,
    recursive: bool,
    change: AclChange,
    /// The setfacl command that would do the same, for dry runs and logs.
    equivalent: Vec<String>,
}

/// The account files, read only when a name has to be resolved (numeric entries need none).
struct LazyAccounts<'a> {
    ctx: &'a Ctx,
    loaded: Option<Accounts>,
}

impl LazyAccounts<'_> {
    fn get(&mut self) -> Result<&Accounts, WireError> {
        if self.loaded.is_none() {
            self.loaded = Some(Accounts::load(self.ctx)?);
        }
        Ok(self.loaded.as_ref().expect("loaded above"))
    }
}

fn resolve_user(acc: &mut LazyAccounts<'_>, r: &UserRef) -> Result<u32, WireError> {
    match r {
        UserRef::Id(id) => Ok(*id),
        UserRef::Name(n) => acc
            .get()?
            .user(n.as_str())
            .map(|u| u.uid)
            .ok_or_else(|| WireError::not_found(format!("user '{n}' does not exist"))),
    }
}

fn resolve_group(acc: &mut LazyAccounts<'_>, r: &GroupRef) -> Result<u32, WireError> {
    match r {
        GroupRef::Id(id) => Ok(*id),
        GroupRef::Name(n) => acc
            .get()?
            .group(n.as_str())
            .map(|g| g.gid)
            .ok_or_else(|| WireError::not_found(format!("group '{n}' does not exist"))),
    }
}

fn resolve_tag(acc: &mut LazyAccounts<'_>, tag: &AclTag) -> Result<(u16, u32), WireError> {
    Ok(match tag {
        AclTag::UserObj => (USER_OBJ, UNDEFINED_ID),
        AclTag::User(u) => (USER, resolve_user(acc, u)?),
        AclTag::GroupObj => (GROUP_OBJ, UNDEFINED_ID),
        AclTag::Group(g) => (GROUP, resolve_group(acc, g)?),
        AclTag::Mask => (MASK, UNDEFINED_ID),
        AclTag::Other => (OTHER, UNDEFINED_ID),
    })
}

/// Finds the share root a path lies beneath. The path must name something *inside* a share
/// root, never the root itself.
pub(crate) fn locate(ctx: &Ctx, path: &SharePath) -> Result<(PathBuf, String), WireError> {
    let comps: Vec<&str> = path.components().collect();
    for root in &ctx.share_roots {
        let root_comps: Vec<&str> = root.split('/').filter(|c| !c.is_empty()).collect();
        if comps.len() > root_comps.len() && comps[..root_comps.len()] == root_comps[..] {
            return Ok((ctx.paths.inside(root), comps[root_comps.len()..].join("/")));
        }
    }
    Err(WireError::invalid(
        "path",
        format!("path '{path}' is not beneath a share root (share roots: {})", ctx.share_roots.join(", ")),
    ))
}

pub(crate) fn io_error(path: &str, e: rustix::io::Errno) -> WireError {
    match e {
        rustix::io::Errno::LOOP => WireError::not_allowed(format!(
            "path '{path}' goes through a symbolic link; CoreNAS does not follow links in shares"
        )),
        rustix::io::Errno::XDEV => WireError::not_allowed(format!("path '{path}' leads outside its share root")),
        rustix::io::Errno::NOENT => WireError::not_found(format!("path '{path}' does not exist")),
        rustix::io::Errno::NOTDIR => WireError::not_found(format!("a component of '{path}' is not a directory")),
        rustix::io::Errno::OPNOTSUPP => {
            WireError::new(ErrorCode::ToolFailed, format!("the filesystem of '{path}' does not support POSIX ACLs"))
        }
        e => WireError::new(ErrorCode::ToolFailed, format!("'{path}': {e}")),
    }
}

pub(crate) const RESOLVE: ResolveFlags =
    ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);

/// Opens `relative` beneath the share root as an O_PATH fd; refuses symlinks, mount points
/// CoreNAS did not make, and anything that is not a regular file or directory. Returns the fd
/// and whether it is a directory.
pub(crate) fn open_beneath(
    paths: &Paths,
    share_root: &Path,
    relative: &str,
    shown: &str,
) -> Result<(OwnedFd, bool), WireError> {
    let root = rustix::fs::open(share_root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| WireError::internal(format!("share root {} cannot be opened: {e}", share_root.display())))?;
    let fd = open_within(paths, &root, &managed(paths, share_root), relative, OFlags::PATH, shown)?;
    let kind = node_kind(&fd).map_err(|e| io_error(shown, e))?;
    match kind {
        Some(is_dir) => Ok((fd, is_dir)),
        None => Err(WireError::not_allowed(format!(
            "path '{shown}' is not a regular file or directory (symbolic links and devices are refused)"
        ))),
    }
}

/// A host path (under the root prefix) as the managed system sees it.
pub(crate) fn managed(paths: &Paths, host: &Path) -> String {
    format!("/{}", host.strip_prefix(paths.root()).unwrap_or(host).display()).replace("//", "/")
}

/// Opens `relative` (plain components, no `..`) beneath `dir`, which the managed system sees at
/// `dir_path`, without following links, one component at a time with `RESOLVE_NO_XDEV`.
///
/// Why not `RESOLVE_NO_XDEV` on the whole path: legitimate shares live on mounts beneath the
/// share root (a pool path bound to `/storage/<name>`, a disk mounted there), so refusing every
/// crossing would break them. `RESOLVE_BENEATH` alone crosses any mount, though: a filesystem
/// mounted beneath the share root that CoreNAS did not make (the system disk mounted at
/// `/storage/sys` by a compromised corenasd or by hand) would let an ACL land on `/etc/shadow`.
/// So a crossing is allowed only into a mount CoreNAS made (its unit file is there: every
/// CoreNAS mount, pool and dataset mount included, is a unit the helper wrote after checking
/// the source, see ops/mounts.rs); any other mount point is refused by name.
pub(crate) fn open_within(
    paths: &Paths,
    dir: &OwnedFd,
    dir_path: &str,
    relative: &str,
    last_flags: OFlags,
    shown: &str,
) -> Result<OwnedFd, WireError> {
    let comps: Vec<&str> = relative.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let mut at = dir_path.trim_end_matches('/').to_owned();
    let mut cur: Option<OwnedFd> = None;
    if comps.is_empty() {
        return rustix::fs::openat2(dir, ".", last_flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
            .map_err(|e| io_error(shown, e));
    }
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        // Each component is opened as itself (O_NOFOLLOW); a link in the middle is refused as a
        // link below, one at the end by the caller's check of its kind.
        let flags = if last { last_flags } else { OFlags::PATH } | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let from: &OwnedFd = cur.as_ref().unwrap_or(dir);
        at = format!("{at}/{comp}");
        let next = match rustix::fs::openat2(from, *comp, flags, Mode::empty(), RESOLVE.union(ResolveFlags::NO_XDEV)) {
            Err(rustix::io::Errno::XDEV) if paths.made_by_corenas(&at) => {
                rustix::fs::openat2(from, *comp, flags, Mode::empty(), RESOLVE).map_err(|e| io_error(shown, e))?
            }
            Err(rustix::io::Errno::XDEV) => return Err(foreign_mount(shown, &at)),
            r => r.map_err(|e| io_error(shown, e))?,
        };
        if !last {
            let st = rustix::fs::fstat(&next).map_err(|e| io_error(shown, e))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {}
                FileType::Symlink => return Err(io_error(shown, rustix::io::Errno::LOOP)),
                _ => return Err(io_error(shown, rustix::io::Errno::NOTDIR)),
            }
        }
        cur = Some(next);
    }
    cur.ok_or_else(|| WireError::internal("empty path"))
}

pub(crate) fn foreign_mount(shown: &str, mount_point: &str) -> WireError {
    WireError::not_allowed(format!(
        "path '{shown}' crosses {mount_point}, a mount point CoreNAS did not make; CoreNAS works only on the share \
         root's own filesystem and on the mounts it made (pools, datasets, `mount add`)"
    ))
}

fn node_kind(fd: &OwnedFd) -> rustix::io::Result<Option<bool>> {
    let st = rustix::fs::fstat(fd)?;
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => Some(true),
        FileType::RegularFile => Some(false),
        _ => None,
    })
}

/// Why a walk leaves a file with more than one name alone (L7): its other names may lie outside
/// the share (a link made by an NFS client, which the kernel's `protected_hardlinks` does not
/// stop, can name `/etc/shadow`), so an ACL meant for the share's tree could reach any file on
/// its filesystem. Such a file is changed only when it is named itself, not recursively.
const HARD_LINK_SKIPPED: &str =
    "a file with more than one hard link (another name may lie outside the share); set its ACL by its own path";

/// Whether a regular file has other names; when it cannot be told, it is treated as if it had.
fn hard_linked(fd: &OwnedFd) -> bool {
    rustix::fs::fstat(fd).map_or(true, |st| st.st_nlink > 1)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub(crate) fn read_acl(fd: &OwnedFd, name: &str) -> rustix::io::Result<Option<Vec<RawEntry>>> {
    let mut buf = vec![0u8; 4 + 8 * 1024];
    match rustix::fs::getxattr(fd_path(fd).as_str(), name, &mut buf[..]) {
        Ok(n) => decode(&buf[..n]).map(Some).map_err(|_| rustix::io::Errno::INVAL),
        Err(rustix::io::Errno::NODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn write_acl(fd: &OwnedFd, name: &str, acl: &[RawEntry]) -> rustix::io::Result<()> {
    rustix::fs::setxattr(fd_path(fd).as_str(), name, &encode(acl), XattrFlags::empty())
}

pub(crate) fn mode_of(fd: &OwnedFd) -> rustix::io::Result<u32> {
    Ok(rustix::fs::fstat(fd)?.st_mode)
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    let mut acc = LazyAccounts { ctx, loaded: None };
    let (path, recursive, change, text) = match op {
        HelperOp::AclSet { path, entries, recursive } => {
            if entries.is_empty() || entries.len() > MAX_ENTRIES {
                return Err(WireError::invalid("acl", format!("give 1 to {MAX_ENTRIES} ACL entries")));
            }
            let mut resolved = Vec::new();
            for e in entries {
                let (tag, id) = resolve_tag(&mut acc, &e.tag)?;
                resolved
                    .push(Resolved { default: e.default, raw: RawEntry { tag, perm: u16::from(e.perms.bits()), id } });
            }
            let text = resolved.iter().map(resolved_text).collect::<Vec<_>>().join(",");
            (path, *recursive, AclChange::Set(resolved), vec!["-m".to_owned(), text])
        }
        HelperOp::AclRemove { path, targets, recursive } => {
            if targets.is_empty() || targets.len() > MAX_ENTRIES {
                return Err(WireError::invalid("acl", format!("give 1 to {MAX_ENTRIES} ACL entries to remove")));
            }
            let mut resolved = Vec::new();
            for t in targets {
                let (tag, id) = resolve_tag(&mut acc, &t.tag)?;
                resolved.push((t.default, tag, id));
            }
            let text = resolved
                .iter()
                .map(|(d, tag, id)| {
                    format!("{}{}:{}", if *d { "d:" } else { "" }, if *tag == USER { "u" } else { "g" }, id)
                })
                .collect::<Vec<_>>()
                .join(",");
            (path, *recursive, AclChange::Remove(resolved), vec!["-x".to_owned(), text])
        }
        _ => return Err(WireError::internal(format!("{} is not an ACL operation", op.name()))),
    };
    let (share_root, relative) = locate(ctx, path)?;
    // Resolve now so a dry run reports a missing path, a symlink or a device just as a real run.
    let (_fd, is_dir) = open_beneath(&ctx.paths, &share_root, &relative, path.as_str())?;
    if let AclChange::Set(entries) = &change {
        if !is_dir && entries.iter().any(|e| e.default) {
            return Err(WireError::invalid(
                "acl",
                format!("'{path}' is a file; default ACL entries apply only to directories"),
            ));
        }
    }
    let host_path = share_root.join(&relative).display().to_string();
    let mut equivalent = vec!["setfacl".to_owned()];
    if recursive {
        equivalent.push("-R".into());
    }
    equivalent.extend(text);
    equivalent.extend(["--".to_owned(), host_path]);
    Ok(vec![Action::Acl(AclPlan {
        paths: ctx.paths.clone(),
        share_root,
        relative,
        shown_path: path.to_string(),
        recursive,
        change,
        equivalent,
    })])
}

fn resolved_text(r: &Resolved) -> String {
    let tag = match r.raw.tag {
        USER_OBJ | USER => "u",
        GROUP_OBJ | GROUP => "g",
        MASK => "m",
        _ => "o",
    };
    let id = if r.raw.id == UNDEFINED_ID { String::new() } else { r.raw.id.to_string() };
    let perms = AclPerms::from_bits(u8::try_from(r.raw.perm & 7).unwrap_or(0));
    format!("{}{tag}:{id}:{perms}", if r.default { "d:" } else { "" })
}

impl AclPlan {
    pub fn is_recursive(&self) -> bool {
        self.recursive
    }

    pub fn step(&self) -> Step {
        Step::SetAcl { path: self.shown_path.clone(), recursive: self.recursive, equivalent: self.equivalent.clone() }
    }

    /// Re-resolves the path (it may have changed since planning) and applies the change, to the
    /// whole tree when recursive. Inside a tree, a node that cannot be changed (too deep, gone,
    /// unreadable, an ACL too large) is skipped and reported, and the walk goes on: a share user
    /// must not be able to stop a revocation half way by planting an obstacle.
    pub fn apply(self) -> Result<(), WireError> {
        let (fd, is_dir) = open_beneath(&self.paths, &self.share_root, &self.relative, &self.shown_path)?;
        self.change_one(&fd, is_dir).map_err(|e| io_error(&self.shown_path, e))?;
        if !(self.recursive && is_dir) {
            return Ok(());
        }
        let mut walk = Walk::default();
        let at = format!("{}/{}", managed(&self.paths, &self.share_root), self.relative);
        self.walk(&fd, &self.shown_path, &at, 1, &mut walk);
        if walk.skipped == 0 {
            return Ok(());
        }
        Err(WireError::new(
            ErrorCode::ToolFailed,
            format!(
                "ACL applied to {} entries below '{}', but {} could not be changed: {}{}",
                walk.changed,
                self.shown_path,
                walk.skipped,
                walk.examples.join("; "),
                if walk.skipped > walk.examples.len() { "; ..." } else { "" }
            ),
        ))
    }

    /// Walks the tree depth first, handling each entry as it is read (nothing is collected, so
    /// memory stays bounded by the depth, not the size of a directory).
    fn walk(&self, dir_fd: &OwnedFd, shown: &str, at: &str, depth: usize, walk: &mut Walk) {
        if depth > MAX_DEPTH {
            return walk.skip(shown, format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let dir = match rustix::fs::openat2(
            dir_fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            Ok(d) => d,
            Err(e) => return walk.skip(shown, e.to_string()),
        };
        let entries = match rustix::fs::Dir::read_from(&dir) {
            Ok(d) => d,
            Err(e) => return walk.skip(shown, e.to_string()),
        };
        for (seen, entry) in entries.enumerate() {
            if seen > MAX_DIR_ENTRIES {
                return walk.skip(shown, format!("more than {MAX_DIR_ENTRIES} entries; the rest was not changed"));
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return walk.skip(shown, e.to_string()),
            };
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let child_shown = format!("{shown}/{}", name.to_string_lossy());
            let child_at = format!("{at}/{}", name.to_string_lossy());
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            // As open_within: a mount point is entered only when CoreNAS made it.
            let child =
                match rustix::fs::openat2(dir_fd, name, flags, Mode::empty(), RESOLVE.union(ResolveFlags::NO_XDEV)) {
                    Err(rustix::io::Errno::XDEV) if self.paths.made_by_corenas(&child_at) => {
                        rustix::fs::openat2(dir_fd, name, flags, Mode::empty(), RESOLVE)
                    }
                    r => r,
                };
            let child = match child {
                Ok(c) => c,
                // Vanished since listing: nothing to change.
                Err(rustix::io::Errno::NOENT) => continue,
                Err(rustix::io::Errno::XDEV) => {
                    walk.skip(&child_shown, "a mount point CoreNAS did not make; not entered".into());
                    continue;
                }
                Err(e) => {
                    walk.skip(&child_shown, e.to_string());
                    continue;
                }
            };
            match node_kind(&child) {
                Ok(Some(false)) if hard_linked(&child) => {
                    walk.skip(&child_shown, HARD_LINK_SKIPPED.into());
                }
                Ok(Some(child_is_dir)) => {
                    match self.change_one(&child, child_is_dir) {
                        Ok(()) => walk.changed += 1,
                        Err(e) => walk.skip(&child_shown, e.to_string()),
                    }
                    if child_is_dir {
                        self.walk(&child, &child_shown, &child_at, depth + 1, walk);
                    }
                }
                // Symlinks, devices, sockets: never followed, never changed.
                Ok(None) => {}
                Err(e) => walk.skip(&child_shown, e.to_string()),
            }
        }
    }

    fn change_one(&self, fd: &OwnedFd, is_dir: bool) -> rustix::io::Result<()> {
        let mode = mode_of(fd)?;
        let mut access = read_acl(fd, XATTR_ACCESS)?.unwrap_or_else(|| from_mode(mode));
        let mut default = if is_dir { read_acl(fd, XATTR_DEFAULT)?.unwrap_or_default() } else { Vec::new() };
        let had_default = !default.is_empty();
        match &self.change {
            AclChange::Set(entries) => {
                let explicit_mask = |d: bool| entries.iter().any(|e| e.default == d && e.raw.tag == MASK);
                // As setfacl: only the ACL that receives entries gets its mask recomputed, so
                // changing default entries never widens the access mask (or the reverse).
                if entries.iter().any(|e| !e.default) {
                    for e in entries.iter().filter(|e| !e.default) {
                        upsert(&mut access, e.raw);
                    }
                    recompute_mask(&mut access, explicit_mask(false));
                }
                if is_dir && entries.iter().any(|e| e.default) {
                    if default.is_empty() {
                        // setfacl seeds a new default ACL with the base entries of the access ACL.
                        default =
                            access.iter().filter(|e| matches!(e.tag, USER_OBJ | GROUP_OBJ | OTHER)).copied().collect();
                    }
                    for e in entries.iter().filter(|e| e.default) {
                        upsert(&mut default, e.raw);
                    }
                    recompute_mask(&mut default, explicit_mask(true));
                }
            }
            AclChange::Remove(targets) => {
                for (d, tag, id) in targets {
                    let acl = if *d { &mut default } else { &mut access };
                    acl.retain(|e| !(e.tag == *tag && e.id == *id));
                }
                if targets.iter().any(|t| !t.0) {
                    recompute_mask(&mut access, false);
                }
                if had_default && targets.iter().any(|t| t.0) {
                    recompute_mask(&mut default, false);
                }
            }
        }
        write_acl(fd, XATTR_ACCESS, &access)?;
        if is_dir && (had_default || !default.is_empty()) {
            write_acl(fd, XATTR_DEFAULT, &default)?;
        }
        Ok(())
    }
}

fn listing_entries(acc: &Accounts, raw: &[RawEntry]) -> Vec<ResolvedAclEntry> {
    let mut sorted = raw.to_vec();
    sorted.sort_by_key(|e| (e.tag, e.id));
    sorted
        .iter()
        .map(|e| {
            let (kind, name) = match e.tag {
                USER_OBJ => (AclKind::UserObj, None),
                USER => (AclKind::User, acc.users.iter().find(|u| u.uid == e.id).map(|u| u.name.clone())),
                GROUP_OBJ => (AclKind::GroupObj, None),
                GROUP => (AclKind::Group, acc.groups.iter().find(|g| g.gid == e.id).map(|g| g.name.clone())),
                MASK => (AclKind::Mask, None),
                _ => (AclKind::Other, None),
            };
            let id = (e.id != UNDEFINED_ID).then_some(e.id);
            ResolvedAclEntry { kind, id, name, perms: AclPerms::from_bits(u8::try_from(e.perm & 7).unwrap_or(0)) }
        })
        .collect()
}

/// The ACL of one path, names resolved from the prefixed account files.
pub fn get(ctx: &Ctx, path: &SharePath) -> Result<AclListing, WireError> {
    let acc = Accounts::load(ctx)?;
    let (share_root, relative) = locate(ctx, path)?;
    let (fd, is_dir) = open_beneath(&ctx.paths, &share_root, &relative, path.as_str())?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_error(path.as_str(), e))?;
    let access =
        read_acl(&fd, XATTR_ACCESS).map_err(|e| io_error(path.as_str(), e))?.unwrap_or_else(|| from_mode(st.st_mode));
    let default = if is_dir {
        read_acl(&fd, XATTR_DEFAULT).map_err(|e| io_error(path.as_str(), e))?.unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(AclListing {
        path: path.to_string(),
        owner: st.st_uid,
        group: st.st_gid,
        mode: st.st_mode & 0o7777,
        is_dir,
        access: listing_entries(&acc, &access),
        default: listing_entries(&acc, &default),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_round_trip_is_sorted() {
        let acl = vec![
            RawEntry { tag: OTHER, perm: 4, id: UNDEFINED_ID },
            RawEntry { tag: USER, perm: 7, id: 50001 },
            RawEntry { tag: USER_OBJ, perm: 7, id: UNDEFINED_ID },
            RawEntry { tag: USER, perm: 5, id: 50000 },
        ];
        let back = decode(&encode(&acl)).unwrap();
        assert_eq!(
            back.iter().map(|e| (e.tag, e.id)).collect::<Vec<_>>(),
            [(USER_OBJ, UNDEFINED_ID), (USER, 50000), (USER, 50001), (OTHER, UNDEFINED_ID)]
        );
        assert!(decode(&[2, 0, 0, 0, 1]).is_err());
        assert!(decode(&[3, 0, 0, 0]).is_err());
    }

    #[test]
    fn mask_follows_setfacl() {
        let mut acl = from_mode(0o640);
        upsert(&mut acl, RawEntry { tag: USER, perm: 7, id: 50000 });
        recompute_mask(&mut acl, false);
        let mask = acl.iter().find(|e| e.tag == MASK).unwrap();
        assert_eq!(mask.perm, 7 | 4);
        acl.retain(|e| e.tag != USER);
        recompute_mask(&mut acl, false);
        assert!(acl.iter().all(|e| e.tag != MASK));
    }
}
