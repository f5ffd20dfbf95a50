//! The configuration backup's contract: the passphrase that seals an archive, what the accounts
//! helper exports (the managed accounts with their hashes, samba's passdb entries, the files of
//! `/etc/corenas`) and re-creates, and what a restore previews.
//!
//! Hashes travel as plain fields of these types on the binary wire only; corenasd never writes
//! them to the audit log or a log line (the helper logs a restore's names and ids, never its
//! hashes: see [`RestoreUser`]'s `Serialize`).

use crate::error::ValidationError;
use crate::names::UserName;
use crate::secret::REDACTED;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The passphrase that seals an archive (age, scrypt). Not CoreNAS's login policy: an admin may
/// choose a long phrase of words. 12-1024 printable ASCII characters or spaces; redacted like
/// [`crate::secret::Password`].
#[derive(Clone, PartialEq, Eq)]
pub struct ArchivePassphrase(String);

pub const PASSPHRASE_MIN: usize = 12;
pub const PASSPHRASE_MAX: usize = 1024;

impl ArchivePassphrase {
    pub fn new(s: String) -> Result<Self, ValidationError> {
        if !(PASSPHRASE_MIN..=PASSPHRASE_MAX).contains(&s.len()) || s.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(ValidationError::new(
                "passphrase",
                format!(
                    "the archive passphrase is invalid: use {PASSPHRASE_MIN}-{PASSPHRASE_MAX} printable ASCII characters (spaces allowed, no line breaks or control characters)"
                ),
            ));
        }
        Ok(Self(s))
    }
    /// The secret itself, for the sealing code only. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ArchivePassphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for ArchivePassphrase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(REDACTED) } else { s.serialize_str(&self.0) }
    }
}

impl<'de> Deserialize<'de> for ArchivePassphrase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One managed user as the accounts helper reads it (root only: the shadow entry and the SMB
/// hash). `uid` is the user's and its own group's id.
#[derive(Clone, Serialize, Deserialize)]
pub struct ExportedUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    /// The shadow file's password field as it is (`$y$...`, `!$y$...` when locked, `!` or `*`).
    pub hash: String,
    /// samba's passdb entry, if the user has one.
    pub smb: Option<SmbEntry>,
}

impl fmt::Debug for ExportedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedUser").field("name", &self.name).field("uid", &self.uid).finish_non_exhaustive()
    }
}

/// A passdb entry: the NT hash (32 hex digits) and whether the account is disabled.
#[derive(Clone, Serialize, Deserialize)]
pub struct SmbEntry {
    pub nt_hash: String,
    pub disabled: bool,
}

impl fmt::Debug for SmbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmbEntry").field("disabled", &self.disabled).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedGroup {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// A file beneath `/etc/corenas` (its path relative to that directory), with its mode.
#[derive(Clone, Serialize, Deserialize)]
pub struct EtcFile {
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

impl fmt::Debug for EtcFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcFile").field("path", &self.path).field("bytes", &self.content.len()).finish()
    }
}

/// The accounts helper's answer to `config_export`: the managed ranges only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigExport {
    pub users: Vec<ExportedUser>,
    pub groups: Vec<ExportedGroup>,
    pub etc: Vec<EtcFile>,
}

/// Re-create (or bring back) one managed user with its hashes (`HelperOp::UserRestore`). The
/// helper re-checks everything: `uid` in a managed range, the user absent or present with this
/// very uid, the hash one crypt(3) string of the shapes the shadow file holds, the NT hash 32
/// hex digits. `uid` and the hashes are plain fields so that the helper, not the decoder, says
/// what is wrong with them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreUser {
    pub name: UserName,
    pub uid: u32,
    pub gecos: String,
    pub shell: String,
    pub hash: String,
    pub smb: Option<SmbEntry>,
}

impl fmt::Debug for RestoreUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreUser").field("name", &self.name).field("uid", &self.uid).finish_non_exhaustive()
    }
}

/// Human-readable formats (logs, the audit, `--json`) get the names and ids only; the binary
/// wire carries the hashes.
impl Serialize for RestoreUser {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let readable = s.is_human_readable();
        let mut st = s.serialize_struct("RestoreUser", 6)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("uid", &self.uid)?;
        st.serialize_field("gecos", &self.gecos)?;
        st.serialize_field("shell", &self.shell)?;
        if readable {
            st.serialize_field("hash", REDACTED)?;
            st.serialize_field("smb", &self.smb.as_ref().map(|e| if e.disabled { "disabled" } else { "enabled" }))?;
        } else {
            st.serialize_field("hash", &self.hash)?;
            st.serialize_field("smb", &self.smb)?;
        }
        st.end()
    }
}

/// What corenasd hands back for `config backup`: the sealed archive and the name to save it as.
#[derive(Clone, Serialize, Deserialize)]
pub struct ConfigArchive {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

impl fmt::Debug for ConfigArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigArchive").field("file_name", &self.file_name).field("bytes", &self.bytes.len()).finish()
    }
}

/// An archive's table of contents (inside the sealed part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The archive format; a reader refuses a newer one.
    pub format: u32,
    pub corenas_version: String,
    /// The state database's schema version (`PRAGMA user_version`) in the archive.
    pub schema_version: i64,
    pub host: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub sections: Vec<SectionInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionInfo {
    pub name: String,
    pub bytes: u64,
    /// Hex SHA-256 of the section's bytes.
    pub sha256: String,
}

/// What a restore changes (or, in a dry run, would change), area by area.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestorePreview {
    pub manifest: Option<Manifest>,
    /// The archive's schema version was older: the restored copy was migrated to this one.
    pub migrated_to: Option<i64>,
    pub areas: Vec<AreaChange>,
}

/// One area (accounts, shares, mounts, schedules, web admins, settings, ...): the keys the
/// restore adds, changes and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaChange {
    pub area: String,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// One of the daily copies corenasd keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalCopy {
    pub file_name: String,
    pub bytes: u64,
    /// RFC 3339, UTC.
    pub created: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_bounds_and_redaction() {
        assert!(ArchivePassphrase::new("correct horse battery".into()).is_ok());
        for bad in ["short", "line\nbreak-is-not-ok", "tab\tis-not-accepted"] {
            let e = ArchivePassphrase::new(bad.into()).unwrap_err();
            assert_eq!(e.field, "passphrase");
            assert!(!e.message.contains(bad));
        }
        let p = ArchivePassphrase::new("correct horse battery".into()).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"<redacted>\"");
        assert_eq!(format!("{p:?}"), REDACTED);
        let back: ArchivePassphrase = postcard::from_bytes(&postcard::to_stdvec(&p).unwrap()).unwrap();
        assert_eq!(back.expose(), "correct horse battery");
    }

    #[test]
    fn a_restore_entry_shows_no_hash_in_json() {
        let u = RestoreUser {
            name: "alice".parse().unwrap(),
            uid: 50001,
            gecos: String::new(),
            shell: "/usr/sbin/nologin".into(),
            hash: "$y$j9T$salt$hashhashhash".into(),
            smb: Some(SmbEntry { nt_hash: "0123456789abcdef0123456789abcdef".into(), disabled: false }),
        };
        let json = serde_json::to_string(&u).unwrap();
        assert!(!json.contains("hashhash") && !json.contains("0123456789abcdef"), "{json}");
        assert!(!format!("{u:?}").contains("hashhash"));
        let back: RestoreUser = postcard::from_bytes(&postcard::to_stdvec(&u).unwrap()).unwrap();
        assert_eq!(back.hash, u.hash);
        assert_eq!(back.smb.unwrap().nt_hash, "0123456789abcdef0123456789abcdef");
    }
}
