//! Any datagram as a kernel uevent (any process with CAP_NET_ADMIN can send to the group; the
//! sender check comes first in production, the parser must hold regardless): no panic, and a
//! parsed event names a plausible device.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = corenasd::imaging::uevent::parse(data);
});
