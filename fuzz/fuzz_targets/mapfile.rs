//! Any bytes as a GNU ddrescue mapfile (it is rewritten in place while corenasd reads it, so
//! half-written files are normal): no panic, and a summary that parses never counts more bytes
//! than the domain holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((size_bytes, rest)) = data.split_at_checked(8) else { return };
    let domain = u64::from_le_bytes(size_bytes.try_into().unwrap_or_default()) % (1 << 44);
    if let Ok(m) = corenasd::imaging::mapfile::parse_bytes(rest, domain) {
        let counted = [m.rescued, m.non_tried, m.non_trimmed, m.non_scraped, m.bad]
            .iter()
            .try_fold(0u64, |a, b| a.checked_add(*b));
        assert!(counted.is_some_and(|c| c <= m.domain), "more bytes than the domain: {m:?}");
    }
});
