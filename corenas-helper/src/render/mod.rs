//! Configuration files rendered from typed values only: samba's include file, NFS exports and
//! systemd mount units. Pure functions, so tests (and the property test over hostile input) can
//! check every line they can produce.

pub mod diff;
pub mod exports;
pub mod smb;
pub mod unit;

/// The first line of every file CoreNAS owns.
pub const MANAGED_HEADER: &str =
    "# Managed by CoreNAS (corenas-helper). Changes made here are overwritten; use corenas-ctl.";

/// What every rendering of a share set must satisfy, whatever the input: only lines of each
/// file's grammar, one section per SMB share (and `[homes]`), one export line per NFS share.
/// `None` when it holds; otherwise what broke, with the text. The property test and the fuzz
/// target check this.
pub fn share_outputs_problem(set: &corenas_proto::shares::ShareSet) -> Option<String> {
    let smb_text = smb::render(set, str::to_owned);
    if !smb_text.lines().all(smb::line_is_expected) {
        return Some(format!("an unexpected line in the SMB include:\n{smb_text}"));
    }
    let sections = smb_text.lines().filter(|l| l.starts_with('[')).count();
    let wanted = set.shares.iter().filter(|s| s.smb.is_some()).count() + usize::from(set.homes);
    if sections != wanted {
        return Some(format!("{sections} sections for {wanted} SMB shares:\n{smb_text}"));
    }
    let nfs_text = exports::render(set, str::to_owned, |_| false);
    let whole_fs_text = exports::render(set, str::to_owned, |_| true);
    if let Some(t) = [&nfs_text, &whole_fs_text].into_iter().find(|t| !t.lines().all(exports::line_is_expected)) {
        return Some(format!("an unexpected line in the exports:\n{t}"));
    }
    let lines = nfs_text.lines().filter(|l| l.starts_with('/')).count();
    // A share whose NFS part names no client exports nothing (corenasd refuses to store one;
    // the renderer still must not write a line without a client).
    let wanted = set.shares.iter().filter(|s| s.nfs.as_ref().is_some_and(|n| !n.rules.is_empty())).count();
    (lines != wanted).then(|| format!("{lines} export lines for {wanted} NFS shares:\n{nfs_text}"))
}

/// The same for a mount definition: both units only of the grammar, exactly one `Where=`.
pub fn mount_outputs_problem(def: &corenas_proto::mounts::MountDef) -> Option<String> {
    [unit::mount_unit(def), unit::automount_unit(def)].into_iter().find_map(|text| {
        if !text.lines().all(unit::line_is_expected) {
            Some(format!("an unexpected line in a unit:\n{text}"))
        } else if text.lines().filter(|l| l.starts_with("Where=")).count() != 1 {
            Some(format!("not exactly one Where=:\n{text}"))
        } else {
            None
        }
    })
}
