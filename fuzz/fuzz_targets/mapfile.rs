//! Any bytes as a GNU ddrescue mapfile (it is rewritten in place while corenasd reads it, so
//! half-written files are normal): no panic, and a summary that parses never counts more bytes
//! than the domain holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((size_bytes, rest)) = data.split_at_checked(8) else { return };
    let domain = u64::from_le_bytes(size_bytes.try_into().unwrap_or_default()) % (1 << 44);
    let _ = corenasd::imaging::mapfile::parse_bytes(rest, domain);
});
