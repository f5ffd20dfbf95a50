//! Any bytes as one whole frame from a peer, through the very codec both daemons use
//! (`wire::Postcard`, tarpc's `ClientMessage` around each service's request type). A decode that
//! panics inside (tarpc turns a huge deadline into an `Instant` overflow: FACTS.md) must be caught
//! by the codec and become an error for that connection only; nothing may escape it.
#![no_main]

use corenas_proto::api::CorenasRequest;
use corenas_proto::helper::HelperRequest;
use corenas_proto::wire::Postcard;
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use tokio_serde::Deserializer;

type Frame<R> = tarpc::ClientMessage<R>;

fn decode<R: serde::de::DeserializeOwned>(bytes: &bytes::BytesMut) {
    let mut codec: Postcard<Frame<R>, ()> = Postcard::default();
    let _ = Pin::new(&mut codec).deserialize(bytes);
}

fuzz_target!(|data: &[u8]| {
    // libFuzzer's panic hook aborts even on a panic that is caught; the codec catching it is
    // what is under test here, so the plain hook is put back (once). A panic that escapes the
    // codec still reaches fuzz_target!'s own check and is reported.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
    });
    let Some((&which, rest)) = data.split_first() else { return };
    let bytes = bytes::BytesMut::from(rest);
    if which % 2 == 0 {
        decode::<HelperRequest>(&bytes);
    } else {
        decode::<CorenasRequest>(&bytes);
    }
});
