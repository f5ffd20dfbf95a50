//! The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew each
//! way) and one-time recovery codes. A code is accepted once: the step it matched is stored, and
//! a later login must match a later step (no replay within the window).

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

pub const ISSUER: &str = "CoreNAS";
const STEP: u64 = 30;
pub const RECOVERY_CODES: usize = 10;

pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    getrandom::fill(&mut s).expect("the kernel's random source");
    s
}

fn totp(secret: &[u8]) -> Totp {
    // build_noncompliant: the secret is always our own 160 random bits (the RFC test vector in
    // the tests is shorter than the crate's minimum).
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(secret)
        .build_noncompliant()
}

pub fn base32(secret: &[u8]) -> String {
    totp(secret).secret().to_base32()
}

/// The provisioning URI authenticator apps read from the QR code. User names are [a-z0-9_-],
/// so they need no escaping.
pub fn uri(secret: &[u8], user: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{user}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP}",
        base32(secret)
    )
}

/// The step `code` matches at `now` (unix seconds), if any, among now-1, now, now+1, and only if
/// it is later than `last_step`.
pub fn matching_step(secret: &[u8], code: &str, now: u64, last_step: u64) -> Option<u64> {
    let t = totp(secret);
    let current = now / STEP;
    [current.saturating_sub(1), current, current + 1].into_iter().filter(|&step| step > last_step).find(|&step| {
        constant_time_eq::constant_time_eq(t.generate(step * STEP).to_string().as_bytes(), code.as_bytes())
    })
}

/// The code for `now`, for tests (they play the authenticator app).
pub fn code_at(secret: &[u8], now: u64) -> String {
    totp(secret).generate(now).to_string()
}

const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Ten fresh recovery codes (`xxxx-xxxx-xxxx`, 60 bits each) and their SHA-256 hashes to store.
pub fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut raw = [0u8; 12];
        getrandom::fill(&mut raw).expect("the kernel's random source");
        let mut code = String::with_capacity(14);
        for (i, b) in raw.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                code.push('-');
            }
            code.push(char::from(RECOVERY_ALPHABET[usize::from(b & 31)]));
        }
        codes.push(code);
    }
    let hashes = codes.iter().map(|c| hash(c)).collect();
    (codes, hashes)
}

pub fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); its last 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1_111_111_109), "081804");
    }

    #[test]
    fn a_code_is_accepted_once_and_within_one_step() {
        let s = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&s, now);
        let step = matching_step(&s, &code, now, 0).unwrap();
        assert_eq!(matching_step(&s, &code, now, step), None, "replay refused");
        assert!(matching_step(&s, &code, now + 30, 0).is_some(), "one step late is fine");
        assert_eq!(matching_step(&s, &code, now + 90, 0), None, "three steps late is not");
        assert_eq!(matching_step(&s, "000000", now, 0).is_some(), code == "000000");
    }

    #[test]
    fn recovery_codes_have_the_accepted_shape() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        for (c, h) in codes.iter().zip(&hashes) {
            assert!(c.parse::<corenas_proto::web::SecondFactor>().is_ok(), "{c}");
            assert_eq!(&hash(c), h);
        }
        assert!(uri(&new_secret(), "alice").starts_with("otpauth://totp/CoreNAS:alice?secret="));
    }
}
