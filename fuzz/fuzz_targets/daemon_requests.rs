//! Any bytes as a request to corenasd, decoded the way corenasd decodes a frame's payload: no
//! panic, and whatever decodes re-encodes to bytes that decode again.
#![no_main]

use corenas_proto::api::CorenasRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = postcard::from_bytes::<CorenasRequest>(data) {
        let again = postcard::to_stdvec(&req).expect("a decoded request encodes");
        assert!(postcard::from_bytes::<CorenasRequest>(&again).is_ok(), "re-encoded request does not decode: {req:?}");
    }
});
