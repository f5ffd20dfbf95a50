//! Listening sockets, shared by corenas-helper and corenasd: taken from systemd socket
//! activation (`LISTEN_FDS`), or bound at a path with mode and group set before anyone can
//! connect (the lab and tests).

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

/// The first fd passed by systemd, if `LISTEN_PID` names this process. Call it from `main()`
/// before any thread exists: it removes the activation variables from the environment so the
/// programs this process starts do not inherit them.
pub fn from_systemd() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: systemd's protocol passes the listening socket as fd 3 and LISTEN_PID proves it is
    // meant for this process; nothing else in this process owns fd 3.
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    // SAFETY: documented precondition: called in main() before any other thread exists.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let listener = inherited(fd).ok()?;
    listener.set_nonblocking(true).ok()?;
    Some(listener)
}

/// A listening socket inherited from systemd, made close-on-exec: systemd passes it without
/// `FD_CLOEXEC`, and the helper runs tools (zpool, mdadm, pamtester ...) that would otherwise
/// inherit the socket corenasd connects to, and could accept on it.
fn inherited(fd: OwnedFd) -> std::io::Result<UnixListener> {
    let flags = rustix::io::fcntl_getfd(&fd)?;
    rustix::io::fcntl_setfd(&fd, flags | rustix::io::FdFlags::CLOEXEC)?;
    Ok(UnixListener::from(fd))
}

/// Binds `path` (a stale socket file is replaced) with its mode and, if given, its group.
///
/// The socket is bound and listening under a temporary name in the same directory, given its
/// mode and group there, and only then renamed to `path`: whoever finds the path can connect
/// (no `ECONNREFUSED` between bind and listen) and never finds it with the umask's mode.
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let name = path.file_name().ok_or_else(|| std::io::Error::other(format!("{}: not a file path", path.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.new", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp)?;
    let placed = (|| {
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(&temp, None, Some(gid))?;
        }
        // rename(2) replaces a stale socket file atomically.
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Parses an octal socket mode such as `660`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| format!("'{s}' is not an octal mode like 660"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    #[test]
    fn an_inherited_socket_becomes_close_on_exec() {
        let dir = std::env::temp_dir().join(format!("corenas-socket-inherit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = bind(&dir.join("s.sock"), 0o600, None).unwrap();
        // As systemd hands it over: the same socket without FD_CLOEXEC.
        let fd = OwnedFd::from(listener);
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).unwrap();
        assert!(!rustix::io::fcntl_getfd(&fd).unwrap().contains(rustix::io::FdFlags::CLOEXEC));
        let listener = inherited(fd).unwrap();
        assert!(rustix::io::fcntl_getfd(&listener).unwrap().contains(rustix::io::FdFlags::CLOEXEC));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bound_socket_appears_listening_with_its_mode_and_replaces_a_stale_one() {
        let dir = std::env::temp_dir().join(format!("corenas-socket-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        std::fs::write(&path, b"stale").unwrap();
        let listener = bind(&path, 0o640, None).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket(), "the stale file was replaced by the socket");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        std::os::unix::net::UnixStream::connect(&path).expect("connects as soon as the path exists");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("s.sock")], "no temporary name is left");
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
