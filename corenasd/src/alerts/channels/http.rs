//! One JSON POST over HTTP/1.1, with or without TLS (rustls, the system's CA store, the
//! certificate always checked): hyper's connection-level client, so nothing follows a redirect,
//! a 10 s limit covers the whole exchange, and at most 64 KiB of the answer is read.

use super::outgoing::{chain, one_line};
use super::tls;
use corenas_proto::monitor::HttpUrl;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::time::Duration;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);
const BODY_CAP: usize = 64 * 1024;
/// How much of a failing answer the transcript shows.
const EXCERPT: usize = 300;

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn excerpt(&self) -> String {
        one_line(&String::from_utf8_lossy(&self.body), EXCERPT)
    }
}

/// The parts of a validated URL a connection needs.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The request target ("/api/v2/alerts?x=1").
    path: String,
    /// The Host header.
    authority: String,
}

fn target(url: &HttpUrl, suffix: &str) -> Result<Target, String> {
    let s = url.as_str();
    let (tls, rest) = match s.strip_prefix("https://") {
        Some(r) => (true, r),
        None => (false, s.strip_prefix("http://").ok_or("the URL is neither http:// nor https://")?),
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let path = path.split('#').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("bad IPv6 address")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| "bad port".to_owned())?,
        None if tls => 443,
        None => 80,
    };
    let mut path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    if !suffix.is_empty() {
        let (p, q) = path.split_once('?').map_or((path.clone(), None), |(p, q)| (p.to_owned(), Some(q.to_owned())));
        path = format!("{}{suffix}", p.trim_end_matches('/'));
        if let Some(q) = q {
            path = format!("{path}?{q}");
        }
    }
    Ok(Target { tls, host, port, path, authority: authority.to_owned() })
}

/// The full URL a POST goes to (for the transcript).
pub fn shown_url(url: &HttpUrl, suffix: &str) -> String {
    match target(url, suffix) {
        Ok(t) => format!("{}://{}{}", if t.tls { "https" } else { "http" }, t.authority, t.path),
        Err(_) => url.as_str().to_owned(),
    }
}

async fn exchange<S>(io: S, t: &Target, json: Vec<u8>) -> Result<Answer, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {}", chain(&e)))?;
    // Stopped however this ends, the 10 s limit included: no connection outlives its POST.
    let _driver = AbortOnDrop(tokio::spawn(conn));
    let req = hyper::Request::post(&t.path)
        .header(hyper::header::HOST, &t.authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("corenasd/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(json)))
        .map_err(|e| format!("the request could not be built: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("the request failed: {}", chain(&e)))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    // Read up to the cap, then stop: a huge answer is not our business.
    while buf.len() < BODY_CAP {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    buf.extend_from_slice(&d[..d.len().min(BODY_CAP - buf.len())]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    Ok(Answer { status, body: buf })
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// POSTs `json` to `url` + `suffix`; an error is the reason in plain words.
pub async fn post_json(url: &HttpUrl, suffix: &str, json: Vec<u8>) -> Result<Answer, String> {
    let t = target(url, suffix)?;
    let work = async {
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("could not connect to {}:{}: {e}", t.host, t.port))?;
        if t.tls {
            let tls = tls::handshake(tcp, &t.host, t.port, tls::client_config(None)?).await?;
            exchange(tls, &t, json).await
        } else {
            exchange(tcp, &t, json).await
        }
    };
    tokio::time::timeout(TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer from {}:{} within {} s", t.host, t.port, TIMEOUT.as_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let u: HttpUrl = "https://am.example.org:9093/base/?x=1".parse().unwrap();
        let t = target(&u, "/api/v2/alerts").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("am.example.org", 9093, "/base/api/v2/alerts?x=1"));
        let u: HttpUrl = "http://127.0.0.1/hook".parse().unwrap();
        let t = target(&u, "").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str(), t.authority.as_str()), (false, 80, "/hook", "127.0.0.1"));
        let u: HttpUrl = "http://[::1]:8080".parse().unwrap();
        let t = target(&u, "/api/v2/alerts").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 8080, "/api/v2/alerts"));
    }
}
