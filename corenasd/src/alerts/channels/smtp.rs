//! Mail through an SMTP relay with lettre's connection-level client, one step at a time, so the
//! transcript can say where it stopped: connected, EHLO capabilities, TLS (implicit or STARTTLS,
//! with the server certificate's subject), AUTH mechanism, each reply code. Certificates are
//! always checked against the system store plus the spec's CA file. `starttls` never falls back
//! to plain text: a server (or a man in the middle) that does not offer STARTTLS gets nothing.
//!
//! lettre does not expose the negotiated TLS version or cipher; rustls (the only TLS stack here)
//! speaks TLS 1.2 and 1.3 only, and the transcript says so instead of guessing.

use super::http::chain;
use super::mail;
use super::outgoing::{Outgoing, one_line};
use corenas_proto::monitor::{HostName, SmtpSecurity, SmtpSpec};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole conversation, message included.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
const CA_FILE_MAX: u64 = 1024 * 1024;

/// Whether `host` is this machine (the only place `security: none` may go).
pub fn is_loopback(host: &HostName) -> bool {
    let h = host.as_str();
    h == "localhost" || h.ends_with(".localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reads and parses the extra CA file; an error names the file and what is wrong with it.
pub fn read_ca_file(path: &str) -> Result<Certificate, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("the CA file {path} cannot be read by corenasd: {e}"))?;
    let mut pem = Vec::new();
    f.take(CA_FILE_MAX + 1).read_to_end(&mut pem).map_err(|e| format!("the CA file {path}: {e}"))?;
    if u64::try_from(pem.len()).unwrap_or(u64::MAX) > CA_FILE_MAX {
        return Err(format!("the CA file {path} is larger than 1 MiB"));
    }
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!("the CA file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Certificate::from_pem(&pem).map_err(|e| format!("the CA file {path} is not valid PEM: {e}"))
}

fn reply(r: &Response) -> String {
    let text: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), one_line(&text.join(" / "), 200))
}

fn tls_parameters(spec: &SmtpSpec) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(spec.host.as_str().to_owned());
    if let Some(ca) = &spec.ca_file {
        b = b.add_root_certificate(read_ca_file(ca.as_str())?);
    }
    b.build().map_err(|e| format!("TLS could not be set up: {}", chain(&e)))
}

/// A failure while connecting or upgrading, in plain words.
fn tls_or_connect_reason(spec: &SmtpSpec, e: &lettre::transport::smtp::Error) -> String {
    let text = chain(e);
    let at = format!("{}:{}", spec.host.as_str(), spec.port);
    if text.to_ascii_lowercase().contains("certificate") {
        format!("the certificate of {at} is not trusted: {text}")
    } else if e.is_tls() {
        format!("TLS with {at} failed: {text}")
    } else {
        format!("talking to {at} failed: {text}")
    }
}

fn subject_of(conn: &AsyncSmtpConnection) -> String {
    match conn.peer_certificate() {
        Ok(der) => match super::x509::subject(&der) {
            Some(s) => format!("server certificate subject: {s}"),
            None => "server certificate subject: (could not be read)".to_owned(),
        },
        Err(e) => format!("server certificate: not available ({e})"),
    }
}

const TLS_VERSION_NOTE: &str = "TLS version: not exposed by lettre (rustls offers TLS 1.2 and 1.3 only)";

/// Sends `msg`; `t` receives the transcript (never a password), the error says why it failed.
pub async fn send(spec: &SmtpSpec, msg: &Outgoing, t: &mut Vec<String>) -> Result<(), String> {
    match tokio::time::timeout(TOTAL_TIMEOUT, conversation(spec, msg, t)).await {
        Ok(r) => r,
        Err(_) => Err(format!("the conversation did not finish within {} s", TOTAL_TIMEOUT.as_secs())),
    }
}

async fn conversation(spec: &SmtpSpec, msg: &Outgoing, t: &mut Vec<String>) -> Result<(), String> {
    if spec.security == SmtpSecurity::None && !is_loopback(&spec.host) {
        return Err(format!("security none is only for a relay on this machine, not {}", spec.host.as_str()));
    }
    let message = mail::build(spec, msg)?;
    let tls = match spec.security {
        SmtpSecurity::None => None,
        _ => Some(tls_parameters(spec)?),
    };
    let hello = ClientId::Domain(mail::id_domain(&msg.instance));
    let at = format!("{}:{}", spec.host.as_str(), spec.port);
    t.push(format!("connecting to {at} (security {})", spec.security));
    let implicit = if spec.security == SmtpSecurity::Tls { tls.clone() } else { None };
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (spec.host.as_str(), spec.port),
        Some(CONNECT_TIMEOUT),
        &hello,
        implicit,
        None,
    )
    .await
    .map_err(|e| tls_or_connect_reason(spec, &e))?;
    t.push(format!("connected to {at}"));
    if spec.security == SmtpSecurity::Tls {
        t.push(format!("TLS established (implicit TLS); {}", subject_of(&conn)));
        t.push(TLS_VERSION_NOTE.to_owned());
    }
    t.push(format!("EHLO: {}", conn.server_info()));

    // lettre leaves no stream behind a failed TLS upgrade: writing QUIT to it would panic, so
    // such a connection is only dropped.
    let mut stream_gone = false;
    let result = session(spec, &message, tls, &hello, &mut conn, &mut stream_gone, t).await;
    match &result {
        Ok(()) => match conn.quit().await {
            Ok(r) => t.push(format!("QUIT: {}", reply(&r))),
            Err(e) => t.push(format!("QUIT: {}", chain(&e))),
        },
        Err(_) if stream_gone => drop(conn),
        Err(_) => conn.abort().await,
    }
    result
}

async fn session(
    spec: &SmtpSpec,
    message: &lettre::Message,
    tls: Option<TlsParameters>,
    hello: &ClientId,
    conn: &mut AsyncSmtpConnection,
    stream_gone: &mut bool,
    t: &mut Vec<String>,
) -> Result<(), String> {
    if spec.security == SmtpSecurity::Starttls {
        if !conn.can_starttls() {
            // A downgrade (or a relay without TLS): nothing, not even the password, goes out.
            return Err(format!(
                "{}:{} does not offer STARTTLS; refusing to send in the clear (security is starttls); nothing was sent",
                spec.host.as_str(),
                spec.port
            ));
        }
        let Some(params) = tls else { return Err("TLS parameters are missing".to_owned()) };
        t.push("STARTTLS".to_owned());
        if let Err(e) = conn.starttls(params, hello).await {
            *stream_gone = true;
            return Err(tls_or_connect_reason(spec, &e));
        }
        t.push(format!("TLS established (STARTTLS); {}", subject_of(conn)));
        t.push(TLS_VERSION_NOTE.to_owned());
        t.push(format!("EHLO (after STARTTLS): {}", conn.server_info()));
    }

    if let (Some(user), Some(password)) = (&spec.username, &spec.password) {
        let Some(mechanism) = conn.server_info().get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]) else {
            return Err("the server offers neither AUTH PLAIN nor AUTH LOGIN; nothing was sent".to_owned());
        };
        let creds = Credentials::new(user.as_str().to_owned(), password.expose().to_owned());
        match conn.auth(&[mechanism], &creds).await {
            Ok(r) => t.push(format!("AUTH {mechanism} as {}: {}", user.as_str(), reply(&r))),
            Err(e) => {
                let why = format!("AUTH {mechanism} as {} refused: {}", user.as_str(), chain(&e));
                t.push(why.clone());
                return Err(why);
            }
        }
    } else if spec.username.is_some() || spec.password.is_some() {
        t.push("AUTH: skipped (a user name and a password are both needed)".to_owned());
    }

    let envelope = message.envelope();
    let step = |what: String, r: Result<Response, lettre::transport::smtp::Error>, t: &mut Vec<String>| match r {
        Ok(r) => {
            t.push(format!("{what}: {}", reply(&r)));
            Ok(())
        }
        Err(e) => {
            let why = format!("{what}: {}", chain(&e));
            t.push(why.clone());
            Err(why)
        }
    };
    let from = envelope.from().cloned();
    let shown = from.as_ref().map(ToString::to_string).unwrap_or_default();
    step(format!("MAIL FROM:<{shown}>"), conn.command(Mail::new(from, vec![])).await, t)?;
    for to in envelope.to() {
        step(format!("RCPT TO:<{to}>"), conn.command(Rcpt::new(to.clone(), vec![])).await, t)?;
    }
    step("DATA".to_owned(), conn.command(Data).await, t)?;
    step("message".to_owned(), conn.message(&message.formatted()).await, t)?;
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
