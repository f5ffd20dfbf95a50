//! Any text as the output of every tool corenasd parses (zpool/zfs, btrfs, mdadm, LVM,
//! smartctl, hdparm, nvme-cli, blkid): parsers of untrusted data never panic. The first byte
//! picks the parser, so the fuzzer can specialise.
#![no_main]

use corenasd::devices::{erase, inventory, smart};
use corenasd::storage::{btrfs, lvm, mdadm, zfs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 16 {
        0 => drop(zfs::parse_list(&text)),
        1 => drop(zfs::parse_status(&text)),
        2 => drop(zfs::parse_get(&text)),
        3 => drop(btrfs::parse_show(&text)),
        4 => drop(btrfs::parse_subvolumes(&text)),
        5 => drop(btrfs::parse_scrub(&text, Some(1 << 30))),
        6 => drop(mdadm::parse_mdstat(&text)),
        7 => drop(mdadm::parse_detail(&text)),
        8 => drop(mdadm::parse_detail_export(&text)),
        9 => drop(mdadm::parse_detail_scan(&text)),
        10 => drop((lvm::parse_pvs(&text), lvm::parse_vgs(&text), lvm::parse_lvs(&text))),
        11 => drop(smart::parse_smartctl("/dev/sda", rest, Some(i32::from(which)))),
        12 => drop(erase::parse_ata_security(&text)),
        13 => drop((erase::parse_nvme_caps(&text), erase::parse_sanitize_log(&text))),
        14 => drop(inventory::parse_blkid_export(&text)),
        _ => drop((mdadm::rebuild_progress(&text, "md0"), mdadm::sync_progress(&text, "md127"))),
    }
});
