//! Any datagram as a kernel uevent (any process with CAP_NET_ADMIN can send to the group; the
//! sender check comes first in production, the parser must hold regardless): no panic, and what
//! parses has an absolute devpath without '.'/'..'/empty components and printable names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ev) = corenasd::devices::uevent::parse(data) {
        let p = &ev.devpath;
        assert!(p.starts_with('/') && !p[1..].split('/').any(|c| c.is_empty() || c == "." || c == ".."), "{p:?}");
        for name in [ev.devname.as_deref(), ev.subsystem.as_deref(), ev.devtype.as_deref()].into_iter().flatten() {
            assert!(!name.chars().any(char::is_control), "a control character in {name:?}");
        }
    }
});
