//! `StorageQuery::BackupSampleHashes`: SHA-256 of a few files in a backup job's own source
//! snapshot, so the sample restore can compare what restic gives back with what it read
//! (decision 0020, "Proven restorability"). The snapshot is found from the job id and the
//! source as BackupFinish finds it; corenasd names only paths relative to it, each opened with
//! `openat2(RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV)` and O_NOFOLLOW: no link, no other
//! mount, nothing outside the read-only snapshot. Only digests and sizes leave the helper.
//! Must not: read a live tree, follow a link, or hash more than the caps.

use super::source::{self, RESOLVE};
use crate::ops::Ctx;
use corenas_proto::backup::{BackupJobId, RemotePath, SnapshotPath, SnapshotSource};
use corenas_proto::helper::{SAMPLE_FILE_BYTES_MAX, SAMPLE_FILES_MAX, ToolOutput};
use corenas_proto::{ErrorCode, WireError};
use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::fd::OwnedFd;

pub async fn hashes(
    ctx: &Ctx,
    job: &BackupJobId,
    source: &SnapshotSource,
    subpath: Option<&RemotePath>,
    paths: &[SnapshotPath],
) -> Result<ToolOutput, WireError> {
    if paths.len() > SAMPLE_FILES_MAX {
        let mut e = WireError::new(
            ErrorCode::OutOfRange,
            format!("{} paths asked for; at most {SAMPLE_FILES_MAX} are hashed at once", paths.len()),
        );
        e.field = Some("paths".into());
        return Err(e);
    }
    let resolved = source::resolve(ctx, source).await?;
    let snap = resolved.snapshot_dir(job);
    let root = source::open_beneath(&snap, subpath).map_err(|e| {
        WireError::new(e.code, format!("the snapshot of job {job} is not there to hash from: {}", e.message))
    })?;
    let paths = paths.to_vec();
    let lines = tokio::task::spawn_blocking(move || paths.iter().map(|p| line(&root, p)).collect::<Vec<_>>())
        .await
        .map_err(|e| WireError::internal(format!("hashing sample files: {e}")))?;
    Ok(ToolOutput { code: Some(0), stdout: lines.join(""), stderr: String::new() })
}

/// `<sha256> <size>\n`, or `- <why>\n`.
fn line(root: &OwnedFd, p: &SnapshotPath) -> String {
    match hash_beneath(root, p) {
        Ok((hex, size)) => format!("{hex} {size}\n"),
        Err(why) => format!("- {why}\n"),
    }
}

fn hash_beneath(root: &OwnedFd, p: &SnapshotPath) -> Result<(String, u64), String> {
    let rel = p.as_str().trim_start_matches('/');
    if rel.is_empty() {
        return Err("the source's root is not a file".into());
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let fd = rustix::fs::openat2(root, rel, flags, Mode::empty(), RESOLVE).map_err(|e| match e {
        rustix::io::Errno::LOOP => "a symbolic link is on the way".to_owned(),
        rustix::io::Errno::XDEV => "another mount is on the way".to_owned(),
        rustix::io::Errno::NOENT => "not in the snapshot".to_owned(),
        e => e.to_string(),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err("not a regular file".into());
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > SAMPLE_FILE_BYTES_MAX {
        return Err(format!("larger than {SAMPLE_FILE_BYTES_MAX} bytes"));
    }
    let mut f = std::fs::File::from(fd);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > SAMPLE_FILE_BYTES_MAX {
            return Err(format!("larger than {SAMPLE_FILE_BYTES_MAX} bytes"));
        }
        h.update(&buf[..n]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("corenas-sample-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// corenasd names the paths: a link out of the snapshot, a directory, `..` and a missing
    /// file are each refused on their own line, and only real files beneath are hashed.
    #[test]
    fn only_regular_files_beneath_the_root_are_hashed() {
        let d = tmp("hash");
        let root = d.join("snap");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("docs/a.txt"), b"hello\n").unwrap();
        std::fs::write(d.join("outside"), b"secret").unwrap();
        std::os::unix::fs::symlink(d.join("outside"), root.join("docs/link")).unwrap();
        std::os::unix::fs::symlink("../../outside", root.join("rel")).unwrap();
        let fd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let p = |s: &str| s.parse::<SnapshotPath>().unwrap();
        // sha256("hello\n")
        assert_eq!(
            line(&fd, &p("/docs/a.txt")),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 6\n"
        );
        assert_eq!(line(&fd, &p("/docs/link")), "- a symbolic link is on the way\n");
        assert_eq!(line(&fd, &p("/rel")), "- a symbolic link is on the way\n");
        assert_eq!(line(&fd, &p("/docs")), "- not a regular file\n");
        assert_eq!(line(&fd, &p("/nope")), "- not in the snapshot\n");
        assert_eq!(line(&fd, &p("/")), "- the source's root is not a file\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
