//! TLS for the channels, done here (rustls) rather than inside lettre so the transcript can say
//! what was negotiated: the protocol version, the cipher suite and the server certificate's
//! subject. Certificates are always verified: the system store plus an optional extra CA file,
//! against the host name the channel names.
//!
//! SMTP's STARTTLS switches a connection lettre already holds to TLS; [`Upgradable`] is the
//! stream lettre is given, which this module upgrades in place after the server's 220.

use super::outgoing::chain;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

const CA_FILE_MAX: u64 = 1024 * 1024;

/// The certificates of an extra CA file; an error names the file and what is wrong with it.
pub fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("the CA file {path} cannot be read by corenasd: {e}"))?;
    let mut pem = Vec::new();
    f.take(CA_FILE_MAX + 1).read_to_end(&mut pem).map_err(|e| format!("the CA file {path}: {e}"))?;
    if u64::try_from(pem.len()).unwrap_or(u64::MAX) > CA_FILE_MAX {
        return Err(format!("the CA file {path} is larger than 1 MiB"));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the CA file {path} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("the CA file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let mut probe = rustls::RootCertStore::empty();
    for c in &certs {
        probe.add(c.clone()).map_err(|e| format!("the CA file {path} holds a certificate that is no CA: {e}"))?;
    }
    Ok(certs)
}

/// A client configuration trusting the system store and, if given, the CA file's certificates.
pub fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if let Some(path) = ca_file {
        for c in read_ca_file(path)? {
            roots.add(c).map_err(|e| format!("the CA file {path}: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates: the system store is empty and no CA file was given".into());
    }
    // ring, as lettre would use here: aws-lc-rs would add a cmake build to every 2-core build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// What a finished handshake agreed on, in one line for the transcript.
pub fn facts(tls: &TlsStream<TcpStream>) -> String {
    let (_, conn) = tls.get_ref();
    let version = conn.protocol_version().map_or("unknown version".to_owned(), |v| format!("{v:?}"));
    let cipher = conn.negotiated_cipher_suite().map_or("unknown cipher".to_owned(), |c| format!("{:?}", c.suite()));
    let subject = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| super::x509::subject(der))
        .unwrap_or_else(|| "(could not be read)".to_owned());
    format!("{version}, {cipher}; server certificate subject: {subject}")
}

/// A TLS failure in plain words; a certificate problem says so first.
pub fn reason(host: &str, port: u16, e: &(dyn std::error::Error + 'static)) -> String {
    let text = chain(e);
    if text.to_ascii_lowercase().contains("certificate") {
        format!("the certificate of {host}:{port} is not trusted: {text}")
    } else {
        format!("TLS with {host}:{port} failed: {text}")
    }
}

/// Runs the client handshake with `host` as the name the certificate must carry.
pub async fn handshake(
    tcp: TcpStream,
    host: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host} is not a name TLS can check: {e}"))?;
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| reason(host, port, &e))
}

/// Plain bytes kept to check a STARTTLS reply: a reply line is short.
const REPLY_MAX: usize = 4096;

enum Inner {
    /// With the bytes read since the last write: at STARTTLS, the server's 220 and nothing else.
    Plain(TcpStream, Vec<u8>),
    Tls(Box<TlsStream<TcpStream>>),
    /// While the handshake runs, and for good after one that failed.
    Gone,
}

/// A connection that starts plain or as TLS and can switch to TLS in place (STARTTLS). Clones
/// share the one connection: lettre holds one, this module the other.
#[derive(Clone)]
pub struct Upgradable(Arc<Mutex<Inner>>, std::net::SocketAddr);

impl std::fmt::Debug for Upgradable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgradable")
    }
}

impl Upgradable {
    pub fn plain(s: TcpStream, peer: std::net::SocketAddr) -> Self {
        Self(Arc::new(Mutex::new(Inner::Plain(s, Vec::new()))), peer)
    }

    pub fn tls(s: TlsStream<TcpStream>, peer: std::net::SocketAddr) -> Self {
        Self(Arc::new(Mutex::new(Inner::Tls(Box::new(s)))), peer)
    }

    /// Switches a plain connection to TLS; returns the handshake's facts.
    pub async fn upgrade(&self, host: &str, port: u16, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
        let taken = {
            let mut g = self.0.lock().map_err(|_| "connection lock poisoned".to_owned())?;
            std::mem::replace(&mut *g, Inner::Gone)
        };
        let Inner::Plain(tcp, since_write) = taken else { return Err("the connection is not a plain one".to_owned()) };
        // Anything the server sent in the clear after its 220 would be read as if it came
        // through TLS (STARTTLS response injection, CVE-2011-0411's client side): refuse.
        if !only_one_line(&since_write) {
            return Err(format!(
                "{host}:{port} sent more than its reply to STARTTLS before TLS began (a response injection); nothing was sent"
            ));
        }
        let tls = handshake(tcp, host, port, config).await?;
        let shown = facts(&tls);
        let mut g = self.0.lock().map_err(|_| "connection lock poisoned".to_owned())?;
        *g = Inner::Tls(Box::new(tls));
        Ok(shown)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut (dyn AsyncReadWrite + '_)>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Ok(mut g) = self.0.lock() else { return Poll::Ready(Err(io::Error::other("connection lock poisoned"))) };
        match &mut *g {
            Inner::Plain(s, _) => f(Pin::new(s as &mut dyn AsyncReadWrite)),
            Inner::Tls(s) => f(Pin::new(s.as_mut() as &mut dyn AsyncReadWrite)),
            Inner::Gone => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection was closed after a failed TLS handshake",
            ))),
        }
    }
}

pub trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> AsyncReadWrite for T {}

impl lettre::transport::smtp::client::AsyncTokioStream for Upgradable {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        Ok(self.1)
    }
}

/// Whether `bytes` is exactly one complete line.
fn only_one_line(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n") && bytes.iter().filter(|b| **b == b'\n').count() == 1
}

impl AsyncRead for Upgradable {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Ok(mut g) = self.0.lock() else { return Poll::Ready(Err(io::Error::other("connection lock poisoned"))) };
        if let Inner::Plain(s, since_write) = &mut *g {
            let before = buf.filled().len();
            let r = Pin::new(s).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = r {
                let new = &buf.filled()[before..];
                since_write.extend_from_slice(&new[..new.len().min(REPLY_MAX.saturating_sub(since_write.len()))]);
            }
            return r;
        }
        drop(g);
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Upgradable {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Ok(mut g) = self.0.lock()
            && let Inner::Plain(_, since_write) = &mut *g
        {
            since_write.clear();
        }
        self.with(|s| s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// The attacker on the path answers STARTTLS and appends a reply of his own in the clear,
    /// which a buffered reader would otherwise take as the first answer inside TLS.
    #[test]
    fn a_reply_injected_before_tls_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (answer, injected) in [(&b"220 go ahead\r\n"[..], false), (b"220 go ahead\r\n250-injected\r\n", true)] {
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut line = [0u8; 10];
                    tokio::io::AsyncReadExt::read_exact(&mut s, &mut line).await.unwrap();
                    s.write_all(answer).await.unwrap();
                    s
                });
                let up = Upgradable::plain(TcpStream::connect(addr).await.unwrap(), addr);
                let mut lettre_side = BufReader::new(up.clone());
                lettre_side.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
                let mut reply = String::new();
                lettre_side.read_line(&mut reply).await.unwrap();
                assert_eq!(reply, "220 go ahead\r\n");
                drop(server.await.unwrap());
                // The peer does not speak TLS: without an injection the handshake is tried
                // (and fails); with one, it is refused before.
                let e = up.upgrade("localhost", addr.port(), client_config(None).unwrap()).await.unwrap_err();
                assert_eq!(e.contains("response injection"), injected, "{e}");
            });
        }
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let e = read_ca_file("/nonexistent/ca.pem").unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("corenasd-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("not.pem");
        std::fs::write(&p, "hello").unwrap();
        let e = read_ca_file(p.to_str().unwrap()).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
