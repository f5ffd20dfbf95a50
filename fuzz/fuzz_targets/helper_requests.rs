//! Any bytes as a request to the helper, decoded the way the helper decodes a frame's payload
//! (postcard into the validated types): no panic, and whatever decodes re-encodes to bytes that
//! decode again.
#![no_main]

use corenas_proto::helper::HelperRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = postcard::from_bytes::<HelperRequest>(data) {
        let again = postcard::to_stdvec(&req).expect("a decoded request encodes");
        assert!(postcard::from_bytes::<HelperRequest>(&again).is_ok(), "re-encoded request does not decode: {req:?}");
        if let HelperRequest::Perform { op, .. } = &req {
            let _ = op.name();
        }
    }
});
