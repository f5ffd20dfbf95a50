//! `acl get|set|remove`: arguments, the request, and getfacl-like text.
//!
//! Imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::report::{Report, change_report, to_json};
use crate::text::printable;
use clap::Subcommand;
use corenas_proto::acl::{AclEntry, AclKind, AclListing, AclTarget, ResolvedAclEntry};
use corenas_proto::api::{AclRemove, AclSet};
use corenas_proto::names::SharePath;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Show the ACL of a path.
    Get {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
    },
    /// Add or replace entries, e.g. u:alice:rwx g:staff:r-x d:g:staff:r-x.
    Set {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
        /// [d:]u|g:NAME-OR-ID:PERMS, [d:]u|g::PERMS, [d:]m::PERMS or [d:]o::PERMS; PERMS like rwx, r-x or 5.
        #[arg(required = true, value_name = "ENTRY")]
        entries: Vec<AclEntry>,
        /// Apply to everything beneath the path too.
        #[arg(long)]
        recursive: bool,
    },
    /// Remove named entries, e.g. u:alice d:g:staff.
    Remove {
        /// An absolute path beneath a share root, e.g. /storage/projects.
        #[arg(allow_hyphen_values = true)]
        path: SharePath,
        /// [d:]u:NAME-OR-ID or [d:]g:NAME-OR-ID (owner, group, mask and other cannot be removed).
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<AclTarget>,
        /// Apply to everything beneath the path too.
        #[arg(long)]
        recursive: bool,
    },
}

pub(crate) async fn acl(cmd: AclCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let change = match cmd {
        AclCommand::Get { path } => {
            let listing = call!(d, acl_get(path))?;
            return Ok(Report::ok(acl_text(&listing), to_json(&listing)?));
        }
        AclCommand::Set { path, entries, recursive } => {
            call!(d, acl_set(AclSet { path, entries, recursive }, dry_run))?
        }
        AclCommand::Remove { path, targets, recursive } => {
            call!(d, acl_remove(AclRemove { path, targets, recursive }, dry_run))?
        }
    };
    change_report(&change, acl_text)
}

pub(crate) fn acl_line(e: &ResolvedAclEntry) -> String {
    let who = match (&e.name, e.id) {
        (Some(n), _) => printable(n).into_owned(),
        (None, Some(id)) => id.to_string(),
        (None, None) => String::new(),
    };
    match e.kind {
        AclKind::UserObj => format!("user::{}", e.perms),
        AclKind::User => format!("user:{who}:{}", e.perms),
        AclKind::GroupObj => format!("group::{}", e.perms),
        AclKind::Group => format!("group:{who}:{}", e.perms),
        AclKind::Mask => format!("mask::{}", e.perms),
        AclKind::Other => format!("other::{}", e.perms),
    }
}

/// The getfacl layout: a header, the access entries, then the default entries.
pub fn acl_text(a: &AclListing) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# file: {}", printable(&a.path));
    let _ = writeln!(out, "# owner: {}", a.owner);
    let _ = writeln!(out, "# group: {}", a.group);
    for e in &a.access {
        let _ = writeln!(out, "{}", acl_line(e));
    }
    for e in &a.default {
        let _ = writeln!(out, "default:{}", acl_line(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use corenas_proto::acl::AclPerms;

    #[test]
    fn acl_listing_reads_like_getfacl() {
        let e = |kind, id: Option<u32>, name: Option<&str>, bits| ResolvedAclEntry {
            kind,
            id,
            name: name.map(str::to_owned),
            perms: AclPerms::from_bits(bits),
        };
        let listing = AclListing {
            path: "/storage/projects".into(),
            owner: 50001,
            group: 50000,
            mode: 0o770,
            is_dir: true,
            access: vec![
                e(AclKind::UserObj, Some(50001), Some("alice"), 7),
                e(AclKind::User, Some(50002), Some("bob"), 5),
                e(AclKind::Group, Some(50009), None, 4),
                e(AclKind::GroupObj, None, None, 5),
                e(AclKind::Mask, None, None, 7),
                e(AclKind::Other, None, None, 0),
            ],
            default: vec![e(AclKind::User, Some(50002), Some("bob"), 5)],
        };
        assert_eq!(
            acl_text(&listing),
            "# file: /storage/projects\n# owner: 50001\n# group: 50000\nuser::rwx\nuser:bob:r-x\ngroup:50009:r--\n\
             group::r-x\nmask::rwx\nother::---\ndefault:user:bob:r-x\n"
        );
    }
}
