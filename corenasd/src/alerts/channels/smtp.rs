//! Mail through an SMTP relay with lettre's connection-level client, one step at a time, so the
//! transcript can say where it stopped: connected, EHLO capabilities, TLS (implicit or STARTTLS:
//! version, cipher, the server certificate's subject), AUTH mechanism, each reply code. TLS is
//! done by tls.rs (rustls), which lettre does not report on; certificates are always checked
//! against the system store plus the spec's CA file. `starttls` never falls back to plain text:
//! a server (or a man in the middle) that does not offer STARTTLS gets nothing.

use super::mail;
use super::outgoing::{Outgoing, chain, one_line};
use super::tls::{self, Upgradable};
use corenas_proto::monitor::{HostName, SmtpSecurity, SmtpSpec};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Auth, Data, Ehlo, Mail, Rcpt, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, ServerInfo};
use lettre::transport::smtp::response::Response;
use std::time::Duration;
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole conversation, message included.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
/// AUTH LOGIN asks twice; more is a server playing games.
const MAX_CHALLENGES: u8 = 10;

/// Whether `host` is this machine (the only place `security: none` may go).
pub fn is_loopback(host: &HostName) -> bool {
    let h = host.as_str();
    h == "localhost" || h.ends_with(".localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn reply(r: &Response) -> String {
    let text: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), one_line(&text.join(" / "), 200))
}

/// One command, its reply in the transcript; a refusal is the error.
fn step(
    what: &str,
    r: Result<Response, lettre::transport::smtp::Error>,
    t: &mut Vec<String>,
) -> Result<Response, String> {
    match r {
        Ok(r) => {
            t.push(format!("{what}: {}", reply(&r)));
            Ok(r)
        }
        Err(e) => {
            let why = format!("{what}: {}", chain(&e));
            t.push(why.clone());
            Err(why)
        }
    }
}

/// Sends `msg`; `t` receives the transcript (never a password), the error says why it failed.
pub async fn send(spec: &SmtpSpec, msg: &Outgoing, t: &mut Vec<String>) -> Result<(), String> {
    match tokio::time::timeout(TOTAL_TIMEOUT, conversation(spec, msg, t)).await {
        Ok(r) => r,
        Err(_) => Err(format!("the conversation did not finish within {} s", TOTAL_TIMEOUT.as_secs())),
    }
}

async fn conversation(spec: &SmtpSpec, msg: &Outgoing, t: &mut Vec<String>) -> Result<(), String> {
    let (host, port) = (spec.host.as_str(), spec.port);
    if spec.security == SmtpSecurity::None && !is_loopback(&spec.host) {
        return Err(format!("security none is only for a relay on this machine, not {host}"));
    }
    let message = mail::build(spec, msg)?;
    let config = match spec.security {
        SmtpSecurity::None => None,
        _ => Some(tls::client_config(spec.ca_file.as_ref().map(|c| c.as_str()))?),
    };
    let hello = ClientId::Domain(mail::id_domain(&msg.instance));
    t.push(format!("connecting to {host}:{port} (security {})", spec.security));
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("could not connect to {host}:{port}: {e}")),
        Err(_) => return Err(format!("could not connect to {host}:{port} within {} s", CONNECT_TIMEOUT.as_secs())),
    };
    let peer = tcp.peer_addr().map_err(|e| format!("the connection to {host}:{port} failed: {e}"))?;
    t.push(format!("connected to {host}:{port} ({peer})"));
    let stream = match (&spec.security, &config) {
        (SmtpSecurity::Tls, Some(config)) => {
            let tls = tls::handshake(tcp, host, port, config.clone()).await?;
            t.push(format!("TLS established (implicit TLS): {}", tls::facts(&tls)));
            Upgradable::tls(tls, peer)
        }
        _ => Upgradable::plain(tcp, peer),
    };
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream.clone()), &hello)
        .await
        .map_err(|e| format!("the SMTP greeting or EHLO failed: {}", chain(&e)))?;
    t.push(format!("EHLO: {}", conn.server_info()));

    let result = session(spec, &message, config, &hello, &stream, &mut conn, t).await;
    match &result {
        Ok(()) => match conn.quit().await {
            Ok(r) => t.push(format!("QUIT: {}", reply(&r))),
            Err(e) => t.push(format!("QUIT: {}", chain(&e))),
        },
        // QUIT where it can still be said; a connection whose TLS handshake failed just ends.
        Err(_) => conn.abort().await,
    }
    result
}

async fn session(
    spec: &SmtpSpec,
    message: &lettre::Message,
    config: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    hello: &ClientId,
    stream: &Upgradable,
    conn: &mut AsyncSmtpConnection,
    t: &mut Vec<String>,
) -> Result<(), String> {
    let (host, port) = (spec.host.as_str(), spec.port);
    let mut info = conn.server_info().clone();
    if spec.security == SmtpSecurity::Starttls {
        if !info.supports_feature(Extension::StartTls) {
            // A downgrade (or a relay without TLS): nothing, not even the password, goes out.
            return Err(format!(
                "{host}:{port} does not offer STARTTLS; refusing to send in the clear (security is starttls); nothing was sent"
            ));
        }
        let Some(config) = config else { return Err("TLS is not set up".to_owned()) };
        step("STARTTLS", conn.command(Starttls).await, t)?;
        let facts = stream.upgrade(host, port, config).await?;
        t.push(format!("TLS established (STARTTLS): {facts}"));
        // What the server offered in the clear no longer counts (RFC 3207): ask again.
        let ehlo =
            conn.command(Ehlo::new(hello.clone())).await.map_err(|e| format!("EHLO after STARTTLS: {}", chain(&e)))?;
        info = ServerInfo::from_response(&ehlo).map_err(|e| format!("EHLO after STARTTLS: {}", chain(&e)))?;
        t.push(format!("EHLO (after STARTTLS): {info}"));
    }

    if let (Some(user), Some(password)) = (&spec.username, &spec.password) {
        let Some(mechanism) = info.get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]) else {
            return Err("the server offers neither AUTH PLAIN nor AUTH LOGIN; nothing was sent".to_owned());
        };
        let creds = Credentials::new(user.as_str().to_owned(), password.expose().to_owned());
        let what = format!("AUTH {mechanism} as {}", user.as_str());
        let first = Auth::new(mechanism, creds.clone(), None).map_err(|e| format!("{what}: {}", chain(&e)))?;
        let mut r = conn.command(first).await;
        let mut challenges = 0;
        while let Ok(resp) = &r
            && resp.has_code(334)
        {
            challenges += 1;
            if challenges > MAX_CHALLENGES {
                return Err(format!("{what}: the server asked more than {MAX_CHALLENGES} times"));
            }
            let next = Auth::new_from_response(mechanism, creds.clone(), resp)
                .map_err(|e| format!("{what}: {}", chain(&e)))?;
            r = conn.command(next).await;
        }
        if let Err(e) = r {
            let why = format!("{what} refused: {}", chain(&e));
            t.push(why.clone());
            return Err(why);
        }
        step(&what, r, t)?;
    } else if spec.username.is_some() || spec.password.is_some() {
        t.push("AUTH: skipped (a user name and a password are both needed)".to_owned());
    }

    let envelope = message.envelope();
    let from = envelope.from().cloned();
    let shown = from.as_ref().map(ToString::to_string).unwrap_or_default();
    step(&format!("MAIL FROM:<{shown}>"), conn.command(Mail::new(from, vec![])).await, t)?;
    for to in envelope.to() {
        step(&format!("RCPT TO:<{to}>"), conn.command(Rcpt::new(to.clone(), vec![])).await, t)?;
    }
    step("DATA", conn.command(Data).await, t)?;
    step("message", conn.message(&message.formatted()).await, t)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.0.0.53", "::1"] {
            assert!(is_loopback(&h.parse().unwrap()), "{h}");
        }
        for h in ["mail.example.org", "10.0.0.1", "localhost.example.org", "::2"] {
            assert!(!is_loopback(&h.parse().unwrap()), "{h}");
        }
    }
}
