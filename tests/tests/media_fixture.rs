//! The test media themselves (tests/src/media.rs): loop devices, ISO images and the faulty disk
//! must behave as the disc-imaging tests assume, or those tests prove nothing.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use corenas_tests::media::{
    FaultyDisk, LoopDisk, ScratchDir, blockdev_size, ddrescue_map, files_identical, is_sparse, iso_volume_bytes,
    make_iso, pad_file, pattern, read_range, sha256_hex, write_pattern_file,
};
use corenas_tests::{require_root, run, stderr, stdout};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const EIO: i32 = 5;

fn losetup_list() -> String {
    stdout(&run(Command::new("losetup").arg("-a")))
}

/// `dd if=DEV bs=4096 skip=PAGE count=COUNT`: the bytes, or dd's error message.
fn dd_pages(dev: &Path, page: u64, count: u64) -> Result<Vec<u8>, String> {
    let out = run(Command::new("dd").arg(format!("if={}", dev.display())).args([
        "bs=4096",
        &format!("skip={page}"),
        &format!("count={count}"),
        "status=none",
    ]));
    if out.status.success() { Ok(out.stdout) } else { Err(stderr(&out)) }
}

fn page_bytes(seed: u64, page: u64, count: u64) -> Vec<u8> {
    pattern(seed, page * 4096, usize::try_from(count * 4096).expect("small"))
}

#[test]
fn loop_disk_sparse_pattern_detach() {
    if !require_root("loop_disk_sparse_pattern_detach") {
        return;
    }
    let scratch = ScratchDir::new("loop");
    let disk = LoopDisk::sparse(&scratch.path, "disk", 8 * MIB);
    let (dev, backing) = (disk.dev.clone(), disk.backing.clone());
    assert!(is_sparse(&backing), "a new loop disk occupies no space");
    assert_eq!(blockdev_size(&dev), 8 * MIB);
    assert!(losetup_list().contains(&*backing.to_string_lossy()));

    disk.write_pattern(7);
    assert!(files_identical(&dev, &backing), "the device writes through to its file");
    // The pattern is deterministic: the same seed written elsewhere gives the same bytes.
    let again = scratch.path.join("again.img");
    write_pattern_file(&again, 8 * MIB, 7);
    assert_eq!(sha256_hex(&dev, None), sha256_hex(&again, None));
    write_pattern_file(&again, 8 * MIB, 8);
    assert!(!files_identical(&dev, &again), "another seed, another pattern");
    assert_eq!(read_range(&dev, 3 * MIB + 5, 100).expect("read"), pattern(7, 3 * MIB + 5, 100));

    disk.detach();
    // By backing file, not device name: a parallel test may already have the device again.
    assert!(!losetup_list().contains(&*backing.to_string_lossy()), "detached: {}", losetup_list());
    assert!(!backing.exists(), "the fixture removes the file it created");
}

#[test]
fn iso_on_padded_loop_device() {
    if !require_root("iso_on_padded_loop_device") {
        return;
    }
    let scratch = ScratchDir::new("iso");
    let iso = make_iso(&scratch.path, "CORENAS_TEST", 3 * MIB + 12345, 42);
    let volume = iso_volume_bytes(&iso);
    let iso_len = std::fs::metadata(&iso).expect("iso").len();
    assert_eq!(volume, iso_len, "genisoimage writes exactly the volume");
    assert!(volume > 3 * MIB + 12345, "the volume holds the payload");
    let iso_hash = sha256_hex(&iso, None);

    // A "disc" larger than its volume: the image must stop at the volume's end.
    pad_file(&iso, 5 * MIB);
    let disk = LoopDisk::attach_read_only(&iso);
    let size = blockdev_size(&disk.dev);
    assert_eq!(size, iso_len + 5 * MIB);
    assert!(size > volume);
    assert_eq!(iso_volume_bytes(&disk.dev), volume, "the PVD is read through the device");
    assert_eq!(sha256_hex(&disk.dev, Some(volume)), iso_hash, "the device's first volume bytes are the ISO");
    // Read-only means read-only.
    let writable = std::fs::OpenOptions::new().write(true).open(&disk.dev).expect("root may open it");
    assert!(writable.write_at(b"x", 0).is_err(), "writes to a read-only loop device fail");
    drop(writable);
    drop(disk);
    assert!(iso.exists(), "an attached file is not the fixture's to remove");
    assert!(!losetup_list().contains(&*iso.to_string_lossy()));
}

#[test]
fn faulty_disk_fails_exactly_the_bad_range() {
    if !require_root("faulty_disk_fails_exactly_the_bad_range") {
        return;
    }
    let scratch = ScratchDir::new("faulty");
    let seed = 3;
    // Pages 64..80 are bad.
    let disk = FaultyDisk::new(&scratch.path, MIB, &[(256 * KIB, 320 * KIB)], seed);
    assert_eq!(blockdev_size(&disk.dev), MIB);
    assert!(files_identical(&disk.backing, &{
        let p = scratch.path.join("expected.img");
        write_pattern_file(&p, MIB, seed);
        p
    }));

    assert_eq!(dd_pages(&disk.dev, 16, 8).expect("good range"), page_bytes(seed, 16, 8));
    // Right up to the edges, and no further.
    assert_eq!(dd_pages(&disk.dev, 63, 1).expect("page before"), page_bytes(seed, 63, 1));
    assert_eq!(dd_pages(&disk.dev, 80, 1).expect("page after"), page_bytes(seed, 80, 1));
    for page in [64, 72, 79] {
        let err = dd_pages(&disk.dev, page, 1).expect_err("bad page");
        assert!(err.contains("Input/output error"), "page {page}: {err}");
    }
    let err = read_range(&disk.dev, 256 * KIB + 100, 10).expect_err("bad range");
    assert_eq!(err.raw_os_error(), Some(EIO), "{err}");
    // A read that runs into the bad range returns the good part first (a short read); only
    // the next read fails, as with a real disk.
    let dev = std::fs::File::open(&disk.dev).expect("open");
    let mut buf = vec![0; 32 * 1024];
    let n = dev.read_at(&mut buf, 240 * KIB).expect("short read");
    assert_eq!(buf[..n], page_bytes(seed, 60, 4), "got {n} bytes");
    assert_eq!(dev.read_at(&mut buf, 256 * KIB).expect_err("bad").raw_os_error(), Some(EIO));

    disk.set_bad_ranges(&[]);
    assert_eq!(dd_pages(&disk.dev, 64, 16).expect("repaired"), page_bytes(seed, 64, 16));
    // And bad again, although `dev` keeps the device open and so its pages cached.
    let mut page = vec![0; 4096];
    dev.read_exact_at(&mut page, 256 * KIB).expect("cached now");
    disk.set_bad_ranges(&[(256 * KIB, 260 * KIB)]);
    assert_eq!(dev.read_exact_at(&mut page, 256 * KIB).expect_err("bad again").raw_os_error(), Some(EIO));
    assert_eq!(dd_pages(&disk.dev, 65, 1).expect("page after"), page_bytes(seed, 65, 1));
    drop(dev);
    // Nothing but the read trace of FAULTY_FS_TRACE=1, if set.
    assert!(disk.log().lines().all(|l| l.starts_with("faulty_fs: read ")), "faulty_fs.py complained: {}", disk.log());

    let (dev, image) = (disk.dev.clone(), disk.image.clone());
    drop(disk);
    assert!(!losetup_list().contains(&*image.to_string_lossy()), "{} left attached", dev.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&*scratch.path.to_string_lossy()), "FUSE mount left behind: {mounts}");
}

#[test]
fn ddrescue_maps_exactly_the_bad_range() {
    if !require_root("ddrescue_maps_exactly_the_bad_range") {
        return;
    }
    let scratch = ScratchDir::new("ddrescue");
    // 64 KiB of bad sectors, 4 KiB aligned but straddling two of ddrescue's 64 KiB clusters.
    let (bad_start, bad_len) = (MIB + 16 * KIB, 64 * KIB);
    let disk = FaultyDisk::new(&scratch.path, 4 * MIB, &[(bad_start, bad_start + bad_len)], 11);
    let (image, map) = (scratch.path.join("rescued.img"), scratch.path.join("rescued.map"));
    let ddrescue = |retry_passes: &str| {
        let out = run(Command::new("/usr/bin/ddrescue")
            .args(["-q", "--sector-size=512", retry_passes, "--"])
            .arg(&disk.dev)
            .arg(&image)
            .arg(&map));
        assert!(out.status.success(), "ddrescue: {}{}", stdout(&out), stderr(&out));
        ddrescue_map(&map)
    };

    // Observed: the copying pass fails around the bad range, trimming and scraping then read
    // what failed sector by sector, and exactly the 128 sectors of the 16 bad pages fail: one
    // bad block of exactly 64 KiB at exactly the bad range, since the faulty disk has no
    // readahead to widen errors to whole folios.
    let blocks = ddrescue("--retry-passes=0");
    let bad: Vec<_> = blocks.iter().filter(|b| b.2 == '-').collect();
    assert_eq!(bad, [&(bad_start, bad_len, '-')], "mapfile: {blocks:?}");
    assert!(blocks.iter().all(|b| b.2 == '+' || b.2 == '-'), "ddrescue finished: {blocks:?}");

    // Healed. A finished mapfile's bad sectors are tried again only in a retry pass.
    disk.set_bad_ranges(&[]);
    let blocks = ddrescue("--retry-passes=1");
    assert_eq!(blocks, [(0, 4 * MIB, '+')]);
    assert!(files_identical(&image, &disk.backing), "the rescued image is the disk");
}
