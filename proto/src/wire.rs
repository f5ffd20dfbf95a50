//! The byte format, and the only module that knows it (docs/decisions/0001-wire-codec.md).
//!
//! A connection starts with a fixed-size handshake (magic, protocol version, service), answered
//! by the server with its version and a verdict; only then do tarpc frames flow. Frames are
//! length-delimited and capped at [`MAX_FRAME`]; payloads are postcard, decoded under
//! `catch_unwind` so a hostile frame can only end its own connection. Request deadlines are
//! clamped on the server, since tarpc turns a peer's `Duration` into an `Instant` by addition.

use crate::PROTOCOL_VERSION;
use crate::error::{ErrorCode, WireError};
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use serde::{Serialize, de::DeserializeOwned};
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame either side accepts; a peer announcing more is disconnected before allocation.
pub const MAX_FRAME: usize = 1 << 20;
const MAGIC: [u8; 4] = *b"CNAS";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REFUSAL_MESSAGE: usize = 512;

/// Which service a socket serves; part of the handshake so a client pointed at the wrong socket
/// gets a clear message instead of a decode error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Helper = 1,
    Daemon = 2,
    /// corenasd's web gate, for corenas-web's uid only (`web::WebGate`).
    WebGate = 3,
}

impl Service {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Helper),
            2 => Some(Self::Daemon),
            3 => Some(Self::WebGate),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Helper => "corenas-helper",
            Self::Daemon => "corenasd",
            Self::WebGate => "corenasd's web gate",
        }
    }
}

/// The postcard codec for tokio-serde, with decode panics turned into errors.
pub struct Postcard<Item, SinkItem>(PhantomData<Directions<Item, SinkItem>>);

/// Decodes `Item`, encodes `SinkItem`; fn pointers keep the codec Send + Sync for any types.
type Directions<Item, SinkItem> = (fn() -> Item, fn(SinkItem));

impl<Item, SinkItem> Default for Postcard<Item, SinkItem> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Item: DeserializeOwned, SinkItem> tokio_serde::Deserializer<Item> for Postcard<Item, SinkItem> {
    type Error = io::Error;
    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> Result<Item, io::Error> {
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| postcard::from_bytes::<Item>(src)));
        match decoded {
            Ok(Ok(item)) => Ok(item),
            Ok(Err(e)) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("undecodable frame: {e}"))),
            Err(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "decoding a frame panicked; connection dropped")),
        }
    }
}

impl<Item, SinkItem: Serialize> tokio_serde::Serializer<SinkItem> for Postcard<Item, SinkItem> {
    type Error = io::Error;
    fn serialize(self: Pin<&mut Self>, item: &SinkItem) -> Result<Bytes, io::Error> {
        postcard::to_stdvec(item)
            .map(Bytes::from)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }
}

fn framed(stream: UnixStream) -> Framed<UnixStream, LengthDelimitedCodec> {
    let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec();
    Framed::new(stream, codec)
}

pub type ClientTransport<Req, Resp> = tarpc::serde_transport::Transport<
    UnixStream,
    tarpc::Response<Resp>,
    tarpc::ClientMessage<Req>,
    Postcard<tarpc::Response<Resp>, tarpc::ClientMessage<Req>>,
>;

/// The client side of a connection whose handshake has completed.
pub fn client_transport<Req: Serialize, Resp: DeserializeOwned>(stream: UnixStream) -> ClientTransport<Req, Resp> {
    tarpc::serde_transport::new(framed(stream), Postcard::default())
}

/// The server side: frames capped, panics caught, deadlines clamped to `max_deadline`.
pub fn server_transport<Req, Resp>(
    stream: UnixStream,
    max_deadline: Duration,
) -> impl tarpc::Transport<tarpc::Response<Resp>, tarpc::ClientMessage<Req>> + Send + 'static
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    let inner: tarpc::serde_transport::Transport<_, tarpc::ClientMessage<Req>, tarpc::Response<Resp>, Postcard<_, _>> =
        tarpc::serde_transport::new(framed(stream), Postcard::default());
    inner.map_ok(move |mut msg| {
        if let tarpc::ClientMessage::Request(req) = &mut msg {
            req.context.deadline = clamp_deadline(req.context.deadline, max_deadline);
        }
        msg
    })
}

/// Serves one admitted connection until the peer closes it. Responses run concurrently within
/// the connection's task; handlers that must outlive a disconnect detach themselves. A handler
/// that panics loses only its own response (the client sees its request fail).
pub async fn serve_connection<S>(stream: UnixStream, max_deadline: Duration, serve: S)
where
    S: tarpc::server::Serve + Clone + Send + 'static,
    S::Req: DeserializeOwned + Send + 'static,
    S::Resp: Serialize + Send + 'static,
{
    use futures::StreamExt;
    use tarpc::server::Channel;
    let transport = server_transport::<S::Req, S::Resp>(stream, max_deadline);
    tarpc::server::BaseChannel::with_defaults(transport)
        .execute(serve)
        .for_each_concurrent(None, |response| response)
        .await;
}

fn clamp_deadline(deadline: Instant, max: Duration) -> Instant {
    let latest = Instant::now() + max;
    deadline.min(latest)
}

/// What the server tells a client after reading its hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused(String),
}

fn protocol_err(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::Protocol, msg)
}

/// Client half of the handshake. A refusal or a version mismatch becomes a clear error.
pub async fn client_hello(stream: &mut UnixStream, service: Service) -> Result<(), WireError> {
    let run = async {
        let mut hello = [0u8; 9];
        hello[..4].copy_from_slice(&MAGIC);
        hello[4..8].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        hello[8] = service as u8;
        stream.write_all(&hello).await?;
        let mut reply = [0u8; 9];
        stream.read_exact(&mut reply).await?;
        let mut len = [0u8; 2];
        let verdict = reply[8];
        let message = if verdict != 0 {
            stream.read_exact(&mut len).await?;
            let n = usize::from(u16::from_be_bytes(len)).min(MAX_REFUSAL_MESSAGE);
            let mut buf = vec![0u8; n];
            stream.read_exact(&mut buf).await?;
            String::from_utf8_lossy(&buf).into_owned()
        } else {
            String::new()
        };
        Ok::<_, io::Error>((reply, verdict, message))
    };
    let (reply, verdict, message) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, run).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(protocol_err(format!("{} closed the connection during the handshake: {e}", service.name())));
        }
        Err(_) => return Err(protocol_err(format!("{} did not answer the handshake within 5 s", service.name()))),
    };
    if reply[..4] != MAGIC {
        return Err(protocol_err(format!(
            "the socket does not speak the CoreNAS protocol (expected {})",
            service.name()
        )));
    }
    let theirs = u32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]);
    match verdict {
        0 if theirs == PROTOCOL_VERSION => Ok(()),
        0 | 1 => Err(protocol_err(format!(
            "protocol version mismatch: {} speaks v{theirs}, this program speaks v{PROTOCOL_VERSION}; install matching CoreNAS binaries",
            service.name()
        ))),
        2 => Err(WireError::not_allowed(message)),
        _ => Err(protocol_err(message)),
    }
}

/// Server half: reads the client's hello and answers. `verdict` is the server's decision about
/// the peer (made from SO_PEERCRED before any byte was read). Returns Ok only when the
/// connection may carry requests.
pub async fn server_hello(stream: &mut UnixStream, service: Service, verdict: &Verdict) -> Result<(), WireError> {
    let mut hello = [0u8; 9];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut hello)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(protocol_err(format!("client hello unreadable: {e}"))),
        Err(_) => return Err(protocol_err("client sent no hello within 5 s")),
    }
    let theirs = u32::from_be_bytes([hello[4], hello[5], hello[6], hello[7]]);
    let (code, message) = if hello[..4] != MAGIC {
        (3u8, "not a CoreNAS client".to_owned())
    } else if let Verdict::Refused(why) = verdict {
        (2, why.clone())
    } else if theirs != PROTOCOL_VERSION {
        (1, format!("protocol version mismatch: client v{theirs}, {} v{PROTOCOL_VERSION}", service.name()))
    } else if Service::from_byte(hello[8]) != Some(service) {
        (3, format!("this socket is {}; the client expected another service", service.name()))
    } else {
        (0, String::new())
    };
    let mut reply = Vec::with_capacity(11 + message.len());
    reply.extend_from_slice(&MAGIC);
    reply.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    reply.push(code);
    if code != 0 {
        let msg = &message.as_bytes()[..message.len().min(MAX_REFUSAL_MESSAGE)];
        reply.extend_from_slice(&u16::try_from(msg.len()).unwrap_or(0).to_be_bytes());
        reply.extend_from_slice(msg);
    }
    // A peer that vanished cannot be told; the refusal is still logged by the caller.
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(&reply)).await;
    if code == 0 { Ok(()) } else { Err(protocol_err(message)) }
}

/// Connects to a CoreNAS socket and completes the handshake.
pub async fn connect(path: &std::path::Path, service: Service) -> Result<UnixStream, WireError> {
    let mut stream = UnixStream::connect(path).await.map_err(|e| {
        WireError::new(
            ErrorCode::HelperUnavailable,
            format!("cannot connect to {} at {}: {e}", service.name(), path.display()),
        )
    })?;
    client_hello(&mut stream, service).await?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_clamped() {
        let far = Instant::now() + Duration::from_secs(10_000_000);
        let clamped = clamp_deadline(far, Duration::from_secs(60));
        assert!(clamped <= Instant::now() + Duration::from_secs(60));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut codec: Postcard<tarpc::ClientMessage<String>, ()> = Postcard::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0xff; 64]);
        let r = tokio_serde::Deserializer::deserialize(Pin::new(&mut codec), &buf);
        assert!(r.is_err());
    }

    #[test]
    fn huge_deadline_does_not_panic_the_decoder() {
        // A request whose deadline is u64::MAX seconds: tarpc adds it to Instant::now(), which
        // panics. The deadline is the first field after the enum tag.
        let mut bytes = vec![0u8]; // ClientMessage::Request
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // secs
        bytes.push(0); // nanos
        bytes.extend_from_slice(&[0u8; 32]);
        let mut codec: Postcard<tarpc::ClientMessage<String>, ()> = Postcard::default();
        let buf = BytesMut::from(&bytes[..]);
        let r = tokio_serde::Deserializer::deserialize(Pin::new(&mut codec), &buf);
        assert!(r.is_err());
    }
}
