//! Test media for the disc-imaging system tests: real block devices (loop devices) over sparse
//! files, real ISO9660 images, and a "faulty disk" whose chosen byte ranges fail with a real EIO,
//! so that imaging code meets the kernel's actual error paths instead of a mock. Every fixture
//! cleans up in Drop (loop devices, mounts, processes, files), also when a test fails, and Drop
//! never panics.
//!
//! Everything here needs root (losetup, FUSE mounts); see [`crate::require_root`].
//!
//! # Loop over FUSE: what a reader of [`FaultyDisk::dev`] sees
//!
//! Found on Linux 6.18 with fusepy 3 over libfuse 2 (see `tests/tests/media_fixture.rs`):
//! - `losetup --direct-io=on` works over the FUSE file (the FUSE file is opened with
//!   `direct_io`, so nothing is cached below the loop device either way; with and without loop
//!   direct I/O the results are the same).
//! - Buffered readers (dd, ddrescue without `-d`) read through the loop device's page cache.
//!   With the default readahead (2.5 MiB here) the kernel reads ahead in 128 KiB requests into
//!   large folios; a failed readahead request fails its whole folio, and the retry of the page
//!   actually wanted reads the whole folio again: `dd bs=4096 conv=noerror` then saw EIO for
//!   the 512 KiB from the start of a 64 KiB bad range (ddrescue happened to see exactly 64 KiB,
//!   but that depends on its access pattern). [`FaultyDisk`] therefore sets readahead to 0
//!   (`blockdev --setra 0`; each attach resets it, so [`LoopDisk`]s keep the default): the
//!   kernel then reads one 4 KiB page per request, and the EIO region seen by any buffered
//!   reader is exactly the bad ranges rounded outward to 4096-byte pages. Each bad page reaches
//!   the script twice (as readahead, then as the page read proper); a read running into a bad
//!   page returns the good pages before it (a short read), and only the next read fails.
//! - `O_DIRECT` readers bypass the page cache: a request fails as a whole if it overlaps a bad
//!   range (the kernel does not split it), so the granularity is the reader's request size,
//!   down to the 512-byte logical sector.
//! - The block device's page cache is dropped when its last opener closes it, so stale cached
//!   pages matter only to a reader that keeps the device open; [`FaultyDisk::set_bad_ranges`]
//!   flushes the cache anyway.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Chunk size for streaming files and devices.
const CHUNK: usize = 1 << 20;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh directory for one test's media, removed (with everything in it) on drop unless
/// `CORENAS_KEEP_TEST_DIRS` is set. Declare it before the media in it, so that it is dropped
/// after them.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    /// `/var/tmp/corenas-media-NAME-PID-SEQ`: /var/tmp rather than /tmp, which may be a tmpfs
    /// too small for disc images.
    pub fn new(name: &str) -> ScratchDir {
        let path = PathBuf::from(format!(
            "/var/tmp/corenas-media-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        ScratchDir { path }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os("CORENAS_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A loop device over a file. Drop detaches it and removes the backing file if the fixture
/// created it.
pub struct LoopDisk {
    /// The loop device, `/dev/loopN`.
    pub dev: PathBuf,
    /// The file behind it.
    pub backing: PathBuf,
    /// `backing` as the kernel names it, to tell whether the device still holds it.
    bound: PathBuf,
    read_only: bool,
    owns_backing: bool,
    attached: bool,
}

impl LoopDisk {
    /// A new sparse file `dir/NAME.img` of `size` bytes (a multiple of 512) on a new loop device.
    pub fn sparse(dir: &Path, name: &str, size: u64) -> LoopDisk {
        Self::sparse_with(dir, name, size, &[])
    }

    /// Like [`LoopDisk::sparse`] with partition scanning on (`losetup --partscan`), so the
    /// kernel creates `/dev/loopNp1` for a partition table written to it.
    pub fn sparse_partscan(dir: &Path, name: &str, size: u64) -> LoopDisk {
        Self::sparse_with(dir, name, size, &["--partscan"])
    }

    fn sparse_with(dir: &Path, name: &str, size: u64, flags: &[&str]) -> LoopDisk {
        assert!(size > 0 && size % 512 == 0, "loop device size {size} must be a positive multiple of 512");
        let backing = dir.join(format!("{name}.img"));
        let file = File::create(&backing).unwrap_or_else(|e| panic!("create {}: {e}", backing.display()));
        file.set_len(size).unwrap_or_else(|e| panic!("size {}: {e}", backing.display()));
        drop(file);
        match losetup_attach(&backing, flags) {
            Ok(dev) => {
                let bound = canonical(&backing);
                LoopDisk { dev, backing, bound, read_only: false, owns_backing: true, attached: true }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&backing);
                panic!("{e}");
            }
        }
    }

    /// A read-write loop device over an existing file, which stays when the disk is dropped.
    pub fn attach(file: &Path) -> LoopDisk {
        Self::attach_existing(file, false)
    }

    /// A read-only loop device over an existing file (`losetup --read-only`), like a disc in a
    /// drive: writes to the device fail with EPERM/EROFS.
    pub fn attach_read_only(file: &Path) -> LoopDisk {
        Self::attach_existing(file, true)
    }

    fn attach_existing(file: &Path, read_only: bool) -> LoopDisk {
        let flags: &[&str] = if read_only { &["--read-only"] } else { &[] };
        let dev = losetup_attach(file, flags).unwrap_or_else(|e| panic!("{e}"));
        LoopDisk {
            dev,
            backing: file.to_path_buf(),
            bound: canonical(file),
            read_only,
            owns_backing: false,
            attached: true,
        }
    }

    /// The device's size in bytes.
    pub fn size(&self) -> u64 {
        blockdev_size(&self.dev)
    }

    /// Fills the whole device with [`fill_pattern`]`(seed, ..)`, then syncs, so that a copy of
    /// the device can be checked byte for byte against an independently generated pattern.
    pub fn write_pattern(&self, seed: u64) {
        assert!(!self.read_only, "write_pattern: {} is read-only", self.dev.display());
        let size = self.size();
        let mut dev = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.dev)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.dev.display()));
        write_pattern_to(&mut dev, size, seed).unwrap_or_else(|e| panic!("write {}: {e}", self.dev.display()));
        dev.sync_all().unwrap_or_else(|e| panic!("sync {}: {e}", self.dev.display()));
    }

    /// Detaches now and panics if the device still holds the file afterwards (Drop does the
    /// same silently).
    pub fn detach(mut self) {
        if let Err(e) = self.release() {
            panic!("{e}");
        }
    }

    fn release(&mut self) -> Result<(), String> {
        let mut result = Ok(());
        if self.attached {
            self.attached = false;
            result = losetup_detach(&self.dev, &self.bound);
        }
        if self.owns_backing {
            self.owns_backing = false;
            let _ = std::fs::remove_file(&self.backing);
        }
        result
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// `losetup --find --show [FLAGS] -- FILE`: the new device, or why not.
fn losetup_attach(file: &Path, flags: &[&str]) -> Result<PathBuf, String> {
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .args(flags)
        .arg("--")
        .arg(file)
        .output()
        .map_err(|e| format!("running losetup: {e}"))?;
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !dev.starts_with("/dev/loop") {
        return Err(format!(
            "losetup {flags:?} {} failed: {}{}",
            file.display(),
            dev,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(dev))
}

/// The absolute path without symlinks, as the kernel reports a loop device's backing file.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|e| panic!("canonicalize {}: {e}", path.display()))
}

/// Whether `dev` is still bound to the file `bound` (a [`canonical`] path), from sysfs.
fn loop_holds(dev: &Path, bound: &Path) -> bool {
    let Some(name) = dev.file_name().and_then(|n| n.to_str()) else { return false };
    let Ok(text) = std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")) else { return false };
    Path::new(text.trim_end_matches('\n').trim_end_matches(" (deleted)")) == bound
}

/// `losetup -d`, then waits until the device has let go of `bound`: on a device that someone
/// still holds open, the kernel only marks it for autoclear, and the file stays in use until the
/// last close. Never panics.
fn losetup_detach(dev: &Path, bound: &Path) -> Result<(), String> {
    // Long enough for a transient opener (udev's blkid) to let go; a test that still holds the
    // device open is not waited for.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut detached = false;
    let mut last_error = String::new();
    loop {
        // Repeated only while it fails (the device is ours then): once accepted, the device may
        // clear itself at any moment and be reattached by a parallel test.
        if !detached {
            match Command::new("losetup").arg("-d").arg(dev).output() {
                Ok(out) if out.status.success() => detached = true,
                Ok(out) => last_error = String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => last_error = e.to_string(),
            }
        }
        if !loop_holds(dev, bound) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let why = if detached { "it is still open (autoclear pending)".to_owned() } else { last_error };
            return Err(format!("{} still holds {}: {why}", dev.display(), bound.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The size of a block device in bytes (`blockdev --getsize64`).
pub fn blockdev_size(dev: &Path) -> u64 {
    let out = crate::run(Command::new("blockdev").arg("--getsize64").arg(dev));
    assert!(out.status.success(), "blockdev --getsize64 {}: {}", dev.display(), crate::stderr(&out));
    crate::stdout(&out).trim().parse().unwrap_or_else(|e| panic!("blockdev --getsize64 {}: {e}", dev.display()))
}

/// One 8-byte word of the pattern: splitmix64 at index `index`, so any part of the pattern can
/// be computed without generating what comes before it.
fn pattern_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with the deterministic pseudo-random pattern of `seed` as it stands at byte
/// `offset`: the same seed always gives the same bytes at the same offset, whatever pieces they
/// are generated in.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut done = 0;
    while done < buf.len() {
        let word = pattern_word(seed, pos / 8).to_le_bytes();
        let skip = usize::try_from(pos % 8).unwrap_or_default();
        let n = (8 - skip).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&word[skip..skip + n]);
        done += n;
        pos += n as u64;
    }
}

/// `len` bytes of the pattern of `seed` from byte `offset`: what a good read there must return.
pub fn pattern(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    fill_pattern(seed, offset, &mut buf);
    buf
}

fn write_pattern_to(out: &mut impl Write, size: u64, seed: u64) -> std::io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut pos = 0;
    while pos < size {
        let n = usize::try_from((size - pos).min(CHUNK as u64)).unwrap_or(CHUNK);
        fill_pattern(seed, pos, &mut buf[..n]);
        out.write_all(&buf[..n])?;
        pos += n as u64;
    }
    out.flush()
}

/// Creates (or replaces) the regular file `path` holding `size` bytes of the pattern of `seed`.
pub fn write_pattern_file(path: &Path, size: u64, seed: u64) {
    let mut file =
        std::io::BufWriter::new(File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())));
    write_pattern_to(&mut file, size, seed).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Reads `buf.len()` bytes or up to end of file; returns how many.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Whether two files or devices have the same content (and length), compared chunk by chunk so
/// that multi-gigabyte images need no memory. Panics on read errors: they are not "different".
pub fn files_identical(a: &Path, b: &Path) -> bool {
    let open = |p: &Path| File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    let (mut fa, mut fb) = (open(a), open(b));
    let (mut ba, mut bb) = (vec![0; CHUNK], vec![0; CHUNK]);
    loop {
        let na = read_full(&mut fa, &mut ba).unwrap_or_else(|e| panic!("read {}: {e}", a.display()));
        let nb = read_full(&mut fb, &mut bb).unwrap_or_else(|e| panic!("read {}: {e}", b.display()));
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

/// `len` bytes at `offset` of a file or device with one positioned read (`pread`), for tests
/// that expect a read to fail: the error is returned as is (EIO is `raw_os_error() == Some(5)`).
pub fn read_range(path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The SHA-256 of a file or device (lowercase hex), of its first `len` bytes if given (which
/// must exist), computed by coreutils' `sha256sum` reading from a pipe: there is no hashing crate
/// in this workspace, and a pipe lets us hash a prefix of a device.
pub fn sha256_hex(path: &Path, len: Option<u64>) -> String {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running sha256sum: {e}"));
    let mut stdin = child.stdin.take().expect("sha256sum stdin");
    let copied = match len {
        Some(n) => std::io::copy(&mut (&mut file).take(n), &mut stdin),
        None => std::io::copy(&mut file, &mut stdin),
    };
    drop(stdin);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("sha256sum: {e}"));
    let copied = copied.unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if let Some(n) = len {
        assert_eq!(copied, n, "sha256_hex: {} has only {copied} of the {n} bytes to hash", path.display());
    }
    assert!(out.status.success(), "sha256sum: {}", crate::stderr(&out));
    let hex = crate::stdout(&out).split_whitespace().next().unwrap_or_default().to_owned();
    assert_eq!(hex.len(), 64, "sha256sum printed {:?}", crate::stdout(&out));
    hex
}

/// Builds a real ISO9660 image `dir/LABEL.iso` with genisoimage, volume id `label` (at most 32
/// characters), holding files of pseudo-random content (the pattern of `seed`, one file per
/// started MiB up to three) that total `payload_bytes`. The image is not byte-reproducible
/// (genisoimage records the time): compare images with each other, not with a constant.
pub fn make_iso(dir: &Path, label: &str, payload_bytes: u64, seed: u64) -> PathBuf {
    assert!(!label.is_empty() && label.len() <= 32, "ISO volume id {label:?} must have 1 to 32 characters");
    let src = dir.join(format!("{label}.src"));
    let iso = dir.join(format!("{label}.iso"));
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("create {}: {e}", src.display()));
    let files = payload_bytes.div_ceil(1 << 20).clamp(1, 3);
    let mut offset = 0;
    for i in 0..files {
        let size = if i + 1 == files { payload_bytes - offset } else { payload_bytes / files };
        // One seed per file, so that the files differ from each other too.
        write_pattern_file(&src.join(format!("DATA{i}.BIN")), size, seed.wrapping_add(i));
        offset += size;
    }
    let out = crate::run(Command::new("genisoimage").args(["-quiet", "-V", label, "-o"]).arg(&iso).arg(&src));
    let _ = std::fs::remove_dir_all(&src);
    assert!(out.status.success(), "genisoimage for {}: {}", iso.display(), crate::stderr(&out));
    iso
}

/// The size of an ISO9660 volume in bytes, from its primary volume descriptor (sector 16:
/// volume space size, little-endian u32 at byte 80, in 2048-byte blocks). Works on an image file
/// as on a device holding one; this, not the device size, is what a disc image must cover.
pub fn iso_volume_bytes(iso: &Path) -> u64 {
    let pvd = read_range(iso, 16 * 2048, 2048).unwrap_or_else(|e| panic!("read PVD of {}: {e}", iso.display()));
    assert!(pvd[0] == 1 && &pvd[1..6] == b"CD001", "{} has no ISO9660 primary volume descriptor", iso.display());
    let blocks = u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]);
    u64::from(blocks) * 2048
}

/// Appends `extra_bytes` zero bytes (a sparse hole) to a file, e.g. an ISO, so that the loop
/// device over it is larger than the volume it holds, as a disc is larger than its session.
pub fn pad_file(path: &Path, extra_bytes: u64) {
    let file =
        std::fs::OpenOptions::new().write(true).open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let len = file.metadata().map(|m| m.len()).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    file.set_len(len + extra_bytes).unwrap_or_else(|e| panic!("extend {}: {e}", path.display()));
}

/// Whether a file is sparse, i.e. occupies fewer disk blocks than its length.
pub fn is_sparse(path: &Path) -> bool {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    meta.blocks() * 512 < meta.len()
}

/// The blocks of a GNU ddrescue mapfile as `(pos, size, status)`, status being one of
/// `?*/-+` (non-tried, non-trimmed, non-scraped, bad sector, finished).
pub fn ddrescue_map(map: &Path) -> Vec<(u64, u64, char)> {
    let text = std::fs::read_to_string(map).unwrap_or_else(|e| panic!("read {}: {e}", map.display()));
    let hex = |s: &str| {
        u64::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16)
            .unwrap_or_else(|e| panic!("bad number {s:?} in {}: {e}", map.display()))
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        // The first data line is the current position and status, not a block.
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 3, "bad block line {l:?} in {}", map.display());
            (hex(f[0]), hex(f[1]), f[2].chars().next().unwrap_or('?'))
        })
        .collect()
}

/// A block device whose chosen byte ranges fail with a real EIO, like a scratched disc: a loop
/// device over the file of a small FUSE filesystem (`tests/fixtures/faulty_fs.py`) that serves
/// the pattern of `seed`, except that reads overlapping a bad range fail. The bad ranges can be
/// changed while the device is in use. See the module documentation for how exactly the errors
/// reach a reader.
pub struct FaultyDisk {
    /// The loop device, `/dev/loopN` (read-only).
    pub dev: PathBuf,
    /// The healthy content: a regular file with the pattern of `seed`, what a perfect rescue of
    /// `dev` yields.
    pub backing: PathBuf,
    /// The FUSE file behind `dev`.
    pub image: PathBuf,
    /// `image` as the kernel names it (computed before mounting: no lookups into the mount in
    /// Drop, where the script may be dead).
    bound: PathBuf,
    /// This disk's own directory (backing file, control file, mount point, script log).
    dir: PathBuf,
    mountpoint: PathBuf,
    control: PathBuf,
    log: PathBuf,
    fs: Option<Child>,
    attached: bool,
}

impl FaultyDisk {
    /// A faulty disk of `size` bytes (a multiple of 4096) in a new subdirectory of `dir`, with
    /// content [`pattern`]`(seed, ..)` and reads failing in the `[start, end)` byte ranges
    /// `bad_ranges`. Set `FAULTY_FS_TRACE=1` to have the script log every read it serves.
    pub fn new(dir: &Path, size: u64, bad_ranges: &[(u64, u64)], seed: u64) -> FaultyDisk {
        assert!(size > 0 && size % 4096 == 0, "faulty disk size {size} must be a positive multiple of 4096");
        let own = dir.join(format!("faulty-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst)));
        let mountpoint = own.join("mnt");
        std::fs::create_dir_all(&mountpoint).unwrap_or_else(|e| panic!("create {}: {e}", mountpoint.display()));
        let bound = canonical(&mountpoint).join("disk.img");
        // From here on, a panic drops `disk`, which undoes whatever was done so far.
        let mut disk = FaultyDisk {
            dev: PathBuf::new(),
            backing: own.join("backing.img"),
            image: mountpoint.join("disk.img"),
            bound,
            control: own.join("bad-ranges.json"),
            log: own.join("faulty_fs.log"),
            mountpoint,
            dir: own,
            fs: None,
            attached: false,
        };
        write_pattern_file(&disk.backing, size, seed);
        disk.set_bad_ranges(bad_ranges);
        disk.mount();
        // Loop direct I/O works over this FUSE file; fall back to buffered if a kernel refuses.
        let dev = losetup_attach(&disk.image, &["--read-only", "--direct-io=on"])
            .or_else(|_| losetup_attach(&disk.image, &["--read-only"]))
            .unwrap_or_else(|e| panic!("{e}"));
        disk.dev = dev;
        disk.attached = true;
        // Without readahead every page is read on its own, so that a bad range fails exactly
        // its own pages (see the module documentation).
        let out = crate::run(Command::new("blockdev").args(["--setra", "0"]).arg(&disk.dev));
        assert!(out.status.success(), "blockdev --setra 0 {}: {}", disk.dev.display(), crate::stderr(&out));
        disk
    }

    /// Starts the FUSE script and waits until its file is there.
    fn mount(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/faulty_fs.py");
        let log = File::create(&self.log).unwrap_or_else(|e| panic!("create {}: {e}", self.log.display()));
        let child = Command::new("python3")
            .arg(&script)
            .args([&self.backing, &self.control, &self.mountpoint])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let fs = self.fs.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.image.exists() {
            let exited = fs.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let why = exited.map_or("did not mount within 10 s".to_owned(), |s| format!("exited ({s})"));
                panic!(
                    "faulty_fs.py {why} (is fusepy installed? `pip install fusepy`); its output:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces the bad ranges (`[start, end)` byte pairs; empty: a healthy disk). Takes effect
    /// at the next read that reaches the script; cached pages of the loop device are flushed so
    /// that a region that turned bad is read again.
    pub fn set_bad_ranges(&self, ranges: &[(u64, u64)]) {
        for &(start, end) in ranges {
            assert!(start < end, "bad range [{start}, {end}) is empty");
        }
        let json = serde_json::to_string(&ranges.iter().map(|&(s, e)| [s, e]).collect::<Vec<_>>()).expect("json");
        // Written aside and renamed: the script must never read a half-written list.
        let tmp = self.control.with_extension("tmp");
        std::fs::write(&tmp, json).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &self.control).unwrap_or_else(|e| panic!("rename to {}: {e}", self.control.display()));
        if self.attached {
            let out = crate::run(Command::new("blockdev").arg("--flushbufs").arg(&self.dev));
            assert!(out.status.success(), "blockdev --flushbufs {}: {}", self.dev.display(), crate::stderr(&out));
        }
    }

    /// What the script printed (errors; every read with `FAULTY_FS_TRACE=1`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FaultyDisk {
    /// Detach, unmount, stop the script, remove the files: in this order, since each step needs
    /// the next one's resource released by the previous. Nothing here may panic.
    fn drop(&mut self) {
        if self.attached {
            let _ = losetup_detach(&self.dev, &self.bound);
        }
        let mut unmounted = true;
        if let Some(mut fs) = self.fs.take() {
            let ok = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
            let clean = ok(Command::new("fusermount").arg("-u").arg(&self.mountpoint));
            // Lazily, if the loop device is still held open (and so holds the FUSE file): the
            // holder then reads EIO once the script is gone, and the device clears itself at
            // its last close.
            unmounted = clean || ok(Command::new("umount").arg("-l").arg(&self.mountpoint));
            // A clean unmount ends the script's FUSE loop. It is signalled only if it does not
            // exit, and never once reaped, when its pid may be someone else's.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut exited = false;
            while clean && !exited && Instant::now() < deadline {
                exited = matches!(fs.try_wait(), Ok(Some(_)));
                if !exited {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if !exited {
                crate::stop(&mut fs);
            }
        }
        // Never remove a directory with a live mount in it: the removal would go into the mount.
        if unmounted && std::env::var_os("CORENAS_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Destroys a test's ZFS pool even when the test fails half-way (zfs-fuse may call a pool busy
/// for a moment after its last use, so it tries for up to 5 s).
pub struct PoolGuard(pub String);

impl Drop for PoolGuard {
    fn drop(&mut self) {
        for _ in 0..20 {
            let o = std::process::Command::new("zpool").args(["destroy", "-f", &self.0]).output();
            let gone =
                !std::process::Command::new("zpool").args(["list", &self.0]).output().is_ok_and(|o| o.status.success());
            if gone || o.is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}
