//! Cookies: reading one from the request and writing `Set-Cookie` values, with the names the
//! site uses. Pure header work at the ground floor: `i18n` (the language cookie), `http` (the
//! session) and the login pages read it, and it imports nothing of this crate.

use axum::http::header::{self, HeaderMap, HeaderValue};

/// The session token of a logged-in browser.
pub const SESSION_COOKIE: &str = "corenas_session";
/// The login ticket between the password and the second-factor step (path `/login` only).
pub const TICKET_COOKIE: &str = "corenas_ticket";

/// The value of one cookie, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure behind TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, path: &str, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

pub fn clear_cookie(name: &str, path: &str) -> HeaderValue {
    set_cookie(name, "", Some(0), path, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_and_set_strictly() {
        let h = headers(&[("cookie", "a=1; corenas_session=xyz"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        let c = set_cookie(SESSION_COOKIE, "v", None, "/", true);
        assert_eq!(c.to_str().unwrap(), "corenas_session=v; Path=/; HttpOnly; SameSite=Strict; Secure");
    }
}
