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
    let listener = UnixListener::from(fd);
    listener.set_nonblocking(true).ok()?;
    Some(listener)
}

/// Binds `path` (a stale socket file is replaced), then sets its mode and, if given, its group.
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Parses an octal socket mode such as `660`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| format!("'{s}' is not an octal mode like 660"))
}
