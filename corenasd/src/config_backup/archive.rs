//! The archive file: one age file (scrypt passphrase recipient) whose plaintext is a magic line,
//! the manifest as one JSON line, then the sections' bytes in the manifest's order. The whole
//! file is sealed: a wrong passphrase, a changed byte or a cut file fail age's MACs before
//! anything is read; each section's SHA-256 in the manifest is checked again after opening.
//!
//! Stock `age -d` (or `rage -d`) opens an archive with its passphrase, without CoreNAS.

use corenas_proto::config_backup::{ArchivePassphrase, Manifest, SectionInfo};
use corenas_proto::{ErrorCode, WireError};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// The archive format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;
const MAGIC: &[u8] = b"CORENAS-CONFIG-ARCHIVE\n";
/// scrypt cost: 2^18 (256 MiB, about a second), as age's own tools choose on a typical machine;
/// fixed rather than measured, so an archive made on a fast box opens on a slow one.
const SCRYPT_LOG_N: u8 = 18;
/// The most an archive may ask for when it is opened (2^20: 1 GiB): a crafted file must not
/// make corenasd allocate more.
const SCRYPT_MAX_LOG_N: u8 = 20;
/// The manifest line is small; a longer one is not an archive of ours.
const MANIFEST_MAX: usize = 64 * 1024;

/// An opened archive: its manifest and each section's bytes, checked against the manifest.
pub struct Contents {
    pub manifest: Manifest,
    pub sections: Vec<(String, Vec<u8>)>,
}

impl Contents {
    pub fn section(&self, name: &str) -> Option<&[u8]> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice())
    }
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::invalid("archive", message)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Fills in the manifest's sections and seals everything with the passphrase.
pub fn seal(
    mut manifest: Manifest,
    sections: &[(String, Vec<u8>)],
    passphrase: &ArchivePassphrase,
) -> Result<(Manifest, Vec<u8>), WireError> {
    manifest.format = FORMAT;
    manifest.sections = sections
        .iter()
        .map(|(name, bytes)| SectionInfo { name: name.clone(), bytes: bytes.len() as u64, sha256: sha256_hex(bytes) })
        .collect();
    let head = serde_json::to_vec(&manifest).map_err(|e| WireError::internal(format!("encoding the manifest: {e}")))?;
    let mut plain =
        Vec::with_capacity(MAGIC.len() + head.len() + 1 + sections.iter().map(|s| s.1.len()).sum::<usize>());
    plain.extend_from_slice(MAGIC);
    plain.extend_from_slice(&head);
    plain.push(b'\n');
    for (_, bytes) in sections {
        plain.extend_from_slice(bytes);
    }
    let mut recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.expose().to_owned()));
    recipient.set_work_factor(SCRYPT_LOG_N);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| WireError::internal(format!("sealing the archive: {e}")))?;
    let mut out = Vec::new();
    let sealed = (|| {
        let mut w = encryptor.wrap_output(&mut out)?;
        w.write_all(&plain)?;
        w.finish()?;
        Ok::<_, std::io::Error>(())
    })();
    plain.iter_mut().for_each(|b| *b = 0);
    sealed.map_err(|e| WireError::internal(format!("sealing the archive: {e}")))?;
    Ok((manifest, out))
}

/// Opens a sealed archive: the passphrase, age's integrity checks, the format version, the
/// manifest and every section's hash.
pub fn open(bytes: &[u8], passphrase: &ArchivePassphrase) -> Result<Contents, WireError> {
    use age::DecryptError as D;
    let damaged = || {
        invalid(
            "the archive is damaged or was altered (its authentication failed); nothing was restored: use another copy",
        )
    };
    let decryptor = age::Decryptor::new(bytes).map_err(|e| match e {
        D::InvalidHeader | D::UnknownFormat | D::Io(_) => {
            invalid("this file is not a CoreNAS configuration archive (no age header); nothing was restored")
        }
        _ => damaged(),
    })?;
    if !decryptor.is_scrypt() {
        return Err(invalid(
            "this age file is sealed to a key, not a passphrase: it is not a CoreNAS configuration archive",
        ));
    }
    let mut identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.expose().to_owned()));
    identity.set_max_work_factor(SCRYPT_MAX_LOG_N);
    let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| match e {
        // The scrypt stanza fails to decrypt with a wrong passphrase (or a changed stanza).
        D::NoMatchingKeys | D::KeyDecryptionFailed | D::DecryptionFailed => WireError {
            code: ErrorCode::InvalidInput,
            message: "the passphrase does not open this archive (a wrong passphrase, or the archive's header was altered); nothing was restored".into(),
            field: Some("passphrase".into()),
        },
        D::ExcessiveWork { required, .. } => invalid(format!(
            "the archive asks for scrypt work factor 2^{required}, more than the 2^{SCRYPT_MAX_LOG_N} CoreNAS accepts; nothing was restored"
        )),
        _ => damaged(),
    })?;
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).map_err(|_| damaged())?;
    parse(plain)
}

fn parse(plain: Vec<u8>) -> Result<Contents, WireError> {
    let rest = plain
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("the file opens but is not a CoreNAS configuration archive (no magic line)"))?;
    let end = rest
        .iter()
        .take(MANIFEST_MAX)
        .position(|b| *b == b'\n')
        .ok_or_else(|| invalid("the archive's manifest is missing or too long"))?;
    let value: serde_json::Value = serde_json::from_slice(&rest[..end])
        .map_err(|e| invalid(format!("the archive's manifest is unreadable: {e}")))?;
    // The format first, so a newer archive is refused for what it is, not for a field this
    // build does not know.
    let format = value.get("format").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if format > u64::from(FORMAT) {
        let made_by = value.get("corenas_version").and_then(|v| v.as_str()).unwrap_or("?");
        return Err(WireError::new(
            ErrorCode::InvalidState,
            format!(
                "the archive has format {format} (made by CoreNAS {made_by}); this CoreNAS ({}) reads formats up to {FORMAT}: restore it with CoreNAS {made_by} or newer",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| invalid(format!("the archive's manifest is unreadable: {e}")))?;
    let mut body = &rest[end + 1..];
    let mut sections = Vec::new();
    for s in &manifest.sections {
        let n = usize::try_from(s.bytes)
            .ok()
            .filter(|n| *n <= body.len())
            .ok_or_else(|| invalid(format!("the archive is cut short: section {} needs {} bytes", s.name, s.bytes)))?;
        let (bytes, after) = body.split_at(n);
        if sha256_hex(bytes) != s.sha256 {
            return Err(invalid(format!("section {} of the archive does not match its SHA-256", s.name)));
        }
        sections.push((s.name.clone(), bytes.to_vec()));
        body = after;
    }
    if !body.is_empty() {
        return Err(invalid("the archive has bytes its manifest does not list"));
    }
    Ok(Contents { manifest, sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: 0,
            corenas_version: "0.1.0".into(),
            schema_version: 10,
            host: "nas".into(),
            created: "2026-12-08T00:00:00Z".into(),
            sections: vec![],
        }
    }

    fn pass(s: &str) -> ArchivePassphrase {
        ArchivePassphrase::new(s.into()).unwrap()
    }

    #[test]
    fn round_trip_wrong_passphrase_and_tampering() {
        let sections = vec![("a".to_owned(), b"hello".to_vec()), ("b".to_owned(), vec![0u8; 70_000])];
        let (m, sealed) = seal(manifest(), &sections, &pass("correct horse battery")).unwrap();
        assert_eq!(m.format, FORMAT);
        assert!(!sealed.windows(5).any(|w| w == b"hello"), "the payload is encrypted");
        let opened = open(&sealed, &pass("correct horse battery")).unwrap();
        assert_eq!(opened.manifest, m);
        assert_eq!(opened.section("a"), Some(&b"hello"[..]));
        assert_eq!(opened.section("b").map(<[u8]>::len), Some(70_000));

        let e = open(&sealed, &pass("wrong horse battery")).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("passphrase"), "{e:?}");

        let mut bad = sealed.clone();
        let last = bad.len() - 40;
        bad[last] ^= 1;
        let e = open(&bad, &pass("correct horse battery")).err().unwrap();
        assert!(e.message.contains("damaged or was altered"), "{}", e.message);

        let e = open(b"plain text", &pass("correct horse battery")).err().unwrap();
        assert!(e.message.contains("not a CoreNAS configuration archive"), "{}", e.message);
    }

    #[test]
    fn a_newer_format_is_refused_naming_both_versions() {
        let mut plain = MAGIC.to_vec();
        plain.extend_from_slice(br#"{"format":99,"corenas_version":"9.0.0","future":true}"#);
        plain.push(b'\n');
        let e = parse(plain).err().unwrap();
        assert!(e.message.contains("format 99") && e.message.contains("up to 1"), "{}", e.message);
        assert!(e.message.contains("9.0.0"), "{}", e.message);
    }
}
