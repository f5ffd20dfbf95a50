//! The subject of a DER certificate, for the transcript ("CN=mail.example.org, O=Example").
//! A few lines of DER walking instead of a full X.509 parser crate: only the subject's common
//! attributes are read, and anything unexpected gives `None` (the transcript says so).

/// One DER element: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        _ => None,
    }
}

pub fn subject(der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = tlv(der)? else { return None };
    let (SEQUENCE, tbs, _) = tlv(cert)? else { return None };
    let mut rest = tbs;
    // [0] version is optional; then serial, signature algorithm, issuer, validity, subject.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (SEQUENCE, mut name, _) = tlv(rest)? else { return None };
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (SET, mut set, after) = tlv(name)? else { return None };
        name = after;
        while !set.is_empty() {
            let (SEQUENCE, atv, after) = tlv(set)? else { return None };
            set = after;
            let (OID, oid, value) = tlv(atv)? else { return None };
            let (_, value, _) = tlv(value)?;
            if let Some(n) = attribute_name(oid) {
                parts.push(format!("{n}={}", super::outgoing::one_line(&String::from_utf8_lossy(value), 100)));
            }
        }
    }
    Some(if parts.is_empty() { "(empty)".to_owned() } else { parts.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_not_a_panic() {
        for bad in [&b""[..], b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x02\x30\x00", b"\x02\x01\x00"] {
            assert_eq!(subject(bad), None);
        }
    }

    /// A minimal hand-built certificate: SEQ{ SEQ{ [0]{INT 2}, INT 1, SEQ{}, SEQ{}, SEQ{},
    /// SEQ{ SET{ SEQ{ OID CN, UTF8 "mail.test" } } } } }.
    #[test]
    fn reads_the_common_name() {
        let cn = [&[0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09][..], b"mail.test"].concat();
        let atv = [&[SEQUENCE, u8::try_from(cn.len()).unwrap()][..], &cn].concat();
        let set = [&[SET, u8::try_from(atv.len()).unwrap()][..], &atv].concat();
        let name = [&[SEQUENCE, u8::try_from(set.len()).unwrap()][..], &set].concat();
        let tbs_body =
            [&[0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00][..], &name].concat();
        let tbs = [&[SEQUENCE, u8::try_from(tbs_body.len()).unwrap()][..], &tbs_body].concat();
        let cert = [&[SEQUENCE, u8::try_from(tbs.len()).unwrap()][..], &tbs].concat();
        assert_eq!(subject(&cert).as_deref(), Some("CN=mail.test"));
    }
}
