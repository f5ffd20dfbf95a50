//! POSIX ACL entries in the familiar `setfacl` text form (`u:alice:rwx`, `d:g:staff:r-x`,
//! `o::r`), parsed strictly and carried as typed values. Names are resolved to numeric ids by the
//! helper from the (prefixed) passwd/group files; the kernel only ever sees ids.

use crate::error::ValidationError;
use crate::names::{GroupName, UserName, parse_decimal, shown};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AclPerms(u8);

impl AclPerms {
    pub const READ: u8 = 4;
    pub const WRITE: u8 = 2;
    pub const EXECUTE: u8 = 1;

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & 7)
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    fn parse(s: &str) -> Option<Self> {
        if let [d @ b'0'..=b'7'] = s.as_bytes() {
            return Some(Self(d - b'0'));
        }
        if s.len() > 3 {
            return None;
        }
        let mut bits = 0u8;
        for c in s.bytes() {
            let bit = match c {
                b'r' => Self::READ,
                b'w' => Self::WRITE,
                b'x' => Self::EXECUTE,
                b'-' => continue,
                _ => return None,
            };
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        Some(Self(bits))
    }
}

impl fmt::Display for AclPerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let c = |bit: u8, ch: char| if b & bit != 0 { ch } else { '-' };
        write!(f, "{}{}{}", c(Self::READ, 'r'), c(Self::WRITE, 'w'), c(Self::EXECUTE, 'x'))
    }
}
impl fmt::Debug for AclPerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserRef {
    Name(UserName),
    Id(u32),
}
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupRef {
    Name(GroupName),
    Id(u32),
}

/// Who an entry applies to, as the kernel's tags: owner, a named user, owning group, a named
/// group, the mask, everybody else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AclTag {
    UserObj,
    User(UserRef),
    GroupObj,
    Group(GroupRef),
    Mask,
    Other,
}

impl fmt::Display for AclTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserObj => f.write_str("u:"),
            Self::User(UserRef::Name(n)) => write!(f, "u:{n}"),
            Self::User(UserRef::Id(i)) => write!(f, "u:{i}"),
            Self::GroupObj => f.write_str("g:"),
            Self::Group(GroupRef::Name(n)) => write!(f, "g:{n}"),
            Self::Group(GroupRef::Id(i)) => write!(f, "g:{i}"),
            Self::Mask => f.write_str("m:"),
            Self::Other => f.write_str("o:"),
        }
    }
}

fn acl_error(s: &str, why: &str) -> ValidationError {
    ValidationError::new(
        "acl",
        format!(
            "ACL entry '{}' is invalid: {why}; use [d:]u|g:[name or id]:perms, [d:]m::perms or [d:]o::perms, perms like rwx, r-x or 5",
            shown(s)
        ),
    )
}

/// Parses `[d[efault]:]tag:qualifier` and returns (default, tag, rest-after-qualifier).
fn parse_scope_and_tag(s: &str) -> Result<(bool, AclTag, Option<&str>), ValidationError> {
    if s.len() > 80 {
        return Err(acl_error(s, "longer than 80 characters"));
    }
    let mut parts: Vec<&str> = s.split(':').collect();
    let default = matches!(parts.first(), Some(&"d") | Some(&"default"));
    if default {
        parts.remove(0);
    }
    if parts.len() < 2 || parts.len() > 3 {
        return Err(acl_error(s, "wrong number of ':'-separated fields"));
    }
    let qualifier = parts[1];
    let tag = match parts[0] {
        "u" | "user" => match qualifier {
            "" => AclTag::UserObj,
            q => AclTag::User(match parse_decimal(q) {
                Some(id) => UserRef::Id(id),
                None => UserRef::Name(q.parse().map_err(|_| acl_error(s, "not a valid user name or uid"))?),
            }),
        },
        "g" | "group" => match qualifier {
            "" => AclTag::GroupObj,
            q => AclTag::Group(match parse_decimal(q) {
                Some(id) => GroupRef::Id(id),
                None => GroupRef::Name(q.parse().map_err(|_| acl_error(s, "not a valid group name or gid"))?),
            }),
        },
        "m" | "mask" if qualifier.is_empty() => AclTag::Mask,
        "o" | "other" if qualifier.is_empty() => AclTag::Other,
        "m" | "mask" | "o" | "other" => return Err(acl_error(s, "mask and other entries take no name")),
        _ => return Err(acl_error(s, "unknown tag (use u, g, m or o)")),
    };
    Ok((default, tag, parts.get(2).copied()))
}

/// One ACL entry to set, e.g. `u:alice:rwx` or `d:g:staff:r-x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AclEntry {
    pub default: bool,
    pub tag: AclTag,
    pub perms: AclPerms,
}

impl TryFrom<String> for AclEntry {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let (default, tag, perms) = parse_scope_and_tag(&s)?;
        let perms = perms.ok_or_else(|| acl_error(&s, "permissions are missing"))?;
        let perms =
            AclPerms::parse(perms).ok_or_else(|| acl_error(&s, "permissions must be like rwx, r-x, rw or 0-7"))?;
        Ok(Self { default, tag, perms })
    }
}
impl From<AclEntry> for String {
    fn from(e: AclEntry) -> String {
        e.to_string()
    }
}
impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}:{}", if self.default { "d:" } else { "" }, self.tag, self.perms)
    }
}
impl std::str::FromStr for AclEntry {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

/// A named entry to remove, e.g. `u:alice` or `d:g:staff`. Owner, owning group and other
/// entries cannot be removed (they are the mode bits); the mask is recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AclTarget {
    pub default: bool,
    pub tag: AclTag,
}

impl TryFrom<String> for AclTarget {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let (default, tag, rest) = parse_scope_and_tag(&s)?;
        if rest.is_some_and(|r| !r.is_empty()) {
            return Err(acl_error(&s, "give no permissions when removing an entry"));
        }
        if !matches!(tag, AclTag::User(_) | AclTag::Group(_)) {
            return Err(acl_error(&s, "only named user and group entries can be removed"));
        }
        Ok(Self { default, tag })
    }
}
impl From<AclTarget> for String {
    fn from(e: AclTarget) -> String {
        e.to_string()
    }
}
impl fmt::Display for AclTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.default { "d:" } else { "" }, self.tag)
    }
}
impl std::str::FromStr for AclTarget {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

/// Kernel tag kinds, as `getfacl` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclKind {
    UserObj,
    User,
    GroupObj,
    Group,
    Mask,
    Other,
}

/// One entry as read back from a file: numeric id, and the name the helper found for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedAclEntry {
    pub kind: AclKind,
    pub id: Option<u32>,
    pub name: Option<String>,
    pub perms: AclPerms,
}

impl fmt::Display for ResolvedAclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match (&self.name, self.id) {
            (Some(n), _) => n.clone(),
            (None, Some(id)) => id.to_string(),
            (None, None) => String::new(),
        };
        let tag = match self.kind {
            AclKind::UserObj | AclKind::User => "user",
            AclKind::GroupObj | AclKind::Group => "group",
            AclKind::Mask => "mask",
            AclKind::Other => "other",
        };
        write!(f, "{tag}:{who}:{}", self.perms)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclListing {
    pub path: String,
    pub owner: u32,
    pub group: u32,
    pub mode: u32,
    pub is_dir: bool,
    pub access: Vec<ResolvedAclEntry>,
    pub default: Vec<ResolvedAclEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        for (text, canon) in [
            ("u:alice:rwx", "u:alice:rwx"),
            ("user:alice:r-x", "u:alice:r-x"),
            ("g:staff:rw", "g:staff:rw-"),
            ("d:u:50001:5", "d:u:50001:r-x"),
            ("default:o::r", "d:o::r--"),
            ("m::rwx", "m::rwx"),
            ("u::rwx", "u::rwx"),
            ("g::", "g::---"),
        ] {
            let e: AclEntry = text.parse().unwrap();
            assert_eq!(e.to_string(), canon);
            assert_eq!(canon.parse::<AclEntry>().unwrap(), e);
        }
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "--set=u::rwx,g::---,o::---",
            "-b",
            "u:alice",
            "u:alice:rwxx",
            "u:alice:rwr",
            "u:Alice:rwx",
            "u:a b:rwx",
            "o:alice:r",
            "x:alice:r",
            "u:alice:8",
            "u:alice:rwx:extra",
            "u:alice:rw\n",
        ] {
            let e = bad.parse::<AclEntry>().unwrap_err();
            assert_eq!(e.field, "acl", "{bad}");
        }
        assert!("u:alice".parse::<AclTarget>().is_ok());
        assert!("d:g:50000".parse::<AclTarget>().is_ok());
        assert!("u::".parse::<AclTarget>().is_err());
        assert!("u:alice:rwx".parse::<AclTarget>().is_err());
        assert!("m::".parse::<AclTarget>().is_err());
    }
}
